//! The resource owner password credentials grant (RFC 6749 section 4.3).

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::TokenSource;
use super::grant::{GrantSettings, grant_setters};
use super::refresh::refresh_or_grant;
use crate::endpoint::{ClientIdentity, TokenEndpoint};
use crate::{Error, FetchContext, Token};

/// The password grant: a dedicated API user's name and password for a token.
///
/// The client is a [`ClientIdentity`] (usually
/// [`ClientIdentity::public`]: only `client_id` is sent, the common case for
/// this grant), so it cannot be mistaken for the user; the user's name and
/// password follow, in that order.
///
/// ```
/// use reqwest_oauth::PasswordGrant;
/// use reqwest_oauth::endpoint::{BodyFormat, ClientIdentity};
///
/// let grant = PasswordGrant::new(
///     "https://auth.example.com/oauth/token",
///     ClientIdentity::public("public-client-id"),
///     "api@example.com",
///     "password",
/// )
/// .body_format(BodyFormat::Json);
/// // A confidential client: ClientIdentity::secret("web", "web-secret").
/// # let _ = grant;
/// ```
#[derive(Clone)]
pub struct PasswordGrant {
    settings: GrantSettings,
    username: String,
    password: Arc<SecretString>,
}

impl PasswordGrant {
    /// The grant against `token_url` for `client`, as `username`.
    pub fn new(
        token_url: impl Into<String>,
        client: ClientIdentity,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self::at(TokenEndpoint::new(token_url, client), username, password)
    }

    /// The grant against the token endpoint that `issuer`'s metadata names
    /// (see [`TokenEndpoint::discover`]), found on first use.
    pub fn discover(
        issuer: impl Into<String>,
        client: ClientIdentity,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self::at(TokenEndpoint::discover(issuer, client), username, password)
    }

    /// The grant against `endpoint` (which carries the client's identity),
    /// as `username`.
    pub fn at(
        endpoint: TokenEndpoint,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        PasswordGrant {
            settings: GrantSettings::new(endpoint),
            username: username.into(),
            password: Arc::new(SecretString::from(password.into())),
        }
    }

    grant_setters!();
}

impl TokenSource for PasswordGrant {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        refresh_or_grant(&self.settings, cx, || async {
            let own = [
                ("username", self.username.as_str()),
                ("password", self.password.expose_secret()),
            ];
            let grant = self.settings.params("password", &own, cx.request())?;
            self.settings.endpoint.request(&grant).await
        })
        .await
    }

    fn check(&self) -> Result<(), Error> {
        self.settings.check()
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
