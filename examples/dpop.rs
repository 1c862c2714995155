//! DPoP (RFC 9449): tokens bound to a key this process holds. Every token
//! request and every API request carries a fresh signed proof, so a leaked
//! token is useless without the key. Needs the `dpop` feature (on for the
//! crate's own examples and tests).
//!
//! Against the testkit, whose authorization server binds tokens to the
//! proof's key and whose API checks every proof; both demand a nonce, so
//! the example also shows the nonce dance: one extra round trip on each
//! side, once, then none.
//!
//! ```text
//! cargo run --example dpop
//! ```

use reqwest_oauth::dpop::DpopKey;
use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthServer::builder()
        .client("app", "secret")
        .start()
        .await?;
    let api = ApiServer::start(&auth).await?;
    auth.require_dpop_nonce(Some("as-nonce"));
    api.require_dpop_nonce(Some("api-nonce"));

    // A P-256 (ES256) key generated in memory; `generate_with` makes an
    // EdDSA or RS256 one, and `es256_pem`, `ed25519_jwk`, `rs256_der` and
    // the like load one kept elsewhere (so that replicas, or restarts,
    // share it). `TokenEndpoint::dpop_generated` picks the algorithm from
    // the server's metadata instead.
    let key = DpopKey::generate()?;
    println!(
        "DPoP key thumbprint (the tokens' cnf.jkt): {}",
        key.thumbprint()
    );
    let endpoint = TokenEndpoint::new(auth.token_url(), ClientIdentity::secret("app", "secret"))
        .dpop(key.clone());
    let oauth = OAuthMiddleware::new(ClientCredentials::at(endpoint));
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(oauth.clone())
        .build();

    for page in 1..=3 {
        let response = client
            .get(api.url(&format!("/orders?page={page}")))
            .send()
            .await?;
        println!("GET /orders?page={page} -> {}", response.status());
    }
    let token = oauth.token(oauth.default_key()).await?;
    println!("token type: {}", token.token_type());
    println!(
        "token requests: {} (one refused for its nonce); API requests: {} (one replayed for its nonce)",
        auth.token_requests(),
        api.requests()
    );

    // What a thief holding only the token gets: the API wants a proof from
    // the key the token is bound to.
    let stolen = reqwest::Client::new()
        .get(api.url("/orders"))
        .header("authorization", format!("DPoP {}", token.secret()))
        .send()
        .await?;
    println!("the token without the key -> {}", stolen.status());
    Ok(())
}
