//! Fleet mode with encryption at rest: what the store holds, who can read
//! it, key rotation, and refresh tokens shared through it.

use crate::common;

use std::time::Duration;

use common::fleet::{TOKEN_KEY, every_request_succeeds};
use common::redis::RedisServer;
use common::{client, echo, grant, within_timeout};
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::fleet::{Cipher, FleetSource, MemoryStore, TokenStore};
use reqwest_oauth::policy::RefreshAhead;
use reqwest_oauth::testkit::{ApiServer, AuthServer, RefreshTokens};
use reqwest_oauth::{OAuthMiddleware, PasswordGrant};

const KEY_A: [u8; 32] = [0xa1; 32];
const KEY_B: [u8; 32] = [0xb2; 32];

fn sealed_replica(
    auth: &AuthServer,
    store: impl TokenStore,
    cipher: Cipher,
) -> reqwest_middleware::ClientWithMiddleware {
    let source = FleetSource::new("orders", grant(auth), store).encrypt(cipher);
    client(&OAuthMiddleware::new(source))
}

/// The store holds no token in clear; replicas with the key share it, a
/// replica with another key cannot read it (it fetches), and a rotated
/// cipher still reads values sealed with the old key.
async fn sealed_and_shared_by_key_holders<S: TokenStore + Clone>(store: S) {
    let (auth, api) = common::servers().await;
    let first = sealed_replica(&auth, store.clone(), Cipher::aes256_gcm("a", &KEY_A));
    echo(first.get(api.url("/warm")).send().await.expect("sent")).await;

    let stored = store
        .get(TOKEN_KEY)
        .await
        .expect("reads")
        .expect("published");
    assert!(stored.starts_with("enc1."), "sealed: {stored}");
    for clear in ["access_token", "expires_at_ms", "Bearer"] {
        assert!(!stored.contains(clear));
    }

    let rotated = Cipher::aes256_gcm("b", &KEY_B).also_decrypts("a", &KEY_A);
    let second = sealed_replica(&auth, store.clone(), rotated);
    echo(second.get(api.url("/x")).send().await.expect("sent")).await;
    assert_eq!(auth.token_requests(), 1, "the rotated cipher read it");

    let stranger = sealed_replica(&auth, store.clone(), Cipher::aes256_gcm("a", &KEY_B));
    echo(stranger.get(api.url("/y")).send().await.expect("sent")).await;
    assert_eq!(auth.token_requests(), 2, "another key cannot read it");
}

#[tokio::test]
async fn sealed_tokens_are_shared_only_by_key_holders() {
    within_timeout(sealed_and_shared_by_key_holders(MemoryStore::new())).await;
}

#[tokio::test]
async fn sealed_tokens_are_shared_only_by_key_holders_in_redis() {
    within_timeout(async {
        let Some(redis) = RedisServer::start().await else {
            return;
        };
        sealed_and_shared_by_key_holders(redis.store().await).await;
        let seen = redis.cli(&["GET", TOKEN_KEY]);
        assert!(seen.starts_with("enc1.") && !seen.contains("access_token"));
    })
    .await;
}

#[tokio::test]
async fn a_token_planted_in_clear_is_ignored_when_sealing() {
    within_timeout(async {
        let (auth, api) = common::servers().await;
        let store = MemoryStore::new();
        let far = u64::MAX / 4;
        let planted = format!(
            r#"{{"access_token":"planted","refresh_at_ms":{far},"use_until_ms":{far},"expires_at_ms":{far}}}"#
        );
        store
            .put(TOKEN_KEY, &planted, Duration::from_secs(60))
            .await
            .expect("planted");
        let replica = sealed_replica(&auth, store, Cipher::aes256_gcm("a", &KEY_A));
        echo(replica.get(api.url("/any")).send().await.expect("sent")).await;
        assert_eq!(api.rejections(), 0, "the planted token was never sent");
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

async fn password_servers() -> (AuthServer, ApiServer) {
    let auth = AuthServer::builder()
        .public_client("app")
        .user("alice", "pw")
        .token_lifetime(Duration::from_secs(4))
        .refresh_tokens(RefreshTokens::Rotating)
        .start()
        .await
        .expect("auth");
    let api = ApiServer::start(&auth).await.expect("api");
    (auth, api)
}

fn password_replica(
    auth: &AuthServer,
    store: &MemoryStore,
    cipher: Option<Cipher>,
) -> OAuthMiddleware {
    let grant = PasswordGrant::new(
        auth.token_url(),
        ClientIdentity::public("app"),
        "alice",
        "pw",
    );
    let mut source = FleetSource::new("orders", grant, store.clone());
    if let Some(cipher) = cipher {
        source = source.encrypt(cipher);
    }
    // Renewal due after half the lifetime (2 s), usable to 3.6 s.
    OAuthMiddleware::builder(source)
        .refresh_ahead(RefreshAhead::Fraction(0.5))
        .build()
        .expect("config")
}

/// A replica that starts while the shared token is due renews it. With a
/// cipher it holds the shared refresh token and uses it (one
/// `refresh_token` grant, which a rotating server accepts once); without
/// one the refresh token was never shared, so it runs the password grant.
async fn a_cold_replica_renews(cipher: Option<Cipher>) -> (u64, u64) {
    let (auth, api) = password_servers().await;
    let store = MemoryStore::new();
    let warm = client(&password_replica(&auth, &store, cipher.clone()));
    echo(warm.get(api.url("/warm")).send().await.expect("sent")).await;

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let late = client(&password_replica(&auth, &store, cipher.clone()));
    echo(late.get(api.url("/late")).send().await.expect("sent")).await;
    assert_eq!(auth.token_requests(), 2, "one renewal");

    // Both replicas end up on the renewed token, past the old one's use.
    tokio::time::sleep(Duration::from_millis(1400)).await;
    every_request_succeeds(&api, &[warm, late]).await;
    assert_eq!(auth.token_requests(), 2, "the renewal was shared");
    (
        auth.grant_requests("password"),
        auth.grant_requests("refresh_token"),
    )
}

#[tokio::test]
async fn with_a_cipher_the_fleet_renews_with_the_shared_refresh_token() {
    within_timeout(async {
        let sealed = a_cold_replica_renews(Some(Cipher::aes256_gcm("a", &KEY_A))).await;
        assert_eq!(
            sealed,
            (1, 1),
            "password once, then the shared refresh token"
        );
        let clear = a_cold_replica_renews(None).await;
        assert_eq!(clear, (2, 0), "without a cipher no refresh token is shared");
    })
    .await;
}
