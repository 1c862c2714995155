//! Figures 1–3: the cached path against the baselines, on one thread, under
//! contention, and across 10,000 keys.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use reqwest_middleware::{ClientWithMiddleware, Middleware};
use reqwest_oauth::{Audience, OAuthMiddleware};
use support::{
    CountingSource, MutexCache, Ratio, StaticBearer, Terminal, bearer_header, chain, report,
    request,
};

const ONE: &str = "hot_path_1_thread";
const MANY: &str = "hot_path_256_tasks_2_threads";

fn oauth() -> OAuthMiddleware {
    OAuthMiddleware::new(CountingSource::default())
}

fn chains(rt: &tokio::runtime::Runtime) -> Vec<(&'static str, ClientWithMiddleware)> {
    let terminal = Arc::new(Terminal::default());
    let oauth = oauth();
    rt.block_on(oauth.token(oauth.default_key()))
        .expect("warm cache");
    // The same without keeping a copy of each request for a possible replay.
    let no_replay = OAuthMiddleware::builder(CountingSource::default())
        .replay(reqwest_oauth::policy::ReplayPolicy::Never)
        .build()
        .expect("config");
    rt.block_on(no_replay.token(no_replay.default_key()))
        .expect("warm cache");
    let mutex = MutexCache(tokio::sync::Mutex::new(None));
    vec![
        ("terminal", chain(None, terminal.clone())),
        (
            "static_bearer",
            chain(
                Some(Arc::new(StaticBearer(bearer_header("static")))),
                terminal.clone(),
            ),
        ),
        (
            "mutex_cache",
            chain(
                Some(Arc::new(mutex) as Arc<dyn Middleware>),
                terminal.clone(),
            ),
        ),
        ("oauth", chain(Some(Arc::new(oauth)), terminal.clone())),
        (
            "oauth_no_replay",
            chain(Some(Arc::new(no_replay)), terminal),
        ),
    ]
}

fn one_thread(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group(ONE);
    for (name, client) in chains(&rt) {
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { client.execute(request()).await.expect("200") })
        });
    }
    group.finish();
}

/// 256 tasks on 2 worker threads share the requests of each sample.
fn contended(c: &mut Criterion) {
    const TASKS: u64 = 256;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group(MANY);
    for (name, client) in chains(&rt) {
        let client = Arc::new(client);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let per_task = iters.div_ceil(TASKS);
                let elapsed = rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let client = client.clone();
                            tokio::spawn(async move {
                                for _ in 0..per_task {
                                    client.execute(request()).await.expect("200");
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("no panic");
                    }
                    start.elapsed()
                });
                // Scale to the requested iteration count.
                elapsed.mul_f64(iters as f64 / (per_task * TASKS) as f64)
            })
        });
    }
    group.finish();
}

/// Requests spread over 10,000 cached audiences, against the same path with
/// one audience.
fn many_keys(c: &mut Criterion) {
    const KEYS: usize = 10_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let oauth = oauth();
    let audiences: Vec<Audience> = (0..KEYS)
        .map(|i| Audience::new(format!("https://api-{i}.example")))
        .collect();
    rt.block_on(async {
        for i in 0..KEYS {
            oauth
                .token(
                    &reqwest_oauth::TokenRequest::new()
                        .with_audience(format!("https://api-{i}.example")),
                )
                .await
                .expect("warm");
        }
    });
    let client = chain(Some(Arc::new(oauth)), Arc::new(Terminal::default()));
    let mut group = c.benchmark_group("many_keys");
    for keys in [1, KEYS] {
        let mut next = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(keys), &keys, |b, &keys| {
            b.to_async(&rt).iter(|| {
                next = (next + 7919) % keys;
                let audience = audiences[next].clone();
                let client = &client;
                async move {
                    let mut ext = http::Extensions::new();
                    ext.insert(audience);
                    client
                        .execute_with_extensions(request(), &mut ext)
                        .await
                        .expect("200")
                }
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    one_thread(&mut c);
    contended(&mut c);
    many_keys(&mut c);
    c.final_summary();
    report(
        "hot path ratios (lower is better)",
        &[
            Ratio {
                name: "1. oauth / static_bearer, 1 thread",
                measured: (ONE, "oauth"),
                baseline: (ONE, "static_bearer"),
                target: "<= 1.25",
            },
            Ratio {
                name: "   oauth with ReplayPolicy::Never / static_bearer, 1 thread (no request copy)",
                measured: (ONE, "oauth_no_replay"),
                baseline: (ONE, "static_bearer"),
                target: "none; shows what the replay copy costs",
            },
            Ratio {
                name: "   static_bearer / terminal, 1 thread",
                measured: (ONE, "static_bearer"),
                baseline: (ONE, "terminal"),
                target: "none; the floor's own cost",
            },
            Ratio {
                name: "2. oauth / static_bearer, 256 tasks",
                measured: (MANY, "oauth"),
                baseline: (MANY, "static_bearer"),
                target: "<= 1.25",
            },
            Ratio {
                name: "   oauth / mutex_cache, 256 tasks",
                measured: (MANY, "oauth"),
                baseline: (MANY, "mutex_cache"),
                target: "<= 0.33, i.e. 3x the throughput",
            },
            Ratio {
                name: "3. 10,000 keys / 1 key",
                measured: ("many_keys", "10000"),
                baseline: ("many_keys", "1"),
                target: "<= 1.2",
            },
        ],
    );
}
