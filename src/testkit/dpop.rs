//! The testkit's side of DPoP (RFC 9449): checking proofs as a server
//! would, the nonce a server may require, and the errors it answers.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use serde_json::{Value, json};

/// How far a proof's `iat` may be from now, either way.
const IAT_WINDOW: u64 = 60;

/// One server's DPoP state: the nonce it requires, if any, and the `jti`s
/// it has seen (a replayed proof is refused).
#[derive(Default)]
pub(super) struct DpopGate {
    nonce: Mutex<Option<String>>,
    seen: Mutex<HashSet<String>>,
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
        let (jkt, claims) = verify_signature(jwt)?;
        check_claims(&claims, expect)?;
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

/// The header and signature of a proof: `typ`, ES256, a public P-256 JWK
/// that verifies the signature. Returns the JWK's thumbprint and the claims.
fn verify_signature(jwt: &str) -> Result<(String, Value), Refused> {
    let bad = |why| ("invalid_dpop_proof", why);
    let mut parts = jwt.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a JWS"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| bad("not base64url"))
    };
    let header: Value =
        serde_json::from_slice(&decode(head)?).map_err(|_| bad("header not JSON"))?;
    if header["typ"] != "dpop+jwt" || header["alg"] != "ES256" {
        return Err(bad("typ must be dpop+jwt and alg ES256"));
    }
    let jwk = &header["jwk"];
    let (Some(x), Some(y)) = (jwk["x"].as_str(), jwk["y"].as_str()) else {
        return Err(bad("no public EC jwk"));
    };
    if jwk.get("d").is_some() {
        return Err(bad("the jwk carries a private key"));
    }
    let point = [&[4u8][..], &decode(x)?, &decode(y)?].concat();
    let signed = &jwt[..head.len() + 1 + body.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(signed.as_bytes(), &decode(sig)?)
        .map_err(|_| bad("bad signature"))?;
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let claims = serde_json::from_slice(&decode(body)?).map_err(|_| bad("claims not JSON"))?;
    Ok((sha256_b64(&canonical), claims))
}

fn check_claims(claims: &Value, expect: &Expect<'_>) -> Result<(), Refused> {
    let bad = |why| ("invalid_dpop_proof", why);
    if claims["htm"].as_str() != Some(expect.htm) {
        return Err(bad("htm does not match the method"));
    }
    if claims["htu"].as_str() != Some(expect.htu) {
        return Err(bad("htu does not match the URL"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
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
    let challenge = format!(r#"DPoP algs="ES256", error="{code}", error_description="{why}""#);
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, challenge)],
    )
        .into_response();
    gate.stamp(&mut response);
    response
}
