//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod echo;
pub mod fleet;
pub mod fleet_process;
pub mod hold_first;
pub mod redis;
pub mod sentinel;

use std::time::Duration;

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "s3cr3t:with&odd=chars";

/// Every test ends within this, hang or not.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An authorization server with one confidential client and an API trusting it.
pub async fn servers() -> (AuthServer, ApiServer) {
    let auth = AuthServer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .start()
        .await
        .expect("auth server starts");
    let api = ApiServer::start(&auth).await.expect("api server starts");
    (auth, api)
}

/// Like [`servers`], with tokens of the given lifetime.
pub async fn servers_with_lifetime(lifetime: Duration) -> (AuthServer, ApiServer) {
    let auth = AuthServer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .token_lifetime(lifetime)
        .start()
        .await
        .expect("auth server starts");
    let api = ApiServer::start(&auth).await.expect("api server starts");
    (auth, api)
}

pub fn grant(auth: &AuthServer) -> ClientCredentials {
    ClientCredentials::new(auth.token_url(), CLIENT_ID, CLIENT_SECRET)
}

pub fn client(oauth: &OAuthMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(oauth.clone())
        .build()
}

/// The JSON echo of a successful API call.
pub async fn echo(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(response.status(), 200, "API call failed");
    response.json().await.expect("API answers JSON")
}

/// Runs a test body with an overall timeout, so a hang fails instead of
/// blocking CI.
pub async fn within_timeout<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("test finished within its timeout")
}

/// An API that answers every GET with `403` and an `insufficient_scope`
/// challenge asking for `scope`, whatever the token carries.
pub async fn api_always_wanting_scope(scope: &str) -> wiremock::MockServer {
    let api = wiremock::MockServer::start().await;
    let challenge = format!(r#"Bearer error="insufficient_scope", scope="{scope}""#);
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(
            wiremock::ResponseTemplate::new(403).insert_header("www-authenticate", challenge),
        )
        .mount(&api)
        .await;
    api
}

/// Checks that `error` is an API's typed refusal of a DPoP proof whose
/// `iat` fell outside its window (the testkit's words), from `origin`:
/// final, not transient.
pub fn assert_proof_refused_for_its_time(error: &reqwest_oauth::Error, origin: &str) {
    match error {
        reqwest_oauth::Error::DpopProofRejected {
            origin: refused_by,
            status,
            description,
        } => {
            assert_eq!(refused_by, origin);
            assert_eq!(*status, 401);
            assert_eq!(description.as_deref(), Some("iat outside the window"));
        }
        other => panic!("{other:?}"),
    }
    assert!(error.is_dpop_proof_rejected() && !error.is_transient());
}
