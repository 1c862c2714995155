//! Figure 6: end to end on loopback, plain `reqwest` with `.bearer_auth()`
//! against the middleware client, same server, same concurrency.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use support::{Ratio, report};

const TASKS: u64 = 32;

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
    let token = rt.block_on(oauth.token(None)).expect("token");
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
    let run = |iters: u64,
               send: Arc<
        dyn Fn() -> futures_util::future::BoxFuture<'static, u16> + Send + Sync,
    >| {
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
    {
        let (plain, url, secret) = (plain.clone(), url.clone(), token.secret().to_owned());
        let send: Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, u16> + Send + Sync> =
            Arc::new(move || {
                let request = plain.get(&url).bearer_auth(&secret);
                Box::pin(async move {
                    request
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            });
        group.bench_function("plain_bearer_auth", |b| {
            b.iter_custom(|iters| run(iters, send.clone()))
        });
    }
    {
        // reqwest-middleware's own cost: the same chain type, no middleware,
        // the header set by hand.
        let bare = Arc::new(reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build());
        let (url, secret) = (url.clone(), token.secret().to_owned());
        let send: Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, u16> + Send + Sync> =
            Arc::new(move || {
                let request = bare.get(&url).bearer_auth(&secret);
                Box::pin(async move {
                    request
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            });
        group.bench_function("bare_chain_bearer_auth", |b| {
            b.iter_custom(|iters| run(iters, send.clone()))
        });
    }
    {
        let (client, url) = (with_middleware.clone(), url.clone());
        let send: Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, u16> + Send + Sync> =
            Arc::new(move || {
                let request = client.get(&url);
                Box::pin(async move {
                    request
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            });
        group.bench_function("oauth_middleware", |b| {
            b.iter_custom(|iters| run(iters, send.clone()))
        });
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
