//! Token exchange (RFC 8693): a gateway holds a user's access token, issued
//! for the gateway, and exchanges it for a token the orders API accepts,
//! on the user's behalf; then a delegation chain, where the subject token
//! comes from another authorization server.
//!
//! One grant, and one middleware, per subject: every token a middleware
//! caches was issued for its grant's subject, so two users never share one.
//!
//! ```text
//! cargo run --example token_exchange
//! ```

use reqwest_oauth::endpoint::{ClientIdentity, ErrorCode};
use reqwest_oauth::grant::{SubjectToken, TokenExchange};
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware, TokenRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sts = AuthServer::builder()
        .client("gateway", "gateway-secret")
        .exchange_targets(["https://orders.example.com"])
        .start()
        .await?;
    let orders = ApiServer::start(&sts).await?;

    // What the gateway was handed with a user's request.
    let user_token = sts.issue_token("alice", Some("https://gateway.example.com"));

    let for_alice = TokenExchange::new(
        sts.token_url(),
        ClientIdentity::secret("gateway", "gateway-secret"),
        SubjectToken::fixed(user_token.clone()).named("user alice"),
        TokenExchange::ACCESS_TOKEN,
    )
    .requested_token_type(TokenExchange::ACCESS_TOKEN)
    .scope("orders:read");
    let oauth = OAuthMiddleware::builder(for_alice)
        .audience("https://orders.example.com")
        .build()?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(oauth.clone())
        .build();
    for _ in 0..3 {
        let response = client.get(orders.url("/orders")).send().await?;
        println!("orders API: {}", response.status());
    }
    let token = oauth.token(oauth.default_key()).await?;
    println!(
        "one exchange for three calls ({}), token for {:?}, issued_token_type {}",
        sts.token_requests(),
        sts.subject_of(token.secret()),
        token.extra()["issued_token_type"]
    );

    // An audience the server does not allow for exchanges: a typed refusal.
    let elsewhere = TokenRequest::new().with_audience("https://payroll.example.com");
    match oauth.token(&elsewhere).await {
        Err(error)
            if error.endpoint_error().and_then(|e| e.code()) == Some(&ErrorCode::InvalidTarget) =>
        {
            println!("payroll refused: {error}");
        }
        other => println!("unexpected: {other:?}"),
    }

    delegation_chain().await
}

/// Server A issues the workload a token; server B, which trusts A's tokens,
/// exchanges it for one of its own.
async fn delegation_chain() -> Result<(), Box<dyn std::error::Error>> {
    let a = AuthServer::builder()
        .client("batch-job", "job-secret")
        .start()
        .await?;
    let b = AuthServer::builder()
        .client("batch-job", "job-secret-at-b")
        .trust_tokens_of(&a)
        .start()
        .await?;
    let api_at_b = ApiServer::start(&b).await?;

    let from_a = ClientCredentials::new(a.token_url(), "batch-job", "job-secret");
    let subject = SubjectToken::from_source(from_a, TokenRequest::new().with_audience("b"));
    let at_b = TokenExchange::new(
        b.token_url(),
        ClientIdentity::secret("batch-job", "job-secret-at-b"),
        subject,
        TokenExchange::ACCESS_TOKEN,
    );
    let oauth = OAuthMiddleware::new(at_b);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(oauth.clone())
        .build();
    let response = client.get(api_at_b.url("/reports")).send().await?;
    let token = oauth.token(oauth.default_key()).await?;
    println!(
        "delegation: API at B {}; B's token stands for {:?} (A issued {}, B exchanged {})",
        response.status(),
        b.subject_of(token.secret()),
        a.tokens_issued(),
        b.tokens_issued()
    );
    Ok(())
}
