//! Never stall, never storm: retries, cooldown, refresh ahead, cancellation
//! at every point, and a bounded number of cached keys.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, echo, grant, servers, within_timeout};
use reqwest_oauth::policy::{RefreshAhead, RetryPolicy};
use reqwest_oauth::testkit::Fault;
use reqwest_oauth::{Audience, Error, OAuthMiddleware};
use serde_json::json;

fn server_error(status: u16) -> Fault {
    Fault::status(status, json!({"error": "temporarily_unavailable"}))
}

#[tokio::test]
async fn transient_failures_are_retried_within_one_fetch() {
    within_timeout(async {
        let (auth, api) = servers().await;
        auth.push_faults([server_error(503), server_error(500)]);
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .retry(RetryPolicy::new(2).initial_backoff(Duration::from_millis(20)))
            .build()
            .expect("config");
        echo(client(&oauth).get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.token_requests(), 3);
        let stats = oauth.stats();
        assert_eq!(
            (stats.fetches, stats.token_requests, stats.fetch_failures),
            (1, 3, 0)
        );
    })
    .await;
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_error_is_returned() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        auth.fail_with(502, json!({"message": "bad gateway"}));
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .retry(RetryPolicy::new(3).initial_backoff(Duration::from_millis(10)))
            .build()
            .expect("config");
        let err = oauth
            .token(oauth.default_key())
            .await
            .expect_err("never succeeds");
        assert_eq!(err.endpoint_error().map(|e| e.status().as_u16()), Some(502));
        assert!(err.is_transient());
        assert_eq!(auth.token_requests(), 4, "one attempt and three retries");
    })
    .await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        auth.push_faults([Fault::Status {
            status: 429,
            body: json!({"error": "slow_down"}),
            retry_after: Some(1),
        }]);
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .retry(RetryPolicy::new(1).initial_backoff(Duration::from_millis(1)))
            .build()
            .expect("config");
        let started = Instant::now();
        oauth
            .token(oauth.default_key())
            .await
            .expect("second attempt succeeds");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "retried before Retry-After"
        );
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        auth.fail_with(400, json!({"error": "invalid_grant"}));
        let err = OAuthMiddleware::new(grant(&auth))
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect_err("refused");
        assert!(!err.is_transient());
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn after_a_failed_fetch_the_cooldown_answers_without_new_token_requests() {
    within_timeout(async {
        let (auth, api) = servers().await;
        auth.fail_with(500, json!({"error": "server_error"}));
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .retry(RetryPolicy::none())
            .cooldown(Duration::from_millis(400))
            .build()
            .expect("config");
        let client = client(&oauth);
        for _ in 0..20 {
            let err = client.get(api.url("/")).send().await.expect_err("no token");
            let typed = Error::from_middleware(&err).expect("typed");
            assert_eq!(
                typed.endpoint_error().map(|e| e.status().as_u16()),
                Some(500)
            );
        }
        assert_eq!(auth.token_requests(), 1, "the cooldown did not hold");
        assert_eq!(oauth.stats().cooldown_rejections, 19);
        tokio::time::sleep(Duration::from_millis(450)).await;
        auth.recover();
        echo(client.get(api.url("/")).send().await.expect("recovered")).await;
        assert_eq!(auth.token_requests(), 2);
        assert_eq!(api.requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn refresh_ahead_renews_in_the_background_while_requests_use_the_current_token() {
    within_timeout(async {
        let (auth, api) = common::servers_with_lifetime(Duration::from_secs(2)).await;
        // A wide window (the last half) keeps the test robust on a busy machine.
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .refresh_ahead(RefreshAhead::Fraction(0.5))
            .build()
            .expect("config");
        let client = client(&oauth);
        let first = oauth.token(oauth.default_key()).await.expect("token");
        // Into the refresh window (after 1 s), well before the end of use (1.8 s).
        tokio::time::sleep(Duration::from_millis(1200)).await;
        auth.set_delay(Duration::from_millis(100));
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        let stats = oauth.stats();
        assert_eq!(stats.background_refreshes, 1);
        assert_eq!(stats.waited, 1, "only the warm-up waited");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let second = oauth.token(oauth.default_key()).await.expect("token");
        assert!(
            !Arc::ptr_eq(&first, &second),
            "the background refresh did not replace the token"
        );
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_failed_background_refresh_keeps_the_valid_token() {
    within_timeout(async {
        let (auth, api) = common::servers_with_lifetime(Duration::from_secs(2)).await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .retry(RetryPolicy::none())
            .refresh_ahead(RefreshAhead::Fraction(0.5))
            .build()
            .expect("config");
        let client = client(&oauth);
        oauth.token(oauth.default_key()).await.expect("token");
        auth.fail_with(503, json!({"error": "down"}));
        // Into the refresh window (after 1 s), well before the end of use (1.8 s).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for _ in 0..5 {
            echo(client.get(api.url("/")).send().await.expect("still valid")).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stats = oauth.stats();
        assert_eq!(
            stats.background_refreshes, 1,
            "one refresh, then the cooldown"
        );
        assert_eq!(stats.fetch_failures, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_requests_at_random_points_never_hangs_or_poisons_the_cache() {
    within_timeout(async {
        let (auth, api) = servers().await;
        auth.set_delay(Duration::from_millis(60));
        let oauth = OAuthMiddleware::new(grant(&auth));
        let client = Arc::new(client(&oauth));
        for round in 0..4u64 {
            // Every round starts stale: leaders, waiters and replays get cut off.
            auth.revoke_all();
            oauth.invalidate_all();
            let tasks: Vec<_> = (0..100u64)
                .map(|i| {
                    let (client, url) = (client.clone(), api.url("/"));
                    let budget = Duration::from_millis((i * 7 + round * 13) % 150);
                    tokio::spawn(async move {
                        tokio::time::timeout(budget, client.get(url).send()).await
                    })
                })
                .collect();
            for task in tasks {
                if let Ok(result) = task.await.expect("no panic") {
                    assert_eq!(result.expect("finished requests succeed").status(), 200);
                }
            }
        }
        // Whatever was cancelled where, the next request is served normally.
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert!(
            auth.token_requests() <= 4 * 2 + 1,
            "{} token requests",
            auth.token_requests()
        );
    })
    .await;
}

#[tokio::test]
async fn cancelling_a_request_waiting_on_its_replay_strands_no_one() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        oauth.token(oauth.default_key()).await.expect("warm-up");
        auth.revoke_all();
        auth.set_delay(Duration::from_millis(300));
        let client = Arc::new(client(&oauth));
        let replaying = {
            let (client, url) = (client.clone(), api.url("/"));
            tokio::spawn(async move { client.get(url).send().await })
        };
        // The first request got its 401 and now waits for the new token.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(api.rejections(), 1);
        replaying.abort();
        let other = client.get(api.url("/")).send().await.expect("call");
        assert_eq!(other.status(), 200);
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn the_number_of_cached_keys_is_capped_and_the_busy_key_survives() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .max_keys(50)
            .build()
            .expect("config");
        let client = client(&oauth);
        for i in 0..500 {
            for audience in ["hot".to_owned(), format!("tenant-{i}")] {
                let response = client
                    .get(api.url("/"))
                    .with_extension(Audience::new(audience))
                    .send()
                    .await
                    .expect("call");
                assert_eq!(response.status(), 200);
            }
            // Keep "hot" the most recently used by a clear margin.
            tokio::time::sleep(Duration::from_micros(1500)).await;
            assert!(
                oauth.cached_keys() <= 50,
                "{} keys cached",
                oauth.cached_keys()
            );
        }
        assert!(oauth.stats().evictions >= 450);
        assert_eq!(
            auth.token_requests(),
            501,
            "the busy key was evicted and fetched again"
        );
    })
    .await;
}
