//! Behaviour 3: on a cold cache exactly one task fetches; everyone waiting
//! gets its result, token or error; cancelling the task that started the
//! fetch strands no one.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{client, grant, servers, within_timeout};
use reqwest_oauth::endpoint::{ClientAuth, ErrorCode};
use reqwest_oauth::{Error, OAuthMiddleware};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_on_a_cold_cache_make_one_token_request() {
    within_timeout(async {
        let (auth, api) = servers().await;
        // A slow token endpoint keeps the fetch in flight while all arrive.
        auth.set_delay(Duration::from_millis(200));
        let client = Arc::new(client(&OAuthMiddleware::new(grant(&auth))));
        let url = api.url("/things");
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            if task.await.expect("no panic").expect("request succeeds") == 200 {
                ok += 1;
            }
        }
        assert_eq!(ok, 1000);
        assert_eq!(auth.token_requests(), 1);
        assert_eq!(api.requests(), 1000);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_error_is_shared_by_every_waiter() {
    within_timeout(async {
        let (auth, api) = servers().await;
        auth.set_delay(Duration::from_millis(200));
        auth.fail_with(
            401,
            serde_json::json!({"error": "invalid_client", "message": "Client authentication failed"}),
        );
        // An explicit method: no second, body-authenticated attempt.
        let grant = grant(&auth).client_auth(ClientAuth::Basic);
        let client = Arc::new(client(&OAuthMiddleware::new(grant)));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (client, url) = (client.clone(), api.url("/"));
                tokio::spawn(async move { client.get(url).send().await })
            })
            .collect();
        for task in tasks {
            let err = task.await.expect("no panic").expect_err("no token, no request");
            let oauth = Error::from_middleware(&err).expect("the crate's typed error");
            let endpoint = oauth.endpoint_error().expect("the endpoint's own words");
            assert_eq!(endpoint.status(), 401);
            assert_eq!(endpoint.code(), Some(&ErrorCode::InvalidClient));
            assert_eq!(endpoint.message(), Some("Client authentication failed"));
            assert!(!oauth.is_transient());
        }
        assert_eq!(auth.token_requests(), 1, "waiters each fetched");
        assert_eq!(api.requests(), 0, "a request was sent without a token");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_task_that_started_the_fetch_strands_no_one() {
    within_timeout(async {
        let (auth, api) = servers().await;
        auth.set_delay(Duration::from_millis(300));
        let client = Arc::new(client(&OAuthMiddleware::new(grant(&auth))));

        let leader = {
            let (client, url) = (client.clone(), api.url("/"));
            tokio::spawn(async move { client.get(url).send().await })
        };
        // Let the leader start the fetch, then join it with followers.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let followers: Vec<_> = (0..50)
            .map(|_| {
                let (client, url) = (client.clone(), api.url("/"));
                tokio::spawn(async move { client.get(url).send().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.abort();
        assert!(leader.await.expect_err("aborted").is_cancelled());

        for follower in followers {
            let response = follower
                .await
                .expect("no panic")
                .expect("follower succeeds");
            assert_eq!(response.status(), 200);
        }
        assert_eq!(
            auth.token_requests(),
            1,
            "the leader's fetch was not shared"
        );
        // And the cache is not poisoned: a later request uses the token.
        let later = client
            .get(api.url("/"))
            .send()
            .await
            .expect("later request");
        assert_eq!(later.status(), 200);
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_fetch_whose_every_waiter_was_cancelled_still_fills_the_cache() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        auth.set_delay(Duration::from_millis(200));
        let oauth = OAuthMiddleware::new(grant(&auth));
        let cancelled =
            tokio::time::timeout(Duration::from_millis(50), oauth.token(oauth.default_key())).await;
        assert!(
            cancelled.is_err(),
            "the fetch should still have been running"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(
            auth.token_requests(),
            1,
            "the abandoned fetch's token was thrown away"
        );
    })
    .await;
}
