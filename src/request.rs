//! [`TokenRequest`]: which token is wanted, and so the cache key.

use std::sync::Arc;

use crate::Error;

/// Which token a request needs: its audience, scope and resource.
///
/// Every parameter that changes the token issued is part of this value, so
/// it is also the cache key: two requests share a token exactly when their
/// `TokenRequest`s are equal. (Parameters fixed on the source, such as
/// [`ClientCredentials::param`](crate::ClientCredentials::param), are the
/// same for every key of one middleware.)
///
/// ```
/// use reqwest_oauth::TokenRequest;
///
/// let request = TokenRequest::new().with_audience("https://api.example.com");
/// assert_eq!(request.audience(), Some("https://api.example.com"));
/// assert_ne!(request, TokenRequest::new());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TokenRequest {
    audience: Option<Arc<str>>,
    scope: Option<Arc<str>>,
    resources: Vec<Arc<str>>,
}

impl TokenRequest {
    /// A request with no audience and the source's own scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// Its parts as shared strings, for the cache to hash and compare keys
    /// without building one.
    pub(crate) fn audience_shared(&self) -> Option<&Arc<str>> {
        self.audience.as_ref()
    }

    pub(crate) fn scope_shared(&self) -> Option<&Arc<str>> {
        self.scope.as_ref()
    }

    pub(crate) fn resources_shared(&self) -> &[Arc<str>] {
        &self.resources
    }

    pub(crate) fn from_parts(
        audience: Option<Arc<str>>,
        scope: Option<Arc<str>>,
        resources: Vec<Arc<str>>,
    ) -> Self {
        TokenRequest {
            audience,
            scope,
            resources,
        }
    }

    /// Sets the `audience` sent to the token endpoint.
    pub fn with_audience(mut self, audience: impl Into<Arc<str>>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets a `scope` that replaces the source's configured one.
    pub fn with_scope(mut self, scope: impl Into<Arc<str>>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Adds an RFC 8707 `resource` indicator sent to the token endpoint;
    /// a key may carry several (each is sent, RFC 8707 2.1). Each must be
    /// an absolute URI without a fragment; the built-in grants refuse to
    /// send one that is not ([`Error::InvalidUrl`]).
    ///
    /// ```
    /// use reqwest_oauth::TokenRequest;
    ///
    /// let key = TokenRequest::new()
    ///     .with_resource("https://api.example.com/")
    ///     .with_resource("https://files.example.com/");
    /// assert_eq!(key.resources().count(), 2);
    /// ```
    pub fn with_resource(mut self, resource: impl Into<Arc<str>>) -> Self {
        self.resources.push(resource.into());
        self
    }

    /// Replaces every resource indicator with `resources`.
    pub fn with_resources<R: Into<Arc<str>>>(
        mut self,
        resources: impl IntoIterator<Item = R>,
    ) -> Self {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    /// The first RFC 8707 resource indicator, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resources.first().map(|r| &**r)
    }

    /// Every RFC 8707 resource indicator, in the order added.
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().map(|r| &**r)
    }

    /// The audience, if any.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The scope that replaces the source's configured one, if any.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

/// Checks an RFC 8707 `resource` indicator: an absolute URI (it has a
/// scheme) without a fragment (RFC 8707 2). Used wherever a resource enters
/// the crate: the builder, and the grants before they send one.
pub(crate) fn validate_resource(resource: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        what: "resource",
        reason,
    };
    let url = url::Url::parse(resource)
        .map_err(|e| invalid(format!("{resource:?} is not an absolute URI: {e}")))?;
    if url.fragment().is_some() {
        return Err(invalid(format!(
            "{resource:?} has a fragment, which RFC 8707 forbids"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_is_an_absolute_uri_without_a_fragment() {
        for ok in [
            "https://api.example.com/",
            "https://api.example.com/v1?x=1",
            "urn:example:api",
        ] {
            assert!(validate_resource(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/relative",
            "api.example.com",
            "",
            "https://api.example.com/#frag",
            "https://a/#",
        ] {
            assert!(
                matches!(
                    validate_resource(bad),
                    Err(Error::InvalidUrl {
                        what: "resource",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_key_carries_several_resources_in_order() {
        let key = TokenRequest::new()
            .with_resource("https://a/")
            .with_resource("https://b/");
        assert_eq!(
            key.resources().collect::<Vec<_>>(),
            ["https://a/", "https://b/"]
        );
        assert_eq!(key.resource(), Some("https://a/"));
        assert_ne!(key, TokenRequest::new().with_resource("https://a/"));
        let replaced = key.with_resources(["https://c/"]);
        assert_eq!(replaced.resources().collect::<Vec<_>>(), ["https://c/"]);
    }
}
