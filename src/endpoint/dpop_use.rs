//! What one token request does about DPoP: sign a proof for it, keep the
//! server's nonce, and bind the token issued (or refuse a downgrade).
//! Without the `dpop` feature every step is a no-op and a `DPoP` token
//! type is refused, as it always was.

use http::HeaderMap;

use crate::{Error, Token};

/// The DPoP settings one token request runs with.
pub(crate) struct DpopUse<'a> {
    #[cfg(feature = "dpop")]
    pub(super) key: Option<&'a crate::dpop::DpopKey>,
    #[cfg(feature = "dpop")]
    pub(super) allow_bearer: bool,
    #[cfg(not(feature = "dpop"))]
    pub(super) off: std::marker::PhantomData<&'a ()>,
}

impl DpopUse<'_> {
    /// Keeps the `DPoP-Nonce` of any answer from the token endpoint.
    pub(super) fn remember_nonce(&self, url: &reqwest::Url, headers: &HeaderMap) {
        #[cfg(feature = "dpop")]
        if let Some(key) = self.key {
            key.remember_nonce(url, headers);
        }
        #[cfg(not(feature = "dpop"))]
        let _ = (url, headers);
    }

    /// A `Bearer` answer: fine without DPoP; with it, a downgrade.
    pub(super) fn bearer(&self, token: Token) -> Result<Token, Error> {
        #[cfg(feature = "dpop")]
        if self.key.is_some() && !self.allow_bearer {
            return Err(Error::DpopDowngrade);
        }
        Ok(token)
    }

    /// A `DPoP` answer: bound to the key its proof was signed with.
    pub(super) fn bind(&self, token: Token) -> Result<Token, Error> {
        #[cfg(feature = "dpop")]
        if let Some(key) = self.key {
            return token.dpop_bound(key);
        }
        drop(token);
        Err(Error::UnsupportedTokenType("DPoP".to_owned()))
    }
}
