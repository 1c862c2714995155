//! The client credentials grant (RFC 6749 section 4.4).

use super::TokenSource;
use super::grant::{GrantSettings, grant_setters};
use super::refresh::refresh_or_grant;
use crate::{Error, FetchContext, Token, TokenEndpoint};

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
    /// The grant against `token_url`, with form bodies and HTTP Basic client
    /// authentication, as RFC 6749 specifies.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let endpoint = TokenEndpoint::new(token_url).client(client_id, Some(client_secret.into()));
        ClientCredentials {
            settings: GrantSettings::new(endpoint),
        }
    }

    /// The grant against the token endpoint that `issuer`'s metadata names
    /// (see [`TokenEndpoint::discover`]), found on first use.
    pub fn discover(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let endpoint =
            TokenEndpoint::discover(issuer).client(client_id, Some(client_secret.into()));
        ClientCredentials {
            settings: GrantSettings::new(endpoint),
        }
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
        let endpoint = TokenEndpoint::new(token_url)
            .client(client_id, None)
            .private_key_jwt(key);
        ClientCredentials {
            settings: GrantSettings::new(endpoint),
        }
    }

    grant_setters!();
}

impl TokenSource for ClientCredentials {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        let endpoint = &self.settings.endpoint;
        refresh_or_grant(endpoint, cx, || async {
            let grant = [("grant_type", "client_credentials")];
            let params = self.settings.params(&grant, cx.request());
            endpoint.request(&params).await
        })
        .await
    }

    fn check(&self) -> Result<(), Error> {
        self.settings.endpoint.check()
    }
}
