//! Where tokens come from: the [`TokenSource`] trait, the context a fetch is
//! asked in, and the built-in grants.

mod client_credentials;
mod closure;
mod context;
mod grant;
mod jwt_bearer;
mod password;
mod refresh;
mod subject;
mod token_exchange;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use client_credentials::ClientCredentials;
pub use closure::{FnSource, source_fn};
pub use context::{FetchContext, FetchReason};
pub use jwt_bearer::JwtBearer;
pub use password::PasswordGrant;
pub use subject::SubjectToken;
pub use token_exchange::TokenExchange;

use crate::{Error, Token};

/// Anything that can obtain a token: a grant, a legacy login, a vault.
///
/// The middleware decides *when* to fetch (once per key, single flight, on
/// expiry or rejection); a source only knows *how*. The [`FetchContext`]
/// says which token is wanted, why it is asked for, and which token it
/// replaces, so a source can renew with that token's refresh token (the
/// password grant does) or tell a rejected token from a missing one.
///
/// Implement it for a flow the crate does not ship, with an ordinary
/// `async fn`:
///
/// ```
/// use reqwest_oauth::{Error, FetchContext, Token, TokenSource};
///
/// struct FromEnvironment;
///
/// impl TokenSource for FromEnvironment {
///     async fn fetch(&self, _cx: FetchContext<'_>) -> Result<Token, Error> {
///         let value = std::env::var("API_TOKEN").map_err(Error::custom)?;
///         Token::bearer(value)
///     }
/// }
/// ```
pub trait TokenSource: Send + Sync + 'static {
    /// Obtains a new token for `cx.request()` (its audience, scope and
    /// resource).
    fn fetch(&self, cx: FetchContext<'_>) -> impl Future<Output = Result<Token, Error>> + Send;

    /// Checks the configuration without a network request. Called by
    /// [`OAuthMiddlewareBuilder::build`](crate::OAuthMiddlewareBuilder::build).
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}

impl<S: TokenSource> TokenSource for Arc<S> {
    fn fetch(&self, cx: FetchContext<'_>) -> impl Future<Output = Result<Token, Error>> + Send {
        (**self).fetch(cx)
    }

    fn check(&self) -> Result<(), Error> {
        (**self).check()
    }
}

/// A boxed, sendable future: what the cache stores a source behind.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`TokenSource`] with its future boxed, so the cache can hold any source
/// behind one `dyn` pointer while users write plain `async fn`s.
pub(crate) trait DynSource: Send + Sync + 'static {
    fn fetch_boxed<'a>(&'a self, cx: FetchContext<'a>) -> BoxFuture<'a, Result<Token, Error>>;
    fn check(&self) -> Result<(), Error>;
}

impl<S: TokenSource> DynSource for S {
    fn fetch_boxed<'a>(&'a self, cx: FetchContext<'a>) -> BoxFuture<'a, Result<Token, Error>> {
        Box::pin(self.fetch(cx))
    }

    fn check(&self) -> Result<(), Error> {
        TokenSource::check(self)
    }
}
