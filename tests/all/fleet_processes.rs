//! Fleet mode with replicas as real OS processes sharing a real Redis:
//! each replica is this test binary launched again, running only
//! `replica_process` (see `common::fleet_process`). The authorization
//! server and the API run in the test's own process, which counts the
//! token requests the whole fleet made.

use crate::common;

use std::time::Duration;

use common::fleet_process::{self, Burst, ReplicaProcess};
use common::redis::RedisServer;
use common::within_timeout;
use futures_util::future::join_all;
use reqwest_oauth::fleet::{FleetSource, RedisStore};
use reqwest_oauth::policy::RetryPolicy;
use reqwest_oauth::testkit::{ApiServer, AuthServer, Fault};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};

/// The replica's side: does nothing in a normal test run; in a replica
/// process, serves bursts of requests asked for on stdin until it closes.
#[test]
fn replica_process() {
    let Ok(redis_url) = std::env::var(fleet_process::REDIS_ENV) else {
        return;
    };
    let setting = |name: &str| std::env::var(name).expect("set by the parent");
    let (token_url, api) = (
        setting(fleet_process::TOKEN_URL_ENV),
        setting(fleet_process::API_ENV),
    );
    let lease = Duration::from_millis(setting(fleet_process::LEASE_ENV).parse().expect("ms"));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let client = runtime.block_on(async {
        let store = RedisStore::connect(&redis_url).await.expect("connects");
        let grant = ClientCredentials::new(token_url, common::CLIENT_ID, common::CLIENT_SECRET);
        let source = FleetSource::new("orders", grant, store).lock_ttl(lease);
        // No retries: each token request the server counts is a decision
        // of the fleet, not of one replica's retry loop.
        let oauth = OAuthMiddleware::builder(source).retry(RetryPolicy::none());
        common::client(&oauth.build().expect("config"))
    });
    println!("{} ready", fleet_process::PREFIX);
    for line in std::io::stdin().lines() {
        let Some(requests) = line.ok().and_then(|line| line.trim().parse::<u32>().ok()) else {
            break;
        };
        let calls = (0..requests).map(|_| client.get(format!("{api}/orders")).send());
        let responses = runtime.block_on(join_all(calls));
        let ok = responses
            .iter()
            .filter(|response| response.as_ref().is_ok_and(|r| r.status() == 200))
            .count();
        let failed = responses.len() - ok;
        println!("{} ok={ok} failed={failed}", fleet_process::PREFIX);
    }
}

/// A Redis and the servers, or `None` when Redis is not installed (and
/// `REQUIRE_REDIS` is unset).
async fn fleet_servers() -> Option<(RedisServer, AuthServer, ApiServer)> {
    let redis = RedisServer::start().await?;
    let (auth, api) = common::servers().await;
    Some((redis, auth, api))
}

async fn replicas(
    count: usize,
    redis: &RedisServer,
    auth: &AuthServer,
    api: &ApiServer,
    lease: Duration,
) -> Vec<ReplicaProcess> {
    let (token_url, origin) = (auth.token_url(), api.origin());
    let starting =
        (0..count).map(|_| ReplicaProcess::start(&redis.url, &token_url, &origin, lease));
    join_all(starting).await
}

/// Every replica sends `requests` at once; their outcomes.
async fn all_burst(replicas: &mut [ReplicaProcess], requests: u32) -> Vec<Burst> {
    for replica in replicas.iter_mut() {
        replica.send(requests).await;
    }
    let mut outcomes = Vec::new();
    for replica in replicas.iter_mut() {
        outcomes.push(replica.outcome().await);
    }
    outcomes
}

fn all_ok(outcomes: &[Burst], requests: u32) {
    for outcome in outcomes {
        assert_eq!(
            *outcome,
            Burst {
                ok: requests,
                failed: 0
            }
        );
    }
}

async fn until_token_requests(auth: &AuthServer, count: u64) {
    for _ in 0..1000 {
        if auth.token_requests() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no token request came");
}

const LEASE: Duration = Duration::from_millis(500);

#[tokio::test]
async fn six_cold_processes_make_one_token_request() {
    within_timeout(async {
        let Some((redis, auth, api)) = fleet_servers().await else {
            return;
        };
        let mut fleet = replicas(6, &redis, &auth, &api, LEASE).await;
        all_ok(&all_burst(&mut fleet, 50).await, 50);
        assert_eq!(auth.token_requests(), 1, "one token for 6 x 50 requests");
    })
    .await;
}

/// The holder is frozen (SIGSTOP) or killed mid-fetch; the fleet's token
/// endpoint is slow (1.5 s, three leases). After one lease exactly one
/// other process takes over and the rest wait for it.
async fn a_holder_lost_mid_fetch(signal: &str) {
    let Some((redis, auth, api)) = fleet_servers().await else {
        return;
    };
    auth.set_delay(Duration::from_millis(1500));
    let mut fleet = replicas(6, &redis, &auth, &api, LEASE).await;
    let mut holder = fleet.remove(0);
    holder.send(1).await;
    until_token_requests(&auth, 1).await;
    holder.signal(signal).await;

    all_ok(&all_burst(&mut fleet, 5).await, 5);
    assert_eq!(auth.token_requests(), 2, "the lost fetch and one takeover");
    if signal == "STOP" {
        holder.signal("CONT").await;
        assert_eq!(holder.outcome().await, Burst { ok: 1, failed: 0 });
        assert_eq!(auth.token_requests(), 2);
    } else {
        holder.reap().await;
    }
}

#[tokio::test]
async fn a_frozen_holder_costs_one_lease_and_one_takeover() {
    within_timeout(a_holder_lost_mid_fetch("STOP")).await;
}

#[tokio::test]
async fn a_holder_killed_mid_fetch_costs_one_lease_and_one_takeover() {
    within_timeout(a_holder_lost_mid_fetch("KILL")).await;
}

#[tokio::test]
async fn a_revoked_shared_token_is_replaced_once_across_processes() {
    within_timeout(async {
        let Some((redis, auth, api)) = fleet_servers().await else {
            return;
        };
        let mut first = replicas(1, &redis, &auth, &api, LEASE).await;
        all_ok(&all_burst(&mut first, 1).await, 1);
        auth.revoke_all();

        // Started after the revocation: it reads the revoked token.
        let mut late = replicas(1, &redis, &auth, &api, LEASE).await;
        all_ok(&all_burst(&mut late, 10).await, 10);
        assert_eq!(auth.token_requests(), 2, "one replacement for the burst");
        all_ok(&all_burst(&mut first, 10).await, 10);
        assert_eq!(auth.token_requests(), 2, "the first took the published one");
    })
    .await;
}

#[tokio::test]
async fn a_failing_endpoint_is_asked_once_by_the_fleet() {
    within_timeout(async {
        let Some((redis, auth, api)) = fleet_servers().await else {
            return;
        };
        let mut fleet = replicas(6, &redis, &auth, &api, LEASE).await;
        auth.push_faults([Fault::Status {
            status: 503,
            body: serde_json::json!({"error": "temporarily_unavailable"}),
            retry_after: Some(1),
        }]);
        for outcome in all_burst(&mut fleet, 1).await {
            assert_eq!(outcome, Burst { ok: 0, failed: 1 });
        }
        assert_eq!(auth.token_requests(), 1, "one request for six processes");

        tokio::time::sleep(Duration::from_millis(1100)).await;
        all_ok(&all_burst(&mut fleet, 1).await, 1);
        assert_eq!(auth.token_requests(), 2, "one recovery for the fleet");
    })
    .await;
}

#[tokio::test]
async fn a_redis_restart_fails_no_request_and_the_fleet_reconverges() {
    within_timeout(async {
        let Some((mut redis, auth, api)) = fleet_servers().await else {
            return;
        };
        let mut fleet = replicas(3, &redis, &auth, &api, LEASE).await;
        all_ok(&all_burst(&mut fleet, 5).await, 5);
        assert_eq!(auth.token_requests(), 1);

        redis.restart().await;
        auth.revoke_all();
        for replica in &mut fleet {
            assert_eq!(replica.burst(5).await, Burst { ok: 5, failed: 0 });
        }
        // Each replica's first command met the dead connection and was
        // sent again on the new one, so none fetched alone.
        assert_eq!(auth.token_requests(), 2, "one replacement for the fleet");

        // The replacement is in the new Redis: a replica started now takes it.
        let mut late = replicas(1, &redis, &auth, &api, LEASE).await;
        all_ok(&all_burst(&mut late, 5).await, 5);
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}
