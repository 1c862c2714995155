//! Deciding whether a response means "the token you sent is no good".

use std::sync::Arc;

use http::{HeaderMap, StatusCode};

use crate::challenge::{Challenge, challenges};

/// Decides from an API response whether the token it carried was rejected
/// (expired or revoked), so a new token is worth one replay: the builder's
/// [`token_rejected`](crate::OAuthMiddlewareBuilder::token_rejected), by
/// default [`token_rejected`].
///
/// The default is a variant of its own so that adapters whose responses are
/// not `reqwest::Response`s (the tower layer) can judge status and headers
/// directly, without building one.
#[derive(Clone, Default)]
pub(crate) enum Rejection {
    #[default]
    Default,
    Custom(Arc<dyn Fn(&reqwest::Response) -> bool + Send + Sync>),
}

impl Rejection {
    pub(crate) fn new(
        predicate: impl Fn(&reqwest::Response) -> bool + Send + Sync + 'static,
    ) -> Self {
        Rejection::Custom(Arc::new(predicate))
    }

    pub(crate) fn is_rejected(&self, response: &reqwest::Response) -> bool {
        match self {
            Rejection::Default => token_rejected(response),
            Rejection::Custom(predicate) => predicate(response),
        }
    }

    /// The same judgement for a response of the `http` crate. A custom
    /// predicate is shown a copy of the status and headers (it cannot read
    /// the body either way), so only custom predicates pay for the copy.
    #[cfg(feature = "tower")]
    pub(crate) fn is_rejected_http<B>(&self, response: &http::Response<B>) -> bool {
        match self {
            Rejection::Default => rejected(response.status(), response.headers()),
            Rejection::Custom(predicate) => {
                let mut head = http::Response::new(reqwest::Body::from(Vec::new()));
                *head.status_mut() = response.status();
                *head.headers_mut() = response.headers().clone();
                predicate(&reqwest::Response::from(head))
            }
        }
    }
}

/// Whether the API rejected the token, by default: a `401` whose bearer
/// challenge says `error="invalid_token"` (RFC 6750 3.1), or a `401` with a
/// bearer challenge naming no error, or with no challenge at all (many APIs
/// answer an expired token with a bare 401 and a JSON body).
///
/// Not a rejection: a `401` naming another bearer error (such as
/// `invalid_request` or `insufficient_scope`), or whose challenges name only
/// other schemes (`Basic realm="legacy"`): a new token would not help, so
/// the response is returned as it is. Challenges are read with the RFC 7235
/// parser ([`challenges`](crate::policy::challenges)), so case, whitespace
/// and quoting do not change the answer.
///
/// ```
/// use reqwest_oauth::policy::token_rejected;
///
/// let expired = http::Response::builder()
///     .status(401)
///     .header("www-authenticate", r#"Bearer realm="api", error="invalid_token""#)
///     .body("")
///     .unwrap();
/// assert!(token_rejected(&expired.into()));
///
/// let malformed = http::Response::builder()
///     .status(401)
///     .header("www-authenticate", r#"Bearer error="invalid_request""#)
///     .body("")
///     .unwrap();
/// assert!(!token_rejected(&malformed.into()));
///
/// let other_scheme = http::Response::builder()
///     .status(401)
///     .header("www-authenticate", r#"Basic realm="legacy""#)
///     .body("")
///     .unwrap();
/// assert!(!token_rejected(&other_scheme.into()));
/// ```
pub fn token_rejected(response: &reqwest::Response) -> bool {
    rejected(response.status(), response.headers())
}

/// [`token_rejected`] on a response's status and headers, whatever the
/// response type.
fn rejected(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::UNAUTHORIZED && rejects_bearer(headers)
}

/// Whether a 401's challenges say the bearer token was refused.
fn rejects_bearer(headers: &HeaderMap) -> bool {
    let found = challenges(headers);
    if found.is_empty() {
        return true;
    }
    // A DPoP-bound token is refused the same way, under its own scheme.
    let mut bearer = found
        .iter()
        .filter(|c| c.is("Bearer") || c.is("DPoP"))
        .peekable();
    if bearer.peek().is_none() {
        return false;
    }
    match bearer.find_map(Challenge::error) {
        Some(code) => code == "invalid_token",
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(values: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                http::header::WWW_AUTHENTICATE,
                value.parse().expect("header"),
            );
        }
        rejects_bearer(&headers)
    }

    #[test]
    fn reads_the_bearer_error_whatever_the_spelling() {
        let cases = [
            (&[r#"Bearer error="invalid_token""#][..], true),
            (
                &[r#"Bearer realm="a, b", error="invalid_token", error_description="x""#],
                true,
            ),
            (
                &[r#"Basic realm="x", Bearer error=insufficient_scope"#],
                false,
            ),
            (
                &[r#"bearer Error_Description = "x y", ERROR = insufficient_scope"#],
                false,
            ),
            (&[r#"BEARER ERROR = "invalid_token""#], true),
            (&[r#"Bearer realm="api""#], true),
            (&["Bearer"], true),
            (&[r#"Bearer realm="q\"uote, error=no""#], true),
            (&[], true),
        ];
        for (values, expected) in cases {
            assert_eq!(rejected(values), expected, "{values:?}");
        }
    }

    #[test]
    fn a_401_naming_only_other_schemes_is_not_a_token_rejection() {
        assert!(!rejected(&[r#"Basic realm="legacy""#]));
        assert!(!rejected(&[r#"Basic error="invalid_token""#]));
        assert!(!rejected(&[
            r#"Basic realm="a""#,
            r#"Digest realm="b", nonce="n""#
        ]));
        assert!(rejected(&[r#"Basic realm="a""#, "Bearer"]));
    }
}
