//! What a DPoP-bound token carries: the key it is bound to and the token's
//! hash, so attaching it signs a proof without hashing the token again.

use http::{HeaderName, HeaderValue};
use reqwest::{Request, Response};

use super::DpopKey;
use super::nonce::asks_for_nonce;
use super::proof::access_token_hash;
use super::refusal::{api_description, refused_proof, rejected};
use crate::Error;

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

    /// The `Authorization` value of the bound token.
    pub(crate) fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }

    /// The thumbprint of the key the token is bound to (its `cnf.jkt`).
    pub(crate) fn thumbprint(&self) -> &str {
        self.key.thumbprint()
    }

    /// Puts a fresh proof for this request (its method, URL and the token)
    /// in its `DPoP` header; a replay gets a new one, never a copy.
    pub(crate) fn prove(&self, request: &mut Request) -> Result<(), Error> {
        let proof =
            self.key
                .proof_header(request.method().as_str(), request.url(), Some(&self.ath))?;
        request
            .headers_mut()
            .insert(HeaderName::from_static(super::DPOP_HEADER), proof);
        Ok(())
    }

    /// Reads an API's answer to a proof: remembers the nonce it carries,
    /// and says whether the API refused the proof for lacking it
    /// (`use_dpop_nonce`: `true`, so the request goes again, same token,
    /// new proof), or refused it outright (`invalid_dpop_proof`: the
    /// error, instead of the rejection predicate, since a new token would
    /// be refused the same way).
    pub(crate) fn needs_nonce_replay(&self, response: &Response) -> Result<bool, Error> {
        let fresh = self.key.remember_nonce(response.url(), response.headers());
        if fresh && asks_for_nonce(response.status(), response.headers()) {
            return Ok(true);
        }
        match self.refusal(response) {
            Some(refused) => Err(refused),
            None => Ok(false),
        }
    }

    /// The typed error for the API's refusal of this request's proof
    /// (`invalid_dpop_proof`), when that is what `response` is.
    fn refusal(&self, response: &Response) -> Option<Error> {
        let described = refused_proof(response.status(), response.headers())?;
        let token = self
            .authorization
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("DPoP "))
            .unwrap_or_default();
        let description = described.map(|text| api_description(text, token));
        let origin = response.url().origin().ascii_serialization();
        tracing::warn!(
            origin,
            description = description.as_deref(),
            "the API refused the DPoP proof; the token is kept"
        );
        Some(rejected(response.url(), response.status(), description))
    }
}
