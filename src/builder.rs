//! [`OAuthMiddlewareBuilder`]: every setting of the middleware, with its
//! default.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::{CacheConfig, Clock, RefreshAhead, TokenCache};
use crate::middleware::{OAuthMiddleware, Parts};
use crate::origin::{Origin, OriginRules};
use crate::rejection::Rejection;
use crate::replay::ReplayPolicy;
use crate::retry::RetryPolicy;
use crate::routing::Router;
use crate::source::DynSource;
use crate::{Error, TokenRequest, TokenSource};

impl OAuthMiddleware {
    /// The middleware with every default: no audience, 30 s leeway, replay
    /// of any method on an expired-token 401. The source's configuration is
    /// checked on first use; [`builder`](Self::builder) checks it at
    /// [`build`](OAuthMiddlewareBuilder::build).
    pub fn new(source: impl TokenSource) -> Self {
        OAuthMiddlewareBuilder::new(Arc::new(source)).finish(OriginRules::default())
    }

    /// A builder for every setting: default audience and resource, origins
    /// and routes, lifetimes and refresh ahead, retries and cooldown, the
    /// key limit, and what counts as a rejected token and is replayed.
    pub fn builder(source: impl TokenSource) -> OAuthMiddlewareBuilder {
        OAuthMiddlewareBuilder::new(Arc::new(source))
    }
}

/// Configures an [`OAuthMiddleware`]; made by [`OAuthMiddleware::builder`].
///
/// Every setting and its default: see each method.
///
/// ```
/// use std::time::Duration;
/// use reqwest_oauth::policy::ReplayPolicy;
/// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
///
/// let oauth = OAuthMiddleware::builder(ClientCredentials::new(
///     "https://auth.example.com/oauth/token",
///     "id",
///     "secret",
/// ))
/// .audience("https://api.example.com")
/// .leeway(Duration::from_secs(60))
/// .replay(ReplayPolicy::IdempotentOnly)
/// .build()?;
/// # Ok::<(), reqwest_oauth::Error>(())
/// ```
#[must_use]
pub struct OAuthMiddlewareBuilder {
    source: Arc<dyn DynSource>,
    audience: Option<Arc<str>>,
    resource: Option<Arc<str>>,
    scope: Option<Arc<str>>,
    step_up: bool,
    cache: CacheConfig,
    replay: ReplayPolicy,
    rejection: Rejection,
    /// Origins as given (origin, routed audience); parsed by `build`.
    origins: Vec<(String, Option<Arc<str>>)>,
    insecure_http: bool,
}

impl std::fmt::Debug for OAuthMiddlewareBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthMiddlewareBuilder")
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("cache", &self.cache)
            .field("replay", &self.replay)
            .field("origins", &self.origins)
            .field("insecure_http", &self.insecure_http)
            .finish_non_exhaustive()
    }
}

impl OAuthMiddlewareBuilder {
    fn new(source: Arc<dyn DynSource>) -> Self {
        OAuthMiddlewareBuilder {
            source,
            audience: None,
            resource: None,
            scope: None,
            step_up: false,
            cache: CacheConfig::default(),
            replay: ReplayPolicy::default(),
            rejection: Rejection::default(),
            origins: Vec::new(),
            insecure_http: false,
        }
    }

    /// The audience of requests that carry no [`Audience`](crate::Audience)
    /// extension. Default: none (no `audience` parameter is sent).
    pub fn audience(mut self, audience: impl Into<Arc<str>>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The RFC 8707 `resource` of requests that carry no
    /// [`Resource`](crate::Resource) extension: an absolute URI without a
    /// fragment, checked at [`build`](Self::build). Default: none.
    pub fn resource(mut self, resource: impl Into<Arc<str>>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The `scope` of requests that carry no [`Scope`](crate::Scope)
    /// extension, replacing the grant's own. Default: none (the grant's
    /// scope is sent). Set it when [`step_up`](Self::step_up) is on, so a
    /// stepped-up token asks for this scope and the requested one.
    pub fn scope(mut self, scope: impl Into<Arc<str>>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Answers `insufficient_scope` (a 401 or 403 whose Bearer challenge
    /// names the `scope` it wants, RFC 6750 3.1) by fetching a token for
    /// the key's scope plus the requested one (cached under a key of its
    /// own) and sending the request once more with it. At most one step-up
    /// per request, never a loop; the replay policy and body rules of the
    /// expired-token replay apply. Default: off.
    pub fn step_up(mut self, on: bool) -> Self {
        self.step_up = on;
        self
    }

    /// Stop using a token this long before it expires (default 30 s; never
    /// more than a tenth of the token's lifetime).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.cache.lifetimes.leeway = leeway;
        self
    }

    /// The lifetime assumed when the token response has no `expires_in`
    /// (default 1 hour).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.cache.lifetimes.default_lifetime = lifetime;
        self
    }

    /// Announced lifetimes longer than this are cut to it (default 24 h).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.cache.lifetimes.max_lifetime = lifetime;
        self
    }

    /// When a token is renewed in the background, ahead of expiry (default:
    /// when 20 % of its lifetime is left). The request that notices uses the
    /// current token; one background fetch replaces it.
    pub fn refresh_ahead(mut self, refresh_ahead: RefreshAhead) -> Self {
        self.cache.lifetimes.refresh_ahead = refresh_ahead;
        self
    }

    /// How failed token fetches are retried (default: twice, from 200 ms).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.cache.retry = policy;
        self
    }

    /// After a failed fetch, requests for that key get the same error
    /// without a new fetch for this long (default 1 s), so a failing token
    /// endpoint is not stormed.
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cache.cooldown = cooldown;
        self
    }

    /// After a failed fetch whose answer carried a `Retry-After` longer than
    /// the cooldown, the cooldown lasts that long, up to this (default 5
    /// minutes).
    pub fn max_cooldown(mut self, cooldown: Duration) -> Self {
        self.cache.max_cooldown = cooldown;
        self
    }

    /// Fetches for one key start at least this far apart (default 1 s), so
    /// a token announced to live a millisecond costs one token request per
    /// interval, not one per API call: requests that find it expired wait
    /// for the next fetch.
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.cache.min_refetch = interval;
        self
    }

    /// How an API that keeps rejecting tokens is damped (default:
    /// [`RejectionDamping::default`](crate::policy::RejectionDamping)).
    pub fn rejection_damping(mut self, damping: crate::policy::RejectionDamping) -> Self {
        self.cache.damping = damping;
        self
    }

    /// The most keys (audience and scope pairs) cached at once (default
    /// 10,000). Past it, expired entries go first, then the least recently
    /// used.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.cache.max_keys = max_keys;
        self
    }

    /// Decides which API responses mean "the token was rejected": the
    /// token is renewed and the request replayed once (default:
    /// [`policy::token_rejected`](crate::policy::token_rejected)).
    ///
    /// ```
    /// # let source = reqwest_oauth::ClientCredentials::new("https://a.example/t", "id", "s");
    /// // An API that answers 403 for expired tokens.
    /// let oauth = reqwest_oauth::OAuthMiddleware::builder(source)
    ///     .token_rejected(|response| response.status() == 403)
    ///     .build()?;
    /// # Ok::<(), reqwest_oauth::Error>(())
    /// ```
    pub fn token_rejected(
        mut self,
        predicate: impl Fn(&reqwest::Response) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rejection = Rejection::new(predicate);
        self
    }

    /// Which requests are replayed after their token was rejected (default:
    /// any method).
    pub fn replay(mut self, policy: ReplayPolicy) -> Self {
        self.replay = policy;
        self
    }

    /// Sends tokens only to this origin (`scheme://host[:port]`), and to
    /// any other allowed or routed one; requests elsewhere pass through
    /// untouched. Without any, every request gets a token: convenient, but
    /// a request to a third party then carries your token too.
    ///
    /// ```
    /// # let source = reqwest_oauth::ClientCredentials::new("https://a.example/t", "id", "s");
    /// let oauth = reqwest_oauth::OAuthMiddleware::builder(source)
    ///     .allow_origin("https://api.example.com")
    ///     .build()?;
    /// # Ok::<(), reqwest_oauth::Error>(())
    /// ```
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push((origin.into(), None));
        self
    }

    /// Requests to `origin` get a token for `audience`, so one client can
    /// call several APIs, each with its own token, without per-request
    /// extensions. A routed origin is also an allowed one.
    ///
    /// ```
    /// # let source = reqwest_oauth::ClientCredentials::new("https://a.example/t", "id", "s");
    /// let oauth = reqwest_oauth::OAuthMiddleware::builder(source)
    ///     .route("https://orders.example.com", "https://orders.example.com/api")
    ///     .route("https://billing.example.com", "https://billing.example.com/api")
    ///     .build()?;
    /// # Ok::<(), reqwest_oauth::Error>(())
    /// ```
    pub fn route(mut self, origin: impl Into<String>, audience: impl Into<Arc<str>>) -> Self {
        self.origins.push((origin.into(), Some(audience.into())));
        self
    }

    /// Allows attaching tokens to plain `http://` requests to hosts that are
    /// not loopback. Without it, such a request fails with
    /// [`Error::InsecureUrl`] before anything is sent.
    pub fn danger_allow_insecure_http(mut self) -> Self {
        self.insecure_http = true;
        self
    }

    /// Checks the configuration (the source's, and that durations make sense)
    /// and builds the middleware. No token is fetched until the first request.
    pub fn build(self) -> Result<OAuthMiddleware, Error> {
        self.source.check()?;
        self.check_cache()?;
        if let Some(resource) = &self.resource {
            crate::request::validate_resource(resource)?;
        }
        let mut rules = OriginRules::default();
        for (origin, audience) in &self.origins {
            let parsed = Origin::parse(origin)?;
            match audience {
                Some(audience) => rules.routes.push((parsed, audience.clone())),
                None => rules.allowed.push(parsed),
            }
        }
        Ok(self.finish(rules))
    }

    fn check_cache(&self) -> Result<(), Error> {
        let lifetimes = &self.cache.lifetimes;
        if lifetimes.default_lifetime.is_zero() || lifetimes.max_lifetime.is_zero() {
            return Err(Error::InvalidSetting {
                setting: "lifetime",
                reason: "token lifetimes must be longer than zero".into(),
            });
        }
        if let RefreshAhead::Fraction(f) = lifetimes.refresh_ahead
            && !(0.0..=1.0).contains(&f)
        {
            return Err(Error::InvalidSetting {
                setting: "refresh_ahead",
                reason: format!("the fraction {f} is not between 0 and 1"),
            });
        }
        if self.cache.max_keys == 0 {
            return Err(Error::InvalidSetting {
                setting: "max_keys",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    fn finish(self, origins: OriginRules) -> OAuthMiddleware {
        let mut default_key = TokenRequest::new();
        if let Some(audience) = self.audience {
            default_key = default_key.with_audience(audience);
        }
        if let Some(resource) = self.resource {
            default_key = default_key.with_resource(resource);
        }
        if let Some(scope) = self.scope {
            default_key = default_key.with_scope(scope);
        }
        let cache = TokenCache::new(self.source, default_key.clone(), self.cache, Clock::System);
        OAuthMiddleware::from_parts(Parts {
            router: Router {
                origins,
                default_key,
                insecure_http: self.insecure_http,
            },
            cache,
            replay: self.replay,
            rejection: self.rejection,
            step_up: self.step_up,
        })
    }
}
