//! `private_key_jwt` client authentication (RFC 7523, OpenID Connect): the
//! client proves itself with a short-lived JWT signed by its private key,
//! and no secret ever leaves the process. Needs the `private-key-jwt`
//! feature (on for the crate's own examples and tests).
//!
//! The token endpoint here is a `wiremock` server that checks the assertion
//! type; the example then verifies the assertion it received with the
//! public key, as an authorization server would.
//!
//! ```text
//! cargo run --example private_key_jwt
//! ```

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest_oauth::endpoint::PrivateKeyJwt;
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PRIVATE_KEY: &[u8] = include_bytes!("../tests/fixtures/rsa_private.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("../tests/fixtures/rsa_public.pem");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains(
            "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "issued-for-a-signed-client", "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    let token_url = format!("{}/oauth/token", server.uri());

    // The key is read once; a fresh assertion (new jti, 60 s expiry) is
    // signed for every token request.
    let key = PrivateKeyJwt::rs256_pem(PRIVATE_KEY)?.key_id("key-2026-11");
    let grant = ClientCredentials::with_private_key_jwt(&token_url, "signed-client", key);
    let oauth = OAuthMiddleware::new(grant);
    let token = oauth.token(oauth.default_key()).await?;
    println!("token received: {} characters", token.secret().len());

    let requests = server.received_requests().await.unwrap_or_default();
    let body = requests.first().map(|r| r.body.clone()).unwrap_or_default();
    let assertion = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "client_assertion")
        .map(|(_, value)| value.into_owned())
        .ok_or("no client_assertion sent")?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&token_url]);
    let claims = jsonwebtoken::decode::<Value>(
        &assertion,
        &DecodingKey::from_rsa_pem(PUBLIC_KEY)?,
        &validation,
    )?
    .claims;
    println!("the assertion verifies with the public key; its claims:");
    for name in ["iss", "sub", "aud", "jti", "iat", "exp"] {
        println!("  {name}: {}", claims[name]);
    }
    Ok(())
}
