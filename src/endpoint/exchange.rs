//! Sending one prepared token request and reading its answer: the span and
//! metrics around it, redirects refused, a bounded read, then a token or a
//! typed error with what the request sent scrubbed out of it.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use tracing::Instrument;

use super::dpop_use::DpopUse;
use crate::error::EndpointError;
use crate::http_read::read_limited;
use crate::response::{Answer, parse_answer, parse_error};
use crate::retry::parse_retry_after;
use crate::scrub::Sent;
use crate::{Error, Token};

/// Sends `request` to `url` and reads at most `body_limit` bytes of the
/// answer, inside a `token_request` span (and, with the `metrics` feature,
/// one histogram sample). Whatever `sent` holds never comes back in an error.
pub(super) async fn exchange(
    request: reqwest::RequestBuilder,
    url: &reqwest::Url,
    grant_type: &str,
    body_limit: usize,
    sent: &Sent<'_>,
    dpop: &DpopUse,
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
                dpop.remember_nonce(url, response.headers());
                answer(url, response, issued_at, body_limit, sent, dpop).await
            }
            Err(error) => Err(Error::transport(error)),
        };
        // Before the error is stored, shared with waiters or logged.
        let result = result.map_err(|error| sent.error(error));
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
    sent: &Sent<'_>,
    dpop: &DpopUse,
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
        Answer::Token(token) => dpop.bearer(token),
        Answer::Dpop(token) => dpop.bind(token),
        Answer::Refused => {
            let mut error = refusal(status, response.headers(), &body);
            if error.body_snippet.is_some() {
                // Quoted from a scrubbed copy of the body, so a quote cut
                // short cannot end in part of a credential. (The fields are
                // read from the body as sent and scrubbed by the caller: a
                // credential that spells a JSON key must not change them.)
                error.body_snippet = parse_error(status, &sent.body(&body)).body_snippet;
            }
            Err(error.into())
        }
    }
}

/// The one place a token endpoint's refusal (an error status, or an `error`
/// member in any answer) becomes an [`EndpointError`]: the built-in grants
/// and [`Error::from_token_response`] both come through here, so every
/// refusal is read, and its server-supplied text treated, the same way.
pub(crate) fn refusal(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> EndpointError {
    let mut error = parse_error(status, body);
    error.body_len = body.len();
    error.content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    error.retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    error
}

/// The crate's own client for a request to `url`: one connection pool per
/// kind for the process, and redirects never followed, so credentials stay
/// with the host they were meant for.
///
/// Plain `http` goes direct, never through a proxy from `HTTP_PROXY` or
/// `ALL_PROXY`: a proxy would read the credentials (and could answer for
/// the endpoint). `https` honours the environment's proxies, which only
/// tunnel the encrypted connection.
pub(super) fn own_client(url: &str) -> Result<&'static reqwest::Client, Error> {
    static PROXIED: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    static DIRECT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    let plain_http = url
        .trim_start()
        .get(..5)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http:"));
    let (cell, direct) = match plain_http {
        true => (&DIRECT, true),
        false => (&PROXIED, false),
    };
    cell.get_or_init(|| build_client(direct))
        .as_ref()
        .map_err(|reason| Error::HttpClient {
            reason: reason.clone(),
        })
}

fn build_client(direct: bool) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let builder = if direct { builder.no_proxy() } else { builder };
    builder.build().map_err(|e| e.to_string())
}

impl Error {
    /// Reads a token-endpoint-like answer that refused (an error status, or
    /// an OAuth `error` member) into the same typed [`EndpointError`] the
    /// built-in grants produce: status, `error` code, description, vendor
    /// `message`, `error_uri`, `Retry-After`, or a short snippet of a body
    /// that is not an error object. At most 64 KiB of the body is read; a
    /// failure to read it is returned instead.
    ///
    /// For a custom [`TokenSource`](crate::TokenSource) whose flow talks to
    /// an endpoint the built-in grants cannot drive:
    ///
    /// ```no_run
    /// use reqwest_oauth::{Error, FetchContext, Token, TokenSource};
    ///
    /// struct Login(reqwest::Client);
    ///
    /// impl TokenSource for Login {
    ///     async fn fetch(&self, _cx: FetchContext<'_>) -> Result<Token, Error> {
    ///         let response = self.0.post("https://vendor.example/login").send().await?;
    ///         if !response.status().is_success() {
    ///             // 401 invalid_grant: permanent, never retried; 503: retried.
    ///             return Err(Error::from_token_response(response).await);
    ///         }
    ///         let body: serde_json::Value = response.json().await?;
    ///         Token::bearer(body["token"].as_str().unwrap_or_default())
    ///     }
    /// }
    /// ```
    pub async fn from_token_response(mut response: reqwest::Response) -> Error {
        let status = response.status();
        let limit = super::DEFAULT_BODY_LIMIT;
        match crate::http_read::read_limited(&mut response, limit).await {
            Ok(body) => refusal(status, response.headers(), &body).into(),
            Err(error) => error,
        }
    }
}
