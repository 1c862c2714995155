//! An in-process authorization server and protected API on 127.0.0.1, for
//! tests of code that uses this crate (and for the crate's own tests).
//!
//! Both speak real HTTP. The [`AuthServer`] issues opaque tokens with a
//! configurable lifetime for the client credentials and password grants,
//! token exchange (subject tokens it or a trusted server issued, or JWTs
//! signed by a trusted key) and the JWT bearer grant (assertions checked
//! against a trusted public key),
//! accepts form or JSON bodies and Basic or body client authentication,
//! counts token requests, and can be told to fail or stall. The
//! [`ApiServer`] accepts only tokens that its authorization server issued
//! and that are still valid, and answers others with a `401` in the RFC 6750
//! style or as a JSON body.
//!
//! ```
//! use reqwest_oauth::testkit::{ApiServer, AuthServer};
//! use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = AuthServer::builder().client("id", "secret").start().await?;
//! let api = ApiServer::start(&auth).await?;
//!
//! let oauth = OAuthMiddleware::new(ClientCredentials::new(auth.token_url(), "id", "secret"));
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(oauth)
//!     .build();
//! let response = client.get(api.url("/things")).send().await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(auth.token_requests(), 1);
//! # Ok(()) }
//! ```

mod api_server;
mod auth_server;
#[cfg(feature = "dpop")]
mod dpop;
mod issued;
mod serve;

pub use api_server::{ApiServer, ApiServerBuilder, RejectionStyle};
pub use auth_server::{AuthServer, AuthServerBuilder, Fault, RecordedTokenRequest, RefreshTokens};
