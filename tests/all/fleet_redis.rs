//! Fleet mode through a real Redis, started on a free loopback port.

use crate::common;

use std::future::Future;
use std::time::Duration;

use common::fleet::{self, replica};
use common::redis::RedisServer;
use common::within_timeout;
use reqwest_oauth::fleet::{RedisStore, TokenStore};

/// Runs a fleet scenario against a fresh Redis (skipped, saying so, when
/// none is installed and CI's `REQUIRE_REDIS` is unset).
async fn on_redis<F: Future<Output = ()>>(scenario: impl FnOnce(RedisStore) -> F) {
    within_timeout(async {
        let Some(redis) = RedisServer::start().await else {
            return;
        };
        scenario(redis.store().await).await;
    })
    .await;
}

#[tokio::test]
async fn replicas_share_one_token_through_redis() {
    on_redis(fleet::replicas_share_one_token).await;
}

#[tokio::test]
async fn a_rejected_token_is_replaced_once_for_the_fleet_through_redis() {
    on_redis(fleet::a_rejected_token_is_replaced_once_for_the_fleet).await;
}

#[tokio::test]
async fn a_due_token_is_renewed_once_for_the_fleet_through_redis() {
    on_redis(fleet::a_due_token_is_renewed_once_for_the_fleet).await;
}

#[tokio::test]
async fn namespaces_and_audiences_stay_apart_in_redis() {
    on_redis(fleet::namespaces_and_audiences_stay_apart).await;
}

#[tokio::test]
async fn when_redis_goes_down_replicas_keep_serving_and_fetch_alone() {
    within_timeout(async {
        let Some(mut redis) = RedisServer::start().await else {
            return;
        };
        let (auth, api) = common::servers().await;
        let store = redis.store().await;
        let replicas: Vec<_> = (0..3)
            .map(|_| replica(&auth, "orders", store.clone()))
            .collect();
        let clients: Vec<_> = replicas.iter().map(|(_, client)| client.clone()).collect();
        fleet::every_request_succeeds(&api, &clients).await;
        assert_eq!(auth.token_requests(), 1);

        redis.kill();
        auth.revoke_all();
        fleet::every_request_succeeds(&api, &clients).await;
        assert_eq!(
            auth.token_requests(),
            4,
            "each replica replaced its token alone"
        );
    })
    .await;
}

#[tokio::test]
async fn a_revoked_shared_token_is_replaced_for_a_late_replica_through_redis() {
    on_redis(fleet::a_revoked_shared_token_is_replaced_for_a_late_replica).await;
}

#[tokio::test]
async fn a_stale_lock_is_taken_over_by_exactly_one_waiter_in_redis() {
    on_redis(fleet::a_stale_lock_is_taken_over_by_exactly_one_waiter).await;
}

#[tokio::test]
async fn an_oversized_token_in_redis_is_ignored() {
    on_redis(fleet::an_oversized_stored_token_is_ignored).await;
}

#[tokio::test]
async fn a_failing_endpoint_is_asked_once_per_cooldown_through_redis() {
    on_redis(fleet::a_failing_endpoint_is_asked_once_per_cooldown).await;
}

#[tokio::test]
async fn a_lock_key_without_a_ttl_is_stale() {
    within_timeout(async {
        let Some(redis) = RedisServer::start().await else {
            return;
        };
        let (auth, api) = common::servers().await;
        assert_eq!(redis.cli(&["SET", fleet::LOCK_KEY, "left-by-hand"]), "OK");
        let (_, client) = replica(&auth, "orders", redis.store().await);
        let started = std::time::Instant::now();
        common::echo(client.get(api.url("/any")).send().await.expect("sent")).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "taken over at once"
        );
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_lock_held_when_the_runtime_shuts_down_is_released_in_redis() {
    within_timeout(async {
        let Some(redis) = RedisServer::start().await else {
            return;
        };
        let url = redis.url.clone();
        let shut_down = tokio::task::spawn_blocking(move || {
            fleet::hold_the_lock_then_shut_down(|| async move {
                RedisStore::connect(&url).await.expect("connects")
            })
        });
        shut_down.await.expect("the replica ran");
        fleet::the_lock_is_free(&redis.store().await).await;
    })
    .await;
}

#[tokio::test]
async fn connecting_without_the_required_password_fails_clearly() {
    within_timeout(async {
        let Some(redis) = RedisServer::start_with(Some("fleet-pass")).await else {
            return;
        };
        let refused = RedisStore::connect(&redis.url_without_password()).await;
        let error = refused.expect_err("a password-protected Redis refuses");
        let message = error.to_string();
        assert!(message.contains("password"), "says why: {message}");
        assert!(!message.contains("fleet-pass"));
        let wrong = RedisStore::connect(&redis.url.replace("fleet-pass", "wrong")).await;
        assert!(wrong.is_err(), "a wrong password fails too");
        let store = redis.store().await;
        assert_eq!(store.get("absent").await.expect("works"), None);
    })
    .await;
}
