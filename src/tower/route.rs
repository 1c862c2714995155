//! Which token a request through the layer gets: its URI's origin (or the
//! layer's, for path-only URIs) handed to the shared router, which reads
//! nothing else of the URL.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use http::uri::{Authority, Scheme};
use http::{Request, Uri};
use url::Url;

use crate::Error;
use crate::middleware::Parts;
use crate::routing::Route;

/// What every service of a layer shares: the middleware's core, the
/// origin of requests whose URI has none, and the last other origin seen
/// (parsing a URL costs more than the rest of the cached path, and most
/// services call one origin).
pub(super) struct Core {
    pub(super) parts: Arc<Parts>,
    pub(super) origin: Option<Target>,
    last: ArcSwapOption<Target>,
}

impl Core {
    pub(super) fn new(parts: Arc<Parts>, origin: Option<Target>) -> Self {
        Core {
            parts,
            origin,
            last: ArcSwapOption::empty(),
        }
    }

    /// Routes a request by its URI's origin, else the layer's configured
    /// one.
    pub(super) fn route<'a, B>(&'a self, request: &'a Request<B>) -> Result<Route<'a>, Error> {
        let route = |url: &Url| {
            self.parts
                .router
                .route(url, request.headers(), request.extensions())
        };
        let uri = request.uri();
        let (scheme, authority) = match (uri.scheme(), uri.authority(), &self.origin) {
            (Some(scheme), Some(authority), _) => (scheme, authority),
            (None, None, Some(origin)) => return Ok(route(&origin.url)),
            (None, None, None) => {
                return Err(uri_error(
                    uri,
                    "names no scheme and host; set the layer's origin (OAuthLayer::origin)",
                ));
            }
            _ => return Err(uri_error(uri, "has a scheme or a host but not both")),
        };
        if let Some(origin) = self.origin.as_ref().filter(|o| o.is(scheme, authority)) {
            return Ok(route(&origin.url));
        }
        if let Some(last) = self
            .last
            .load()
            .as_deref()
            .filter(|o| o.is(scheme, authority))
        {
            return Ok(route(&last.url));
        }
        let target = Target::new(scheme, authority)?;
        let routed = route(&target.url);
        self.last.store(Some(Arc::new(target)));
        Ok(routed)
    }
}

/// An origin as the request URI names it, and as the router reads it.
pub(super) struct Target {
    scheme: Scheme,
    authority: Authority,
    pub(super) url: Url,
}

impl Target {
    pub(super) fn new(scheme: &Scheme, authority: &Authority) -> Result<Self, Error> {
        Ok(Target {
            url: origin_url(scheme, authority)?,
            scheme: scheme.clone(),
            authority: authority.clone(),
        })
    }

    fn is(&self, scheme: &Scheme, authority: &Authority) -> bool {
        // Byte equality first: the same spelling is the common case, and the
        // case-insensitive comparison costs more than the rest of routing.
        self.scheme == *scheme
            && (self.authority.as_str() == authority.as_str() || self.authority == *authority)
    }
}

pub(super) fn uri_error(uri: &Uri, what: &str) -> Error {
    Error::InvalidUrl {
        what: "request",
        reason: format!("{uri:?} {what}"),
    }
}

/// The `Url` of a request URI's origin, which is all the router reads of
/// it (origin scoping, routes, the cleartext guard).
fn origin_url(scheme: &Scheme, authority: &Authority) -> Result<Url, Error> {
    Url::parse(&format!("{scheme}://{authority}/")).map_err(|error| Error::InvalidUrl {
        what: "request",
        reason: error.to_string(),
    })
}
