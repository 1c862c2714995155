//! Dataloy (seed 002): client credentials, JSON body, an audience per environment; an expired token is a 401 with a JSON body, which the middleware recovers from.
//!
//! Real token URL: `(the token URL Dataloy gives you)`. This demo runs against the crate's testkit
//! on 127.0.0.1 instead, so it needs no account:
//!
//! ```text
//! cargo run --example dataloy
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
        .audience("https://dataloy.dev") // production: "https://dataloy"
        .build()?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(oauth)
        .build();

    let response = client.get(api.url("/things")).send().await?;
    println!("{} {}", response.status(), response.text().await?);
    Ok(())
}
