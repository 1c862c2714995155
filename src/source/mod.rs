//! Where tokens come from: the [`TokenSource`] trait and the built-in grants.

mod client_credentials;
mod closure;
mod grant;
mod password;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use client_credentials::ClientCredentials;
pub use closure::{FnSource, source_fn};
pub use password::PasswordGrant;

use crate::{Error, Token, TokenRequest};

/// A boxed, sendable future, as returned by [`TokenSource::fetch`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Anything that can obtain a token: a grant, a legacy login, a vault.
///
/// The middleware decides *when* to fetch (once per key, single flight, on
/// expiry or rejection); a source only knows *how*. Implement it for a flow
/// the crate does not ship:
///
/// ```
/// use reqwest_oauth::{BoxFuture, Error, Token, TokenRequest, TokenSource};
///
/// struct FromEnvironment;
///
/// impl TokenSource for FromEnvironment {
///     fn fetch<'a>(&'a self, _request: &'a TokenRequest) -> BoxFuture<'a, Result<Token, Error>> {
///         Box::pin(async move {
///             let value = std::env::var("API_TOKEN")
///                 .map_err(|_| Error::Config("API_TOKEN is not set".into()))?;
///             Token::bearer(value)
///         })
///     }
/// }
/// ```
pub trait TokenSource: Send + Sync + 'static {
    /// Obtains a new token for `request` (its audience and scope).
    fn fetch<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<Token, Error>>;

    /// Renews a token with a refresh token (RFC 6749 section 6), if this
    /// source has such a flow; `None` (the default) if not. The cache calls
    /// it, single-flight, when the key's last token came with a refresh
    /// token; if the server refuses it, the cache falls back to
    /// [`fetch`](TokenSource::fetch) once.
    fn refresh<'a>(
        &'a self,
        request: &'a TokenRequest,
        refresh_token: &'a str,
    ) -> Option<BoxFuture<'a, Result<Token, Error>>> {
        let _ = (request, refresh_token);
        None
    }

    /// Told that the middleware stopped trusting `token`: the API rejected
    /// it, or the application invalidated it. A source that hands the same
    /// token to others (a [`FleetSource`](crate::fleet::FleetSource) shares
    /// it between processes) must not hand it out again; the default does
    /// nothing.
    fn forget(&self, request: &TokenRequest, token: &Token) {
        let _ = (request, token);
    }

    /// Checks the configuration without a network request. Called by
    /// [`OAuthMiddlewareBuilder::build`](crate::OAuthMiddlewareBuilder::build).
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}

impl<S: TokenSource + ?Sized> TokenSource for Arc<S> {
    fn fetch<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<Token, Error>> {
        (**self).fetch(request)
    }

    fn refresh<'a>(
        &'a self,
        request: &'a TokenRequest,
        refresh_token: &'a str,
    ) -> Option<BoxFuture<'a, Result<Token, Error>>> {
        (**self).refresh(request, refresh_token)
    }

    fn forget(&self, request: &TokenRequest, token: &Token) {
        (**self).forget(request, token)
    }

    fn check(&self) -> Result<(), Error> {
        (**self).check()
    }
}
