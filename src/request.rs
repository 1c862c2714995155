//! [`TokenRequest`]: which token is wanted, and so the cache key.

use std::sync::Arc;

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
    resource: Option<Arc<str>>,
}

impl TokenRequest {
    /// A request with no audience and the source's own scope.
    pub fn new() -> Self {
        Self::default()
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

    /// Sets the RFC 8707 `resource` indicator sent to the token endpoint.
    pub fn with_resource(mut self, resource: impl Into<Arc<str>>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The RFC 8707 resource indicator, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
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
