//! Credentials stay where they belong: cleartext guard, origin scoping and
//! routes, redirects, hostile token endpoints, and redaction in `Debug`,
//! `Display` and error chains.

use crate::common;

use common::{CLIENT_ID, CLIENT_SECRET, client, echo, grant, servers, within_timeout};
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::endpoint::TokenEndpoint;
use reqwest_oauth::policy::{ReplayOutcome, SkipReason};
use reqwest_oauth::testkit::ApiServer;
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware, PasswordGrant, Token};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_plain_http_token_endpoint_off_loopback_is_refused_at_build_time() {
    let result = OAuthMiddleware::builder(ClientCredentials::new(
        "http://auth.example.com/token",
        "id",
        "s",
    ))
    .build();
    assert!(
        matches!(result, Err(Error::InsecureUrl { .. })),
        "{result:?}"
    );
    // And at request time for a middleware made without `build`, before any send.
    let err = OAuthMiddleware::new(ClientCredentials::new(
        "http://auth.example.com/token",
        "id",
        "s",
    ))
    .token(&reqwest_oauth::TokenRequest::new())
    .await
    .expect_err("refused");
    assert!(
        matches!(err, Error::InsecureUrl { ref origin, .. } if origin == "http://auth.example.com"),
        "{err:?}"
    );
    // Opting in lifts it (the build then succeeds; no request is made).
    let opted_in = ClientCredentials::new("http://auth.example.com/token", "id", "s")
        .danger_allow_insecure_http();
    assert!(OAuthMiddleware::builder(opted_in).build().is_ok());
}

#[tokio::test]
async fn a_token_is_never_attached_to_plain_http_off_loopback() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        // Port 9 on a documentation address: were anything sent, it would
        // fail with a connection error, not InsecureUrl.
        let err = client(&oauth)
            .get("http://192.0.2.1:9/things")
            .send()
            .await
            .expect_err("refused");
        let typed = Error::from_middleware(&err).expect("typed");
        assert!(matches!(typed, Error::InsecureUrl { .. }), "{typed:?}");
        assert_eq!(
            auth.token_requests(),
            0,
            "a token was fetched for a request that cannot carry it"
        );
    })
    .await;
}

#[tokio::test]
async fn only_allowed_origins_get_a_token() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let elsewhere = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&elsewhere)
            .await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .allow_origin(api.origin())
            .build()
            .expect("config");
        let client = client(&oauth);
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        let response = client
            .get(format!("{}/third-party", elsewhere.uri()))
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 200);
        let received = elsewhere.received_requests().await.expect("recorded");
        assert_eq!(received.len(), 1);
        assert!(
            !received[0].headers.contains_key("authorization"),
            "a token went to a foreign origin"
        );
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn routes_choose_the_audience_by_origin_and_scope_the_rest_out() {
    within_timeout(async {
        let (auth, orders) = servers().await;
        let billing = ApiServer::start(&auth).await.expect("second api");
        let elsewhere = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&elsewhere)
            .await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .route(orders.origin(), "https://orders.example")
            .route(billing.origin(), "https://billing.example")
            .build()
            .expect("config");
        let client = client(&oauth);
        for _ in 0..2 {
            assert_eq!(
                echo(client.get(orders.url("/")).send().await.expect("call")).await["audience"],
                "https://orders.example"
            );
            assert_eq!(
                echo(client.get(billing.url("/")).send().await.expect("call")).await["audience"],
                "https://billing.example"
            );
        }
        client.get(elsewhere.uri()).send().await.expect("call");
        let received = elsewhere.received_requests().await.expect("recorded");
        assert!(!received[0].headers.contains_key("authorization"));
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_cross_origin_redirect_never_carries_the_token_and_its_401_leaves_the_token_alone() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        // The foreign origin answers 401, which makes the middleware replay.
        let foreign = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&foreign)
            .await;
        let origin = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/landing", foreign.uri())),
            )
            .mount(&origin)
            .await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        oauth.token(oauth.default_key()).await.expect("warm-up");
        let response = client(&oauth)
            .get(format!("{}/start", origin.uri()))
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 401);
        // The 401 came from an origin that never saw the token: it says
        // nothing about the token, which is neither dropped nor renewed.
        assert_eq!(
            response.extensions().get::<ReplayOutcome>(),
            Some(&ReplayOutcome::Skipped(SkipReason::OtherOrigin))
        );
        let at_origin = origin.received_requests().await.expect("recorded");
        let at_foreign = foreign.received_requests().await.expect("recorded");
        assert_eq!(at_origin.len(), 1, "no replay for another origin's 401");
        assert!(
            at_origin
                .iter()
                .all(|r| r.headers.contains_key("authorization"))
        );
        assert_eq!(at_foreign.len(), 1);
        assert_eq!(auth.token_requests(), 1, "the good token was kept");
        assert!(
            at_foreign
                .iter()
                .all(|r| !r.headers.contains_key("authorization")),
            "the token followed a redirect to another origin"
        );
    })
    .await;
}

#[tokio::test]
async fn a_token_with_header_injection_bytes_is_refused() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "abc\r\nX-Injected: yes", "token_type": "Bearer", "expires_in": 60
            })))
            .mount(&server)
            .await;
        let err = OAuthMiddleware::new(ClientCredentials::new(server.uri(), "id", "s"))
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect_err("refused");
        assert!(matches!(err, Error::InvalidToken(_)), "{err:?}");
        assert!(
            !err.to_string().contains("abc"),
            "the token leaked into the error: {err}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_absurd_expires_in_is_capped() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "abc", "token_type": "Bearer", "expires_in": 9_999_999_999u64
            })))
            .mount(&server)
            .await;
        let oauth = OAuthMiddleware::builder(ClientCredentials::new(server.uri(), "id", "s"))
            .max_lifetime(std::time::Duration::from_millis(500))
            .build()
            .expect("config");
        let first = oauth.token(oauth.default_key()).await.expect("token");
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let second = oauth.token(oauth.default_key()).await.expect("token");
        assert!(
            !std::sync::Arc::ptr_eq(&first, &second),
            "a years-long lifetime was believed"
        );
    })
    .await;
}

#[tokio::test]
async fn secrets_never_show_in_debug_display_or_error_chains() {
    within_timeout(async {
        let secrets = [
            CLIENT_SECRET,
            "hunter2-password",
            "tok-secret-value",
            "refresh-secret",
        ];
        let token = Token::bearer("tok-secret-value")
            .expect("token")
            .with_refresh_token("refresh-secret");
        let grant = ClientCredentials::new("https://a.example/t", CLIENT_ID, CLIENT_SECRET)
            .param("client_assertion", "hunter2-password");
        let password = PasswordGrant::new(
            "https://a.example/t",
            ClientIdentity::secret("id", CLIENT_SECRET),
            "user",
            "hunter2-password",
        );
        let endpoint = TokenEndpoint::new(
            "https://a.example/t",
            ClientIdentity::secret("id", CLIENT_SECRET),
        );
        let builder = OAuthMiddleware::builder(password.clone());
        let middleware = OAuthMiddleware::new(grant.clone());
        let mut shown = vec![
            format!("{token:?}"),
            format!("{:?}", token.header_value()),
            format!("{grant:?}"),
            format!("{password:?}"),
            format!("{endpoint:?}"),
            format!("{builder:?}"),
            format!("{middleware:?}"),
        ];
        // Errors from a live exchange: a refusal that echoes nothing secret,
        // and a transport failure.
        let (auth, _api) = servers().await;
        auth.fail_with(
            401,
            json!({"error": "invalid_client", "error_description": "bad secret"}),
        );
        let refused = OAuthMiddleware::new(PasswordGrant::new(
            auth.token_url(),
            ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET),
            "user",
            "hunter2-password",
        ))
        .token(&reqwest_oauth::TokenRequest::new())
        .await
        .expect_err("refused");
        let unreachable = OAuthMiddleware::new(ClientCredentials::new(
            "http://127.0.0.1:9/t",
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .token(&reqwest_oauth::TokenRequest::new())
        .await
        .expect_err("unreachable");
        for err in [refused, unreachable] {
            shown.push(format!("{err:?}"));
            let mut source: Option<&dyn std::error::Error> = Some(&err);
            while let Some(e) = source {
                shown.push(e.to_string());
                source = e.source();
            }
        }
        for text in &shown {
            for secret in secrets {
                assert!(!text.contains(secret), "{secret:?} shown in {text:?}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn credentials_in_a_token_or_issuer_url_are_refused_at_build_time() {
    let token_url = ClientCredentials::new(
        "https://user:pw-in-url-1@auth.example.com/token",
        CLIENT_ID,
        CLIENT_SECRET,
    );
    let issuer = ClientCredentials::discover(
        "https://user:pw-in-url-2@login.example.com/tenant",
        CLIENT_ID,
        CLIENT_SECRET,
    );
    for (grant, what) in [(token_url, "token endpoint"), (issuer, "issuer")] {
        let refused = OAuthMiddleware::builder(grant)
            .build()
            .expect_err("refused");
        let shown = format!("{refused} {refused:?}");
        assert!(
            matches!(refused, Error::InvalidUrl { what: w, .. } if w == what),
            "{shown}"
        );
        assert!(
            shown.contains("ClientIdentity"),
            "says where they belong: {shown}"
        );
        assert!(!shown.contains("pw-in-url"), "{shown}");
    }
}

#[tokio::test]
async fn a_discovered_token_endpoint_with_credentials_in_it_is_refused() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": server.uri(),
                "token_endpoint": format!("http://user:pw-in-url-3@{}/token", server.address()),
            })))
            .mount(&server)
            .await;
        let oauth = OAuthMiddleware::new(ClientCredentials::discover(
            server.uri(),
            CLIENT_ID,
            CLIENT_SECRET,
        ));
        let refused = oauth.token(oauth.default_key()).await.expect_err("refused");
        let shown = format!("{refused} {refused:?}");
        assert!(
            matches!(
                refused,
                Error::InvalidUrl {
                    what: "token endpoint",
                    ..
                }
            ),
            "{shown}"
        );
        assert!(!shown.contains("pw-in-url"), "{shown}");
        let received = server.received_requests().await.expect("recorded");
        assert!(
            received.iter().all(|r| r.method.as_str() == "GET"),
            "a token request was sent"
        );
    })
    .await;
}

#[tokio::test]
async fn urls_are_shown_without_credentials_or_query_values() {
    within_timeout(async {
        let url = "https://auth.example.com/token?api_key=q-secret-1&tenant=q-secret-2#q-secret-3";
        let endpoint = TokenEndpoint::new(url, ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET));
        let grant = ClientCredentials::at(endpoint.clone());
        let password = PasswordGrant::at(endpoint.clone(), "user", "pw");
        let discovered = ClientCredentials::discover(
            "https://login.example.com/?api_key=q-secret-4",
            CLIENT_ID,
            CLIENT_SECRET,
        );
        let mut shown = vec![
            format!("{endpoint:?}"),
            format!("{grant:?}"),
            format!("{password:?}"),
            format!("{discovered:?}"),
        ];
        // Errors that quote a URL: a bad scheme, an unreachable issuer, an origin.
        let bad_scheme = OAuthMiddleware::builder(ClientCredentials::new(
            "ftp://auth.example.com/t?key=q-secret-5",
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .build()
        .expect_err("not http");
        let unreachable = OAuthMiddleware::new(ClientCredentials::discover(
            "http://127.0.0.1:9/?key=q-secret-6",
            CLIENT_ID,
            CLIENT_SECRET,
        ));
        let unreachable = unreachable
            .token(unreachable.default_key())
            .await
            .expect_err("unreachable");
        let bad_origin = OAuthMiddleware::builder(ClientCredentials::new(
            "https://auth.example.com/t",
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .allow_origin("https://u:q-secret-7@api.example.com/p?x=q-secret-8")
        .build()
        .expect_err("an origin has no path");
        for error in [bad_scheme, unreachable, bad_origin] {
            shown.push(format!("{error} {error:?}"));
        }
        for text in &shown {
            assert!(!text.contains("q-secret"), "{text}");
            assert!(text.contains("[redacted]") || !text.contains('?'), "{text}");
        }
        assert!(
            shown[0].contains("api_key=[redacted]&tenant=[redacted]"),
            "{}",
            shown[0]
        );
    })
    .await;
}

/// Every token below carries a byte RFC 6750's `b64token` does not allow.
const NOT_BEARER_CHARACTERS: [&str; 4] = ["tab\there", "two words", "naïve", "line\u{2028}sep"];

#[tokio::test]
async fn a_token_endpoint_issuing_non_bearer_characters_is_refused() {
    within_timeout(async {
        for issued in NOT_BEARER_CHARACTERS {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "access_token": issued, "token_type": "Bearer", "expires_in": 60
                })))
                .mount(&server)
                .await;
            let oauth = OAuthMiddleware::new(ClientCredentials::new(server.uri(), "id", "s"));
            let result = oauth.token(oauth.default_key()).await;
            assert!(result.is_err(), "{issued:?} was accepted");
        }
    })
    .await;
}

#[tokio::test]
async fn a_custom_source_with_non_bearer_characters_is_refused() {
    for issued in NOT_BEARER_CHARACTERS {
        assert!(Token::bearer(issued).is_err(), "{issued:?} was accepted");
    }
}
