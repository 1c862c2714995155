//! [`OAuthMiddleware`]: choose the key, attach the token, replay once on an
//! expired-token 401.

use std::borrow::Cow;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{Extensions, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::builder::OAuthMiddlewareBuilder;
use crate::cache::{Cached, Lease, Slot, TokenCache};
use crate::origin::{
    OriginRules, Scope as OriginScope, cleartext_refused, is_safe_for_credentials,
};
use crate::replay::ReplayCopy;
use crate::stats::{Counters, Stats};
use crate::{
    Audience, Error, RejectionPredicate, ReplayPolicy, Resource, Scope, SkipAuth, Token,
    TokenRequest, TokenSource,
};

/// Gives every request of a `reqwest_middleware` client an OAuth 2.0 bearer
/// token: fetched lazily, cached per audience and scope, fetched by one task
/// at a time, and renewed once when the API rejects it.
///
/// Cloning is cheap and clones share one cache.
///
/// ```no_run
/// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let oauth = OAuthMiddleware::builder(ClientCredentials::new(
///     "https://auth.example.com/oauth/token",
///     "client-id",
///     "client-secret",
/// ))
/// .audience("https://api.example.com")
/// .build()?;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(oauth.clone())
///     .build();
/// let things = client.get("https://api.example.com/things").send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuthMiddleware {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cache: TokenCache,
    pub(crate) replay: ReplayPolicy,
    pub(crate) rejected: RejectionPredicate,
    pub(crate) origins: OriginRules,
    pub(crate) insecure_http: bool,
}

impl std::fmt::Debug for OAuthMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthMiddleware")
            .field("default_key", self.inner.cache.default_key())
            .field("replay", &self.inner.replay)
            .finish_non_exhaustive()
    }
}

impl OAuthMiddleware {
    /// The middleware with every default: no audience, 30 s leeway, replay
    /// of any method on an expired-token 401.
    pub fn new(source: impl TokenSource) -> Self {
        OAuthMiddlewareBuilder::new(Arc::new(source)).build_unchecked()
    }

    /// A builder to set the default audience, leeway, lifetimes and the
    /// expired-token predicate.
    pub fn builder(source: impl TokenSource) -> OAuthMiddlewareBuilder {
        OAuthMiddlewareBuilder::new(Arc::new(source))
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        OAuthMiddleware {
            inner: Arc::new(inner),
        }
    }

    /// A valid token for `audience` (`None`: the default audience), from the
    /// cache or fetched now, for code that needs the token itself.
    pub async fn token(&self, audience: Option<&str>) -> Result<Arc<Token>, Error> {
        let key = self.key(audience.map(Arc::from), None, None);
        let slot = self.inner.cache.slot(&key);
        let lease = self
            .inner
            .cache
            .lease(&slot, |cached| cached.token.clone())
            .await?;
        Ok(lease.taken)
    }

    /// Forgets the cached token for `audience` (`None`: the default
    /// audience); the next request fetches a new one.
    pub fn invalidate(&self, audience: Option<&str>) {
        let key = self.key(audience.map(Arc::from), None, None);
        self.inner.cache.invalidate(&key);
    }

    /// Forgets every cached token.
    pub fn invalidate_all(&self) {
        self.inner.cache.invalidate_all();
    }

    /// The counters since the middleware was built: fetches, token
    /// requests, cache hits, waits, refreshes, replays and more.
    pub fn stats(&self) -> Stats {
        self.inner.cache.stats()
    }

    /// How many audience and scope pairs besides the default have a cache
    /// entry (bounded by the builder's `max_keys`).
    pub fn cached_keys(&self) -> usize {
        self.inner.cache.len()
    }

    /// The default key with whatever a request overrides.
    fn key(
        &self,
        audience: Option<Arc<str>>,
        scope: Option<Arc<str>>,
        resource: Option<Arc<str>>,
    ) -> TokenRequest {
        let default = self.inner.cache.default_key();
        let mut key = TokenRequest::new();
        if let Some(audience) = audience.or_else(|| default.audience().map(Arc::from)) {
            key = key.with_audience(audience);
        }
        if let Some(scope) = scope {
            key = key.with_scope(scope);
        }
        if let Some(resource) = resource.or_else(|| default.resource().map(Arc::from)) {
            key = key.with_resource(resource);
        }
        key
    }

    /// The slot for a request: its `Audience` extension, else its origin's
    /// routed audience, else the default; with its `Scope` and `Resource`
    /// extensions (the resource otherwise the default).
    fn slot_for(&self, extensions: &Extensions, routed: Option<&Arc<str>>) -> Cow<'_, Arc<Slot>> {
        let audience = extensions
            .get::<Audience>()
            .map(|a| &a.0)
            .or(routed)
            .cloned();
        let scope = extensions.get::<Scope>().map(|s| s.0.clone());
        let resource = extensions.get::<Resource>().map(|r| r.0.clone());
        if audience.is_none() && scope.is_none() && resource.is_none() {
            return Cow::Borrowed(self.inner.cache.default_slot());
        }
        Cow::Owned(self.inner.cache.slot(&self.key(audience, scope, resource)))
    }

    /// The API rejected the token the request carried: forget it (unless a
    /// newer one replaced it already) and, if allowed, send the request once
    /// more with a newer token. Never loops: the replay's answer is final.
    async fn after_rejection(
        &self,
        slot: &Arc<Slot>,
        carried: Carried,
        replay: Option<ReplayCopy>,
        rejected: Response,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if carried.fetched {
            // A token fetched for this very request was refused: a new one
            // would be refused too (wrong audience, missing permission).
            tracing::debug!("a freshly fetched token was rejected; returning the 401");
            return Ok(rejected);
        }
        self.inner
            .cache
            .invalidate_if_current(slot, carried.generation);
        let Some(replay) = replay else {
            tracing::debug!("rejected token invalidated; request not replayable");
            return Ok(rejected);
        };
        let renewed = self
            .inner
            .cache
            .lease(slot, Attached::take)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        tracing::debug!(
            fetched = renewed.fetched,
            "rejected token replaced; replaying the request"
        );
        Counters::bump(&self.inner.cache.counters().replays);
        let mut replay = replay.into_request();
        replay
            .headers_mut()
            .insert(AUTHORIZATION, renewed.taken.header);
        drop(rejected);
        next.run(replay, extensions).await
    }
}

/// Which token a request carried, to forget exactly that one if the API
/// rejects it, and whether it was fetched for this very request.
struct Carried {
    generation: u64,
    fetched: bool,
}

/// What a request takes of a cached token: the header to attach, and which
/// token it was.
struct Attached {
    header: HeaderValue,
    generation: u64,
}

impl Attached {
    fn take(cached: &Cached) -> Self {
        Attached {
            header: cached.token.header_value().clone(),
            generation: cached.generation,
        }
    }
}

#[async_trait::async_trait]
impl Middleware for OAuthMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if extensions.get::<SkipAuth>().is_some() || request.headers().contains_key(AUTHORIZATION) {
            return next.run(request, extensions).await;
        }
        let OriginScope::Inside(routed) = self.inner.origins.scope(request.url()) else {
            return next.run(request, extensions).await;
        };
        if !self.inner.insecure_http && !is_safe_for_credentials(request.url()) {
            let refused = cleartext_refused(request.url(), "an access token");
            return Err(reqwest_middleware::Error::middleware(refused));
        }
        let slot = self.slot_for(extensions, routed);
        let Lease { taken, fetched } = self
            .inner
            .cache
            .lease(&slot, Attached::take)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        // Keep a copy for the replay before the header goes in; a token
        // fetched for this request is never renewed for it, so skip the copy.
        let replay = match !fetched && self.inner.replay.allows(request.method()) {
            true => ReplayCopy::of(&request),
            false => None,
        };
        request.headers_mut().insert(AUTHORIZATION, taken.header);
        let response = next.clone().run(request, extensions).await?;
        if !(self.inner.rejected)(&response) {
            return Ok(response);
        }
        let carried = Carried {
            generation: taken.generation,
            fetched,
        };
        self.after_rejection(&slot, carried, replay, response, extensions, next)
            .await
    }
}
