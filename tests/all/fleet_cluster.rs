//! Fleet mode through a real three-node Redis Cluster on loopback ports.

use crate::common;

use common::fleet::{self, FAILED_KEY, LOCK_KEY, TOKEN_KEY};
use common::redis::RedisCluster;
use common::within_timeout;
use reqwest_oauth::fleet::TokenStore;

#[tokio::test]
async fn a_keys_token_lock_and_failure_share_one_slot() {
    within_timeout(async {
        let Some(cluster) = RedisCluster::start().await else {
            return;
        };
        let port = cluster.ports[0];
        let slot = |key: &str| cluster.cli(port, &["CLUSTER", "KEYSLOT", key]);
        assert_eq!(slot(TOKEN_KEY), slot(LOCK_KEY));
        assert_eq!(slot(TOKEN_KEY), slot(FAILED_KEY));
        // Keys of other namespaces spread over the nodes.
        let other = "reqwest-oauth:v1:{billing:[null,null,null]}";
        assert_ne!(slot(TOKEN_KEY), slot(other));
    })
    .await;
}

#[tokio::test]
async fn replicas_share_one_token_through_a_cluster() {
    within_timeout(async {
        let Some(cluster) = RedisCluster::start().await else {
            return;
        };
        fleet::replicas_share_one_token(cluster.store().await).await;
        let store = cluster.store().await;
        assert!(store.get(TOKEN_KEY).await.expect("reads").is_some());
    })
    .await;
}

#[tokio::test]
async fn a_revoked_shared_token_is_replaced_once_through_a_cluster() {
    within_timeout(async {
        let Some(cluster) = RedisCluster::start().await else {
            return;
        };
        let store = cluster.store().await;
        fleet::a_revoked_shared_token_is_replaced_for_a_late_replica(store).await;
    })
    .await;
}

#[tokio::test]
async fn a_stale_lock_is_taken_over_once_in_a_cluster() {
    within_timeout(async {
        let Some(cluster) = RedisCluster::start().await else {
            return;
        };
        let store = cluster.store().await;
        fleet::a_stale_lock_is_taken_over_by_exactly_one_waiter(store).await;
    })
    .await;
}

#[tokio::test]
async fn a_lock_held_when_the_runtime_shuts_down_is_released_in_a_cluster() {
    within_timeout(async {
        let Some(cluster) = RedisCluster::start().await else {
            return;
        };
        let urls = cluster.urls();
        let shut_down = tokio::task::spawn_blocking(move || {
            fleet::hold_the_lock_then_shut_down(|| async move {
                let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
                reqwest_oauth::fleet::RedisStore::connect_cluster(&urls)
                    .await
                    .expect("connects")
            })
        });
        shut_down.await.expect("the replica ran");
        fleet::the_lock_is_free(&cluster.store().await).await;
    })
    .await;
}
