//! Attaching a credential to an outgoing request: a step of its own, so a
//! token that needs per-request work (a DPoP proof bound to the method,
//! URL and token) has one place to do it. A bearer token needs none: its
//! sensitive header is built once and cloned here.

use std::sync::Arc;

use http::HeaderValue;
use http::header::AUTHORIZATION;
use reqwest::Request;

use crate::Error;

#[cfg(feature = "dpop")]
pub(crate) use crate::dpop::Binding;

/// Without the `dpop` feature no token is bound: a type with no values, so
/// an `Option<Arc<Binding>>` is always `None` and the checks on it fold
/// away.
#[cfg(not(feature = "dpop"))]
pub(crate) enum Binding {}

#[cfg(not(feature = "dpop"))]
impl Binding {
    pub(crate) fn prove(&self, _: &mut Request) -> Result<(), Error> {
        match *self {}
    }

    pub(crate) fn needs_nonce_replay(&self, _: &reqwest::Response) -> Result<bool, Error> {
        match *self {}
    }

    pub(crate) fn thumbprint(&self) -> &str {
        match *self {}
    }

    pub(crate) fn authorization(&self) -> &http::HeaderValue {
        match *self {}
    }
}

/// Puts the leased `Authorization` value on `request`, and for a
/// DPoP-bound token a fresh proof beside it.
#[inline]
pub(crate) fn attach(
    request: &mut Request,
    header: HeaderValue,
    binding: Option<&Arc<Binding>>,
) -> Result<(), Error> {
    request.headers_mut().insert(AUTHORIZATION, header);
    match binding {
        None => Ok(()),
        Some(binding) => binding.prove(request),
    }
}

/// Puts the leased `Authorization` value in a request's headers, for
/// adapters whose requests are not `reqwest::Request`s (the tower layer).
#[cfg(feature = "tower")]
pub(crate) fn attach_to(headers: &mut http::HeaderMap, header: HeaderValue) {
    headers.insert(AUTHORIZATION, header);
}
