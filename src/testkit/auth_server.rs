//! A mock OAuth 2.0 authorization server: the token endpoint of RFC 6749
//! for the client credentials and password grants, and the workload
//! identity grants (`workload.rs`).

mod workload;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::issued::IssuedTokens;
use super::serve::{Running, serve};

/// The path of the token endpoint.
const TOKEN_PATH: &str = "/oauth/token";
const OIDC_PATH: &str = "/.well-known/openid-configuration";
const RFC8414_PATH: &str = "/.well-known/oauth-authorization-server";

/// A running mock authorization server. Dropping it stops it.
pub struct AuthServer {
    running: Running,
    state: Arc<AuthState>,
}

/// Configures an [`AuthServer`].
#[derive(Default)]
#[must_use]
pub struct AuthServerBuilder {
    clients: HashMap<String, Option<String>>,
    users: HashMap<String, String>,
    lifetime: Option<Duration>,
    refresh_tokens: RefreshTokens,
    workload: workload::WorkloadBuilder,
    #[cfg(feature = "dpop")]
    dpop_algs: Option<Vec<String>>,
}

/// Whether the password grant also issues refresh tokens, and how.
///
/// ```
/// use reqwest_oauth::testkit::{AuthServer, RefreshTokens};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let auth = AuthServer::builder()
///     .client("app", "secret")
///     .user("alice", "password")
///     .refresh_tokens(RefreshTokens::Rotating)
///     .start()
///     .await?;
/// assert_eq!(auth.grant_requests("refresh_token"), 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RefreshTokens {
    /// No refresh tokens (as many servers do for machine clients).
    #[default]
    None,
    /// A refresh token that stays valid when used.
    Reusable,
    /// A new refresh token with every refresh; reusing a rotated-out one
    /// revokes every refresh token, as real servers do on suspected theft.
    Rotating,
}

/// What a refresh token stands for.
#[derive(Clone)]
struct RefreshGrant {
    audience: Option<String>,
    scope: Option<String>,
    used: bool,
}

/// Something that goes wrong with one token request, for tests of how a
/// client copes.
///
/// ```
/// use std::time::Duration;
/// use reqwest_oauth::testkit::{AuthServer, Fault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let auth = AuthServer::builder().client("id", "secret").start().await?;
/// // The next three token requests: a 503, a stall, a non-JSON 200; then normal.
/// auth.push_faults([
///     Fault::status(503, serde_json::json!({"error": "temporarily_unavailable"})),
///     Fault::Stall(Duration::from_secs(5)),
///     Fault::Garbage,
/// ]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status, JSON body and optional `Retry-After` seconds.
    Status {
        /// The HTTP status.
        status: u16,
        /// The JSON body.
        body: Value,
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// Wait this long, then answer as usual (past a client's timeout, the
    /// client never sees the answer).
    Stall(Duration),
    /// Answer `200` with a body that is not JSON.
    Garbage,
}

impl Fault {
    /// Answer with this status and JSON body.
    pub fn status(status: u16, body: Value) -> Self {
        Fault::Status {
            status,
            body,
            retry_after: None,
        }
    }
}

/// One token request as the server received it, for assertions on the wire
/// format.
///
/// ```
/// use reqwest_oauth::testkit::AuthServer;
/// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
/// use reqwest_oauth::endpoint::ClientAuth;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = AuthServer::builder().client("id", "secret").start().await?;
/// let grant = ClientCredentials::new(auth.token_url(), "id", "secret").client_auth(ClientAuth::Body);
/// let oauth = OAuthMiddleware::new(grant);
/// oauth.token(oauth.default_key()).await?;
/// let sent = auth.last_request().expect("one request");
/// assert_eq!(sent.params.get("client_id").map(String::as_str), Some("id"));
/// assert!(sent.basic.is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordedTokenRequest {
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// Id and secret from an HTTP Basic header, already form-decoded.
    pub basic: Option<(String, String)>,
    /// The body parameters, whichever the body format.
    pub params: HashMap<String, String>,
}

pub(super) struct AuthState {
    pub(super) tokens: Arc<IssuedTokens>,
    clients: HashMap<String, Option<String>>,
    users: HashMap<String, String>,
    lifetime: Mutex<Duration>,
    delay: Mutex<Duration>,
    /// Faults for the next requests, one each, in order.
    queued: Mutex<VecDeque<Fault>>,
    /// A fault for every request once the queue is empty.
    persistent: Mutex<Option<Fault>>,
    requests: AtomicU64,
    last: Mutex<Option<RecordedTokenRequest>>,
    refresh_mode: RefreshTokens,
    refresh_grants: Mutex<HashMap<String, RefreshGrant>>,
    by_grant_type: Mutex<HashMap<String, u64>>,
    workload: workload::Workload,
    #[cfg(feature = "dpop")]
    dpop: super::dpop::DpopGate,
}

impl AuthServerBuilder {
    /// Accepts a confidential client with this id and secret.
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.clients.insert(id.into(), Some(secret.into()));
        self
    }

    /// Accepts a public client (no secret) with this id; it may use the
    /// password, token exchange and JWT bearer grants.
    pub fn public_client(mut self, id: impl Into<String>) -> Self {
        self.clients.insert(id.into(), None);
        self
    }

    /// Accepts this user for the password grant.
    pub fn user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.insert(username.into(), password.into());
        self
    }

    /// Sets the lifetime of issued tokens (default one hour).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Issues refresh tokens with the password grant (default: none).
    pub fn refresh_tokens(mut self, mode: RefreshTokens) -> Self {
        self.refresh_tokens = mode;
        self
    }

    /// Accepts DPoP proofs signed with these algorithms only, and lists
    /// them as `dpop_signing_alg_values_supported` in its metadata
    /// (default: `ES256`, `EdDSA` and `RS256`). A proof in another is
    /// refused with `invalid_dpop_proof`.
    ///
    /// ```
    /// use reqwest_oauth::testkit::AuthServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// // Like a server that takes RSA proofs only.
    /// let auth = AuthServer::builder()
    ///     .client("id", "secret")
    ///     .dpop_algs(["RS256"])
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop_algs<S: Into<String>>(mut self, algs: impl IntoIterator<Item = S>) -> Self {
        self.dpop_algs = Some(algs.into_iter().map(Into::into).collect());
        self
    }

    /// Starts the server on a free port of 127.0.0.1.
    pub async fn start(self) -> std::io::Result<AuthServer> {
        let state = Arc::new(AuthState {
            tokens: Arc::new(IssuedTokens::default()),
            clients: self.clients,
            users: self.users,
            lifetime: Mutex::new(self.lifetime.unwrap_or(Duration::from_secs(3600))),
            delay: Mutex::new(Duration::ZERO),
            queued: Mutex::new(VecDeque::new()),
            persistent: Mutex::new(None),
            requests: AtomicU64::new(0),
            last: Mutex::new(None),
            refresh_mode: self.refresh_tokens,
            refresh_grants: Mutex::new(HashMap::new()),
            by_grant_type: Mutex::new(HashMap::new()),
            workload: self.workload.build()?,
            #[cfg(feature = "dpop")]
            dpop: match self.dpop_algs {
                Some(algs) => super::dpop::DpopGate::accepting(algs),
                None => super::dpop::DpopGate::default(),
            },
        });
        let router = axum::Router::new()
            .route(TOKEN_PATH, axum::routing::post(token))
            .route(OIDC_PATH, axum::routing::get(metadata))
            .route(RFC8414_PATH, axum::routing::get(metadata))
            .with_state(state.clone());
        let running = serve(router).await?;
        let issuer = format!("http://{}", running.addr);
        let token_url = format!("{issuer}{TOKEN_PATH}");
        state.workload.set_urls(token_url, issuer);
        Ok(AuthServer { running, state })
    }
}

impl AuthServer {
    /// A builder; add at least one client.
    pub fn builder() -> AuthServerBuilder {
        AuthServerBuilder::default()
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("http://{}{TOKEN_PATH}", self.running.addr)
    }

    /// The issuer URL: its OpenID Connect and RFC 8414 metadata name the
    /// token endpoint, for the `discover` constructors.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// How many token requests arrived, answered or not.
    pub fn token_requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// How many tokens were issued.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens.issued_count()
    }

    /// The most recent token request.
    pub fn last_request(&self) -> Option<RecordedTokenRequest> {
        self.state.last.lock().clone()
    }

    /// Answers every token request with this status and JSON body until
    /// [`AuthServer::recover`].
    pub fn fail_with(&self, status: u16, body: Value) {
        *self.state.persistent.lock() = Some(Fault::status(status, body));
    }

    /// Applies these faults to the next token requests, one each, in order;
    /// requests after them are answered as usual.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.queued.lock().extend(faults);
    }

    /// Stops failing: clears queued faults and [`AuthServer::fail_with`].
    pub fn recover(&self) {
        self.state.queued.lock().clear();
        *self.state.persistent.lock() = None;
    }

    /// Waits this long before answering each token request.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock() = delay;
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *self.state.lifetime.lock() = lifetime;
    }

    /// How many token requests named this `grant_type`.
    pub fn grant_requests(&self, grant_type: &str) -> u64 {
        self.state
            .by_grant_type
            .lock()
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// Makes every refresh token issued so far invalid (`invalid_grant`).
    pub fn revoke_refresh_tokens(&self) {
        self.state.refresh_grants.lock().clear();
    }

    /// Whether `token` is an access token this server issued that has not
    /// expired or been revoked: what [`ApiServer`](super::ApiServer)
    /// checks, for APIs of your own (a gRPC server, say) that trust this
    /// server's tokens.
    pub fn is_valid(&self, token: &str) -> bool {
        self.state.tokens.check(token).is_some()
    }

    /// Makes every token issued so far invalid at the API (as if expired),
    /// while the client still believes them valid.
    pub fn revoke_all(&self) {
        self.state.tokens.revoke_all();
    }

    /// Requires DPoP proofs to carry `nonce` (`None`: no nonce needed).
    /// A proof without it is answered `400 use_dpop_nonce` with the nonce
    /// in `DPoP-Nonce`, as RFC 9449 section 8 describes.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn require_dpop_nonce(&self, nonce: Option<&str>) {
        self.state.dpop.require_nonce(nonce);
    }

    /// Judges DPoP proofs' `iat` as if this server's clock were `seconds`
    /// ahead (negative: behind), as a server with a drifting clock does: a
    /// proof more than a minute off is refused `400 invalid_dpop_proof`.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn set_dpop_clock_offset(&self, seconds: i64) {
        self.state.dpop.set_clock_offset(seconds);
    }

    /// The thumbprint of the DPoP key `token` is bound to (its `cnf.jkt`,
    /// computed by this server from the proof's JWK), if it is bound.
    ///
    /// ```
    /// use reqwest_oauth::dpop::DpopKey;
    /// use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
    /// use reqwest_oauth::testkit::AuthServer;
    /// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let auth = AuthServer::builder().client("id", "secret").start().await?;
    /// let key = DpopKey::generate()?;
    /// let endpoint = TokenEndpoint::new(auth.token_url(), ClientIdentity::secret("id", "secret"))
    ///     .dpop(key.clone());
    /// let oauth = OAuthMiddleware::new(ClientCredentials::at(endpoint));
    /// let token = oauth.token(oauth.default_key()).await?;
    /// assert_eq!(auth.dpop_jkt(token.secret()).as_deref(), Some(key.thumbprint()));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop_jkt(&self, token: &str) -> Option<String> {
        self.state.tokens.jkt(token)
    }

    pub(super) fn state(&self) -> &Arc<AuthState> {
        &self.state
    }
}

/// Issuer metadata (OpenID Connect discovery 1.0, RFC 8414), naming the
/// token endpoint on the address the client used.
async fn metadata(State(state): State<Arc<AuthState>>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1");
    axum::Json(json!({
        "issuer": format!("http://{host}"),
        "token_endpoint": format!("http://{host}{TOKEN_PATH}"),
        "grant_types_supported": [
            "client_credentials",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "dpop_signing_alg_values_supported": dpop_algs(&state),
    }))
    .into_response()
}

async fn token(State(state): State<Arc<AuthState>>, headers: HeaderMap, body: Bytes) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let request = record(&headers, &body);
    *state.last.lock() = Some(request.clone());
    if let Some(grant_type) = request.params.get("grant_type") {
        *state
            .by_grant_type
            .lock()
            .entry(grant_type.clone())
            .or_default() += 1;
    }
    let fault = state
        .queued
        .lock()
        .pop_front()
        .or_else(|| state.persistent.lock().clone());
    match fault {
        Some(Fault::Status {
            status,
            body,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, axum::Json(body)).into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, seconds.into());
            }
            return response;
        }
        Some(Fault::Garbage) => {
            return (StatusCode::OK, "<html>not a token</html>").into_response();
        }
        Some(Fault::Stall(stall)) => tokio::time::sleep(stall).await,
        None => {}
    }
    #[cfg(feature = "dpop")]
    let jkt = match dpop_proof(&state, &headers) {
        Ok(jkt) => jkt,
        Err(refused) => return super::dpop::token_refusal(&state.dpop, refused),
    };
    match issue(&state, &request) {
        #[cfg(feature = "dpop")]
        Ok(body) => dpop_bound(&state, body, jkt),
        #[cfg(not(feature = "dpop"))]
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err((status, code, description)) => (
            status,
            axum::Json(json!({ "error": code, "error_description": description })),
        )
            .into_response(),
    }
}

/// The algorithms the metadata lists for DPoP proofs: none without the
/// `dpop` feature, since the server then checks no proof.
fn dpop_algs(state: &AuthState) -> Vec<String> {
    #[cfg(feature = "dpop")]
    return state.dpop.algs().to_vec();
    #[cfg(not(feature = "dpop"))]
    {
        let _ = state;
        Vec::new()
    }
}

/// A token request's DPoP proof, checked when it has one: the thumbprint
/// of its key, or the refusal (`use_dpop_nonce` with the nonce when one is
/// required and missing).
#[cfg(feature = "dpop")]
fn dpop_proof(
    state: &AuthState,
    headers: &HeaderMap,
) -> Result<Option<String>, super::dpop::Refused> {
    if !headers.contains_key("dpop") {
        return Ok(None);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1");
    let htu = format!("http://{host}{TOKEN_PATH}");
    let expect = super::dpop::Expect {
        htm: "POST",
        htu: &htu,
        access_token: None,
    };
    state
        .dpop
        .check(headers, &expect)
        .map(|checked| Some(checked.jkt))
}

/// The token response, DPoP-bound (`token_type: DPoP`, the key's
/// thumbprint recorded as its `cnf.jkt`) when the request had a proof.
#[cfg(feature = "dpop")]
fn dpop_bound(state: &AuthState, mut body: Value, jkt: Option<String>) -> Response {
    if let (Some(jkt), Some(token)) = (jkt, body["access_token"].as_str()) {
        state.tokens.bind(token, jkt);
        body["token_type"] = Value::from("DPoP");
    }
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    state.dpop.stamp(&mut response);
    response
}

type Refusal = (StatusCode, &'static str, &'static str);

fn issue(state: &AuthState, request: &RecordedTokenRequest) -> Result<Value, Refusal> {
    let client_id = authenticate(state, request)?;
    if let Some(answer) = workload::issue(state, request) {
        return answer;
    }
    let is_public = state.clients.get(client_id).is_some_and(Option::is_none);
    let (grant, issue_refresh) = check_grant(state, request, is_public)?;
    let lifetime = *state.lifetime.lock();
    let scope = grant.scope.clone();
    let token = state
        .tokens
        .issue(grant.audience.clone(), scope.clone(), lifetime);
    let subject = request
        .params
        .get("username")
        .map_or(client_id, String::as_str);
    state.tokens.set_subject(&token, subject);
    let mut body = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs_f64(),
    });
    if issue_refresh {
        let refresh = state.tokens.mint("refresh");
        state.refresh_grants.lock().insert(refresh.clone(), grant);
        body["refresh_token"] = Value::from(refresh);
    }
    if let Some(scope) = scope {
        body["scope"] = Value::from(scope);
    }
    Ok(body)
}

/// Checks the grant itself: what the token will be for, and whether a
/// refresh token comes with it.
fn check_grant(
    state: &AuthState,
    request: &RecordedTokenRequest,
    is_public: bool,
) -> Result<(RefreshGrant, bool), Refusal> {
    let param = |name: &str| request.params.get(name).map(String::as_str);
    let refused = |code, description| Err((StatusCode::BAD_REQUEST, code, description));
    let grant = RefreshGrant {
        audience: param("audience").map(str::to_owned),
        scope: param("scope").map(str::to_owned),
        used: false,
    };
    match param("grant_type") {
        Some("refresh_token") => {
            let grant = use_refresh_token(state, param("refresh_token"))?;
            Ok((grant, state.refresh_mode == RefreshTokens::Rotating))
        }
        Some("client_credentials") if is_public => refused(
            "unauthorized_client",
            "public clients may not use client_credentials",
        ),
        Some("client_credentials") => Ok((grant, false)),
        Some("password") => {
            let known = param("username")
                .and_then(|user| state.users.get(user))
                .is_some_and(|password| Some(password.as_str()) == param("password"));
            match known {
                true => Ok((grant, state.refresh_mode != RefreshTokens::None)),
                false => refused("invalid_grant", "wrong username or password"),
            }
        }
        Some(_) => refused("unsupported_grant_type", "unknown grant_type"),
        None => refused("invalid_request", "grant_type is missing"),
    }
}

/// Checks a refresh token and marks it used; reusing a rotated-out one
/// revokes them all.
fn use_refresh_token(state: &AuthState, token: Option<&str>) -> Result<RefreshGrant, Refusal> {
    let refused = (
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "refresh token is invalid or revoked",
    );
    let mut grants = state.refresh_grants.lock();
    let grant = grants.get_mut(token.ok_or(refused)?).ok_or(refused)?;
    if grant.used {
        grants.clear();
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "refresh token reused; grant revoked",
        ));
    }
    let granted = grant.clone();
    if state.refresh_mode == RefreshTokens::Rotating {
        grant.used = true;
    }
    Ok(granted)
}

/// The authenticated client's id, from Basic or the body (never both).
fn authenticate<'a>(
    state: &AuthState,
    request: &'a RecordedTokenRequest,
) -> Result<&'a str, Refusal> {
    let body_secret = request.params.get("client_secret");
    let (id, secret) = match (&request.basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err((
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "more than one client authentication method",
            ));
        }
        (Some((id, secret)), None) => (id.as_str(), Some(secret.as_str())),
        (None, secret) => match request.params.get("client_id") {
            Some(id) => (id.as_str(), secret.map(String::as_str)),
            None => {
                return Err((
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "no client authentication",
                ));
            }
        },
    };
    match state.clients.get(id) {
        Some(expected) if expected.as_deref() == secret => Ok(id),
        _ => Err((
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )),
    }
}

fn record(headers: &HeaderMap, body: &[u8]) -> RecordedTokenRequest {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = text(header::CONTENT_TYPE);
    let params = if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        match serde_json::from_slice::<HashMap<String, Value>>(body) {
            Ok(map) => map
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
            Err(_) => HashMap::new(),
        }
    } else {
        form_urlencoded::parse(body).into_owned().collect()
    };
    RecordedTokenRequest {
        accept: text(header::ACCEPT),
        basic: text(header::AUTHORIZATION).and_then(|value| decode_basic(&value)),
        content_type,
        params,
    }
}

/// RFC 6749 2.3.1: Basic credentials are form-urlencoded before base64.
fn decode_basic(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let form_decode = |s: &str| -> String {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((form_decode(id), form_decode(secret)))
}
