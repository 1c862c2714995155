//! How token requests look on the wire (body formats, client
//! authentication, grants) and how every kind of failure reaches the caller
//! (behaviours 6 and 7).

use crate::common;

use std::time::Duration;

use common::{CLIENT_ID, CLIENT_SECRET, client, grant, servers, within_timeout};
use reqwest_oauth::endpoint::{BodyFormat, ClientAuth, ErrorCode, TokenEndpoint};
use reqwest_oauth::endpoint::{ClientIdentity, GrantRequest};
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware, PasswordGrant};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn client_credentials_default_is_a_form_with_rfc_basic_auth() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let oauth =
            OAuthMiddleware::builder(grant(&auth).scope("read write").param("tenant", "t1"))
                .audience("https://api.example")
                .resource("urn:x")
                .build()
                .expect("config");
        oauth.token(oauth.default_key()).await.expect("token");
        let seen = auth.last_request().expect("a token request");
        assert_eq!(
            seen.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(seen.accept.as_deref(), Some("application/json"));
        assert_eq!(
            seen.basic,
            Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned()))
        );
        assert_eq!(
            seen.params.get("grant_type").map(String::as_str),
            Some("client_credentials")
        );
        assert_eq!(
            seen.params.get("scope").map(String::as_str),
            Some("read write")
        );
        assert_eq!(
            seen.params.get("audience").map(String::as_str),
            Some("https://api.example")
        );
        assert_eq!(
            seen.params.get("resource").map(String::as_str),
            Some("urn:x")
        );
        assert_eq!(seen.params.get("tenant").map(String::as_str), Some("t1"));
        assert!(
            !seen.params.contains_key("client_secret"),
            "secret sent in Basic and in the body"
        );
    })
    .await;
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    within_timeout(async {
        let server = MockServer::start().await;
        // base64("my+id:p%40ss%3Aw%2Frd") per RFC 6749 2.3.1
        Mock::given(method("POST"))
            .and(header(
                "authorization",
                "Basic bXkraWQ6cCU0MHNzJTNBdyUyRnJk",
            ))
            .and(header(
                "user-agent",
                concat!("reqwest-oauth/", env!("CARGO_PKG_VERSION")),
            ))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": "t"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let oauth =
            OAuthMiddleware::new(ClientCredentials::new(server.uri(), "my id", "p@ss:w/rd"));
        oauth
            .token(oauth.default_key())
            .await
            .expect("the server matched the exact Basic header");
    })
    .await;
}

#[tokio::test]
async fn json_body_with_credentials_in_the_body() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let oauth = OAuthMiddleware::builder(
            grant(&auth)
                .body_format(BodyFormat::Json)
                .client_auth(ClientAuth::Body),
        )
        .audience("https://dataloy.dev")
        .build()
        .expect("config");
        oauth.token(oauth.default_key()).await.expect("token");
        let seen = auth.last_request().expect("a token request");
        assert_eq!(seen.content_type.as_deref(), Some("application/json"));
        assert_eq!(seen.basic, None);
        for (name, value) in [
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("audience", "https://dataloy.dev"),
        ] {
            assert_eq!(
                seen.params.get(name).map(String::as_str),
                Some(value),
                "{name}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn password_grant_for_a_public_client_sends_no_secret() {
    within_timeout(async {
        let auth = AuthServer::builder()
            .public_client("spa")
            .user("api@example.com", "pw")
            .start()
            .await
            .expect("auth");
        let api = ApiServer::start(&auth).await.expect("api");
        let grant = PasswordGrant::new(
            auth.token_url(),
            ClientIdentity::public("spa"),
            "api@example.com",
            "pw",
        )
        .body_format(BodyFormat::Json);
        let oauth = OAuthMiddleware::builder(grant)
            .audience("https://api.logicdrop.io")
            .build()
            .expect("config");
        let response = client(&oauth).get(api.url("/")).send().await.expect("call");
        assert_eq!(response.status(), 200);
        let seen = auth.last_request().expect("a token request");
        assert_eq!(
            seen.params.get("grant_type").map(String::as_str),
            Some("password")
        );
        assert_eq!(
            seen.params.get("client_id").map(String::as_str),
            Some("spa")
        );
        assert_eq!(
            seen.params.get("username").map(String::as_str),
            Some("api@example.com")
        );
        assert_eq!(seen.params.get("password").map(String::as_str), Some("pw"));
        assert!(seen.basic.is_none() && !seen.params.contains_key("client_secret"));
    })
    .await;
}

#[tokio::test]
async fn password_grant_refusal_is_a_typed_invalid_grant() {
    within_timeout(async {
        let auth = AuthServer::builder()
            .client("web", "websecret")
            .user("alice", "right")
            .start()
            .await
            .expect("auth");
        let grant = PasswordGrant::new(
            auth.token_url(),
            ClientIdentity::secret("web", "websecret"),
            "alice",
            "hunter2-typo",
        );
        let err = OAuthMiddleware::new(grant)
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect_err("refused");
        let endpoint = err.endpoint_error().expect("endpoint error");
        assert_eq!(endpoint.status(), 400);
        assert_eq!(endpoint.code(), Some(&ErrorCode::InvalidGrant));
        assert_eq!(endpoint.description(), Some("wrong username or password"));
        assert_eq!(
            auth.last_request().and_then(|r| r.basic).map(|b| b.0),
            Some("web".to_owned())
        );
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("websecret"),
                "{shown}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn when_no_token_can_be_had_the_request_is_not_sent() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let unreachable = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            drop(listener);
            format!("http://{addr}/token")
        };
        let oauth = OAuthMiddleware::new(ClientCredentials::new(
            unreachable,
            CLIENT_ID,
            CLIENT_SECRET,
        ));
        let err = client(&oauth)
            .get(api.url("/"))
            .send()
            .await
            .expect_err("no token");
        let oauth_err = Error::from_middleware(&err).expect("typed");
        assert!(
            matches!(oauth_err, Error::Transport { .. }),
            "{oauth_err:?}"
        );
        assert!(oauth_err.is_transient());
        assert_eq!(api.requests(), 0);
        drop(auth);
    })
    .await;
}

#[tokio::test]
async fn the_token_endpoint_is_never_followed_through_a_redirect() {
    within_timeout(async {
        let elsewhere = MockServer::start().await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(307)
                    .insert_header("location", format!("{}/steal", elsewhere.uri())),
            )
            .mount(&server)
            .await;
        let oauth = OAuthMiddleware::new(ClientCredentials::new(server.uri(), "id", "secret"));
        let err = oauth
            .token(oauth.default_key())
            .await
            .expect_err("redirect refused");
        assert!(
            matches!(err, Error::Redirect { status } if status == 307),
            "{err:?}"
        );
        assert_eq!(
            elsewhere.received_requests().await.map(|r| r.len()),
            Some(0)
        );
    })
    .await;
}

#[tokio::test]
async fn a_slow_token_endpoint_times_out_with_a_transient_error() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        auth.set_delay(Duration::from_secs(5));
        let oauth = OAuthMiddleware::new(grant(&auth).timeout(Duration::from_millis(200)));
        let err = oauth
            .token(oauth.default_key())
            .await
            .expect_err("timed out");
        let Error::Transport { source } = &err else {
            panic!("expected a transport error, got {err:?}");
        };
        assert!(source.is_timeout());
        assert!(err.is_transient());
    })
    .await;
}

#[tokio::test]
async fn error_bodies_of_every_shape_become_typed_errors() {
    within_timeout(async {
        let cases = [
            (ResponseTemplate::new(502).set_body_string("<html><h1>502 Bad Gateway</h1></html>"), 502, Some("<html><h1>502 Bad Gateway</h1></html>"), None, true),
            (ResponseTemplate::new(503), 503, None, None, true),
            (ResponseTemplate::new(429).set_body_string("slow down"), 429, Some("slow down"), None, true),
            (
                ResponseTemplate::new(401).set_body_json(serde_json::json!({"error": "invalid_client", "message": "Client authentication failed"})),
                401,
                None,
                Some(ErrorCode::InvalidClient),
                false,
            ),
            (
                ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_scope", "error_description": "no such scope"})),
                400,
                None,
                Some(ErrorCode::InvalidScope),
                false,
            ),
        ];
        for (template, status, snippet, code, transient) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST")).respond_with(template).mount(&server).await;
            let err = OAuthMiddleware::new(ClientCredentials::new(server.uri(), "id", "secret"))
                .token(&reqwest_oauth::TokenRequest::new())
                .await
                .expect_err("error status");
            let endpoint = err.endpoint_error().unwrap_or_else(|| panic!("typed endpoint error, got {err:?}"));
            assert_eq!(endpoint.status(), status);
            assert_eq!(endpoint.body_snippet(), snippet, "{status}");
            assert_eq!(endpoint.code(), code.as_ref(), "{status}");
            assert_eq!(err.is_transient(), transient, "{status}");
        }
    })
    .await;
}

#[tokio::test]
async fn unusable_success_responses_are_typed_errors() {
    within_timeout(async {
        let cases = [
            (
                ResponseTemplate::new(200).set_body_string("not json"),
                "InvalidTokenResponse",
            ),
            (
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"token_type": "Bearer"})),
                "InvalidTokenResponse",
            ),
            (
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"access_token": "t", "token_type": "MAC"})),
                "UnsupportedTokenType",
            ),
            (
                ResponseTemplate::new(200).set_body_string("x".repeat(100 * 1024)),
                "ResponseTooLarge",
            ),
        ];
        for (template, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(template)
                .mount(&server)
                .await;
            let err = OAuthMiddleware::new(ClientCredentials::new(server.uri(), "id", "secret"))
                .token(&reqwest_oauth::TokenRequest::new())
                .await
                .expect_err("unusable");
            assert!(
                format!("{err:?}").starts_with(expected),
                "expected {expected}, got {err:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_bad_token_url_is_refused_at_build_time() {
    for url in ["not a url", "ftp://auth.example.com/token"] {
        let result = OAuthMiddleware::builder(ClientCredentials::new(url, "id", "secret")).build();
        assert!(
            matches!(
                result,
                Err(Error::InvalidUrl {
                    what: "token endpoint",
                    ..
                })
            ),
            "{url}"
        );
    }
}

#[tokio::test]
async fn basic_variants_encode_id_and_secret_as_each_server_expects() {
    within_timeout(async {
        // id "my id", secret "p@ss w~rd"
        let cases = [
            (ClientAuth::Basic, "my+id:p%40ss+w%7Erd"),
            (ClientAuth::BasicUnencoded, "my id:p@ss w~rd"),
            (ClientAuth::BasicPercentEncoded, "my%20id:p%40ss%20w~rd"),
        ];
        for (auth, credentials) in cases {
            let server = MockServer::start().await;
            let expected = format!(
                "Basic {}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, credentials)
            );
            Mock::given(method("POST"))
                .and(header("authorization", expected.as_str()))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(serde_json::json!({"access_token": "t"})),
                )
                .mount(&server)
                .await;
            let grant =
                ClientCredentials::new(server.uri(), "my id", "p@ss w~rd").client_auth(auth);
            OAuthMiddleware::new(grant)
                .token(&reqwest_oauth::TokenRequest::new())
                .await
                .unwrap_or_else(|e| panic!("{auth:?} should send {credentials:?}: {e}"));
            let body = &server.received_requests().await.expect("recorded")[0].body;
            assert!(
                !String::from_utf8_lossy(body).contains("client_secret"),
                "{auth:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn resource_indicators_are_sent_and_keyed() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .resource("https://api.example/")
            .build()
            .expect("config");
        let client = client(&oauth);
        client.get(api.url("/")).send().await.expect("call");
        let seen = auth.last_request().expect("request");
        assert_eq!(
            seen.params.get("resource").map(String::as_str),
            Some("https://api.example/")
        );
        client
            .get(api.url("/"))
            .with_extension(reqwest_oauth::Resource::new("https://files.example/"))
            .send()
            .await
            .expect("call");
        let seen = auth.last_request().expect("request");
        assert_eq!(
            seen.params.get("resource").map(String::as_str),
            Some("https://files.example/")
        );
        client.get(api.url("/")).send().await.expect("call");
        assert_eq!(
            auth.token_requests(),
            2,
            "one token per resource, each reused"
        );
    })
    .await;
}

#[tokio::test]
async fn a_caller_supplied_client_that_follows_redirects_gets_no_token() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(307).insert_header("location", auth.token_url()))
            .mount(&server)
            .await;
        // A client left with reqwest's default policy (it follows redirects).
        let following = reqwest::Client::new();
        let grant =
            ClientCredentials::new(server.uri(), CLIENT_ID, CLIENT_SECRET).http_client(following);
        let err = OAuthMiddleware::new(grant)
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect_err("refused");
        assert!(matches!(err, Error::Redirect { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn a_custom_grant_request_goes_through_the_endpoint_with_grant_type_first() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(wiremock::matchers::body_string(
                "client_id=cli&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=abc",
            ))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": "t"})),
            )
            .mount(&server)
            .await;
        let endpoint = TokenEndpoint::new(server.uri(), ClientIdentity::public("cli"));
        let grant = GrantRequest::new("urn:ietf:params:oauth:grant-type:token-exchange")
            .param("subject_token", "abc");
        let token = endpoint.request(&grant).await.expect("token");
        assert_eq!(token.secret(), "t");
    })
    .await;
}

#[tokio::test]
async fn the_body_limit_is_set_once_on_the_endpoint_and_reachable_from_a_grant() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(100)))
            .mount(&server)
            .await;
        let from_grant = ClientCredentials::new(server.uri(), "id", "secret").body_limit(10);
        let from_endpoint = ClientCredentials::at(
            TokenEndpoint::new(server.uri(), ClientIdentity::secret("id", "secret")).body_limit(10),
        );
        assert_eq!(
            format!("{:?}", from_grant.endpoint()),
            format!("{:?}", from_endpoint.endpoint())
        );
        for grant in [from_grant, from_endpoint] {
            let err = OAuthMiddleware::new(grant)
                .token(&reqwest_oauth::TokenRequest::new())
                .await
                .expect_err("too large");
            assert!(
                matches!(err, Error::ResponseTooLarge { limit: 10 }),
                "{err:?}"
            );
        }
    })
    .await;
}

#[test]
fn a_bad_token_url_is_a_typed_error_from_the_endpoint_itself() {
    let endpoint = TokenEndpoint::new("https//missing-colon", ClientIdentity::public("id"));
    let err = endpoint.check().expect_err("not a URL");
    assert!(
        matches!(
            err,
            Error::InvalidUrl {
                what: "token endpoint",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("token endpoint URL is not usable"),
        "{err}"
    );
}
