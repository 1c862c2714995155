//! Sparks (seed 000): password grant, public client, JSON body, audience.
//!
//! Real token URL: `https://auth.logicdrop.io/oauth/token`. This demo runs against the crate's testkit
//! on 127.0.0.1 instead, so it needs no account:
//!
//! ```text
//! cargo run --example sparks_password
//! ```

use reqwest_oauth::endpoint::BodyFormat;
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{OAuthMiddleware, PasswordGrant};

const CLIENT_ID: &str = "your-client-id";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthServer::builder()
        .public_client(CLIENT_ID)
        .user("api@mycompany.com", "api-user-password")
        .start()
        .await?;
    let api = ApiServer::start(&auth).await?;
    let token_url = auth.token_url();

    let grant = PasswordGrant::new(
        token_url,
        ClientIdentity::public(CLIENT_ID),
        "api@mycompany.com",
        "api-user-password",
    )
    .body_format(BodyFormat::Json);
    let oauth = OAuthMiddleware::builder(grant)
        .audience("https://api.logicdrop.io")
        .build()?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(oauth)
        .build();

    let response = client.get(api.url("/things")).send().await?;
    println!("{} {}", response.status(), response.text().await?);
    Ok(())
}
