//! The middleware in a chain with reqwest-retry and reqwest-tracing, in the
//! recommended order: tracing outermost, then retries, then OAuth, so every
//! retry carries the current token.
//!
//! ```text
//! cargo run --example retry_and_tracing
//! ```

use reqwest_middleware::ClientBuilder;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_tracing::TracingMiddleware;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // INFO shows each token fetch span; DEBUG adds the token request's.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .init();
    let auth = AuthServer::builder().client("id", "secret").start().await?;
    let api = ApiServer::start(&auth).await?;

    let oauth = OAuthMiddleware::new(ClientCredentials::new(auth.token_url(), "id", "secret"));
    let retry = RetryTransientMiddleware::new_with_policy(
        ExponentialBackoff::builder().build_with_max_retries(3),
    );
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::default())
        .with(retry)
        .with(oauth.clone())
        .build();

    let response = client.get(api.url("/things")).send().await?;
    println!(
        "{} after {} token request(s)",
        response.status(),
        oauth.stats().token_requests
    );
    Ok(())
}
