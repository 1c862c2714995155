//! The `metrics` feature: token request timings as they happen, the stats
//! counters when asked. One test in its own binary, since it installs the
//! process-wide recorder.

#[path = "all/common/mod.rs"]
mod common;

use std::collections::HashMap;

use common::{client, echo, grant, within_timeout};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use reqwest_oauth::OAuthMiddleware;
use reqwest_oauth::metrics::TOKEN_REQUEST_DURATION;
use serde_json::json;

/// A metric's name and its labels as `name=value`, sorted.
type Id = (String, Vec<String>);

#[tokio::test]
async fn token_requests_and_stats_reach_the_installed_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this binary");

    let stats = within_timeout(async {
        let (auth, api) = common::servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        let client = client(&oauth);
        for _ in 0..5 {
            echo(client.get(api.url("/")).send().await.expect("call")).await;
        }
        auth.revoke_all();
        echo(client.get(api.url("/")).send().await.expect("replayed")).await;
        auth.fail_with(401, json!({"error": "invalid_client"}));
        oauth.invalidate_all();
        client.get(api.url("/")).send().await.expect_err("refused");

        let stats = oauth.stats();
        stats.record_metrics("orders");
        stats
    })
    .await;

    let metrics: HashMap<Id, DebugValue> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            ((key.name().to_owned(), labels), value)
        })
        .collect();
    let id = |name: &str, labels: &[&str]| {
        (
            name.to_owned(),
            labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
        )
    };

    let timings = |outcome: &str| {
        let labels = ["grant_type=client_credentials", "host=127.0.0.1", outcome];
        match metrics.get(&id(TOKEN_REQUEST_DURATION, &labels)) {
            Some(DebugValue::Histogram(seconds)) => seconds.len(),
            other => panic!("{outcome} timings missing: {other:?}"),
        }
    };
    assert_eq!(
        timings("outcome=token"),
        2,
        "the first token and the replacement"
    );
    assert_eq!(timings("outcome=error"), 1, "the refused request");

    let counter = |name: &str| match metrics.get(&id(name, &["client=orders"])) {
        Some(DebugValue::Counter(value)) => *value,
        other => panic!("{name} missing: {other:?}"),
    };
    assert_eq!(counter("reqwest_oauth_token_requests_total"), 3);
    assert_eq!(counter("reqwest_oauth_fetch_failures_total"), 1);
    assert_eq!(counter("reqwest_oauth_replays_total"), 1);
    assert_eq!(counter("reqwest_oauth_cache_hits_total"), stats.cache_hits);
    assert!(stats.cache_hits >= 4);
    assert!(matches!(
        metrics.get(&id(
            "reqwest_oauth_max_waiters_per_fetch",
            &["client=orders"]
        )),
        Some(DebugValue::Gauge(_))
    ));
}
