//! The six scenarios, each written once and run against every
//! server. Token requests are counted by the server itself.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::client::{self, Auth, Failure, OAuth};
use crate::server::{ODD_SECRET, PASSWORD, PLAIN_SECRET, RealServer};

/// The servers issue 3 s tokens (see the scripts).
const LIFETIME: Duration = Duration::from_secs(3);

/// `n` concurrent GETs through the chain; asserts every one answered 200.
async fn all_succeed(oauth: &OAuth, url: &str, n: usize, resource: Option<&str>) {
    let answers = join_all((0..n).map(|_| oauth.get(url, resource))).await;
    let failed: Vec<_> = answers.iter().filter(|a| **a != Ok(200)).collect();
    assert!(
        failed.is_empty(),
        "{} of {n} calls failed: {failed:?}",
        failed.len()
    );
}

/// Prints one line of the observed matrix (shown with `--nocapture`).
fn report(server: &RealServer, scenario: &str, what: String) {
    println!("[{}] {scenario}: {what}", server.kind.name());
}

/// 1. Client credentials: nothing is fetched before the first call; 100
///    concurrent calls on a cold cache make one token request; calls over
///    several token lifetimes all succeed.
pub async fn client_credentials(server: &RealServer) {
    let oauth = client::client_credentials(server, Auth::Basic, PLAIN_SECRET);
    assert_eq!(
        server.stats().await.token_requests(),
        0,
        "lazy: no fetch at build"
    );

    all_succeed(&oauth, &server.api("default"), 100, None).await;
    let cold = server.stats().await;
    assert_eq!(
        cold.token_requests(),
        1,
        "100 cold calls, one token request"
    );
    assert_eq!(cold.granted("client_credentials"), 1);
    assert_eq!(cold.api_ok(), 100);

    // 8.5 s of calls every 250 ms: a little under three lifetimes past the
    // first, renewed ahead of expiry in the background.
    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < LIFETIME * 17 / 6 {
        all_succeed(&oauth, &server.api("default"), 1, None).await;
        calls += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let end = server.stats().await;
    let renewals = end.token_requests() - 1;
    report(
        server,
        "client credentials",
        format!(
            "100 cold calls: 1 token request; {calls} calls over 8.5 s: {renewals} more, \
             {} replays after a 401, {} API rejections",
            oauth.replays(),
            end.api_rejected()
        ),
    );
    // Each token is used for 2.4 s before a background renewal (20 % of
    // 3 s ahead), so 8.5 s need 3; a 4th comes from a token the server
    // expired early (whole-second `exp`) and the crate replaced after a 401.
    assert!(
        (3..=5).contains(&renewals),
        "renewals over 8.5 s: {renewals}"
    );
    assert_eq!(end.token_requests(), oauth.token_requests());
    assert!(end.errors().is_empty(), "errors: {:?}", end.errors());
}

/// 2. Password grant with rotating refresh tokens: 50 concurrent calls at
///    each expiry renew with `grant_type=refresh_token` exactly once, and
///    never present a rotated-out refresh token (which would revoke the
///    grant on oidc-provider).
pub async fn refresh_token_rotation(server: &RealServer) {
    const CYCLES: u64 = 3;
    let oauth = client::password(server, PASSWORD);
    all_succeed(&oauth, &server.api("default"), 50, None).await;
    let first = server.stats().await;
    assert_eq!(first.token_requests(), 1);
    assert_eq!(first.granted("password"), 1);

    for cycle in 1..=CYCLES {
        // Past the token's expiry: every one of the 50 finds it unusable.
        tokio::time::sleep(LIFETIME).await;
        all_succeed(&oauth, &server.api("default"), 50, None).await;
        let stats = server.stats().await;
        assert_eq!(
            stats.granted("refresh_token"),
            cycle,
            "one refresh per expiry"
        );
        assert_eq!(stats.granted("password"), 1, "the grant is never re-run");
        assert_eq!(
            stats.refresh_token_reuse(),
            0,
            "no rotated-out refresh token reused"
        );
        assert_eq!(stats.grants_revoked(), 0, "the grant stays alive");
        assert!(stats.errors().is_empty(), "errors: {:?}", stats.errors());
    }
    let end = server.stats().await;
    report(
        server,
        "password + rotating refresh tokens",
        format!(
            "{} token requests: 1 password, {} refresh_token over {CYCLES} cycles of 50 \
             concurrent calls; 0 reuse, {} API rejections",
            end.token_requests(),
            end.granted("refresh_token"),
            end.api_rejected()
        ),
    );
    assert_eq!(end.token_requests(), 1 + CYCLES);
}

/// What a server did with one client authentication style and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Refused, with the token endpoint's `error` code.
    Refused(String),
}

/// 3. Every client authentication style, with an ordinary secret and one
///    with `: + % /` and a space. Returns what was observed, in
///    `Auth::ALL` order, (ordinary, odd) for each; private_key_jwt has no
///    secret, so both are the same client.
pub async fn client_auth_matrix(server: &RealServer) -> Vec<(Auth, Outcome, Outcome)> {
    let mut observed = Vec::new();
    for auth in Auth::ALL {
        let mut outcomes = Vec::new();
        for secret in [PLAIN_SECRET, ODD_SECRET] {
            let before = server.stats().await.token_requests();
            let oauth = client::client_credentials(server, auth, secret);
            let outcome = match oauth.get(&server.api("default"), None).await {
                Ok(200) => Outcome::Accepted,
                Ok(status) => panic!("{auth:?}: the API answered {status}"),
                Err(Failure { code, message }) => {
                    Outcome::Refused(code.unwrap_or_else(|| format!("no error code: {message}")))
                }
            };
            let requests = server.stats().await.token_requests() - before;
            assert_eq!(requests, 1, "{auth:?}: one token request, accepted or not");
            outcomes.push(outcome);
        }
        report(
            server,
            "client auth",
            format!(
                "{auth:?}: ordinary {:?}, odd {:?}",
                outcomes[0], outcomes[1]
            ),
        );
        observed.push((auth, outcomes[0].clone(), outcomes[1].clone()));
    }
    observed
}

/// 4. A token the server revokes is replaced with one token request and
///    the call replayed once.
pub async fn revoked_token(server: &RealServer) {
    let oauth = client::client_credentials(server, Auth::Basic, PLAIN_SECRET);
    all_succeed(&oauth, &server.api("default"), 1, None).await;
    let token = oauth.token().await;
    server.revoke(&token, "basic-plain", PLAIN_SECRET).await;
    assert_eq!(server.call_with("default", &token).await, 401, "revoked");

    all_succeed(&oauth, &server.api("default"), 1, None).await;
    let stats = server.stats().await;
    report(
        server,
        "revocation",
        format!(
            "{} token requests, {} replay",
            stats.token_requests(),
            oauth.replays()
        ),
    );
    assert_eq!(stats.token_requests(), 2, "one new token");
    assert_eq!(oauth.replays(), 1, "the call was replayed once");
    // The check by hand above, then the call that found the token revoked.
    assert_eq!(stats.api_rejected(), 2);
}

/// 5a. The token endpoint (and client authentication) found from the
///     issuer URL's metadata.
pub async fn discovery(server: &RealServer) {
    let oauth = client::discovered_client_credentials(server);
    all_succeed(&oauth, &server.api("default"), 10, None).await;
    let stats = server.stats().await;
    report(
        server,
        "discovery",
        format!("{} token request for 10 calls", stats.token_requests()),
    );
    assert_eq!(stats.token_requests(), 1);
    assert_eq!(stats.granted("client_credentials"), 1);
}

/// 5b. RFC 8707: two resources, two tokens, each accepted only by its API.
pub async fn resource_indicators(server: &RealServer) {
    if !server.kind.honours_resource_indicators() {
        // Said loudly: this is a gap of the server, not of the test.
        println!(
            "NOT APPLICABLE: {} does not implement resource indicators (RFC 8707)",
            server.kind.name()
        );
        return;
    }
    let (a, b) = (server.api("a"), server.api("b"));

    // One middleware, the resource per request: one token per resource.
    let oauth = client::client_credentials_for(server, None);
    join_all([
        all_succeed(&oauth, &a, 20, Some(&a)),
        all_succeed(&oauth, &b, 20, Some(&b)),
    ])
    .await;
    assert_eq!(
        server.stats().await.token_requests(),
        2,
        "two resources, two tokens"
    );

    // Each token is refused by the other API.
    let for_a = client::client_credentials_for(server, Some(&a))
        .token()
        .await;
    let for_b = client::client_credentials_for(server, Some(&b))
        .token()
        .await;
    assert_eq!(server.call_with("a", &for_a).await, 200);
    assert_eq!(server.call_with("b", &for_a).await, 401, "a's token at b");
    assert_eq!(server.call_with("b", &for_b).await, 200);
    assert_eq!(server.call_with("a", &for_b).await, 401, "b's token at a");
    let stats = server.stats().await;
    report(
        server,
        "resource indicators",
        format!(
            "2 token requests for 40 calls to two APIs; cross-use refused ({} token requests in all)",
            stats.token_requests()
        ),
    );
    assert_eq!(stats.token_requests(), 4);
}

/// 6. A wrong client secret and a wrong password: the typed error carries
///    the server's `error`, the API is never called, nothing is retried.
pub async fn wrong_credentials(server: &RealServer) {
    let wrong_secret = client::client_credentials(server, Auth::Basic, "not-the-secret");
    let failure = wrong_secret
        .get(&server.api("default"), None)
        .await
        .expect_err("a wrong secret fails the call");
    assert_eq!(
        failure.code.as_deref(),
        Some("invalid_client"),
        "{failure:?}"
    );

    let wrong_password = client::password(server, "not-the-password");
    let failure = wrong_password
        .get(&server.api("default"), None)
        .await
        .expect_err("a wrong password fails the call");
    let expected = server.kind.wrong_password_error();
    assert_eq!(failure.code.as_deref(), Some(expected), "{failure:?}");

    let stats = server.stats().await;
    report(
        server,
        "wrong credentials",
        format!(
            "{} token requests, errors {:?}, {} API calls",
            stats.token_requests(),
            stats.errors(),
            stats.api_ok() + stats.api_rejected()
        ),
    );
    assert_eq!(stats.token_requests(), 2, "one each, no retry");
    assert_eq!(
        stats.api_ok() + stats.api_rejected(),
        0,
        "the API is never called"
    );
    assert_eq!(wrong_secret.token_requests(), 1);
    assert_eq!(wrong_password.token_requests(), 1);
}

/// DPoP (RFC 9449) against oidc-provider, which requires a nonce: the first
/// token request is answered `use_dpop_nonce` and sent again once with it;
/// the token comes back DPoP-bound to the client's key, and every API call
/// carries a proof the API verifies against the token's `cnf.jkt`.
pub async fn dpop(server: &RealServer) {
    let (oauth, key) = client::dpop_client_credentials(server);
    all_succeed(&oauth, &server.api("default"), 5, None).await;
    let stats = server.stats().await;
    assert_eq!(stats.token_requests(), 2, "use_dpop_nonce, then the token");
    assert!(
        stats.errors().iter().any(|e| e == "use_dpop_nonce"),
        "{:?}",
        stats.errors()
    );
    assert_eq!(stats.dpop_api_ok(), 5, "every call proven");
    let token = oauth.token_type().await;
    assert_eq!(token, "DPoP");
    // The token alone, as a bearer token, is refused.
    assert_eq!(server.call_with("default", &oauth.token().await).await, 401);
    report(
        server,
        "dpop",
        format!("key {}: 2 token requests, 5 proven calls", key.thumbprint()),
    );
}
