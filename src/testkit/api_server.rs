//! A mock protected API: accepts tokens its authorization server issued and
//! echoes each request back as JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AuthServer;
use super::issued::{Issued, IssuedTokens};
use super::serve::{Running, serve};

/// How the API answers a request whose token is expired or unknown.
///
/// ```
/// use reqwest_oauth::testkit::{ApiServer, AuthServer, RejectionStyle};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let auth = AuthServer::builder().client("id", "secret").start().await?;
/// // Like APIs that answer `401 {"message": "Token expired."}`.
/// let api = ApiServer::builder(&auth)
///     .rejection_style(RejectionStyle::JsonBody)
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RejectionStyle {
    /// `401` with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
    #[default]
    Rfc6750,
    /// `401` with no `WWW-Authenticate` and a JSON body
    /// `{"statusCode":401,"message":"Token expired.",…}`, as some vendors do.
    JsonBody,
}

/// A running mock API. Dropping it stops it.
///
/// Every path answers `200` with a JSON echo of the request (`method`,
/// `path`, `body`, the `x-test` header, and the token's `audience` and
/// `scope`) when the bearer token is valid.
pub struct ApiServer {
    running: Running,
    state: Arc<ApiState>,
}

/// Configures an [`ApiServer`].
#[must_use]
pub struct ApiServerBuilder {
    tokens: Arc<IssuedTokens>,
    style: RejectionStyle,
}

struct ApiState {
    tokens: Arc<IssuedTokens>,
    style: RejectionStyle,
    reject_all: AtomicBool,
    required_scope: parking_lot::Mutex<Option<String>>,
    requests: AtomicU64,
    rejections: AtomicU64,
    #[cfg(feature = "dpop")]
    dpop: super::dpop::DpopGate,
}

impl ApiServerBuilder {
    /// Sets how expired or unknown tokens are answered.
    pub fn rejection_style(mut self, style: RejectionStyle) -> Self {
        self.style = style;
        self
    }

    /// Starts the API on a free port of 127.0.0.1.
    pub async fn start(self) -> std::io::Result<ApiServer> {
        let state = Arc::new(ApiState {
            tokens: self.tokens,
            style: self.style,
            reject_all: AtomicBool::new(false),
            required_scope: parking_lot::Mutex::new(None),
            requests: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            #[cfg(feature = "dpop")]
            dpop: super::dpop::DpopGate::default(),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        Ok(ApiServer {
            running: serve(router).await?,
            state,
        })
    }
}

impl ApiServer {
    /// A builder for an API that trusts the tokens `auth` issues.
    pub fn builder(auth: &AuthServer) -> ApiServerBuilder {
        ApiServerBuilder {
            tokens: auth.state().tokens.clone(),
            style: RejectionStyle::default(),
        }
    }

    /// Starts an API with RFC 6750 rejections that trusts `auth`'s tokens.
    pub async fn start(auth: &AuthServer) -> std::io::Result<ApiServer> {
        Self::builder(auth).start().await
    }

    /// The URL of `path` on this API.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr)
    }

    /// The origin (`http://127.0.0.1:port`) of this API.
    pub fn origin(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// How many requests arrived.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// How many requests were answered `401`.
    pub fn rejections(&self) -> u64 {
        self.state.rejections.load(Ordering::SeqCst)
    }

    /// While `true`, every token is rejected as expired, even new ones.
    pub fn reject_all(&self, reject: bool) {
        self.state.reject_all.store(reject, Ordering::SeqCst);
    }

    /// Requires tokens to carry every scope in `scope` (space-separated);
    /// others get `403` with `WWW-Authenticate: Bearer
    /// error="insufficient_scope", scope="…"` (RFC 6750 3.1). `None` lifts
    /// the requirement.
    pub fn require_scope(&self, scope: Option<&str>) {
        *self.state.required_scope.lock() = scope.map(str::to_owned);
    }

    /// Requires DPoP proofs to carry `nonce` (`None`: no nonce needed): a
    /// proof without it gets `401` with `WWW-Authenticate: DPoP
    /// error="use_dpop_nonce"` and the nonce in `DPoP-Nonce`.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn require_dpop_nonce(&self, nonce: Option<&str>) {
        self.state.dpop.require_nonce(nonce);
    }

    /// Judges DPoP proofs' `iat` as if this API's clock were `seconds`
    /// ahead (negative: behind), as an API with a drifting clock does: a
    /// proof more than a minute off is refused with `401` and
    /// `WWW-Authenticate: DPoP error="invalid_dpop_proof",
    /// error_description="iat outside the window"`.
    ///
    /// ```
    /// use reqwest_oauth::testkit::{ApiServer, AuthServer};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let auth = AuthServer::builder().client("id", "secret").start().await?;
    /// let api = ApiServer::start(&auth).await?;
    /// api.set_dpop_clock_offset(300); // five minutes fast
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn set_dpop_clock_offset(&self, seconds: i64) {
        self.state.dpop.set_clock_offset(seconds);
    }
}

async fn handle(
    State(state): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    #[cfg(feature = "dpop")]
    if let Some(token) = dpop_token(&headers) {
        return match check_dpop(&state, &method, &uri, &headers, token) {
            Ok(issued) => echo(&method, &uri, &headers, &body, &issued),
            Err(refused) => {
                state.rejections.fetch_add(1, Ordering::SeqCst);
                super::dpop::api_refusal(&state.dpop, refused)
            }
        };
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(bearer) = bearer else {
        state.rejections.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, r#"Bearer realm="testkit""#)],
        )
            .into_response();
    };
    let issued = match state.reject_all.load(Ordering::SeqCst) {
        true => None,
        false => state.tokens.check(bearer),
    };
    // A DPoP-bound token sent as a bearer token is no token at all.
    #[cfg(feature = "dpop")]
    let issued = issued.filter(|_| state.tokens.jkt(bearer).is_none());
    let Some(issued) = issued else {
        state.rejections.fetch_add(1, Ordering::SeqCst);
        return reject(state.style, &method, &uri);
    };
    if let Some(refused) = insufficient_scope(&state, issued.scope.as_deref()) {
        return refused;
    }
    echo(&method, &uri, &headers, &body, &issued)
}

/// The `200` echo of an accepted request.
fn echo(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    issued: &Issued,
) -> Response {
    let echo = json!({
        "method": method.as_str(),
        "path": uri.path(),
        "body": String::from_utf8_lossy(body),
        "x-test": headers.get("x-test").and_then(|v| v.to_str().ok()),
        "audience": issued.audience,
        "scope": issued.scope,
    });
    (StatusCode::OK, axum::Json(echo)).into_response()
}

/// The token of an `Authorization: DPoP <token>` header.
#[cfg(feature = "dpop")]
fn dpop_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("DPoP ")
}

/// A DPoP request (RFC 9449 section 7): a token issued and bound to the
/// key that signed the proof, the proof matching this request, the token
/// and the nonce. The refusals are the RFC's: `invalid_token` for the
/// token, `invalid_dpop_proof` or `use_dpop_nonce` for the proof.
#[cfg(feature = "dpop")]
fn check_dpop(
    state: &ApiState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    token: &str,
) -> Result<Issued, super::dpop::Refused> {
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1");
    let htu = format!("http://{host}{}", uri.path());
    let expect = super::dpop::Expect {
        htm: method.as_str(),
        htu: &htu,
        access_token: Some(token),
    };
    let checked = state.dpop.check(headers, &expect)?;
    let issued = match state.reject_all.load(Ordering::SeqCst) {
        true => None,
        false => state.tokens.check(token),
    };
    let bound = state.tokens.jkt(token);
    match issued {
        Some(issued) if bound.as_deref() == Some(checked.jkt.as_str()) => Ok(issued),
        _ => Err((
            "invalid_token",
            "the token is unknown, expired or bound to another key",
        )),
    }
}

/// The `403` for a token without every required scope, if it lacks one.
fn insufficient_scope(state: &ApiState, granted: Option<&str>) -> Option<Response> {
    let required = state.required_scope.lock().clone()?;
    let granted: Vec<&str> = granted.unwrap_or_default().split_whitespace().collect();
    if required
        .split_whitespace()
        .all(|scope| granted.contains(&scope))
    {
        return None;
    }
    state.rejections.fetch_add(1, Ordering::SeqCst);
    let challenge =
        format!(r#"Bearer realm="testkit", error="insufficient_scope", scope="{required}""#);
    Some(
        (
            StatusCode::FORBIDDEN,
            [(header::WWW_AUTHENTICATE, challenge)],
        )
            .into_response(),
    )
}

fn reject(style: RejectionStyle, method: &Method, uri: &Uri) -> Response {
    match style {
        RejectionStyle::Rfc6750 => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                r#"Bearer realm="testkit", error="invalid_token", error_description="The access token expired""#,
            )],
        )
            .into_response(),
        RejectionStyle::JsonBody => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({
                "statusCode": 401,
                "statusText": "Unauthorized",
                "message": "Token expired.",
                "statusFamily": "CLIENT_ERROR",
                "method": method.as_str(),
                "uri": uri.to_string(),
            })),
        )
            .into_response(),
    }
}
