//! Fleet scenarios, run against every store: replicas are separately built
//! middlewares and clients, as separate processes would be.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest_middleware::ClientWithMiddleware;
use reqwest_oauth::OAuthMiddleware;
use reqwest_oauth::fleet::{FleetSource, TokenStore};
use reqwest_oauth::policy::RefreshAhead;
use reqwest_oauth::testkit::{ApiServer, AuthServer};

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
