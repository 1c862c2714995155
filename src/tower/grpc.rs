//! Reading gRPC's `UNAUTHENTICATED` (status 16, gRPC's `401`, sent with
//! HTTP status 200): in the headers of a trailers-only response, or in the
//! trailers after a streamed answer.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, StatusCode};

/// A constant name: looking up by `&str` would parse it on every response.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// Whether `headers` (a trailers-only response's headers, or trailers) say
/// `grpc-status: 16`.
pub(super) fn unauthenticated(headers: &HeaderMap) -> bool {
    headers
        .get(GRPC_STATUS)
        .is_some_and(|status| status.as_bytes() == b"16")
}

/// The HTTP status an answer stands for: `401` for gRPC's
/// `UNAUTHENTICATED` in a trailers-only response's headers (sent with
/// HTTP 200), else its own.
pub(super) fn http_status(status: StatusCode, headers: &HeaderMap) -> StatusCode {
    match is_grpc(headers) && unauthenticated(headers) {
        true => StatusCode::UNAUTHORIZED,
        false => status,
    }
}

/// Whether a response is a gRPC one (`application/grpc`, with or without
/// a `+format`): only those carry a status in their trailers, so only
/// their bodies are watched.
pub(super) fn is_grpc(headers: &HeaderMap) -> bool {
    // A lookup hashes the name even in an empty map.
    !headers.is_empty()
        && headers
            .get(CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    http::HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn only_status_16_is_unauthenticated() {
        assert!(unauthenticated(&headers(&[("grpc-status", "16")])));
        assert!(!unauthenticated(&headers(&[("grpc-status", "0")])));
        assert!(!unauthenticated(&headers(&[("grpc-status", "160")])));
        assert!(!unauthenticated(&headers(&[])));
    }

    #[test]
    fn unauthenticated_in_a_grpc_answers_headers_stands_for_401() {
        let ok = StatusCode::OK;
        let grpc = headers(&[("content-type", "application/grpc"), ("grpc-status", "16")]);
        assert_eq!(http_status(ok, &grpc), StatusCode::UNAUTHORIZED);
        let plain = headers(&[("grpc-status", "16")]);
        assert_eq!(http_status(ok, &plain), ok, "not a gRPC answer");
        let fine = headers(&[("content-type", "application/grpc"), ("grpc-status", "0")]);
        assert_eq!(http_status(ok, &fine), ok);
        let forbidden = StatusCode::FORBIDDEN;
        assert_eq!(http_status(forbidden, &headers(&[])), forbidden);
    }

    #[test]
    fn grpc_content_types_are_recognised() {
        assert!(is_grpc(&headers(&[("content-type", "application/grpc")])));
        assert!(is_grpc(&headers(&[(
            "content-type",
            "application/grpc+proto"
        )])));
        assert!(!is_grpc(&headers(&[("content-type", "application/json")])));
        assert!(!is_grpc(&headers(&[])));
    }
}
