//! Deciding whether a response means "the token you sent is no good".

use std::sync::Arc;

use http::StatusCode;
use http::header::WWW_AUTHENTICATE;

/// Decides from an API response whether the token it carried was rejected
/// (expired or revoked), so a new token is worth one replay: the builder's
/// [`token_rejected`](crate::OAuthMiddlewareBuilder::token_rejected), by
/// default [`token_rejected`].
#[derive(Clone)]
pub(crate) struct Rejection(Arc<dyn Fn(&reqwest::Response) -> bool + Send + Sync>);

impl Rejection {
    pub(crate) fn new(
        predicate: impl Fn(&reqwest::Response) -> bool + Send + Sync + 'static,
    ) -> Self {
        Rejection(Arc::new(predicate))
    }

    pub(crate) fn is_rejected(&self, response: &reqwest::Response) -> bool {
        (self.0)(response)
    }
}

impl Default for Rejection {
    fn default() -> Self {
        Rejection::new(token_rejected)
    }
}

/// Whether the API rejected the token, by default: a `401` whose `WWW-Authenticate`
/// bearer challenge says `error="invalid_token"` (RFC 6750 3.1), or a `401`
/// with no bearer error at all (many APIs answer an expired token with a
/// bare 401 and a JSON body). A `401` naming another bearer error, such as
/// `invalid_request`, is not a token problem and is returned as it is.
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
/// ```
pub fn token_rejected(response: &reqwest::Response) -> bool {
    if response.status() != StatusCode::UNAUTHORIZED {
        return false;
    }
    let error = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(bearer_error);
    match error {
        Some(code) => code == "invalid_token",
        None => true,
    }
}

/// The `error` parameter of the `Bearer` challenge in one `WWW-Authenticate`
/// value, if there is one.
fn bearer_error(header: &str) -> Option<String> {
    let mut in_bearer = false;
    for item in split_unquoted_commas(header) {
        let item = item.trim();
        let param = match item.split_once(char::is_whitespace) {
            // "Scheme param=value" starts a new challenge.
            Some((scheme, rest)) if !scheme.contains('=') => {
                in_bearer = scheme.eq_ignore_ascii_case("bearer");
                rest.trim()
            }
            // A lone "Scheme" starts a new challenge with no parameters.
            None if !item.contains('=') => {
                in_bearer = item.eq_ignore_ascii_case("bearer");
                continue;
            }
            _ => item,
        };
        if !in_bearer {
            continue;
        }
        if let Some((name, value)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("error")
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

fn split_unquoted_commas(header: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    header.split(move |c: char| {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => return true,
            _ => {}
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::bearer_error;

    #[test]
    fn finds_the_bearer_error_among_challenges() {
        let cases = [
            (r#"Bearer error="invalid_token""#, Some("invalid_token")),
            (
                r#"Bearer realm="a, b", error="invalid_token", error_description="x""#,
                Some("invalid_token"),
            ),
            (
                r#"Basic realm="x", Bearer error=insufficient_scope"#,
                Some("insufficient_scope"),
            ),
            (r#"Basic error="invalid_token""#, None),
            (r#"Bearer realm="api""#, None),
            ("Bearer", None),
            (r#"Bearer realm="q\"uote, error=no""#, None),
        ];
        for (header, expected) in cases {
            assert_eq!(bearer_error(header).as_deref(), expected, "{header}");
        }
    }
}
