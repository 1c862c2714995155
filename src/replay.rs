//! Sending a request again after its token was rejected: which requests
//! may be, and the copy kept of each so it can be.

use std::time::Duration;

use http::{HeaderMap, Method, Version};
use reqwest::{Request, Url};
use smallvec::SmallVec;

use crate::origin::same_origin;
use crate::outcome::SkipReason;

/// Which requests are sent again after their token was rejected.
///
/// A `401` means the server did not act on the request, so by default every
/// method is replayed once. A request whose body is a stream (it cannot be
/// cloned) is never replayed.
///
/// ```
/// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
/// use reqwest_oauth::policy::ReplayPolicy;
///
/// let grant = ClientCredentials::new("https://auth.example.com/token", "id", "secret");
/// // Replay GET, PUT, DELETE …; hand a rejected POST back to the caller.
/// let oauth = OAuthMiddleware::builder(grant)
///     .replay(ReplayPolicy::IdempotentOnly)
///     .build()?;
/// # Ok::<(), reqwest_oauth::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReplayPolicy {
    /// Replay any method.
    #[default]
    AnyMethod,
    /// Replay only idempotent methods: GET, HEAD, OPTIONS, TRACE, PUT, DELETE.
    IdempotentOnly,
    /// Never replay; the `401` goes back to the caller (the token is still
    /// forgotten, so the next request gets a new one).
    Never,
}

impl ReplayPolicy {
    pub(crate) fn allows(self, method: &Method) -> bool {
        match self {
            ReplayPolicy::AnyMethod => true,
            ReplayPolicy::IdempotentOnly => matches!(
                *method,
                Method::GET
                    | Method::HEAD
                    | Method::OPTIONS
                    | Method::TRACE
                    | Method::PUT
                    | Method::DELETE
            ),
            ReplayPolicy::Never => false,
        }
    }
}

/// What a request keeps, before it is sent, for after a rejection: the URL
/// it went to (to tell its origin's rejection from a redirect target's, and
/// to send it again), and a copy of the rest, or why it will not be replayed.
///
/// Nothing here allocates for a request without a body and with a URL of
/// up to [`INLINE_URL`] bytes: the URL's text sits inline and is parsed
/// again only after a rejection. A kept copy is made for every request and
/// used by few, so it must cost next to nothing.
pub(crate) struct Kept {
    sent: SmallVec<[u8; INLINE_URL]>,
    copy: Result<ReplayCopy, SkipReason>,
}

/// URLs up to this long are kept without allocating; a longer one is kept
/// on the heap. Most API URLs fit; the request future stays well under the
/// size where the allocator leaves its fast path.
pub(crate) const INLINE_URL: usize = 112;

/// What a replay needs of a request besides its URL.
///
/// A request without a body is copied field by field: method, URL,
/// headers, version and timeout are all that reqwest reads of a request
/// (its private extensions hold only the timeout), and this skips the
/// extensions map `Request::try_clone` always allocates. A request with a
/// body goes through `try_clone`, which shares the body's bytes; a
/// streaming body cannot be copied, so that request is not replayed.
enum ReplayCopy {
    Bodiless {
        method: Method,
        /// `None` for a request with no headers of its own (most, at this
        /// point of the chain): an empty map costs ~100 instructions to
        /// clone and drop for nothing.
        headers: Option<HeaderMap>,
        version: Version,
        timeout: Option<Duration>,
    },
    /// Boxed: a whole request is twice the size of the other variant.
    WithBody(Box<Request>),
}

/// What a kept request says about a rejection from the URL a response came
/// from.
// Made once per rejection and taken apart at once: boxing the request
// would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Answer {
    /// The response came from another origin (through a redirect): that
    /// origin never saw the token, so its rejection says nothing of it.
    OtherOrigin,
    /// The token went there: the request to send again, or why there is
    /// none.
    Ours(Result<Request, SkipReason>),
}

impl Kept {
    /// Taken before the token goes in. `fresh`: the token was fetched for
    /// this very request, so it is never renewed for it and no copy is made.
    pub(crate) fn of(request: &Request, fresh: bool, policy: ReplayPolicy) -> Self {
        let copy = match (fresh, policy.allows(request.method())) {
            (true, _) => Err(SkipReason::FreshToken),
            (false, false) => Err(SkipReason::Policy),
            (false, true) => ReplayCopy::of(request).ok_or(SkipReason::StreamingBody),
        };
        Kept {
            sent: SmallVec::from_slice(request.url().as_str().as_bytes()),
            copy,
        }
    }

    /// Judges a rejection that came from `answered`. The kept URL is parsed
    /// again here, on the rare path; a URL's text always parses back to
    /// itself, and if it somehow did not, the token is left alone.
    pub(crate) fn answer(self, answered: &Url) -> Answer {
        let sent = std::str::from_utf8(&self.sent)
            .ok()
            .and_then(|text| Url::parse(text).ok());
        match sent {
            Some(sent) if same_origin(&sent, answered) => {
                Answer::Ours(self.copy.map(|copy| copy.into_request(sent)))
            }
            _ => Answer::OtherOrigin,
        }
    }
}

impl ReplayCopy {
    fn of(request: &Request) -> Option<Self> {
        if request.body().is_some() {
            return request
                .try_clone()
                .map(|request| ReplayCopy::WithBody(Box::new(request)));
        }
        Some(ReplayCopy::Bodiless {
            method: request.method().clone(),
            headers: Some(request.headers())
                .filter(|headers| !headers.is_empty())
                .cloned(),
            version: request.version(),
            timeout: request.timeout().copied(),
        })
    }

    /// The request again, to `url` (the one it was sent to).
    fn into_request(self, url: Url) -> Request {
        match self {
            ReplayCopy::WithBody(request) => *request,
            ReplayCopy::Bodiless {
                method,
                headers,
                version,
                timeout,
            } => {
                let mut request = Request::new(method, url);
                if let Some(headers) = headers {
                    *request.headers_mut() = headers;
                }
                *request.version_mut() = version;
                if timeout.is_some() {
                    *request.timeout_mut() = timeout;
                }
                request
            }
        }
    }
}
