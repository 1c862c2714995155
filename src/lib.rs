//! OAuth 2.0 bearer tokens for [`reqwest_middleware`] clients.
//!
//! Add [`OAuthMiddleware`] to a client and every request carries a valid
//! `Authorization: Bearer …` header. The middleware fetches a token on the
//! first request, caches it per audience and scope, lets exactly one task
//! fetch while the others wait for its result, and when the API answers
//! `401` because the token expired, fetches a new one and sends the request
//! once more.
//!
//! # Quick start
//!
//! ```no_run
//! use reqwest_oauth::endpoint::{BodyFormat, ClientAuth};
//! use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let grant = ClientCredentials::new("https://auth.example.com/oauth/token", "id", "secret")
//!     .body_format(BodyFormat::Json) // many vendors want JSON; the RFC default is a form
//!     .client_auth(ClientAuth::Body); // and the credentials in the body
//! let oauth = OAuthMiddleware::builder(grant)
//!     .audience("https://api.example.com")
//!     .build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(oauth.clone())
//!     .build();
//!
//! let response = client.get("https://api.example.com/things").send().await?;
//! # Ok(()) }
//! ```
//!
//! # Choosing a grant
//!
//! - [`ClientCredentials`]: a service calling an API as itself (RFC 6749 4.4).
//! - [`PasswordGrant`]: a dedicated API user's name and password (RFC 6749 4.3).
//! - Either, found from an issuer URL: [`ClientCredentials::discover`].
//! - No secret at all, a workload identity: [`grant::TokenExchange`] (RFC
//!   8693: a platform or user token traded for one for another audience)
//!   and [`grant::JwtBearer`] (RFC 7523: a signed JWT traded for a token),
//!   the credential read from a [`grant::SubjectToken`] (a fixed value, a
//!   rotating file, a closure, another source).
//! - Refresh tokens are used automatically by the password grant, with the
//!   key's scope, audience and resources; client credentials renew by
//!   running the grant again (RFC 6749 4.4.3).
//! - Anything else: an async closure ([`source_fn`]) or a [`TokenSource`]
//!   implementation; [`TokenEndpoint`] does the HTTP and error handling if
//!   your flow talks to a token endpoint.
//!
//! # Audiences and scopes
//!
//! The builder's [`audience`](OAuthMiddlewareBuilder::audience) applies to
//! every request; the [`Audience`] and [`Scope`] extensions choose another
//! token for one request. Each distinct audience and scope has its own
//! cached token. [`SkipAuth`] sends a request untouched, and so does a
//! request that already has an `Authorization` header.
//!
//! # Origins and safety
//!
//! Without origin rules every request made with the client carries the
//! token. [`allow_origin`](OAuthMiddlewareBuilder::allow_origin) limits that;
//! [`route`](OAuthMiddlewareBuilder::route) also picks an audience per
//! origin. Credentials never travel over plain `http` except to loopback,
//! unless a `danger_allow_insecure_http` method says otherwise.
//!
//! # Reliability
//!
//! Tokens are refreshed in the background before they expire
//! ([`policy::RefreshAhead`]); failed token requests are retried
//! ([`policy::RetryPolicy`]); after a failure, a short cooldown (or the
//! server's `Retry-After`) answers with the same error instead of storming
//! the endpoint; an API that rejects every token is damped
//! ([`policy::RejectionDamping`]), and each rejected response says what was
//! done about it ([`policy::ReplayOutcome`]); [`OAuthMiddleware::stats`]
//! counts it all, and with the `metrics` feature `Stats::record_metrics`
//! hands the counts to any `metrics` exporter.
//!
//! # Errors
//!
//! When no token can be had the request is not sent: the caller gets an
//! [`Error`] inside `reqwest_middleware::Error::Middleware`. Get it back with
//! [`Error::from_middleware`]; [`endpoint::EndpointError`] holds what the token
//! endpoint said (status, `error`, `error_description`, `message`). A
//! custom source gets the same typed error from a refusal with
//! [`Error::from_token_response`], and `?` on a reqwest status error is
//! classified the same way (408, 429, 5xx transient; other 4xx permanent).
//! The API's own answers come back as responses, a rejected token's after
//! one renewal and replay; the one exception is a DPoP proof the API
//! refuses (feature `dpop`), which is the client's fault, not the
//! token's: `Error::DpopProofRejected`, as from the token endpoint.
//!
//! # Fleet mode
//!
//! Many replicas of one service can share one token per key instead of
//! fetching one each: wrap the source in a [`fleet::FleetSource`] with a
//! shared [`fleet::TokenStore`] (Redis with the `redis` feature). One
//! replica fetches under a lock in the store; the others read its token.
//! See the [`fleet`] module.
//!
//! # Testing
//!
//! The `testkit` feature adds an in-process authorization server and
//! protected API on 127.0.0.1, for tests against mock upstreams: count
//! token requests, script failures and stalls, revoke tokens, choose the
//! style of the API's `401`s. See the `testkit` module (with the feature
//! on).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "private-key-jwt")]
mod assertion;
mod attach;
mod builder;
mod cache;
mod challenge;
mod discovery;
#[cfg(feature = "dpop")]
#[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
pub mod dpop;
pub mod endpoint;
pub mod error;
pub mod expiry;
mod extensions;
pub mod fleet;
mod http_read;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod middleware;
mod origin;
mod outcome;
mod per_thread;
mod rejection;
mod replay;
mod request;
mod response;
mod retry;
mod routing;
mod scrub;
mod source;
mod stats;
mod step_up;
mod token;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;

pub use builder::OAuthMiddlewareBuilder;
pub use error::Error;
pub use extensions::{Audience, Resource, Scope, SkipAuth};
pub use middleware::OAuthMiddleware;
pub use request::TokenRequest;
pub use source::{ClientCredentials, FetchContext, PasswordGrant, TokenSource, source_fn};
pub use stats::Stats;
pub use token::Token;

/// Where tokens come from: the built-in grants, sources made from closures,
/// and what a source is told when it is asked for a token.
pub mod grant {
    pub use crate::source::{
        ClientCredentials, FetchContext, FetchReason, FnSource, JwtBearer, PasswordGrant,
        SubjectToken, TokenExchange, TokenSource, source_fn,
    };
}

/// The middleware's policies: when tokens are renewed ahead of expiry, how
/// failed fetches are retried, which responses mean a rejected token (and
/// the `WWW-Authenticate` parser to write your own predicate with), and
/// which requests are replayed after one.
pub mod policy {
    pub use crate::cache::{RefreshAhead, RejectionDamping};
    pub use crate::challenge::{Challenge, challenges};
    pub use crate::outcome::{ReplayOutcome, SkipReason};
    pub use crate::rejection::token_rejected;
    pub use crate::replay::ReplayPolicy;
    pub use crate::retry::RetryPolicy;
}

// Crate-internal short paths for names whose public home is a module.
#[cfg(feature = "private-key-jwt")]
pub(crate) use assertion::PrivateKeyJwt;
pub(crate) use endpoint::{BodyFormat, ClientAuth, TokenEndpoint};
pub(crate) use retry::RetryPolicy;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use response::fuzzing;
