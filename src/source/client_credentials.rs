//! The client credentials grant (RFC 6749 section 4.4).

use super::TokenSource;
use super::grant::{GrantSettings, grant_setters};
use crate::endpoint::{ClientIdentity, TokenEndpoint};
use crate::{Error, FetchContext, Token};

/// The client credentials grant: a back-end service authenticates as itself.
///
/// ```
/// use reqwest_oauth::ClientCredentials;
/// use reqwest_oauth::endpoint::{BodyFormat, ClientAuth};
///
/// // A vendor that wants JSON with the credentials in the body:
/// let grant = ClientCredentials::new("https://auth.example.com/oauth/token", "id", "secret")
///     .body_format(BodyFormat::Json)
///     .client_auth(ClientAuth::Body)
///     .scope("read write");
/// # let _ = grant;
/// ```
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    settings: GrantSettings,
}

impl ClientCredentials {
    /// The grant against `token_url` for a client with a secret, with form
    /// bodies and the secret sent by
    /// [`ClientAuth::AutoDetect`](crate::endpoint::ClientAuth::AutoDetect) (HTTP Basic
    /// as RFC 6749 specifies, then the body if the server refuses that).
    /// Short for [`ClientCredentials::at`] with
    /// [`ClientIdentity::secret`].
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let identity = ClientIdentity::secret(client_id, client_secret);
        Self::at(TokenEndpoint::new(token_url, identity))
    }

    /// The grant against the token endpoint that `issuer`'s metadata names
    /// (see [`TokenEndpoint::discover`]), found on first use.
    pub fn discover(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let identity = ClientIdentity::secret(client_id, client_secret);
        Self::at(TokenEndpoint::discover(issuer, identity))
    }

    /// The grant authenticated with a signed client assertion
    /// (`private_key_jwt`, RFC 7523) instead of a secret.
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    pub fn with_private_key_jwt(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        key: crate::PrivateKeyJwt,
    ) -> Self {
        let identity = ClientIdentity::private_key_jwt(client_id, key);
        Self::at(TokenEndpoint::new(token_url, identity))
    }

    /// The grant against `endpoint`, as its identity authenticates.
    ///
    /// ```
    /// use reqwest_oauth::ClientCredentials;
    /// use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
    ///
    /// let endpoint = TokenEndpoint::new(
    ///     "https://auth.example.com/oauth/token",
    ///     ClientIdentity::secret("id", "secret"),
    /// );
    /// let grant = ClientCredentials::at(endpoint).scope("read");
    /// # let _ = grant;
    /// ```
    pub fn at(endpoint: TokenEndpoint) -> Self {
        ClientCredentials {
            settings: GrantSettings::new(endpoint),
        }
    }

    grant_setters!();
}

impl TokenSource for ClientCredentials {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        // Renewal always re-runs the grant, with its scope, audience and
        // resources: RFC 6749 4.4.3 says no refresh token should be issued
        // here, and one a server sends anyway is not used.
        let grant = self
            .settings
            .params("client_credentials", &[], cx.request())?;
        self.settings.endpoint.request(&grant).await
    }

    fn check(&self) -> Result<(), Error> {
        self.settings.check()
    }
}
