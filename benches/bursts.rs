//! Figures 4 and 5: a cold burst against a slow loopback token endpoint, and
//! an expiry wave of 1,000 requests whose token the API starts rejecting.

mod support;

#[path = "../tests/all/common/hold_first.rs"]
mod hold_first;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::Criterion;
use hold_first::HoldFirst;
use reqwest_middleware::ClientBuilder;
use reqwest_oauth::testkit::AuthServer;
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use support::{CountingSource, Ratio, Terminal, chain, report, request};

const BURST: usize = 10_000;
const WAVE: usize = 1_000;
const TOKEN_DELAY: Duration = Duration::from_millis(50);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The baseline: one token round trip to the 50 ms endpoint; then the time
/// for 10,000 concurrent requests on an empty cache to all finish.
fn cold_burst(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let auth = rt.block_on(async {
        let auth = AuthServer::builder()
            .client("id", "secret")
            .start()
            .await
            .expect("auth");
        auth.set_delay(TOKEN_DELAY);
        auth
    });
    let grant = || ClientCredentials::new(auth.token_url(), "id", "secret");
    let mut group = c.benchmark_group("cold_burst");
    group.sample_size(10);
    group.bench_function("one_token_round_trip", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    OAuthMiddleware::new(grant())
                        .token(&reqwest_oauth::TokenRequest::new())
                        .await
                        .expect("token");
                }
                start.elapsed()
            })
        })
    });
    let (mut bursts, before) = (0u64, auth.token_requests());
    group.bench_function("10000_requests", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let client = Arc::new(chain(
                    Some(Arc::new(OAuthMiddleware::new(grant()))),
                    Arc::new(Terminal::default()),
                ));
                total += rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..BURST)
                        .map(|_| {
                            let client = client.clone();
                            tokio::spawn(async move {
                                client.execute(request()).await.map(|r| r.status())
                            })
                        })
                        .collect();
                    for task in tasks {
                        assert_eq!(task.await.expect("no panic").expect("request"), 200);
                    }
                    start.elapsed()
                });
                bursts += 1;
            }
            total
        })
    });
    group.finish();
    println!(
        "\n4. cold burst: {:.2} token requests per burst of {BURST} (target 1)",
        (auth.token_requests() - before) as f64 / bursts.max(1) as f64
    );
}

fn expiry_wave(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("expiry_wave");
    group.sample_size(10);
    let (mut waves, mut fetched, mut replays, mut failures) = (0u64, 0u64, 0u64, 0u64);
    group.bench_function("1000_requests", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let source = Arc::new(CountingSource {
                    delay: Duration::from_millis(5),
                    ..CountingSource::default()
                });
                let oauth = OAuthMiddleware::new(source.clone());
                let stale = rt.block_on(oauth.token(oauth.default_key())).expect("warm");
                let terminal = Arc::new(Terminal::default());
                terminal.reject(stale.header_value().clone());
                let client = Arc::new(
                    ClientBuilder::new(reqwest::Client::new())
                        .with(oauth.clone())
                        .with(HoldFirst::new(WAVE))
                        .with_arc(terminal)
                        .build(),
                );
                let issued_before = source.issued.load(Ordering::Relaxed);
                total += rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..WAVE)
                        .map(|_| {
                            let client = client.clone();
                            tokio::spawn(async move {
                                client.execute(request()).await.map(|r| r.status())
                            })
                        })
                        .collect();
                    for task in tasks {
                        match task.await.expect("no panic") {
                            Ok(status) if status == 200 => {}
                            _ => failures += 1,
                        }
                    }
                    start.elapsed()
                });
                fetched += source.issued.load(Ordering::Relaxed) - issued_before;
                replays += oauth.stats().replays;
                waves += 1;
            }
            total
        })
    });
    group.finish();
    let waves = waves.max(1) as f64;
    println!(
        "\n5. expiry wave of {WAVE}: {:.2} token requests (target 1), {:.1} replays (target {WAVE}), \
         {:.1} failures (target 0) per wave",
        fetched as f64 / waves,
        replays as f64 / waves,
        failures as f64 / waves
    );
}

fn main() {
    let rt = runtime();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    cold_burst(&mut c, &rt);
    expiry_wave(&mut c, &rt);
    c.final_summary();
    report(
        "bursts (multiples of one token round trip)",
        &[Ratio {
            name: "4. 10,000-request cold burst / one token round trip",
            measured: ("cold_burst", "10000_requests"),
            baseline: ("cold_burst", "one_token_round_trip"),
            target: "close to 1",
        }],
    );
}
