//! Step-up on `insufficient_scope` (RFC 6750 3.1): an API that answers 401
//! or 403 with a Bearer challenge naming the scope it wants gets the request
//! once more, with a token for the key's scope and the requested one.

use http::StatusCode;
use reqwest::Response;

use crate::TokenRequest;
use crate::challenge::challenges;

/// The scope an `insufficient_scope` challenge asks for, if the response is
/// one (a 401 or 403 whose Bearer challenge says `error="insufficient_scope"`
/// and names a `scope`).
pub(crate) fn requested_scope(response: &Response) -> Option<String> {
    if !matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        return None;
    }
    challenges(response.headers())
        .into_iter()
        .filter(|challenge| challenge.is("Bearer"))
        .find(|challenge| challenge.error() == Some("insufficient_scope"))
        .and_then(|challenge| challenge.scope().map(str::to_owned))
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
