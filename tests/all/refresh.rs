//! Refresh tokens (RFC 6749 section 6): used before re-running the grant,
//! rotated, single-flight, and a refused one falls back to the grant once.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{client, echo, within_timeout};
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::policy::RefreshAhead;
use reqwest_oauth::testkit::{ApiServer, AuthServer, RefreshTokens};
use reqwest_oauth::{OAuthMiddleware, PasswordGrant};

async fn servers(mode: RefreshTokens) -> (AuthServer, ApiServer) {
    let auth = AuthServer::builder()
        .public_client("app")
        .user("alice", "pw")
        .token_lifetime(Duration::from_millis(600))
        .refresh_tokens(mode)
        .start()
        .await
        .expect("auth");
    let api = ApiServer::start(&auth).await.expect("api");
    (auth, api)
}

fn oauth(auth: &AuthServer) -> OAuthMiddleware {
    OAuthMiddleware::builder(PasswordGrant::new(
        auth.token_url(),
        ClientIdentity::public("app"),
        "alice",
        "pw",
    ))
    .refresh_ahead(RefreshAhead::Off)
    .build()
    .expect("config")
}

#[tokio::test]
async fn an_expired_token_is_renewed_with_the_refresh_token_and_rotation_is_followed() {
    within_timeout(async {
        let (auth, api) = servers(RefreshTokens::Rotating).await;
        let oauth = oauth(&auth);
        let client = client(&oauth);
        for _ in 0..4 {
            echo(client.get(api.url("/")).send().await.expect("call")).await;
            tokio::time::sleep(Duration::from_millis(650)).await;
        }
        // Had a rotated-out token been reused, the server would have revoked
        // the grant and the password grant would have run again.
        assert_eq!(auth.grant_requests("password"), 1);
        assert_eq!(auth.grant_requests("refresh_token"), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_at_expiry_share_one_refresh() {
    within_timeout(async {
        let (auth, api) = servers(RefreshTokens::Rotating).await;
        let oauth = oauth(&auth);
        let client = Arc::new(client(&oauth));
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        tokio::time::sleep(Duration::from_millis(650)).await;
        auth.set_delay(Duration::from_millis(100));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (client, url) = (client.clone(), api.url("/"));
                tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("no panic").expect("request"), 200);
        }
        assert_eq!(auth.grant_requests("refresh_token"), 1);
        assert_eq!(auth.grant_requests("password"), 1);
    })
    .await;
}

#[tokio::test]
async fn a_refused_refresh_falls_back_to_the_grant_once() {
    within_timeout(async {
        let (auth, api) = servers(RefreshTokens::Reusable).await;
        let oauth = oauth(&auth);
        let client = client(&oauth);
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        auth.revoke_refresh_tokens();
        tokio::time::sleep(Duration::from_millis(650)).await;
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.grant_requests("refresh_token"), 1);
        assert_eq!(auth.grant_requests("password"), 2);
        // The grant's new refresh token is used next time.
        tokio::time::sleep(Duration::from_millis(650)).await;
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.grant_requests("refresh_token"), 2);
        assert_eq!(auth.grant_requests("password"), 2);
    })
    .await;
}

#[tokio::test]
async fn without_refresh_tokens_the_grant_simply_runs_again() {
    within_timeout(async {
        let (auth, api) = servers(RefreshTokens::None).await;
        let oauth = oauth(&auth);
        let client = client(&oauth);
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        tokio::time::sleep(Duration::from_millis(650)).await;
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.grant_requests("refresh_token"), 0);
        assert_eq!(auth.grant_requests("password"), 2);
    })
    .await;
}
