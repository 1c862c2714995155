//! How one fetch for a key runs: with the refresh token if the key has one
//! and the source can use it (RFC 6749 section 6), else, or if the refresh
//! is refused, with the source's own grant; each with retries.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::retry::with_retries;
use crate::stats::Counters;
use crate::{Error, RetryPolicy, Token, TokenRequest, TokenSource};

/// A new token, and the refresh token the key keeps for next time.
pub(super) struct Renewed {
    pub(super) token: Token,
    pub(super) refresh_token: Option<Arc<SecretString>>,
}

pub(super) async fn renew(
    source: &dyn TokenSource,
    key: &TokenRequest,
    refresh_token: Option<Arc<SecretString>>,
    policy: &RetryPolicy,
    counters: &Counters,
) -> Result<Renewed, Error> {
    Counters::bump(&counters.fetches);
    if let Some(refresh) =
        refresh_token.filter(|rt| source.refresh(key, rt.expose_secret()).is_some())
    {
        let attempt = || {
            source
                .refresh(key, refresh.expose_secret())
                .unwrap_or_else(|| Box::pin(async { Err(Error::FetchAborted) }))
        };
        match with_retries(policy, counters, key, "refresh", attempt).await {
            // A server that does not rotate refresh tokens sends none back:
            // the old one stays good (RFC 6749 section 6).
            Ok(token) => return Ok(kept(token, Some(refresh))),
            Err(error) if error.is_transient() => return Err(error),
            Err(error) => {
                tracing::info!(audience = key.audience(), %error, "refresh refused; running the grant again");
            }
        }
    }
    let attempt = || source.fetch(key);
    let token = with_retries(policy, counters, key, "grant", attempt).await?;
    Ok(kept(token, None))
}

/// The token, with the refresh token to keep: the one it came with, else
/// the previous one.
fn kept(token: Token, previous: Option<Arc<SecretString>>) -> Renewed {
    let refresh_token = token
        .refresh_token()
        .map(|rt| Arc::new(SecretString::from(rt)))
        .or(previous);
    Renewed {
        token,
        refresh_token,
    }
}
