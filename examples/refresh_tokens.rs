//! Refresh tokens: a password grant whose server issues short access tokens
//! with rotating refresh tokens. The middleware runs the password grant
//! once, then renews with the refresh token (RFC 6749 section 6), keeping
//! the newest one each time; if the server refuses a refresh token, it runs
//! the grant again, once.
//!
//! ```text
//! cargo run --example refresh_tokens
//! ```

use std::time::Duration;

use reqwest_middleware::ClientBuilder;
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::testkit::{ApiServer, AuthServer, RefreshTokens};
use reqwest_oauth::{OAuthMiddleware, PasswordGrant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthServer::builder()
        .client("app", "app-secret")
        .user("api-user", "api-password")
        .token_lifetime(Duration::from_millis(600))
        .refresh_tokens(RefreshTokens::Rotating)
        .start()
        .await?;
    let api = ApiServer::start(&auth).await?;

    let grant = PasswordGrant::new(
        auth.token_url(),
        ClientIdentity::secret("app", "app-secret"),
        "api-user",
        "api-password",
    );
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(OAuthMiddleware::new(grant))
        .build();

    for round in 1..=4 {
        let response = client.get(api.url("/inbox")).send().await?;
        println!(
            "round {round}: GET /inbox -> {}; password grants {}, refresh grants {}",
            response.status(),
            auth.grant_requests("password"),
            auth.grant_requests("refresh_token"),
        );
        // Let the 600 ms access token run out before the next round.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }

    auth.revoke_refresh_tokens();
    let response = client.get(api.url("/inbox")).send().await?;
    println!(
        "refresh token revoked: GET /inbox -> {}; password grants {} (the grant ran again, once)",
        response.status(),
        auth.grant_requests("password"),
    );
    Ok(())
}
