//! DPoP through the layer: the URL a bound request's proofs name (its
//! URI's, or for a path-only URI the layer's origin and the URI's path, as
//! routing reads it), the proof itself and the reading of its answer. Both
//! are the binding's ([`Binding::prove`], [`Binding::needs_nonce_replay`]),
//! the same code the middleware calls; only the request and response
//! types differ here.

use std::sync::Arc;

use http::{HeaderValue, Request, Response, Uri};
use url::Url;

use super::grpc;
use super::route::{Core, uri_error};
use crate::Error;
use crate::attach::Binding;

/// What the answer to a DPoP-bound request is read with: the token's
/// binding, and the URL the proof named (its origin keys the nonce the
/// answer may carry, and a replay's proof names it again).
pub(super) struct Bound {
    pub(super) binding: Arc<Binding>,
    pub(super) url: Url,
}

impl Bound {
    /// Remembers the nonce the answer carries; says whether the API asked
    /// for one (a replay, same token) or refused the proof outright (the
    /// error). gRPC's `UNAUTHENTICATED` in a trailers-only response's
    /// headers is read as the `401` it stands for, so a `DPoP` challenge
    /// in its metadata is answered as it would be over plain HTTP.
    pub(super) fn needs_nonce_replay<R>(&self, response: &Response<R>) -> Result<bool, Error> {
        let status = grpc::http_status(response.status(), response.headers());
        self.binding
            .needs_nonce_replay(&self.url, status, response.headers())
    }
}

/// The proof for `request` when its token is DPoP-bound, and what its
/// answer is read with; nothing for a bearer token, which needs neither.
#[inline]
pub(super) fn prove<B>(
    core: &Core,
    binding: Option<Arc<Binding>>,
    request: &Request<B>,
) -> Result<(Option<HeaderValue>, Option<Box<Bound>>), Error> {
    match binding {
        // The bearer path: one test, nothing called.
        None => Ok((None, None)),
        Some(binding) => {
            let (proof, bound) = prove_bound(core, binding, request)?;
            Ok((Some(proof), Some(bound)))
        }
    }
}

/// [`prove`] for a bound token: kept out of line, so the bearer path's
/// code stays as small as it was.
#[inline(never)]
fn prove_bound<B>(
    core: &Core,
    binding: Arc<Binding>,
    request: &Request<B>,
) -> Result<(HeaderValue, Box<Bound>), Error> {
    let url = target_url(core, request.uri())?;
    let proof = binding.prove(request.method(), &url)?;
    // Boxed: the answer of a bearer request carries one empty word for it.
    Ok((proof, Box::new(Bound { binding, url })))
}

/// The URL a proof names (`htu` drops its query): the URI's own scheme,
/// host and path, or the layer's origin with the URI's path when the URI
/// is only a path (tonic's). Parsed as a `Url`, so the layer's `htu` is
/// normalised exactly as the middleware's.
fn target_url(core: &Core, uri: &Uri) -> Result<Url, Error> {
    let parsed = match (uri.scheme(), uri.authority(), &core.origin) {
        (Some(scheme), Some(authority), _) => {
            Url::parse(&format!("{scheme}://{authority}{}", uri.path()))
        }
        (None, None, Some(origin)) => {
            let mut url = origin.url.clone();
            url.set_path(uri.path());
            Ok(url)
        }
        // Routing refused these before a token was leased; kept for a
        // caller that skipped it.
        _ => return Err(uri_error(uri, "names no origin to prove a request to")),
    };
    parsed.map_err(|error| uri_error(uri, &error.to_string()))
}
