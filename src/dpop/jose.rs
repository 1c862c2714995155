//! What every part of a DPoP key shares: base64url without padding, as
//! JOSE encodes every member, and the error for a key that cannot be used.
//! A leaf, so the key, its algorithms and its formats all import it and
//! none imports another for it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::Error;

/// base64url without padding, as every JOSE member is encoded.
pub(super) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A key that cannot be used, saying why (never quoting the key).
pub(super) fn invalid(reason: &str) -> Error {
    Error::InvalidKey {
        reason: format!("DPoP key: {reason}"),
    }
}
