//! One DPoP proof (RFC 9449 section 4.2): a JWT bound to a request's
//! method and URL, and, for an API request, to the access token.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SecureRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use reqwest::Url;
use serde_json::json;

use super::DpopKey;
use crate::Error;

impl DpopKey {
    /// A fresh proof for one request: `htm` the method, `htu` the URL
    /// without query and fragment, a new `jti`, `iat` now, `ath` the
    /// access token's hash when one is given (API requests), and the
    /// nonce the URL's origin last gave, if any.
    ///
    /// The middleware, the tower layer and the token endpoint call this
    /// themselves; it is public for requests sent some other way.
    ///
    /// ```
    /// use reqwest_oauth::dpop::DpopKey;
    ///
    /// let key = DpopKey::generate()?;
    /// let url = "https://api.example.com/things?page=2".parse()?;
    /// let proof = key.proof("GET", &url, Some("access-token"))?;
    /// assert_eq!(proof.split('.').count(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn proof(
        &self,
        method: &str,
        url: &Url,
        access_token: Option<&str>,
    ) -> Result<String, Error> {
        let ath = access_token.map(access_token_hash);
        self.proof_with_hash(method, url, ath.as_deref())
    }

    /// [`proof`](Self::proof) with the token's hash already computed (a
    /// bound token keeps it, so a request does not hash the token again).
    pub(crate) fn proof_with_hash(
        &self,
        method: &str,
        url: &Url,
        ath: Option<&str>,
    ) -> Result<String, Error> {
        let inner = &self.inner;
        let mut jti = [0u8; 16];
        inner
            .rng
            .fill(&mut jti)
            .map_err(|_| failed("no randomness for jti"))?;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": target_uri(url),
            "iat": iat,
        });
        if let Some(ath) = ath {
            claims["ath"] = ath.into();
        }
        if let Some(nonce) = inner.nonces.get(url) {
            claims["nonce"] = nonce.as_ref().into();
        }
        let mut jwt = inner.header_prefix.clone();
        URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut jwt);
        inner.signer.sign_into(&inner.rng, &mut jwt)?;
        Ok(jwt)
    }

    /// [`proof_with_hash`](Self::proof_with_hash) as a header value.
    pub(crate) fn proof_header(
        &self,
        method: &str,
        url: &Url,
        ath: Option<&str>,
    ) -> Result<HeaderValue, Error> {
        let jwt = self.proof_with_hash(method, url, ath)?;
        // base64url and dots only: always a valid header value.
        HeaderValue::try_from(jwt).map_err(|_| failed("the proof is not a header value"))
    }
}

/// `ath`: base64url of the SHA-256 of the access token (section 4.2).
pub(crate) fn access_token_hash(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// `htu`: the URL without query and fragment (section 4.2), so a proof
/// does not repeat query values that may be sensitive.
fn target_uri(url: &Url) -> String {
    let mut htu = url.clone();
    htu.set_query(None);
    htu.set_fragment(None);
    htu.into()
}

pub(super) fn failed(reason: &str) -> Error {
    Error::DpopProof {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_drops_query_and_fragment_and_ath_is_the_rfc_example() {
        let url = Url::parse("https://api.example.com/a/b?x=1#frag").expect("url");
        assert_eq!(target_uri(&url), "https://api.example.com/a/b");
        // RFC 9449 section 7.1's token and its `ath`.
        let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
        assert_eq!(
            access_token_hash(token),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
