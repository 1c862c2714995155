//! The resource owner password credentials grant (RFC 6749 section 4.3).

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::TokenSource;
use super::grant::{GrantSettings, grant_setters};
use super::refresh::refresh_or_grant;
use crate::{Error, FetchContext, Token, TokenEndpoint};

/// The password grant: a dedicated API user's name and password for a token.
///
/// Built for a public client (only `client_id` is sent, no secret), the
/// common case for this grant; add a secret with
/// [`PasswordGrant::client_secret`].
///
/// ```
/// use reqwest_oauth::PasswordGrant;
/// use reqwest_oauth::endpoint::BodyFormat;
///
/// let grant = PasswordGrant::new(
///     "https://auth.example.com/oauth/token",
///     "public-client-id",
///     "api@example.com",
///     "password",
/// )
/// .body_format(BodyFormat::Json);
/// # let _ = grant;
/// ```
#[derive(Clone)]
pub struct PasswordGrant {
    settings: GrantSettings,
    client_id: String,
    username: String,
    password: Arc<SecretString>,
}

impl PasswordGrant {
    /// The grant against `token_url` for a public client.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self::at(
            TokenEndpoint::new(token_url),
            client_id.into(),
            username.into(),
            password.into(),
        )
    }

    /// The grant against the token endpoint that `issuer`'s metadata names
    /// (see [`TokenEndpoint::discover`]), found on first use.
    pub fn discover(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self::at(
            TokenEndpoint::discover(issuer),
            client_id.into(),
            username.into(),
            password.into(),
        )
    }

    fn at(endpoint: TokenEndpoint, client_id: String, username: String, password: String) -> Self {
        PasswordGrant {
            settings: GrantSettings::new(endpoint.client(client_id.clone(), None)),
            client_id,
            username,
            password: Arc::new(SecretString::from(password)),
        }
    }

    /// Makes this a confidential client, authenticated with `secret`.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        let endpoint = self
            .settings
            .endpoint
            .client(self.client_id.clone(), Some(secret.into()));
        self.settings.endpoint = endpoint;
        self
    }

    grant_setters!();
}

impl TokenSource for PasswordGrant {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        let endpoint = &self.settings.endpoint;
        refresh_or_grant(endpoint, cx, || async {
            let grant = [
                ("grant_type", "password"),
                ("username", self.username.as_str()),
                ("password", self.password.expose_secret()),
            ];
            let params = self.settings.params(&grant, cx.request());
            endpoint.request(&params).await
        })
        .await
    }

    fn check(&self) -> Result<(), Error> {
        self.settings.endpoint.check()
    }
}

impl fmt::Debug for PasswordGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordGrant")
            .field("endpoint", &self.settings.endpoint)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}
