//! DPoP (RFC 9449): tokens bound to a key the client holds.
//!
//! A bearer token works for whoever holds it. With DPoP every token
//! request and every API request carries a fresh proof, a JWT signed by the
//! client's [`DpopKey`], and the server binds the token to that key: a
//! leaked token is useless without the key. Keys sign with ES256 (the
//! default), EdDSA (Ed25519) or RS256 ([`DpopAlgorithm`]).
//!
//! Turn it on by giving the token endpoint a key
//! ([`TokenEndpoint::dpop`](crate::endpoint::TokenEndpoint::dpop)), or by
//! letting it generate one on first use for an algorithm the server
//! accepts ([`TokenEndpoint::dpop_generated`](crate::endpoint::TokenEndpoint::dpop_generated)). The
//! tokens it issues come back as `token_type: DPoP` and carry the key, so
//! the middleware, and the tower layer made from it (`OAuthMiddleware::layer`,
//! feature `tower`), send them as `Authorization: DPoP <token>` with a
//! `DPoP` proof for each request (method, URL without query, the token's
//! hash, the server's nonce), each replay included. Bearer tokens pay
//! nothing for this.
//!
//! Nonces (RFC 9449 section 8 and 9) are remembered per origin, from every
//! `DPoP-Nonce` header a token endpoint or API sends: a token request
//! answered `use_dpop_nonce` goes again once with the nonce, and an API
//! request answered `401` with `WWW-Authenticate: DPoP
//! error="use_dpop_nonce"` is replayed once with a new proof, the same
//! token.
//!
//! A proof a server refuses (`invalid_dpop_proof`) is the client's fault:
//! a key the server does not take, a clock further off than it allows, a
//! bug. From an API (after any nonce replay) or from the token endpoint
//! it is the same error, [`Error::DpopProofRejected`](crate::Error::DpopProofRejected)
//! with the server's description; no token is renewed for it and nothing
//! is replayed.
//!
//! ```
//! use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
//! use reqwest_oauth::dpop::DpopKey;
//! use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
//!
//! let key = DpopKey::generate()?;
//! let endpoint = TokenEndpoint::new(
//!     "https://auth.example.com/oauth/token",
//!     ClientIdentity::secret("my-client", "my-secret"),
//! )
//! .dpop(key.clone());
//! let oauth = OAuthMiddleware::builder(ClientCredentials::at(endpoint)).build()?;
//! // The key's public thumbprint is what servers record as `cnf.jkt`.
//! assert_eq!(key.thumbprint().len(), 43);
//! assert!(!format!("{key:?}").contains("d\""));
//! # let _ = oauth;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod algorithm;
mod binding;
mod choice;
mod ed25519;
mod es256;
mod jose;
mod jwk;
mod key;
mod nonce;
mod pem;
mod proof;
mod refusal;
mod rs256;
mod signer;

pub use algorithm::DpopAlgorithm;
pub(crate) use binding::Binding;
pub(crate) use choice::KeyChoice;
pub use jwk::jwk_thumbprint;
pub use key::DpopKey;
pub(crate) use refusal::rejected as proof_rejected;

/// The request header a proof travels in.
pub const DPOP_HEADER: &str = "dpop";
