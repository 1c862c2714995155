//! Fleet mode through the in-process store, and what happens when a store
//! fails or a replica dies holding the lock.

use crate::common;

use std::time::Duration;

use common::fleet::{self, replica};
use common::within_timeout;
use reqwest_oauth::fleet::BoxFuture;
use reqwest_oauth::fleet::{FleetSource, MemoryStore, StoreError, TokenStore};
use reqwest_oauth::{OAuthMiddleware, TokenSource};

#[tokio::test]
async fn replicas_share_one_token() {
    within_timeout(fleet::replicas_share_one_token(MemoryStore::new())).await;
}

#[tokio::test]
async fn a_rejected_token_is_replaced_once_for_the_fleet() {
    within_timeout(fleet::a_rejected_token_is_replaced_once_for_the_fleet(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn a_due_token_is_renewed_once_for_the_fleet() {
    within_timeout(fleet::a_due_token_is_renewed_once_for_the_fleet(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn a_revoked_shared_token_is_replaced_for_a_late_replica() {
    within_timeout(
        fleet::a_revoked_shared_token_is_replaced_for_a_late_replica(MemoryStore::new()),
    )
    .await;
}

#[tokio::test]
async fn a_stale_lock_is_taken_over_by_exactly_one_waiter() {
    within_timeout(fleet::a_stale_lock_is_taken_over_by_exactly_one_waiter(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn an_oversized_stored_token_is_ignored() {
    within_timeout(fleet::an_oversized_stored_token_is_ignored(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn a_failing_endpoint_is_asked_once_per_cooldown() {
    within_timeout(fleet::a_failing_endpoint_is_asked_once_per_cooldown(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn namespaces_and_audiences_stay_apart() {
    within_timeout(fleet::namespaces_and_audiences_stay_apart(
        MemoryStore::new(),
    ))
    .await;
}

/// A store whose every command fails, as an unreachable Redis does.
#[derive(Clone)]
struct BrokenStore;

fn broken<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(async { Err(StoreError::new("connection refused")) })
}

impl TokenStore for BrokenStore {
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        broken()
    }
    fn put<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        broken()
    }
    fn try_lock<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        broken()
    }
    fn unlock<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        broken()
    }
    fn extend<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        broken()
    }
}

#[tokio::test]
async fn a_broken_store_costs_no_request_each_replica_fetches_alone() {
    within_timeout(async {
        let (auth, api) = common::servers().await;
        let clients: Vec<_> = (0..3)
            .map(|_| replica(&auth, "orders", BrokenStore).1)
            .collect();
        fleet::every_request_succeeds(&api, &clients).await;
        fleet::every_request_succeeds(&api, &clients).await;
        assert_eq!(auth.token_requests(), 3, "one per replica, cached locally");
    })
    .await;
}

#[tokio::test]
async fn a_lock_left_by_a_dead_replica_is_waited_out_then_taken_over() {
    within_timeout(async {
        let (auth, api) = common::servers().await;
        let store = MemoryStore::new();
        let lock = fleet::LOCK_KEY;
        let ttl = Duration::from_millis(400);
        assert!(
            store
                .try_lock(lock, "dead-replica", ttl)
                .await
                .expect("locks")
        );

        let source = FleetSource::new("orders", common::grant(&auth), store.clone()).lock_ttl(ttl);
        let client = common::client(&OAuthMiddleware::new(source));
        let request = tokio::spawn(client.get(api.url("/orders")).send());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(auth.token_requests(), 0, "the live lock is respected");

        let response = request.await.expect("joins").expect("request completes");
        common::echo(response).await;
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_replica_waits_for_the_one_fetching_instead_of_fetching_too() {
    within_timeout(async {
        let (auth, api) = common::servers().await;
        auth.set_delay(Duration::from_millis(300));
        let store = MemoryStore::new();
        let (_, first) = replica(&auth, "orders", store.clone());
        let (_, second) = replica(&auth, "orders", store);
        let slow = tokio::spawn(first.get(api.url("/a")).send());
        while auth.token_requests() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let waited = second.get(api.url("/b")).send().await.expect("completes");
        common::echo(waited).await;
        common::echo(slow.await.expect("joins").expect("completes")).await;
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_fetch_dropped_while_holding_the_lock_releases_it() {
    within_timeout(async {
        let store = MemoryStore::new();
        let never = reqwest_oauth::source_fn(|_| std::future::pending());
        let source = FleetSource::new("orders", never, store.clone());
        let request = reqwest_oauth::TokenRequest::new();
        let fetch = tokio::time::timeout(
            Duration::from_millis(100),
            source.fetch(reqwest_oauth::FetchContext::new(&request)),
        );
        assert!(fetch.await.is_err(), "the wrapped source never answers");

        let lock = fleet::LOCK_KEY;
        let mut free = false;
        for _ in 0..100 {
            free = store
                .try_lock(lock, "next-replica", Duration::from_secs(1))
                .await
                .expect("locks");
            if free {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            free,
            "the lock was released, not left for its 35 s time to live"
        );
    })
    .await;
}

#[tokio::test]
async fn a_lock_held_when_the_runtime_shuts_down_is_released() {
    let store = MemoryStore::new();
    let replica_store = store.clone();
    let shut_down = tokio::task::spawn_blocking(move || {
        fleet::hold_the_lock_then_shut_down(|| async move { replica_store })
    });
    within_timeout(async {
        shut_down.await.expect("the replica ran");
        fleet::the_lock_is_free(&store).await;
    })
    .await;
}

/// The provided `TokenStore::unlock_blocking` (which `MemoryStore` keeps)
/// runs where a lock dropped at shutdown is released: on a plain thread,
/// outside any runtime.
#[test]
fn the_provided_blocking_release_needs_no_runtime() {
    let store = MemoryStore::new();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let lease = Duration::from_secs(30);
    let locked = runtime.block_on(store.try_lock(fleet::LOCK_KEY, "holder", lease));
    assert!(locked.expect("locks"));
    drop(runtime);
    let releasing = store.clone();
    let released = std::thread::spawn(move || releasing.unlock_blocking(fleet::LOCK_KEY, "holder"))
        .join()
        .expect("the release does not panic");
    released.expect("released");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(fleet::the_lock_is_free(&store));
}

#[tokio::test]
async fn a_failed_renewal_keeps_serving_the_current_shared_token() {
    within_timeout(async {
        let lifetime = Duration::from_secs(2);
        let (auth, api) = common::servers_with_lifetime(lifetime).await;
        let store = MemoryStore::new();
        // The fleet renews in the last 80 %: due after 0.4 s, usable to 1.8 s.
        let early = FleetSource::new("orders", common::grant(&auth), store.clone());
        let warm = OAuthMiddleware::builder(early)
            .refresh_ahead(reqwest_oauth::policy::RefreshAhead::Fraction(0.8))
            .build()
            .expect("config");
        let warm = common::client(&warm);
        common::echo(warm.get(api.url("/warm")).send().await.expect("sent")).await;

        // Now due: a new replica takes the lock to renew, the endpoint
        // refuses, and it uses the current token instead of failing.
        tokio::time::sleep(lifetime.mul_f64(0.3)).await;
        auth.fail_with(503, serde_json::json!({"error": "temporarily_unavailable"}));
        let (_, late) = replica(&auth, "orders", store);
        common::echo(late.get(api.url("/late")).send().await.expect("sent")).await;
        assert!(auth.token_requests() > 1, "the renewal was tried");
    })
    .await;
}
