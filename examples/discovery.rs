//! Discovery: give the issuer URL, not the token endpoint. The middleware
//! reads the issuer's OpenID Connect metadata (RFC 8414 as a fallback) on
//! the first request, once, and picks the client authentication it lists.
//!
//! ```text
//! cargo run --example discovery
//! ```

use reqwest_middleware::ClientBuilder;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthServer::builder()
        .client("reports", "reports-secret")
        .start()
        .await?;
    let api = ApiServer::start(&auth).await?;

    // In production: ClientCredentials::discover("https://login.example.com/tenant", …)
    let issuer = auth.issuer();
    println!("issuer: {issuer}");
    let grant = ClientCredentials::discover(&issuer, "reports", "reports-secret");
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(OAuthMiddleware::new(grant))
        .build();

    println!(
        "before the first call: {} token requests (discovery is lazy too)",
        auth.token_requests()
    );
    for path in ["/reports/1", "/reports/2", "/reports/3"] {
        let response = client.get(api.url(path)).send().await?;
        println!("GET {path} -> {}", response.status());
    }
    println!(
        "token requests: {} (one token for all three calls)",
        auth.token_requests()
    );
    Ok(())
}
