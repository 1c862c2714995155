//! A [`TokenSource`] made from an async closure, for flows that need only a
//! few lines.

use std::fmt;
use std::future::Future;

use super::TokenSource;
use crate::{Error, FetchContext, Token, TokenRequest};

/// A token source built by [`source_fn`].
///
/// ```
/// use reqwest_oauth::{OAuthMiddleware, Token, source_fn};
///
/// let source = source_fn(|_request| async { Token::bearer("from-a-vault") });
/// let oauth = OAuthMiddleware::new(source);
/// ```
pub struct FnSource<F>(F);

/// Makes a [`TokenSource`] from an async closure that receives the
/// [`TokenRequest`] (audience, scope) and returns a [`Token`].
///
/// ```
/// use reqwest_oauth::{OAuthMiddleware, Token, source_fn};
///
/// let oauth = OAuthMiddleware::new(source_fn(|request| async move {
///     // Any flow: a vault lookup, a legacy login, a CLI credential helper…
///     let audience = request.audience().unwrap_or("default").to_owned();
///     Token::bearer(format!("token-for-{audience}"))
/// }));
/// # let _ = oauth;
/// ```
pub fn source_fn<F, Fut>(fetch: F) -> FnSource<F>
where
    F: Fn(TokenRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Token, Error>> + Send + 'static,
{
    FnSource(fetch)
}

impl<F, Fut> TokenSource for FnSource<F>
where
    F: Fn(TokenRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Token, Error>> + Send + 'static,
{
    fn fetch(&self, cx: FetchContext<'_>) -> impl Future<Output = Result<Token, Error>> + Send {
        (self.0)(cx.request().clone())
    }
}

impl<F> fmt::Debug for FnSource<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnSource")
    }
}
