//! The tokens an [`AuthServer`](super::AuthServer) issued, which its
//! [`ApiServer`](super::ApiServer) checks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What the API knows about a token it accepts.
#[derive(Debug, Clone)]
pub(super) struct Issued {
    pub(super) audience: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) expires_at: Instant,
}

#[derive(Default)]
pub(super) struct IssuedTokens {
    issued: Mutex<HashMap<String, Issued>>,
    /// Who each token was issued to, for the token exchange's subject.
    subjects: Mutex<HashMap<String, String>>,
    /// DPoP-bound tokens and their key's thumbprint (`cnf.jkt`).
    #[cfg_attr(not(feature = "dpop"), allow(dead_code))]
    bound: Mutex<HashMap<String, String>>,
    next_id: AtomicU64,
    minted: AtomicU64,
}

impl IssuedTokens {
    /// A fresh, unguessable value that is not an access token.
    pub(super) fn mint(&self, prefix: &str) -> String {
        let id = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}-{id}-{:016x}", nonce())
    }

    pub(super) fn issue(
        &self,
        audience: Option<String>,
        scope: Option<String>,
        lifetime: Duration,
    ) -> String {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let token = format!("testkit-{id}-{:016x}", nonce());
        let issued = Issued {
            audience,
            scope,
            expires_at: Instant::now() + lifetime,
        };
        self.issued.lock().insert(token.clone(), issued);
        token
    }

    /// The token's grant, if it was issued and has not expired or been revoked.
    pub(super) fn check(&self, token: &str) -> Option<Issued> {
        let issued = self.issued.lock().get(token).cloned()?;
        (Instant::now() < issued.expires_at).then_some(issued)
    }

    pub(super) fn set_subject(&self, token: &str, subject: &str) {
        self.subjects
            .lock()
            .insert(token.to_owned(), subject.to_owned());
    }

    pub(super) fn subject_of(&self, token: &str) -> Option<String> {
        self.subjects.lock().get(token).cloned()
    }

    /// Binds `token` to the DPoP key with thumbprint `jkt`.
    #[cfg(feature = "dpop")]
    pub(super) fn bind(&self, token: &str, jkt: String) {
        self.bound.lock().insert(token.to_owned(), jkt);
    }

    /// The thumbprint of the key `token` is bound to, if it is.
    #[cfg(feature = "dpop")]
    pub(super) fn jkt(&self, token: &str) -> Option<String> {
        self.bound.lock().get(token).cloned()
    }

    pub(super) fn revoke_all(&self) {
        self.issued.lock().clear();
    }

    pub(super) fn issued_count(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }
}

/// Makes tokens unguessable across server runs without a random crate.
fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos());
    hasher.finish()
}
