//! Sending a request again after its token was rejected: which requests
//! may be, and the copy kept of each so it can be.

use std::time::Duration;

use http::{HeaderMap, Method, Version};
use reqwest::{Request, Url};

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

/// What a replay needs of a request, kept before the request is sent.
///
/// A request without a body is copied field by field: method, URL,
/// headers, version and timeout are all that reqwest reads of a request
/// (its private extensions hold only the timeout), and this skips the
/// extensions map `Request::try_clone` always allocates. A request with a
/// body goes through `try_clone`, which shares the body's bytes; a
/// streaming body cannot be copied, so that request is not replayed.
pub(crate) enum ReplayCopy {
    Bodiless {
        method: Method,
        url: Url,
        headers: HeaderMap,
        version: Version,
        timeout: Option<Duration>,
    },
    WithBody(Request),
}

impl ReplayCopy {
    pub(crate) fn of(request: &Request) -> Option<Self> {
        if request.body().is_some() {
            return request.try_clone().map(ReplayCopy::WithBody);
        }
        Some(ReplayCopy::Bodiless {
            method: request.method().clone(),
            url: request.url().clone(),
            headers: request.headers().clone(),
            version: request.version(),
            timeout: request.timeout().copied(),
        })
    }

    /// The URL the request was sent to.
    pub(crate) fn url(&self) -> &Url {
        match self {
            ReplayCopy::Bodiless { url, .. } => url,
            ReplayCopy::WithBody(request) => request.url(),
        }
    }

    pub(crate) fn into_request(self) -> Request {
        match self {
            ReplayCopy::WithBody(request) => request,
            ReplayCopy::Bodiless {
                method,
                url,
                headers,
                version,
                timeout,
            } => {
                let mut request = Request::new(method, url);
                *request.headers_mut() = headers;
                *request.version_mut() = version;
                if timeout.is_some() {
                    *request.timeout_mut() = timeout;
                }
                request
            }
        }
    }
}
