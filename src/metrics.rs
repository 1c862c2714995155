//! The crate's numbers through the [`metrics`](https://docs.rs/metrics)
//! facade (feature `metrics`), for whichever exporter the application
//! installed (Prometheus, OpenTelemetry, StatsD).
//!
//! Two kinds, so the cached path never pays for a metric:
//!
//! - each token request, as it ends: the histogram
//!   [`TOKEN_REQUEST_DURATION`] (seconds) labelled `host`, `grant_type` and
//!   `outcome` (`token` or `error`); its count is the number of requests;
//! - the [`Stats`] counters, when the application calls
//!   [`Stats::record_metrics`] (from its scrape handler or a timer), as
//!   `reqwest_oauth_<field>_total` counters labelled `client`, and
//!   `reqwest_oauth_max_waiters_per_fetch` as a gauge.

use std::time::Duration;

use crate::Stats;

/// Histogram of token request durations, in seconds.
pub const TOKEN_REQUEST_DURATION: &str = "reqwest_oauth_token_request_duration_seconds";

/// Records one token request's duration and outcome.
pub(crate) fn token_request(
    host: Option<&str>,
    grant_type: Option<&str>,
    outcome: &'static str,
    elapsed: Duration,
) {
    let labels = [
        ("host", host.unwrap_or("").to_owned()),
        ("grant_type", grant_type.unwrap_or("").to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::histogram!(TOKEN_REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
}

impl Stats {
    /// Publishes this snapshot through the `metrics` facade, labelled
    /// `client = <client>` (name each middleware apart). Counters are set to
    /// their absolute values, so calling it again is always safe.
    ///
    /// ```
    /// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
    ///
    /// let oauth = OAuthMiddleware::new(ClientCredentials::new("https://auth.example.com/token", "id", "secret"));
    /// // In the /metrics handler, before rendering:
    /// oauth.stats().record_metrics("orders-api");
    /// ```
    pub fn record_metrics(&self, client: &str) {
        let label = [("client", client.to_owned())];
        for (name, value) in [
            ("reqwest_oauth_fetches_total", self.fetches),
            ("reqwest_oauth_token_requests_total", self.token_requests),
            ("reqwest_oauth_fetch_failures_total", self.fetch_failures),
            ("reqwest_oauth_cache_hits_total", self.cache_hits),
            ("reqwest_oauth_waited_total", self.waited),
            (
                "reqwest_oauth_cooldown_rejections_total",
                self.cooldown_rejections,
            ),
            (
                "reqwest_oauth_background_refreshes_total",
                self.background_refreshes,
            ),
            ("reqwest_oauth_replays_total", self.replays),
            (
                "reqwest_oauth_dpop_nonce_replays_total",
                self.dpop_nonce_replays,
            ),
            (
                "reqwest_oauth_rejection_cooldowns_total",
                self.rejection_cooldowns,
            ),
            (
                "reqwest_oauth_rejections_damped_total",
                self.rejections_damped,
            ),
            ("reqwest_oauth_evictions_total", self.evictions),
        ] {
            metrics::counter!(name, &label).absolute(value);
        }
        metrics::gauge!("reqwest_oauth_max_waiters_per_fetch", &label)
            .set(self.max_waiters_per_fetch as f64);
    }
}
