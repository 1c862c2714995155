//! No secret reaches a tracing event at any level, from this crate or from
//! the HTTP stack under it (`log` records included), through a whole flow:
//! fetch, refusal, expired-token replay, the same through a fleet store
//! (Redis when installed, with its client's own logs), and a token endpoint
//! that echoes every request back in each shape, for every grant and client
//! authentication method and a refused refresh token. One test in its own
//! binary, since it installs the process-wide subscriber.

// Its own binary: it installs a process-wide subscriber, which would also
// see every other test of a shared binary.
#[path = "all/common/mod.rs"]
mod common;

use std::io::Write;
use std::sync::Arc;

use common::echo::{
    CLIENT_AUTH_CASES, Echo, REFRESH, SHAPES, assert_nothing_sent_is_shown, received_secrets,
};
use common::fleet::replica;
use common::{CLIENT_ID, CLIENT_SECRET, client, echo, within_timeout};
use parking_lot::Mutex;
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::fleet::MemoryStore;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{OAuthMiddleware, PasswordGrant};
use serde_json::json;
use tracing_subscriber::util::SubscriberInitExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_appears_in_trace_output() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .try_init()
        .expect("the only subscriber in this binary");

    let issued = within_timeout(grant_flow()).await;
    let sent = within_timeout(echo_flow()).await;

    let output = String::from_utf8_lossy(&captured.0.lock()).into_owned();
    if std::env::var_os("SHOW_TRACE").is_some() {
        println!("{output}");
    }
    assert!(
        output.contains("fetching token"),
        "nothing was captured; the test would prove nothing"
    );
    assert_ne!(issued[0], issued[1], "the flow did not renew the token");
    spans_and_events_are_there(&output);
    for secret in [CLIENT_SECRET, "hunter2-password"]
        .iter()
        .copied()
        .chain(issued.iter().map(String::as_str))
    {
        assert!(
            !output.contains(secret),
            "{secret:?} appeared in trace output"
        );
    }
    echo_flow_left_nothing(&output, &sent);
}

/// A password grant: a fetch, an expired-token replay, a refusal, and the
/// fleet flow. Returns the tokens issued.
async fn grant_flow() -> Vec<String> {
    let auth = AuthServer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .user("api-user", "hunter2-password")
        .start()
        .await
        .expect("auth");
    let api = ApiServer::start(&auth).await.expect("api");
    let grant = PasswordGrant::new(
        auth.token_url(),
        ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET),
        "api-user",
        "hunter2-password",
    );
    let oauth = OAuthMiddleware::new(grant);
    let client = client(&oauth);

    echo(client.get(api.url("/")).send().await.expect("call")).await;
    let mut issued = vec![
        oauth
            .token(oauth.default_key())
            .await
            .expect("token")
            .secret()
            .to_owned(),
    ];
    auth.revoke_all();
    echo(client.get(api.url("/")).send().await.expect("replayed")).await;
    issued.push(
        oauth
            .token(oauth.default_key())
            .await
            .expect("token")
            .secret()
            .to_owned(),
    );
    auth.fail_with(401, json!({"error": "invalid_client"}));
    oauth.invalidate_all();
    client.get(api.url("/")).send().await.expect_err("refused");
    issued.extend(fleet_flow().await);
    issued
}

/// One span per fetch attempt, one per HTTP exchange, with what a
/// dashboard needs and nothing secret; the events a flow should leave.
fn spans_and_events_are_there(output: &str) {
    for expected in [
        "token_fetch{",
        "reason=\"missing\" attempt=1",
        "token_request{host=\"127.0.0.1\" grant_type=\"password\" status=200 duration_ms=",
        "outcome=\"token\"}",
        "status=401 duration_ms=",
        "outcome=\"error\"}",
        "token fetch failed",
        "replaying the request",
        "token fetched and shared with the fleet",
        "token taken from the fleet",
    ] {
        assert!(
            output.contains(expected),
            "{expected:?} missing from the trace output"
        );
    }
}

/// The echo flow logged what it should, and nothing it sent.
fn echo_flow_left_nothing(output: &str, sent: &[String]) {
    assert!(
        output.contains("refresh refused; running the grant again")
            && output.contains("[redacted]"),
        "the echo flow logged nothing; it would prove nothing"
    );
    assert_nothing_sent_is_shown(output, sent, "trace output");
    assert!(
        output.contains("discovery document not usable") && !output.contains("url-secret"),
        "a URL's query value reached the trace output"
    );
}

/// Every grant and client authentication method against an endpoint that
/// echoes each request back, in every shape (each failure is a WARN event
/// with the error), and a refresh token refused with an echo (an INFO
/// event). Returns every credential the endpoint received.
async fn echo_flow() -> Vec<String> {
    let server = MockServer::start().await;
    let echo = Echo::default();
    // The first answer issues a token with a refresh token; later ones echo.
    Mock::given(method("POST"))
        .and(path("/token/description"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-first", "token_type": "Bearer", "refresh_token": REFRESH
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(echo.clone())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Bearer error=\"invalid_token\""),
        )
        .mount(&server)
        .await;
    let api = format!("{}/api", server.uri());
    let renewing = (CLIENT_AUTH_CASES[5].build)(format!("{}/token/description", server.uri()));
    renewing
        .token(renewing.default_key())
        .await
        .expect("the first token");
    // 401, so the refresh token is sent, refused with an echo, then the grant.
    let _ = client(&renewing).get(&api).send().await;
    // Discovery's DEBUG event names the issuer: without its query values.
    let issuer = format!("{}/?api_key=url-secret-Q3", server.uri());
    let discovered = OAuthMiddleware::new(reqwest_oauth::ClientCredentials::discover(
        issuer, "id", "secret",
    ));
    client(&discovered)
        .get(&api)
        .send()
        .await
        .expect_err("no metadata");
    for case in CLIENT_AUTH_CASES {
        for shape in SHAPES {
            let oauth = (case.build)(format!("{}/token/{shape}", server.uri()));
            client(&oauth).get(&api).send().await.expect_err(shape);
        }
    }
    received_secrets(&echo)
}

/// Two fleet replicas: a shared fetch, a rejection, a shared replacement.
/// Returns the tokens issued.
async fn fleet_flow() -> Vec<String> {
    let redis = common::redis::RedisServer::start().await;
    let (auth, api) = common::servers().await;
    let replicas: Vec<_> = match &redis {
        Some(redis) => {
            let store = redis.store().await;
            (0..2)
                .map(|_| replica(&auth, "redaction", store.clone()).0)
                .collect()
        }
        None => {
            let store = MemoryStore::new();
            (0..2)
                .map(|_| replica(&auth, "redaction", store.clone()).0)
                .collect()
        }
    };
    let mut issued = Vec::new();
    for round in 0..2 {
        for oauth in &replicas {
            echo(client(oauth).get(api.url("/")).send().await.expect("call")).await;
        }
        issued.push(
            replicas[0]
                .token(replicas[0].default_key())
                .await
                .expect("token")
                .secret()
                .to_owned(),
        );
        if round == 0 {
            auth.revoke_all();
        }
    }
    assert_eq!(auth.token_requests(), 2, "the fleet shared both tokens");
    issued
}
