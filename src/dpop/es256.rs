//! ES256 keys (RFC 7518 section 3.4): ECDSA on P-256 with SHA-256, the
//! signature as the fixed 64 bytes `r || s` JWS wants.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING as ALG, EcdsaKeyPair, KeyPair};

use super::jose::invalid;
use super::jwk::{Members, PrivateJwk};
use crate::Error;

pub(super) fn generate() -> Result<EcdsaKeyPair, Error> {
    EcdsaKeyPair::generate(&ALG).map_err(|_| invalid("the system could not generate a P-256 key"))
}

/// A P-256 private key in PKCS#8 DER, or in SEC1 (`EC PRIVATE KEY`).
pub(super) fn from_der(der: &[u8]) -> Result<EcdsaKeyPair, Error> {
    EcdsaKeyPair::from_pkcs8(&ALG, der)
        .or_else(|_| EcdsaKeyPair::from_private_key_der(&ALG, der))
        .map_err(|_| invalid("not a PKCS#8 or SEC1 P-256 private key"))
}

/// `kty` `EC`, `crv` `P-256`, with `x`, `y` and the private `d`.
pub(super) fn from_jwk(text: &str) -> Result<EcdsaKeyPair, Error> {
    let jwk = PrivateJwk::parse(text, "EC", Some("P-256"))?;
    let (d, x, y) = (jwk.member("d")?, jwk.member("x")?, jwk.member("y")?);
    // The public key as an uncompressed point: 0x04, then x and y.
    let point = [&[4u8][..], &x, &y].concat();
    EcdsaKeyPair::from_private_key_and_public_key(&ALG, &d, &point)
        .map_err(|_| invalid("the JWK's d, x and y are not one P-256 key"))
}

/// `crv`, `kty`, `x`, `y`.
pub(super) fn members(pair: &EcdsaKeyPair) -> Result<Members, Error> {
    // An uncompressed point: 0x04, then x and y, 32 bytes each.
    let point = pair.public_key().as_ref();
    let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
        return Err(invalid("the public key is not an uncompressed P-256 point"));
    };
    Ok(vec![
        ("crv", "P-256".to_owned()),
        ("kty", "EC".to_owned()),
        ("x", super::jose::b64(x)),
        ("y", super::jose::b64(y)),
    ])
}
