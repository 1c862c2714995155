//! The testkit's side of DPoP (RFC 9449): checking proofs as a server
//! would, the nonce a server may require, and the errors it answers.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// How far a proof's `iat` may be from now, either way.
const IAT_WINDOW: u64 = 60;

/// The algorithms a testkit server verifies proofs of, by default.
const ALGS: [&str; 3] = ["ES256", "EdDSA", "RS256"];

/// One server's DPoP state: the algorithms it accepts, the nonce it
/// requires, if any, the `jti`s it has seen (a replayed proof is refused)
/// and how far its clock is off.
pub(super) struct DpopGate {
    algs: Vec<String>,
    nonce: Mutex<Option<String>>,
    seen: Mutex<HashSet<String>>,
    /// Seconds added to the system clock when judging `iat`.
    clock_offset: AtomicI64,
}

impl Default for DpopGate {
    fn default() -> Self {
        Self::accepting(ALGS.iter().map(|alg| (*alg).to_owned()).collect())
    }
}

/// A proof that passed: the thumbprint of the key that signed it.
pub(super) struct Checked {
    pub(super) jkt: String,
}

/// Why a proof was refused: the RFC's error code and a description.
pub(super) type Refused = (&'static str, &'static str);

/// What a request's proof must match: its method, its URL without query,
/// and for an API request the access token.
pub(super) struct Expect<'a> {
    pub(super) htm: &'a str,
    pub(super) htu: &'a str,
    pub(super) access_token: Option<&'a str>,
}

impl DpopGate {
    pub(super) fn accepting(algs: Vec<String>) -> Self {
        DpopGate {
            algs,
            nonce: Mutex::default(),
            seen: Mutex::default(),
            clock_offset: AtomicI64::new(0),
        }
    }

    /// The algorithms accepted, as `dpop_signing_alg_values_supported`
    /// and a challenge's `algs` list them.
    pub(super) fn algs(&self) -> &[String] {
        &self.algs
    }

    /// Judges `iat` as if the clock were `seconds` ahead (negative: behind).
    pub(super) fn set_clock_offset(&self, seconds: i64) {
        self.clock_offset.store(seconds, Ordering::SeqCst);
    }

    pub(super) fn require_nonce(&self, nonce: Option<&str>) {
        *self.nonce.lock() = nonce.map(str::to_owned);
    }

    pub(super) fn nonce(&self) -> Option<String> {
        self.nonce.lock().clone()
    }

    /// Checks the `DPoP` header's proof against `expect`.
    pub(super) fn check(
        &self,
        headers: &HeaderMap,
        expect: &Expect<'_>,
    ) -> Result<Checked, Refused> {
        let jwt = headers
            .get("dpop")
            .and_then(|v| v.to_str().ok())
            .ok_or(("invalid_dpop_proof", "no DPoP proof"))?;
        let (jkt, claims) = verify_signature(jwt, &self.algs)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_add_signed(self.clock_offset.load(Ordering::SeqCst));
        check_claims(&claims, expect, now)?;
        if let Some(required) = self.nonce()
            && claims["nonce"].as_str() != Some(required.as_str())
        {
            return Err(("use_dpop_nonce", "the proof lacks the current nonce"));
        }
        let jti = claims["jti"]
            .as_str()
            .ok_or(("invalid_dpop_proof", "no jti"))?;
        if !self.seen.lock().insert(jti.to_owned()) {
            return Err(("invalid_dpop_proof", "jti seen before"));
        }
        Ok(Checked { jkt })
    }

    /// Puts the current nonce, if any, on a response.
    pub(super) fn stamp(&self, response: &mut Response) {
        if let Some(value) = self.nonce().and_then(|n| HeaderValue::from_str(&n).ok()) {
            response.headers_mut().insert("dpop-nonce", value);
        }
    }
}

/// The header and signature of a proof: `typ`, an accepted `alg`, a public
/// JWK of that algorithm's key type that verifies the signature. Returns
/// the JWK's thumbprint and the claims.
fn verify_signature(jwt: &str, algs: &[String]) -> Result<(String, Value), Refused> {
    let bad = |why| ("invalid_dpop_proof", why);
    let mut parts = jwt.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a JWS"));
    };
    let header: Value =
        serde_json::from_slice(&decode(head)?).map_err(|_| bad("header not JSON"))?;
    let alg = header["alg"].as_str().unwrap_or_default();
    if header["typ"] != "dpop+jwt" || !algs.iter().any(|accepted| accepted == alg) {
        return Err(bad("typ must be dpop+jwt and alg one the server accepts"));
    }
    let jwk = &header["jwk"];
    if jwk.get("d").is_some() {
        return Err(bad("the jwk carries a private key"));
    }
    let signed = &jwt[..head.len() + 1 + body.len()];
    let signature = decode(sig)?;
    let members = match alg {
        "ES256" => verify_es256(jwk, signed.as_bytes(), &signature)?,
        "EdDSA" => verify_eddsa(jwk, signed.as_bytes(), &signature)?,
        "RS256" => verify_rs256(jwk, signed.as_bytes(), &signature)?,
        _ => return Err(bad("an alg the testkit cannot verify")),
    };
    let claims = serde_json::from_slice(&decode(body)?).map_err(|_| bad("claims not JSON"))?;
    Ok((thumbprint(&members), claims))
}

fn decode(part: &str) -> Result<Vec<u8>, Refused> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ("invalid_dpop_proof", "not base64url"))
}

/// A JWK's string member, required.
fn member<'a>(jwk: &'a Value, name: &str) -> Result<&'a str, Refused> {
    jwk[name]
        .as_str()
        .ok_or(("invalid_dpop_proof", "the jwk lacks a member its alg needs"))
}

/// The required JWK members of a key (RFC 7638 section 3.2), sorted.
type Members<'a> = Vec<(&'static str, &'a str)>;

/// ES256: a P-256 `EC` key, the signature `r || s`.
fn verify_es256<'a>(jwk: &'a Value, signed: &[u8], sig: &[u8]) -> Result<Members<'a>, Refused> {
    let (crv, kty, x, y) = (
        member(jwk, "crv")?,
        member(jwk, "kty")?,
        member(jwk, "x")?,
        member(jwk, "y")?,
    );
    if (kty, crv) != ("EC", "P-256") {
        return Err(("invalid_dpop_proof", "ES256 needs an EC P-256 jwk"));
    }
    let point = [&[4u8][..], &decode(x)?, &decode(y)?].concat();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(signed, sig)
        .map_err(|_| ("invalid_dpop_proof", "bad signature"))?;
    Ok(vec![("crv", crv), ("kty", kty), ("x", x), ("y", y)])
}

/// EdDSA: an `OKP` Ed25519 key (RFC 8037).
fn verify_eddsa<'a>(jwk: &'a Value, signed: &[u8], sig: &[u8]) -> Result<Members<'a>, Refused> {
    let (crv, kty, x) = (member(jwk, "crv")?, member(jwk, "kty")?, member(jwk, "x")?);
    if (kty, crv) != ("OKP", "Ed25519") {
        return Err(("invalid_dpop_proof", "EdDSA needs an OKP Ed25519 jwk"));
    }
    UnparsedPublicKey::new(&ED25519, decode(x)?)
        .verify(signed, sig)
        .map_err(|_| ("invalid_dpop_proof", "bad signature"))?;
    Ok(vec![("crv", crv), ("kty", kty), ("x", x)])
}

/// RS256: an `RSA` key of 2048 bits or more, PKCS#1 v1.5 with SHA-256.
fn verify_rs256<'a>(jwk: &'a Value, signed: &[u8], sig: &[u8]) -> Result<Members<'a>, Refused> {
    let (e, kty, n) = (member(jwk, "e")?, member(jwk, "kty")?, member(jwk, "n")?);
    if kty != "RSA" {
        return Err(("invalid_dpop_proof", "RS256 needs an RSA jwk"));
    }
    RsaPublicKeyComponents {
        n: decode(n)?,
        e: decode(e)?,
    }
    .verify(&RSA_PKCS1_2048_8192_SHA256, signed, sig)
    .map_err(|_| ("invalid_dpop_proof", "bad signature"))?;
    Ok(vec![("e", e), ("kty", kty), ("n", n)])
}

/// RFC 7638, written out apart from the client's own code so the two check
/// each other: the required members, sorted, as JSON without whitespace.
fn thumbprint(members: &Members<'_>) -> String {
    let fields: Vec<String> = members
        .iter()
        .map(|(name, value)| format!(r#""{name}":"{value}""#))
        .collect();
    sha256_b64(&format!("{{{}}}", fields.join(",")))
}

fn check_claims(claims: &Value, expect: &Expect<'_>, now: u64) -> Result<(), Refused> {
    let bad = |why| ("invalid_dpop_proof", why);
    if claims["htm"].as_str() != Some(expect.htm) {
        return Err(bad("htm does not match the method"));
    }
    if claims["htu"].as_str() != Some(expect.htu) {
        return Err(bad("htu does not match the URL"));
    }
    let iat = claims["iat"].as_u64().ok_or(bad("no iat"))?;
    if iat.abs_diff(now) > IAT_WINDOW {
        return Err(bad("iat outside the window"));
    }
    let ath = claims["ath"].as_str();
    match expect.access_token {
        Some(token) if ath != Some(sha256_b64(token).as_str()) => Err(bad("ath does not match")),
        None if ath.is_some() => Err(bad("ath on a token request")),
        _ => Ok(()),
    }
}

pub(super) fn sha256_b64(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// A token endpoint's refusal of a proof: `400` with the error as JSON.
pub(super) fn token_refusal(gate: &DpopGate, (code, why): Refused) -> Response {
    let body = json!({ "error": code, "error_description": why });
    let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    gate.stamp(&mut response);
    response
}

/// An API's refusal of a proof: `401` with a `DPoP` challenge.
pub(super) fn api_refusal(gate: &DpopGate, (code, why): Refused) -> Response {
    let algs = gate.algs().join(" ");
    let challenge = format!(r#"DPoP algs="{algs}", error="{code}", error_description="{why}""#);
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, challenge)],
    )
        .into_response();
    gate.stamp(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_testkits_own_thumbprint_is_rfc_7638s() {
        // RFC 7638 section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = vec![("e", "AQAB"), ("kty", "RSA"), ("n", n)];
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
