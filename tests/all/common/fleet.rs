//! Fleet scenarios, run against every store: replicas are separately built
//! middlewares and clients, as separate processes would be.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest_middleware::ClientWithMiddleware;
use reqwest_oauth::fleet::{FleetSource, TokenStore};
use reqwest_oauth::policy::RefreshAhead;
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{OAuthMiddleware, TokenSource};

use super::{client, echo, grant};

/// One replica of a service: its own middleware and client.
pub fn replica(
    auth: &AuthServer,
    namespace: &str,
    store: impl TokenStore,
) -> (OAuthMiddleware, ClientWithMiddleware) {
    let oauth = OAuthMiddleware::new(FleetSource::new(namespace, grant(auth), store));
    let client = client(&oauth);
    (oauth, client)
}

/// Five replicas, twenty concurrent requests each, all on a cold fleet:
/// one token request.
pub async fn replicas_share_one_token<S: TokenStore + Clone>(store: S) {
    let (auth, api) = super::servers().await;
    let replicas: Vec<_> = (0..5)
        .map(|_| replica(&auth, "orders", store.clone()).1)
        .collect();
    let url = api.url("/orders");
    let calls = replicas
        .iter()
        .flat_map(|client| (0..20).map(|_| client.get(&url).send()));
    for response in join_all(calls).await {
        echo(response.expect("request completes")).await;
    }
    assert_eq!(auth.token_requests(), 1, "one token for the whole fleet");
}

/// After the tokens are revoked, the first replica to see a 401 fetches the
/// replacement; the second picks it up from the store.
pub async fn a_rejected_token_is_replaced_once_for_the_fleet<S: TokenStore + Clone>(store: S) {
    let (auth, api) = super::servers().await;
    let (_, first) = replica(&auth, "orders", store.clone());
    let (_, second) = replica(&auth, "orders", store);
    for client in [&first, &second] {
        echo(client.get(api.url("/warm")).send().await.expect("sent")).await;
    }
    assert_eq!(auth.token_requests(), 1);

    auth.revoke_all();
    for client in [&first, &second] {
        echo(client.get(api.url("/after")).send().await.expect("sent")).await;
    }
    assert_eq!(
        api.rejections(),
        2,
        "each replica met the revoked token once"
    );
    assert_eq!(
        auth.token_requests(),
        2,
        "one replacement for both replicas"
    );
}

/// Replicas whose shared token enters its renewal window renew it with one
/// token request between them, and keep serving meanwhile.
pub async fn a_due_token_is_renewed_once_for_the_fleet<S: TokenStore + Clone>(store: S) {
    let lifetime = Duration::from_secs(4);
    let (auth, api) = super::servers_with_lifetime(lifetime).await;
    let replicas: Vec<_> = (0..4)
        .map(|_| {
            let source = FleetSource::new("orders", grant(&auth), store.clone());
            OAuthMiddleware::builder(source)
                .refresh_ahead(RefreshAhead::Fraction(0.2))
                .build()
                .expect("config")
        })
        .collect();
    let clients: Vec<_> = replicas.iter().map(client).collect();
    let round = |path: &'static str| join_all(clients.iter().map(|c| c.get(api.url(path)).send()));
    for response in round("/warm").await {
        echo(response.expect("sent")).await;
    }
    // Past 80 % of the lifetime, before the last 10 % it is not used in.
    tokio::time::sleep(lifetime.mul_f64(0.83)).await;
    for response in round("/due").await {
        echo(response.expect("sent")).await;
    }
    // The renewal runs in the background: wait for it, then for the old
    // token to expire, so every replica must be on the renewed one.
    let renewed = async {
        while auth.token_requests() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), renewed)
        .await
        .expect("a replica renews in the background");
    tokio::time::sleep(lifetime.mul_f64(0.25)).await;
    for response in round("/after-expiry").await {
        echo(response.expect("sent")).await;
    }
    assert_eq!(auth.token_requests(), 2, "one renewal for the fleet");
}

/// Separate namespaces (client identities) and separate audiences never
/// share a token, even through one store.
pub async fn namespaces_and_audiences_stay_apart<S: TokenStore + Clone>(store: S) {
    let (auth, api) = super::servers().await;
    let (_, a) = replica(&auth, "orders", store.clone());
    let (_, b) = replica(&auth, "billing", store.clone());
    let audience = |name: &str| {
        let source = FleetSource::new("orders", grant(&auth), store.clone());
        let oauth = OAuthMiddleware::builder(source).audience(name).build();
        client(&oauth.expect("builds"))
    };
    let (x, y) = (audience("https://x.example"), audience("https://y.example"));
    for client in [&a, &b, &x, &y] {
        echo(client.get(api.url("/who")).send().await.expect("sent")).await;
    }
    assert_eq!(auth.token_requests(), 4);
    let seen = echo(y.get(api.url("/who")).send().await.expect("sent")).await;
    assert_eq!(seen["audience"], "https://y.example");
    assert_eq!(auth.token_requests(), 4);
}

/// Requests from all replicas succeed whatever the store does.
pub async fn every_request_succeeds(api: &ApiServer, clients: &[ClientWithMiddleware]) {
    let calls = clients.iter().map(|c| c.get(api.url("/any")).send());
    for response in join_all(calls).await {
        echo(response.expect("request completes")).await;
    }
}

/// The store keys of namespace `orders`' default token, its lock, and its
/// shared failure.
pub const TOKEN_KEY: &str = "reqwest-oauth:v1:{orders:[null,null,null]}";
pub const LOCK_KEY: &str = "reqwest-oauth:v1:{orders:[null,null,null]}:lock";
pub const FAILED_KEY: &str = "reqwest-oauth:v1:{orders:[null,null,null]}:failed";

/// A replica that starts after the shared token was revoked reads it from
/// the store: a burst of its requests meets `401`s, and the cache replaces
/// the token once (under the lock), replays, and publishes the
/// replacement, which the first replica then takes on its own `401`.
pub async fn a_revoked_shared_token_is_replaced_for_a_late_replica<S: TokenStore + Clone>(
    store: S,
) {
    let (auth, api) = super::servers().await;
    let (_, first) = replica(&auth, "orders", store.clone());
    echo(first.get(api.url("/warm")).send().await.expect("sent")).await;
    auth.revoke_all();

    let (_, late) = replica(&auth, "orders", store);
    let burst = (0..10).map(|_| late.get(api.url("/burst")).send());
    for response in join_all(burst).await {
        echo(response.expect("request completes")).await;
    }
    assert_eq!(auth.token_requests(), 2, "one replacement for the burst");
    echo(first.get(api.url("/after")).send().await.expect("sent")).await;
    assert_eq!(
        auth.token_requests(),
        2,
        "the first replica took the published replacement"
    );
}

/// The lock holder froze (its lease is not extended): after one lease,
/// exactly one of eight cold replicas takes over and fetches (slowly,
/// extending its own lease meanwhile); the other seven wait for it.
pub async fn a_stale_lock_is_taken_over_by_exactly_one_waiter<S: TokenStore + Clone>(store: S) {
    let (auth, api) = super::servers().await;
    let lease = Duration::from_millis(300);
    assert!(
        store
            .try_lock(LOCK_KEY, "frozen", lease)
            .await
            .expect("locks"),
        "the frozen holder's lock"
    );
    auth.set_delay(Duration::from_millis(1500));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let source = FleetSource::new("orders", grant(&auth), store.clone()).lock_ttl(lease);
            client(&OAuthMiddleware::new(source))
        })
        .collect();
    every_request_succeeds(&api, &clients).await;
    assert_eq!(auth.token_requests(), 1, "one takeover fetch for eight");
}

/// A value planted in the store that is far larger than any token is
/// never used (it would travel as a 2 MB header): the replica fetches.
pub async fn an_oversized_stored_token_is_ignored<S: TokenStore + Clone>(store: S) {
    let (auth, api) = super::servers().await;
    let far = u64::MAX / 4;
    let planted = format!(
        r#"{{"access_token":"{}","refresh_at_ms":{far},"use_until_ms":{far},"expires_at_ms":{far}}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    store
        .put(TOKEN_KEY, &planted, Duration::from_secs(60))
        .await
        .expect("planted");
    let (_, client) = replica(&auth, "orders", store);
    echo(client.get(api.url("/any")).send().await.expect("sent")).await;
    assert_eq!(api.rejections(), 0, "the planted value was never sent");
    assert_eq!(auth.token_requests(), 1);
}

/// A failing token endpoint (with `Retry-After`) is asked once by the
/// fleet while the failure lasts: the other replicas get the same error
/// from the store. Once it passes, one request recovers the fleet.
pub async fn a_failing_endpoint_is_asked_once_per_cooldown<S: TokenStore + Clone>(store: S) {
    use reqwest_oauth::policy::RetryPolicy;
    use reqwest_oauth::testkit::Fault;
    let (auth, api) = super::servers().await;
    let busy = Fault::Status {
        status: 503,
        body: serde_json::json!({"error": "temporarily_unavailable"}),
        retry_after: Some(1),
    };
    auth.push_faults([busy]);
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let source = FleetSource::new("orders", grant(&auth), store.clone());
            let oauth = OAuthMiddleware::builder(source).retry(RetryPolicy::none());
            client(&oauth.build().expect("config"))
        })
        .collect();
    for client in &clients {
        let failed = client.get(api.url("/any")).send().await;
        let error = failed.expect_err("the endpoint is failing");
        let Some(reqwest_oauth::Error::TokenEndpoint(refused)) =
            reqwest_oauth::Error::from_middleware(&error)
        else {
            panic!("the endpoint's error, got {error}")
        };
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
    }
    assert_eq!(auth.token_requests(), 1, "one request for six replicas");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    every_request_succeeds(&api, &clients).await;
    assert_eq!(auth.token_requests(), 2, "one recovery for the fleet");
}

/// Starts a fetch that takes the lock (and never finishes) on a runtime of
/// its own, then shuts that runtime down, as a deploy stops a replica. The
/// store is made on that runtime, as a replica makes its own.
pub fn hold_the_lock_then_shut_down<S, F, Fut>(connect: F)
where
    S: TokenStore + Clone,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let store = connect().await;
        let never = reqwest_oauth::source_fn(|_| std::future::pending());
        let source = FleetSource::new("orders", never, store.clone());
        tokio::spawn(async move {
            let request = reqwest_oauth::TokenRequest::new();
            source
                .fetch(reqwest_oauth::FetchContext::new(&request))
                .await
        });
        for _ in 0..400 {
            if store.get(LOCK_KEY).await.expect("reads").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the fetch never took the lock");
    });
    drop(runtime);
}

/// After [`hold_the_lock_then_shut_down`], the lock is free at once, not
/// after its lease.
pub async fn the_lock_is_free<S: TokenStore>(store: &S) {
    let free = store
        .try_lock(LOCK_KEY, "next-replica", Duration::from_secs(1))
        .await
        .expect("locks");
    assert!(free, "the lock was released as the runtime shut down");
}
