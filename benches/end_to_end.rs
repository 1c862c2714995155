//! Figure 6: end to end on loopback, plain `reqwest` with `.bearer_auth()`
//! against the middleware client, same server, same concurrency, in
//! interleaved rounds (a fixed order let the plain baseline move 64 %
//! between runs).
//!
//! `cargo bench --bench end_to_end` (`BENCH_ROUNDS=N`).

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use support::rounds::{System, interleave, rounds};

const TASKS: u64 = 32;
/// Requests per batch (~50 ms on loopback).
const BATCH: u64 = 2_048;

/// Sends one request and gives its status (0 for a failure).
type Sender = Arc<dyn Fn() -> BoxFuture<'static, u16> + Send + Sync>;

fn sender<F, Fut, E>(make: F) -> Sender
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<reqwest::Response, E>> + Send + 'static,
{
    Arc::new(move || {
        let response = make();
        Box::pin(async move { response.await.map(|r| r.status().as_u16()).unwrap_or(0) })
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (auth, api) = rt.block_on(async {
        let auth = AuthServer::builder()
            .client("id", "secret")
            .start()
            .await
            .expect("auth");
        let api = ApiServer::start(&auth).await.expect("api");
        (auth, api)
    });
    let oauth = OAuthMiddleware::new(ClientCredentials::new(auth.token_url(), "id", "secret"));
    let token = rt
        .block_on(oauth.token(oauth.default_key()))
        .expect("token");
    let url = api.url("/things");
    let plain = Arc::new(reqwest::Client::new());
    let with_middleware = Arc::new(
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(oauth)
            .build(),
    );

    let run = |iters: u64, send: Sender| {
        let per_task = iters.div_ceil(TASKS);
        let elapsed = rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let send = send.clone();
                    tokio::spawn(async move {
                        for _ in 0..per_task {
                            assert_eq!(send().await, 200);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("no panic");
            }
            start.elapsed()
        });
        elapsed.as_nanos() as f64 / (per_task * TASKS) as f64
    };
    let secret = token.secret().to_owned();
    let cases: [(&str, Sender); 3] = [
        ("plain_bearer_auth", {
            let (plain, url, secret) = (plain.clone(), url.clone(), secret.clone());
            sender(move || plain.get(&url).bearer_auth(&secret).send())
        }),
        // reqwest-middleware's own cost: the same chain type, no middleware,
        // the header set by hand.
        ("bare_chain_bearer_auth", {
            let bare = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
            let (url, secret) = (url.clone(), secret.clone());
            sender(move || bare.get(&url).bearer_auth(&secret).send())
        }),
        ("oauth_middleware", {
            let (client, url) = (with_middleware.clone(), url.clone());
            sender(move || client.get(&url).send())
        }),
    ];
    let systems = cases
        .into_iter()
        .map(|(name, send)| System::new(name, move || run(BATCH, send.clone())))
        .collect();
    let samples = interleave(rounds(61), 2, systems);
    samples.print(
        "end to end over loopback, 32 tasks on 2 threads, per request",
        "",
        "plain_bearer_auth",
    );
    samples.ratio(
        "6. throughput of the middleware client / plain .bearer_auth() (time plain / time oauth)",
        "plain_bearer_auth",
        "oauth_middleware",
        ">= 0.99",
    );
    samples.ratio(
        "   throughput / bare reqwest-middleware chain with .bearer_auth() (this crate alone)",
        "bare_chain_bearer_auth",
        "oauth_middleware",
        "none",
    );
}
