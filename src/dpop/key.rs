//! The client's DPoP key: generated in memory or imported, never shown.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::DpopAlgorithm;
use super::jwk::{public_jwk, thumbprint_of};
use super::nonce::Nonces;
use super::pem::{Form, private_key_der};
use super::signer::Signer;
use crate::Error;

/// A key that signs DPoP proofs: ES256 (P-256), EdDSA (Ed25519) or RS256
/// (RSA).
///
/// Cloning is cheap and clones share the key and the nonces servers gave
/// it. The private half never shows in `Debug` or logs; the public half is
/// in every proof's header.
///
/// Each algorithm's key comes generated or from PEM (PKCS#8, or the
/// traditional `EC PRIVATE KEY` / `RSA PRIVATE KEY`), PKCS#8 DER or a JWK
/// with its private members.
///
/// ```
/// use reqwest_oauth::dpop::{DpopAlgorithm, DpopKey};
///
/// // A fresh key in memory, for this process only.
/// let key = DpopKey::generate()?;
/// assert_eq!(key.algorithm(), DpopAlgorithm::Es256);
/// assert_eq!(key.public_jwk()["kty"], "EC");
/// // Or one kept elsewhere, so tokens survive a restart or are shared by
/// // replicas.
/// let pem = std::fs::read("tests/fixtures/rsa_private.pem")?;
/// let same_everywhere = DpopKey::rs256_pem(&pem)?;
/// assert_eq!(same_everywhere.algorithm().as_str(), "RS256");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DpopKey {
    pub(super) inner: Arc<KeyInner>,
}

pub(super) struct KeyInner {
    pub(super) signer: Signer,
    pub(super) rng: SystemRandom,
    /// `base64url(header JSON) + "."`: the same for every proof, so built once.
    pub(super) header_prefix: String,
    public_jwk: Value,
    thumbprint: String,
    pub(super) nonces: Nonces,
}

impl DpopKey {
    /// A new ES256 (P-256) key, generated in memory.
    pub fn generate() -> Result<Self, Error> {
        Self::generate_with(DpopAlgorithm::Es256)
    }

    /// A new key for `algorithm`, generated in memory. An RSA key (2048
    /// bits) takes a noticeable fraction of a second to generate; the
    /// others, microseconds.
    ///
    /// ```
    /// use reqwest_oauth::dpop::{DpopAlgorithm, DpopKey};
    ///
    /// let key = DpopKey::generate_with(DpopAlgorithm::EdDsa)?;
    /// assert_eq!(key.public_jwk()["crv"], "Ed25519");
    /// # Ok::<(), reqwest_oauth::Error>(())
    /// ```
    pub fn generate_with(algorithm: DpopAlgorithm) -> Result<Self, Error> {
        Self::from_signer(Signer::generate(algorithm)?)
    }

    /// An ES256 (P-256) private key in PEM: PKCS#8 (`BEGIN PRIVATE KEY`)
    /// or SEC1 (`BEGIN EC PRIVATE KEY`).
    pub fn es256_pem(pem: &[u8]) -> Result<Self, Error> {
        Self::from_pem(DpopAlgorithm::Es256, pem)
    }

    /// An ES256 (P-256) private key in DER: PKCS#8, or SEC1.
    pub fn es256_der(der: &[u8]) -> Result<Self, Error> {
        Self::from_signer(Signer::from_der(DpopAlgorithm::Es256, der, Form::Pkcs8)?)
    }

    /// An ES256 private key as a JWK: `kty` `EC`, `crv` `P-256`, with `x`,
    /// `y` and the private `d`.
    pub fn es256_jwk(jwk: &str) -> Result<Self, Error> {
        Self::from_signer(Signer::from_jwk(DpopAlgorithm::Es256, jwk)?)
    }

    /// An EdDSA (Ed25519) private key in PEM: PKCS#8 (`BEGIN PRIVATE
    /// KEY`, the only form Ed25519 keys are written in).
    pub fn ed25519_pem(pem: &[u8]) -> Result<Self, Error> {
        Self::from_pem(DpopAlgorithm::EdDsa, pem)
    }

    /// An EdDSA (Ed25519) private key in PKCS#8 DER.
    pub fn ed25519_der(der: &[u8]) -> Result<Self, Error> {
        Self::from_signer(Signer::from_der(DpopAlgorithm::EdDsa, der, Form::Pkcs8)?)
    }

    /// An EdDSA private key as a JWK (RFC 8037): `kty` `OKP`, `crv`
    /// `Ed25519`, with `x` and the private `d`.
    pub fn ed25519_jwk(jwk: &str) -> Result<Self, Error> {
        Self::from_signer(Signer::from_jwk(DpopAlgorithm::EdDsa, jwk)?)
    }

    /// An RS256 (RSA, 2048 to 8192 bits) private key in PEM: PKCS#8
    /// (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, Error> {
        Self::from_pem(DpopAlgorithm::Rs256, pem)
    }

    /// An RS256 (RSA) private key in DER: PKCS#8, or PKCS#1.
    pub fn rs256_der(der: &[u8]) -> Result<Self, Error> {
        Self::from_signer(Signer::from_der(DpopAlgorithm::Rs256, der, Form::Pkcs8)?)
    }

    /// An RS256 private key as a JWK: `kty` `RSA`, with `n`, `e`, the
    /// private `d` and the CRT members `p`, `q`, `dp`, `dq`, `qi` (all
    /// required, and checked against one another).
    pub fn rs256_jwk(jwk: &str) -> Result<Self, Error> {
        Self::from_signer(Signer::from_jwk(DpopAlgorithm::Rs256, jwk)?)
    }

    fn from_pem(algorithm: DpopAlgorithm, pem: &[u8]) -> Result<Self, Error> {
        let (form, der) = private_key_der(pem)?;
        Self::from_signer(Signer::from_der(algorithm, &der, form)?)
    }

    fn from_signer(signer: Signer) -> Result<Self, Error> {
        let members = signer.members()?;
        let public_jwk = public_jwk(&members);
        let alg = signer.algorithm().as_str();
        let header = json!({ "typ": "dpop+jwt", "alg": alg, "jwk": public_jwk });
        let header_prefix = format!("{}.", URL_SAFE_NO_PAD.encode(header.to_string()));
        Ok(DpopKey {
            inner: Arc::new(KeyInner {
                signer,
                rng: SystemRandom::new(),
                header_prefix,
                public_jwk,
                thumbprint: thumbprint_of(&members),
                nonces: Nonces::default(),
            }),
        })
    }

    /// The JWS algorithm proofs are signed with.
    pub fn algorithm(&self) -> DpopAlgorithm {
        self.inner.signer.algorithm()
    }

    /// The public key as a JWK: exactly the members RFC 7638 requires for
    /// its `kty` (no private part).
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
