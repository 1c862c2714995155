//! What the built-in grants share: an endpoint, a scope and extra
//! parameters, and the setters for them.

use crate::{TokenEndpoint, TokenRequest};

/// The endpoint and the parameters every grant request carries.
#[derive(Clone)]
pub(super) struct GrantSettings {
    pub(super) endpoint: TokenEndpoint,
    pub(super) scope: Option<String>,
    pub(super) extra: Vec<(String, String)>,
}

impl std::fmt::Debug for GrantSettings {
    // Extra parameters may carry secrets (assertions, keys): names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantSettings")
            .field("endpoint", &self.endpoint)
            .field("scope", &self.scope)
            .field(
                "extra",
                &self.extra.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl GrantSettings {
    pub(super) fn new(endpoint: TokenEndpoint) -> Self {
        GrantSettings {
            endpoint,
            scope: None,
            extra: Vec::new(),
        }
    }

    /// The body parameters for a grant: its own, then the request's scope
    /// (or the configured one), audience, resource, and the extra parameters.
    pub(super) fn params<'a>(
        &'a self,
        grant: &[(&'a str, &'a str)],
        request: &'a TokenRequest,
    ) -> Vec<(&'a str, &'a str)> {
        let mut params = grant.to_vec();
        if let Some(scope) = request.scope().or(self.scope.as_deref()) {
            params.push(("scope", scope));
        }
        if let Some(audience) = request.audience() {
            params.push(("audience", audience));
        }
        if let Some(resource) = request.resource() {
            params.push(("resource", resource));
        }
        params.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        params
    }
}

/// The setters every built-in grant offers, written once.
macro_rules! grant_setters {
    () => {
        /// Sets how the request body is encoded (default: form).
        pub fn body_format(mut self, format: $crate::BodyFormat) -> Self {
            self.settings.endpoint = self.settings.endpoint.body_format(format);
            self
        }

        /// Sets how the client authenticates (default: HTTP Basic).
        pub fn client_auth(mut self, auth: $crate::ClientAuth) -> Self {
            self.settings.endpoint = self.settings.endpoint.client_auth(auth);
            self
        }

        /// Sets the `scope` parameter, a space-separated list. A request's
        /// [`Scope`](crate::Scope) extension takes precedence.
        pub fn scope(mut self, scope: impl Into<String>) -> Self {
            self.settings.scope = Some(scope.into());
            self
        }

        /// Adds a body parameter sent with every token request.
        pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.settings.extra.push((name.into(), value.into()));
            self
        }

        /// Sets how long one token request may take (default: 30 s).
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.settings.endpoint = self.settings.endpoint.timeout(timeout);
            self
        }

        /// Uses this HTTP client for token requests; see
        /// [`TokenEndpoint::http_client`](crate::TokenEndpoint::http_client).
        pub fn http_client(mut self, client: reqwest::Client) -> Self {
            self.settings.endpoint = self.settings.endpoint.http_client(client);
            self
        }

        /// Allows a plain `http://` token endpoint on a host that is not
        /// loopback; see
        /// [`TokenEndpoint::danger_allow_insecure_http`](crate::TokenEndpoint::danger_allow_insecure_http).
        pub fn danger_allow_insecure_http(mut self) -> Self {
            self.settings.endpoint = self.settings.endpoint.danger_allow_insecure_http();
            self
        }

        /// The token endpoint this grant sends its requests to.
        pub fn endpoint(&self) -> &$crate::TokenEndpoint {
            &self.settings.endpoint
        }
    };
}

pub(super) use grant_setters;
