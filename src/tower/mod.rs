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
//! (`UNAUTHENTICATED`). A gRPC server may also send headers, messages, then
//! `grpc-status: 16` in the trailers: by then the caller has the response,
//! so the call is not sent again, but the response body ([`OAuthBody`])
//! reads the trailers and the token is retired as after any rejection
//! (once per token, damped the same way), so the next call gets a new one.
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
//! With the builder's [`step_up`](crate::OAuthMiddlewareBuilder::step_up),
//! a `401` or `403` whose Bearer challenge says `insufficient_scope` and
//! names a `scope` (RFC 6750, RFC 9470) is answered as the middleware
//! answers it: the request is sent once more with a token for the key's
//! scope and the requested one, cached under a key of its own.
//!
//! With the `dpop` feature, a DPoP-bound token goes out as the middleware
//! sends it, through the same code: `Authorization: DPoP <token>` and a
//! fresh proof per request (each replay a new one) naming the request's
//! method and its URI's scheme, host and path (for a path-only URI, the
//! layer's [`origin`](OAuthLayer::origin) and the path), the token's hash
//! and the origin's nonce. Every `DPoP-Nonce` through the layer updates
//! that nonce; a `401` with `WWW-Authenticate: DPoP
//! error="use_dpop_nonce"` (or a gRPC trailers-only `UNAUTHENTICATED`
//! carrying that challenge in its metadata) is sent once more with the
//! nonce, the same token, when the request was kept
//! ([`ReplayOutcome::DpopNonce`](crate::policy::ReplayOutcome::DpopNonce)); a
//! refused proof is `Error::DpopProofRejected`, renewing no token.
//!
//! A request whose token is cached is sent from the service's `call`: its
//! future ([`ResponseFuture`]) is the inner service's, not boxed, and the
//! inner service is not cloned for it.
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

mod after;
mod body;
mod entry;
mod future;
mod grpc;
mod proof;
mod replay;
mod route;
mod service;
mod shared;
mod watch;

use std::sync::Arc;

use ::tower::Layer;
use http::Uri;

pub use body::{BufferBody, BufferedBody, CloneBody, ReplayBody};
pub use future::ResponseFuture;
pub use service::OAuthService;
pub use watch::OAuthBody;

use crate::OAuthMiddleware;
use route::{Core, Target};

/// The error type of [`OAuthService`]: the inner service's error, or this
/// crate's [`Error`](crate::Error) (find it with
/// `downcast_ref::<reqwest_oauth::Error>()`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// Without it such requests fail with
    /// [`Error::InvalidUrl`](crate::Error::InvalidUrl), since
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

impl<S: Clone, K: Clone> Layer<S> for OAuthLayer<K> {
    type Service = OAuthService<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        OAuthService::new(inner, self.core.clone(), self.keep.clone())
    }
}
