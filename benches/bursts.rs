//! Figures 4 and 5: a cold burst of 10,000 concurrent requests against a
//! 20 ms loopback token endpoint, this crate beside the peers that can
//! start cold, in interleaved rounds; and an expiry wave of 1,000 requests
//! whose token the API starts rejecting.
//!
//! `cargo bench --bench bursts` (`BENCH_ROUNDS=N` for more or fewer rounds).

mod support;

#[path = "../tests/all/common/hold_first.rs"]
mod hold_first;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hold_first::HoldFirst;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use support::peers::{MiddleAuth, Oauth2Cache, TokenEndpoint, middle_authorizer};
use support::rounds::{System, interleave, rounds};
use support::{CountingSource, Terminal, request, send_all};

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

/// 10,000 concurrent requests through a chain around a cold middleware;
/// the time from `start` until all have their answer, in ns. The client
/// (whose reqwest `Client` loads the platform's root certificates, a few
/// milliseconds) is built before the clock starts, as a program builds it
/// before its first request; so are the middlewares that can be built
/// without fetching. middle's authorizer can only be built by fetching, so
/// its `start` is taken before it is built.
async fn burst(start: Instant, client: ClientWithMiddleware) -> f64 {
    send_all(client, BURST).await;
    start.elapsed().as_nanos() as f64
}

/// A chain around a cold middleware, on a reqwest `Client` built before.
fn cold_chain(client: reqwest::Client, middleware: Arc<dyn Middleware>) -> ClientWithMiddleware {
    ClientBuilder::new(client)
        .with_arc(middleware)
        .with_arc(Arc::new(Terminal::default()))
        .build()
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
            let grant = ClientCredentials::new(u1.as_str(), "id", "secret");
            let client = cold_chain(
                reqwest::Client::new(),
                Arc::new(OAuthMiddleware::new(grant)),
            );
            rt.block_on(burst(Instant::now(), client))
        }),
        System::new(names[2], || {
            let client = cold_chain(reqwest::Client::new(), Arc::new(Oauth2Cache::new(u2)));
            rt.block_on(burst(Instant::now(), client))
        }),
        System::new(names[3], || {
            let http = reqwest::Client::new();
            rt.block_on(async {
                let start = Instant::now();
                let middle = Arc::new(MiddleAuth(middle_authorizer(u3).await));
                burst(start, cold_chain(http, middle)).await
            })
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
