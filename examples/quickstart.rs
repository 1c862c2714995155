//! Runs with no setup: starts a mock authorization server and API on
//! 127.0.0.1, then shows what the middleware does, with counts read from
//! the servers.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::time::Duration;

use reqwest_middleware::ClientBuilder;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{Audience, ClientCredentials, OAuthMiddleware};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthServer::builder()
        .client("quickstart", "quickstart-secret")
        .token_lifetime(Duration::from_secs(300))
        .start()
        .await?;
    let api = ApiServer::start(&auth).await?;
    println!("authorization server: {}", auth.token_url());
    println!("protected API:        {}", api.origin());

    // The whole integration: one middleware on a reqwest-middleware client.
    let oauth = OAuthMiddleware::builder(ClientCredentials::new(
        auth.token_url(),
        "quickstart",
        "quickstart-secret",
    ))
    .audience("https://orders.example")
    .build()?;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(oauth.clone())
        .build();

    println!(
        "\n1. lazy: token requests before the first call: {}",
        auth.token_requests()
    );
    let first = client.get(api.url("/orders")).send().await?;
    println!(
        "   first call -> {}, token requests now: {}",
        first.status(),
        auth.token_requests()
    );

    let calls = (0..100).map(|i| client.get(api.url(&format!("/orders/{i}"))).send());
    let responses = futures_util::future::join_all(calls).await;
    let ok = responses
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status().is_success()))
        .count();
    println!(
        "2. 100 concurrent calls: {ok} succeeded, token requests still: {}",
        auth.token_requests()
    );

    let billing = client
        .get(api.url("/invoices"))
        .with_extension(Audience::new("https://billing.example"))
        .send()
        .await?;
    let echo: serde_json::Value = billing.json().await?;
    println!(
        "3. a call for another audience got a token for {}; token requests: {}",
        echo["audience"],
        auth.token_requests()
    );

    auth.revoke_all();
    let rejected_before = api.rejections();
    let recovered = client.get(api.url("/orders")).send().await?;
    println!(
        "4. the API rejected the cached token ({} rejection), the middleware fetched a new one \
         and replayed: {}; token requests: {}",
        api.rejections() - rejected_before,
        recovered.status(),
        auth.token_requests()
    );
    Ok(())
}
