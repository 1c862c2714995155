//! Server nonces (RFC 9449 sections 8 and 9): remembered per origin from
//! any `DPoP-Nonce` header, put in the next proof to that origin.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use parking_lot::RwLock;
use reqwest::Url;

use crate::challenge::challenges;

/// The response header a server's nonce comes in.
pub(crate) const NONCE_HEADER: &str = "dpop-nonce";

/// More origins than a client talks to; past it the map starts over rather
/// than grow without bound (a lost nonce costs one extra round trip).
const MAX_ORIGINS: usize = 1024;

/// The last nonce each origin gave.
#[derive(Default)]
pub(crate) struct Nonces(RwLock<HashMap<String, Arc<str>>>);

impl Nonces {
    pub(crate) fn get(&self, url: &Url) -> Option<Arc<str>> {
        let map = self.0.read();
        if map.is_empty() {
            // Most servers never send a nonce: skip building the origin.
            return None;
        }
        map.get(&url.origin().ascii_serialization()).cloned()
    }

    /// Keeps the `DPoP-Nonce` of a response from `url`'s origin, if it has
    /// a well-formed one; reports whether it did.
    pub(crate) fn remember(&self, url: &Url, headers: &HeaderMap) -> bool {
        let Some(nonce) = headers.get(NONCE_HEADER).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        if !is_nonce(nonce) {
            return false;
        }
        let origin = url.origin().ascii_serialization();
        let mut map = self.0.write();
        if map.get(&origin).is_some_and(|known| &**known == nonce) {
            return true;
        }
        if map.len() >= MAX_ORIGINS {
            map.clear();
        }
        map.insert(origin, Arc::from(nonce));
        true
    }
}

/// RFC 9449 section 8.1: `nonce = 1*NQCHAR` (visible ASCII but `"` and `\`).
fn is_nonce(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Whether an API answered `401` with `WWW-Authenticate: DPoP
/// error="use_dpop_nonce"`: the proof lacked the nonce it wants.
pub(crate) fn asks_for_nonce(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::UNAUTHORIZED
        && challenges(headers)
            .iter()
            .any(|c| c.is("DPoP") && c.error() == Some("use_dpop_nonce"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_kept_per_origin_and_malformed_ones_ignored() {
        let nonces = Nonces::default();
        let a = Url::parse("https://a.example/x?q=1").expect("url");
        let b = Url::parse("https://b.example/").expect("url");
        let mut headers = HeaderMap::new();
        headers.insert(
            NONCE_HEADER,
            "eyJ7S_zG.eyJH0-Z.HX4w-7v".parse().expect("value"),
        );
        assert!(nonces.remember(&a, &headers));
        assert_eq!(nonces.get(&a).as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
        assert!(nonces.get(&b).is_none());
        headers.insert(NONCE_HEADER, r#"bad"quote"#.parse().expect("value"));
        assert!(!nonces.remember(&b, &headers));
    }
}
