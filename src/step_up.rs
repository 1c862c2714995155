//! Step-up on `insufficient_scope` (RFC 6750 3.1, RFC 9470): an API that
//! answers 401 or 403 with a Bearer challenge naming the scope it wants gets
//! the request once more, with a token for the key's scope and the
//! requested one. Both adapters (the middleware and the tower layer) ask
//! here, so the decision is made in one place.

use http::{HeaderMap, StatusCode};

use crate::cache::{Lease, TokenCache};
use crate::challenge::challenges;
use crate::outcome::SkipReason;
use crate::routing::Router;
use crate::{Error, TokenRequest};

/// The scope an `insufficient_scope` challenge asks for, if the response is
/// one (a 401 or 403 whose Bearer challenge says `error="insufficient_scope"`
/// and names a `scope`). Status and headers, so any response type can ask.
pub(crate) fn requested_scope(status: StatusCode, headers: &HeaderMap) -> Option<String> {
    if !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return None;
    }
    challenges(headers)
        .into_iter()
        .filter(|challenge| challenge.is("Bearer"))
        .find(|challenge| challenge.error() == Some("insufficient_scope"))
        .and_then(|challenge| challenge.scope().map(str::to_owned))
}

/// What a step-up comes to, for a request whose key is `key`.
pub(crate) enum Answer<C> {
    /// Send the kept copy once more with this lease, for the wider key.
    Replay(C, Lease),
    /// The key already had that scope: a new token would not help, so the
    /// response goes back as it came.
    AsItCame,
    /// The request cannot be sent again (the response says why).
    Skip(SkipReason),
}

/// The one answer to `insufficient_scope` both adapters give: lease a
/// token for `key` widened by `requested` (a key of its own in the cache,
/// so the next step-up costs no token request) for the kept copy. The
/// token the request carried is left alone: it is good, only too narrow.
pub(crate) async fn answer<C>(
    router: &Router,
    cache: &TokenCache,
    key: &TokenRequest,
    requested: &str,
    kept: Result<C, SkipReason>,
) -> Result<Answer<C>, Error> {
    let Some(wider) = widened(key, requested) else {
        return Ok(Answer::AsItCame);
    };
    let copy = match kept {
        Ok(copy) => copy,
        Err(reason) => return Ok(Answer::Skip(reason)),
    };
    let slot = cache.slot(&router.key_for(&wider));
    let lease = cache.lease(&slot).await?;
    tracing::debug!(replay = "step_up", scope = %requested, "insufficient scope; replaying with a wider token");
    Ok(Answer::Replay(copy, lease))
}

/// The key for the stepped-up token: `key` with the union of its scope and
/// `requested`, or `None` when that adds nothing (a step-up would only get
/// the same token again).
pub(crate) fn widened(key: &TokenRequest, requested: &str) -> Option<TokenRequest> {
    let mut scopes: Vec<&str> = key.scope().unwrap_or_default().split_whitespace().collect();
    let before = scopes.len();
    for scope in requested.split_whitespace() {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    (scopes.len() > before).then(|| key.clone().with_scope(scopes.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_union_keeps_the_order_and_adds_only_what_is_new() {
        let key = TokenRequest::new().with_scope("read write");
        let wider = widened(&key, "write admin").map(|k| k.scope().map(str::to_owned));
        assert_eq!(wider, Some(Some("read write admin".to_owned())));
        assert!(widened(&key, "read").is_none(), "nothing new: no step-up");
        let bare = widened(&TokenRequest::new(), "admin");
        assert_eq!(
            bare.and_then(|k| k.scope().map(str::to_owned)).as_deref(),
            Some("admin")
        );
    }
}
