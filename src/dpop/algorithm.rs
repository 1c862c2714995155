//! The JWS algorithms a [`DpopKey`](super::DpopKey) signs with, and which
//! one to pick for a server that lists the ones it accepts.

use std::fmt;

/// A JWS algorithm DPoP proofs can be signed with (RFC 9449 section 4.2
/// requires an asymmetric one).
///
/// ```
/// use reqwest_oauth::dpop::{DpopAlgorithm, DpopKey};
///
/// let key = DpopKey::generate_with(DpopAlgorithm::EdDsa)?;
/// assert_eq!(key.algorithm(), DpopAlgorithm::EdDsa);
/// assert_eq!(key.algorithm().as_str(), "EdDSA");
/// assert_eq!(DpopAlgorithm::parse("RS256"), Some(DpopAlgorithm::Rs256));
/// # Ok::<(), reqwest_oauth::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopAlgorithm {
    /// `ES256`: ECDSA on P-256 with SHA-256; the default.
    Es256,
    /// `EdDSA`: Ed25519 (RFC 8037).
    EdDsa,
    /// `RS256`: RSA PKCS#1 v1.5 with SHA-256; for servers that accept
    /// nothing else. Its signatures are the slowest of the three to make.
    Rs256,
}

impl DpopAlgorithm {
    /// Every algorithm the crate signs with, in the order it prefers them
    /// when it chooses: ES256 first (small, quick, the one servers most
    /// often accept), then EdDSA, then RS256 (large keys and proofs, and
    /// the slowest signature).
    pub const PREFERRED: [DpopAlgorithm; 3] = [
        DpopAlgorithm::Es256,
        DpopAlgorithm::EdDsa,
        DpopAlgorithm::Rs256,
    ];

    /// The `alg` value, as in a proof's header and in
    /// `dpop_signing_alg_values_supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            DpopAlgorithm::Es256 => "ES256",
            DpopAlgorithm::EdDsa => "EdDSA",
            DpopAlgorithm::Rs256 => "RS256",
        }
    }

    /// The algorithm an `alg` value names, if the crate signs with it
    /// (case-sensitive, as JWS algorithm names are).
    pub fn parse(alg: &str) -> Option<DpopAlgorithm> {
        Self::PREFERRED
            .into_iter()
            .find(|known| known.as_str() == alg)
    }

    /// The algorithm to generate a key for, given the server's
    /// `dpop_signing_alg_values_supported` (empty: it did not say, so any
    /// is taken to do): the first of [`PREFERRED`](Self::PREFERRED) the
    /// server lists, or `None` when it lists none of them.
    pub(crate) fn choose(supported: &[String]) -> Option<DpopAlgorithm> {
        if supported.is_empty() {
            return Some(DpopAlgorithm::Es256);
        }
        Self::PREFERRED
            .into_iter()
            .find(|ours| supported.iter().any(|alg| alg == ours.as_str()))
    }
}

impl fmt::Display for DpopAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_prefers_es256_then_eddsa_then_rs256() {
        let list = |algs: &[&str]| algs.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let choose = |algs: &[&str]| DpopAlgorithm::choose(&list(algs));
        assert_eq!(choose(&[]), Some(DpopAlgorithm::Es256));
        assert_eq!(choose(&["RS256", "ES256"]), Some(DpopAlgorithm::Es256));
        assert_eq!(choose(&["RS256", "EdDSA"]), Some(DpopAlgorithm::EdDsa));
        assert_eq!(choose(&["PS256", "RS256"]), Some(DpopAlgorithm::Rs256));
        assert_eq!(choose(&["PS256", "ES384"]), None);
    }
}
