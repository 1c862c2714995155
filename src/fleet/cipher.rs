//! [`Cipher`]: encryption at rest for what a fleet keeps in its store.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};

/// AES-GCM's 96-bit nonce.
type Nonce = aes_gcm::aead::Nonce<Aes256Gcm>;
const NONCE_LEN: usize = 12;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::zeroize::Zeroizing;

/// Marks a sealed value and its format: `enc1.<key id>.<nonce ‖ ciphertext>`,
/// both parts base64url.
const PREFIX: &str = "enc1.";

/// AES-256-GCM for a fleet's stored tokens
/// ([`FleetSource::encrypt`](super::FleetSource::encrypt)). Each value is
/// sealed with a fresh random nonce and the store key as associated data,
/// so a reader of the store sees neither the token nor its lifetime, and a
/// value copied under another key (or written by someone without the key)
/// is refused. With a cipher the fleet also shares refresh tokens.
///
/// Each value names the key id that sealed it, so keys rotate without a
/// cold fleet: first deploy `Cipher::aes256_gcm("k2", new).also_decrypts("k1",
/// old)` everywhere (new values are sealed with `k2`, old ones still read),
/// then drop `k1` once its values have expired. A value sealed with an
/// unknown key counts as absent: that process fetches and publishes anew.
///
/// ```
/// use reqwest_oauth::fleet::Cipher;
///
/// // 32 random bytes from your secret manager, never from code.
/// let current = [7u8; 32];
/// let previous = [9u8; 32];
/// let cipher = Cipher::aes256_gcm("2026-11", &current).also_decrypts("2026-05", &previous);
/// assert!(!format!("{cipher:?}").contains('7'));
/// ```
#[derive(Clone)]
pub struct Cipher {
    /// Seals every value; listed first among the keys that open.
    sealing: Arc<KeyEntry>,
    opening: Vec<Arc<KeyEntry>>,
}

struct KeyEntry {
    id: String,
    aead: Aes256Gcm,
}

impl Cipher {
    /// Seals with AES-256-GCM under `key`, named `key_id` in each value
    /// (any text; it is stored in clear, so no secret in it).
    pub fn aes256_gcm(key_id: impl Into<String>, key: &[u8; 32]) -> Self {
        let sealing = Arc::new(KeyEntry::new(key_id.into(), key));
        Cipher {
            opening: vec![sealing.clone()],
            sealing,
        }
    }

    /// Also opens values sealed with this older key (while keys rotate).
    pub fn also_decrypts(mut self, key_id: impl Into<String>, key: &[u8; 32]) -> Self {
        self.opening
            .push(Arc::new(KeyEntry::new(key_id.into(), key)));
        self
    }

    /// `plaintext` sealed for `store_key`; `None` only if no random nonce
    /// could be had (then nothing is published).
    pub(super) fn seal(&self, store_key: &str, plaintext: &str) -> Option<String> {
        let nonce = Nonce::try_generate().ok()?;
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: store_key.as_bytes(),
        };
        let sealed = self.sealing.aead.encrypt(&nonce, payload).ok()?;
        let mut body = Vec::with_capacity(nonce.len() + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        let id = URL_SAFE_NO_PAD.encode(&self.sealing.id);
        Some(format!("{PREFIX}{id}.{}", URL_SAFE_NO_PAD.encode(body)))
    }

    /// The plaintext of a value sealed for `store_key` by a known key;
    /// `None` for anything else (clear text, another key, tampering).
    pub(super) fn open(&self, store_key: &str, value: &str) -> Option<Zeroizing<String>> {
        let (id, body) = value.strip_prefix(PREFIX)?.split_once('.')?;
        let id = URL_SAFE_NO_PAD.decode(id).ok()?;
        let key = self.opening.iter().find(|key| key.id.as_bytes() == id)?;
        let body = URL_SAFE_NO_PAD.decode(body).ok()?;
        let (nonce, sealed) = (body.get(..NONCE_LEN)?, body.get(NONCE_LEN..)?);
        let nonce = Nonce::try_from(nonce).ok()?;
        let payload = Payload {
            msg: sealed,
            aad: store_key.as_bytes(),
        };
        let plain = Zeroizing::new(key.aead.decrypt(&nonce, payload).ok()?);
        std::str::from_utf8(&plain)
            .ok()
            .map(|text| Zeroizing::new(text.to_owned()))
    }
}

impl KeyEntry {
    fn new(id: String, key: &[u8; 32]) -> Self {
        KeyEntry {
            id,
            aead: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        }
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.opening.iter().map(|key| key.id.as_str()).collect();
        f.debug_struct("Cipher")
            .field("algorithm", &"AES-256-GCM")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_under_its_key_and_store_key() {
        let cipher = Cipher::aes256_gcm("a", &[1; 32]);
        let Some(sealed) = cipher.seal("k", "secret-token") else {
            panic!("seals")
        };
        assert!(sealed.starts_with("enc1.") && !sealed.contains("secret"));
        assert_eq!(
            cipher.open("k", &sealed).as_deref().map(String::as_str),
            Some("secret-token")
        );
        assert!(
            cipher.open("other-key", &sealed).is_none(),
            "bound to its key"
        );
        assert!(
            cipher.open("k", "secret-token").is_none(),
            "clear text refused"
        );
        let stranger = Cipher::aes256_gcm("a", &[2; 32]);
        assert!(stranger.open("k", &sealed).is_none(), "another key");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(cipher.open("k", &tampered).is_none(), "tampering");
        let rotated = Cipher::aes256_gcm("b", &[3; 32]).also_decrypts("a", &[1; 32]);
        assert!(rotated.open("k", &sealed).is_some(), "old key still opens");
        assert_ne!(cipher.seal("k", "x"), cipher.seal("k", "x"), "fresh nonces");
    }
}
