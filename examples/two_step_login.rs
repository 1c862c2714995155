//! A legacy two-step login as a token source, in a few lines: POST the
//! username and password as JSON for an `auth_token`, then exchange that
//! (as a bearer token) for an `access_token` with an absolute expiry. A
//! refusal at either step becomes the crate's typed error through
//! `Error::from_token_response`, classified as the built-in grants'.
//!
//! ```text
//! cargo run --example two_step_login
//! ```
//!
//! The demo runs against a stand-in for the vendor's cloud on 127.0.0.1.

use reqwest_oauth::expiry::{parse_rfc3339, server_date};
use reqwest_oauth::{Error, OAuthMiddleware, Token, TokenSource, source_fn};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The whole custom flow. `base` is the vendor's API root.
pub fn legacy_login(base: String, username: String, password: String) -> impl TokenSource {
    let http = reqwest::Client::new();
    source_fn(move |_request| {
        let (http, base) = (http.clone(), base.clone());
        let login = json!({ "username": username, "password": password });
        async move {
            // Step 1: credentials for a short-lived auth token. A refusal
            // becomes the typed error the built-in grants give: a wrong
            // password (401) is permanent and never retried, so the vendor
            // sees one failed login, not three; a 503 is retried.
            let response = http
                .post(format!("{base}/v1/login"))
                .json(&login)
                .send()
                .await?;
            if !response.status().is_success() {
                return Err(Error::from_token_response(response).await);
            }
            let step1: Value = response.json().await?;
            let auth_token = field(&step1["auth_token"]["token"], "auth_token.token")?;
            // Step 2: the auth token, as a bearer token, for the access token.
            let response = http
                .post(format!("{base}/v1/access_token"))
                .bearer_auth(auth_token)
                .send()
                .await?;
            if !response.status().is_success() {
                return Err(Error::from_token_response(response).await);
            }
            let server_now = server_date(response.headers());
            let step2: Value = response.json().await?;
            let expires_at = parse_rfc3339(field(
                &step2["access_token_expires_at"],
                "access_token_expires_at",
            )?)
            .ok_or_else(|| unusable("access_token_expires_at is not an RFC 3339 time"))?;
            Ok(
                Token::bearer(field(&step2["access_token"], "access_token")?)?
                    .with_expires_at(expires_at, server_now),
            )
        }
    })
}

fn field<'a>(value: &'a Value, name: &str) -> Result<&'a str, Error> {
    value
        .as_str()
        .ok_or_else(|| unusable(&format!("the response has no {name}")))
}

fn unusable(reason: &str) -> Error {
    Error::InvalidTokenResponse {
        status: http::StatusCode::OK,
        reason: reason.to_owned(),
    }
}

/// A stand-in for the vendor's cloud: the two login steps as the vendor's
/// community documented them, and one protected endpoint.
pub async fn stand_in_cloud() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/login"))
        .and(header("content-type", "application/json"))
        .and(body_json(
            json!({ "username": "me@example.com", "password": "spark_password" }),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "username": "me@example.com",
            "auth_token": { "token": "78n4xGh2aC_V8awk4jsA", "expires_at": "2099-05-19T13:31:05Z" }
        })))
        .mount(&server)
        .await;
    // Any other login: refused, in the vendor's own words.
    Mock::given(method("POST"))
        .and(path("/v1/login"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({ "message": "Invalid email or password" })),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/access_token"))
        .and(header("authorization", "Bearer 78n4xGh2aC_V8awk4jsA"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "asdfjaskfdjfksajfalfjsfkfjdkfadf",
            "access_token_expires_at": "2099-03-23T15:51:07+00:00"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/devices"))
        .and(header(
            "authorization",
            "Bearer asdfjaskfdjfksajfalfjsfkfjdkfadf",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{ "id": "dev-1" }])))
        .mount(&server)
        .await;
    server
}

#[allow(dead_code)] // The conformance test reuses this file without `main`.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cloud = stand_in_cloud().await;
    let oauth = OAuthMiddleware::new(legacy_login(
        cloud.uri(),
        "me@example.com".into(),
        "spark_password".into(),
    ));
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(oauth.clone())
        .build();
    let devices: Value = client
        .get(format!("{}/v1/devices", cloud.uri()))
        .send()
        .await?
        .json()
        .await?;
    println!("devices: {devices}");
    let lifetime = oauth.token(oauth.default_key()).await?.expires_in();
    println!("announced lifetime: {lifetime:?}; the cache believes at most 24 h of it");
    Ok(())
}
