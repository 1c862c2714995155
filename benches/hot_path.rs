//! The cached path, side by side with the floor and the peers
//! (`support/peers.rs`), in interleaved rounds: warm on one thread; across
//! 1, 10,000 and 100,000 keys; 1,024 tasks on 2 threads.
//!
//! `cargo bench --bench hot_path` (or the built binary; `BENCH_ROUNDS=N`
//! for fewer or more rounds).

mod support;

use std::sync::Arc;
use std::time::Instant;

use reqwest_middleware::ClientWithMiddleware;
use reqwest_oauth::{Audience, OAuthMiddleware, TokenRequest};
use support::peers::{StdMapKeyed, Tenant, WARM, warm};
use support::rounds::{System, interleave, per_unit, rounds};
use support::{CountingSource, Terminal, request};

/// Requests per batch on one thread (~10 ms for the floor).
const BATCH: usize = 5_000;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn batch(rt: &tokio::runtime::Runtime, client: &ClientWithMiddleware) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..BATCH {
            client.execute(request()).await.expect("200");
        }
        per_unit(start.elapsed(), BATCH)
    })
}

fn one_thread() {
    let rt = current_thread();
    let clients: Vec<_> = WARM
        .iter()
        .map(|name| {
            (
                *name,
                rt.block_on(warm(name, Arc::new(Terminal::default()))),
            )
        })
        .collect();
    let systems = clients
        .iter()
        .map(|(name, client)| System::new(name, || batch(&rt, client)))
        .collect();
    let samples = interleave(rounds(41), 3, systems);
    samples.print("warm cache, 1 thread, per request", "", "floor");
    samples.ratio(
        "1. oauth (replay on) / floor",
        "oauth",
        "floor",
        "<= 1.10 in time",
    );
    samples.ratio(
        "   oauth (replay off) / floor",
        "oauth_no_replay",
        "floor",
        "<= 1.03",
    );
}

/// `keys` distinct audiences (and tenants, for the hand-rolled map), 25
/// bytes each.
fn names(keys: usize) -> Vec<Arc<str>> {
    (0..keys)
        .map(|i| Arc::from(format!("https://api-{i:05}.example")))
        .collect()
}

fn keyed_oauth(rt: &tokio::runtime::Runtime, keys: &[Arc<str>]) -> ClientWithMiddleware {
    let oauth = OAuthMiddleware::builder(CountingSource::default())
        .max_keys(keys.len().max(10_000))
        .build()
        .expect("config");
    rt.block_on(async {
        for key in keys {
            oauth
                .token(&TokenRequest::new().with_audience(key.clone()))
                .await
                .expect("warm");
        }
    });
    assert_eq!(oauth.cached_keys(), keys.len(), "every key cached");
    support::chain(Some(Arc::new(oauth)), Arc::new(Terminal::default()))
}

fn keyed_map(keys: &[Arc<str>]) -> ClientWithMiddleware {
    let map = StdMapKeyed::default();
    for key in keys {
        map.fill(key);
    }
    support::chain(Some(Arc::new(map)), Arc::new(Terminal::default()))
}

/// One batch over `keys` keys (a stride that visits every key), each
/// request carrying its key as `Audience` and `Tenant` extensions (every
/// system, the floor too, pays for both).
fn keyed_batch(
    rt: &tokio::runtime::Runtime,
    client: &ClientWithMiddleware,
    audiences: &[Audience],
    tenants: &[Tenant],
    keys: usize,
) -> f64 {
    rt.block_on(async {
        let mut next = 0usize;
        let start = Instant::now();
        for _ in 0..BATCH {
            next = (next + 7919) % keys;
            let mut ext = http::Extensions::new();
            ext.insert(audiences[next].clone());
            ext.insert(tenants[next].clone());
            client
                .execute_with_extensions(request(), &mut ext)
                .await
                .expect("200");
        }
        per_unit(start.elapsed(), BATCH)
    })
}

fn many_keys() {
    const MOST: usize = 100_000;
    const MANY: usize = 10_000;
    let rt = current_thread();
    let all = names(MOST);
    let audiences: Vec<Audience> = all.iter().map(|k| Audience::new(k.clone())).collect();
    let tenants: Vec<Tenant> = all.iter().map(|k| Tenant(k.clone())).collect();
    let floor = rt.block_on(warm("floor", Arc::new(Terminal::default())));
    let oauth_many = keyed_oauth(&rt, &all[..MANY]);
    let oauth_most = keyed_oauth(&rt, &all);
    let map_many = keyed_map(&all[..MANY]);
    let map_most = keyed_map(&all);
    let (a, t) = (&audiences, &tenants);
    let systems = vec![
        System::new("floor", || keyed_batch(&rt, &floor, a, t, MANY)),
        System::new("oauth_1_key", || keyed_batch(&rt, &oauth_most, a, t, 1)),
        System::new("oauth_10k_keys", || {
            keyed_batch(&rt, &oauth_many, a, t, MANY)
        }),
        System::new("oauth_100k_keys", || {
            keyed_batch(&rt, &oauth_most, a, t, MOST)
        }),
        System::new("std_map_1_key", || keyed_batch(&rt, &map_most, a, t, 1)),
        System::new("std_map_10k_keys", || {
            keyed_batch(&rt, &map_many, a, t, MANY)
        }),
        System::new("std_map_100k_keys", || {
            keyed_batch(&rt, &map_most, a, t, MOST)
        }),
    ];
    let samples = interleave(rounds(25), 2, systems);
    samples.print(
        "keyed requests (Audience / Tenant extension), 1 thread, per request",
        "",
        "floor",
    );
    samples.ratio(
        "3. oauth, 10,000 keys / floor",
        "oauth_10k_keys",
        "floor",
        "<= 1.08 (instructions)",
    );
    samples.ratio(
        "   std RwLock<HashMap>, 10,000 keys / floor",
        "std_map_10k_keys",
        "floor",
        "none",
    );
    samples.ratio(
        "   oauth time growth, 100,000 keys / 1 key",
        "oauth_100k_keys",
        "oauth_1_key",
        "no worse than the map's",
    );
    samples.ratio(
        "   std RwLock<HashMap> time growth, 100,000 keys / 1 key",
        "std_map_100k_keys",
        "std_map_1_key",
        "none",
    );
}

/// 1,024 tasks on 2 worker threads share each batch's requests.
fn contended() {
    const TASKS: usize = 1_024;
    const PER_TASK: usize = 32;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let clients: Vec<_> = WARM
        .iter()
        .map(|name| {
            let client = rt.block_on(warm(name, Arc::new(Terminal::default())));
            (*name, Arc::new(client))
        })
        .collect();
    let systems = clients
        .iter()
        .map(|(name, client)| {
            let rt = &rt;
            System::new(name, move || {
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let client = client.clone();
                            tokio::spawn(async move {
                                for _ in 0..PER_TASK {
                                    client.execute(request()).await.expect("200");
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("no panic");
                    }
                    per_unit(start.elapsed(), TASKS * PER_TASK)
                })
            })
        })
        .collect();
    let samples = interleave(rounds(61), 2, systems);
    samples.print(
        "warm cache, 1,024 tasks on 2 threads, per request",
        "",
        "floor",
    );
    samples.ratio(
        "2. oauth / floor, 2 threads x 1,024 tasks",
        "oauth",
        "floor",
        "<= 1.10",
    );
}

fn main() {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "one_thread" {
        one_thread();
    }
    if only.is_empty() || only == "many_keys" {
        many_keys();
    }
    if only.is_empty() || only == "contended" {
        contended();
    }
}
