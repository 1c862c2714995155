//! A fixed number of cached-path requests through one chain, for counting
//! instructions with callgrind, which (unlike time on a shared machine)
//! does not drift between runs. `benches/callgrind.sh` runs every chain and
//! prints the table; by hand:
//!
//! ```text
//! cargo bench --bench hot_path_driver --no-run   # prints the binary path
//! CHAIN=oauth REQUESTS=11000 valgrind --tool=callgrind target/release/deps/hot_path_driver-…
//! ```
//!
//! `CHAIN=oauth_cold_burst`, `rwlock_cold_burst` or `floor_cold_burst`
//! sends all `REQUESTS` at once through a cold chain whose token takes
//! 20 ms to fetch (the floor has its header already): the per-request
//! difference is what a waiter costs, spawn and request included.
//!
//! `CHAIN` is one of the warm one-key systems in `support/peers.rs`
//! (`floor`, `oauth`, `oauth_no_replay`, `tokio_mutex`, `tokio_rwlock`,
//! `oauth2_rwlock`, `middle`, `aliri`, `reqwest_auth`), or a keyed one:
//! `floor_keyed` (the floor, requests carrying the key extensions),
//! `oauth_10k_keys`, `std_map_10k_keys` (requests spread over 10,000 cached
//! keys). Per-request cost is the difference between runs of 11,000 and
//! 1,000 requests, / 10,000: setup (warming, servers) cancels out.

mod support;

use std::sync::Arc;

use reqwest_oauth::{Audience, OAuthMiddleware, TokenRequest};
use support::peers::{StdMapKeyed, Tenant, warm};
use support::{CountingSource, Terminal, chain, request, send_all};

const KEYS: usize = 10_000;

fn main() {
    let variant = std::env::var("CHAIN").unwrap_or_else(|_| "oauth".into());
    let requests: usize = std::env::var("REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(system) = variant.strip_suffix("_cold_burst") {
        rt.block_on(cold_burst(system, requests));
        return;
    }
    let keyed = matches!(
        variant.as_str(),
        "floor_keyed" | "oauth_10k_keys" | "std_map_10k_keys"
    );
    if !keyed {
        let client = rt.block_on(warm(&variant, Arc::new(Terminal::default())));
        rt.block_on(async {
            for _ in 0..requests {
                client.execute(request()).await.expect("200");
            }
        });
        return;
    }
    let names: Vec<Arc<str>> = (0..KEYS)
        .map(|i| Arc::from(format!("https://api-{i:05}.example")))
        .collect();
    let client = match variant.as_str() {
        "floor_keyed" => rt.block_on(warm("floor", Arc::new(Terminal::default()))),
        "oauth_10k_keys" => {
            let oauth = OAuthMiddleware::new(CountingSource::default());
            rt.block_on(async {
                for key in &names {
                    oauth
                        .token(&TokenRequest::new().with_audience(key.clone()))
                        .await
                        .expect("warm");
                }
            });
            chain(Some(Arc::new(oauth)), Arc::new(Terminal::default()))
        }
        _ => {
            let map = StdMapKeyed::default();
            for key in &names {
                map.fill(key);
            }
            chain(Some(Arc::new(map)), Arc::new(Terminal::default()))
        }
    };
    let audiences: Vec<Audience> = names.iter().map(|k| Audience::new(k.clone())).collect();
    let tenants: Vec<Tenant> = names.iter().map(|k| Tenant(k.clone())).collect();
    rt.block_on(async {
        let mut next = 0usize;
        for _ in 0..requests {
            next = (next + 7919) % KEYS;
            let mut ext = http::Extensions::new();
            ext.insert(audiences[next].clone());
            ext.insert(tenants[next].clone());
            client
                .execute_with_extensions(request(), &mut ext)
                .await
                .expect("200");
        }
    });
}

/// Sends `requests` requests at once through `system`, cold.
async fn cold_burst(system: &str, requests: usize) {
    let delay = std::time::Duration::from_millis(20);
    let middleware: Arc<dyn reqwest_middleware::Middleware> = match system {
        "oauth" => Arc::new(OAuthMiddleware::new(CountingSource {
            delay,
            ..CountingSource::default()
        })),
        "rwlock" => Arc::new(support::peers::TokioRwLockCache(Default::default(), delay)),
        _ => {
            return send_all(warm("floor", Arc::new(Terminal::default())).await, requests).await;
        }
    };
    send_all(
        chain(Some(middleware), Arc::new(Terminal::default())),
        requests,
    )
    .await;
}
