//! The edges peers' test suites and the RFCs probe: odd token responses,
//! exact request parameters, client authentication that works out of the
//! box, `WWW-Authenticate` parsing, and custom sources' errors. Each test
//! runs against real HTTP servers on 127.0.0.1.

use crate::common;

use std::time::Duration;

use common::{CLIENT_ID, CLIENT_SECRET, client, echo, within_timeout};
use reqwest_oauth::endpoint::{ClientAuth, ClientIdentity, ErrorCode};
use reqwest_oauth::policy::RetryPolicy;
use reqwest_oauth::testkit::{ApiServer, AuthServer, RefreshTokens};
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware, PasswordGrant, TokenRequest};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A token endpoint at `/token` that answers every request with `answer`.
async fn token_endpoint(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

fn grant_at(server: &MockServer) -> ClientCredentials {
    ClientCredentials::new(format!("{}/token", server.uri()), "id", "secret")
}

/// The form bodies the server received, in order.
async fn bodies(server: &MockServer) -> Vec<Vec<(String, String)>> {
    let received = server.received_requests().await.expect("recorded");
    received
        .iter()
        .filter(|r| r.url.path() == "/token")
        .map(|r| form_urlencoded::parse(&r.body).into_owned().collect())
        .collect()
}

fn values<'a>(body: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    body.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

// ---- Token responses ----

#[tokio::test]
async fn a_null_expires_in_is_read_as_absent() {
    within_timeout(async {
        let body = json!({"access_token": "t", "token_type": "Bearer", "expires_in": null});
        let server = token_endpoint(ResponseTemplate::new(200).set_body_json(body)).await;
        let oauth = OAuthMiddleware::new(grant_at(&server));
        let token = oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(token.expires_in(), None);
    })
    .await;
}

#[tokio::test]
async fn a_200_with_an_error_member_is_a_typed_endpoint_error_and_no_token_is_used() {
    within_timeout(async {
        // GitHub's shape: status 200, an `error`, and here a token too.
        let body = json!({
            "access_token": "must-not-be-used",
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired."
        });
        let server = token_endpoint(ResponseTemplate::new(200).set_body_json(body)).await;
        let oauth = OAuthMiddleware::new(grant_at(&server));
        let err = oauth.token(oauth.default_key()).await.expect_err("refused");
        let refused = err.endpoint_error().expect("typed endpoint error");
        assert_eq!(refused.status(), 200);
        assert_eq!(
            refused.code(),
            Some(&ErrorCode::Other("bad_verification_code".into()))
        );
        assert_eq!(
            refused.description(),
            Some("The code passed is incorrect or expired.")
        );
        assert!(!err.is_transient());
        assert_eq!(
            bodies(&server).await.len(),
            1,
            "a permanent error was retried"
        );
    })
    .await;
}

#[tokio::test]
async fn an_empty_token_type_is_read_as_bearer() {
    within_timeout(async {
        let body = json!({"access_token": "t", "token_type": "", "expires_in": 60});
        let server = token_endpoint(ResponseTemplate::new(200).set_body_json(body)).await;
        let oauth = OAuthMiddleware::new(grant_at(&server));
        let token = oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(token.secret(), "t");
    })
    .await;
}

#[tokio::test]
async fn a_token_with_a_space_or_non_ascii_is_a_typed_error_naming_the_problem() {
    within_timeout(async {
        for (token, problem) in [("two words", "whitespace"), ("caf\u{e9}", "non-ASCII")] {
            let body = json!({"access_token": token, "token_type": "Bearer"});
            let server = token_endpoint(ResponseTemplate::new(200).set_body_json(body)).await;
            let oauth = OAuthMiddleware::new(grant_at(&server));
            let err = oauth.token(oauth.default_key()).await.expect_err("refused");
            assert!(matches!(err, Error::InvalidToken(_)), "{err:?}");
            assert!(err.to_string().contains(problem), "{err}");
            assert!(!err.to_string().contains(token), "the token leaked: {err}");
        }
        // A custom source's tokens are checked by the same constructor.
        assert!(matches!(
            reqwest_oauth::Token::bearer("tab\there"),
            Err(Error::InvalidToken(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn a_token_dead_on_arrival_serves_its_waiters_but_is_not_reused() {
    within_timeout(async {
        // 0.9 s floors to 0: the token is handed to the request that waited
        // for it, and the next request fetches again.
        let body = json!({"access_token": "t", "token_type": "Bearer", "expires_in": 0.9});
        let server = token_endpoint(ResponseTemplate::new(200).set_body_json(body)).await;
        let oauth = OAuthMiddleware::new(grant_at(&server));
        for _ in 0..2 {
            let token = oauth.token(oauth.default_key()).await.expect("token");
            assert_eq!(token.expires_in(), Some(Duration::ZERO));
        }
        assert_eq!(bodies(&server).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_unreadable_absolute_expiry_is_a_typed_error_not_a_default_lifetime() {
    within_timeout(async {
        for stamp in ["2014-03-23 15:51:07", "not-a-date"] {
            let body = json!({"access_token": "t", "expires_at": stamp});
            let server = token_endpoint(ResponseTemplate::new(200).set_body_json(body)).await;
            let oauth = OAuthMiddleware::new(grant_at(&server));
            let err = oauth.token(oauth.default_key()).await.expect_err(stamp);
            assert!(
                matches!(&err, Error::InvalidExpiry { field, .. } if field == "expires_at"),
                "{err:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_form_body_labelled_text_html_is_read() {
    within_timeout(async {
        let answer = ResponseTemplate::new(200).set_body_raw(
            "access_token=f0rm&token_type=bearer&expires_in=120",
            "text/html; charset=utf-8",
        );
        let server = token_endpoint(answer).await;
        let oauth = OAuthMiddleware::new(grant_at(&server));
        let token = oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(token.secret(), "f0rm");
        assert_eq!(token.expires_in(), Some(Duration::from_secs(120)));
    })
    .await;
}

// ---- Requests ----

#[tokio::test]
async fn client_credentials_renews_by_the_grant_even_when_a_refresh_token_was_sent() {
    within_timeout(async {
        let server = MockServer::start().await;
        let issue = |token: &str| {
            ResponseTemplate::new(200).set_body_json(
                json!({"access_token": token, "refresh_token": "r1", "expires_in": 3600}),
            )
        };
        Mock::given(path("/token"))
            .respond_with(issue("t1"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(path("/token"))
            .respond_with(issue("t2"))
            .mount(&server)
            .await;
        Mock::given(path("/api"))
            .and(header("authorization", "Bearer t1"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        Mock::given(path("/api"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .mount(&server)
            .await;
        let oauth = OAuthMiddleware::new(grant_at(&server).scope("read").param("tenant", "x"));
        // Warm: a token fetched for the request itself is never replayed.
        oauth.token(oauth.default_key()).await.expect("t1");
        let response = client(&oauth)
            .get(format!("{}/api", server.uri()))
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 200);
        let sent = bodies(&server).await;
        assert_eq!(sent.len(), 2);
        for body in &sent {
            assert_eq!(values(body, "grant_type"), ["client_credentials"]);
            assert_eq!(values(body, "refresh_token"), Vec::<&str>::new());
            assert_eq!(values(body, "scope"), ["read"]);
        }
    })
    .await;
}

#[tokio::test]
async fn a_refresh_carries_the_keys_scope_audience_and_resource() {
    within_timeout(async {
        let auth = AuthServer::builder()
            .public_client("app")
            .user("alice", "pw")
            .refresh_tokens(RefreshTokens::Rotating)
            .start()
            .await
            .expect("auth");
        let api = ApiServer::start(&auth).await.expect("api");
        let grant = PasswordGrant::new(
            auth.token_url(),
            ClientIdentity::public("app"),
            "alice",
            "pw",
        )
        .scope("read");
        let oauth = OAuthMiddleware::builder(grant)
            .audience("https://api.example")
            .resource("https://api.example/")
            .build()
            .expect("config");
        let client = client(&oauth);
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        auth.revoke_all(); // the API now rejects the token: renew by refresh
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.grant_requests("refresh_token"), 1);
        let refresh = auth.last_request().expect("the refresh");
        let param = |name: &str| refresh.params.get(name).map(String::as_str);
        assert_eq!(param("grant_type"), Some("refresh_token"));
        assert_eq!(param("scope"), Some("read"));
        assert_eq!(param("audience"), Some("https://api.example"));
        assert_eq!(param("resource"), Some("https://api.example/"));
    })
    .await;
}

#[tokio::test]
async fn every_resource_of_a_key_is_sent_and_a_fragment_is_refused_before_sending() {
    within_timeout(async {
        let body = json!({"access_token": "t", "expires_in": 60});
        let server = token_endpoint(ResponseTemplate::new(200).set_body_json(body)).await;
        let oauth = OAuthMiddleware::new(grant_at(&server));
        let key = TokenRequest::new()
            .with_resource("https://api.example/")
            .with_resource("https://files.example/");
        oauth.token(&key).await.expect("token");
        let sent = bodies(&server).await;
        assert_eq!(
            values(&sent[0], "resource"),
            ["https://api.example/", "https://files.example/"]
        );
        for bad in ["https://api.example/#part", "/relative"] {
            let err = oauth
                .token(&TokenRequest::new().with_resource(bad))
                .await
                .expect_err(bad);
            assert!(
                matches!(
                    err,
                    Error::InvalidUrl {
                        what: "resource",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        assert_eq!(bodies(&server).await.len(), 1, "a bad resource was sent");
    })
    .await;
}

#[tokio::test]
async fn an_extra_parameter_repeating_one_the_crate_sets_fails_at_build() {
    for name in [
        "grant_type",
        "client_id",
        "client_secret",
        "scope",
        "username",
        "password",
        "refresh_token",
        "client_assertion",
        "client_assertion_type",
        "resource",
        "audience",
    ] {
        let grant =
            ClientCredentials::new("https://auth.example/token", "id", "s").param(name, "x");
        let err = OAuthMiddleware::builder(grant).build().expect_err(name);
        assert!(
            matches!(&err, Error::InvalidSetting { reason, .. } if reason.contains(name)),
            "{name}: {err:?}"
        );
    }
    let password = PasswordGrant::new(
        "https://auth.example/token",
        ClientIdentity::public("app"),
        "u",
        "p",
    )
    .param("username", "other");
    assert!(OAuthMiddleware::builder(password).build().is_err());
    let fine = ClientCredentials::new("https://auth.example/token", "id", "s").param("tenant", "t");
    assert!(OAuthMiddleware::builder(fine).build().is_ok());
}

#[tokio::test]
async fn an_empty_client_secret_is_omitted_from_the_body() {
    within_timeout(async {
        let body = json!({"access_token": "t", "expires_in": 60});
        let server = token_endpoint(ResponseTemplate::new(200).set_body_json(body)).await;
        let grant = ClientCredentials::new(format!("{}/token", server.uri()), "svc", "")
            .client_auth(ClientAuth::Body);
        let oauth = OAuthMiddleware::new(grant);
        oauth.token(oauth.default_key()).await.expect("token");
        let sent = bodies(&server).await;
        assert_eq!(values(&sent[0], "client_id"), ["svc"]);
        assert_eq!(values(&sent[0], "client_secret"), Vec::<&str>::new());
        let received = server.received_requests().await.expect("recorded");
        assert!(!received[0].headers.contains_key("authorization"));
    })
    .await;
}

/// A token endpoint that, like some deployed servers, cannot read the
/// secret from Basic (`invalid_client`) but accepts it in the body.
async fn body_only_endpoint() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/token"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    Mock::given(path("/token"))
        .and(body_string_contains("client_secret="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t"})))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn client_auth_is_detected_basic_then_body_and_remembered() {
    within_timeout(async {
        let server = body_only_endpoint().await;
        let secret = "s:e+c%2Fr/e t";
        let oauth = OAuthMiddleware::new(ClientCredentials::new(
            format!("{}/token", server.uri()),
            "id",
            secret,
        ));
        oauth
            .token(oauth.default_key())
            .await
            .expect("token via the body");
        oauth.invalidate(oauth.default_key());
        oauth.token(oauth.default_key()).await.expect("token again");
        let received = server.received_requests().await.expect("recorded");
        let basic: Vec<bool> = received
            .iter()
            .map(|r| r.headers.contains_key("authorization"))
            .collect();
        assert_eq!(basic, [true, false, false], "probe once, then remember");
        assert_eq!(values(&bodies(&server).await[2], "client_secret"), [secret]);
    })
    .await;
}

#[tokio::test]
async fn an_explicit_client_auth_never_probes() {
    within_timeout(async {
        let server = body_only_endpoint().await;
        let grant = grant_at(&server).client_auth(ClientAuth::Basic);
        let oauth = OAuthMiddleware::new(grant);
        let err = oauth.token(oauth.default_key()).await.expect_err("refused");
        let code = err.endpoint_error().and_then(|e| e.code());
        assert_eq!(code, Some(&ErrorCode::InvalidClient));
        assert_eq!(bodies(&server).await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn discovery_listing_both_methods_probes_basic_then_body() {
    within_timeout(async {
        let server = body_only_endpoint().await;
        let metadata = json!({
            "issuer": server.uri(),
            "token_endpoint": format!("{}/token", server.uri()),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        });
        Mock::given(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(metadata))
            .mount(&server)
            .await;
        let oauth = OAuthMiddleware::new(ClientCredentials::discover(server.uri(), "id", "s"));
        oauth
            .token(oauth.default_key())
            .await
            .expect("token via the body");
        assert_eq!(bodies(&server).await.len(), 2);
    })
    .await;
}

// ---- Challenges ----

/// An API whose every answer is a 401 with these challenges; returns how
/// many API requests and token requests one call made.
async fn calls_after_401(challenges: &[&str]) -> (usize, u64) {
    let auth = AuthServer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .start()
        .await
        .expect("auth");
    let api = MockServer::start().await;
    let mut answer = ResponseTemplate::new(401);
    for challenge in challenges {
        answer = answer.append_header("www-authenticate", *challenge);
    }
    Mock::given(method("GET"))
        .respond_with(answer)
        .mount(&api)
        .await;
    let oauth = OAuthMiddleware::new(common::grant(&auth));
    // Warm: a token fetched for the request itself is never replayed.
    oauth.token(oauth.default_key()).await.expect("token");
    let response = client(&oauth).get(api.uri()).send().await.expect("call");
    assert_eq!(response.status(), 401);
    let requests = api.received_requests().await.expect("recorded").len();
    (requests, auth.token_requests())
}

#[tokio::test]
async fn a_bearer_error_spelled_in_other_case_and_spacing_is_read_and_not_replayed() {
    within_timeout(async {
        let (api, tokens) =
            calls_after_401(&[r#"bearer Error_Description = "x y", ERROR = insufficient_scope"#])
                .await;
        assert_eq!((api, tokens), (1, 1), "insufficient_scope was replayed");
    })
    .await;
}

#[tokio::test]
async fn a_401_challenging_only_other_schemes_is_not_replayed() {
    within_timeout(async {
        let (api, tokens) = calls_after_401(&[r#"Basic realm="legacy""#]).await;
        assert_eq!((api, tokens), (1, 1));
        // A bearer challenge in a second header value still counts.
        let (api, tokens) =
            calls_after_401(&[r#"Basic realm="legacy""#, r#"Bearer error="invalid_token""#]).await;
        assert_eq!((api, tokens), (2, 2));
    })
    .await;
}

// ---- Custom sources ----

/// A custom source whose login endpoint answers `answer`; returns the
/// error and how many times the login was tried.
async fn custom_login(answer: ResponseTemplate) -> (Error, usize) {
    let server = token_endpoint(answer).await;
    let url = format!("{}/token", server.uri());
    let http = reqwest::Client::new();
    let source = reqwest_oauth::source_fn(move |_key| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http.post(url).send().await?;
            if !response.status().is_success() {
                return Err(Error::from_token_response(response).await);
            }
            let body: Value = response.json().await?;
            reqwest_oauth::Token::bearer(body["token"].as_str().unwrap_or_default())
        }
    });
    let retry = RetryPolicy::default().initial_backoff(Duration::from_millis(1));
    let oauth = OAuthMiddleware::builder(source)
        .retry(retry)
        .build()
        .expect("config");
    let err = oauth.token(oauth.default_key()).await.expect_err("refused");
    (err, bodies(&server).await.len())
}

#[tokio::test]
async fn a_custom_source_turns_a_refusal_into_the_typed_endpoint_error() {
    within_timeout(async {
        let (err, tries) = custom_login(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "wrong password"}),
        ))
        .await;
        let refused = err.endpoint_error().expect("typed");
        assert_eq!(refused.code(), Some(&ErrorCode::InvalidGrant));
        assert_eq!(refused.description(), Some("wrong password"));
        assert_eq!(tries, 1, "a wrong password was retried");

        let (err, tries) = custom_login(
            ResponseTemplate::new(503)
                .insert_header("retry-after", "0")
                .set_body_string("<html>down</html>"),
        )
        .await;
        let refused = err.endpoint_error().expect("typed");
        assert_eq!(refused.retry_after(), Some(Duration::ZERO));
        assert_eq!(refused.body_snippet(), Some("<html>down</html>"));
        assert!(err.is_transient());
        assert_eq!(tries, 3, "a 503 is retried twice");
    })
    .await;
}

#[tokio::test]
async fn a_reqwest_status_error_is_transient_only_for_408_429_and_5xx() {
    within_timeout(async {
        for (status, transient) in [
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (408, true),
            (429, true),
            (500, true),
            (503, true),
        ] {
            let server = token_endpoint(ResponseTemplate::new(status)).await;
            let err: Error = reqwest::Client::new()
                .post(format!("{}/token", server.uri()))
                .send()
                .await
                .expect("sent")
                .error_for_status()
                .expect_err("an error status")
                .into();
            assert_eq!(err.is_transient(), transient, "{status}: {err:?}");
            assert_eq!(
                err.endpoint_error().map(|e| e.status().as_u16()),
                Some(status)
            );
        }
    })
    .await;
}
