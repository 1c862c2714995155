//! Fleet mode: several replicas of a service share one token through Redis,
//! so the token endpoint sees one request however many replicas start.
//!
//! ```text
//! redis-server --port 6379 &      # or point REDIS_URL at one
//! cargo run --example fleet
//! ```
//!
//! Without a reachable Redis it says so, then shows the same fleet inside
//! this one process with the in-memory store.

use reqwest_middleware::ClientBuilder;
use reqwest_oauth::fleet::{FleetSource, MemoryStore, RedisStore, TokenStore};
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};

const REPLICAS: usize = 8;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthServer::builder()
        .client("orders-service", "orders-secret")
        .start()
        .await?;
    let api = ApiServer::start(&auth).await?;

    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    match RedisStore::connect(&url).await {
        Ok(redis) => {
            println!("sharing tokens through Redis at {url}");
            run_fleet(&auth, &api, redis).await?;
        }
        Err(error) => {
            println!("Redis is not reachable at {url}: {error}");
            println!("Fleet mode across hosts needs Redis: start `redis-server` or set REDIS_URL.");
            println!("Showing the same fleet inside this process with MemoryStore instead.\n");
            run_fleet(&auth, &api, MemoryStore::new()).await?;
        }
    }
    Ok(())
}

/// Starts the replicas at once, as a deployment does, and counts token
/// requests.
async fn run_fleet(
    auth: &AuthServer,
    api: &ApiServer,
    store: impl TokenStore + Clone,
) -> Result<(), Box<dyn std::error::Error>> {
    // A namespace per run, so tokens a previous run left in Redis (valid
    // for another mock server) are not picked up.
    let namespace = format!("fleet-example-{}", auth.token_url());
    let replicas = (0..REPLICAS).map(|_| {
        let grant = ClientCredentials::new(auth.token_url(), "orders-service", "orders-secret");
        let oauth = OAuthMiddleware::new(FleetSource::new(namespace.clone(), grant, store.clone()));
        ClientBuilder::new(reqwest::Client::new())
            .with(oauth)
            .build()
    });
    let calls = replicas.map(|client| {
        let url = api.url("/orders");
        async move { client.get(url).send().await }
    });
    let responses = futures_util::future::join_all(calls).await;
    let ok = responses
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status().is_success()))
        .count();
    println!("{REPLICAS} replicas started: {ok} first calls succeeded");
    println!(
        "token requests for the whole fleet: {}",
        auth.token_requests()
    );
    Ok(())
}
