//! What a token endpoint does about DPoP: its settings (the key, or the
//! promise of one, and whether a `Bearer` answer is taken), and for one
//! request the key chosen for the server, a proof signed with it, the
//! server's nonce kept, and the token issued bound (or a downgrade
//! refused). Without the `dpop` feature every step is a no-op and a
//! `DPoP` token type is refused, as it always was.

use http::HeaderMap;

use crate::{Error, Token};

/// An endpoint's DPoP settings; empty (DPoP off) by default.
#[derive(Clone, Default)]
pub(super) struct DpopSettings {
    #[cfg(feature = "dpop")]
    choice: Option<crate::dpop::KeyChoice>,
    /// Whether a `Bearer` answer is taken although DPoP is on.
    #[cfg(feature = "dpop")]
    allow_bearer: bool,
}

#[cfg(feature = "dpop")]
impl DpopSettings {
    pub(super) fn choose(&mut self, choice: crate::dpop::KeyChoice) {
        self.choice = Some(choice);
    }

    pub(super) fn allow_bearer(&mut self) {
        self.allow_bearer = true;
    }

    /// The key, once there is one.
    pub(super) fn key(&self) -> Option<&crate::dpop::DpopKey> {
        self.choice.as_ref().and_then(crate::dpop::KeyChoice::key)
    }
}

impl DpopSettings {
    /// The key's thumbprint, for `Debug` (never the key).
    pub(super) fn thumbprint(&self) -> Option<&str> {
        #[cfg(feature = "dpop")]
        return self.key().map(crate::dpop::DpopKey::thumbprint);
        #[cfg(not(feature = "dpop"))]
        None
    }

    /// What a request to a server signing with one of `supported` (its
    /// `dpop_signing_alg_values_supported`, empty if unknown) does about
    /// DPoP: with DPoP on, the key for that server (`KeyChoice::for_server`:
    /// the given key if the server takes its algorithm, else a key
    /// generated for one it takes).
    pub(super) async fn for_server(&self, supported: &[String]) -> Result<DpopUse, Error> {
        #[cfg(feature = "dpop")]
        return Ok(DpopUse {
            key: match &self.choice {
                Some(choice) => Some(choice.for_server(supported).await?),
                None => None,
            },
            allow_bearer: self.allow_bearer,
        });
        #[cfg(not(feature = "dpop"))]
        {
            let _ = supported;
            Ok(DpopUse {})
        }
    }
}

/// The DPoP part of one token request.
pub(crate) struct DpopUse {
    #[cfg(feature = "dpop")]
    key: Option<crate::dpop::DpopKey>,
    #[cfg(feature = "dpop")]
    allow_bearer: bool,
}

impl DpopUse {
    /// With DPoP on, a token request to `url` with its proof in a `DPoP`
    /// header.
    pub(super) fn prove(
        &self,
        request: reqwest::RequestBuilder,
        url: &reqwest::Url,
    ) -> Result<reqwest::RequestBuilder, Error> {
        #[cfg(feature = "dpop")]
        if let Some(key) = &self.key {
            let proof = key.proof_header("POST", url, None)?;
            return Ok(request.header(crate::dpop::DPOP_HEADER, proof));
        }
        let _ = url;
        Ok(request)
    }

    /// Keeps the `DPoP-Nonce` of any answer from the token endpoint.
    pub(super) fn remember_nonce(&self, url: &reqwest::Url, headers: &HeaderMap) {
        #[cfg(feature = "dpop")]
        if let Some(key) = &self.key {
            key.remember_nonce(url, headers);
        }
        #[cfg(not(feature = "dpop"))]
        let _ = (url, headers);
    }

    /// With DPoP on, the token endpoint's `invalid_dpop_proof` as the
    /// error an API's refusal of a proof is ([`Error::DpopProofRejected`]),
    /// so one match serves both; other errors are left as they are.
    pub(super) fn typed_refusal(&self, url: &reqwest::Url, error: Error) -> Error {
        #[cfg(feature = "dpop")]
        if let (Some(_), Error::TokenEndpoint(refused)) = (&self.key, &error)
            && refused.code() == Some(&crate::error::ErrorCode::InvalidDpopProof)
        {
            let description = refused.description().map(str::to_owned);
            return crate::dpop::proof_rejected(url, refused.status(), description);
        }
        let _ = url;
        error
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
        if let Some(key) = &self.key {
            return token.dpop_bound(key);
        }
        drop(token);
        Err(Error::UnsupportedTokenType("DPoP".to_owned()))
    }
}
