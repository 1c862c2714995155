//! One conformance test per token endpoint in the design's seed documents:
//! a loopback server that behaves as the vendor's document says (path, body
//! format, required parameters, error shape, expired-token answer), and the
//! crate configured as that vendor's user would configure it.

use crate::common;

#[path = "../../examples/two_step_login.rs"]
#[allow(dead_code)]
mod two_step_login;

use common::within_timeout;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::endpoint::{BodyFormat, ClientAuth, ErrorCode};
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware, PasswordGrant};
use serde_json::json;
use wiremock::matchers::{body_json, body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(oauth: &OAuthMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(oauth.clone())
        .build()
}

/// Mounts a token endpoint that accepts only the body `body` matches (and
/// the extra header, if any) and issues `tok-1` once, then `tok-2`, each
/// with `lifetime` seconds.
async fn mount_token_endpoint<M: wiremock::Match + 'static>(
    server: &MockServer,
    at: &str,
    body: impl Fn() -> M,
    lifetime: u64,
    extra_header: Option<(&'static str, &'static str)>,
) {
    for (n, times) in [(1, Some(1)), (2, None)] {
        let mut mock = Mock::given(method("POST")).and(path(at)).and(body());
        if let Some((name, value)) = extra_header {
            mock = mock.and(header(name, value));
        }
        let mut mock = mock
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": lifetime
            })))
            .with_priority(n);
        if let Some(times) = times {
            mock = mock.up_to_n_times(times);
        }
        mock.mount(server).await;
    }
}

/// An API that rejects `tok-1` the vendor's way and serves `tok-2`.
async fn mount_api(server: &MockServer, expired: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(expired)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"things": []})))
        .mount(server)
        .await;
}

/// Gets a token (as an earlier request would have), then calls the API,
/// which rejects it as expired: the middleware must renew and replay.
async fn token_api_and_expiry(server: &MockServer, oauth: &OAuthMiddleware) {
    assert_eq!(
        oauth
            .token(oauth.default_key())
            .await
            .expect("token")
            .secret(),
        "tok-1"
    );
    let response = client(oauth)
        .get(format!("{}/api/things", server.uri()))
        .send()
        .await
        .expect("call");
    assert_eq!(
        response.status(),
        200,
        "the expired-token answer was not recovered"
    );
    assert_eq!(oauth.stats().replays, 1);
    assert_eq!(oauth.stats().token_requests, 2);
}

#[tokio::test]
async fn seed_000_password_grant_public_client_json_with_audience() {
    within_timeout(async {
        let server = MockServer::start().await;
        let expected = json!({
            "client_id": "rLxjriMyfD3PAdXTQfFyKFUODrseHvSg",
            "username": "api@mycompany.com",
            "password": "pw",
            "audience": "https://api.logicdrop.io",
            "grant_type": "password"
        });
        mount_token_endpoint(
            &server,
            "/oauth/token",
            || body_json(&expected),
            2_592_000,
            Some(("content-type", "application/json")),
        )
        .await;
        mount_api(
            &server,
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", r#"Bearer error="invalid_token""#),
        )
        .await;
        let grant = PasswordGrant::new(
            format!("{}/oauth/token", server.uri()),
            ClientIdentity::public("rLxjriMyfD3PAdXTQfFyKFUODrseHvSg"),
            "api@mycompany.com",
            "pw",
        )
        .body_format(BodyFormat::Json);
        let oauth = OAuthMiddleware::builder(grant)
            .audience("https://api.logicdrop.io")
            .build()
            .expect("config");
        token_api_and_expiry(&server, &oauth).await;
        // No refresh tokens for this vendor: the next renewal is the grant again.
        assert_eq!(
            oauth
                .token(oauth.default_key())
                .await
                .expect("token")
                .refresh_token(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn seed_000_wrong_password_is_a_typed_invalid_grant() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(403).set_body_json(
                json!({"error": "invalid_grant", "error_description": "Wrong email or password."}),
            ))
            .mount(&server)
            .await;
        let grant = PasswordGrant::new(
            format!("{}/oauth/token", server.uri()),
            ClientIdentity::public("cid"),
            "api@mycompany.com",
            "bad",
        )
        .body_format(BodyFormat::Json);
        let err = OAuthMiddleware::new(grant)
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect_err("refused");
        let endpoint = err.endpoint_error().expect("endpoint error");
        assert_eq!(
            (endpoint.status().as_u16(), endpoint.code()),
            (403, Some(&ErrorCode::InvalidGrant))
        );
        assert_eq!(
            err.to_string(),
            "token endpoint answered 403 Forbidden: invalid_grant: Wrong email or password."
        );
    })
    .await;
}

#[tokio::test]
async fn seed_001_client_credentials_json_with_credentials_in_the_body() {
    within_timeout(async {
        let server = MockServer::start().await;
        let expected = json!({
            "client_id": "machine-id", "client_secret": "machine-secret",
            "audience": "https://api.logicdrop.io", "grant_type": "client_credentials"
        });
        mount_token_endpoint(
            &server,
            "/oauth/token",
            || body_json(&expected),
            2_592_000,
            None,
        )
        .await;
        mount_api(&server, ResponseTemplate::new(401)).await;
        let grant = ClientCredentials::new(
            format!("{}/oauth/token", server.uri()),
            "machine-id",
            "machine-secret",
        )
        .body_format(BodyFormat::Json)
        .client_auth(ClientAuth::Body);
        let oauth = OAuthMiddleware::builder(grant)
            .audience("https://api.logicdrop.io")
            .build()
            .expect("config");
        token_api_and_expiry(&server, &oauth).await;
    })
    .await;
}

#[tokio::test]
async fn seed_002_audience_per_environment_and_json_token_expired_401() {
    within_timeout(async {
        for audience in ["https://dataloy", "https://dataloy.dev"] {
            let server = MockServer::start().await;
            let expected = json!({
                "client_id": "G99j845dM4", "client_secret": "-mMElVOMzvht",
                "audience": audience, "grant_type": "client_credentials"
            });
            mount_token_endpoint(
                &server,
                "/oauth/token",
                || body_json(&expected),
                86_400,
                None,
            )
            .await;
            // The vendor's expired-token answer: a JSON body, no WWW-Authenticate.
            mount_api(
                &server,
                ResponseTemplate::new(401).set_body_json(json!({
                    "statusCode": 401, "statusText": "Unauthorized", "message": "Token expired.",
                    "date": "2019-11-13T06:26:01", "statusFamily": "CLIENT_ERROR", "method": "GET",
                    "uri": "http://platform-dev.dataloy.com/ws/rest/Cargo"
                })),
            )
            .await;
            let grant = ClientCredentials::new(
                format!("{}/oauth/token", server.uri()),
                "G99j845dM4",
                "-mMElVOMzvht",
            )
            .body_format(BodyFormat::Json)
            .client_auth(ClientAuth::Body);
            let oauth = OAuthMiddleware::builder(grant)
                .audience(audience)
                .build()
                .expect("config");
            token_api_and_expiry(&server, &oauth).await;
            // "Use the same token as long as it is valid."
            for _ in 0..3 {
                client(&oauth)
                    .get(format!("{}/api/things", server.uri()))
                    .send()
                    .await
                    .expect("call");
            }
            assert_eq!(oauth.stats().token_requests, 2, "{audience}");
        }
    })
    .await;
}

#[tokio::test]
async fn seed_003_per_tenant_host_form_body_and_accept_json() {
    within_timeout(async {
        let server = MockServer::start().await;
        // The endpoint refuses anything but Accept: application/json.
        mount_token_endpoint(
            &server,
            "/api/v1/oauth2/token",
            || {
                body_string(
                    "client_id=key-id&client_secret=key+secret%2F1&grant_type=client_credentials",
                )
            },
            172_800,
            Some(("accept", "application/json")),
        )
        .await;
        mount_api(
            &server,
            ResponseTemplate::new(401).insert_header("www-authenticate", "Bearer"),
        )
        .await;
        let tenant = format!("{}/api/v1/oauth2/token", server.uri());
        let grant =
            ClientCredentials::new(tenant, "key-id", "key secret/1").client_auth(ClientAuth::Body);
        let oauth = OAuthMiddleware::builder(grant).build().expect("config");
        token_api_and_expiry(&server, &oauth).await;
    })
    .await;
}

#[tokio::test]
async fn seed_003_client_authentication_failure_carries_the_vendors_message() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_json(
                json!({"error": "invalid_client", "message": "Client authentication failed"}),
            ))
            .mount(&server)
            .await;
        let grant =
            ClientCredentials::new(server.uri(), "key-id", "wrong").client_auth(ClientAuth::Body);
        let err = OAuthMiddleware::new(grant)
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect_err("refused");
        let endpoint = err.endpoint_error().expect("endpoint error");
        assert_eq!(endpoint.code(), Some(&ErrorCode::InvalidClient));
        assert_eq!(endpoint.message(), Some("Client authentication failed"));
        assert!(!err.is_transient());
    })
    .await;
}

#[tokio::test]
async fn seed_004_legacy_two_step_login_as_shipped_in_the_example() {
    within_timeout(async {
        let cloud = two_step_login::stand_in_cloud().await;
        let oauth = OAuthMiddleware::new(two_step_login::legacy_login(
            cloud.uri(),
            "me@example.com".into(),
            "spark_password".into(),
        ));
        let devices = client(&oauth)
            .get(format!("{}/v1/devices", cloud.uri()))
            .send()
            .await
            .expect("call");
        assert_eq!(devices.status(), 200);
        let token = oauth.token(oauth.default_key()).await.expect("cached");
        // The absolute RFC 3339 expiry (with an offset) became a lifetime.
        let lifetime = token.expires_in().expect("a lifetime");
        assert!(
            lifetime > std::time::Duration::from_secs(365 * 24 * 3600),
            "{lifetime:?}"
        );
        let received = cloud.received_requests().await.expect("recorded");
        let paths: Vec<_> = received.iter().map(|r| r.url.path().to_owned()).collect();
        assert_eq!(paths, ["/v1/login", "/v1/access_token", "/v1/devices"]);
    })
    .await;
}

#[tokio::test]
async fn seed_004_refused_login_is_a_typed_error_and_nothing_is_sent() {
    within_timeout(async {
        let cloud = two_step_login::stand_in_cloud().await;
        let oauth = OAuthMiddleware::new(two_step_login::legacy_login(
            cloud.uri(),
            "me@example.com".into(),
            "typo".into(),
        ));
        let err = client(&oauth)
            .get(format!("{}/v1/devices", cloud.uri()))
            .send()
            .await
            .expect_err("refused");
        // Typed, with the vendor's words, and permanent: one login attempt,
        // not one per retry (a vendor may lock the account).
        let oauth_err = Error::from_middleware(&err).expect("the crate's error");
        let refused = oauth_err.endpoint_error().expect("typed: {err:?}");
        assert_eq!(refused.status(), 401);
        assert_eq!(refused.message(), Some("Invalid email or password"));
        assert!(!oauth_err.is_transient());
        let received = cloud.received_requests().await.expect("recorded");
        let paths: Vec<_> = received.iter().map(|r| r.url.path().to_owned()).collect();
        assert_eq!(paths, ["/v1/login"], "retried, or the API was called");
    })
    .await;
}
