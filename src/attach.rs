//! Attaching a credential to an outgoing request: a step of its own, so a
//! token that needs per-request work (a sender-constrained proof bound to
//! the method, URL and token) has one place to do it. A bearer token needs
//! none: its sensitive header is built once and cloned here.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use reqwest::Request;

/// Puts the leased `Authorization` value on `request`.
pub(crate) fn attach(request: &mut Request, header: HeaderValue) {
    attach_to(request.headers_mut(), header);
}

/// Puts the leased `Authorization` value in a request's headers, for
/// adapters whose requests are not `reqwest::Request`s (the tower layer).
pub(crate) fn attach_to(headers: &mut HeaderMap, header: HeaderValue) {
    headers.insert(AUTHORIZATION, header);
}
