//! The rejection path under any API behaviour: bounded token requests when
//! the API rejects everything, a one-off revocation still recovered, another
//! origin's 401 ignored, `Retry-After` honoured, tiny lifetimes floored, and
//! the caller told what happened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest_oauth::policy::{RejectionDamping, ReplayOutcome, ReplayPolicy, SkipReason};
use reqwest_oauth::{Error, OAuthMiddleware};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{client, grant, servers, within_timeout};

const COOLDOWN: Duration = Duration::from_millis(150);

fn damped(auth: &reqwest_oauth::testkit::AuthServer) -> OAuthMiddleware {
    OAuthMiddleware::builder(grant(auth))
        .rejection_damping(RejectionDamping::default().cooldown(COOLDOWN))
        .build()
        .expect("config")
}

/// The most token requests the bound allows after `elapsed`: one, and one
/// more per cooldown (the cooldowns only grow, so this is generous).
fn bound(elapsed: Duration) -> u64 {
    1 + (elapsed.as_secs_f64() / COOLDOWN.as_secs_f64()).ceil() as u64
}

fn outcome(response: &reqwest::Response) -> Option<ReplayOutcome> {
    response.extensions().get::<ReplayOutcome>().copied()
}

#[tokio::test]
async fn an_api_that_rejects_everything_costs_one_token_request_per_cooldown_sequentially() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.reject_all(true);
        let oauth = damped(&auth);
        let client = client(&oauth);
        let start = Instant::now();
        // At least 200 calls, and long enough to span several cooldowns.
        let mut calls = 0;
        while calls < 200 || start.elapsed() < Duration::from_secs(1) {
            let response = client.get(api.url("/")).send().await.expect("sent");
            assert_eq!(response.status(), 401);
            assert!(matches!(
                outcome(&response),
                Some(ReplayOutcome::Skipped(_) | ReplayOutcome::Replayed)
            ));
            calls += 1;
        }
        let elapsed = start.elapsed();
        let stats = oauth.stats();
        println!(
            "{calls} sequential calls, API rejecting all: {} token requests in {elapsed:?}; {stats:?}",
            auth.token_requests()
        );
        assert!(
            auth.token_requests() <= bound(elapsed),
            "{} token requests in {elapsed:?}",
            auth.token_requests()
        );
        assert!(stats.rejection_cooldowns >= 1);
        assert!(stats.rejections_damped >= 100, "{stats:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_callers_against_an_api_that_rejects_everything_stay_bounded() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.reject_all(true);
        let oauth = damped(&auth);
        let client = Arc::new(client(&oauth));
        let start = Instant::now();
        let tasks: Vec<_> = (0..500)
            .map(|_| {
                let (client, url) = (client.clone(), api.url("/"));
                tokio::spawn(async move {
                    for _ in 0..4 {
                        let response = client.get(&url).send().await.expect("sent");
                        assert_eq!(response.status(), 401);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("no panic");
        }
        let elapsed = start.elapsed();
        println!(
            "500 tasks x 4 calls, API rejecting all: {} token requests in {elapsed:?}",
            auth.token_requests()
        );
        assert!(
            auth.token_requests() <= bound(elapsed),
            "{} token requests for 2,000 calls in {elapsed:?}",
            auth.token_requests()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_revocation_is_still_recovered_with_one_token_request_and_one_replay_each() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = damped(&auth);
        let client = Arc::new(client(&oauth));
        client.get(api.url("/")).send().await.expect("warm-up");
        auth.revoke_all();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (client, url) = (client.clone(), api.url("/"));
                tokio::spawn(async move { client.get(&url).send().await.expect("sent") })
            })
            .collect();
        let mut replayed = 0;
        for task in tasks {
            let response = task.await.expect("no panic");
            assert_eq!(response.status(), 200);
            // A caller that started after the replacement landed was never
            // rejected; every other one was replayed once.
            match outcome(&response) {
                Some(ReplayOutcome::Replayed) => replayed += 1,
                None => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert!(replayed > 0, "the revocation was never seen");
        assert_eq!(
            auth.token_requests(),
            2,
            "the warm-up token and one replacement"
        );
        assert_eq!(oauth.stats().replays, replayed);
        assert_eq!(oauth.stats().rejection_cooldowns, 0);
    })
    .await;
}

#[tokio::test]
async fn after_the_cooldown_the_key_may_fetch_again() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.reject_all(true);
        let oauth = damped(&auth);
        let client = client(&oauth);
        client.get(api.url("/")).send().await.expect("sent");
        assert_eq!(auth.token_requests(), 1);
        api.reject_all(false);
        auth.revoke_all();
        // Damped: the rejection comes back as it is, nothing fetched.
        let response = client.get(api.url("/")).send().await.expect("sent");
        assert_eq!(
            outcome(&response),
            Some(ReplayOutcome::Skipped(SkipReason::Damped))
        );
        assert_eq!(auth.token_requests(), 1);
        tokio::time::sleep(COOLDOWN + Duration::from_millis(50)).await;
        let response = client.get(api.url("/")).send().await.expect("sent");
        assert_eq!(response.status(), 200, "the API recovered; so does the key");
        assert_eq!(outcome(&response), Some(ReplayOutcome::Replayed));
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cooldown_is_honoured_up_to_the_cap() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "3600")
                    .set_body_json(json!({"error": "slow_down"})),
            )
            .mount(&server)
            .await;
        let grant = reqwest_oauth::ClientCredentials::new(server.uri(), "id", "secret");
        let oauth = OAuthMiddleware::builder(grant)
            .cooldown(Duration::from_millis(100))
            .max_cooldown(Duration::from_secs(3))
            .build()
            .expect("config");
        let first = oauth.token(oauth.default_key()).await.expect_err("429");
        assert!(first.endpoint_error().is_some());
        // Well past the configured cooldown, still inside the server's.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let later = oauth
            .token(oauth.default_key())
            .await
            .expect_err("cooling down");
        let Error::CoolingDown { retry_in, .. } = &later else {
            panic!("expected the cooldown's error, got {later:?}");
        };
        assert!(
            *retry_in > Duration::from_secs(2) && *retry_in <= Duration::from_secs(3),
            "capped at 3 s: {retry_in:?}"
        );
        assert_eq!(
            later.endpoint_error().map(|e| e.status().as_u16()),
            Some(429)
        );
        let requests = server.received_requests().await.expect("recorded").len();
        assert_eq!(requests, 1, "one token request, no retry inside the hour");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_lives_a_millisecond_is_refetched_at_most_once_per_interval() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        auth.set_token_lifetime(Duration::from_millis(1));
        let api = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&api)
            .await;
        let interval = Duration::from_millis(200);
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .min_refetch_interval(interval)
            .build()
            .expect("config");
        let client = Arc::new(client(&oauth));
        let start = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (client, url) = (client.clone(), api.uri());
                tokio::spawn(async move {
                    for _ in 0..10 {
                        let response = client.get(&url).send().await.expect("sent");
                        assert_eq!(response.status(), 200);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("no panic");
        }
        let elapsed = start.elapsed();
        let allowed = 1 + (elapsed.as_secs_f64() / interval.as_secs_f64()).ceil() as u64;
        println!(
            "1 ms tokens, 20 tasks x 10 calls: {} token requests in {elapsed:?}",
            auth.token_requests()
        );
        assert!(
            auth.token_requests() <= allowed,
            "{} token requests for 200 calls in {elapsed:?}",
            auth.token_requests()
        );
    })
    .await;
}

#[tokio::test]
async fn the_caller_is_told_why_a_rejected_request_was_not_replayed() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .replay(ReplayPolicy::IdempotentOnly)
            .build()
            .expect("config");
        let client = client(&oauth);
        client.get(api.url("/")).send().await.expect("warm-up");
        auth.revoke_all();
        let response = client.post(api.url("/")).send().await.expect("sent");
        assert_eq!(response.status(), 401);
        assert_eq!(
            outcome(&response),
            Some(ReplayOutcome::Skipped(SkipReason::Policy))
        );
        // The token was still dropped: the next request has a new one.
        let response = client.get(api.url("/")).send().await.expect("sent");
        assert_eq!(response.status(), 200);
        assert_eq!(outcome(&response), None, "nothing was rejected");
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

fn stepping_up(auth: &reqwest_oauth::testkit::AuthServer, on: bool) -> OAuthMiddleware {
    OAuthMiddleware::builder(grant(auth))
        .scope("read")
        .step_up(on)
        .build()
        .expect("config")
}

#[tokio::test]
async fn insufficient_scope_gets_one_token_for_the_union_scope_and_one_replay() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.require_scope(Some("read admin"));
        let oauth = stepping_up(&auth, true);
        let client = client(&oauth);
        let response = client.get(api.url("/")).send().await.expect("sent");
        assert_eq!(response.status(), 200);
        assert_eq!(outcome(&response), Some(ReplayOutcome::SteppedUp));
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(
            body["scope"], "read admin",
            "the union of the key's and the asked scope"
        );
        assert_eq!(
            auth.token_requests(),
            2,
            "the narrow token, then the wide one"
        );
        // The wide token is cached under its own key: the next step-up
        // costs no token request, and the narrow token was kept.
        let response = client.get(api.url("/")).send().await.expect("sent");
        assert_eq!(outcome(&response), Some(ReplayOutcome::SteppedUp));
        assert_eq!(auth.token_requests(), 2);
        assert_eq!(oauth.cached_keys(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_step_up_is_never_repeated_for_one_request() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let api = crate::common::api_always_wanting_scope("admin").await;
        let oauth = stepping_up(&auth, true);
        let response = client(&oauth).get(api.uri()).send().await.expect("sent");
        assert_eq!(response.status(), 403, "the replay's answer is final");
        assert_eq!(outcome(&response), Some(ReplayOutcome::SteppedUp));
        let received = api.received_requests().await.expect("recorded");
        assert_eq!(received.len(), 2, "the request and one stepped-up replay");
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn without_step_up_insufficient_scope_is_returned_as_it_came() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.require_scope(Some("read admin"));
        let oauth = stepping_up(&auth, false);
        let response = client(&oauth).get(api.url("/")).send().await.expect("sent");
        assert_eq!(response.status(), 403);
        assert_eq!(outcome(&response), None);
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}
