//! Which token a request gets, if any: skipped, refused, or the cache key
//! made from its extensions, its origin's route and the middleware's
//! defaults. Every adapter (the reqwest middleware today) asks here, so the
//! key is built in one place.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{Extensions, HeaderMap};
use reqwest::Url;

use crate::cache::{Key, KeyRef};
use crate::origin::{
    OriginRules, Scope as OriginScope, cleartext_refused, is_safe_for_credentials,
};
use crate::{Audience, Error, Resource, Scope, SkipAuth, TokenRequest};

/// What to do with one request.
pub(crate) enum Route<'a> {
    /// Send it untouched: `SkipAuth`, its own `Authorization`, or an origin
    /// outside the configured ones.
    Pass,
    /// Refuse it before anything is fetched or sent (a token would travel
    /// in clear).
    Refuse(Error),
    /// Attach a token for this key (borrowed from the request's
    /// extensions and the router).
    Use(Key<'a>),
}

/// The rules that turn a request into a [`Route`].
#[derive(Debug)]
pub(crate) struct Router {
    pub(crate) origins: OriginRules,
    pub(crate) default_key: TokenRequest,
    pub(crate) insecure_http: bool,
}

impl Router {
    #[inline]
    pub(crate) fn route<'a>(
        &'a self,
        url: &Url,
        headers: &HeaderMap,
        extensions: &'a Extensions,
    ) -> Route<'a> {
        if extensions.get::<SkipAuth>().is_some() || headers.contains_key(AUTHORIZATION) {
            return Route::Pass;
        }
        let OriginScope::Inside(routed) = self.origins.scope(url) else {
            return Route::Pass;
        };
        if !self.insecure_http && !is_safe_for_credentials(url) {
            return Route::Refuse(cleartext_refused(url, "an access token"));
        }
        Route::Use(self.key(extensions, routed))
    }

    /// The key: the `Audience` extension, else the origin's routed
    /// audience, else the default; with the `Scope` and `Resource`
    /// extensions (the resource otherwise the default). Borrowed: nothing
    /// is built for a request.
    fn key<'a>(&'a self, extensions: &'a Extensions, routed: Option<&'a Arc<str>>) -> Key<'a> {
        let audience = extensions.get::<Audience>().map(|a| &a.0).or(routed);
        let scope = extensions.get::<Scope>().map(|s| &s.0);
        // The extension replaces the default resource; it does not add one.
        let resource = extensions
            .get::<Resource>()
            .map(|r| std::slice::from_ref(&r.0));
        if audience.is_none() && scope.is_none() && resource.is_none() {
            return Key::Default;
        }
        let default = KeyRef::of(&self.default_key);
        self.key_of(KeyRef {
            audience: audience.or(default.audience),
            scope: scope.or(default.scope),
            resources: resource.unwrap_or(default.resources),
        })
    }

    /// The cache entry for a whole key.
    pub(crate) fn key_for<'a>(&self, key: &'a TokenRequest) -> Key<'a> {
        self.key_of(KeyRef::of(key))
    }

    fn key_of<'a>(&self, key: KeyRef<'a>) -> Key<'a> {
        match key.same(KeyRef::of(&self.default_key)) {
            true => Key::Default,
            false => Key::Other(key),
        }
    }
}
