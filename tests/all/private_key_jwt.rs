//! `private_key_jwt` client authentication: a signed assertion (RS256 and
//! ES256) with a fresh `jti` and a short `exp` on every token request, and
//! no secret.

use crate::common;

use std::collections::HashSet;

use common::within_timeout;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::endpoint::{ClientAuth, PrivateKeyJwt, TokenEndpoint};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../fixtures/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../fixtures/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../fixtures/ec_public.pem");

async fn assertions_sent(key: PrivateKeyJwt) -> (String, Vec<String>) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 3600})))
        .mount(&server)
        .await;
    let token_url = format!("{}/oauth/token", server.uri());
    let oauth = OAuthMiddleware::new(ClientCredentials::with_private_key_jwt(
        &token_url,
        "my-client",
        key,
    ));
    for audience in ["a", "b"] {
        oauth
            .token(&reqwest_oauth::TokenRequest::new().with_audience(audience))
            .await
            .expect("the server accepted the assertion");
    }
    let mut sent = Vec::new();
    for request in server.received_requests().await.expect("recorded") {
        let params: Vec<(String, String)> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("client_id").as_deref(), Some("my-client"));
        assert_eq!(get("client_secret"), None);
        assert!(
            !request.headers.contains_key("authorization"),
            "Basic sent alongside the assertion"
        );
        sent.push(get("client_assertion").expect("an assertion"));
    }
    (token_url, sent)
}

fn verify(assertion: &str, public: &DecodingKey, algorithm: Algorithm, token_url: &str) -> Value {
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&["my-client"]);
    jsonwebtoken::decode::<Value>(assertion, public, &validation)
        .expect("a valid signature and claims")
        .claims
}

#[tokio::test]
async fn rs256_and_es256_assertions_are_signed_fresh_and_short_lived() {
    within_timeout(async {
        let cases = [
            (
                PrivateKeyJwt::rs256_pem(RSA_PRIVATE).expect("rsa key"),
                DecodingKey::from_rsa_pem(RSA_PUBLIC).expect("rsa pub"),
                Algorithm::RS256,
            ),
            (
                PrivateKeyJwt::es256_pem(EC_PRIVATE)
                    .expect("ec key")
                    .key_id("k1"),
                DecodingKey::from_ec_pem(EC_PUBLIC).expect("ec pub"),
                Algorithm::ES256,
            ),
        ];
        for (key, public, algorithm) in cases {
            let (token_url, sent) = assertions_sent(key).await;
            assert_eq!(sent.len(), 2);
            let mut jtis = HashSet::new();
            for assertion in &sent {
                let claims = verify(assertion, &public, algorithm, &token_url);
                assert_eq!(claims["sub"], "my-client");
                let lifetime =
                    claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat");
                assert!(lifetime <= 60, "{lifetime} s");
                jtis.insert(claims["jti"].as_str().expect("jti").to_owned());
            }
            assert_eq!(jtis.len(), 2, "a jti was reused");
            if algorithm == Algorithm::ES256 {
                let header = jsonwebtoken::decode_header(&sent[0]).expect("header");
                assert_eq!(header.kid.as_deref(), Some("k1"));
            }
        }
    })
    .await;
}

#[test]
fn a_key_that_is_not_a_key_is_a_config_error() {
    assert!(matches!(
        PrivateKeyJwt::rs256_pem(b"not a pem"),
        Err(reqwest_oauth::Error::InvalidKey { .. })
    ));
    assert!(matches!(
        PrivateKeyJwt::es256_pem(RSA_PRIVATE),
        Err(reqwest_oauth::Error::InvalidKey { .. })
    ));
}

/// A `private_key_jwt` client has no secret to send: asking for Basic
/// afterwards (or in any order) adds nothing. The old
/// `TokenEndpoint::new(url).private_key_jwt(key).client("id", Some(secret))`,
/// which sent Basic and an assertion, no longer has a spelling: the identity
/// is one of `Public`, `Secret` or `PrivateKeyJwt`.
#[tokio::test]
async fn a_signed_client_sends_only_its_assertion_whatever_auth_is_asked_for() {
    within_timeout(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t"})))
            .mount(&server)
            .await;
        let key = PrivateKeyJwt::es256_pem(EC_PRIVATE).expect("key");
        let identity = ClientIdentity::private_key_jwt("my-client", key).auth(ClientAuth::Basic);
        let grant = ClientCredentials::at(TokenEndpoint::new(server.uri(), identity))
            .client_auth(ClientAuth::BasicUnencoded);
        OAuthMiddleware::new(grant)
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect("token");
        let request = &server.received_requests().await.expect("recorded")[0];
        assert!(!request.headers.contains_key("authorization"));
        let params: Vec<(String, String)> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "client_assertion_type",
                "client_assertion",
                "client_id",
                "grant_type"
            ]
        );
    })
    .await;
}
