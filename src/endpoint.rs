//! One HTTP exchange with a token endpoint: body format, client
//! authentication, bounded read, and turning the answer into a token or a
//! typed error.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use http::HeaderValue;
use http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;

use crate::discovery::Discovery;
use crate::origin::{cleartext_refused, is_safe_for_credentials};
use crate::response::{parse_error, parse_token};
use crate::retry::parse_retry_after;
use crate::{Error, Token};

#[cfg(feature = "private-key-jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
pub use crate::assertion::PrivateKeyJwt;
pub use crate::error::{EndpointError, ErrorCode};

/// How long one token request may take, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest token endpoint response read, unless configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

const USER_AGENT_VALUE: &str = concat!("reqwest-oauth/", env!("CARGO_PKG_VERSION"));

/// How the token request's parameters are encoded in its body.
///
/// ```
/// use reqwest_oauth::ClientCredentials;
/// use reqwest_oauth::endpoint::BodyFormat;
///
/// // Auth0-style endpoints take JSON; RFC 6749 says form (the default).
/// let grant = ClientCredentials::new("https://tenant.auth0.com/oauth/token", "id", "secret")
///     .body_format(BodyFormat::Json);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 requires.
    #[default]
    Form,
    /// A JSON object of strings, as some vendors require instead.
    Json,
}

/// How the client proves its identity to the token endpoint (RFC 6749 2.3.1).
///
/// A client without a secret (a public client) always sends only its
/// `client_id` in the body, whichever style is chosen.
///
/// ```
/// use reqwest_oauth::ClientCredentials;
/// use reqwest_oauth::endpoint::ClientAuth;
///
/// // `client_id` and `client_secret` in the body instead of a Basic header.
/// let grant = ClientCredentials::new("https://auth.example.com/token", "id", "secret")
///     .client_auth(ClientAuth::Body);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the id and secret each form-urlencoded first, as
    /// RFC 6749 2.3.1 specifies. The secret is never also sent in the body.
    #[default]
    Basic,
    /// HTTP Basic with the id and secret as they are, not encoded first, as
    /// many deployed servers expect (they differ from [`ClientAuth::Basic`]
    /// only for ids or secrets with characters other than `A-Z a-z 0-9 - . _ *`).
    BasicUnencoded,
    /// HTTP Basic with the id and secret percent-encoded (RFC 3986: all but
    /// `A-Z a-z 0-9 - . _ ~`), as some servers decode them.
    BasicPercentEncoded,
    /// `client_id` and `client_secret` as body parameters.
    Body,
}

impl ClientAuth {
    /// The id or secret as it goes inside the Basic credentials, or `None`
    /// for body authentication.
    fn basic_encode(self, value: &str) -> Option<String> {
        match self {
            ClientAuth::Basic => Some(form_urlencoded::byte_serialize(value.as_bytes()).collect()),
            ClientAuth::BasicUnencoded => Some(value.to_owned()),
            ClientAuth::BasicPercentEncoded => {
                Some(percent_encoding::utf8_percent_encode(value, RFC3986_RESERVED).to_string())
            }
            ClientAuth::Body => None,
        }
    }
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const RFC3986_RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where and how token requests are sent: the URL, the body format, the
/// client's credentials, the HTTP client and its limits.
///
/// The built-in grants own one of these; a custom
/// [`TokenSource`](crate::TokenSource) can use one too, to get the same
/// wire handling and typed errors:
///
/// ```
/// use reqwest_oauth::endpoint::{BodyFormat, TokenEndpoint};
///
/// let endpoint = TokenEndpoint::new("https://auth.example.com/oauth/token")
///     .client("my-client", Some("my-secret".to_owned()))
///     .body_format(BodyFormat::Json);
/// # let _ = endpoint;
/// ```
#[derive(Clone)]
pub struct TokenEndpoint {
    url: String,
    client_id: Option<String>,
    client_secret: Option<Arc<SecretString>>,
    format: BodyFormat,
    auth: ClientAuth,
    timeout: Duration,
    body_limit: usize,
    http: Option<reqwest::Client>,
    insecure_http: bool,
    /// Set when the URL is an issuer whose token endpoint is discovered.
    discovery: Option<Arc<Discovery>>,
    /// Whether `client_auth` was chosen; if not, discovery may choose.
    auth_chosen: bool,
    /// Signs a client assertion instead of sending a secret.
    #[cfg(feature = "private-key-jwt")]
    assertion: Option<crate::PrivateKeyJwt>,
}

impl TokenEndpoint {
    /// A token endpoint at `url`, with form bodies, Basic client
    /// authentication, a 30 s timeout and a 64 KiB response limit.
    pub fn new(url: impl Into<String>) -> Self {
        TokenEndpoint {
            url: url.into(),
            client_id: None,
            client_secret: None,
            format: BodyFormat::default(),
            auth: ClientAuth::default(),
            timeout: DEFAULT_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
            http: None,
            insecure_http: false,
            discovery: None,
            auth_chosen: false,
            #[cfg(feature = "private-key-jwt")]
            assertion: None,
        }
    }

    /// Authenticates with a signed JWT (`private_key_jwt`) instead of a
    /// secret: every token request sends `client_id`, `client_assertion_type`
    /// and a freshly signed `client_assertion`. Any client secret is dropped.
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    pub fn private_key_jwt(mut self, key: crate::PrivateKeyJwt) -> Self {
        self.client_secret = None;
        self.assertion = Some(key);
        self
    }

    /// A token endpoint found from the issuer's metadata on first use:
    /// OpenID Connect discovery, falling back to RFC 8414. Unless
    /// [`client_auth`](Self::client_auth) is set, the client authentication
    /// follows the server's `token_endpoint_auth_methods_supported`.
    ///
    /// ```
    /// use reqwest_oauth::endpoint::TokenEndpoint;
    ///
    /// let endpoint = TokenEndpoint::discover("https://login.example.com/tenant-1")
    ///     .client("my-client", Some("my-secret".to_owned()));
    /// # let _ = endpoint;
    /// ```
    pub fn discover(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        let mut endpoint = Self::new(issuer.clone());
        endpoint.discovery = Some(Arc::new(Discovery::new(issuer)));
        endpoint
    }

    /// Sets the client's id and, for a confidential client, its secret.
    pub fn client(mut self, id: impl Into<String>, secret: Option<String>) -> Self {
        self.client_id = Some(id.into());
        self.client_secret = secret.map(|s| Arc::new(SecretString::from(s)));
        self
    }

    /// Sets how parameters are encoded in the body.
    pub fn body_format(mut self, format: BodyFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets how the client authenticates.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self.auth_chosen = true;
        self
    }

    /// Sets how long one token request may take in all.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the largest response body read; larger ones are an error.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Uses this HTTP client for token requests instead of the crate's own:
    /// for proxies, custom root certificates or mTLS client certificates.
    ///
    /// Build it with `redirect(reqwest::redirect::Policy::none())`. The
    /// crate refuses any redirect it is handed (`Error::Redirect`), and
    /// refuses the answer of a client that followed one (the response URL
    /// is not the token endpoint), but by then such a client has already
    /// sent the credentials on.
    ///
    /// ```
    /// use reqwest_oauth::ClientCredentials;
    ///
    /// let http = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     // .proxy(...), .add_root_certificate(...), .identity(...)
    ///     .build()?;
    /// let grant = ClientCredentials::new("https://auth.example.com/token", "id", "secret")
    ///     .http_client(http);
    /// # let _ = grant;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Allows a plain `http://` token endpoint on a host that is not
    /// loopback. The client secret or password then crosses the network in
    /// clear text: only for networks you fully control.
    pub fn danger_allow_insecure_http(mut self) -> Self {
        self.insecure_http = true;
        self
    }

    /// The token endpoint URL as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks what can be checked without a request: the URL parses, and is
    /// `https` (or `http` to a loopback address, or explicitly allowed).
    pub fn check(&self) -> Result<(), Error> {
        match &self.discovery {
            Some(discovery) => discovery.check(),
            None => self.checked_url(&self.url).map(drop),
        }
    }

    /// Sends one token request with these parameters (plus the client's
    /// credentials as configured) and reads the answer.
    pub async fn request(&self, params: &[(&str, &str)]) -> Result<Token, Error> {
        let http = match &self.http {
            Some(client) => client,
            None => shared_client()?,
        };
        let (url, auth) = match &self.discovery {
            None => (self.checked_url(&self.url)?, self.auth),
            Some(discovery) => {
                let found = discovery.resolve(http).await?;
                let auth = match self.auth_chosen {
                    true => self.auth,
                    false => found.preferred_auth().unwrap_or(self.auth),
                };
                (self.checked_url(&found.token_endpoint)?, auth)
            }
        };
        let mut builder = http
            .post(url.clone())
            .timeout(self.timeout)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        let mut body: Vec<(&str, &str)> = Vec::with_capacity(params.len() + 3);
        #[cfg(feature = "private-key-jwt")]
        let assertion = match (&self.assertion, &self.client_id) {
            (Some(key), Some(id)) => Some(key.assertion(id, url.as_str())?),
            _ => None,
        };
        #[cfg(feature = "private-key-jwt")]
        if let Some(assertion) = &assertion {
            body.push(("client_assertion_type", crate::assertion::JWT_BEARER));
            body.push(("client_assertion", assertion));
        }
        let basic = |value: &str| auth.basic_encode(value);
        match (&self.client_id, &self.client_secret) {
            (Some(id), Some(secret)) if auth != ClientAuth::Body => {
                let (user, password) = (basic(id), basic(secret.expose_secret()));
                builder = builder.basic_auth(user.unwrap_or_default(), password);
            }
            (Some(id), secret) => {
                body.push(("client_id", id));
                if let Some(secret) = secret {
                    body.push(("client_secret", secret.expose_secret()));
                }
            }
            (None, _) => {}
        }
        body.extend_from_slice(params);
        builder = match self.format {
            BodyFormat::Form => builder
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(
                    form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&body)
                        .finish(),
                ),
            BodyFormat::Json => builder
                .header(CONTENT_TYPE, "application/json")
                .body(json_body(&body)),
        };
        let grant_type = params
            .iter()
            .find(|(name, _)| *name == "grant_type")
            .map(|(_, v)| *v);
        // Host and grant type only: never a parameter value that could be a secret.
        let span = tracing::debug_span!(
            "token_request",
            host = url.host_str(),
            grant_type,
            status = tracing::field::Empty,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let exchange = async {
            let issued_at = Instant::now();
            let result = match builder.send().await {
                Ok(response) => {
                    tracing::Span::current().record("status", response.status().as_u16());
                    self.read(&url, response, issued_at).await
                }
                Err(error) => Err(Error::transport(error)),
            };
            let (elapsed, outcome) = (
                issued_at.elapsed(),
                if result.is_ok() { "token" } else { "error" },
            );
            let span = tracing::Span::current();
            span.record("duration_ms", elapsed.as_millis() as u64);
            span.record("outcome", outcome);
            #[cfg(feature = "metrics")]
            crate::metrics::token_request(url.host_str(), grant_type, outcome, elapsed);
            tracing::debug!("token endpoint answered");
            result
        };
        exchange.instrument(span).await
    }

    async fn read(
        &self,
        requested: &reqwest::Url,
        mut response: reqwest::Response,
        issued_at: Instant,
    ) -> Result<Token, Error> {
        let status = response.status();
        if status.is_redirection() {
            return Err(Error::Redirect { status });
        }
        if response.url() != requested {
            // A caller-supplied client followed a redirect.
            return Err(Error::Redirect { status });
        }
        let body = read_limited(&mut response, self.body_limit).await?;
        if status.is_success() {
            return parse_token(status, response.headers(), &body, issued_at);
        }
        let mut error = parse_error(status, &body);
        error.retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        Err(error.into())
    }

    /// Parses a token endpoint URL and applies the cleartext guard.
    fn checked_url(&self, raw: &str) -> Result<reqwest::Url, Error> {
        let url = reqwest::Url::parse(raw)
            .map_err(|e| Error::Config(format!("token endpoint URL {raw:?} is not valid: {e}")))?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(Error::Config(format!(
                    "token endpoint URL must be http or https, not {other:?}"
                )));
            }
        }
        if !self.insecure_http && !is_safe_for_credentials(&url) {
            return Err(cleartext_refused(&url, "client credentials"));
        }
        Ok(url)
    }
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("format", &self.format)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("body_limit", &self.body_limit)
            .field("insecure_http", &self.insecure_http)
            .field("discovered", &self.discovery.is_some())
            .finish_non_exhaustive()
    }
}

/// Reads at most `limit` bytes of the body; more is an error, not a
/// truncation, so a hostile or broken server cannot exhaust memory.
pub(crate) async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(Error::ResponseTooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Error::transport)? {
        if body.len() + chunk.len() > limit {
            return Err(Error::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn json_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let object: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    // Serialising a map of strings cannot fail.
    serde_json::to_vec(&object).unwrap_or_default()
}

/// The crate's own client for token requests: one connection pool for the
/// process, and redirects never followed, so credentials stay with the host
/// they were meant for.
fn shared_client() -> Result<&'static reqwest::Client, Error> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            Error::Config(format!(
                "could not build the token endpoint HTTP client: {e}"
            ))
        })
}
