//! [`ReplayOutcome`]: what the middleware did about a response that
//! rejected the token, put on that response for the caller to read.

/// What the middleware did after the API rejected the token a request
/// carried, as an extension on the response the caller gets. Responses
/// that did not reject the token carry none.
///
/// ```no_run
/// use reqwest_oauth::policy::{ReplayOutcome, SkipReason};
///
/// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) -> Result<(), reqwest_middleware::Error> {
/// let response = client.get("https://api.example.com/things").send().await?;
/// match response.extensions().get::<ReplayOutcome>() {
///     Some(ReplayOutcome::Replayed) => println!("answered on the second try, with a new token"),
///     Some(ReplayOutcome::Skipped(SkipReason::Damped)) => {
///         eprintln!("the API rejects every token for this key; check the client's configuration")
///     }
///     _ => {}
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayOutcome {
    /// The token was replaced and the request sent once more: this is the
    /// replay's response.
    Replayed,
    /// The API asked for more scope (`insufficient_scope`): the request was
    /// sent once more with a token for the wider scope; this is that
    /// response.
    SteppedUp,
    /// The API asked for a DPoP nonce (`401` with `WWW-Authenticate: DPoP
    /// error="use_dpop_nonce"`): the request was sent once more with a
    /// proof carrying it, the same token (feature `dpop`); this is that
    /// response. Counted in
    /// [`Stats::dpop_nonce_replays`](crate::Stats::dpop_nonce_replays),
    /// not in `replays`.
    DpopNonce,
    /// This is the rejection itself; the request was not sent again.
    Skipped(SkipReason),
}

/// Why a rejected request was not sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The replay policy does not replay this method.
    Policy,
    /// The body is a stream, which cannot be sent twice.
    StreamingBody,
    /// The token was fetched for this very request: a new one would be
    /// refused too.
    FreshToken,
    /// The key is in a rejection cooldown (see
    /// [`RejectionDamping`](crate::policy::RejectionDamping)).
    Damped,
    /// The rejection came from another origin than the one the token was
    /// sent to (after a redirect): the token was left alone.
    OtherOrigin,
}
