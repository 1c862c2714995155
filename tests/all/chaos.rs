//! Chaos: a flaky, stalling, garbage-spewing token endpoint; steady load
//! across many expiries; an outage and recovery. Bounded in time and count,
//! loopback only. Run with `--nocapture` to see the counts observed.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, grant, servers_with_lifetime};
use reqwest_oauth::policy::{RefreshAhead, RetryPolicy};
use reqwest_oauth::testkit::Fault;
use reqwest_oauth::{Error, OAuthMiddleware};
use serde_json::json;

/// The tests here load both cores; they run one at a time so none of them
/// measures the others.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// 30 % 500, 10 % stalls past the client timeout, 10 % garbage, 50 % fine,
/// in a fixed order so every run sees the same faults.
fn chaos_faults(count: usize, stall: Duration) -> Vec<Option<Fault>> {
    (0..count)
        .map(|i| match i % 10 {
            0 | 3 | 7 => Some(Fault::status(500, json!({"error": "server_error"}))),
            5 => Some(Fault::Stall(stall)),
            8 => Some(Fault::Garbage),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_token_endpoint_never_hangs_a_request_and_is_never_stormed() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let lifetime = Duration::from_millis(600);
    let timeout = Duration::from_millis(60);
    let cooldown = Duration::from_millis(100);
    let backoff = Duration::from_millis(10);
    let retry = RetryPolicy::new(2).initial_backoff(backoff);
    let (auth, api) = servers_with_lifetime(lifetime).await;
    // A queued `None` is a normal answer: a stall-free placeholder fault.
    for fault in chaos_faults(2_000, timeout * 3) {
        match fault {
            Some(fault) => auth.push_faults([fault]),
            None => auth.push_faults([Fault::Stall(Duration::ZERO)]),
        }
    }
    let oauth = OAuthMiddleware::builder(grant(&auth).timeout(timeout))
        .retry(retry)
        .cooldown(cooldown)
        .build()
        .expect("config");
    let client = Arc::new(client(&oauth));

    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (client, url) = (client.clone(), api.url("/"));
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for _ in 0..10 {
                    outcomes.push(client.get(&url).send().await);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                outcomes
            })
        })
        .collect();
    let (mut ok, mut typed) = (0, 0);
    let all = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(tasks),
    )
    .await
    .expect("no request hangs");
    for outcomes in all {
        for outcome in outcomes.expect("no panic") {
            match outcome {
                Ok(response) => {
                    assert_eq!(response.status(), 200, "the API only sees valid tokens");
                    ok += 1;
                }
                Err(err) => {
                    assert!(
                        Error::from_middleware(&err).is_some(),
                        "untyped error: {err}"
                    );
                    typed += 1;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(ok + typed, 2_000);

    // Fetches for one key never overlap. A failed fetch blocks new ones for
    // the cooldown; a successful one for its refresh-ahead time less the
    // longest a fetch can take (every attempt timing out, plus backoff).
    let longest_fetch = timeout * 3 + backoff + backoff * 2;
    let success_gap = lifetime.mul_f64(0.8) - longest_fetch;
    let failures = elapsed.as_secs_f64() / cooldown.as_secs_f64() + 1.0;
    let successes = elapsed.as_secs_f64() / success_gap.as_secs_f64() + 1.0;
    let bound = ((failures + successes) * 3.0).ceil() as u64;
    let stats = oauth.stats();
    println!(
        "chaos: {ok} ok, {typed} typed errors in {elapsed:?}; {} token requests (bound {bound}), \
         {} fetches, {} failed, {} cooldown answers, {} waited",
        auth.token_requests(),
        stats.fetches,
        stats.fetch_failures,
        stats.cooldown_rejections,
        stats.waited
    );
    assert!(
        auth.token_requests() <= bound,
        "{} token requests > {bound}",
        auth.token_requests()
    );
    assert!(ok > 1_000, "most requests should get through; {ok} did");
    assert!(
        stats.fetch_failures > 0,
        "the chaos never made a fetch fail"
    );
}

/// Steady load for `duration`; returns (waited after warm-up, token requests).
async fn steady_load(refresh_ahead: RefreshAhead, duration: Duration) -> (u64, u64, u64) {
    let (auth, api) = servers_with_lifetime(Duration::from_secs(1)).await;
    let oauth = OAuthMiddleware::builder(grant(&auth))
        .refresh_ahead(refresh_ahead)
        .build()
        .expect("config");
    let client = Arc::new(client(&oauth));
    // Warm up, so the cold start is the only wait we expect.
    client.get(api.url("/")).send().await.expect("warm-up");
    let cold = oauth.stats().waited;
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (client, url) = (client.clone(), api.url("/"));
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let response = client.get(&url).send().await.expect("request");
                    assert_eq!(response.status(), 200);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no panic");
    }
    (cold, oauth.stats().waited, auth.token_requests())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_refresh_ahead_no_request_waits_after_warm_up() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let run = Duration::from_millis(5_500);
    // Refresh when half the lifetime is left: 400 ms for the background fetch
    // to land before the token's end of use, even on a loaded machine.
    let (cold, waited, token_requests) = tokio::time::timeout(
        Duration::from_secs(30),
        steady_load(RefreshAhead::Fraction(0.5), run),
    )
    .await
    .expect("finishes");
    println!(
        "refresh ahead on: waited {cold} at warm-up, {waited} at the end; {token_requests} token requests"
    );
    assert_eq!(
        waited, cold,
        "a request waited for the token endpoint under steady load"
    );
    // One token per 0.5 s refresh interval, not one per request.
    let expected = run.as_secs_f64() / 0.5;
    assert!(
        (token_requests as f64) >= expected - 2.0 && (token_requests as f64) <= expected + 3.0,
        "{token_requests} token requests for about {expected:.1} refresh intervals"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_refresh_ahead_requests_wait_at_each_expiry() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (cold, waited, token_requests) = tokio::time::timeout(
        Duration::from_secs(30),
        steady_load(RefreshAhead::Off, Duration::from_millis(5_500)),
    )
    .await
    .expect("finishes");
    println!(
        "refresh ahead off: waited {cold} at warm-up, {waited} at the end; {token_requests} token requests"
    );
    assert!(
        waited > cold + 5,
        "expiries should make requests wait: {cold} -> {waited}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_after_expiry_and_recovers_without_restart() {
    let _serial = ONE_AT_A_TIME.lock().await;
    tokio::time::timeout(Duration::from_secs(30), async {
        let (auth, api) = servers_with_lifetime(Duration::from_secs(2)).await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .retry(RetryPolicy::new(1).initial_backoff(Duration::from_millis(20)))
            .cooldown(Duration::from_millis(500))
            .build()
            .expect("config");
        let client = client(&oauth);
        client.get(api.url("/")).send().await.expect("warm-up");
        auth.fail_with(503, json!({"error": "temporarily_unavailable"}));

        // Until the token truly expires (1.8 s of use), the outage is invisible.
        let outage = Instant::now();
        let mut before_expiry = 0;
        while outage.elapsed() < Duration::from_millis(1_500) {
            let response = client
                .get(api.url("/"))
                .send()
                .await
                .expect("the valid token is used");
            assert_eq!(response.status(), 200);
            before_expiry += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;

        // Expired and the endpoint down: fast, typed errors; the cooldown
        // keeps the endpoint from being hammered.
        let requests_at_expiry = auth.token_requests();
        let mut failures = 0;
        let failing = Instant::now();
        while failing.elapsed() < Duration::from_millis(1_000) {
            let err = client
                .get(api.url("/"))
                .send()
                .await
                .expect_err("no token to be had");
            let typed = Error::from_middleware(&err).expect("typed");
            assert!(typed.is_transient());
            failures += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let during = auth.token_requests() - requests_at_expiry;
        assert!(
            during <= 2 * 3,
            "{during} token requests in 1 s of outage with a 0.5 s cooldown"
        );

        auth.recover();
        tokio::time::sleep(Duration::from_millis(550)).await;
        let response = client.get(api.url("/")).send().await.expect("recovered");
        assert_eq!(response.status(), 200);
        println!(
            "outage: {before_expiry} requests served on the old token, {failures} fast failures \
             with {during} token requests, then recovery"
        );
    })
    .await
    .expect("finishes");
}
