//! Fleet mode through Redis Sentinel: a real master, replica and sentinel
//! on free loopback ports, through a failover (the master SIGKILLed) and
//! the ways connecting can fail.

use crate::common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::fleet::{self, LOCK_KEY, TOKEN_KEY, replica};
use common::redis::free_port;
use common::sentinel::{Options, SERVICE, SentinelSetup};
use common::{echo, within_timeout};
use futures_util::future::join_all;
use redis::RedisConnectionInfo;
use redis::sentinel::SentinelNodeConnectionInfo;
use reqwest_oauth::fleet::{RedisStore, TokenStore};
use reqwest_oauth::testkit::{ApiServer, AuthServer};

/// Runs a fleet scenario on a store connected through a fresh sentinel
/// set-up (skipped, saying so, when Redis is not installed and CI's
/// `REQUIRE_REDIS` is unset).
async fn on_sentinel<F: Future<Output = ()>>(scenario: impl FnOnce(RedisStore) -> F) {
    within_timeout(async {
        let Some(setup) = SentinelSetup::start(Options::default()).await else {
            return;
        };
        scenario(setup.store().await).await;
    })
    .await;
}

#[tokio::test]
async fn cold_replicas_with_stores_of_their_own_make_one_token_request_through_sentinel() {
    within_timeout(async {
        let Some(setup) = SentinelSetup::start(Options::default()).await else {
            return;
        };
        let (auth, api) = common::servers().await;
        let mut clients = Vec::new();
        for _ in 0..5 {
            clients.push(replica(&auth, "orders", setup.store().await).1);
        }
        let url = api.url("/orders");
        let calls = clients
            .iter()
            .flat_map(|client| (0..20).map(|_| client.get(&url).send()));
        for response in join_all(calls).await {
            echo(response.expect("request completes")).await;
        }
        assert_eq!(auth.token_requests(), 1, "one token for five replicas");
        let published = setup.cli(setup.master_port, &["EXISTS", TOKEN_KEY]);
        assert_eq!(published, "1", "published on the master");
    })
    .await;
}

#[tokio::test]
async fn a_revoked_shared_token_is_replaced_for_a_late_replica_through_sentinel() {
    on_sentinel(fleet::a_revoked_shared_token_is_replaced_for_a_late_replica).await;
}

#[tokio::test]
async fn a_stale_lock_is_taken_over_by_exactly_one_waiter_through_sentinel() {
    on_sentinel(fleet::a_stale_lock_is_taken_over_by_exactly_one_waiter).await;
}

#[tokio::test]
async fn an_oversized_token_is_ignored_through_sentinel() {
    on_sentinel(fleet::an_oversized_stored_token_is_ignored).await;
}

/// With passwords on the master and the sentinel: the blocking release
/// reaches the master with its password, without the runtime.
#[tokio::test]
async fn a_lock_held_when_the_runtime_shuts_down_is_released_through_sentinel() {
    within_timeout(async {
        let Some(setup) = SentinelSetup::start(with_passwords()).await else {
            return;
        };
        let (url, master) = (setup.sentinel_url(), setup.master_info());
        let shut_down = tokio::task::spawn_blocking(move || {
            fleet::hold_the_lock_then_shut_down(|| async move {
                RedisStore::connect_sentinel(&[&url], SERVICE, master)
                    .await
                    .expect("connects")
            })
        });
        shut_down.await.expect("the replica ran");
        fleet::the_lock_is_free(&setup.store().await).await;
    })
    .await;
}

/// The master dies with the token published. Until the sentinel promotes
/// the replica, cold replicas fetch alone and every request succeeds;
/// after it, a store made before the failover follows the master: a cold
/// replica reads the replicated token, and writes (a lock, a replaced
/// token) land on the new master.
#[tokio::test]
async fn after_a_failover_the_fleet_keeps_its_token_and_writes_to_the_new_master() {
    within_timeout(async {
        let quick = Options {
            quick_failover: true,
            ..Options::default()
        };
        let Some(mut setup) = SentinelSetup::start(quick).await else {
            return;
        };
        let (auth, api) = common::servers().await;
        let store = setup.store().await;
        let (_, first) = replica(&auth, "orders", store.clone());
        echo(first.get(api.url("/warm")).send().await.expect("sent")).await;
        assert_eq!(auth.token_requests(), 1);
        setup.until_replicated(TOKEN_KEY).await;

        let killed = Instant::now();
        setup.kill_master();
        let alone = serve_until_failed_over(&setup, &auth, &api, &store, killed).await;
        let fetched = auth.token_requests();
        eprintln!(
            "failover: the sentinel listed the new master {:?} after the kill; {alone} cold replicas served meanwhile, {} token requests among them",
            killed.elapsed(),
            fetched - 1
        );
        assert!(fetched > 1, "the first cold replica fetched alone");
        assert!(fetched <= 1 + alone, "at most one fetch per cold replica");

        // Cold replicas at once on the store made before: one of them asks
        // the sentinels, the others take its answer.
        let late: Vec<_> = (0..5)
            .map(|_| replica(&auth, "orders", store.clone()).1)
            .collect();
        fleet::every_request_succeeds(&api, &late).await;
        assert_eq!(auth.token_requests(), fetched, "the replicated token");
        let (_, fresh) = replica(&auth, "orders", setup.store().await);
        echo(fresh.get(api.url("/after")).send().await.expect("sent")).await;
        assert_eq!(auth.token_requests(), fetched, "the same for a new store");

        let lease = Duration::from_secs(5);
        let locked = store.try_lock(LOCK_KEY, "probe", lease).await;
        assert!(locked.expect("locks on the new master"));
        store.unlock(LOCK_KEY, "probe").await.expect("unlocks");
        let shared = setup.cli(setup.replica_port, &["GET", TOKEN_KEY]);
        auth.revoke_all();
        echo(late[0].get(api.url("/revoked")).send().await.expect("sent")).await;
        assert_eq!(auth.token_requests(), fetched + 1, "one replacement");
        let replaced = setup.cli(setup.replica_port, &["GET", TOKEN_KEY]);
        assert_ne!(replaced, shared, "published on the new master");
        echo(fresh.get(api.url("/revoked")).send().await.expect("sent")).await;
        assert_eq!(auth.token_requests(), fetched + 1, "the replacement shared");
    })
    .await;
}

/// A master demoted to a replica while the store's connection to it stays
/// open answers writes with `READONLY`: the store asks the sentinels and
/// sends the write to the master they name.
#[tokio::test]
async fn a_master_demoted_under_the_store_answers_readonly_and_the_store_follows() {
    within_timeout(async {
        let Some(setup) = SentinelSetup::start(Options::default()).await else {
            return;
        };
        let (auth, api) = common::servers().await;
        let store = setup.store().await;
        let (_, first) = replica(&auth, "orders", store.clone());
        echo(first.get(api.url("/warm")).send().await.expect("sent")).await;
        setup.until_replicated(TOKEN_KEY).await;
        setup.fail_over().await;
        setup.demote_old_master().await;

        let lease = Duration::from_secs(5);
        let locked = store.try_lock(LOCK_KEY, "probe", lease).await;
        assert!(locked.expect("locks, on the new master"));
        let on_new = setup.cli(setup.replica_port, &["GET", LOCK_KEY]);
        assert_eq!(on_new, "probe", "the lock is on the new master");
        store.unlock(LOCK_KEY, "probe").await.expect("unlocks");

        auth.revoke_all();
        echo(first.get(api.url("/revoked")).send().await.expect("sent")).await;
        let (_, cold) = replica(&auth, "orders", store.clone());
        echo(cold.get(api.url("/cold")).send().await.expect("sent")).await;
        assert_eq!(auth.token_requests(), 2, "one replacement, shared");
    })
    .await;
}

/// Until the sentinel names the replica (at most 20 s after the kill), a
/// cold replica on `store` sends a request every 100 ms, which must
/// succeed; how many did. The sentinel is steadied as soon as it fails
/// over, so the new master is not failed over in turn.
async fn serve_until_failed_over(
    setup: &SentinelSetup,
    auth: &AuthServer,
    api: &ApiServer,
    store: &RedisStore,
    killed: Instant,
) -> u64 {
    let mut served = 0;
    let mut steadied = false;
    while setup.named_master_port() != Some(setup.replica_port) {
        if !steadied && setup.failing_over() {
            setup.steady();
            steadied = true;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "the sentinel never failed over"
        );
        let (_, cold) = replica(auth, "orders", store.clone());
        echo(cold.get(api.url("/window")).send().await.expect("sent")).await;
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !steadied {
        setup.steady();
    }
    served
}

#[tokio::test]
async fn connecting_to_an_unknown_service_name_fails_naming_it() {
    within_timeout(async {
        let Some(setup) = SentinelSetup::start(Options::default()).await else {
            return;
        };
        let url = setup.sentinel_url();
        let unknown = RedisStore::connect_sentinel(&[&url], "no-such-service", None).await;
        let message = unknown.expect_err("no such master").to_string();
        assert!(
            message.contains("no sentinel knows a master named `no-such-service`"),
            "says why: {message}"
        );
    })
    .await;
}

#[tokio::test]
async fn connecting_through_unreachable_sentinels_fails_saying_so() {
    within_timeout(async {
        let urls = [free_port(), free_port()].map(|port| format!("redis://127.0.0.1:{port}"));
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        let started = Instant::now();
        let refused = RedisStore::connect_sentinel(&urls, SERVICE, None).await;
        let message = refused.expect_err("nothing listens").to_string();
        assert!(
            message.contains("no sentinel answered"),
            "says why: {message}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "fails fast");
    })
    .await;
}

#[tokio::test]
async fn connecting_with_a_wrong_password_fails_naming_whose() {
    within_timeout(async {
        let Some(setup) = SentinelSetup::start(with_passwords()).await else {
            return;
        };
        let store = setup.store().await;
        assert_eq!(store.get("absent").await.expect("works"), None);
        assert!(!format!("{store:?}").contains("pass"));

        let url = setup.sentinel_url();
        let wrong = password("wrong-master-pass");
        let master = format!(
            "the master of `{SERVICE}` at 127.0.0.1:{}",
            setup.master_port
        );
        for given in [Some(wrong), None] {
            let refused = RedisStore::connect_sentinel(&[&url], SERVICE, given).await;
            let message = refused.expect_err("the master refuses").to_string();
            assert!(message.contains(&master), "names the master: {message}");
            assert!(message.contains("refused to authenticate"), "{message}");
            assert!(!message.contains("pass@") && !message.contains("-pass"));
        }

        let url = url.replace("sentinel-pass", "wrong-sentinel-pass");
        let refused = RedisStore::connect_sentinel(&[&url], SERVICE, setup.master_info()).await;
        let message = refused.expect_err("the sentinel refuses").to_string();
        assert!(
            message.contains("the sentinels refused to authenticate"),
            "names the sentinels: {message}"
        );
        assert!(!message.contains("-pass"), "no password shown: {message}");
    })
    .await;
}

fn with_passwords() -> Options {
    Options {
        master_password: Some("master-pass"),
        sentinel_password: Some("sentinel-pass"),
        ..Options::default()
    }
}

fn password(password: &str) -> SentinelNodeConnectionInfo {
    let redis = RedisConnectionInfo::default().set_password(password);
    SentinelNodeConnectionInfo::default().set_redis_connection_info(redis)
}
