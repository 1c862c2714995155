//! The systems measured side by side: the floor, this crate, and every other
//! way a Rust user attaches a cached token today, each as a
//! reqwest-middleware 0.5 middleware on the same chain with the same
//! canned terminal.
//!
//! Two peers pin an older reqwest-middleware (aliri_reqwest 0.5.1:
//! `>=0.3, <0.5`; reqwest-auth 1.0.0: `0.4`), so their middleware is copied
//! here line for line onto 0.5, over the token crates they are built on
//! (aliri_tokens' `TokenWatcher`, token-source's `TokenSource`). Each copy
//! names the file it comes from and the lines it changed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use http::header::AUTHORIZATION;
use http::{Extensions, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{ClientWithMiddleware, Middleware, Next};
use reqwest_oauth::policy::ReplayPolicy;
use reqwest_oauth::{OAuthMiddleware, Token};

use super::{CountingSource, StaticBearer, Terminal, bearer_header, chain};

const LIFETIME: Duration = Duration::from_secs(3600);

/// Every warm one-key system, floor first.
pub const WARM: &[&str] = &[
    "floor",
    "oauth",
    "oauth_no_replay",
    "oauth_dpop",
    "tokio_mutex",
    "tokio_rwlock",
    "oauth2_rwlock",
    "middle",
    "aliri",
    "reqwest_auth",
];

fn mw_error(e: impl std::fmt::Display) -> reqwest_middleware::Error {
    reqwest_middleware::Error::middleware(std::io::Error::other(e.to_string()))
}

/// A chain with the named system, its cache warm. `middle` fetches its
/// token from a canned loopback endpoint at build time (it has no other
/// way to get one); the rest are warmed in process.
pub async fn warm(name: &str, terminal: Arc<Terminal>) -> ClientWithMiddleware {
    let middleware: Arc<dyn Middleware> = match name {
        "floor" => Arc::new(StaticBearer(bearer_header("static-token"))),
        "oauth" | "oauth_no_replay" => {
            let replay = if name == "oauth" {
                ReplayPolicy::AnyMethod
            } else {
                ReplayPolicy::Never
            };
            let oauth = OAuthMiddleware::builder(CountingSource::default())
                .replay(replay)
                .build()
                .expect("config");
            oauth.token(oauth.default_key()).await.expect("warm cache");
            Arc::new(oauth)
        }
        "oauth_dpop" => {
            // The same middleware, its token DPoP-bound: each request signs
            // a proof (ES256) for its method, URL and token.
            let key = reqwest_oauth::dpop::DpopKey::generate().expect("key");
            let source = reqwest_oauth::source_fn(move |_| {
                let key = key.clone();
                async move {
                    let token = Token::bearer("dpop-token")?.dpop_bound(&key)?;
                    Ok(token.with_expires_in(Duration::from_secs(3600)))
                }
            });
            let oauth = OAuthMiddleware::new(source);
            oauth.token(oauth.default_key()).await.expect("warm cache");
            Arc::new(oauth)
        }
        "tokio_mutex" => Arc::new(TokioMutexCache::default()),
        "tokio_rwlock" => Arc::new(TokioRwLockCache::default()),
        "oauth2_rwlock" => Arc::new(Oauth2Cache::prefilled("oauth2-token")),
        "middle" => {
            let endpoint = TokenEndpoint::start(Duration::ZERO).await;
            let authorizer = middle_authorizer(&endpoint.url()).await;
            // The endpoint must outlive the authorizer's refresh task.
            std::mem::forget(endpoint);
            Arc::new(MiddleAuth(authorizer))
        }
        "aliri" => Arc::new(AliriAuth::new(aliri_watcher().await)),
        "reqwest_auth" => Arc::new(ReqwestAuth::from(
            Arc::new(CachedTokenSource::default()) as Arc<dyn token_source::TokenSource>
        )),
        other => panic!("unknown system {other:?}"),
    };
    // Warm the system's own path once through the chain (the hand-rolled
    // caches fill on first use).
    let client = chain(Some(middleware), terminal);
    client.execute(super::request()).await.expect("200");
    client
}

// ---------------------------------------------------------------------------
// Hand-rolled caches: what a user writes without a library.

/// One `tokio::sync::Mutex` around the cached header, taken on every
/// request (Go's `ReuseTokenSource` design).
#[derive(Default)]
pub struct TokioMutexCache(tokio::sync::Mutex<Option<(HeaderValue, Instant)>>);

#[async_trait::async_trait]
impl Middleware for TokioMutexCache {
    async fn handle(
        &self,
        mut req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let header = {
            let mut cached = self.0.lock().await;
            match cached.as_ref() {
                Some((header, until)) if Instant::now() < *until => header.clone(),
                _ => {
                    let header = bearer_header("mutex-token");
                    *cached = Some((header.clone(), Instant::now() + LIFETIME));
                    header
                }
            }
        };
        req.headers_mut().insert(AUTHORIZATION, header);
        next.run(req, ext).await
    }
}

/// A `tokio::sync::RwLock` around the cached header: read lock on a hit;
/// write lock, re-check and fetch (taking `.1`, zero by default) on a miss.
#[derive(Default)]
pub struct TokioRwLockCache(
    pub tokio::sync::RwLock<Option<(HeaderValue, Instant)>>,
    pub Duration,
);

#[async_trait::async_trait]
impl Middleware for TokioRwLockCache {
    async fn handle(
        &self,
        mut req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let hit = match self.0.read().await.as_ref() {
            Some((header, until)) if Instant::now() < *until => Some(header.clone()),
            _ => None,
        };
        let header = match hit {
            Some(header) => header,
            None => {
                let mut cached = self.0.write().await;
                match cached.as_ref() {
                    Some((header, until)) if Instant::now() < *until => header.clone(),
                    _ => {
                        if !self.1.is_zero() {
                            tokio::time::sleep(self.1).await;
                        }
                        let header = bearer_header("rwlock-token");
                        *cached = Some((header.clone(), Instant::now() + LIFETIME));
                        header
                    }
                }
            }
        };
        req.headers_mut().insert(AUTHORIZATION, header);
        next.run(req, ext).await
    }
}

/// The key a hand-rolled keyed cache reads from the request's extensions
/// (this crate's `Audience` keeps its string private).
#[derive(Clone)]
pub struct Tenant(pub Arc<str>);

/// A hand-rolled keyed cache: `std::sync::RwLock<HashMap>` from key to
/// header and expiry.
#[derive(Default)]
pub struct StdMapKeyed {
    map: std::sync::RwLock<HashMap<Arc<str>, (HeaderValue, Instant)>>,
    pub token_len: usize,
}

impl StdMapKeyed {
    pub fn with_token_len(token_len: usize) -> Self {
        Self {
            token_len,
            ..Self::default()
        }
    }

    /// The miss path: a token for `key`, stored and returned.
    pub fn fill(&self, key: &Arc<str>) -> HeaderValue {
        let mut token = format!("tok-{key}-");
        token.truncate(self.token_len.max(1).min(token.len()));
        while token.len() < self.token_len {
            token.push('x');
        }
        let header = bearer_header(&token);
        self.map
            .write()
            .expect("not poisoned")
            .insert(key.clone(), (header.clone(), Instant::now() + LIFETIME));
        header
    }
}

#[async_trait::async_trait]
impl Middleware for StdMapKeyed {
    async fn handle(
        &self,
        mut req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let key = ext.get::<Tenant>().map(|t| t.0.clone());
        let key = key.unwrap_or_else(|| Arc::from("default"));
        let hit = self
            .map
            .read()
            .expect("not poisoned")
            .get(&key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(header, _)| header.clone());
        let header = match hit {
            Some(header) => header,
            None => self.fill(&key),
        };
        req.headers_mut().insert(AUTHORIZATION, header);
        next.run(req, ext).await
    }
}

// ---------------------------------------------------------------------------
// oauth2 5 + a tokio RwLock cache: the `oauth2` crate used by hand, the
// token response cached, the header built from it per request (what
// `.bearer_auth(token.access_token().secret())` does).

type Oauth2Client = oauth2::basic::BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

pub struct Oauth2Cache {
    client: Oauth2Client,
    http: reqwest012::Client,
    cached: tokio::sync::RwLock<Option<(oauth2::basic::BasicTokenResponse, Instant)>>,
}

impl Oauth2Cache {
    pub fn new(token_url: &str) -> Self {
        use oauth2::{ClientId, ClientSecret, TokenUrl};
        Self {
            client: oauth2::basic::BasicClient::new(ClientId::new("id".into()))
                .set_client_secret(ClientSecret::new("secret".into()))
                .set_token_uri(TokenUrl::new(token_url.into()).expect("token URL")),
            // oauth2's docs: turn redirects off for the token endpoint.
            http: reqwest012::ClientBuilder::new()
                .redirect(reqwest012::redirect::Policy::none())
                .build()
                .expect("client"),
            cached: tokio::sync::RwLock::new(None),
        }
    }

    /// Warm without an endpoint: the response an endpoint would give.
    pub fn prefilled(token: &str) -> Self {
        use oauth2::basic::{BasicTokenResponse, BasicTokenType};
        use oauth2::{AccessToken, EmptyExtraTokenFields};
        let cache = Self::new("http://127.0.0.1:9/token");
        let mut response = BasicTokenResponse::new(
            AccessToken::new(token.into()),
            BasicTokenType::Bearer,
            EmptyExtraTokenFields {},
        );
        response.set_expires_in(Some(&LIFETIME));
        *cache.cached.try_write().expect("new lock") = Some((response, Instant::now() + LIFETIME));
        cache
    }

    fn header(response: &oauth2::basic::BasicTokenResponse) -> HeaderValue {
        use oauth2::TokenResponse;
        let mut header =
            HeaderValue::try_from(format!("Bearer {}", response.access_token().secret()))
                .expect("valid header");
        header.set_sensitive(true);
        header
    }
}

#[async_trait::async_trait]
impl Middleware for Oauth2Cache {
    async fn handle(
        &self,
        mut req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let hit = match self.cached.read().await.as_ref() {
            Some((response, until)) if Instant::now() < *until => Some(Self::header(response)),
            _ => None,
        };
        let header = match hit {
            Some(header) => header,
            None => {
                let mut cached = self.cached.write().await;
                match cached.as_ref() {
                    Some((response, until)) if Instant::now() < *until => Self::header(response),
                    _ => {
                        use oauth2::TokenResponse;
                        let response = self
                            .client
                            .exchange_client_credentials()
                            .request_async(&self.http)
                            .await
                            .map_err(mw_error)?;
                        let until = Instant::now() + response.expires_in().unwrap_or(LIFETIME);
                        let header = Self::header(&response);
                        *cached = Some((response, until));
                        header
                    }
                }
            }
        };
        req.headers_mut().insert(AUTHORIZATION, header);
        next.run(req, ext).await
    }
}

// ---------------------------------------------------------------------------
// middle 0.5: its `Authorizer` (a std `RwLock` the background refresh task
// writes) on the chain. middle ships a `reqwest::Client` wrapper, not a
// middleware; this is its `HttpClient::execute` (middle 0.5.0,
// src/client.rs) line for line, with `next.run` for `self.client.execute`.

pub struct MiddleAuth<A>(pub A);

#[async_trait::async_trait]
impl<A: middle::Authorizer + Send + Sync + 'static> Middleware for MiddleAuth<A> {
    async fn handle(
        &self,
        mut request: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let header = self.0.authorization_header().map_err(mw_error)?;

        if !request.headers().contains_key(AUTHORIZATION) {
            request
                .headers_mut()
                .insert(AUTHORIZATION, Arc::unwrap_or_clone(header));
        }
        next.run(request, ext).await
    }
}

/// middle's client-credentials authorizer; `build` fetches the first token.
pub async fn middle_authorizer(token_url: &str) -> middle::BasicClientCredentialAuthorizer {
    middle::BasicClientCredentialAuthorizerBuilder::new(
        "id",
        "secret",
        token_url.parse().expect("token URL"),
    )
    .build()
    .await
    .expect("middle: first token")
}

// ---------------------------------------------------------------------------
// aliri_reqwest 0.5.1 `AccessTokenMiddleware` (src/lib.rs), line for line on
// reqwest-middleware 0.5. Changed: the predicate. Its default, `HttpsOnly`,
// would skip the benches' `http://127.0.0.1` URL, so every request is
// attached (the predicate call was one scheme comparison).

pub struct AliriAuth {
    token_watcher: aliri_tokens::TokenWatcher,
}

impl AliriAuth {
    pub fn new(token_watcher: aliri_tokens::TokenWatcher) -> Self {
        Self { token_watcher }
    }

    fn get_token_from_source(&self) -> HeaderValue {
        use aliri_clock::Clock;
        let token = self.token_watcher.token();

        if tracing::enabled!(tracing::Level::TRACE) {
            let now = aliri_clock::System.now();
            tracing::trace!(
                token.status = ?token.token_status_at(now),
                token.lifetime = token.lifetime().0,
                token.issued = token.issued().0,
                token.stale = token.stale().0,
                token.until_stale = token.until_stale_at(now).0,
                token.expiry = token.expiry().0,
                token.until_expired = token.until_expired_at(now).0,
                "obtained access token"
            );
        }

        let mut header_value = BytesMut::with_capacity(token.access_token().as_str().len() + 7);
        header_value.put_slice(b"Bearer ");
        header_value.put_slice(token.access_token().as_str().as_bytes());

        let mut value =
            HeaderValue::from_maybe_shared(header_value).expect("only valid header bytes");
        value.set_sensitive(true);
        value
    }
}

#[async_trait::async_trait]
impl Middleware for AliriAuth {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        req.headers_mut()
            .entry(AUTHORIZATION)
            .or_insert_with(|| self.get_token_from_source());

        next.run(req, extensions).await
    }
}

/// A `TokenWatcher` over aliri's in-process constant source (1 h lifetime).
pub async fn aliri_watcher() -> aliri_tokens::TokenWatcher {
    use aliri_tokens::backoff::ErrorBackoffConfig;
    use aliri_tokens::jitter::NullJitter;
    use aliri_tokens::sources::ConstTokenSource;
    aliri_tokens::TokenWatcher::spawn_from_token_source(
        ConstTokenSource::new("aliri-token"),
        NullJitter,
        ErrorBackoffConfig::default(),
    )
    .await
    .expect("aliri: first token")
}

// ---------------------------------------------------------------------------
// reqwest-auth 1.0.0 `AuthorizationHeaderMiddleware` (src/lib.rs), line for
// line on reqwest-middleware 0.5. Changed: errors are wrapped with
// `Error::middleware` instead of `Error::Middleware(anyhow!(…))` (error path
// only). token-source has no cache of its own; `CachedTokenSource` is the
// one a user writes (a tokio RwLock, the header string cloned per request,
// as the trait returns `String`).

pub struct ReqwestAuth {
    ts: Arc<dyn token_source::TokenSource>,
}

impl From<Arc<dyn token_source::TokenSource>> for ReqwestAuth {
    fn from(ts: Arc<dyn token_source::TokenSource>) -> Self {
        Self { ts }
    }
}

#[async_trait::async_trait]
impl Middleware for ReqwestAuth {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let auth_token = self.ts.token().await.map_err(mw_error)?;
        req.headers_mut().insert(
            AUTHORIZATION,
            HeaderValue::from_str(auth_token.as_str())
                .map_err(|e| mw_error(format!("Invalid auth token value: {e}")))?,
        );
        next.run(req, extensions).await
    }
}

#[derive(Debug, Default)]
pub struct CachedTokenSource(tokio::sync::RwLock<Option<(String, Instant)>>);

#[async_trait::async_trait]
impl token_source::TokenSource for CachedTokenSource {
    async fn token(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        if let Some((token, until)) = self.0.read().await.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let mut cached = self.0.write().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let token = "Bearer reqwest-auth-token".to_owned();
        *cached = Some((token.clone(), Instant::now() + LIFETIME));
        Ok(token)
    }
}

// ---------------------------------------------------------------------------

/// A canned token endpoint on loopback (wiremock): answers every POST with a
/// one-hour bearer token after `delay`, and counts the requests.
pub struct TokenEndpoint(wiremock::MockServer);

impl TokenEndpoint {
    pub async fn start(delay: Duration) -> Self {
        use wiremock::matchers::method;
        use wiremock::{Mock, ResponseTemplate};
        let server = wiremock::MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({
                        "access_token": "endpoint-token-0123456789",
                        "token_type": "Bearer",
                        "expires_in": 3600
                    }))
                    .set_delay(delay),
            )
            .mount(&server)
            .await;
        Self(server)
    }

    pub fn url(&self) -> String {
        format!("{}/token", self.0.uri())
    }

    pub async fn requests(&self) -> usize {
        self.0.received_requests().await.map_or(0, |r| r.len())
    }
}
