//! The token exchange grant (RFC 8693): a credential the service holds (a
//! workload's platform token, a user's token) traded for a token for
//! another audience.

use http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::TokenSource;
use super::grant::{GrantSettings, grant_setters};
use super::subject::SubjectToken;
use crate::endpoint::{ClientIdentity, TokenEndpoint};
use crate::{Error, FetchContext, Token};

/// The `grant_type` of a token exchange.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token exchange grant (RFC 8693): a `subject_token` (and optionally
/// an `actor_token`) traded for a token for the key's audience, resource
/// and scope.
///
/// On every fetch (first use, refresh ahead, after a rejection) the
/// subject is read again from its [`SubjectToken`] and the exchange runs
/// again: the new token then reflects the subject as it is now, and a
/// rotated subject token is never stale. A refresh token in the answer is
/// not used. The middleware caches, shares and renews the exchanged
/// tokens as it does any grant's.
///
/// **One subject per grant**, and so per middleware: its cache keys are
/// audience, scope and resource, so every token it holds was issued for
/// this grant's subject. To act for several users, build one grant and
/// middleware per user. In fleet mode, put the subject in the namespace
/// ([`SubjectToken::name`], or the user's id).
///
/// The answer's `issued_token_type` is checked: it must be present (RFC
/// 8693 2.2.1), and equal the
/// [`requested_token_type`](Self::requested_token_type) when one was
/// asked for; otherwise the answer is an
/// [`Error::InvalidTokenResponse`]. When the issued token is not an
/// access token (an ID token or a JWT, say) the server may send
/// `token_type: N_A`; the token is accepted and the middleware attaches
/// it as it attaches any token, `Authorization: Bearer <issued token>`,
/// the form APIs that take such tokens expect. Its `token_type` stays in
/// [`Token::extra`], next to `issued_token_type`.
///
/// ```
/// use reqwest_oauth::OAuthMiddleware;
/// use reqwest_oauth::endpoint::ClientIdentity;
/// use reqwest_oauth::grant::{SubjectToken, TokenExchange};
///
/// # fn demo(user_token: String) -> Result<(), reqwest_oauth::Error> {
/// // A user's token, exchanged for one the orders API accepts.
/// let grant = TokenExchange::new(
///     "https://sts.example.com/oauth/token",
///     ClientIdentity::secret("gateway", "gateway-secret"),
///     SubjectToken::fixed(user_token).named("user 42"),
///     TokenExchange::ACCESS_TOKEN,
/// )
/// .requested_token_type(TokenExchange::ACCESS_TOKEN)
/// .scope("orders:read");
/// let oauth = OAuthMiddleware::builder(grant)
///     .audience("https://orders.example.com")
///     .build()?;
/// # let _ = oauth;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TokenExchange {
    settings: GrantSettings,
    subject: SubjectToken,
    subject_type: String,
    actor: Option<(SubjectToken, String)>,
    requested_type: Option<String>,
}

impl TokenExchange {
    /// Token type URI of an OAuth access token.
    pub const ACCESS_TOKEN: &'static str = "urn:ietf:params:oauth:token-type:access_token";
    /// Token type URI of an OAuth refresh token.
    pub const REFRESH_TOKEN: &'static str = "urn:ietf:params:oauth:token-type:refresh_token";
    /// Token type URI of an OpenID Connect ID token.
    pub const ID_TOKEN: &'static str = "urn:ietf:params:oauth:token-type:id_token";
    /// Token type URI of a JWT (a Kubernetes service account token, a CI
    /// runner's OIDC token).
    pub const JWT: &'static str = "urn:ietf:params:oauth:token-type:jwt";
    /// Token type URI of a base64url-encoded SAML 2.0 assertion.
    pub const SAML2: &'static str = "urn:ietf:params:oauth:token-type:saml2";

    /// The exchange at `token_url` by `client`, trading `subject`, a token
    /// of type `subject_token_type` (one of the constants, or any URI the
    /// server knows).
    pub fn new(
        token_url: impl Into<String>,
        client: ClientIdentity,
        subject: SubjectToken,
        subject_token_type: impl Into<String>,
    ) -> Self {
        let endpoint = TokenEndpoint::new(token_url, client);
        Self::at(endpoint, subject, subject_token_type)
    }

    /// The exchange at `endpoint` (which carries the client's identity and
    /// may be discovered).
    pub fn at(
        endpoint: TokenEndpoint,
        subject: SubjectToken,
        subject_token_type: impl Into<String>,
    ) -> Self {
        TokenExchange {
            settings: GrantSettings::new(endpoint),
            subject,
            subject_type: subject_token_type.into(),
            actor: None,
            requested_type: None,
        }
    }

    /// Adds an `actor_token` of type `actor_token_type`: the party acting
    /// for the subject (delegation, RFC 8693 1.1). Read on every fetch,
    /// like the subject.
    pub fn actor(mut self, actor: SubjectToken, actor_token_type: impl Into<String>) -> Self {
        self.actor = Some((actor, actor_token_type.into()));
        self
    }

    /// Asks for a token of this type (`requested_token_type`); the
    /// answer's `issued_token_type` must then be the same. Without it the
    /// server chooses (usually an access token).
    pub fn requested_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.requested_type = Some(token_type.into());
        self
    }

    /// Where the subject token comes from.
    pub fn subject(&self) -> &SubjectToken {
        &self.subject
    }

    grant_setters!();

    /// The answer, if its `issued_token_type` is what was asked for.
    fn checked(&self, token: Token) -> Result<Token, Error> {
        let unusable = |reason: String| Error::InvalidTokenResponse {
            status: StatusCode::OK,
            reason,
        };
        let issued = match token.extra().get("issued_token_type") {
            Some(Value::String(issued)) => issued,
            Some(_) => return Err(unusable("`issued_token_type` is not a string".into())),
            None => return Err(unusable("the body has no `issued_token_type`".into())),
        };
        match &self.requested_type {
            Some(requested) if requested != issued => Err(unusable(format!(
                "asked for a {requested:?} token, issued a {issued:?} one"
            ))),
            _ => Ok(token),
        }
    }
}

impl TokenSource for TokenExchange {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        let subject = self.subject.read("subject token").await?;
        let actor = match &self.actor {
            Some((actor, kind)) => Some((actor.read("actor token").await?, kind)),
            None => None,
        };
        let mut own = vec![
            ("subject_token", subject.expose_secret()),
            ("subject_token_type", self.subject_type.as_str()),
        ];
        if let Some((token, kind)) = &actor {
            own.push(("actor_token", token.expose_secret()));
            own.push(("actor_token_type", kind.as_str()));
        }
        if let Some(requested) = &self.requested_type {
            own.push(("requested_token_type", requested.as_str()));
        }
        let grant = self.settings.params(GRANT_TYPE, &own, cx.request())?;
        let token = self.settings.endpoint.request(&grant).await?;
        self.checked(token)
    }

    fn check(&self) -> Result<(), Error> {
        self.settings.check()?;
        self.subject.check()?;
        self.actor
            .as_ref()
            .map_or(Ok(()), |(actor, _)| actor.check())
    }
}
