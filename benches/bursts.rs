//! Figures 4 and 5: a cold burst of 10,000 concurrent requests against a
//! 20 ms loopback token endpoint, this crate beside the peers that can
//! start cold, in interleaved rounds; and an expiry wave of 1,000 requests
//! whose token the API starts rejecting.
//!
//! `cargo bench --bench bursts` (`BENCH_ROUNDS=N` for more or fewer rounds).

mod support;

#[path = "../tests/all/common/hold_first.rs"]
mod hold_first;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hold_first::HoldFirst;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use support::peers::{MiddleAuth, Oauth2Cache, TokenEndpoint, middle_authorizer};
use support::rounds::{System, interleave, rounds};
use support::{CountingSource, Terminal, chain, request};

const BURST: usize = 10_000;
const WAVE: usize = 1_000;
const TOKEN_DELAY: Duration = Duration::from_millis(20);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// 10,000 concurrent requests through a chain `make` builds cold (inside
/// the timed span: middle and aliri can only be built by fetching); the
/// time until all have their answer, in ns.
async fn burst<F, Fut>(make: F) -> f64
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Arc<dyn Middleware>>,
{
    let start = Instant::now();
    let client: Arc<ClientWithMiddleware> =
        Arc::new(chain(Some(make().await), Arc::new(Terminal::default())));
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.execute(request()).await.map(|r| r.status()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("no panic").expect("request"), 200);
    }
    start.elapsed().as_nanos() as f64
}

/// Cold bursts, interleaved with one plain token round trip (the unit).
/// Each system gets its own endpoint, so its token requests are its own.
fn cold_burst(rt: &tokio::runtime::Runtime) {
    let names = ["one_token_round_trip", "oauth", "oauth2_rwlock", "middle"];
    let endpoints: Vec<TokenEndpoint> = names
        .iter()
        .map(|_| rt.block_on(TokenEndpoint::start(TOKEN_DELAY)))
        .collect();
    let urls: Vec<String> = endpoints.iter().map(TokenEndpoint::url).collect();
    let plain = reqwest::Client::new();
    let (u0, u1, u2, u3) = (&urls[0], &urls[1], &urls[2], &urls[3]);
    let systems = vec![
        System::new(names[0], || {
            rt.block_on(async {
                let start = Instant::now();
                let response = plain
                    .post(u0.as_str())
                    .basic_auth("id", Some("secret"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .expect("token");
                response.bytes().await.expect("body");
                start.elapsed().as_nanos() as f64
            })
        }),
        System::new(names[1], || {
            rt.block_on(burst(|| async {
                Arc::new(OAuthMiddleware::new(ClientCredentials::new(
                    u1.as_str(),
                    "id",
                    "secret",
                ))) as Arc<dyn Middleware>
            }))
        }),
        System::new(names[2], || {
            rt.block_on(burst(|| async {
                Arc::new(Oauth2Cache::new(u2)) as Arc<dyn Middleware>
            }))
        }),
        System::new(names[3], || {
            rt.block_on(burst(|| async {
                Arc::new(MiddleAuth(middle_authorizer(u3).await)) as Arc<dyn Middleware>
            }))
        }),
    ];
    let rounds = rounds(15);
    let samples = interleave(rounds, 1, systems);
    samples.print(
        &format!(
            "cold burst of {BURST} requests, {} ms token endpoint",
            TOKEN_DELAY.as_millis()
        ),
        "",
        names[0],
    );
    println!(
        "(ratios above are in token round trips; middle is timed from building its authorizer, which fetches)"
    );
    for (name, endpoint) in names.iter().zip(&endpoints).skip(1) {
        let requests = rt.block_on(endpoint.requests());
        println!(
            "4. {name}: {:.2} token requests per burst (target 1)",
            requests as f64 / (rounds + 1) as f64
        );
    }
}

/// Waves of 1,000 requests in flight when the API starts rejecting their
/// token: token requests, replays and failures per wave.
fn expiry_wave(rt: &tokio::runtime::Runtime) {
    let waves = rounds(5);
    let (mut fetched, mut replays, mut failures) = (0u64, 0u64, 0u64);
    let mut times = Vec::new();
    for _ in 0..waves {
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
        times.push(rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..WAVE)
                .map(|_| {
                    let client = client.clone();
                    tokio::spawn(async move { client.execute(request()).await.map(|r| r.status()) })
                })
                .collect();
            for task in tasks {
                match task.await.expect("no panic") {
                    Ok(status) if status == 200 => {}
                    _ => failures += 1,
                }
            }
            start.elapsed()
        }));
        fetched += source.issued.load(Ordering::Relaxed) - issued_before;
        replays += oauth.stats().replays;
    }
    times.sort();
    let waves = waves as f64;
    println!(
        "\n5. expiry wave of {WAVE}: {:.2} token requests (target 1), {:.1} replays (target {WAVE}), \
         {:.1} failures (target 0) per wave; median wave {:?}",
        fetched as f64 / waves,
        replays as f64 / waves,
        failures as f64 / waves,
        times[times.len() / 2]
    );
}

fn main() {
    let rt = runtime();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "cold_burst" {
        cold_burst(&rt);
    }
    if only.is_empty() || only == "expiry_wave" {
        expiry_wave(&rt);
    }
}
