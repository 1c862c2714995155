//! A fixed number of cached-path requests through one chain, for counting
//! instructions with callgrind, which (unlike time on a shared VM) does not
//! drift between runs:
//!
//! ```text
//! cargo bench --bench hot_path_driver --no-run   # prints the binary path
//! CHAIN=oauth REQUESTS=11000 valgrind --tool=callgrind target/release/deps/hot_path_driver-…
//! ```
//!
//! `CHAIN` is `static_bearer`, `oauth` or `oauth_no_replay`; per-request
//! cost is the difference between runs of 11,000 and 1,000 requests, / 10,000.

mod support;

use std::sync::Arc;

use reqwest_middleware::Middleware;
use reqwest_oauth::OAuthMiddleware;
use reqwest_oauth::policy::ReplayPolicy;
use support::{CountingSource, StaticBearer, Terminal, bearer_header, chain, request};

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
    let middleware: Arc<dyn Middleware> = match variant.as_str() {
        "static_bearer" => Arc::new(StaticBearer(bearer_header("static"))),
        "oauth" | "oauth_no_replay" => {
            let replay = match variant.as_str() {
                "oauth" => ReplayPolicy::AnyMethod,
                _ => ReplayPolicy::Never,
            };
            let oauth = OAuthMiddleware::builder(CountingSource::default())
                .replay(replay)
                .build()
                .expect("config");
            rt.block_on(oauth.token(oauth.default_key()))
                .expect("warm cache");
            Arc::new(oauth)
        }
        other => panic!("unknown CHAIN {other:?}"),
    };
    let client = chain(Some(middleware), Arc::new(Terminal::default()));
    rt.block_on(async {
        for _ in 0..requests {
            client.execute(request()).await.expect("200");
        }
    });
}
