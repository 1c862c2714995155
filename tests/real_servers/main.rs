//! Interop with real, independently written authorization servers installed
//! from package registries: oidc-provider (npm) and Authlib (PyPI). Each test
//! starts its own server on a free loopback port and stops it at the end.
//!
//! Install them with `tests/real_servers/install.sh`; without them each test
//! prints `SKIPPED: …` and passes, unless `REQUIRE_REAL_SERVERS` is set (as
//! `.ci/run` does), in which case a missing server fails it.
//!
//! `client.rs` holds every use of the crate's API; `scenarios.rs` the
//! issue's six scenarios, written once; `server.rs` the processes.

mod client;
mod scenarios;
mod server;

use std::future::Future;
use std::time::Duration;

use client::Auth;
use scenarios::Outcome::{self, Accepted, Refused};
use server::{Kind, RealServer};

/// Every test ends within this, hang or not (the longest runs ~12 s).
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

async fn on<F: Future<Output = ()>>(kind: Kind, scenario: impl FnOnce(RealServer) -> F) {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let Some(server) = RealServer::start(kind).await else {
            return;
        };
        scenario(server).await;
    })
    .await
    .expect("the test ended within its timeout");
}

/// The client authentication matrix observed on each server, asserted so a
/// change (in the crate or a server upgrade) is noticed. (style, ordinary
/// secret, secret with `: + % /` and a space).
fn expected_client_auth(kind: Kind) -> Vec<(Auth, Outcome, Outcome)> {
    let refused = || Refused("invalid_client".to_owned());
    match kind {
        // Decodes Basic credentials as RFC 6749 2.3.1 says (form-urlencoded:
        // `+` is a space, then percent-decoding), so the unencoded odd
        // secret reads differently.
        Kind::OidcProvider => vec![
            (Auth::Basic, Accepted, Accepted),
            (Auth::BasicUnencoded, Accepted, refused()),
            (Auth::BasicPercentEncoded, Accepted, Accepted),
            (Auth::Body, Accepted, Accepted),
            (Auth::PrivateKeyJwt, Accepted, Accepted),
        ],
        // Percent-decodes Basic credentials without reading `+` as a space,
        // so only percent-encoding round-trips the odd secret.
        Kind::Authlib => vec![
            (Auth::Basic, Accepted, refused()),
            (Auth::BasicUnencoded, Accepted, refused()),
            (Auth::BasicPercentEncoded, Accepted, Accepted),
            (Auth::Body, Accepted, Accepted),
            (Auth::PrivateKeyJwt, Accepted, Accepted),
        ],
    }
}

async fn client_auth(server: RealServer) {
    let observed = scenarios::client_auth_matrix(&server).await;
    assert_eq!(observed, expected_client_auth(server.kind));
}

/// The six scenarios as tests, one set per server.
macro_rules! scenarios_on {
    ($server:ident, $kind:expr) => {
        mod $server {
            use super::*;

            #[tokio::test]
            async fn client_credentials() {
                on(
                    $kind,
                    |s| async move { scenarios::client_credentials(&s).await },
                )
                .await;
            }

            #[tokio::test]
            async fn refresh_token_rotation() {
                on($kind, |s| async move {
                    scenarios::refresh_token_rotation(&s).await
                })
                .await;
            }

            #[tokio::test]
            async fn client_authentication_matrix() {
                on($kind, client_auth).await;
            }

            #[tokio::test]
            async fn revoked_token() {
                on($kind, |s| async move { scenarios::revoked_token(&s).await }).await;
            }

            #[tokio::test]
            async fn discovery() {
                on($kind, |s| async move { scenarios::discovery(&s).await }).await;
            }

            #[tokio::test]
            async fn resource_indicators() {
                on($kind, |s| async move {
                    scenarios::resource_indicators(&s).await
                })
                .await;
            }

            #[tokio::test]
            async fn wrong_credentials() {
                on(
                    $kind,
                    |s| async move { scenarios::wrong_credentials(&s).await },
                )
                .await;
            }
        }
    };
}

scenarios_on!(oidc_provider, Kind::OidcProvider);
scenarios_on!(authlib, Kind::Authlib);

/// DPoP needs a server that binds tokens: oidc-provider does, Authlib's
/// grants here do not.
#[tokio::test]
async fn oidc_provider_dpop() {
    on(
        Kind::OidcProvider,
        |s| async move { scenarios::dpop(&s).await },
    )
    .await;
}
