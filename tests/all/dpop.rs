//! DPoP (RFC 9449): keys, proofs, bound tokens, the nonce dance on both
//! sides, against the testkit (which checks every proof) and wiremock.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{CLIENT_ID, CLIENT_SECRET, client, echo, servers, within_timeout};
use reqwest_oauth::dpop::{DpopAlgorithm, DpopKey, jwk_thumbprint};
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

/// The DER inside a PEM fixture.
fn der_of(path: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).expect("fixture");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("fixture")
}

fn text_fixture(path: &str) -> String {
    std::fs::read_to_string(path).expect("fixture")
}

#[test]
fn dpop_keys_of_each_algorithm_carry_exactly_the_rfc_7638_public_members() {
    for (algorithm, members) in [
        (DpopAlgorithm::Es256, &["crv", "kty", "x", "y"][..]),
        (DpopAlgorithm::EdDsa, &["crv", "kty", "x"][..]),
        (DpopAlgorithm::Rs256, &["e", "kty", "n"][..]),
    ] {
        let key = DpopKey::generate_with(algorithm).expect("key");
        assert_eq!(key.algorithm(), algorithm);
        let jwk = key.public_jwk();
        let names: Vec<&str> = jwk
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(names, members, "{algorithm}: only the public members");
        assert_eq!(jwk_thumbprint(jwk).expect("thumbprint"), key.thumbprint());
        let url = "https://api.example.com/x".parse().expect("url");
        let proof = key.proof("GET", &url, Some("tok")).expect("proof");
        let header = part(&proof, 0);
        assert_eq!(header["alg"], algorithm.as_str());
        assert_eq!(&header["jwk"], jwk);
        let shown = format!("{key:?}");
        assert!(shown.contains(key.thumbprint()), "{shown}");
        assert!(
            !shown.contains("\"d\"") && !shown.contains("KeyPair"),
            "{shown}"
        );
    }
    assert_eq!(
        DpopKey::generate().expect("key").algorithm(),
        DpopAlgorithm::Es256
    );
}

#[test]
fn dpop_thumbprints_match_the_rfc_examples() {
    // RFC 7638 section 3.1: `alg` and `kid` are not required members, so
    // they do not count.
    let rsa = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    });
    assert_eq!(
        jwk_thumbprint(&rsa).expect("thumbprint"),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // RFC 8037 appendix A.1 and A.3: the Ed25519 key, imported with its
    // private part, has the thumbprint the RFC gives.
    let ed25519 = r#"{"kty":"OKP","crv":"Ed25519",
        "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
        "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    let key = DpopKey::ed25519_jwk(ed25519).expect("jwk");
    assert_eq!(
        key.thumbprint(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    assert!(matches!(
        jwk_thumbprint(&json!({"kty": "oct", "k": "c2VjcmV0"})),
        Err(Error::InvalidKey { .. })
    ));
    assert!(
        jwk_thumbprint(&json!({"kty": "RSA", "n": "AQAB"})).is_err(),
        "no e"
    );
}

#[test]
fn dpop_keys_import_from_pem_der_and_jwk_for_each_algorithm() {
    let rsa = DpopKey::rs256_pem(&fixture("tests/fixtures/rsa_private.pem")).expect("pkcs8");
    for same in [
        DpopKey::rs256_pem(&fixture("tests/fixtures/rsa_private_pkcs1.pem")).expect("pkcs1"),
        DpopKey::rs256_der(&der_of("tests/fixtures/rsa_private.pem")).expect("der"),
        DpopKey::rs256_der(&der_of("tests/fixtures/rsa_private_pkcs1.pem")).expect("pkcs1 der"),
        DpopKey::rs256_jwk(&text_fixture("tests/fixtures/rsa_private.jwk")).expect("jwk"),
    ] {
        assert!(rsa.same_key(&same));
        assert_eq!(same.algorithm(), DpopAlgorithm::Rs256);
    }
    let ec = DpopKey::es256_pem(&fixture("tests/fixtures/ec_private.pem")).expect("pkcs8");
    for same in [
        DpopKey::es256_pem(&fixture("tests/fixtures/ec_private_sec1.pem")).expect("sec1"),
        DpopKey::es256_der(&der_of("tests/fixtures/ec_private.pem")).expect("der"),
        DpopKey::es256_jwk(&text_fixture("tests/fixtures/ec_private.jwk")).expect("jwk"),
    ] {
        assert!(ec.same_key(&same));
    }
    let ed = DpopKey::ed25519_pem(&fixture("tests/fixtures/ed25519_private.pem")).expect("pem");
    let ed_der = DpopKey::ed25519_der(&der_of("tests/fixtures/ed25519_private.pem")).expect("der");
    assert!(ed.same_key(&ed_der));
    assert_eq!(ed.algorithm(), DpopAlgorithm::EdDsa);
}

#[test]
fn dpop_keys_refuse_another_algorithms_key_or_an_inconsistent_jwk() {
    let refused = |result: Result<DpopKey, Error>, what: &str| match result {
        Err(Error::InvalidKey { reason }) => reason,
        other => panic!("{what}: {other:?}"),
    };
    let rsa = fixture("tests/fixtures/rsa_private.pem");
    let ec_sec1 = fixture("tests/fixtures/ec_private_sec1.pem");
    refused(DpopKey::es256_pem(&rsa), "RSA as ES256");
    refused(DpopKey::ed25519_pem(&rsa), "RSA as EdDSA");
    let reason = refused(DpopKey::rs256_pem(&ec_sec1), "SEC1 as RS256");
    assert!(reason.contains("EC key"), "{reason}");
    refused(
        DpopKey::rs256_jwk(&text_fixture("tests/fixtures/ec_private.jwk")),
        "EC JWK as RS256",
    );
    // A JWK whose members do not belong together.
    let mut jwk: Value =
        serde_json::from_str(&text_fixture("tests/fixtures/rsa_private.jwk")).expect("json");
    jwk["qi"] = jwk["dp"].clone();
    let reason = refused(DpopKey::rs256_jwk(&jwk.to_string()), "RSA with a wrong qi");
    assert!(
        !reason.contains(jwk["d"].as_str().expect("d")),
        "never quotes the key"
    );
    jwk.as_object_mut().expect("object").remove("qi");
    let reason = refused(DpopKey::rs256_jwk(&jwk.to_string()), "RSA without qi");
    assert!(reason.contains("qi"), "{reason}");
    let other_x = r#"{"kty":"OKP","crv":"Ed25519",
        "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
        "x":"s7WP3OjUPn2j79Aia1OtOLAoD5yGdvRNVM9EH5tCcgw"}"#;
    refused(DpopKey::ed25519_jwk(other_x), "Ed25519 with another x");
}

#[tokio::test]
async fn dpop_every_algorithm_binds_tokens_and_proves_requests_end_to_end() {
    within_timeout(async {
        let keys = [
            DpopKey::generate().expect("es256"),
            DpopKey::ed25519_pem(&fixture("tests/fixtures/ed25519_private.pem")).expect("eddsa"),
            DpopKey::rs256_pem(&fixture("tests/fixtures/rsa_private.pem")).expect("rs256"),
        ];
        for key in keys {
            let algorithm = key.algorithm();
            let (auth, api) = servers().await;
            let oauth = dpop_middleware(&auth, &key);
            let http = client(&oauth);
            // The testkit verifies each proof with the JWK in its header.
            echo(http.get(api.url("/a?x=1")).send().await.expect("call")).await;
            echo(
                http.post(api.url("/b"))
                    .body("x")
                    .send()
                    .await
                    .expect("call"),
            )
            .await;
            let token = oauth.token(oauth.default_key()).await.expect("token");
            assert_eq!(token.token_type(), "DPoP", "{algorithm}");
            // The server's own RFC 7638 thumbprint of the proof's key.
            assert_eq!(
                auth.dpop_jkt(token.secret()).as_deref(),
                Some(key.thumbprint()),
                "{algorithm}: bound to this key"
            );
            assert_eq!(api.rejections(), 0, "{algorithm}");
            assert_eq!(auth.token_requests(), 1, "{algorithm}");
            // One proof's header and claims with another's signature (same
            // key, same binding, fresh jti): refused for the signature
            // alone, while the other proof itself is accepted.
            let url = api.url("/c").parse().expect("url");
            let first = key.proof("GET", &url, Some(token.secret())).expect("proof");
            let second = key.proof("GET", &url, Some(token.secret())).expect("proof");
            let (signed, _) = first.rsplit_once('.').expect("jws");
            let (_, signature) = second.rsplit_once('.').expect("jws");
            let send = |proof: String| {
                reqwest::Client::new()
                    .get(api.url("/c"))
                    .header("authorization", format!("DPoP {}", token.secret()))
                    .header("dpop", proof)
                    .send()
            };
            let forged = send(format!("{signed}.{signature}")).await.expect("call");
            assert_eq!(forged.status(), 401, "{algorithm}: a forged proof");
            assert_eq!(
                send(second).await.expect("call").status(),
                200,
                "{algorithm}"
            );
        }
    })
    .await;
}

/// A grant at `auth`'s discovered endpoint with `dpop` applied, and a
/// clone of the endpoint (sharing its key) to look at afterwards.
fn discovered(
    auth: &AuthServer,
    dpop: impl FnOnce(TokenEndpoint) -> TokenEndpoint,
) -> (OAuthMiddleware, TokenEndpoint) {
    let identity = ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET);
    let endpoint = dpop(TokenEndpoint::discover(auth.issuer(), identity));
    (
        OAuthMiddleware::new(ClientCredentials::at(endpoint.clone())),
        endpoint,
    )
}

async fn auth_accepting(algs: &[&str]) -> AuthServer {
    AuthServer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .dpop_algs(algs.iter().copied())
        .start()
        .await
        .expect("auth")
}

#[tokio::test]
async fn dpop_discovery_picks_the_generated_keys_algorithm_and_refuses_a_given_key_it_lacks() {
    within_timeout(async {
        for (listed, chosen) in [
            (&["RS256", "ES256"][..], DpopAlgorithm::Es256),
            (&["RS256", "EdDSA"][..], DpopAlgorithm::EdDsa),
            (&["RS256"][..], DpopAlgorithm::Rs256),
        ] {
            let auth = auth_accepting(listed).await;
            let api = reqwest_oauth::testkit::ApiServer::start(&auth).await.expect("api");
            let (oauth, endpoint) = discovered(&auth, TokenEndpoint::dpop_generated);
            assert!(endpoint.dpop_key().is_none(), "not made before it is needed");
            echo(client(&oauth).get(api.url("/")).send().await.expect("call")).await;
            let key = endpoint.dpop_key().expect("generated on first use");
            assert_eq!(key.algorithm(), chosen, "{listed:?}");
            let token = oauth.token(oauth.default_key()).await.expect("token");
            assert_eq!(auth.dpop_jkt(token.secret()).as_deref(), Some(key.thumbprint()));
        }

        // A given key the server does not list: refused before anything is sent.
        let auth = auth_accepting(&["RS256"]).await;
        let es256 = DpopKey::generate().expect("key");
        let (oauth, _) = discovered(&auth, |endpoint| endpoint.dpop(es256));
        let error = oauth.token(oauth.default_key()).await.expect_err("no common alg");
        assert!(
            matches!(error, Error::InvalidKey { ref reason } if reason.contains("ES256") && reason.contains("RS256")),
            "{error:?}"
        );
        // Nothing we sign with: no key is made, nothing is sent.
        let auth = auth_accepting(&["PS256"]).await;
        let (oauth, endpoint) = discovered(&auth, TokenEndpoint::dpop_generated);
        let error = oauth.token(oauth.default_key()).await.expect_err("nothing in common");
        assert!(matches!(error, Error::InvalidKey { .. }), "{error:?}");
        assert!(endpoint.dpop_key().is_none());
        assert_eq!(auth.token_requests(), 0);

        // Not discovered: nothing is known of the server, so ES256.
        let auth = auth_accepting(&["ES256"]).await;
        let identity = ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET);
        let endpoint = TokenEndpoint::new(auth.token_url(), identity).dpop_generated();
        let oauth = OAuthMiddleware::new(ClientCredentials::at(endpoint.clone()));
        oauth.token(oauth.default_key()).await.expect("token");
        let key = endpoint.dpop_key().expect("generated");
        assert_eq!(key.algorithm(), DpopAlgorithm::Es256);
    })
    .await;
}

/// The crate's error inside a middleware error.
fn oauth_error(error: &reqwest_middleware::Error) -> &Error {
    Error::from_middleware(error).expect("the middleware's own error")
}

#[tokio::test]
async fn dpop_api_refusing_the_proof_is_a_typed_error_and_renews_nothing() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let key = DpopKey::generate().expect("key");
        let oauth = dpop_middleware(&auth, &key);
        let http = client(&oauth);
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        // The API's clock is ten minutes fast: every proof is too old.
        api.set_dpop_clock_offset(600);
        for _ in 0..3 {
            let error = http
                .get(api.url("/orders?page=1"))
                .send()
                .await
                .expect_err("refused");
            crate::common::assert_proof_refused_for_its_time(oauth_error(&error), &api.origin());
            assert!(
                error.to_string().contains("iat outside the window"),
                "{error}"
            );
        }
        assert_eq!(auth.token_requests(), 1, "a refused proof renews no token");
        assert_eq!(api.requests(), 4, "and replays nothing");
        assert_eq!(oauth.stats().replays, 0);
        // The clock put right, the same token works.
        api.set_dpop_clock_offset(0);
        echo(http.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn dpop_proof_refused_after_the_nonce_replay_is_the_same_typed_error() {
    within_timeout(async {
        let (auth, _) = servers().await;
        let api = MockServer::start().await;
        let challenge = |error: &str| format!(r#"DPoP error="{error}", error_description="{error} here""#);
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(401)
                    .insert_header("www-authenticate", challenge("use_dpop_nonce"))
                    .insert_header("dpop-nonce", "n-1"),
            )
            .up_to_n_times(1)
            .mount(&api)
            .await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(401)
                    .insert_header("www-authenticate", challenge("invalid_dpop_proof")),
            )
            .mount(&api)
            .await;
        let key = DpopKey::generate().expect("key");
        let oauth = dpop_middleware(&auth, &key);
        let error = client(&oauth).get(api.uri()).send().await.expect_err("refused");
        assert!(
            matches!(
                oauth_error(&error),
                Error::DpopProofRejected { description: Some(d), .. } if d == "invalid_dpop_proof here"
            ),
            "{error:?}"
        );
        let sent = api.received_requests().await.expect("recorded");
        assert_eq!(sent.len(), 2, "the nonce replay, then no more");
        let proof = sent[1].headers["dpop"].to_str().expect("proof");
        assert_eq!(part(proof, 1)["nonce"], "n-1");
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn dpop_token_endpoint_refusing_the_proof_is_the_same_typed_error() {
    within_timeout(async {
        // A clock the authorization server finds ten minutes slow.
        let (auth, _) = servers().await;
        auth.set_dpop_clock_offset(-600);
        let oauth = dpop_middleware(&auth, &DpopKey::generate().expect("key"));
        let error = oauth.token(oauth.default_key()).await.expect_err("refused");
        let Error::DpopProofRejected {
            origin,
            status,
            description,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(origin, &auth.issuer());
        assert_eq!(*status, 400);
        assert_eq!(description.as_deref(), Some("iat outside the window"));
        assert!(!error.is_transient());
        assert_eq!(auth.token_requests(), 1, "not retried");
        let again = oauth
            .token(oauth.default_key())
            .await
            .expect_err("cooling down");
        assert!(matches!(again, Error::CoolingDown { .. }), "{again:?}");
        assert!(again.is_dpop_proof_rejected());
        assert_eq!(
            auth.token_requests(),
            1,
            "not asked again during the cooldown"
        );

        // A key in an algorithm the server does not take, sent without
        // discovery to warn first: refused by the server, the same way.
        let auth = auth_accepting(&["RS256"]).await;
        let oauth = dpop_middleware(&auth, &DpopKey::generate().expect("key"));
        let error = oauth.token(oauth.default_key()).await.expect_err("refused");
        assert!(
            matches!(error, Error::DpopProofRejected { .. }),
            "{error:?}"
        );
    })
    .await;
}

/// Everything written by `tracing` while it is set, as text.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

/// `stats` as the `metrics` facade receives it: each counter by name.
fn recorded_counters(stats: reqwest_oauth::Stats) -> std::collections::HashMap<String, u64> {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // This thread only: the binary's other tests install no recorder.
    metrics::with_local_recorder(&recorder, || stats.record_metrics("orders"));
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(count) => Some((key.key().name().to_owned(), count)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn dpop_nonce_replays_are_counted_apart_from_token_rejections() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime runs every task on this thread.
    let _events = tracing::subscriber::set_default(subscriber);
    within_timeout(async {
        use reqwest_oauth::policy::ReplayOutcome;
        let (auth, api) = servers().await;
        let oauth = dpop_middleware(&auth, &DpopKey::generate().expect("key"));
        let http = client(&oauth);
        for nonce in ["n-1", "n-2"] {
            // The API rotates its nonce: one replay each, same token.
            api.require_dpop_nonce(Some(nonce));
            let response = http.get(api.url("/")).send().await.expect("call");
            let outcome = response.extensions().get::<ReplayOutcome>().copied();
            assert_eq!(outcome, Some(ReplayOutcome::DpopNonce));
            echo(response).await;
        }
        auth.revoke_all();
        let response = http.get(api.url("/")).send().await.expect("call");
        let outcome = response.extensions().get::<ReplayOutcome>().copied();
        assert_eq!(outcome, Some(ReplayOutcome::Replayed), "a refused token");
        echo(response).await;

        let stats = oauth.stats();
        assert_eq!(stats.dpop_nonce_replays, 2);
        assert_eq!(stats.replays, 1, "only the refused token");
        assert_eq!(auth.tokens_issued(), 2);
        let counters = recorded_counters(stats);
        assert_eq!(counters["reqwest_oauth_dpop_nonce_replays_total"], 2);
        assert_eq!(counters["reqwest_oauth_replays_total"], 1);
    })
    .await;
    let events = captured.text();
    let nonce_events = events.matches(r#"replay="dpop_nonce""#).count();
    assert_eq!(nonce_events, 2, "{events}");
    assert_eq!(events.matches(r#"replay="renewed""#).count(), 1, "{events}");
}
