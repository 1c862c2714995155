//! The token endpoint: where token requests go and how they travel.
//!
//! One request runs four steps, each in one place: **resolve** the URL and
//! the client authentication method (through discovery, when the endpoint
//! was discovered), **authenticate** ([`ClientIdentity`] to a Basic header,
//! body fields or a signed assertion, in `client.rs`), **encode** the body
//! ([`BodyFormat`], `body.rs`), and **exchange** (send with a span and
//! metrics, bounded read, parse; `exchange.rs`).

mod body;
mod client;
mod dpop_use;
pub(crate) mod exchange;
mod grant_request;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::HeaderValue;
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};

pub use body::BodyFormat;
pub use client::{ClientAuth, ClientIdentity};
pub use grant_request::GrantRequest;

#[cfg(feature = "private-key-jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
pub use crate::assertion::PrivateKeyJwt;
pub use crate::error::{EndpointError, ErrorCode};

use crate::discovery::Discovery;
use crate::origin::{cleartext_refused, is_safe_for_credentials, redacted_url, refuse_userinfo};
use crate::scrub::Sent;
use crate::{Error, Token};
use client::Proof;

/// How long one token request may take, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest token endpoint response read, unless configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

const USER_AGENT_VALUE: &str = concat!("reqwest-oauth/", env!("CARGO_PKG_VERSION"));

/// Where and how token requests are sent: the URL (or the issuer it is
/// discovered from), the client's identity, the body format, the HTTP
/// client and its limits.
///
/// The built-in grants own one of these (build one yourself and hand it to
/// [`ClientCredentials::at`](crate::ClientCredentials::at) or
/// [`PasswordGrant::at`](crate::PasswordGrant::at)); a custom
/// [`TokenSource`](crate::TokenSource) can use one too, through
/// [`TokenEndpoint::request`], to get the same wire handling and typed
/// errors:
///
/// ```
/// use std::time::Duration;
/// use reqwest_oauth::ClientCredentials;
/// use reqwest_oauth::endpoint::{BodyFormat, ClientIdentity, TokenEndpoint};
///
/// let endpoint = TokenEndpoint::new(
///     "https://auth.example.com/oauth/token",
///     ClientIdentity::secret("my-client", "my-secret"),
/// )
/// .body_format(BodyFormat::Json)
/// .timeout(Duration::from_secs(10))
/// .body_limit(16 * 1024);
/// let grant = ClientCredentials::at(endpoint).scope("read");
/// # let _ = grant;
/// ```
#[derive(Clone)]
pub struct TokenEndpoint {
    location: Location,
    identity: ClientIdentity,
    format: BodyFormat,
    timeout: Duration,
    body_limit: usize,
    http: Option<reqwest::Client>,
    insecure_http: bool,
    /// What [`ClientAuth::AutoDetect`] found works, shared by clones.
    learned_auth: Arc<OnceLock<ClientAuth>>,
    /// The key every token request proves possession of (RFC 9449), if any.
    dpop: dpop_use::DpopSettings,
}

/// Where the token endpoint is: configured, or named by an issuer's metadata.
#[derive(Clone, Debug)]
enum Location {
    Fixed(String),
    Discovered(Arc<Discovery>),
}

/// What [`TokenEndpoint::resolve`] settled for one request.
struct Target {
    url: reqwest::Url,
    auth: ClientAuth,
    /// The DPoP key for this server, if DPoP is on.
    dpop: dpop_use::DpopUse,
}

impl TokenEndpoint {
    /// A token endpoint at `url` for `identity`, with form bodies, a 30 s
    /// timeout ([`DEFAULT_TIMEOUT`]) and a 64 KiB response limit
    /// ([`DEFAULT_BODY_LIMIT`]). A secret is sent as the identity's
    /// [`ClientAuth`] says, by default [`ClientAuth::AutoDetect`].
    pub fn new(url: impl Into<String>, identity: ClientIdentity) -> Self {
        Self::at(Location::Fixed(url.into()), identity)
    }

    /// A token endpoint found from the issuer's metadata on first use:
    /// OpenID Connect discovery, falling back to RFC 8414. Unless the
    /// identity chooses a [`ClientAuth`], a secret is sent as the server's
    /// `token_endpoint_auth_methods_supported` asks (both listed, or
    /// neither: [`ClientAuth::AutoDetect`]).
    ///
    /// ```
    /// use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
    ///
    /// let endpoint = TokenEndpoint::discover(
    ///     "https://login.example.com/tenant-1",
    ///     ClientIdentity::secret("my-client", "my-secret"),
    /// );
    /// # let _ = endpoint;
    /// ```
    pub fn discover(issuer: impl Into<String>, identity: ClientIdentity) -> Self {
        let discovery = Discovery::new(issuer.into());
        Self::at(Location::Discovered(Arc::new(discovery)), identity)
    }

    fn at(location: Location, identity: ClientIdentity) -> Self {
        TokenEndpoint {
            location,
            identity,
            format: BodyFormat::default(),
            timeout: DEFAULT_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
            http: None,
            insecure_http: false,
            learned_auth: Arc::new(OnceLock::new()),
            dpop: dpop_use::DpopSettings::default(),
        }
    }

    /// Turns DPoP on (RFC 9449): every token request, refresh included,
    /// carries a proof signed by `key`, and the tokens issued are bound to
    /// it and sent as `Authorization: DPoP …` with a proof per request. A
    /// `Bearer` answer is then an error ([`Error::DpopDowngrade`]) unless
    /// [`dpop_allow_bearer`](Self::dpop_allow_bearer).
    ///
    /// ```
    /// use reqwest_oauth::dpop::DpopKey;
    /// use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
    ///
    /// let endpoint = TokenEndpoint::new(
    ///     "https://auth.example.com/oauth/token",
    ///     ClientIdentity::public("my-app"),
    /// )
    /// .dpop(DpopKey::generate()?);
    /// # let _ = endpoint;
    /// # Ok::<(), reqwest_oauth::Error>(())
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop(mut self, key: crate::dpop::DpopKey) -> Self {
        self.dpop.choose(crate::dpop::KeyChoice::Given(key));
        self
    }

    /// Turns DPoP on with a key generated in memory on the first token
    /// request, for an algorithm the server accepts: the first of
    /// [`DpopAlgorithm::PREFERRED`](crate::dpop::DpopAlgorithm::PREFERRED)
    /// (ES256, EdDSA, RS256) that discovery's
    /// `dpop_signing_alg_values_supported` lists; ES256 when the endpoint
    /// is not discovered or the server lists none. A server listing only
    /// algorithms the crate does not sign with is an
    /// [`Error::InvalidKey`]. Clones of the endpoint share the key, which
    /// [`dpop_key`](Self::dpop_key) shows once made; it lives as long as
    /// the process (give a key with [`dpop`](Self::dpop) to share tokens
    /// between replicas or across restarts).
    ///
    /// ```
    /// use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
    ///
    /// let endpoint = TokenEndpoint::discover(
    ///     "https://auth.example.com",
    ///     ClientIdentity::public("my-app"),
    /// )
    /// .dpop_generated();
    /// assert!(endpoint.dpop_key().is_none(), "made on the first token request");
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop_generated(mut self) -> Self {
        self.dpop.choose(crate::dpop::KeyChoice::generated());
        self
    }

    /// With DPoP on, takes a `Bearer` token from a server that does not
    /// bind tokens (default: refused). Such a token is sent as a bearer
    /// token, without proofs.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop_allow_bearer(mut self) -> Self {
        self.dpop.allow_bearer();
        self
    }

    /// The DPoP key, if DPoP is on: the one given, or the one generated
    /// ([`dpop_generated`](Self::dpop_generated)) once it is made.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop_key(&self) -> Option<&crate::dpop::DpopKey> {
        self.dpop.key()
    }

    /// Sets how parameters are encoded in the body (default: form).
    pub fn body_format(mut self, format: BodyFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets how long one token request may take in all (default: 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the largest response body read (default: 64 KiB); larger ones
    /// are an error ([`Error::ResponseTooLarge`]).
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
    /// The crate's own client sends plain-`http` requests (loopback, or
    /// allowed with [`danger_allow_insecure_http`](Self::danger_allow_insecure_http))
    /// directly, never through a proxy from `HTTP_PROXY` or `ALL_PROXY`,
    /// since the proxy would read the credentials. This client's proxies
    /// are yours: keep plain-`http` token endpoints off them.
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

    /// The token endpoint URL as configured, or the issuer's URL when the
    /// endpoint is discovered.
    pub fn url(&self) -> &str {
        match &self.location {
            Location::Fixed(url) => url,
            Location::Discovered(discovery) => &discovery.issuer,
        }
    }

    /// The client's identity.
    pub fn identity(&self) -> &ClientIdentity {
        &self.identity
    }

    /// Changes the client's identity; the grants' `client_auth` setters
    /// reach the identity's [`ClientAuth`] this way.
    pub(crate) fn map_identity(mut self, f: impl FnOnce(ClientIdentity) -> ClientIdentity) -> Self {
        self.identity = f(self.identity);
        self
    }

    /// Checks what can be checked without a request: the URL parses, has no
    /// credentials in it (`user:password@`: those belong in the
    /// [`ClientIdentity`]), and is `https` (or `http` to a loopback
    /// address, or explicitly allowed).
    pub fn check(&self) -> Result<(), Error> {
        match &self.location {
            Location::Fixed(url) => self.checked_url(url).map(drop),
            Location::Discovered(discovery) => discovery.check(),
        }
    }

    /// Sends one token request (the grant's parameters, plus the client's
    /// authentication) and reads the answer. With
    /// [`ClientAuth::AutoDetect`], the first request may be sent twice
    /// (Basic, then body); see there.
    pub async fn request(&self, grant: &GrantRequest<'_>) -> Result<Token, Error> {
        let target = self.resolve().await?;
        let http = self.client_for(target.url.as_str())?;
        match target.auth {
            ClientAuth::AutoDetect => self.auto_detect(http, &target, grant).await,
            auth => self.send(http, &target, auth, grant).await,
        }
    }

    /// Basic first; on a refusal of the client (`invalid_client` or 401),
    /// the same request with the secret in the body. What worked is kept
    /// for this endpoint (and its clones), so the probe happens once.
    async fn auto_detect(
        &self,
        http: &reqwest::Client,
        target: &Target,
        grant: &GrantRequest<'_>,
    ) -> Result<Token, Error> {
        if let Some(learned) = self.learned_auth.get() {
            return self.send(http, target, *learned, grant).await;
        }
        let url = &target.url;
        let basic = self.send(http, target, ClientAuth::Basic, grant).await;
        let refused = basic
            .as_ref()
            .err()
            .and_then(Error::endpoint_error)
            .is_some_and(|e| {
                e.status() == http::StatusCode::UNAUTHORIZED
                    || e.code() == Some(&ErrorCode::InvalidClient)
            });
        if !refused {
            if basic.is_ok() {
                let _ = self.learned_auth.set(ClientAuth::Basic);
            }
            return basic;
        }
        tracing::debug!(
            host = url.host_str(),
            "Basic client authentication refused; trying the body"
        );
        let body = self.send(http, target, ClientAuth::Body, grant).await;
        if body.is_ok() {
            tracing::info!(
                host = url.host_str(),
                "token endpoint takes the client secret in the body; remembered"
            );
            let _ = self.learned_auth.set(ClientAuth::Body);
        }
        body
    }

    /// One exchange with the client authenticated by `auth`; with DPoP, a
    /// `use_dpop_nonce` refusal sends it once more, its proof now carrying
    /// the nonce the refusal came with (RFC 9449 section 8), and an
    /// `invalid_dpop_proof` refusal is [`Error::DpopProofRejected`].
    async fn send(
        &self,
        http: &reqwest::Client,
        target: &Target,
        auth: ClientAuth,
        grant: &GrantRequest<'_>,
    ) -> Result<Token, Error> {
        let first = self.send_once(http, target, auth, grant).await;
        let wants_nonce = first
            .as_ref()
            .err()
            .and_then(Error::endpoint_error)
            .is_some_and(|e| e.code() == Some(&ErrorCode::UseDpopNonce));
        let answer = if wants_nonce {
            tracing::debug!(
                host = target.url.host_str(),
                "token endpoint asked for a DPoP nonce"
            );
            self.send_once(http, target, auth, grant).await
        } else {
            first
        };
        answer.map_err(|error| target.dpop.typed_refusal(&target.url, error))
    }

    /// One exchange, exactly.
    async fn send_once(
        &self,
        http: &reqwest::Client,
        target: &Target,
        auth: ClientAuth,
        grant: &GrantRequest<'_>,
    ) -> Result<Token, Error> {
        let url = &target.url;
        let proof = self.identity.prove(auth, url)?;
        // What this request carries that must never come back in an error.
        let mut sent = Sent::default();
        proof.note(&mut sent);
        for (name, value) in grant.params() {
            sent.param(name, value);
        }
        let mut request = http
            .post(url.clone())
            .timeout(self.timeout)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .header(CONTENT_TYPE, self.format.content_type());
        request = target.dpop.prove(request, url)?;
        let body = match &proof {
            Proof::Basic { user, password, .. } => {
                request = request.basic_auth(user, Some(password));
                self.format.encode(grant.pairs())
            }
            Proof::Body(fields) => {
                let fields = fields.iter().map(|(name, value)| (*name, value.as_ref()));
                self.format.encode(fields.chain(grant.pairs()))
            }
        };
        let (grant_type, limit) = (grant.grant_type(), self.body_limit);
        let dpop = &target.dpop;
        exchange::exchange(request.body(body), url, grant_type, limit, &sent, dpop).await
    }

    /// The HTTP client for a request to `url`: the one given, else the
    /// crate's own (which sends plain `http` past any proxy).
    fn client_for(&self, url: &str) -> Result<&reqwest::Client, Error> {
        match &self.http {
            Some(client) => Ok(client),
            None => exchange::own_client(url),
        }
    }

    /// The URL this request goes to and how a secret is sent: as configured,
    /// or as the issuer's metadata says (read once, on first use); with
    /// neither, auto-detected. A client without a secret never probes.
    async fn resolve(&self) -> Result<Target, Error> {
        let chosen = self.identity.chosen_auth();
        let (url, auth, dpop) = match &self.location {
            Location::Fixed(url) => (
                self.checked_url(url)?,
                chosen,
                self.dpop.for_server(&[]).await?,
            ),
            Location::Discovered(discovery) => {
                let http = self.client_for(&discovery.issuer)?;
                let metadata = discovery.resolve(http).await?;
                let auth = chosen.or_else(|| ClientAuth::from_supported(&metadata.auth_methods));
                // A key whose algorithm the server lists (a given key
                // that it does not list fails here, before a proof it
                // would refuse is sent).
                let dpop = self.dpop.for_server(&metadata.dpop_algs).await?;
                (self.checked_url(&metadata.token_endpoint)?, auth, dpop)
            }
        };
        let auth = match auth {
            _ if !self.identity.has_secret() => ClientAuth::Body,
            Some(auth) => auth,
            None => ClientAuth::AutoDetect,
        };
        Ok(Target { url, auth, dpop })
    }

    /// Parses a token endpoint URL and applies the cleartext guard.
    fn checked_url(&self, raw: &str) -> Result<reqwest::Url, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            what: "token endpoint",
            reason,
        };
        let shown = redacted_url(raw);
        let url = reqwest::Url::parse(raw).map_err(|e| invalid(format!("{shown:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "{shown:?} must be http or https, not {:?}",
                url.scheme()
            )));
        }
        refuse_userinfo(&url, "token endpoint")?;
        if !self.insecure_http && !is_safe_for_credentials(&url) {
            return Err(cleartext_refused(&url, "client credentials"));
        }
        Ok(url)
    }
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &redacted_url(self.url()))
            .field("identity", &self.identity)
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .field("body_limit", &self.body_limit)
            .field("insecure_http", &self.insecure_http)
            .field("dpop", &self.dpop.thumbprint())
            .field(
                "discovered",
                &matches!(self.location, Location::Discovered(_)),
            )
            .finish_non_exhaustive()
    }
}
