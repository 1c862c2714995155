//! `private_key_jwt` client authentication (RFC 7523 section 2.2, OpenID
//! Connect Core section 9): the client proves itself with a short-lived JWT
//! signed by its private key instead of a shared secret.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::Error;

/// The `client_assertion_type` of a JWT client assertion.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A private key that signs client assertions: each token request carries a
/// fresh JWT (`iss` and `sub` the client id, `aud` the token endpoint, a new
/// `jti`, `exp` a minute away by default).
///
/// ```
/// use reqwest_oauth::ClientCredentials;
/// use reqwest_oauth::endpoint::{ClientIdentity, PrivateKeyJwt, TokenEndpoint};
///
/// let pem = std::fs::read("tests/fixtures/ec_private.pem")?;
/// let key = PrivateKeyJwt::es256_pem(&pem)?.key_id("key-2026-11");
/// let grant = ClientCredentials::with_private_key_jwt("https://auth.example.com/token", "my-client", key.clone());
/// // The same, spelled out: the identity is the key, so no secret can ride along.
/// let identity = ClientIdentity::private_key_jwt("my-client", key);
/// let grant = ClientCredentials::at(TokenEndpoint::new("https://auth.example.com/token", identity));
/// # let _ = grant;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PrivateKeyJwt {
    key: EncodingKey,
    algorithm: Algorithm,
    key_id: Option<String>,
    lifetime: Duration,
}

impl PrivateKeyJwt {
    /// An RSA key (PKCS#1 or PKCS#8 PEM) signing with RS256.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, Error> {
        Self::new(EncodingKey::from_rsa_pem(pem), Algorithm::RS256)
    }

    /// A P-256 key (PKCS#8 PEM) signing with ES256.
    pub fn es256_pem(pem: &[u8]) -> Result<Self, Error> {
        Self::new(EncodingKey::from_ec_pem(pem), Algorithm::ES256)
    }

    fn new(
        key: Result<EncodingKey, jsonwebtoken::errors::Error>,
        algorithm: Algorithm,
    ) -> Result<Self, Error> {
        let key = key.map_err(|e| Error::InvalidKey {
            reason: format!("not a {algorithm:?} key: {e}"),
        })?;
        Ok(PrivateKeyJwt {
            key,
            algorithm,
            key_id: None,
            lifetime: Duration::from_secs(60),
        })
    }

    /// Names the key in the JWT header (`kid`), as servers with several
    /// registered keys require.
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.key_id = Some(kid.into());
        self
    }

    /// How long each assertion is valid (default 60 s).
    pub fn assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// A fresh signed client assertion for one token request (RFC 7523
    /// 2.2: the client is both issuer and subject).
    pub(crate) fn assertion(&self, client_id: &str, token_endpoint: &str) -> Result<String, Error> {
        self.sign(client_id, client_id, token_endpoint)
    }

    /// A fresh signed authorization grant for the JWT bearer grant (RFC
    /// 7523 2.1): the same claims, with the issuer and the subject (the
    /// principal the token is for) chosen by the caller.
    pub(crate) fn grant_assertion(
        &self,
        issuer: &str,
        subject: &str,
        audience: &str,
    ) -> Result<String, Error> {
        self.sign(issuer, subject, audience)
    }

    /// Signs `iss`, `sub`, `aud`, a new `jti`, `iat` and `exp` (now plus
    /// the assertion lifetime): the one place assertions are made.
    fn sign(&self, issuer: &str, subject: &str, audience: &str) -> Result<String, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let claims = json!({
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "jti": fresh_jti(),
            "iat": now.as_secs(),
            "exp": (now + self.lifetime).as_secs(),
        });
        let mut header = Header::new(self.algorithm);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| Error::Signing {
            reason: e.to_string(),
        })
    }
}

impl fmt::Debug for PrivateKeyJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKeyJwt")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// A unique token id: a process counter and two randomly seeded hashes.
fn fresh_jti() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let random = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    format!(
        "{:016x}{:016x}{:x}",
        random(),
        random(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
