//! What a DPoP-bound token carries: the key it is bound to and the token's
//! hash, so attaching it signs a proof without hashing the token again.
//!
//! Both adapters (the middleware and the tower layer) prove requests and
//! read answers here, from a request's method and URL and a response's
//! status and headers: one proof-building path, one decision about nonces
//! and refusals, whatever the request and response types.

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use reqwest::Url;

use super::DpopKey;
use super::nonce::asks_for_nonce;
use super::proof::access_token_hash;
use super::refusal::{api_description, refused_proof, rejected};
use crate::Error;
use crate::outcome::SkipReason;

pub(crate) struct Binding {
    key: DpopKey,
    /// `ath` for this token's proofs.
    ath: String,
    /// `DPoP <token>`: the token's own header (sharing its zeroed buffer),
    /// kept here so a nonce replay needs nothing else from the request.
    authorization: HeaderValue,
}

impl Binding {
    pub(crate) fn new(key: DpopKey, access_token: &str, authorization: HeaderValue) -> Self {
        Binding {
            key,
            ath: access_token_hash(access_token),
            authorization,
        }
    }

    /// The thumbprint of the key the token is bound to (its `cnf.jkt`).
    pub(crate) fn thumbprint(&self) -> &str {
        self.key.thumbprint()
    }

    /// A fresh proof, for the request's `DPoP` header, of a request with
    /// `method` to `url` carrying this token; a replay gets a new one,
    /// never a copy. The value, not the request: the adapters' requests
    /// differ, and neither lends its method and URL while its headers are
    /// borrowed for writing.
    pub(crate) fn prove(&self, method: &Method, url: &Url) -> Result<HeaderValue, Error> {
        self.key.proof_header(method.as_str(), url, Some(&self.ath))
    }

    /// Reads an API's answer (`status` and `headers`) to a proof sent to
    /// `url`: remembers the nonce it carries, and says whether the API
    /// refused the proof for lacking it (`use_dpop_nonce`: `true`, so the
    /// request goes again, same token, new proof), or refused it outright
    /// (`invalid_dpop_proof`: the error, instead of the rejection
    /// predicate, since a new token would be refused the same way).
    pub(crate) fn needs_nonce_replay(
        &self,
        url: &Url,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<bool, Error> {
        let fresh = self.key.remember_nonce(url, headers);
        if fresh && asks_for_nonce(status, headers) {
            return Ok(true);
        }
        match self.refusal(url, status, headers) {
            Some(refused) => Err(refused),
            None => Ok(false),
        }
    }

    /// The nonce replay both adapters send once
    /// [`needs_nonce_replay`](Self::needs_nonce_replay) said so: the kept
    /// copy of the request (or why there is none) with this token's own
    /// header. The token was not refused, the proof was, so it is not
    /// renewed.
    pub(crate) fn nonce_replay<C>(
        &self,
        kept: Result<C, SkipReason>,
        url: &Url,
    ) -> Result<(C, HeaderValue), SkipReason> {
        let copy = kept?;
        tracing::debug!(
            replay = "dpop_nonce",
            origin = %url.origin().ascii_serialization(),
            "the API asked for a DPoP nonce; replaying with it, same token"
        );
        Ok((copy, self.authorization.clone()))
    }

    /// The typed error for the API's refusal of this request's proof
    /// (`invalid_dpop_proof`), when that is what the answer is.
    fn refusal(&self, url: &Url, status: StatusCode, headers: &HeaderMap) -> Option<Error> {
        let described = refused_proof(status, headers)?;
        let token = self
            .authorization
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("DPoP "))
            .unwrap_or_default();
        let description = described.map(|text| api_description(text, token));
        let origin = url.origin().ascii_serialization();
        tracing::warn!(
            origin,
            description = description.as_deref(),
            "the API refused the DPoP proof; the token is kept"
        );
        Some(rejected(url, status, description))
    }
}
