//! Which token a request gets, if any: skipped, refused, or the cache key
//! made from its extensions, its origin's route and the middleware's
//! defaults. Every adapter (the reqwest middleware today) asks here, so the
//! key is built in one place.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{Extensions, HeaderMap};
use reqwest::Url;

use crate::cache::Key;
use crate::origin::{
    OriginRules, Scope as OriginScope, cleartext_refused, is_safe_for_credentials,
};
use crate::{Audience, Error, Resource, Scope, SkipAuth, TokenRequest};

/// What to do with one request.
pub(crate) enum Route {
    /// Send it untouched: `SkipAuth`, its own `Authorization`, or an origin
    /// outside the configured ones.
    Pass,
    /// Refuse it before anything is fetched or sent (a token would travel
    /// in clear).
    Refuse(Error),
    /// Attach a token for this key.
    Use(Key),
}

/// The rules that turn a request into a [`Route`].
#[derive(Debug)]
pub(crate) struct Router {
    pub(crate) origins: OriginRules,
    pub(crate) default_key: TokenRequest,
    pub(crate) insecure_http: bool,
}

impl Router {
    pub(crate) fn route(&self, url: &Url, headers: &HeaderMap, extensions: &Extensions) -> Route {
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
    /// extensions (the resource otherwise the default).
    fn key(&self, extensions: &Extensions, routed: Option<&Arc<str>>) -> Key {
        let audience = extensions.get::<Audience>().map(|a| &a.0).or(routed);
        let scope = extensions.get::<Scope>().map(|s| &s.0);
        let resource = extensions.get::<Resource>().map(|r| &r.0);
        if audience.is_none() && scope.is_none() && resource.is_none() {
            return Key::Default;
        }
        let mut key = self.default_key.clone();
        if let Some(audience) = audience {
            key = key.with_audience(audience.clone());
        }
        if let Some(scope) = scope {
            key = key.with_scope(scope.clone());
        }
        if let Some(resource) = resource {
            // The extension replaces the default resource; it does not add one.
            key = key.with_resources([resource.clone()]);
        }
        self.key_for(key)
    }

    /// The key of a stepped-up request: `key` (the default one or another)
    /// with the requested scope added, or `None` when that adds nothing.
    pub(crate) fn widened(&self, key: &Key, requested: &str) -> Option<Key> {
        let base = match key {
            Key::Default => &self.default_key,
            Key::Other(key) => key,
        };
        crate::step_up::widened(base, requested).map(|wider| self.key_for(wider))
    }

    /// The cache entry for a whole key.
    pub(crate) fn key_for(&self, key: TokenRequest) -> Key {
        match key == self.default_key {
            true => Key::Default,
            false => Key::Other(key),
        }
    }
}
