//! Attacks by a token endpoint that echoes the request back: whatever
//! shape the echo takes, the credentials the request carried never come
//! back through `Error` (Display, Debug, `source()` chains, the typed
//! fields, `Error::from_middleware`), for every grant and client
//! authentication method. (The same echoes at TRACE, through a global
//! subscriber and `log` records: `tests/redaction.rs`.)

use crate::common;

use common::echo::{
    CLIENT_AUTH_CASES, Echo, REFRESH, SHAPES, assert_nothing_sent_is_shown, received_secrets, shown,
};
use common::{CLIENT_ID, client, within_timeout};
use reqwest_oauth::Error;
use reqwest_oauth::endpoint::{ClientIdentity, GrantRequest, TokenEndpoint};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

/// An API the requests never reach: the token fetch fails first.
const API: &str = "http://127.0.0.1:9/things";

#[tokio::test]
async fn an_echoing_endpoint_never_hands_back_what_was_sent() {
    within_timeout(async {
        let server = MockServer::start().await;
        let echo = Echo::default();
        Mock::given(method("POST"))
            .respond_with(echo.clone())
            .mount(&server)
            .await;
        for case in CLIENT_AUTH_CASES {
            for shape in SHAPES {
                echo.received.lock().clear();
                let context = format!("{} / {shape}", case.name);
                let oauth = (case.build)(format!("{}/token/{shape}", server.uri()));
                let failed = client(&oauth).get(API).send().await.expect_err(&context);
                let typed = Error::from_middleware(&failed).expect("a token error");
                let mut texts = shown(&failed);
                texts.extend(shown(typed));
                texts.extend(typed.endpoint_error().into_iter().flat_map(|e| {
                    [e.description(), e.message(), e.uri(), e.body_snippet()]
                        .into_iter()
                        .flatten()
                        .map(str::to_owned)
                        .chain(e.code().map(ToString::to_string))
                }));
                let secrets = received_secrets(&echo);
                assert!(!secrets.is_empty(), "{context}: nothing secret was sent");
                let all = texts.join("\n");
                assert!(
                    all.contains("[redacted]"),
                    "{context}: the endpoint echoed nothing, the attack proved nothing: {all}"
                );
                assert_nothing_sent_is_shown(&all, &secrets, &context);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn an_echoed_refresh_token_is_scrubbed() {
    within_timeout(async {
        let server = MockServer::start().await;
        let echo = Echo::default();
        Mock::given(method("POST"))
            .respond_with(echo.clone())
            .mount(&server)
            .await;
        for shape in SHAPES {
            echo.received.lock().clear();
            let endpoint = TokenEndpoint::new(
                format!("{}/token/{shape}", server.uri()),
                ClientIdentity::public(CLIENT_ID),
            );
            let refresh = GrantRequest::new("refresh_token").param("refresh_token", REFRESH);
            let error = endpoint.request(&refresh).await.expect_err(shape);
            let all = shown(&error).join("\n");
            assert!(all.contains("[redacted]"), "{shape}: {all}");
            assert_nothing_sent_is_shown(&all, &received_secrets(&echo), shape);
        }
    })
    .await;
}

#[tokio::test]
async fn a_scrubbed_snippet_still_shows_the_page_its_type_and_length() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Echo::default())
            .mount(&server)
            .await;
        let oauth = (CLIENT_AUTH_CASES[0].build)(format!("{}/token/html", server.uri()));
        let error = oauth.token(oauth.default_key()).await.expect_err("refused");
        let page = error.endpoint_error().expect("the endpoint's answer");
        let snippet = page.body_snippet().expect("a snippet");
        assert!(
            snippet.starts_with("<html><body><h1>Internal Server Error</h1><pre>"),
            "{snippet}"
        );
        assert_eq!(page.content_type(), Some("text/html; charset=utf-8"));
        assert!(page.body_len() > snippet.len(), "{}", page.body_len());
        let shown = error.to_string();
        assert!(
            shown.contains("bytes, text/html; charset=utf-8)"),
            "{shown}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_credential_that_spells_a_json_key_does_not_change_what_is_read() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(wiremock::ResponseTemplate::new(400).set_body_json(
                serde_json::json!({"error": "invalid_grant", "error_description": "no such user"}),
            ))
            .mount(&server)
            .await;
        let endpoint = TokenEndpoint::new(server.uri(), ClientIdentity::public(CLIENT_ID));
        let grant = GrantRequest::new("password")
            .param("username", "u")
            .param("password", "error");
        let error = endpoint.request(&grant).await.expect_err("refused");
        let refused = error.endpoint_error().expect("the endpoint's answer");
        assert_eq!(
            refused.code(),
            Some(&reqwest_oauth::endpoint::ErrorCode::InvalidGrant),
            "{error:?}"
        );
        assert_eq!(refused.description(), Some("no such user"));
    })
    .await;
}
