//! What the built-in grants share: an endpoint, a scope and extra
//! parameters, and the setters for them.
//!
//! Every token endpoint setting lives on [`TokenEndpoint`]; the grants
//! forward to it (`grant_setters!`), each setting once, so a grant can be
//! configured in one chain without building the endpoint first.

use crate::endpoint::{GrantRequest, TokenEndpoint};
use crate::request::validate_resource;
use crate::{Error, TokenRequest};

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

    /// The request for a grant: its type and own parameters, then the
    /// request's scope (or the configured one), audience, every resource,
    /// and the extra parameters. A refresh is built the same way, so it
    /// asks for what the key's grant asked for (RFC 8707 2.2). A resource
    /// that is not an absolute URI without a fragment is refused here,
    /// before anything is sent.
    pub(super) fn params<'a>(
        &'a self,
        grant_type: &'a str,
        own: &[(&'a str, &'a str)],
        request: &'a TokenRequest,
    ) -> Result<GrantRequest<'a>, Error> {
        let mut grant = GrantRequest::new(grant_type);
        grant.extend(own.iter().copied());
        if let Some(scope) = request.scope().or(self.scope.as_deref()) {
            grant.push("scope", scope);
        }
        if let Some(audience) = request.audience() {
            grant.push("audience", audience);
        }
        for resource in request.resources() {
            validate_resource(resource)?;
            grant.push("resource", resource);
        }
        grant.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(grant)
    }

    /// What can be checked before any request: the endpoint, and that no
    /// extra parameter repeats one the crate sets (RFC 6749 3.2 forbids
    /// repeated parameters, and the server would see two values).
    pub(super) fn check(&self) -> Result<(), Error> {
        self.endpoint.check()?;
        match self.extra.iter().find(|(name, _)| is_reserved(name)) {
            Some((name, _)) => Err(Error::InvalidSetting {
                setting: "extra parameter",
                reason: format!(
                    "{name:?} is one the crate sets itself; use the grant's own setting for it"
                ),
            }),
            None => Ok(()),
        }
    }
}

/// Parameters the crate writes itself, which an extra parameter may not
/// repeat.
const RESERVED: [&str; 15] = [
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "username",
    "password",
    "refresh_token",
    "resource",
    "audience",
    "assertion",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
];

fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || name.starts_with("client_assertion")
}

/// The setters every built-in grant offers, written once: the grant's own
/// (scope, extra parameters) and one forward per [`TokenEndpoint`] setting.
macro_rules! grant_setters {
    () => {
        /// Sets the `scope` parameter, a space-separated list. A request's
        /// [`Scope`](crate::Scope) extension takes precedence.
        pub fn scope(mut self, scope: impl Into<String>) -> Self {
            self.settings.scope = Some(scope.into());
            self
        }

        /// Adds a body parameter sent with every token request (refreshes
        /// too). A name the crate sets itself (`grant_type`, `client_id`,
        /// `client_secret`, `client_assertion*`, `scope`, `username`,
        /// `password`, `refresh_token`, `resource`, `audience`, `assertion`,
        /// `subject_token*`, `actor_token*`, `requested_token_type`)
        /// is a configuration error at `build()`.
        pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.settings.extra.push((name.into(), value.into()));
            self
        }

        /// Sets how a client secret is sent; see
        /// [`ClientIdentity::auth`](crate::endpoint::ClientIdentity::auth) (default:
        /// the discovered server's preference, else
        /// [`ClientAuth::AutoDetect`](crate::endpoint::ClientAuth::AutoDetect)). An
        /// explicit choice is used as it is and never probes.
        pub fn client_auth(mut self, auth: $crate::ClientAuth) -> Self {
            self.settings.endpoint = self.settings.endpoint.map_identity(|id| id.auth(auth));
            self
        }

        /// See [`TokenEndpoint::body_format`](crate::TokenEndpoint::body_format).
        pub fn body_format(mut self, format: $crate::BodyFormat) -> Self {
            self.settings.endpoint = self.settings.endpoint.body_format(format);
            self
        }

        /// See [`TokenEndpoint::timeout`](crate::TokenEndpoint::timeout).
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.settings.endpoint = self.settings.endpoint.timeout(timeout);
            self
        }

        /// See [`TokenEndpoint::body_limit`](crate::TokenEndpoint::body_limit).
        pub fn body_limit(mut self, bytes: usize) -> Self {
            self.settings.endpoint = self.settings.endpoint.body_limit(bytes);
            self
        }

        /// See [`TokenEndpoint::http_client`](crate::TokenEndpoint::http_client).
        pub fn http_client(mut self, client: reqwest::Client) -> Self {
            self.settings.endpoint = self.settings.endpoint.http_client(client);
            self
        }

        /// See
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
