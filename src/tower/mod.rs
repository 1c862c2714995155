//! [`OAuthLayer`]: the token cache as a `tower` layer, for tonic channels,
//! hyper clients and any other `Service<http::Request<B>>`.
//!
//! The layer is another adapter over the core the
//! [`OAuthMiddleware`] adapts: made by
//! [`OAuthMiddleware::layer`], it shares that middleware's cache, so a
//! program that calls one API through reqwest and another through tonic
//! makes one token request per key, not one per stack. A request takes the
//! same path: routed (extensions, origin routes and scoping, the cleartext
//! guard), a token leased (refreshed ahead, fetched once per key) and put
//! in a sensitive `Authorization` header, and on a rejection the token is
//! replaced once and the request sent again when it can be.
//!
//! A rejection is a response the builder's
//! [`token_rejected`](crate::OAuthMiddlewareBuilder::token_rejected)
//! predicate accepts (by default a `401` of
//! [`policy::token_rejected`](crate::policy::token_rejected)), or a gRPC
//! trailers-only response whose headers say `grpc-status: 16`
//! (`UNAUTHENTICATED`). A gRPC status sent in trailers after a streamed
//! answer is not seen: by then the call has been answered.
//!
//! Which requests are sent again: the builder's
//! [`replay`](crate::OAuthMiddlewareBuilder::replay) policy, and a body the
//! layer could keep a copy of: cloneable bodies by default ([`CloneBody`]);
//! with [`OAuthLayer::buffer_bodies`], any body that is complete at once
//! within a size limit, as a unary gRPC call's is. A streaming call is not
//! sent again, but its rejected token is still replaced, so the next call
//! succeeds. The response carries a
//! [`policy::ReplayOutcome`](crate::policy::ReplayOutcome) extension, as with the
//! middleware.
//!
//! ```no_run
//! use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
//! use tower::ServiceBuilder;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let oauth = OAuthMiddleware::builder(ClientCredentials::new(
//!     "https://auth.example.com/oauth/token",
//!     "client-id",
//!     "client-secret",
//! ))
//! .audience("https://grpc.example.com")
//! .build()?;
//!
//! let origin = http::Uri::from_static("https://grpc.example.com");
//! let channel = tonic::transport::Channel::builder(origin.clone()).connect().await?;
//! let channel = ServiceBuilder::new()
//!     // tonic hands the layer URIs without scheme and host: name the origin.
//!     .layer(oauth.layer().origin(origin).buffer_bodies(64 * 1024, tonic::body::Body::new))
//!     .service(channel);
//! // Any tonic client takes the wrapped channel:
//! let mut grpc = tonic::client::Grpc::new(channel);
//! # let _ = &mut grpc;
//! # Ok(()) }
//! ```

mod body;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tower::{Layer, Service};
use arc_swap::ArcSwapOption;
use http::uri::{Authority, Scheme};
use http::{HeaderName, Request, Response, Uri};
use url::Url;

pub use body::{BufferBody, BufferedBody, CloneBody, ReplayBody};

use crate::attach::attach_to;
use crate::cache::{Lease, Slot, Ticket};
use crate::middleware::Parts;
use crate::outcome::{ReplayOutcome, SkipReason};
use crate::routing::Route;
use crate::stats::Counters;
use crate::{Error, OAuthMiddleware};

/// The error type of [`OAuthService`]: the inner service's error, or this
/// crate's [`Error`] (find it with `downcast_ref::<reqwest_oauth::Error>()`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The future of [`OAuthService`].
pub type ResponseFuture<R> = Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>;

impl OAuthMiddleware {
    /// A `tower` layer over this middleware's token cache: requests through
    /// either share one token per key.
    ///
    /// ```
    /// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
    ///
    /// let grant = ClientCredentials::new("https://auth.example.com/oauth/token", "id", "secret");
    /// let oauth = OAuthMiddleware::new(grant);
    /// let reqwest_client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(oauth.clone())
    ///     .build();
    /// let service = tower::ServiceBuilder::new()
    ///     .layer(oauth.layer())
    ///     .service(tower::service_fn(|request: http::Request<String>| async move {
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(request.into_body()))
    ///     }));
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
    pub fn layer(&self) -> OAuthLayer {
        OAuthLayer {
            core: Arc::new(Core::new(self.parts().clone(), None)),
            keep: CloneBody,
        }
    }
}

/// A `tower::Layer` that gives every request an OAuth 2.0 token from the
/// cache of the [`OAuthMiddleware`] it was made from
/// ([`OAuthMiddleware::layer`]). `K` says how a request body is kept for a
/// replay: [`CloneBody`] or [`BufferBody`].
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Clone)]
pub struct OAuthLayer<K = CloneBody> {
    core: Arc<Core>,
    keep: K,
}

/// What every clone of a layer's services shares: the middleware's core,
/// the origin of requests whose URI has none, and the last other origin
/// seen (parsing a URL costs more than the rest of the cached path, and
/// most services call one origin).
struct Core {
    parts: Arc<Parts>,
    origin: Option<Target>,
    last: ArcSwapOption<Target>,
}

impl Core {
    fn new(parts: Arc<Parts>, origin: Option<Target>) -> Self {
        Core {
            parts,
            origin,
            last: ArcSwapOption::empty(),
        }
    }
}

/// An origin as the request URI names it, and as the router reads it.
struct Target {
    scheme: Scheme,
    authority: Authority,
    url: Url,
}

impl Target {
    fn new(scheme: &Scheme, authority: &Authority) -> Result<Self, Error> {
        Ok(Target {
            url: origin_url(scheme, authority)?,
            scheme: scheme.clone(),
            authority: authority.clone(),
        })
    }

    fn is(&self, scheme: &Scheme, authority: &Authority) -> bool {
        // Byte equality first: the same spelling is the common case, and the
        // case-insensitive comparison costs more than the rest of routing.
        self.scheme == *scheme
            && (self.authority.as_str() == authority.as_str() || self.authority == *authority)
    }
}

impl<K> std::fmt::Debug for OAuthLayer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthLayer")
            .field("default_key", &self.core.parts.router.default_key)
            .field("origin", &self.core.origin.as_ref().map(|o| o.url.as_str()))
            .finish_non_exhaustive()
    }
}

impl<K> OAuthLayer<K> {
    /// The origin (`https://host:port`; a path is ignored) of requests whose
    /// URI names none: tonic's clients send only the path
    /// (`/package.Service/Method`) through the layers around a `Channel`.
    /// Without it such requests fail with [`Error::InvalidUrl`], since
    /// neither origin scoping nor the cleartext guard could judge them.
    /// Requests with a full URI are judged by their own.
    pub fn origin(self, origin: Uri) -> Self {
        let target = match (origin.scheme(), origin.authority()) {
            (Some(scheme), Some(authority)) => Target::new(scheme, authority).ok(),
            _ => None,
        };
        OAuthLayer {
            core: Arc::new(Core::new(self.core.parts.clone(), target)),
            keep: self.keep,
        }
    }

    /// Replays requests of any body type `B` whose body is complete at once
    /// and at most `max_bytes` long (a unary gRPC call's), read ahead and
    /// made a `B` again by `rebuild`: for tonic, `tonic::body::Body::new`.
    /// Longer or streaming bodies are sent as they come, not replayed.
    pub fn buffer_bodies<B: http_body::Body>(
        self,
        max_bytes: usize,
        rebuild: fn(BufferedBody<B>) -> B,
    ) -> OAuthLayer<BufferBody<B>> {
        OAuthLayer {
            core: self.core,
            keep: BufferBody::new(max_bytes, rebuild),
        }
    }
}

impl<S, K: Clone> Layer<S> for OAuthLayer<K> {
    type Service = OAuthService<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        OAuthService {
            inner,
            core: self.core.clone(),
            keep: self.keep.clone(),
        }
    }
}

/// The service of an [`OAuthLayer`] around `S`. Cloning clones `S` and
/// one `Arc`; the cached path takes no lock.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Clone)]
pub struct OAuthService<S, K = CloneBody> {
    inner: S,
    core: Arc<Core>,
    keep: K,
}

impl<S: std::fmt::Debug, K> std::fmt::Debug for OAuthService<S, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, K, B, R> Service<Request<B>> for OAuthService<S, K>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    K: ReplayBody<B>,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<R>;
    type Error = BoxError;
    type Future = ResponseFuture<Response<R>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service made ready goes with this call; this one keeps a clone
        // (tower's rule: the instance polled ready is the one called).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let core = self.core.clone();
        let keep = self.keep.clone();
        Box::pin(core.handle(inner, keep, request))
    }
}

/// What a request keeps for after a rejection: a copy to replay, or why
/// there is none.
// Boxed, as in the middleware: the copy would otherwise sit in every
// request's future, pushing it past the allocator's fast sizes.
enum Kept<B> {
    Copy(Box<Request<B>>),
    Not(SkipReason),
}

impl Core {
    /// Route, lease, attach, send; on a rejection, renew once and replay.
    async fn handle<S, K, B, R>(
        self: Arc<Self>,
        mut inner: S,
        keep: K,
        mut request: Request<B>,
    ) -> Result<Response<R>, BoxError>
    where
        S: Service<Request<B>, Response = Response<R>>,
        S::Error: Into<BoxError>,
        K: ReplayBody<B>,
    {
        let key = match self.route(&request)? {
            Route::Pass => return inner.call(request).await.map_err(Into::into),
            Route::Refuse(error) => return Err(error.into()),
            Route::Use(key) => key,
        };
        let cache = &self.parts.cache;
        let slot = cache.slot(&key).into_owned();
        // As in the middleware: the miss path is boxed, so a cached token
        // keeps this future small.
        let Lease {
            header,
            ticket,
            binding,
        } = match cache.lease_now(&slot) {
            Some(lease) => lease,
            None => Box::pin(cache.lease(&slot)).await?,
        };
        // A DPoP-bound token needs a proof per request, which this layer
        // does not make yet: refuse rather than send a token the API will
        // reject. (Without the `dpop` feature no token is bound.)
        #[cfg(feature = "dpop")]
        if binding.is_some() {
            return Err(Error::DpopProof {
                reason: "DPoP-bound tokens are not supported through the tower layer yet".into(),
            }
            .into());
        }
        #[cfg(not(feature = "dpop"))]
        let _ = binding;
        let kept = self.keep(&mut request, ticket, &keep).await;
        attach_to(request.headers_mut(), header);
        let response = inner.call(request).await.map_err(Into::into)?;
        if !self.is_rejected(&response) {
            return Ok(response);
        }
        Box::pin(self.after_rejection(inner, &slot, ticket, kept, response)).await
    }

    /// Keeps a copy for the replay before the token goes in; a token fetched
    /// for this request is never renewed for it, so then no copy is made.
    async fn keep<B, K: ReplayBody<B>>(
        &self,
        request: &mut Request<B>,
        ticket: Ticket,
        keep: &K,
    ) -> Kept<B> {
        if ticket.fetched() {
            return Kept::Not(SkipReason::FreshToken);
        }
        if !self.parts.replay.allows(request.method()) {
            return Kept::Not(SkipReason::Policy);
        }
        let Some(body) = keep.keep(request.body_mut()).await else {
            return Kept::Not(SkipReason::StreamingBody);
        };
        let mut copy = Request::new(body);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Kept::Copy(Box::new(copy))
    }

    /// The API rejected the token the request carried: renew it once and,
    /// if the request was kept, send it once more with the new token. Never
    /// loops: the replay's answer is final.
    async fn after_rejection<S, B, R>(
        &self,
        mut inner: S,
        slot: &Arc<Slot>,
        ticket: Ticket,
        kept: Kept<B>,
        rejected: Response<R>,
    ) -> Result<Response<R>, BoxError>
    where
        S: Service<Request<B>, Response = Response<R>>,
        S::Error: Into<BoxError>,
    {
        let cache = &self.parts.cache;
        let kept = match kept {
            Kept::Copy(copy) => Ok(copy),
            Kept::Not(reason) => Err(reason),
        };
        let (mut replay, lease) = match cache.answer_rejection(slot, ticket, kept).await? {
            Ok(renewed) => renewed,
            Err(reason) => return Ok(skipped(rejected, reason)),
        };
        tracing::debug!("rejected token replaced; replaying the request");
        Counters::bump(&cache.counters().replays);
        attach_to(replay.headers_mut(), lease.header);
        drop(rejected);
        poll_fn(|cx| inner.poll_ready(cx))
            .await
            .map_err(Into::into)?;
        let mut response = inner.call(*replay).await.map_err(Into::into)?;
        response.extensions_mut().insert(ReplayOutcome::Replayed);
        Ok(response)
    }

    /// Routes a request by its URI's origin, else the layer's configured
    /// one (the router reads nothing else of the URL).
    fn route<'a, B>(&'a self, request: &'a Request<B>) -> Result<Route<'a>, Error> {
        let route = |url: &Url| {
            self.parts
                .router
                .route(url, request.headers(), request.extensions())
        };
        let uri = request.uri();
        let (scheme, authority) = match (uri.scheme(), uri.authority(), &self.origin) {
            (Some(scheme), Some(authority), _) => (scheme, authority),
            (None, None, Some(origin)) => return Ok(route(&origin.url)),
            (None, None, None) => {
                return Err(uri_error(
                    uri,
                    "names no scheme and host; set the layer's origin (OAuthLayer::origin)",
                ));
            }
            _ => return Err(uri_error(uri, "has a scheme or a host but not both")),
        };
        if let Some(origin) = self.origin.as_ref().filter(|o| o.is(scheme, authority)) {
            return Ok(route(&origin.url));
        }
        if let Some(last) = self
            .last
            .load()
            .as_deref()
            .filter(|o| o.is(scheme, authority))
        {
            return Ok(route(&last.url));
        }
        let target = Target::new(scheme, authority)?;
        let routed = route(&target.url);
        self.last.store(Some(Arc::new(target)));
        Ok(routed)
    }

    fn is_rejected<R>(&self, response: &Response<R>) -> bool {
        grpc_unauthenticated(response) || self.parts.rejection.is_rejected_http(response)
    }
}

/// A gRPC trailers-only response (the status in the headers, no message)
/// saying `UNAUTHENTICATED`: gRPC's `401`, sent with HTTP status 200.
fn grpc_unauthenticated<R>(response: &Response<R>) -> bool {
    // A constant name: looking up by `&str` would parse it on every response.
    const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
    response
        .headers()
        .get(GRPC_STATUS)
        .is_some_and(|status| status.as_bytes() == b"16")
}

fn uri_error(uri: &Uri, what: &str) -> Error {
    Error::InvalidUrl {
        what: "request",
        reason: format!("{uri:?} {what}"),
    }
}

/// The `Url` of a request URI's origin, which is all the router reads of
/// it (origin scoping, routes, the cleartext guard).
fn origin_url(scheme: &Scheme, authority: &Authority) -> Result<Url, Error> {
    Url::parse(&format!("{scheme}://{authority}/")).map_err(|error| Error::InvalidUrl {
        what: "request",
        reason: error.to_string(),
    })
}

/// The rejection itself goes back to the caller, saying why.
fn skipped<R>(mut response: Response<R>, reason: SkipReason) -> Response<R> {
    tracing::debug!(?reason, "rejected token; request not replayed");
    response
        .extensions_mut()
        .insert(ReplayOutcome::Skipped(reason));
    response
}
