//! EdDSA keys on Ed25519 (RFC 8037): deterministic signatures, so signing
//! needs no randomness; the quickest of the three to sign with.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

use super::jose::b64;
use super::jose::invalid;
use super::jwk::{Members, PrivateJwk};
use crate::Error;

pub(super) fn generate() -> Result<Ed25519KeyPair, Error> {
    Ed25519KeyPair::generate().map_err(|_| invalid("the system could not generate an Ed25519 key"))
}

/// An Ed25519 private key in PKCS#8 DER (v1, as key tools usually write
/// it, or v2 with its public key, which must match).
pub(super) fn from_der(der: &[u8]) -> Result<Ed25519KeyPair, Error> {
    Ed25519KeyPair::from_pkcs8(der).map_err(|_| invalid("not a PKCS#8 Ed25519 private key"))
}

/// `kty` `OKP`, `crv` `Ed25519`, with `x` and the private `d` (the seed).
pub(super) fn from_jwk(text: &str) -> Result<Ed25519KeyPair, Error> {
    let jwk = PrivateJwk::parse(text, "OKP", Some("Ed25519"))?;
    let (d, x) = (jwk.member("d")?, jwk.member("x")?);
    // Checked against `x`: a seed alone would also take a public key's
    // bytes and make a key nobody can verify.
    Ed25519KeyPair::from_seed_and_public_key(&d, &x)
        .map_err(|_| invalid("the JWK's d and x are not one Ed25519 key"))
}

/// `crv`, `kty`, `x`.
pub(super) fn members(pair: &Ed25519KeyPair) -> Members {
    vec![
        ("crv", "Ed25519".to_owned()),
        ("kty", "OKP".to_owned()),
        ("x", b64(pair.public_key().as_ref())),
    ]
}
