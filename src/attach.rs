//! Attaching a credential to an outgoing request: a step of its own, so a
//! token that needs per-request work (a sender-constrained proof bound to
//! the method, URL and token) has one place to do it. A bearer token needs
//! none: its sensitive header is built once and cloned here.

use http::HeaderValue;
use http::header::AUTHORIZATION;
use reqwest::Request;

/// Puts the leased `Authorization` value on `request`.
pub(crate) fn attach(request: &mut Request, header: HeaderValue) {
    request.headers_mut().insert(AUTHORIZATION, header);
}
