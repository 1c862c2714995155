//! The JWT bearer grant (RFC 7523 section 2.1): a signed JWT, the
//! authorization grant itself, traded for an access token.

use secrecy::{ExposeSecret, SecretString};

use super::TokenSource;
use super::grant::{GrantSettings, grant_setters};
use super::subject::SubjectToken;
use crate::endpoint::{ClientIdentity, TokenEndpoint};
use crate::{Error, FetchContext, Token};

/// The `grant_type` of the JWT bearer grant.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The JWT bearer grant (RFC 7523 2.1): an `assertion` (a JWT naming the
/// principal in `sub`) traded for an access token for the key's audience,
/// resource and scope.
///
/// The assertion is either supplied, read from a [`SubjectToken`] on every
/// fetch (a Kubernetes projected service account token, a CI runner's
/// OIDC token), or, with the `private-key-jwt` feature, signed afresh for
/// every fetch with a configured key ([`JwtBearer::signed`]: `iss`, `sub`,
/// `aud`, a new `jti`, `iat`, `exp`). Every renewal runs the grant again
/// with a new assertion; the middleware caches, shares and renews the
/// tokens as it does any grant's.
///
/// **One subject per grant**, and so per middleware (see
/// [`TokenExchange`](super::TokenExchange)); in fleet mode, put the subject
/// in the namespace.
///
/// ```
/// use reqwest_oauth::OAuthMiddleware;
/// use reqwest_oauth::endpoint::ClientIdentity;
/// use reqwest_oauth::grant::{JwtBearer, SubjectToken};
///
/// # fn demo() -> Result<(), reqwest_oauth::Error> {
/// // The pod's projected token, re-read whenever a token is fetched.
/// let grant = JwtBearer::new(
///     "https://auth.example.com/oauth/token",
///     ClientIdentity::public("payments"),
///     SubjectToken::file("/var/run/secrets/tokens/auth-example"),
/// )
/// .scope("ledger:write");
/// let oauth = OAuthMiddleware::new(grant);
/// # let _ = oauth;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JwtBearer {
    settings: GrantSettings,
    assertion: Assertion,
}

/// Where the assertion comes from.
#[derive(Debug, Clone)]
enum Assertion {
    Supplied(SubjectToken),
    #[cfg(feature = "private-key-jwt")]
    Signed(Box<SelfSigned>),
}

/// The claims a self-signed assertion carries besides `jti`, `iat`, `exp`.
#[cfg(feature = "private-key-jwt")]
#[derive(Debug, Clone)]
struct SelfSigned {
    key: crate::PrivateKeyJwt,
    issuer: String,
    subject: String,
    audience: Option<String>,
}

impl JwtBearer {
    /// The grant at `token_url` by `client`, with the assertion read from
    /// `assertion` on every fetch.
    pub fn new(
        token_url: impl Into<String>,
        client: ClientIdentity,
        assertion: SubjectToken,
    ) -> Self {
        Self::at(TokenEndpoint::new(token_url, client), assertion)
    }

    /// The grant at `endpoint`, with the assertion read from `assertion` on
    /// every fetch.
    pub fn at(endpoint: TokenEndpoint, assertion: SubjectToken) -> Self {
        JwtBearer {
            settings: GrantSettings::new(endpoint),
            assertion: Assertion::Supplied(assertion),
        }
    }

    /// The grant at `endpoint`, each assertion signed with `key`: `iss`
    /// `issuer`, `sub` `subject` (the principal the token is for), `aud`
    /// the token endpoint URL as configured (the issuer for a discovered
    /// endpoint) unless [`assertion_audience`](Self::assertion_audience)
    /// says otherwise, a fresh `jti`, and `exp` the key's
    /// [`assertion_lifetime`](crate::endpoint::PrivateKeyJwt::assertion_lifetime)
    /// away.
    ///
    /// ```
    /// use reqwest_oauth::endpoint::{ClientIdentity, PrivateKeyJwt, TokenEndpoint};
    /// use reqwest_oauth::grant::JwtBearer;
    ///
    /// let key = PrivateKeyJwt::es256_pem(&std::fs::read("tests/fixtures/ec_private.pem")?)?;
    /// let endpoint = TokenEndpoint::new(
    ///     "https://auth.example.com/oauth/token",
    ///     ClientIdentity::public("reporting"),
    /// );
    /// let grant = JwtBearer::signed(endpoint, key, "reporting", "svc-reporting@example.com");
    /// # let _ = grant;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    pub fn signed(
        endpoint: TokenEndpoint,
        key: crate::PrivateKeyJwt,
        issuer: impl Into<String>,
        subject: impl Into<String>,
    ) -> Self {
        let signed = SelfSigned {
            key,
            issuer: issuer.into(),
            subject: subject.into(),
            audience: None,
        };
        JwtBearer {
            settings: GrantSettings::new(endpoint),
            assertion: Assertion::Signed(Box::new(signed)),
        }
    }

    /// The `aud` of self-signed assertions, when the server wants another
    /// value than the token endpoint URL (its issuer identifier, say).
    /// Does nothing for a supplied assertion, whose claims are its maker's.
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    pub fn assertion_audience(mut self, audience: impl Into<String>) -> Self {
        if let Assertion::Signed(signed) = &mut self.assertion {
            signed.audience = Some(audience.into());
        }
        self
    }

    grant_setters!();

    /// The assertion for one token request.
    async fn assertion(&self) -> Result<SecretString, Error> {
        match &self.assertion {
            Assertion::Supplied(from) => from.read("assertion").await,
            #[cfg(feature = "private-key-jwt")]
            Assertion::Signed(signed) => {
                let audience = signed
                    .audience
                    .as_deref()
                    .unwrap_or(self.settings.endpoint.url());
                let jwt = signed
                    .key
                    .grant_assertion(&signed.issuer, &signed.subject, audience)?;
                Ok(SecretString::from(jwt))
            }
        }
    }
}

impl TokenSource for JwtBearer {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        let assertion = self.assertion().await?;
        let own = [("assertion", assertion.expose_secret())];
        let grant = self.settings.params(GRANT_TYPE, &own, cx.request())?;
        self.settings.endpoint.request(&grant).await
    }

    fn check(&self) -> Result<(), Error> {
        self.settings.check()?;
        match &self.assertion {
            Assertion::Supplied(from) => from.check(),
            #[cfg(feature = "private-key-jwt")]
            Assertion::Signed(_) => Ok(()),
        }
    }
}
