//! Behaviour 1 and 2: tokens are fetched lazily, cached per key (audience and
//! scope), reused while valid, and renewed after they expire.

use crate::common;

use std::time::Duration;

use common::{client, echo, grant, servers, within_timeout};
use reqwest_oauth::{Audience, ClientCredentials, OAuthMiddleware, Scope};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn no_token_request_before_the_first_api_request_then_exactly_one() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .build()
            .expect("valid config");
        let client = client(&oauth);
        assert_eq!(
            auth.token_requests(),
            0,
            "building the middleware fetched a token"
        );

        echo(client.get(api.url("/a")).send().await.expect("first call")).await;
        assert_eq!(auth.token_requests(), 1);
        for _ in 0..5 {
            echo(client.get(api.url("/b")).send().await.expect("later call")).await;
        }
        assert_eq!(auth.token_requests(), 1, "a valid token was fetched again");
    })
    .await;
}

#[tokio::test]
async fn each_audience_gets_its_own_token_and_never_another_ones() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .audience("https://default.example")
            .build()
            .expect("valid config");
        let client = client(&oauth);
        for _ in 0..3 {
            let default = echo(client.get(api.url("/")).send().await.expect("call")).await;
            assert_eq!(default["audience"], "https://default.example");
            let other = client
                .get(api.url("/"))
                .with_extension(Audience::new("https://other.example"))
                .send()
                .await
                .expect("call");
            assert_eq!(echo(other).await["audience"], "https://other.example");
        }
        assert_eq!(
            auth.token_requests(),
            2,
            "one token per audience, each reused"
        );
    })
    .await;
}

#[tokio::test]
async fn scope_is_part_of_the_key() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth).scope("read"));
        let client = client(&oauth);
        let default = echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(default["scope"], "read");
        let write = client
            .get(api.url("/"))
            .with_extension(Scope::new("write"))
            .send()
            .await
            .expect("call");
        assert_eq!(echo(write).await["scope"], "write");
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_two_second_token_is_used_then_renewed_after_it_expires() {
    within_timeout(async {
        let (auth, api) = common::servers_with_lifetime(Duration::from_secs(2)).await;
        // The default 30 s leeway must not make a 2 s token unusable.
        let oauth = OAuthMiddleware::new(grant(&auth));
        let client = client(&oauth);
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(
            auth.token_requests(),
            1,
            "a 2 s token was not reused for 0.5 s"
        );

        tokio::time::sleep(Duration::from_millis(1600)).await;
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.token_requests(), 2, "an expired token was not renewed");
        assert_eq!(
            api.rejections(),
            0,
            "the client sent a token the API considered expired"
        );
    })
    .await;
}

/// Serves a fixed token response from wiremock and counts the requests.
async fn token_endpoint(body: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn expires_in_as_a_numeric_string_is_honoured() {
    within_timeout(async {
        let server = token_endpoint(serde_json::json!({
            "access_token": "abc", "token_type": "bearer", "expires_in": "1"
        }))
        .await;
        let oauth = OAuthMiddleware::new(ClientCredentials::new(
            format!("{}/token", server.uri()),
            "id",
            "s",
        ));
        let first = oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(first.expires_in(), Some(Duration::from_secs(1)));
        assert!(std::sync::Arc::ptr_eq(
            &first,
            &oauth.token(oauth.default_key()).await.expect("token")
        ));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let second = oauth.token(oauth.default_key()).await.expect("token");
        assert!(
            !std::sync::Arc::ptr_eq(&first, &second),
            "a 1 s token was still used after 1.1 s"
        );
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
    })
    .await;
}

#[tokio::test]
async fn without_expires_in_the_configured_default_lifetime_applies() {
    within_timeout(async {
        let server =
            token_endpoint(serde_json::json!({ "access_token": "abc", "token_type": "Bearer" }))
                .await;
        let oauth = OAuthMiddleware::builder(ClientCredentials::new(
            format!("{}/token", server.uri()),
            "id",
            "s",
        ))
        .default_lifetime(Duration::from_millis(800))
        .build()
        .expect("valid config");
        let first = oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(first.expires_in(), None);
        assert!(std::sync::Arc::ptr_eq(
            &first,
            &oauth.token(oauth.default_key()).await.expect("token")
        ));
        tokio::time::sleep(Duration::from_millis(900)).await;
        let second = oauth.token(oauth.default_key()).await.expect("token");
        assert!(
            !std::sync::Arc::ptr_eq(&first, &second),
            "the default lifetime was not applied"
        );
    })
    .await;
}

#[tokio::test]
async fn invalidate_forgets_only_that_audience() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        let a = oauth
            .token(&reqwest_oauth::TokenRequest::new().with_audience("a"))
            .await
            .expect("token");
        let b = oauth
            .token(&reqwest_oauth::TokenRequest::new().with_audience("b"))
            .await
            .expect("token");
        oauth.invalidate(&reqwest_oauth::TokenRequest::new().with_audience("a"));
        assert!(!std::sync::Arc::ptr_eq(
            &a,
            &oauth
                .token(&reqwest_oauth::TokenRequest::new().with_audience("a"))
                .await
                .expect("token")
        ));
        assert!(std::sync::Arc::ptr_eq(
            &b,
            &oauth
                .token(&reqwest_oauth::TokenRequest::new().with_audience("b"))
                .await
                .expect("token")
        ));
        assert_eq!(auth.token_requests(), 3);
        oauth.invalidate_all();
        oauth
            .token(&reqwest_oauth::TokenRequest::new().with_audience("b"))
            .await
            .expect("token");
        assert_eq!(auth.token_requests(), 4);
    })
    .await;
}

/// Sends a GET for each audience in `audiences`, checking each answer.
async fn call_each(
    client: reqwest_middleware::ClientWithMiddleware,
    url: String,
    audiences: Vec<String>,
) {
    for audience in audiences {
        let response = client
            .get(&url)
            .with_extension(Audience::new(audience))
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_requests_for_the_same_new_keys_fetch_each_key_once() {
    // Eight tasks meet 200 new keys in different orders, so entries are
    // made while others look them up and make their own.
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let audiences = (0..200)
                    .map(|i| format!("tenant-{}", (i + task * 25) % 200))
                    .collect();
                tokio::spawn(call_each(client(&oauth), api.url("/"), audiences))
            })
            .collect();
        for task in tasks {
            task.await.expect("no panic");
        }
        assert_eq!(auth.token_requests(), 200, "a key fetched twice");
        assert_eq!(oauth.cached_keys(), 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_cap_holds_while_tasks_add_keys_at_once() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .max_keys(50)
            .build()
            .expect("config");
        let watcher = oauth.clone();
        let watching = tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..2_000 {
                most = most.max(watcher.cached_keys());
                tokio::task::yield_now().await;
            }
            most
        });
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let audiences = (0..150).map(|i| format!("tenant-{task}-{i}")).collect();
                tokio::spawn(call_each(client(&oauth), api.url("/"), audiences))
            })
            .collect();
        for task in tasks {
            task.await.expect("no panic");
        }
        let most = watching.await.expect("no panic");
        assert!(most <= 50, "{most} keys cached at once");
        assert!(oauth.cached_keys() <= 50);
        assert!(oauth.stats().evictions >= 1_200 - 50);
        assert_eq!(auth.token_requests(), 1_200);
    })
    .await;
}
