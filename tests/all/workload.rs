//! Workload identity: token exchange (RFC 8693) and the JWT bearer grant
//! (RFC 7523) against the testkit's authorization server; the subject read
//! from a rotating file, a closure, or another server's source; typed
//! errors; and one subject per grant, also across a fleet.

use crate::common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{client, echo, within_timeout};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest_oauth::endpoint::{ClientIdentity, ErrorCode, PrivateKeyJwt, TokenEndpoint};
use reqwest_oauth::fleet::{FleetSource, MemoryStore};
use reqwest_oauth::grant::{JwtBearer, SubjectToken, TokenExchange};
use reqwest_oauth::policy::RetryPolicy;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware, TokenRequest, TokenSource};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const EC_PRIVATE: &[u8] = include_bytes!("../fixtures/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../fixtures/ec_public.pem");
const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/rsa_private.pem");
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A server with a confidential client `gateway`, a public client `pod`,
/// and the fixture EC key trusted for assertions; an API trusting it.
async fn servers() -> (AuthServer, ApiServer) {
    let auth = AuthServer::builder()
        .client("gateway", "gateway-secret")
        .public_client("pod")
        .trust_assertion_key(EC_PUBLIC)
        .start()
        .await
        .expect("auth server starts");
    let api = ApiServer::start(&auth).await.expect("api server starts");
    (auth, api)
}

fn gateway() -> ClientIdentity {
    ClientIdentity::secret("gateway", "gateway-secret")
}

/// A JWT as a platform would issue it (the kubelet's projected token):
/// signed with the trusted fixture key, for `sub`, with a fresh `jti`.
fn platform_jwt(audience: &str, subject: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "iss": "https://kubernetes.default.svc",
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + 600,
        "jti": format!("jti-{:08}", NEXT.fetch_add(1, Ordering::Relaxed)),
    });
    let key = EncodingKey::from_ec_pem(EC_PRIVATE).expect("fixture key");
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key).expect("signs")
}

/// A fresh, empty directory for one test's files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reqwest-oauth-workload-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Replaces the file as the kubelet does: a new file renamed over the old.
fn rotate(path: &std::path::Path, content: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, format!("{content}\n")).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

fn sent(auth: &AuthServer, name: &str) -> Option<String> {
    auth.last_request()
        .and_then(|request| request.params.get(name).cloned())
}

#[tokio::test]
async fn an_exchange_sends_subject_actor_requested_type_and_the_keys_targets() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let user = auth.issue_token("alice", None);
        let actor = auth.issue_token("gateway-service", None);
        let grant = TokenExchange::new(
            auth.token_url(),
            gateway(),
            SubjectToken::fixed(user.clone()),
            TokenExchange::ACCESS_TOKEN,
        )
        .actor(
            SubjectToken::fixed(actor.clone()),
            TokenExchange::ACCESS_TOKEN,
        )
        .requested_token_type(TokenExchange::ACCESS_TOKEN)
        .scope("orders:read");
        let oauth = OAuthMiddleware::builder(grant)
            .audience("https://orders.example.com")
            .resource("https://orders.example.com/v1")
            .build()
            .expect("config");
        let body = echo(
            client(&oauth)
                .get(api.url("/o"))
                .send()
                .await
                .expect("call"),
        )
        .await;
        assert_eq!(body["audience"], "https://orders.example.com");
        assert_eq!(body["scope"], "orders:read");

        let request = auth.last_request().expect("one request");
        let param = |name: &str| request.params.get(name).map(String::as_str);
        assert_eq!(param("grant_type"), Some(EXCHANGE));
        assert_eq!(param("subject_token"), Some(user.as_str()));
        assert_eq!(
            param("subject_token_type"),
            Some(TokenExchange::ACCESS_TOKEN)
        );
        assert_eq!(param("actor_token"), Some(actor.as_str()));
        assert_eq!(param("actor_token_type"), Some(TokenExchange::ACCESS_TOKEN));
        assert_eq!(
            param("requested_token_type"),
            Some(TokenExchange::ACCESS_TOKEN)
        );
        assert_eq!(param("resource"), Some("https://orders.example.com/v1"));
        let token = oauth.token(oauth.default_key()).await.expect("cached");
        assert_eq!(auth.subject_of(token.secret()).as_deref(), Some("alice"));
        assert_eq!(
            token.extra()["issued_token_type"],
            Value::from(TokenExchange::ACCESS_TOKEN)
        );
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_exchange() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let subject = SubjectToken::fixed(auth.issue_token("alice", None));
        let grant = TokenExchange::new(
            auth.token_url(),
            gateway(),
            subject,
            TokenExchange::ACCESS_TOKEN,
        );
        let client = client(&OAuthMiddleware::new(grant));
        let calls = (0..20).map(|_| client.get(api.url("/x")).send());
        for response in futures_util::future::join_all(calls).await {
            echo(response.expect("call")).await;
        }
        assert_eq!(auth.grant_requests(EXCHANGE), 1);
    })
    .await;
}

#[tokio::test]
async fn a_rotated_subject_file_is_read_by_the_next_fetch() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let path = scratch_dir("rotate").join("token");
        let first = platform_jwt("sts", "system:serviceaccount:shop:orders");
        rotate(&path, &first);
        let grant = TokenExchange::new(
            auth.token_url(),
            ClientIdentity::public("pod"),
            SubjectToken::file(&path),
            TokenExchange::JWT,
        );
        let oauth = OAuthMiddleware::new(grant);
        let client = client(&oauth);
        echo(client.get(api.url("/a")).send().await.expect("call")).await;
        assert_eq!(sent(&auth, "subject_token"), Some(first.clone()));

        // The kubelet rotates the token; the next fetch (here for another
        // key) sends the new one, though its length is the same.
        let second = platform_jwt("sts", "system:serviceaccount:shop:orders");
        assert_eq!(
            first.len(),
            second.len(),
            "a rotation that keeps the length"
        );
        rotate(&path, &second);
        let other = TokenRequest::new().with_audience("https://other.example.com");
        oauth.token(&other).await.expect("second key");
        assert_eq!(sent(&auth, "subject_token"), Some(second.clone()));

        // And again after the API rejects the token: the replay's fetch
        // reads the file once more.
        let third = platform_jwt("sts", "system:serviceaccount:shop:orders");
        rotate(&path, &third);
        auth.revoke_all();
        echo(client.get(api.url("/c")).send().await.expect("call")).await;
        assert_eq!(sent(&auth, "subject_token"), Some(third));
        assert_eq!(auth.grant_requests(EXCHANGE), 3);
    })
    .await;
}

#[tokio::test]
async fn a_jwt_bearer_assertion_file_rotates_and_a_reused_assertion_is_refused() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let path = scratch_dir("bearer").join("token");
        let first = platform_jwt(&auth.token_url(), "workload-a");
        rotate(&path, &first);
        let grant = JwtBearer::new(
            auth.token_url(),
            ClientIdentity::public("pod"),
            SubjectToken::file(&path),
        );
        let oauth = OAuthMiddleware::builder(grant)
            .retry(RetryPolicy::none())
            .build()
            .expect("config");
        let client = client(&oauth);
        echo(client.get(api.url("/a")).send().await.expect("call")).await;
        let token = oauth.token(oauth.default_key()).await.expect("cached");
        assert_eq!(
            auth.subject_of(token.secret()).as_deref(),
            Some("workload-a")
        );

        // Not rotated: the same assertion again is a replay (its `jti`),
        // which the server refuses with a typed `invalid_grant`.
        oauth.invalidate(oauth.default_key());
        let error = oauth
            .token(oauth.default_key())
            .await
            .expect_err("replayed");
        assert_eq!(
            error.endpoint_error().and_then(|e| e.code()),
            Some(&ErrorCode::InvalidGrant)
        );

        let second = platform_jwt(&auth.token_url(), "workload-a");
        rotate(&path, &second);
        let request = TokenRequest::new().with_audience("other");
        oauth.token(&request).await.expect("the rotated assertion");
        assert_eq!(sent(&auth, "assertion"), Some(second));
        assert_eq!(auth.grant_requests(JWT_BEARER), 3);
    })
    .await;
}

#[tokio::test]
async fn a_self_signed_assertion_is_fresh_for_every_fetch() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let key = PrivateKeyJwt::es256_pem(EC_PRIVATE).expect("key");
        let endpoint = TokenEndpoint::new(auth.token_url(), ClientIdentity::public("pod"));
        let grant = JwtBearer::signed(endpoint, key, "reporting", "svc-reporting");
        let oauth = OAuthMiddleware::new(grant);
        for audience in ["a", "b", "c"] {
            let request = TokenRequest::new().with_audience(audience);
            let token = oauth.token(&request).await.expect("accepted");
            assert_eq!(
                auth.subject_of(token.secret()).as_deref(),
                Some("svc-reporting")
            );
        }
        // Three accepted assertions: three `jti`s, since the server refuses
        // a repeated one.
        assert_eq!(auth.grant_requests(JWT_BEARER), 3);
        echo(
            client(&oauth)
                .get(api.url("/r"))
                .send()
                .await
                .expect("call"),
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn an_assertion_signed_by_an_untrusted_key_is_refused() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let key = PrivateKeyJwt::rs256_pem(RSA_PRIVATE).expect("key");
        let endpoint = TokenEndpoint::new(auth.token_url(), ClientIdentity::public("pod"));
        let oauth = OAuthMiddleware::new(JwtBearer::signed(endpoint, key, "x", "y"));
        let error = oauth.token(oauth.default_key()).await.expect_err("refused");
        assert_eq!(
            error.endpoint_error().and_then(|e| e.code()),
            Some(&ErrorCode::InvalidGrant)
        );
    })
    .await;
}

#[tokio::test]
async fn delegation_exchanges_one_servers_token_at_another() {
    within_timeout(async {
        let upstream = AuthServer::builder()
            .client("svc-a", "a-secret")
            .start()
            .await
            .expect("server A");
        let sts = AuthServer::builder()
            .client("gateway", "gateway-secret")
            .trust_tokens_of(&upstream)
            .start()
            .await
            .expect("server B");
        let api = ApiServer::start(&sts).await.expect("B's api");
        let at_a = ClientCredentials::new(upstream.token_url(), "svc-a", "a-secret");
        let subject = SubjectToken::from_source(at_a, TokenRequest::new().with_audience("sts"));
        let grant = TokenExchange::new(
            sts.token_url(),
            gateway(),
            subject,
            TokenExchange::ACCESS_TOKEN,
        );
        let oauth = OAuthMiddleware::builder(grant)
            .audience("https://b.example.com")
            .build()
            .expect("config");
        let client = client(&oauth);
        for _ in 0..3 {
            let body = echo(client.get(api.url("/b")).send().await.expect("call")).await;
            assert_eq!(body["audience"], "https://b.example.com");
        }
        let token = oauth.token(oauth.default_key()).await.expect("cached");
        assert_eq!(sts.subject_of(token.secret()).as_deref(), Some("svc-a"));
        assert_eq!(
            (upstream.token_requests(), sts.grant_requests(EXCHANGE)),
            (1, 1)
        );

        // B does not take a token that A did not issue.
        let stranger = SubjectToken::fixed("made-up-token");
        let grant = TokenExchange::new(
            sts.token_url(),
            gateway(),
            stranger,
            TokenExchange::ACCESS_TOKEN,
        );
        let error = grant
            .fetch(reqwest_oauth::FetchContext::new(&TokenRequest::new()))
            .await
            .expect_err("refused");
        assert_eq!(
            error.endpoint_error().and_then(|e| e.code()),
            Some(&ErrorCode::InvalidGrant)
        );
    })
    .await;
}

/// The error a fresh middleware over `grant` gets for its first token,
/// without retries.
async fn first_error(grant: impl TokenSource) -> Error {
    let oauth = OAuthMiddleware::builder(grant)
        .retry(RetryPolicy::none())
        .build()
        .expect("config");
    oauth
        .token(oauth.default_key())
        .await
        .expect_err("no token")
}

#[tokio::test]
async fn an_unreadable_subject_is_a_typed_error_naming_where_it_comes_from() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let dir = scratch_dir("unreadable");
        let exchange = |subject| {
            TokenExchange::new(auth.token_url(), gateway(), subject, TokenExchange::JWT)
        };

        let missing = dir.join("not-there");
        match first_error(exchange(SubjectToken::file(&missing))).await {
            Error::Subject { role, from, transient, .. } => {
                assert_eq!(role, "subject token");
                assert!(from.contains("not-there"), "{from}");
                assert!(transient, "a file not there yet may appear");
            }
            other => panic!("unexpected {other:?}"),
        }
        // A directory cannot be read as a token: permanent.
        match first_error(exchange(SubjectToken::file(&dir))).await {
            Error::Subject { transient, ref from, .. } => {
                assert!(!transient);
                assert!(from.starts_with("file "), "{from}");
            }
            other => panic!("unexpected {other:?}"),
        }
        std::fs::write(dir.join("empty"), "\n").expect("write");
        let empty = first_error(exchange(SubjectToken::file(dir.join("empty")))).await;
        assert!(empty.to_string().contains("it is empty"), "{empty}");

        let failing = SubjectToken::from_fn("ci id token", || async {
            Err(Error::custom(std::io::Error::other("runner refused")))
        });
        let error = first_error(JwtBearer::new(auth.token_url(), gateway(), failing)).await;
        assert!(matches!(&error, Error::Subject { role: "assertion", from, .. } if from == "ci id token"));
        assert!(error.to_string().contains("runner refused"), "{error}");
        // Nothing reached the token endpoint.
        assert_eq!(auth.token_requests(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_refused_exchange_is_a_typed_endpoint_error() {
    within_timeout(async {
        let auth = AuthServer::builder()
            .client("gateway", "gateway-secret")
            .exchange_targets(["https://allowed.example.com"])
            .start()
            .await
            .expect("auth");
        let user = auth.issue_token("alice", None);
        let exchange = |subject: String, audience: &str| {
            let grant = TokenExchange::new(
                auth.token_url(),
                gateway(),
                SubjectToken::fixed(subject),
                TokenExchange::ACCESS_TOKEN,
            );
            OAuthMiddleware::builder(grant)
                .audience(audience)
                .build()
                .expect("config")
        };
        let code = |error: &Error| error.endpoint_error().and_then(|e| e.code()).cloned();

        let oauth = exchange(user.clone(), "https://elsewhere.example.com");
        let error = oauth.token(oauth.default_key()).await.expect_err("refused");
        assert_eq!(code(&error), Some(ErrorCode::InvalidTarget));
        assert!(!error.is_transient());

        let oauth = exchange("not-issued-here".into(), "https://allowed.example.com");
        let error = oauth.token(oauth.default_key()).await.expect_err("refused");
        assert_eq!(code(&error), Some(ErrorCode::InvalidGrant));

        let oauth = exchange(user, "https://allowed.example.com");
        oauth.token(oauth.default_key()).await.expect("allowed");
        // Permanent refusals are not retried: one request each.
        assert_eq!(auth.grant_requests(EXCHANGE), 3);
    })
    .await;
}

#[tokio::test]
async fn a_token_that_is_not_an_access_token_comes_with_n_a_and_is_sent_as_bearer() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let grant = TokenExchange::new(
            auth.token_url(),
            gateway(),
            SubjectToken::fixed(auth.issue_token("alice", None)),
            TokenExchange::ACCESS_TOKEN,
        )
        .requested_token_type(TokenExchange::JWT);
        let oauth = OAuthMiddleware::new(grant);
        let token = oauth.token(oauth.default_key()).await.expect("issued");
        assert_eq!(token.extra()["token_type"], "N_A");
        assert_eq!(token.extra()["issued_token_type"], TokenExchange::JWT);
        // The API takes it as a bearer credential.
        echo(
            client(&oauth)
                .get(api.url("/n"))
                .send()
                .await
                .expect("call"),
        )
        .await;
    })
    .await;
}

/// A grant against a canned answer.
async fn answered(body: Value, requested: Option<&str>) -> Result<reqwest_oauth::Token, Error> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let mut grant = TokenExchange::new(
        format!("{}/token", server.uri()),
        gateway(),
        SubjectToken::fixed("subject"),
        TokenExchange::ACCESS_TOKEN,
    );
    if let Some(requested) = requested {
        grant = grant.requested_token_type(requested);
    }
    grant
        .fetch(reqwest_oauth::FetchContext::new(&TokenRequest::new()))
        .await
}

#[tokio::test]
async fn the_issued_token_type_is_checked() {
    within_timeout(async {
        let access = TokenExchange::ACCESS_TOKEN;
        let ok = json!({"access_token": "t", "token_type": "Bearer", "issued_token_type": access});
        answered(ok, Some(access)).await.expect("as asked");

        let missing = json!({"access_token": "t", "token_type": "Bearer"});
        let error = answered(missing, None)
            .await
            .expect_err("no issued_token_type");
        assert!(
            matches!(error, Error::InvalidTokenResponse { .. }),
            "{error:?}"
        );

        let other =
            json!({"access_token": "t", "token_type": "Bearer", "issued_token_type": access});
        let error = answered(other, Some(TokenExchange::JWT))
            .await
            .expect_err("not as asked");
        assert!(error.to_string().contains("asked for"), "{error}");

        // N_A only where the RFC allows it: for a token that is not an
        // access token.
        let n_a = json!({"access_token": "t", "token_type": "N_A", "issued_token_type": access});
        let error = answered(n_a, None)
            .await
            .expect_err("N_A for an access token");
        assert!(matches!(error, Error::UnsupportedTokenType(_)), "{error:?}");
    })
    .await;
}

#[tokio::test]
async fn configuration_mistakes_surface_at_build() {
    let grant = TokenExchange::new(
        "https://sts.example.com/token",
        gateway(),
        SubjectToken::fixed("s"),
        TokenExchange::JWT,
    )
    .param("subject_token", "another");
    let error = OAuthMiddleware::builder(grant)
        .build()
        .expect_err("refused");
    assert!(matches!(error, Error::InvalidSetting { .. }), "{error:?}");

    // An upstream source's own mistakes surface at build() too.
    let upstream = ClientCredentials::new("ftp://idp.example.com/token", "id", "secret");
    let subject = SubjectToken::from_source(upstream, TokenRequest::new());
    let grant = JwtBearer::new("https://sts.example.com/token", gateway(), subject);
    let error = OAuthMiddleware::builder(grant)
        .build()
        .expect_err("refused");
    assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
}

#[tokio::test]
async fn two_subjects_never_share_a_token_in_one_process_or_a_fleet() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let store = MemoryStore::new();
        let alice_token = auth.issue_token("alice", None);
        let bob_token = auth.issue_token("bob", None);
        // One grant per subject; in a fleet, the subject in the namespace.
        let replica = |user: &str, token: &str| {
            let subject = SubjectToken::fixed(token).named(format!("user {user}"));
            let grant = TokenExchange::new(
                auth.token_url(),
                gateway(),
                subject,
                TokenExchange::ACCESS_TOKEN,
            );
            let namespace = format!("orders:{}", grant.subject().name());
            OAuthMiddleware::builder(FleetSource::new(namespace, grant, store.clone()))
                .audience("https://orders.example.com")
                .build()
                .expect("config")
        };
        let alice = replica("alice", &alice_token);
        let bob = replica("bob", &bob_token);
        let alice_again = replica("alice", &alice_token);
        let mut subjects = Vec::new();
        for oauth in [&alice, &bob, &alice_again] {
            echo(client(oauth).get(api.url("/o")).send().await.expect("call")).await;
            let token = oauth.token(oauth.default_key()).await.expect("cached");
            subjects.push(auth.subject_of(token.secret()).expect("issued here"));
        }
        assert_eq!(subjects, ["alice", "bob", "alice"]);
        // Alice's second replica took her shared token; Bob got his own.
        assert_eq!(auth.grant_requests(EXCHANGE), 2);
    })
    .await;
}

#[tokio::test]
async fn an_echoing_endpoint_never_hands_back_a_subject_actor_or_assertion() {
    use common::echo::{Echo, SHAPES, assert_nothing_sent_is_shown, shown};
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Echo::default())
            .mount(&server)
            .await;
        let subject = "subj/+%2F:&=\"MarkSubjectW1==";
        let actor = "act/+ MarkActorV2";
        let assertion = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJNYXJrIn0.MarkAssertionU3sig";
        for shape in SHAPES {
            let url = format!("{}/token/{shape}", server.uri());
            let exchange = TokenExchange::new(
                &url,
                gateway(),
                SubjectToken::fixed(subject),
                TokenExchange::JWT,
            )
            .actor(SubjectToken::fixed(actor), TokenExchange::JWT);
            let bearer = JwtBearer::new(&url, gateway(), SubjectToken::fixed(assertion));
            let errors = [first_error(exchange).await, first_error(bearer).await];
            for error in errors {
                let all = shown(&error).join("\n");
                assert!(
                    all.contains("[redacted]"),
                    "{shape}: nothing echoed, nothing proved: {all}"
                );
                assert_nothing_sent_is_shown(
                    &all,
                    &[subject.into(), actor.into(), assertion.into()],
                    shape,
                );
                for marker in ["MarkSubjectW1", "MarkActorV2", "MarkAssertionU3"] {
                    assert!(
                        !all.contains(marker),
                        "{shape}: {marker} came back in {all}"
                    );
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_debugged_grant_shows_where_its_subject_comes_from_not_the_subject() {
    let grant = TokenExchange::new(
        "https://sts.example.com/token",
        gateway(),
        SubjectToken::fixed("MarkSubjectW1").named("user 42"),
        TokenExchange::ACCESS_TOKEN,
    )
    .actor(
        SubjectToken::fixed("MarkActorV2"),
        TokenExchange::ACCESS_TOKEN,
    );
    let shown = format!("{grant:?}");
    assert!(shown.contains("user 42"), "{shown}");
    assert!(
        !shown.contains("MarkSubjectW1") && !shown.contains("MarkActorV2"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_ahead_exchanges_the_rotated_subject_in_the_background() {
    within_timeout(async {
        let auth = AuthServer::builder()
            .public_client("pod")
            .trust_assertion_key(EC_PUBLIC)
            .token_lifetime(std::time::Duration::from_secs(2))
            .start()
            .await
            .expect("auth");
        let api = ApiServer::start(&auth).await.expect("api");
        let path = scratch_dir("ahead").join("token");
        rotate(&path, &platform_jwt("sts", "pod-a"));
        let grant = TokenExchange::new(
            auth.token_url(),
            ClientIdentity::public("pod"),
            SubjectToken::file(&path),
            TokenExchange::JWT,
        );
        // Half the lifetime (1 s) to refresh in: a call lands in it.
        let oauth = OAuthMiddleware::builder(grant)
            .refresh_ahead(reqwest_oauth::policy::RefreshAhead::Fraction(0.5))
            .build()
            .expect("config");
        let client = client(&oauth);
        echo(client.get(api.url("/1")).send().await.expect("call")).await;
        let rotated = platform_jwt("sts", "pod-a");
        rotate(&path, &rotated);
        // Calls keep succeeding while the token nears its end; one of them
        // starts the background exchange, which reads the rotated file.
        while auth.grant_requests(EXCHANGE) < 2 {
            echo(client.get(api.url("/n")).send().await.expect("call")).await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(sent(&auth, "subject_token"), Some(rotated));
        assert!(
            oauth.stats().background_refreshes >= 1,
            "{:?}",
            oauth.stats()
        );
    })
    .await;
}
