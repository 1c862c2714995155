//! The client's DPoP key: generated in memory or imported, never shown.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::nonce::Nonces;
use crate::Error;

/// A key that signs DPoP proofs: ES256 (P-256).
///
/// Cloning is cheap and clones share the key and the nonces servers gave
/// it. The private half never shows in `Debug` or logs; the public half is
/// in every proof's header.
///
/// ```
/// use reqwest_oauth::dpop::DpopKey;
///
/// // A fresh key in memory, for this process only.
/// let key = DpopKey::generate()?;
/// // Or one kept elsewhere, so tokens survive a restart or are shared by
/// // replicas: PKCS#8 PEM, or a JWK with its private `d`.
/// let pem = std::fs::read("tests/fixtures/ec_private.pem")?;
/// let same_everywhere = DpopKey::es256_pem(&pem)?;
/// assert_eq!(same_everywhere.algorithm(), "ES256");
/// assert_eq!(key.public_jwk()["kty"], "EC");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DpopKey {
    pub(super) inner: Arc<KeyInner>,
}

pub(super) struct KeyInner {
    pub(super) pair: EcdsaKeyPair,
    pub(super) rng: SystemRandom,
    /// `base64url(header JSON) + "."`: the same for every proof, so built once.
    pub(super) header_prefix: String,
    public_jwk: Value,
    thumbprint: String,
    pub(super) nonces: Nonces,
}

impl DpopKey {
    /// A new P-256 key, generated in memory.
    pub fn generate() -> Result<Self, Error> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| invalid("the system could not generate a P-256 key"))?;
        Self::from_pair(pair)
    }

    /// A P-256 private key in PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn es256_pem(pem: &[u8]) -> Result<Self, Error> {
        let der = pem_body(pem)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| invalid("not a PKCS#8 P-256 private key"))?;
        Self::from_pair(pair)
    }

    /// A P-256 private key as a JWK (`kty` `EC`, `crv` `P-256`, with `x`,
    /// `y` and the private `d`).
    pub fn es256_jwk(jwk: &str) -> Result<Self, Error> {
        let jwk: Value = serde_json::from_str(jwk).map_err(|_| invalid("the JWK is not JSON"))?;
        if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
            return Err(invalid("the JWK is not an EC P-256 key"));
        }
        let part = |name: &str| {
            let text = jwk[name]
                .as_str()
                .ok_or_else(|| invalid("the JWK lacks x, y or d"))?;
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| invalid("the JWK's x, y or d is not base64url"))
        };
        let (d, x, y) = (part("d")?, part("x")?, part("y")?);
        let point = [&[4u8][..], &x, &y].concat();
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &d,
            &point,
        )
        .map_err(|_| invalid("the JWK's d, x and y are not one P-256 key"))?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: EcdsaKeyPair) -> Result<Self, Error> {
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
            return Err(invalid("the public key is not an uncompressed P-256 point"));
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638: the required members, in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        let public_jwk = json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk });
        let header_prefix = format!("{}.", URL_SAFE_NO_PAD.encode(header.to_string()));
        Ok(DpopKey {
            inner: Arc::new(KeyInner {
                pair,
                rng: SystemRandom::new(),
                header_prefix,
                public_jwk,
                thumbprint: URL_SAFE_NO_PAD.encode(digest.as_ref()),
                nonces: Nonces::default(),
            }),
        })
    }

    /// The JWS algorithm proofs are signed with (`ES256`).
    pub fn algorithm(&self) -> &'static str {
        "ES256"
    }

    /// The public key as a JWK (no private part).
    pub fn public_jwk(&self) -> &Value {
        &self.inner.public_jwk
    }

    /// The key's RFC 7638 thumbprint (base64url SHA-256), what a server
    /// records as the token's `cnf.jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.inner.thumbprint
    }

    /// Keeps the `DPoP-Nonce` a response from `url` carries, if any.
    pub(crate) fn remember_nonce(&self, url: &reqwest::Url, headers: &http::HeaderMap) -> bool {
        self.inner.nonces.remember(url, headers)
    }

    /// Whether two handles hold the same key (compared by thumbprint).
    pub fn same_key(&self, other: &DpopKey) -> bool {
        self.inner.thumbprint == other.inner.thumbprint
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("algorithm", &self.algorithm())
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

fn invalid(reason: &str) -> Error {
    Error::InvalidKey {
        reason: format!("DPoP key: {reason}"),
    }
}

/// The DER inside a PEM block: the base64 lines between the armour.
fn pem_body(pem: &[u8]) -> Result<Vec<u8>, Error> {
    let text = std::str::from_utf8(pem).map_err(|_| invalid("the PEM is not text"))?;
    if !text.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(invalid("expected a PKCS#8 PEM (BEGIN PRIVATE KEY)"));
    }
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| invalid("the PEM body is not base64"))
}
