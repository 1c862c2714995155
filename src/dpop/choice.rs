//! Which key a token endpoint proves possession with: one the user gave,
//! or one generated on first use for an algorithm the server accepts.

use std::sync::{Arc, OnceLock};

use super::{DpopAlgorithm, DpopKey};
use crate::Error;

/// A token endpoint's DPoP key, or the promise of one.
#[derive(Clone)]
pub(crate) enum KeyChoice {
    Given(DpopKey),
    /// Made on the first token request, once the server's algorithms are
    /// known; shared by the endpoint's clones so all their tokens are
    /// bound to one key.
    Generated(Arc<OnceLock<DpopKey>>),
}

impl KeyChoice {
    pub(crate) fn generated() -> Self {
        KeyChoice::Generated(Arc::new(OnceLock::new()))
    }

    /// The key, once there is one.
    pub(crate) fn key(&self) -> Option<&DpopKey> {
        match self {
            KeyChoice::Given(key) => Some(key),
            KeyChoice::Generated(cell) => cell.get(),
        }
    }

    /// The key for a token request to a server that signs with one of
    /// `supported` (its `dpop_signing_alg_values_supported`; empty when it
    /// did not say, so any will do). A given key must be in the list: a
    /// mismatch fails here, before a proof the server would refuse is
    /// sent. A generated key is made for the first algorithm in
    /// [`DpopAlgorithm::PREFERRED`] the server lists.
    pub(crate) async fn for_server(&self, supported: &[String]) -> Result<DpopKey, Error> {
        let cell = match self {
            KeyChoice::Given(key) => return accepted(key, supported).cloned(),
            KeyChoice::Generated(cell) => cell,
        };
        if let Some(key) = cell.get() {
            return accepted(key, supported).cloned();
        }
        let algorithm = DpopAlgorithm::choose(supported).ok_or_else(|| Error::InvalidKey {
            reason: format!(
                "the server accepts only {supported:?} for DPoP; this crate signs with {:?}",
                DpopAlgorithm::PREFERRED.map(DpopAlgorithm::as_str)
            ),
        })?;
        // An RSA key takes a noticeable fraction of a second to make: off
        // the runtime's threads, so other tasks do not stall behind it
        // (inline when polled outside tokio, which has no blocking pool).
        let fresh = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn_blocking(move || DpopKey::generate_with(algorithm))
                .await
                .map_err(|_| Error::FetchAborted)??,
            Err(_) => DpopKey::generate_with(algorithm)?,
        };
        // Two first requests may race here: the first key stored wins, so
        // every token is bound to the one key proofs are signed with.
        Ok(cell.get_or_init(|| fresh).clone())
    }
}

/// `key`, if the server accepts its algorithm.
fn accepted<'k>(key: &'k DpopKey, supported: &[String]) -> Result<&'k DpopKey, Error> {
    let alg = key.algorithm().as_str();
    if supported.is_empty() || supported.iter().any(|listed| listed == alg) {
        return Ok(key);
    }
    Err(Error::InvalidKey {
        reason: format!("DPoP key signs {alg} but the server accepts only {supported:?}"),
    })
}
