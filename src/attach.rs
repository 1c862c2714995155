//! Attaching a credential to an outgoing request: a step of its own, so a
//! token that needs per-request work (a DPoP proof bound to the method,
//! URL and token) has one place to do it. A bearer token needs none: its
//! sensitive header is built once and cloned here.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Request;

use crate::Error;

#[cfg(feature = "dpop")]
pub(crate) use crate::dpop::Binding;

/// The request header a DPoP proof travels in (`dpop::DPOP_HEADER`),
/// named here too so that builds without the `dpop` feature, which never
/// send one, still compile the one attaching path.
const DPOP: HeaderName = HeaderName::from_static("dpop");

/// Without the `dpop` feature no token is bound: a type with no values, so
/// an `Option<Arc<Binding>>` is always `None` and the checks on it fold
/// away.
#[cfg(not(feature = "dpop"))]
pub(crate) enum Binding {}

#[cfg(not(feature = "dpop"))]
impl Binding {
    pub(crate) fn prove(&self, _: &http::Method, _: &reqwest::Url) -> Result<HeaderValue, Error> {
        match *self {}
    }

    pub(crate) fn needs_nonce_replay(
        &self,
        _: &reqwest::Url,
        _: http::StatusCode,
        _: &HeaderMap,
    ) -> Result<bool, Error> {
        match *self {}
    }

    pub(crate) fn nonce_replay<C>(
        &self,
        _: Result<C, crate::outcome::SkipReason>,
        _: &reqwest::Url,
    ) -> Result<(C, HeaderValue), crate::outcome::SkipReason> {
        match *self {}
    }

    pub(crate) fn thumbprint(&self) -> &str {
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
    let proof = match binding {
        None => None,
        Some(binding) => Some(binding.prove(request.method(), request.url())?),
    };
    attach_to(request.headers_mut(), header, proof);
    Ok(())
}

/// Puts the leased `Authorization` value, and a DPoP-bound token's proof
/// ([`Binding::prove`]), in a request's headers: what [`attach`] does to a
/// `reqwest::Request`, for any adapter's request (the tower layer's are
/// `http::Request`s).
#[inline]
pub(crate) fn attach_to(headers: &mut HeaderMap, header: HeaderValue, proof: Option<HeaderValue>) {
    headers.insert(AUTHORIZATION, header);
    if let Some(proof) = proof {
        put_proof(headers, proof);
    }
}

/// Out of line: a bearer request's insert is not made generic over two
/// header names.
#[inline(never)]
fn put_proof(headers: &mut HeaderMap, proof: HeaderValue) {
    headers.insert(DPOP, proof);
}

#[cfg(all(test, feature = "dpop"))]
mod tests {
    #[test]
    fn the_proof_header_is_the_one_the_dpop_module_names() {
        assert_eq!(super::DPOP.as_str(), crate::dpop::DPOP_HEADER);
    }
}
