//! Figure 6: end to end on loopback, plain `reqwest` with `.bearer_auth()`
//! against the middleware client, same server, same concurrency.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures_util::future::BoxFuture;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use support::{Ratio, report};

const TASKS: u64 = 32;

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

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut group = c.benchmark_group("end_to_end");
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
        elapsed.mul_f64(iters as f64 / (per_task * TASKS) as f64)
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
    for (name, send) in cases {
        group.bench_function(name, |b| b.iter_custom(|iters| run(iters, send.clone())));
    }
    group.finish();
    c.final_summary();
    report(
        "end to end (time per request; throughput ratio is the inverse)",
        &[
            Ratio {
                name: "6. plain_bearer_auth / oauth_middleware (= middleware throughput / plain throughput)",
                measured: ("end_to_end", "plain_bearer_auth"),
                baseline: ("end_to_end", "oauth_middleware"),
                target: ">= 0.97",
            },
            Ratio {
                name: "   bare_chain_bearer_auth / oauth_middleware (this crate alone, chain cost removed)",
                measured: ("end_to_end", "bare_chain_bearer_auth"),
                baseline: ("end_to_end", "oauth_middleware"),
                target: "none",
            },
            Ratio {
                name: "   plain_bearer_auth / bare_chain_bearer_auth (reqwest-middleware's own cost)",
                measured: ("end_to_end", "plain_bearer_auth"),
                baseline: ("end_to_end", "bare_chain_bearer_auth"),
                target: "none",
            },
        ],
    );
}
