//! RS256 keys (RFC 7518 section 3.3): RSA PKCS#1 v1.5 with SHA-256, 2048
//! to 8192 bits. The slowest of the three to sign with, and its proofs
//! are the largest; here for servers that accept nothing else.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPairComponents, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};

use super::jose::b64;
use super::jose::invalid;
use super::jwk::{Members, PrivateJwk};
use crate::Error;

/// A new 2048-bit key: the smallest RFC 7518 allows, and the quickest to
/// sign with; generating it takes a noticeable fraction of a second.
pub(super) fn generate() -> Result<RsaKeyPair, Error> {
    RsaKeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| invalid("the system could not generate an RSA key"))
}

/// An RSA private key in PKCS#8 DER, or in PKCS#1 (`RSA PRIVATE KEY`).
pub(super) fn from_der(der: &[u8]) -> Result<RsaKeyPair, Error> {
    RsaKeyPair::from_pkcs8(der)
        .or_else(|_| RsaKeyPair::from_der(der))
        .map_err(|_| invalid("not a PKCS#8 or PKCS#1 RSA private key of 2048 to 8192 bits"))
}

/// `kty` `RSA` with `n`, `e`, the private `d` and the CRT members `p`,
/// `q`, `dp`, `dq`, `qi` (RFC 7518 section 6.3.2), checked against one
/// another.
pub(super) fn from_jwk(text: &str) -> Result<RsaKeyPair, Error> {
    let jwk = PrivateJwk::parse(text, "RSA", None)?;
    let (n, e) = (jwk.member("n")?, jwk.member("e")?);
    let components = KeyPairComponents {
        // Some encoders prefix a zero byte; the key wants none.
        public_key: PublicKeyComponents {
            n: without_leading_zeros(&n),
            e: without_leading_zeros(&e),
        },
        d: jwk.member("d")?,
        p: jwk.member("p")?,
        q: jwk.member("q")?,
        dP: jwk.member("dp")?,
        dQ: jwk.member("dq")?,
        qInv: jwk.member("qi")?,
    };
    RsaKeyPair::from_components(&components)
        .map_err(|_| invalid("the JWK's members are not one RSA key of 2048 to 8192 bits"))
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// `e`, `kty`, `n`.
pub(super) fn members(pair: &RsaKeyPair) -> Members {
    let public = pair.public_key();
    vec![
        (
            "e",
            b64(public.exponent().big_endian_without_leading_zero()),
        ),
        ("kty", "RSA".to_owned()),
        ("n", b64(public.modulus().big_endian_without_leading_zero())),
    ]
}

/// The signature of `message`: as long as the modulus.
pub(super) fn sign(
    pair: &RsaKeyPair,
    rng: &SystemRandom,
    message: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, rng, message, &mut signature)
        .map_err(|_| super::proof::failed("the RSA key refused to sign"))?;
    Ok(signature)
}
