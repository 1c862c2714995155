//! One grant request's parameters, with its `grant_type` apart from the rest.

use std::fmt;

/// The parameters of one token request (RFC 6749 4.x): the `grant_type`
/// and the grant's own parameters, in the order they are sent. Client
/// authentication is not part of it: the [`TokenEndpoint`](super::TokenEndpoint)
/// adds that from its [`ClientIdentity`](super::ClientIdentity).
///
/// A custom [`TokenSource`](crate::TokenSource) builds one and hands it to
/// [`TokenEndpoint::request`](super::TokenEndpoint::request):
///
/// ```no_run
/// use reqwest_oauth::endpoint::{ClientIdentity, GrantRequest, TokenEndpoint};
///
/// # async fn demo(assertion: &str) -> Result<(), reqwest_oauth::Error> {
/// let endpoint = TokenEndpoint::new(
///     "https://auth.example.com/oauth/token",
///     ClientIdentity::secret("my-client", "my-secret"),
/// );
/// let grant = GrantRequest::new("urn:ietf:params:oauth:grant-type:jwt-bearer")
///     .param("assertion", assertion)
///     .param("scope", "read");
/// let token = endpoint.request(&grant).await?;
/// # let _ = token;
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct GrantRequest<'a> {
    grant_type: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> GrantRequest<'a> {
    /// A request for `grant_type` (`client_credentials`, `password`,
    /// `refresh_token`, an extension grant's URI) with no other parameters.
    pub fn new(grant_type: &'a str) -> Self {
        GrantRequest {
            grant_type,
            params: Vec::new(),
        }
    }

    /// Adds a parameter, sent after those added before it. `grant_type` is
    /// set by [`GrantRequest::new`]; do not add it again.
    ///
    /// A value whose name marks a credential (one with `secret`,
    /// `password`, `token`, `assertion` or `key` in it, but not ending in
    /// `_type`; or `code`, `code_verifier`, `device_code`) is replaced by
    /// `[redacted]` wherever the server's answer echoes it into an error.
    pub fn param(mut self, name: &'a str, value: &'a str) -> Self {
        self.push(name, value);
        self
    }

    /// Adds a parameter in place; see [`GrantRequest::param`].
    pub fn push(&mut self, name: &'a str, value: &'a str) {
        self.params.push((name, value));
    }

    /// The `grant_type`.
    pub fn grant_type(&self) -> &'a str {
        self.grant_type
    }

    /// The parameters other than `grant_type`, in order.
    pub fn params(&self) -> &[(&'a str, &'a str)] {
        &self.params
    }

    /// Every body parameter: `grant_type` first, then the rest.
    pub(super) fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        std::iter::once(("grant_type", self.grant_type)).chain(self.params.iter().copied())
    }
}

impl<'a> Extend<(&'a str, &'a str)> for GrantRequest<'a> {
    fn extend<I: IntoIterator<Item = (&'a str, &'a str)>>(&mut self, pairs: I) {
        self.params.extend(pairs);
    }
}

impl fmt::Debug for GrantRequest<'_> {
    // Values may be secrets (a password, an assertion): names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantRequest")
            .field("grant_type", &self.grant_type)
            .field(
                "params",
                &self.params.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_type_leads_and_debug_names_only() {
        let request = GrantRequest::new("password")
            .param("username", "alice")
            .param("password", "hunter2");
        let pairs: Vec<_> = request.pairs().collect();
        assert_eq!(
            pairs,
            [
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "hunter2")
            ]
        );
        assert!(!format!("{request:?}").contains("hunter2"));
    }
}
