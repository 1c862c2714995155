//! Renewal with a refresh token (RFC 6749 section 6), for the grants that
//! are given one for a user (the password grant; client credentials never
//! refresh, RFC 6749 4.4.3): try the previous token's refresh token first,
//! and run the grant itself if there is none or the server refuses it.

use std::future::Future;

use super::grant::GrantSettings;
use crate::{Error, FetchContext, Token};

/// The token from the refresh grant, when `cx` replaces a token that came
/// with a refresh token, else (or when the refresh is refused) from `grant`.
/// A transient failure of the refresh is returned as it is, so the cache's
/// retry policy retries the refresh, not the grant. The refresh carries the
/// key's scope, audience and every resource, as the grant did (RFC 8707
/// 2.2: without them a server may narrow or widen the new token).
pub(super) async fn refresh_or_grant<G, F>(
    settings: &GrantSettings,
    cx: FetchContext<'_>,
    grant: G,
) -> Result<Token, Error>
where
    G: FnOnce() -> F,
    F: Future<Output = Result<Token, Error>>,
{
    let Some(refresh_token) = cx.previous().and_then(Token::refresh_token) else {
        return grant().await;
    };
    let own = [("refresh_token", refresh_token)];
    let refresh = settings.params("refresh_token", &own, cx.request())?;
    match settings.endpoint.request(&refresh).await {
        // A server that does not rotate refresh tokens sends none back: the
        // old one stays good (RFC 6749 section 6).
        Ok(token) if token.refresh_token().is_none() => Ok(token.with_refresh_token(refresh_token)),
        Ok(token) => Ok(token),
        Err(error) if error.is_transient() => Err(error),
        Err(error) => {
            let audience = cx.request().audience();
            tracing::info!(audience, %error, "refresh refused; running the grant again");
            grant().await
        }
    }
}
