//! Fleet mode through a real Redis, started on a free loopback port.

use crate::common;

use std::future::Future;

use common::fleet::{self, replica};
use common::redis::RedisServer;
use common::within_timeout;
use reqwest_oauth::fleet::RedisStore;

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
