//! Sparks (seed 001): client credentials, JSON body, credentials in the body, audience.
//!
//! Real token URL: `https://auth.logicdrop.io/oauth/token`. This demo runs against the crate's testkit
//! on 127.0.0.1 instead, so it needs no account:
//!
//! ```text
//! cargo run --example sparks_machine
//! ```

use reqwest_oauth::endpoint::{BodyFormat, ClientAuth};
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};

const CLIENT_ID: &str = "your-client-id";
const CLIENT_SECRET: &str = "your-client-secret";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthServer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .start()
        .await?;
    let api = ApiServer::start(&auth).await?;
    let token_url = auth.token_url();

    let grant = ClientCredentials::new(token_url, CLIENT_ID, CLIENT_SECRET)
        .body_format(BodyFormat::Json)
        .client_auth(ClientAuth::Body);
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
