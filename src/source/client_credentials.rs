//! The client credentials grant (RFC 6749 section 4.4).

use super::grant::{GrantSettings, grant_setters};
use super::{BoxFuture, TokenSource};
use crate::{ClientIdentity, Error, Token, TokenEndpoint, TokenRequest};

/// The client credentials grant: a back-end service authenticates as itself.
///
/// ```
/// use reqwest_oauth::{BodyFormat, ClientAuth, ClientCredentials};
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
    /// bodies and HTTP Basic client authentication, as RFC 6749 specifies.
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
    /// use reqwest_oauth::{ClientCredentials, ClientIdentity, TokenEndpoint};
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
    fn fetch<'a>(&'a self, request: &'a TokenRequest) -> BoxFuture<'a, Result<Token, Error>> {
        Box::pin(async move {
            let params = self.settings.params("client_credentials", &[], request);
            self.settings.endpoint.request(&params).await
        })
    }

    fn refresh<'a>(
        &'a self,
        _request: &'a TokenRequest,
        refresh_token: &'a str,
    ) -> Option<BoxFuture<'a, Result<Token, Error>>> {
        Some(self.settings.refresh(refresh_token))
    }

    fn check(&self) -> Result<(), Error> {
        self.settings.endpoint.check()
    }
}
