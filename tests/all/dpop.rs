//! DPoP (RFC 9449): keys, proofs, bound tokens, the nonce dance on both
//! sides, against the testkit (which checks every proof) and wiremock.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{CLIENT_ID, CLIENT_SECRET, client, echo, servers, within_timeout};
use reqwest_oauth::dpop::DpopKey;
use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
use reqwest_oauth::testkit::AuthServer;
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn dpop_grant(token_url: String, key: &DpopKey) -> ClientCredentials {
    let identity = ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET);
    ClientCredentials::at(TokenEndpoint::new(token_url, identity).dpop(key.clone()))
}

fn dpop_middleware(auth: &AuthServer, key: &DpopKey) -> OAuthMiddleware {
    OAuthMiddleware::new(dpop_grant(auth.token_url(), key))
}

fn part(jwt: &str, index: usize) -> Value {
    let segment = jwt.split('.').nth(index).expect("segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("json")
}

#[test]
fn dpop_key_proofs_carry_the_rfc_header_and_claims() {
    let key = DpopKey::generate().expect("key");
    let url = "https://api.example.com/a?secret=1#f".parse().expect("url");
    let first = key.proof("GET", &url, Some("tok")).expect("proof");
    let second = key.proof("GET", &url, Some("tok")).expect("proof");
    let header = part(&first, 0);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(&header["jwk"], key.public_jwk());
    assert!(header["jwk"].get("d").is_none(), "no private part");
    let claims = part(&first, 1);
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], "https://api.example.com/a");
    assert!(claims["iat"].as_u64().is_some());
    assert!(claims["ath"].as_str().is_some_and(|a| a.len() == 43));
    assert!(claims.get("nonce").is_none());
    assert_ne!(
        claims["jti"],
        part(&second, 1)["jti"],
        "a fresh jti per proof"
    );
}

#[test]
fn dpop_keys_import_from_pem_and_never_show_the_private_part() {
    let pem = std::fs::read("tests/fixtures/ec_private.pem").expect("fixture");
    let a = DpopKey::es256_pem(&pem).expect("pem");
    let b = DpopKey::es256_pem(&pem).expect("pem");
    assert!(a.same_key(&b));
    assert!(!a.same_key(&DpopKey::generate().expect("key")));
    let shown = format!("{a:?}");
    assert!(
        shown.contains(a.thumbprint()) && !shown.contains("\"d\""),
        "{shown}"
    );
    assert!(matches!(
        DpopKey::es256_pem(b"nope"),
        Err(Error::InvalidKey { .. })
    ));
    let rsa = std::fs::read("tests/fixtures/rsa_private.pem").unwrap_or_default();
    assert!(DpopKey::es256_pem(&rsa).is_err());
}

#[tokio::test]
async fn dpop_tokens_are_bound_and_every_request_carries_a_checked_proof() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let key = DpopKey::generate().expect("key");
        let oauth = dpop_middleware(&auth, &key);
        let http = client(&oauth);
        for _ in 0..3 {
            // The API checks signature, htm, htu, iat, jti (unseen), ath.
            echo(
                http.get(api.url("/things?page=2"))
                    .send()
                    .await
                    .expect("call"),
            )
            .await;
        }
        echo(
            http.post(api.url("/things"))
                .body("x")
                .send()
                .await
                .expect("call"),
        )
        .await;
        let token = oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(token.token_type(), "DPoP");
        assert!(token.header_value().as_bytes().starts_with(b"DPoP "));
        assert_eq!(auth.tokens_issued(), 1);
        assert_eq!(api.rejections(), 0);
    })
    .await;
}

#[tokio::test]
async fn dpop_token_endpoint_nonce_sends_the_token_request_again_once() {
    within_timeout(async {
        let (auth, api) = servers().await;
        auth.require_dpop_nonce(Some("as-nonce-1"));
        let key = DpopKey::generate().expect("key");
        let http = client(&dpop_middleware(&auth, &key));
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(
            auth.token_requests(),
            2,
            "refused once, then with the nonce"
        );
        assert_eq!(auth.tokens_issued(), 1);
    })
    .await;
}

#[tokio::test]
async fn dpop_api_nonce_replays_once_with_the_same_token_and_is_remembered() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.require_dpop_nonce(Some("rs-nonce-1"));
        let key = DpopKey::generate().expect("key");
        let http = client(&dpop_middleware(&auth, &key));
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(api.requests(), 2, "use_dpop_nonce, then the replay");
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(api.requests(), 3, "the nonce was remembered");
        api.require_dpop_nonce(Some("rs-nonce-2"));
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(api.requests(), 5, "a rotated nonce costs one replay");
        assert_eq!(auth.tokens_issued(), 1, "never a new token for a nonce");
    })
    .await;
}

#[tokio::test]
async fn dpop_rejected_token_is_renewed_and_replayed_with_a_new_proof() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let key = DpopKey::generate().expect("key");
        let http = client(&dpop_middleware(&auth, &key));
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        auth.revoke_all();
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.tokens_issued(), 2);
        assert_eq!(api.rejections(), 1);
    })
    .await;
}

#[tokio::test]
async fn dpop_bound_token_sent_by_another_key_is_refused() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let key = DpopKey::generate().expect("key");
        let oauth = dpop_middleware(&auth, &key);
        let token = oauth.token(oauth.default_key()).await.expect("token");
        let thief = DpopKey::generate().expect("key");
        let url = api.url("/").parse().expect("url");
        let proof = thief
            .proof("GET", &url, Some(token.secret()))
            .expect("proof");
        let stolen = reqwest::Client::new()
            .get(api.url("/"))
            .header("authorization", format!("DPoP {}", token.secret()))
            .header("dpop", proof)
            .send()
            .await
            .expect("call");
        assert_eq!(stolen.status(), 401);
        let as_bearer = reqwest::Client::new()
            .get(api.url("/"))
            .bearer_auth(token.secret())
            .send()
            .await
            .expect("call");
        assert_eq!(as_bearer.status(), 401);
    })
    .await;
}

async fn endpoint_answering(body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn dpop_bearer_answer_is_a_downgrade_unless_allowed() {
    within_timeout(async {
        let server = endpoint_answering(json!({"access_token": "b", "token_type": "Bearer"})).await;
        let key = DpopKey::generate().expect("key");
        let url = format!("{}/token", server.uri());
        let strict = OAuthMiddleware::new(dpop_grant(url.clone(), &key));
        let error = strict
            .token(strict.default_key())
            .await
            .expect_err("downgrade");
        assert!(matches!(error, Error::DpopDowngrade), "{error:?}");
        let identity = ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET);
        let endpoint = TokenEndpoint::new(url, identity)
            .dpop(key)
            .dpop_allow_bearer();
        let lenient = OAuthMiddleware::new(ClientCredentials::at(endpoint));
        let token = lenient.token(lenient.default_key()).await.expect("allowed");
        assert_eq!(token.token_type(), "Bearer");
        let sent = &server.received_requests().await.expect("recorded")[0];
        assert!(
            sent.headers.contains_key("dpop"),
            "token requests carry a proof"
        );
    })
    .await;
}

#[tokio::test]
async fn dpop_token_type_without_dpop_on_is_refused() {
    within_timeout(async {
        let server = endpoint_answering(json!({"access_token": "d", "token_type": "DPoP"})).await;
        let grant = ClientCredentials::new(format!("{}/t", server.uri()), CLIENT_ID, CLIENT_SECRET);
        let oauth = OAuthMiddleware::new(grant);
        let error = oauth.token(oauth.default_key()).await.expect_err("refused");
        assert!(
            matches!(error, Error::UnsupportedTokenType(ref t) if t == "DPoP"),
            "{error:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn dpop_refresh_requests_carry_proofs_and_renew_bound_tokens() {
    within_timeout(async {
        let auth = AuthServer::builder()
            .public_client("app")
            .user("ana", "pw")
            .refresh_tokens(reqwest_oauth::testkit::RefreshTokens::Rotating)
            .start()
            .await
            .expect("auth");
        let api = reqwest_oauth::testkit::ApiServer::start(&auth)
            .await
            .expect("api");
        let key = DpopKey::generate().expect("key");
        let endpoint = TokenEndpoint::new(auth.token_url(), ClientIdentity::public("app"));
        let grant = reqwest_oauth::PasswordGrant::at(endpoint.dpop(key), "ana", "pw");
        let oauth = OAuthMiddleware::new(grant);
        let http = client(&oauth);
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        oauth.invalidate(oauth.default_key());
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(
            auth.grant_requests("refresh_token"),
            1,
            "renewed by refresh"
        );
        let token = oauth.token(oauth.default_key()).await.expect("token");
        // The testkit binds only a request with a valid proof.
        assert_eq!(token.token_type(), "DPoP");
    })
    .await;
}

#[tokio::test]
async fn dpop_discovery_checks_the_servers_algorithms() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let key = DpopKey::generate().expect("key");
        let identity = ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET);
        let endpoint = TokenEndpoint::discover(auth.issuer(), identity.clone()).dpop(key.clone());
        let http = client(&OAuthMiddleware::new(ClientCredentials::at(endpoint)));
        echo(http.get(api.url("/")).send().await.expect("call")).await;

        let issuer = MockServer::start().await;
        let metadata = json!({
            "issuer": issuer.uri(),
            "token_endpoint": format!("{}/token", issuer.uri()),
            "dpop_signing_alg_values_supported": ["RS256", "EdDSA"],
        });
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(metadata))
            .mount(&issuer)
            .await;
        let endpoint = TokenEndpoint::discover(issuer.uri(), identity).dpop(key);
        let oauth = OAuthMiddleware::new(ClientCredentials::at(endpoint));
        let error = oauth
            .token(oauth.default_key())
            .await
            .expect_err("no common alg");
        assert!(
            matches!(error, Error::InvalidKey { ref reason } if reason.contains("RS256")),
            "{error:?}"
        );
    })
    .await;
}

/// A replica: the grant with `key` on its endpoint, through a fleet source
/// over `store` that shares DPoP tokens for `fleet_key` (if any).
fn replica(
    auth: &AuthServer,
    store: &reqwest_oauth::fleet::MemoryStore,
    key: &DpopKey,
    fleet_key: Option<&DpopKey>,
) -> reqwest_middleware::ClientWithMiddleware {
    use reqwest_oauth::fleet::FleetSource;
    let source = FleetSource::new("orders", dpop_grant(auth.token_url(), key), store.clone());
    let source = match fleet_key {
        Some(fleet_key) => source.dpop(fleet_key.clone()),
        None => source,
    };
    client(&OAuthMiddleware::new(source))
}

#[tokio::test]
async fn dpop_fleet_shares_a_bound_token_only_between_replicas_with_the_same_key() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let store = reqwest_oauth::fleet::MemoryStore::new();
        let shared = DpopKey::generate().expect("key");
        let a = replica(&auth, &store, &shared, Some(&shared));
        let b = replica(&auth, &store, &shared, Some(&shared));
        echo(a.get(api.url("/")).send().await.expect("call")).await;
        echo(b.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.tokens_issued(), 1, "same key: one token for both");

        let other = DpopKey::generate().expect("key");
        let c = replica(&auth, &store, &other, Some(&other));
        echo(c.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.tokens_issued(), 2, "another key: a token of its own");

        // A fleet source told of no key never publishes a bound token.
        let d = replica(&auth, &store, &other, None);
        let e = replica(&auth, &store, &other, None);
        echo(d.get(api.url("/")).send().await.expect("call")).await;
        echo(e.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.tokens_issued(), 4, "unshared: one each");
        assert_eq!(api.rejections(), 0);
    })
    .await;
}

#[test]
fn dpop_error_codes_are_typed() {
    use reqwest_oauth::endpoint::ErrorCode;
    for (code, typed) in [
        ("invalid_dpop_proof", ErrorCode::InvalidDpopProof),
        ("use_dpop_nonce", ErrorCode::UseDpopNonce),
    ] {
        assert_eq!(ErrorCode::parse(code), typed);
        assert_eq!(typed.as_str(), code);
    }
}

#[tokio::test]
async fn dpop_testkit_api_refuses_a_replayed_or_mismatched_proof() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let key = DpopKey::generate().expect("key");
        let oauth = dpop_middleware(&auth, &key);
        let token = oauth.token(oauth.default_key()).await.expect("token");
        let url = api.url("/orders").parse().expect("url");
        let send = |proof: String| {
            reqwest::Client::new()
                .get(api.url("/orders"))
                .header("authorization", format!("DPoP {}", token.secret()))
                .header("dpop", proof)
                .send()
        };
        let proof = key.proof("GET", &url, Some(token.secret())).expect("proof");
        assert_eq!(send(proof.clone()).await.expect("call").status(), 200);
        let cases = [
            (proof, "a replayed jti"),
            (
                key.proof("POST", &url, Some(token.secret()))
                    .expect("proof"),
                "htm",
            ),
            (
                key.proof("GET", &url, Some("other-token")).expect("proof"),
                "ath",
            ),
            (key.proof("GET", &url, None).expect("proof"), "no ath"),
        ];
        for (proof, what) in cases {
            let refused = send(proof).await.expect("call");
            assert_eq!(refused.status(), 401, "{what}");
            let challenge = refused.headers()["www-authenticate"]
                .to_str()
                .expect("text");
            assert!(
                challenge.contains(r#"error="invalid_dpop_proof""#),
                "{what}: {challenge}"
            );
        }
    })
    .await;
}
