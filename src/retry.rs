//! Retrying token fetches that failed for a passing reason: network errors,
//! timeouts, 429 and 5xx, with exponential backoff, jitter and `Retry-After`.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use tracing::Instrument;

use crate::source::{BoxFuture, FetchReason};
use crate::stats::Counters;
use crate::{Error, FetchContext, Token};

/// How a failed token fetch is retried before its error is given to the
/// waiting requests.
///
/// Only [transient](Error::is_transient) errors are retried: a refused
/// grant or bad credentials fail at once. The delay doubles from
/// `initial_backoff` up to `max_backoff`, each one jittered between half and
/// all of its value, so a fleet of clients does not retry in step. A
/// `Retry-After` from the server (seconds or an HTTP date) replaces the
/// computed delay; one longer than `max_backoff` ends the retries, since
/// waiting that long would hold every request for the key.
///
/// ```
/// use std::time::Duration;
/// use reqwest_oauth::policy::RetryPolicy;
///
/// let patient = RetryPolicy::new(4).initial_backoff(Duration::from_millis(50));
/// let never = RetryPolicy::none();
/// # let _ = (patient, never);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Two retries, 200 ms then 400 ms (jittered), delays capped at 5 s.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Retries up to `max_retries` times, with the default delays.
    pub fn new(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            ..Self::default()
        }
    }

    /// No retries: the first error is final.
    pub fn none() -> Self {
        Self::new(0)
    }

    /// The delay before the first retry (default 200 ms).
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// The longest delay, computed or asked for by `Retry-After` (default 5 s).
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// The most retries after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// How long to wait before retry number `retry` (0-based) after `error`,
    /// or `None` when the error is final.
    pub(crate) fn delay(&self, retry: u32, error: &Error) -> Option<Duration> {
        if retry >= self.max_retries || !error.is_transient() {
            return None;
        }
        if let Some(asked) = error.endpoint_error().and_then(|e| e.retry_after()) {
            return (asked <= self.max_backoff).then_some(asked);
        }
        let full = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_backoff);
        Some(full / 2 + full.mul_f64(random_fraction() / 2.0))
    }
}

/// Runs `attempt` (one call of the source), retrying transient failures
/// as `policy` allows.
pub(crate) async fn with_retries<'a>(
    policy: &RetryPolicy,
    counters: &Counters,
    cx: FetchContext<'a>,
    mut attempt: impl FnMut(FetchContext<'a>) -> BoxFuture<'a, Result<Token, Error>>,
) -> Result<Token, Error> {
    let audience = cx.request().audience();
    let reason = reason_name(cx.reason());
    let mut retry = 0;
    loop {
        Counters::bump(&counters.token_requests);
        let span = tracing::info_span!("token_fetch", audience, reason, attempt = retry + 1);
        tracing::debug!(parent: &span, "fetching token");
        let error = match attempt(cx).instrument(span).await {
            Ok(token) => {
                tracing::debug!(audience, expires_in = ?token.expires_in(), reason, "token fetched");
                if token.is_spent() {
                    warn_spent(cx);
                }
                return Ok(token);
            }
            Err(error) => error,
        };
        let Some(delay) = policy.delay(retry, &error) else {
            tracing::warn!(audience, %error, reason, "token fetch failed");
            return Err(error);
        };
        tracing::info!(audience, %error, ?delay, retry, reason, "token fetch failed; retrying");
        tokio::time::sleep(delay).await;
        retry += 1;
    }
}

/// A token that arrived already expired serves only the requests that
/// waited for it; the key is named so the misbehaving server can be found.
fn warn_spent(cx: FetchContext<'_>) {
    let key = cx.request();
    let resources: Vec<&str> = key.resources().collect();
    tracing::warn!(
        audience = key.audience(),
        scope = key.scope(),
        resources = ?resources,
        "token arrived already expired (lifetime 0); used for the waiting requests, not cached"
    );
}

/// The name a fetch's reason has in events.
fn reason_name(reason: FetchReason) -> &'static str {
    match reason {
        FetchReason::Missing => "missing",
        FetchReason::RefreshAhead => "refresh_ahead",
        FetchReason::Rejected => "rejected",
    }
}

/// Reads a `Retry-After` value: delay seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A number in [0, 1) for jitter. The standard library seeds each
/// `RandomState` afresh, which is random enough to spread retries.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn endpoint_error(status: u16, retry_after: Option<Duration>) -> Error {
        let mut error =
            crate::response::parse_error(StatusCode::from_u16(status).expect("status"), b"");
        error.retry_after = retry_after;
        Error::from(error)
    }

    /// A writer the test's subscriber appends every event to.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_spent_token_is_a_warning_that_names_the_key() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        let key = crate::TokenRequest::new()
            .with_audience("https://api.example")
            .with_scope("read")
            .with_resource("https://api.example/");
        tracing::subscriber::with_default(subscriber, || warn_spent(FetchContext::new(&key)));
        let text = String::from_utf8_lossy(&captured.0.lock()).into_owned();
        assert!(text.contains("WARN"), "{text}");
        for part in ["https://api.example", "read", "https://api.example/"] {
            assert!(text.contains(part), "{part} missing: {text}");
        }
    }

    #[test]
    fn retries_only_transient_errors_and_only_so_often() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(0, &endpoint_error(503, None)).is_some());
        assert!(policy.delay(1, &endpoint_error(429, None)).is_some());
        assert!(policy.delay(2, &endpoint_error(503, None)).is_none());
        assert!(policy.delay(0, &endpoint_error(400, None)).is_none());
        assert!(policy.delay(0, &endpoint_error(401, None)).is_none());
        assert!(policy.delay(0, &endpoint_error(408, None)).is_some());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy::new(10)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350));
        let error = endpoint_error(500, None);
        for (retry, full) in [(0, 100), (1, 200), (2, 350), (5, 350)] {
            let delay = policy.delay(retry, &error).expect("retried");
            let full = Duration::from_millis(full);
            assert!(
                delay >= full / 2 && delay <= full,
                "retry {retry}: {delay:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_unless_too_long() {
        let policy = RetryPolicy::default();
        let asked = Some(Duration::from_secs(1));
        assert_eq!(policy.delay(0, &endpoint_error(429, asked)), asked);
        assert_eq!(
            policy.delay(0, &endpoint_error(503, Some(Duration::from_secs(60)))),
            None
        );
    }

    #[test]
    fn reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 2015-10-21 07:28:00 GMT is `now`; 07:28:30 is 30 s later.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
