//! Igni (seed 003): client credentials, form body, per-workspace host; the endpoint insists on Accept: application/json, which every token request sends.
//!
//! Real token URL: `https://{workspace}.igni.co/api/v1/oauth2/token`. This demo runs against the crate's testkit
//! on 127.0.0.1 instead, so it needs no account:
//!
//! ```text
//! cargo run --example igni
//! ```

use reqwest_oauth::endpoint::ClientAuth;
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

    let grant =
        ClientCredentials::new(token_url, CLIENT_ID, CLIENT_SECRET).client_auth(ClientAuth::Body);
    let oauth = OAuthMiddleware::builder(grant).build()?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(oauth)
        .build();

    let response = client.get(api.url("/things")).send().await?;
    println!("{} {}", response.status(), response.text().await?);
    Ok(())
}
