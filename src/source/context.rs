//! [`FetchContext`]: what a source is told when it is asked for a token.

use crate::cache::Lifetimes;
use crate::{Token, TokenRequest};

/// Why the cache asks its source for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchReason {
    /// No usable token is cached for the key: the first request, or the
    /// last token's time is up.
    Missing,
    /// The cached token is still used, but its refresh window has begun; the
    /// fetch runs in the background.
    RefreshAhead,
    /// The API rejected the previous token, or the application invalidated
    /// it: do not hand it out again.
    Rejected,
}

/// What a [`TokenSource`](crate::TokenSource) is told when asked for a
/// token: which one is wanted, why, and the token it replaces, if any.
///
/// The password grant renews with the previous token's refresh token (RFC
/// 6749 section 6) and runs the grant again if that is refused; client
/// credentials always run the grant again (RFC 6749 4.4.3); a
/// [`FleetSource`](crate::fleet::FleetSource) takes the fleet's shared
/// token unless it is the one being replaced.
///
/// ```
/// use reqwest_oauth::grant::FetchReason;
/// use reqwest_oauth::{FetchContext, TokenRequest};
///
/// let request = TokenRequest::new().with_audience("https://api.example.com");
/// let cx = FetchContext::new(&request);
/// assert_eq!(cx.reason(), FetchReason::Missing);
/// assert!(cx.previous().is_none());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FetchContext<'a> {
    request: &'a TokenRequest,
    reason: FetchReason,
    previous: Option<&'a Token>,
    lifetimes: &'a Lifetimes,
}

/// The lifetime rules a context made outside a cache judges tokens by.
static DEFAULT_LIFETIMES: Lifetimes = Lifetimes::DEFAULT;

impl<'a> FetchContext<'a> {
    /// A first fetch for `request`: reason [`FetchReason::Missing`], no
    /// previous token. For calling a source directly (in tests, or from a
    /// source that wraps another).
    pub fn new(request: &'a TokenRequest) -> Self {
        FetchContext {
            request,
            reason: FetchReason::Missing,
            previous: None,
            lifetimes: &DEFAULT_LIFETIMES,
        }
    }

    /// The same context for another reason and previous token.
    pub fn replacing(mut self, reason: FetchReason, previous: Option<&'a Token>) -> Self {
        self.reason = reason;
        self.previous = previous;
        self
    }

    pub(crate) fn with_lifetimes(mut self, lifetimes: &'a Lifetimes) -> Self {
        self.lifetimes = lifetimes;
        self
    }

    /// Which token is wanted: audience, scope and resource.
    pub fn request(&self) -> &'a TokenRequest {
        self.request
    }

    /// Why the token is asked for.
    pub fn reason(&self) -> FetchReason {
        self.reason
    }

    /// The token this fetch replaces (expired, due for renewal, or
    /// rejected), if the key had one. Its
    /// [`refresh_token`](Token::refresh_token) is how a grant renews.
    pub fn previous(&self) -> Option<&'a Token> {
        self.previous
    }

    /// The middleware's lifetime rules (leeway, default and longest
    /// lifetime, refresh ahead), for sources that schedule tokens of their
    /// own, such as a fleet's shared ones.
    pub(crate) fn lifetimes(&self) -> &'a Lifetimes {
        self.lifetimes
    }
}
