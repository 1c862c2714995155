//! The crate's one error type, and the token endpoint's own words inside it.

use std::fmt;
use std::sync::Arc;

use http::StatusCode;

/// Everything that can stop a token from being obtained or attached.
///
/// One fetch may be shared by many waiting requests, so `Error` is `Clone`:
/// every waiter gets the same error. Inside a `reqwest_middleware` chain the
/// error arrives wrapped in `reqwest_middleware::Error::Middleware`; get it
/// back with [`Error::from_middleware`]:
///
/// ```
/// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) {
/// match client.get("https://api.example.com/things").send().await {
///     Ok(response) => println!("{}", response.status()),
///     Err(err) => match reqwest_oauth::Error::from_middleware(&err) {
///         Some(oauth) if oauth.is_transient() => eprintln!("try later: {oauth}"),
///         Some(oauth) => eprintln!("fix the configuration: {oauth}"),
///         None => eprintln!("the API request itself failed: {err}"),
///     },
/// }
/// # }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token endpoint answered with an error status; what it said is
    /// kept. (Behind an `Arc`: one error is shared by every waiting request.)
    #[error(transparent)]
    TokenEndpoint(Arc<EndpointError>),

    /// The token endpoint could not be reached, or did not answer in time.
    #[error("token endpoint request failed: {source}")]
    Transport {
        /// The underlying HTTP error (connection refused, timeout, …).
        #[source]
        source: Arc<reqwest::Error>,
    },

    /// The token endpoint answered with a redirect, which is not followed,
    /// so credentials never travel to another location; or a caller-supplied
    /// HTTP client followed one, and its answer is refused.
    #[error("token endpoint redirected the request ({status}); redirects are refused")]
    Redirect {
        /// The redirect status, or the final status if a caller-supplied
        /// client followed the redirect.
        status: StatusCode,
    },

    /// The token endpoint answered with success but the body is not a usable
    /// token response (not JSON, no `access_token`, …). No part of the body
    /// is quoted, since it may hold a token.
    #[error("token endpoint sent an unusable token response ({status}): {reason}")]
    InvalidTokenResponse {
        /// The HTTP status of the response.
        status: StatusCode,
        /// What is wrong with it.
        reason: String,
    },

    /// An access token that cannot be sent as an RFC 6750 bearer credential
    /// (empty, whitespace, control bytes, non-ASCII). Made by
    /// [`Token::bearer`](crate::Token::bearer), so every source's tokens are
    /// checked; the token itself is never quoted.
    #[error("the access token cannot be sent as a bearer credential: {0}")]
    InvalidToken(TokenProblem),

    /// A token response's expiry field is present but cannot be read (for
    /// example `"expires_at": "not-a-date"`); guessing a lifetime instead
    /// could keep a dead token in use.
    #[error("token endpoint sent an unreadable `{field}`: {reason}")]
    InvalidExpiry {
        /// The field: `expires_in`, `expires_at`, `access_token_expires_at`
        /// or `expires_on`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The token endpoint issued a token of a type other than `Bearer`.
    #[error("token endpoint issued a {0:?} token; only bearer tokens can be attached")]
    UnsupportedTokenType(String),

    /// The token endpoint's response body is larger than the configured limit.
    #[error("token endpoint response is larger than {limit} bytes")]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },

    /// Credentials were about to travel over plain `http` to a host that is
    /// not loopback. Nothing was sent. Use `https`, or opt in with a
    /// `danger_allow_insecure_http` method.
    #[error("refusing to send {what} over plain http to {origin}; use https")]
    InsecureUrl {
        /// The origin (`http://host:port`) the request was for.
        origin: String,
        /// What would have been exposed: client credentials, an access token.
        what: String,
    },

    /// The issuer's discovery document could not be read or has no
    /// `token_endpoint`.
    #[error("discovery at {url} failed: {reason}")]
    Discovery {
        /// The document (or issuer) URL.
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// A configured URL (a token endpoint, an issuer) does not parse, or is
    /// not `http`/`https`.
    #[error("{what} URL is not usable: {reason}")]
    InvalidUrl {
        /// Which URL: `"token endpoint"`, `"issuer"` or `"resource"`.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The private key given for `private_key_jwt` cannot be used for its
    /// algorithm (not PEM, the wrong key type, …).
    #[error("the private key is not usable: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: String,
    },

    /// A `private_key_jwt` client assertion could not be signed. Nothing
    /// was sent.
    #[error("could not sign the client assertion: {reason}")]
    Signing {
        /// Why signing failed.
        reason: String,
    },

    /// A DPoP proof could not be made (feature `dpop`). Nothing was sent.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    #[error("could not make a DPoP proof: {reason}")]
    DpopProof {
        /// Why not.
        reason: String,
    },

    /// A server refused a DPoP proof this crate made (feature `dpop`): an
    /// API answered `401` with `WWW-Authenticate: DPoP
    /// error="invalid_dpop_proof"` (after any nonce replay), or the token
    /// endpoint answered `400` with `error: invalid_dpop_proof` (after any
    /// nonce retry). The same variant for both, since the cause is the
    /// same and on this side: a key or algorithm the server does not take,
    /// a clock further off than the server allows (the proof's `iat`), or
    /// a bug. So it is not transient, and a refusal by an API renews no
    /// token and replays nothing; the response is not handed back, since
    /// its status alone would read as a refused token.
    ///
    /// ```no_run
    /// use reqwest_oauth::Error;
    ///
    /// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) {
    /// if let Err(error) = client.get("https://api.example.com/things").send().await {
    ///     if let Some(Error::DpopProofRejected { origin, description, .. }) =
    ///         Error::from_middleware(&error)
    ///     {
    ///         eprintln!("{origin} refused our DPoP proof: {description:?}; is the clock right?");
    ///     }
    /// }
    /// # }
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    #[error("{origin} refused the DPoP proof ({status}){}", described(description))]
    DpopProofRejected {
        /// The origin (`https://host:port`) of the server that refused it.
        origin: String,
        /// The status it answered: `401` from an API, `400` from a token
        /// endpoint.
        status: StatusCode,
        /// The server's `error_description`, if it gave one: from the
        /// `WWW-Authenticate` challenge of an API, from the body of a
        /// token endpoint. Anything the request sent is replaced by
        /// `[redacted]`, and it is cut at 256 characters.
        description: Option<String>,
    },

    /// DPoP was on, and the token endpoint issued a `Bearer` token instead
    /// of a DPoP-bound one (feature `dpop`). Refused unless the endpoint
    /// allows it ([`TokenEndpoint::dpop_allow_bearer`](crate::endpoint::TokenEndpoint::dpop_allow_bearer)):
    /// a server that ignores DPoP would otherwise silently hand out tokens
    /// anyone holding them can use.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    #[error("DPoP was requested but the token endpoint issued a Bearer token")]
    DpopDowngrade,

    /// The crate's own HTTP client for token requests could not be built
    /// (for example, no TLS back end is available).
    #[error("could not build the token endpoint HTTP client: {reason}")]
    HttpClient {
        /// Why it could not be built.
        reason: String,
    },

    /// The credential a workload-identity grant trades (a token exchange's
    /// subject or actor token, a JWT bearer assertion) could not be
    /// obtained from its [`SubjectToken`](crate::grant::SubjectToken):
    /// the file is missing or unreadable, the closure or upstream source
    /// failed, or the value is empty. Nothing was sent to the token
    /// endpoint.
    #[error("could not read the {role} from {from}: {reason}")]
    Subject {
        /// Which credential: `"subject token"`, `"actor token"` or
        /// `"assertion"`.
        role: &'static str,
        /// Where it comes from, as [`SubjectToken::name`](crate::grant::SubjectToken::name)
        /// says (`file /path`, a closure's or source's name).
        from: String,
        /// What went wrong (the upstream error's text for a source).
        reason: String,
        /// Whether a later try may succeed (a file not there yet, an empty
        /// file mid-write, an upstream network failure).
        transient: bool,
    },

    /// A setting was given a value the crate cannot use; nothing was sent.
    #[error("invalid {setting}: {reason}")]
    InvalidSetting {
        /// Which setting: `"lifetime"`, `"refresh_ahead"`, `"max_keys"`,
        /// `"extra parameter"`, …
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A recent fetch for this key failed, and until its cooldown ends
    /// requests get that error without a new token request. The cooldown
    /// is the configured one, or the server's `Retry-After` when longer (up
    /// to the configured maximum).
    #[error("{last} (no new token request for {retry_in:?}, until the cooldown ends)")]
    CoolingDown {
        /// The error of the fetch that failed.
        last: Arc<Error>,
        /// How long until the cooldown ends, from when this error was made.
        retry_in: std::time::Duration,
    },

    /// A token fetch was started outside a tokio runtime.
    #[error("token fetches need a tokio runtime")]
    NoRuntime,

    /// A [`FleetSource`](crate::fleet::FleetSource) was given an empty
    /// namespace, which would share tokens with every other client.
    #[error("a fleet needs a non-empty namespace")]
    EmptyNamespace,

    /// A custom [`TokenSource`](crate::TokenSource) failed; its own error is
    /// the source. Made by [`Error::custom`] (permanent) or
    /// [`Error::custom_transient`] (retried, like a network error).
    #[error("token source failed: {source}")]
    Custom {
        /// The source's own error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
        /// Whether a later try may succeed.
        transient: bool,
    },

    /// The token fetch ended without a result (its task was cancelled, for
    /// example because the runtime shut down). The next request tries again.
    #[error("the token fetch stopped before it produced a result")]
    FetchAborted,
}

/// `: <description>`, when a server gave one.
#[cfg(feature = "dpop")]
fn described(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|text| format!(": {text}"))
        .unwrap_or_default()
}

/// Lets a custom [`TokenSource`](crate::TokenSource) use `?` on reqwest
/// calls, classified as the built-in grants classify them: a status error
/// (from `error_for_status`) becomes an [`Error::TokenEndpoint`] with that
/// status, transient only for 408, 429 and 5xx (a refused password is never
/// retried); a body that does not decode is permanent; a connection or
/// timeout failure is a transient [`Error::Transport`].
///
/// ```
/// use reqwest_oauth::Error;
///
/// # async fn demo(response: reqwest::Response) -> Result<(), Error> {
/// // A 401 from a login call: permanent, not retried.
/// let checked = response.error_for_status()?;
/// # let _ = checked;
/// # Ok(()) }
/// ```
impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        if let Some(status) = error.status() {
            return EndpointError::bare(status).into();
        }
        if error.is_decode() || error.is_builder() || error.is_redirect() {
            return Error::Custom {
                source: Arc::new(error.without_url()),
                transient: false,
            };
        }
        Error::transport(error)
    }
}

impl From<EndpointError> for Error {
    fn from(error: EndpointError) -> Self {
        Error::TokenEndpoint(Arc::new(error))
    }
}

impl Error {
    /// Whether trying again later may succeed: the network failed, the
    /// endpoint timed out, answered 5xx, 429 or 408, or the fetch was cut
    /// short.
    /// Bad credentials, refused grants and bad configuration are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::FetchAborted => true,
            Error::Custom { transient, .. } | Error::Subject { transient, .. } => *transient,
            Error::CoolingDown { last, .. } => last.is_transient(),
            Error::TokenEndpoint(e) => {
                e.status.is_server_error()
                    || e.status == StatusCode::TOO_MANY_REQUESTS
                    || e.status == StatusCode::REQUEST_TIMEOUT
            }
            _ => false,
        }
    }

    /// The token endpoint's error details, when it answered with an error
    /// (also through a cooldown's error).
    pub fn endpoint_error(&self) -> Option<&EndpointError> {
        match self {
            Error::TokenEndpoint(e) => Some(e),
            Error::CoolingDown { last, .. } => last.endpoint_error(),
            _ => None,
        }
    }

    /// Whether a server refused a DPoP proof ([`Error::DpopProofRejected`]),
    /// also through a cooldown's error (requests for a key whose token
    /// request was refused get that error until the cooldown ends).
    ///
    /// ```
    /// use reqwest_oauth::Error;
    ///
    /// fn alert_on_clock_or_key(error: &Error) {
    ///     if error.is_dpop_proof_rejected() {
    ///         eprintln!("a server refused our DPoP proof: {error}");
    ///     }
    /// }
    /// # alert_on_clock_or_key(&Error::NoRuntime);
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn is_dpop_proof_rejected(&self) -> bool {
        match self {
            Error::DpopProofRejected { .. } => true,
            Error::CoolingDown { last, .. } => last.is_dpop_proof_rejected(),
            _ => false,
        }
    }

    /// A custom source's own error, as a permanent failure: it is not
    /// retried, and requests for the key get it until the cooldown ends.
    ///
    /// ```
    /// use reqwest_oauth::Error;
    ///
    /// let error = Error::custom(std::io::Error::other("the vault is sealed"));
    /// assert!(!error.is_transient());
    /// ```
    pub fn custom(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Custom {
            source: Arc::from(error.into()),
            transient: false,
        }
    }

    /// A custom source's own error, as a passing failure that the retry
    /// policy retries.
    pub fn custom_transient(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Custom {
            source: Arc::from(error.into()),
            transient: true,
        }
    }

    /// The error answered during a cooldown: the failed fetch's own, and
    /// how long until the key may fetch again.
    pub(crate) fn cooling_down(last: &Error, retry_in: std::time::Duration) -> Self {
        let last = match last {
            Error::CoolingDown { last, .. } => last.clone(),
            other => Arc::new(other.clone()),
        };
        Error::CoolingDown { last, retry_in }
    }

    pub(crate) fn transport(source: reqwest::Error) -> Self {
        // reqwest's own message names the URL; strip it in case a user put
        // credentials in a query string.
        Error::Transport {
            source: Arc::new(source.without_url()),
        }
    }
}

/// Why an access token cannot be sent as a bearer credential (RFC 6750
/// 2.1 allows visible ASCII only); positions are byte offsets, so the
/// token itself never has to be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenProblem {
    /// The token is empty.
    Empty,
    /// A space, tab, line break or other whitespace at byte `at`.
    Whitespace {
        /// Byte offset of the first offending character.
        at: usize,
    },
    /// A control byte (other than whitespace) at byte `at`.
    Control {
        /// Byte offset of the first offending byte.
        at: usize,
    },
    /// A character outside ASCII at byte `at`.
    NonAscii {
        /// Byte offset of the first offending character.
        at: usize,
    },
}

impl fmt::Display for TokenProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenProblem::Empty => f.write_str("it is empty"),
            TokenProblem::Whitespace { at } => write!(f, "whitespace at byte {at}"),
            TokenProblem::Control { at } => write!(f, "a control byte at byte {at}"),
            TokenProblem::NonAscii { at } => write!(f, "a non-ASCII character at byte {at}"),
        }
    }
}

/// An RFC 6749 section 5.2 error code, as sent in the `error` field.
///
/// ```
/// use reqwest_oauth::Error;
/// use reqwest_oauth::endpoint::ErrorCode;
///
/// fn needs_new_credentials(error: &Error) -> bool {
///     matches!(
///         error,
///         Error::TokenEndpoint(e) if e.code() == Some(&ErrorCode::InvalidClient)
///     )
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: a parameter is missing, repeated or malformed.
    InvalidRequest,
    /// `invalid_client`: client authentication failed.
    InvalidClient,
    /// `invalid_grant`: the credentials, code or refresh token were refused.
    InvalidGrant,
    /// `unauthorized_client`: this client may not use this grant type.
    UnauthorizedClient,
    /// `unsupported_grant_type`: the server does not know this grant type.
    UnsupportedGrantType,
    /// `invalid_scope`: the requested scope is unknown or too broad.
    InvalidScope,
    /// `invalid_target` (RFC 8693 2.2.2, RFC 8707): the requested audience
    /// or resource is unknown, or not allowed for this client or subject.
    InvalidTarget,
    /// `use_dpop_nonce` (RFC 9449): the DPoP proof lacked the server's
    /// nonce; the request is sent again once with it.
    UseDpopNonce,
    /// `invalid_dpop_proof` (RFC 9449): the server refused the DPoP proof.
    /// A built-in grant's token request refused this way is
    /// [`Error::DpopProofRejected`], as an API's refusal is; this code is
    /// what [`Error::from_token_response`] gives a custom source.
    InvalidDpopProof,
    /// Any other code, kept as sent.
    Other(String),
}

impl ErrorCode {
    /// Reads a code as sent by the server.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "invalid_target" => Self::InvalidTarget,
            "use_dpop_nonce" => Self::UseDpopNonce,
            "invalid_dpop_proof" => Self::InvalidDpopProof,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::Other(code) => code,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the token endpoint said when it refused to issue a token.
///
/// Carries the HTTP status, the RFC 6749 `error` code, `error_description`,
/// `error_uri`, the non-standard `message` field some servers send instead,
/// and, when the body was not a JSON error object, a short printable snippet
/// of it with its content type and length. Every text in it came from the
/// server, with anything the request sent replaced by `[redacted]`, so an
/// endpoint that echoes a bad request never hands back a credential.
///
/// ```no_run
/// use reqwest_oauth::Error;
///
/// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) {
/// if let Err(error) = client.get("https://api.example.com/things").send().await {
///     if let Some(Error::TokenEndpoint(refused)) = Error::from_middleware(&error) {
///         eprintln!(
///             "token endpoint said {}: {:?} {:?}",
///             refused.status(),
///             refused.code(),
///             refused.description().or(refused.message()),
///         );
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError {
    pub(crate) status: StatusCode,
    pub(crate) code: Option<ErrorCode>,
    pub(crate) description: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) uri: Option<String>,
    pub(crate) body_snippet: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) body_len: usize,
    pub(crate) retry_after: Option<std::time::Duration>,
}

impl EndpointError {
    /// An error with a status and nothing else known about it.
    pub(crate) fn bare(status: StatusCode) -> Self {
        EndpointError {
            status,
            code: None,
            description: None,
            message: None,
            uri: None,
            body_snippet: None,
            content_type: None,
            body_len: 0,
            retry_after: None,
        }
    }

    /// The HTTP status of the error response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `error` code, when the body had one.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.code.as_ref()
    }

    /// The `error_description`, when the body had one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The non-standard `message` field, when the body had one.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The `error_uri`, when the body had one.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }

    /// How long the server asked clients to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    /// A short, printable start of the body, when it was not a JSON error.
    /// Anything the request sent (a secret, a password, the Basic value)
    /// that the server echoed is replaced by `[redacted]`.
    pub fn body_snippet(&self) -> Option<&str> {
        self.body_snippet.as_deref()
    }

    /// The response's `Content-Type`, if it had one.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The length of the response body in bytes, as read (at most the
    /// endpoint's body limit).
    pub fn body_len(&self) -> usize {
        self.body_len
    }
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token endpoint answered {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        for text in [&self.description, &self.message].into_iter().flatten() {
            write!(f, ": {text}")?;
        }
        if let Some(snippet) = &self.body_snippet {
            write!(f, ": body {snippet:?} ({} bytes", self.body_len)?;
            if let Some(content_type) = &self.content_type {
                write!(f, ", {content_type}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for EndpointError {}
