//! JWKs (RFC 7517) as DPoP uses them: the public key in a proof's header,
//! its RFC 7638 thumbprint (a bound token's `cnf.jkt`), and the members of
//! a private key given as a JWK.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::zeroize::{Zeroize, Zeroizing};
use serde_json::{Map, Value};

use super::jose::invalid;
use crate::Error;

/// A public key's required members (RFC 7638 section 3.2), sorted by
/// name: both the JWK a proof carries and its thumbprint's input, so the
/// two cannot disagree.
pub(super) type Members = Vec<(&'static str, String)>;

/// The public JWK of `members`: exactly the required members, so nothing
/// a server need not see is sent.
pub(super) fn public_jwk(members: &Members) -> Value {
    let map: Map<String, Value> = members
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::from(value.as_str())))
        .collect();
    Value::Object(map)
}

/// RFC 7638: base64url of the SHA-256 of the required members, sorted, as
/// JSON without whitespace.
pub(super) fn thumbprint_of(members: &Members) -> String {
    let fields: Vec<String> = members
        .iter()
        .map(|(name, value)| format!("{}:{}", Value::from(*name), Value::from(value.as_str())))
        .collect();
    let canonical = format!("{{{}}}", fields.join(","));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The RFC 7638 thumbprint of a public JWK (`kty` `EC`, `RSA` or `OKP`):
/// what a server records as a DPoP-bound token's `cnf.jkt`. Members other
/// than the required ones (`alg`, `kid`, `use`, a private `d`) do not
/// count.
///
/// For checking a token's binding from outside, for example against what
/// an introspection endpoint says; [`DpopKey::thumbprint`](super::DpopKey::thumbprint)
/// is this for the key's own public JWK.
///
/// ```
/// use reqwest_oauth::dpop::{DpopKey, jwk_thumbprint};
///
/// let key = DpopKey::generate()?;
/// assert_eq!(jwk_thumbprint(key.public_jwk())?, key.thumbprint());
/// # Ok::<(), reqwest_oauth::Error>(())
/// ```
pub fn jwk_thumbprint(jwk: &Value) -> Result<String, Error> {
    let required: &[&'static str] = match jwk["kty"].as_str() {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(invalid("the JWK's kty is not EC, RSA or OKP")),
    };
    let members = required
        .iter()
        .map(|name| match jwk[*name].as_str() {
            Some(value) => Ok((*name, value.to_owned())),
            None => Err(invalid("the JWK lacks a member its kty requires")),
        })
        .collect::<Result<Members, Error>>()?;
    Ok(thumbprint_of(&members))
}

/// A private key given as a JWK, checked for its `kty` (and `crv`). Its
/// text is zeroed when dropped, like every member decoded from it.
pub(super) struct PrivateJwk(Value);

impl PrivateJwk {
    pub(super) fn parse(text: &str, kty: &str, crv: Option<&str>) -> Result<Self, Error> {
        let jwk: Value = serde_json::from_str(text).map_err(|_| invalid("the JWK is not JSON"))?;
        let jwk = PrivateJwk(jwk);
        if jwk.0["kty"] != kty || crv.is_some_and(|crv| jwk.0["crv"] != crv) {
            let crv = crv.map(|crv| format!(", crv {crv}")).unwrap_or_default();
            return Err(invalid(&format!("the JWK is not kty {kty}{crv}")));
        }
        Ok(jwk)
    }

    /// A base64url member's bytes (zeroed when dropped: most are private).
    pub(super) fn member(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let text = self.0[name]
            .as_str()
            .ok_or_else(|| invalid(&format!("the JWK lacks `{name}`")))?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map(Zeroizing::new)
            .map_err(|_| invalid(&format!("the JWK's `{name}` is not base64url")))
    }
}

impl Drop for PrivateJwk {
    fn drop(&mut self) {
        if let Value::Object(map) = &mut self.0 {
            for value in map.values_mut() {
                if let Value::String(text) = value {
                    text.zeroize();
                }
            }
        }
    }
}
