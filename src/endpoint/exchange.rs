//! Sending one prepared token request and reading its answer: the span and
//! metrics around it, redirects refused, a bounded read, then a token or a
//! typed error.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use http::header::RETRY_AFTER;
use http::{HeaderMap, StatusCode};
use tracing::Instrument;

use crate::error::EndpointError;
use crate::http_read::read_limited;
use crate::response::{Answer, parse_answer, parse_error};
use crate::retry::parse_retry_after;
use crate::{Error, Token};

/// Sends `request` to `url` and reads at most `body_limit` bytes of the
/// answer, inside a `token_request` span (and, with the `metrics` feature,
/// one histogram sample).
pub(super) async fn exchange(
    request: reqwest::RequestBuilder,
    url: &reqwest::Url,
    grant_type: &str,
    body_limit: usize,
) -> Result<Token, Error> {
    // Host and grant type only: never a parameter value that could be a secret.
    let span = tracing::debug_span!(
        "token_request",
        host = url.host_str(),
        grant_type,
        status = tracing::field::Empty,
        outcome = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    let timed = async {
        let issued_at = Instant::now();
        let result = match request.send().await {
            Ok(response) => {
                tracing::Span::current().record("status", response.status().as_u16());
                answer(url, response, issued_at, body_limit).await
            }
            Err(error) => Err(Error::transport(error)),
        };
        let elapsed = issued_at.elapsed();
        let outcome = if result.is_ok() { "token" } else { "error" };
        let span = tracing::Span::current();
        span.record("duration_ms", elapsed.as_millis() as u64);
        span.record("outcome", outcome);
        #[cfg(feature = "metrics")]
        crate::metrics::token_request(url.host_str(), Some(grant_type), outcome, elapsed);
        tracing::debug!("token endpoint answered");
        result
    };
    timed.instrument(span).await
}

/// Reads the answer to a request sent to `requested` at `issued_at`.
async fn answer(
    requested: &reqwest::Url,
    mut response: reqwest::Response,
    issued_at: Instant,
    body_limit: usize,
) -> Result<Token, Error> {
    let status = response.status();
    if status.is_redirection() {
        return Err(Error::Redirect { status });
    }
    if response.url() != requested {
        // A caller-supplied client followed a redirect.
        return Err(Error::Redirect { status });
    }
    let body = read_limited(&mut response, body_limit).await?;
    match parse_answer(status, response.headers(), &body, issued_at)? {
        Answer::Token(token) => Ok(token),
        Answer::Refused => Err(refusal(status, response.headers(), &body).into()),
    }
}

/// The one place a token endpoint's refusal (an error status, or an `error`
/// member in any answer) becomes an [`EndpointError`]: the built-in grants
/// and [`Error::from_token_response`] both come through here, so every
/// refusal is read, and its server-supplied text treated, the same way.
pub(crate) fn refusal(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> EndpointError {
    let mut error = parse_error(status, body);
    error.retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    error
}

/// The crate's own client for token requests: one connection pool for the
/// process, and redirects never followed, so credentials stay with the host
/// they were meant for.
pub(super) fn shared_client() -> Result<&'static reqwest::Client, Error> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| Error::HttpClient {
            reason: reason.clone(),
        })
}
