//! A Kubernetes workload with no client secret: the pod's projected service
//! account token (a JWT the kubelet rewrites before it expires) is traded
//! at the authorization server for access tokens, with token exchange (RFC
//! 8693, as cloud security token services take it) or the JWT bearer grant
//! (RFC 7523). The file is read again for every token request, on the
//! blocking pool, so a rotation is picked up by the next fetch.
//!
//! Everything runs locally: the testkit's authorization server trusts the
//! "cluster" key, and a task plays the kubelet, writing a freshly signed
//! token to a temporary file three times during the run.
//!
//! ```text
//! cargo run --example kubernetes_workload
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest_oauth::OAuthMiddleware;
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::grant::{JwtBearer, SubjectToken, TokenExchange};
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use serde_json::json;

/// The cluster's service account signing key (a test fixture).
const CLUSTER_KEY: &[u8] = include_bytes!("../tests/fixtures/ec_private.pem");
const CLUSTER_PUBLIC_KEY: &[u8] = include_bytes!("../tests/fixtures/ec_public.pem");
const SERVICE_ACCOUNT: &str = "system:serviceaccount:shop:orders";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthServer::builder()
        .public_client("orders")
        .trust_assertion_key(CLUSTER_PUBLIC_KEY)
        .token_lifetime(Duration::from_millis(1500))
        .start()
        .await?;
    let api = ApiServer::start(&auth).await?;

    let dir = std::env::temp_dir().join(format!("projected-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("token");
    project(&path, &auth.token_url(), 1)?;

    // The pod's configuration: a token file and a client id, no secret.
    let grant = TokenExchange::new(
        auth.token_url(),
        ClientIdentity::public("orders"),
        SubjectToken::file(&path),
        TokenExchange::JWT,
    );
    let oauth = OAuthMiddleware::builder(grant)
        .audience("https://ledger.example.com")
        .build()?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(oauth.clone())
        .build();

    let kubelet = spawn_kubelet(path.clone(), auth.token_url());

    let mut seen = Vec::new();
    for _ in 0..20 {
        let response = client.get(api.url("/ledger")).send().await?;
        let generation = sent_generation(&auth);
        if seen.last() != Some(&generation) {
            println!(
                "API {}; exchanged projected token #{generation}",
                response.status()
            );
            seen.push(generation);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    kubelet.await?;
    println!(
        "{} token exchanges, projected tokens used in order: {seen:?}",
        auth.grant_requests("urn:ietf:params:oauth:grant-type:token-exchange")
    );

    jwt_bearer_too(&auth, &path).await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The kubelet: a new token every 1.2 s, written and renamed into place.
fn spawn_kubelet(path: PathBuf, audience: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for generation in 2..=4 {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            if let Err(error) = project(&path, &audience, generation) {
                eprintln!("kubelet could not write the token: {error}");
            }
        }
    })
}

/// The same file as a JWT bearer assertion (RFC 7523), for servers that
/// take the platform token as the grant itself.
async fn jwt_bearer_too(auth: &AuthServer, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    project(path, &auth.token_url(), 5)?;
    let assertion = SubjectToken::file(path);
    let bearer = JwtBearer::new(
        auth.token_url(),
        ClientIdentity::public("orders"),
        assertion,
    );
    let oauth = OAuthMiddleware::new(bearer);
    let token = oauth.token(oauth.default_key()).await?;
    println!(
        "JWT bearer grant: token for {:?}",
        auth.subject_of(token.secret())
    );
    Ok(())
}

/// Writes projected token number `generation` as the kubelet does: a new
/// file renamed over the old one, so a reader never sees half a token.
fn project(path: &Path, audience: &str, generation: u32) -> Result<(), Box<dyn std::error::Error>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = json!({
        "iss": "https://kubernetes.default.svc",
        "sub": SERVICE_ACCOUNT,
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
        "jti": format!("projected-{generation}"),
    });
    let jwt = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims,
        &EncodingKey::from_ec_pem(CLUSTER_KEY)?,
    )?;
    let next = path.with_extension("new");
    std::fs::write(&next, format!("{jwt}\n"))?;
    std::fs::rename(&next, path)?;
    Ok(())
}

/// Which projected token the last token request carried (its `jti`),
/// read back from the JWT's claims without verifying them.
fn sent_generation(auth: &AuthServer) -> String {
    let Some(jwt) = auth
        .last_request()
        .and_then(|request| request.params.get("subject_token").cloned())
    else {
        return "none".into();
    };
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let claims = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    claims
        .and_then(|claims| claims["jti"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
