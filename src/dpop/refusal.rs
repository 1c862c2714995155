//! A server's refusal of a proof (`invalid_dpop_proof`, RFC 9449 sections
//! 5 and 7.1). The proof is the client's own work, so the fault is on this
//! side: a key the server does not take, a clock further off than it
//! allows, or a bug. A new token would be refused the same way, so a
//! refusal is a typed error, the same from an API as from the token
//! endpoint, and never a renewal.

use http::{HeaderMap, StatusCode};
use reqwest::Url;

use crate::Error;
use crate::challenge::challenges;
use crate::scrub::REDACTED;

/// The most of a server's description an error keeps.
const MAX_DESCRIPTION: usize = 256;

/// Whether an API's answer refuses the proof: a client error (`401` in
/// the RFC) with a `DPoP` challenge naming `invalid_dpop_proof`. `Some`
/// holds the challenge's `error_description`, if it has one.
pub(crate) fn refused_proof(status: StatusCode, headers: &HeaderMap) -> Option<Option<String>> {
    if !status.is_client_error() {
        return None;
    }
    challenges(headers)
        .into_iter()
        .find(|c| c.is("DPoP") && c.error() == Some("invalid_dpop_proof"))
        .map(|c| c.error_description().map(str::to_owned))
}

/// The error for a proof `url`'s server refused with `status`. The
/// description is the server's own words, already free of anything the
/// request sent.
pub(crate) fn rejected(url: &Url, status: StatusCode, description: Option<String>) -> Error {
    Error::DpopProofRejected {
        origin: url.origin().ascii_serialization(),
        status,
        description,
    }
}

/// An API's description as an error keeps it: the access token replaced
/// if the API echoed it, and at most [`MAX_DESCRIPTION`] characters.
pub(crate) fn api_description(text: String, access_token: &str) -> String {
    let text = match access_token.is_empty() {
        true => text,
        false => text.replace(access_token, REDACTED),
    };
    text.chars().take(MAX_DESCRIPTION).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_refusal_and_keeps_the_token_out_of_it() {
        let mut headers = HeaderMap::new();
        let challenge = r#"DPoP algs="ES256", error="invalid_dpop_proof", error_description="bad""#;
        headers.insert(
            http::header::WWW_AUTHENTICATE,
            challenge.parse().expect("value"),
        );
        let refused = refused_proof(StatusCode::UNAUTHORIZED, &headers);
        assert_eq!(refused, Some(Some("bad".to_owned())));
        assert_eq!(refused_proof(StatusCode::OK, &headers), None);
        let nonce = r#"DPoP error="use_dpop_nonce""#;
        headers.insert(
            http::header::WWW_AUTHENTICATE,
            nonce.parse().expect("value"),
        );
        assert_eq!(refused_proof(StatusCode::UNAUTHORIZED, &headers), None);
        let echoed = api_description("token tok-123 is bad".into(), "tok-123");
        assert_eq!(echoed, "token [redacted] is bad");
        assert_eq!(
            api_description("x".repeat(1000), "t").len(),
            MAX_DESCRIPTION
        );
    }
}
