//! An issued access token: the secret, its pre-built header and its lifetime.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::HeaderValue;
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::attach::Binding;
use crate::error::TokenProblem;

/// An access token issued by a token endpoint.
///
/// The secret never shows in `Debug`; read it with [`Token::secret`]. The
/// `Authorization: Bearer …` header value is built once, when the token is
/// made, and marked sensitive so HTTP logging leaves it out.
///
/// A [`TokenSource`](crate::TokenSource) of your own makes one like this:
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use reqwest_oauth::Token;
///
/// let token = Token::bearer("opaque-token-value")?
///     .with_expires_in(Duration::from_secs(3600));
/// assert_eq!(token.secret(), "opaque-token-value");
/// assert!(!format!("{token:?}").contains("opaque-token-value"));
/// # Ok::<(), reqwest_oauth::Error>(())
/// ```
pub struct Token {
    /// `Bearer <token>`: the only copy of the secret, in a buffer that is
    /// zeroed when the last clone of the header is dropped.
    header: HeaderValue,
    issued_at: Instant,
    expires_in: Option<Duration>,
    /// What most tokens lack, kept out of line so a cached token stays small.
    details: Option<Box<Details>>,
    /// The DPoP key the token is bound to; `None` for a bearer token, the
    /// one thing attaching it checks.
    binding: Option<Arc<Binding>>,
}

#[derive(Default)]
struct Details {
    refresh_token: Option<SecretString>,
    scope: Option<String>,
    extra: serde_json::Map<String, serde_json::Value>,
    /// Read from a fleet's store: fetched by another process, possibly
    /// long ago, so never "fetched for this request" (see `is_shared`).
    shared: bool,
}

const BEARER_PREFIX: &str = "Bearer ";
#[cfg(feature = "dpop")]
const DPOP_PREFIX: &str = "DPoP ";

/// Owns the header bytes and zeroes them on drop.
struct ZeroizingBytes(Box<[u8]>);

impl AsRef<[u8]> for ZeroizingBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ZeroizingBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Token {
    /// A bearer token with no known lifetime, issued now.
    ///
    /// Fails with [`Error::InvalidToken`] unless the value can be sent as an
    /// RFC 6750 bearer credential: one or more visible ASCII characters, no
    /// whitespace. Checked here, so a token from any source (a grant, a
    /// closure, a store) is checked the same way, and a stray CR/LF can never
    /// inject a header.
    ///
    /// ```
    /// use reqwest_oauth::Token;
    /// use reqwest_oauth::error::TokenProblem;
    /// use reqwest_oauth::Error;
    ///
    /// assert!(Token::bearer("mF_9.B5f-4.1JqM").is_ok());
    /// assert!(matches!(
    ///     Token::bearer("two words"),
    ///     Err(Error::InvalidToken(TokenProblem::Whitespace { at: 3 }))
    /// ));
    /// ```
    pub fn bearer(access_token: impl Into<String>) -> Result<Self, Error> {
        let access_token = SecretString::from(access_token.into());
        let secret = access_token.expose_secret();
        check_credential(secret).map_err(Error::InvalidToken)?;
        Ok(Token {
            header: sensitive_header(BEARER_PREFIX, secret)?,
            issued_at: Instant::now(),
            expires_in: None,
            details: None,
            binding: None,
        })
    }

    /// Binds the token to a DPoP key (feature `dpop`): it is sent as
    /// `Authorization: DPoP <token>`, each request with a fresh proof
    /// signed by `key`. For a [`TokenSource`](crate::TokenSource) of your
    /// own whose server issued a DPoP-bound token (`token_type: DPoP`) for
    /// a request proven with `key`; the built-in grants do this themselves.
    ///
    /// ```
    /// use reqwest_oauth::Token;
    /// use reqwest_oauth::dpop::DpopKey;
    ///
    /// let key = DpopKey::generate()?;
    /// let token = Token::bearer("issued-for-key")?.dpop_bound(&key)?;
    /// assert_eq!(token.token_type(), "DPoP");
    /// assert_eq!(token.secret(), "issued-for-key");
    /// assert_eq!(token.header_value(), "DPoP issued-for-key");
    /// # Ok::<(), reqwest_oauth::Error>(())
    /// ```
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop_bound(mut self, key: &crate::dpop::DpopKey) -> Result<Self, Error> {
        // Owned (and zeroed on drop) so the header can be rebuilt from it.
        let secret = SecretString::from(self.secret().to_owned());
        self.header = sensitive_header(DPOP_PREFIX, secret.expose_secret())?;
        let binding = Binding::new(key.clone(), secret.expose_secret(), self.header.clone());
        self.binding = Some(Arc::new(binding));
        Ok(self)
    }

    /// The DPoP key binding, if the token has one.
    pub(crate) fn binding(&self) -> Option<&Arc<Binding>> {
        self.binding.as_ref()
    }

    /// The thumbprint of the DPoP key the token is bound to, if it is.
    pub(crate) fn dpop_thumbprint(&self) -> Option<&str> {
        self.binding.as_deref().map(Binding::thumbprint)
    }

    /// `"DPoP"` for a token bound to a DPoP key, else `"Bearer"`: the
    /// scheme of its `Authorization` header.
    pub fn token_type(&self) -> &'static str {
        match self.binding {
            Some(_) => "DPoP",
            None => "Bearer",
        }
    }

    /// Sets the lifetime, counted from [`Token::issued_at`].
    pub fn with_expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = Some(expires_in);
        self
    }

    /// Sets the lifetime from an absolute expiry, as some endpoints send it
    /// (`"expires_at": "2014-05-19T13:31:05Z"`). Converted once to a lifetime
    /// on the monotonic clock, measured from `server_now` (the response's
    /// `Date`, see [`server_date`](crate::expiry::server_date)) when known, so a
    /// skewed local clock does not distort it.
    pub fn with_expires_at(
        mut self,
        expires_at: SystemTime,
        server_now: Option<SystemTime>,
    ) -> Self {
        self.expires_in = Some(crate::expiry::lifetime_until(expires_at, server_now));
        self
    }

    /// Sets the moment the lifetime is counted from. Sources set it to the
    /// moment the token request was sent, so network delay never makes the
    /// token look fresher than it is.
    pub fn with_issued_at(mut self, issued_at: Instant) -> Self {
        self.issued_at = issued_at;
        self
    }

    /// Sets the refresh token that came with this token.
    pub fn with_refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.details_mut().refresh_token = Some(SecretString::from(refresh_token.into()));
        self
    }

    /// Sets the scope the server granted.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.details_mut().scope = Some(scope.into());
        self
    }

    /// Keeps fields of the token response that this type has no place for.
    pub fn with_extra(mut self, extra: serde_json::Map<String, serde_json::Value>) -> Self {
        if !extra.is_empty() {
            self.details_mut().extra = extra;
        }
        self
    }

    /// Marks the token as read from a fleet's shared store. The flag lives
    /// out of line, so a token fetched by this process stays as small.
    pub(crate) fn shared(mut self) -> Self {
        self.details_mut().shared = true;
        self
    }

    /// Whether the token was read from a fleet's store rather than fetched
    /// by this process: the cache then lets a rejection of it be renewed.
    pub(crate) fn is_shared(&self) -> bool {
        self.details.as_ref().is_some_and(|details| details.shared)
    }

    fn details_mut(&mut self) -> &mut Details {
        self.details.get_or_insert_with(Box::default)
    }

    /// The access token itself. Handle with care: it is a password.
    pub fn secret(&self) -> &str {
        // The header was built from a `String`, so the part after the
        // prefix is valid UTF-8; the fallback is never taken.
        // The scheme and its space: "Bearer " or "DPoP ".
        let prefix = self.token_type().len() + 1;
        let bytes = self.header.as_bytes().get(prefix..).unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// The refresh token, if the server issued one.
    pub fn refresh_token(&self) -> Option<&str> {
        let details = self.details.as_ref()?;
        details.refresh_token.as_ref().map(|t| t.expose_secret())
    }

    /// When the lifetime starts (monotonic clock).
    pub fn issued_at(&self) -> Instant {
        self.issued_at
    }

    /// The lifetime the server announced, if any.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_in
    }

    /// Whether the token was already dead when it arrived: a lifetime of
    /// zero (an `expires_in` that floors to 0 or below, an absolute expiry
    /// in the past). Such a token is handed to the requests that waited for
    /// its fetch, but is not worth keeping for later ones.
    pub(crate) fn is_spent(&self) -> bool {
        self.expires_in == Some(Duration::ZERO)
    }

    /// The granted scope, if the server said.
    pub fn scope(&self) -> Option<&str> {
        self.details.as_ref()?.scope.as_deref()
    }

    /// Fields of the token response not covered by the methods above.
    pub fn extra(&self) -> &serde_json::Map<String, serde_json::Value> {
        static EMPTY: std::sync::OnceLock<serde_json::Map<String, serde_json::Value>> =
            std::sync::OnceLock::new();
        match &self.details {
            Some(details) => &details.extra,
            None => EMPTY.get_or_init(serde_json::Map::new),
        }
    }

    /// The `Authorization` header value, built once and marked sensitive.
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
}

/// `<prefix><secret>` as a sensitive header value, in a buffer zeroed on drop.
fn sensitive_header(prefix: &str, secret: &str) -> Result<HeaderValue, Error> {
    let mut bytes = Vec::with_capacity(prefix.len() + secret.len());
    bytes.extend_from_slice(prefix.as_bytes());
    bytes.extend_from_slice(secret.as_bytes());
    let shared = Bytes::from_owner(ZeroizingBytes(bytes.into_boxed_slice()));
    // Visible ASCII always makes a valid header value; the error arm is
    // kept rather than a panic.
    let mut header = HeaderValue::from_maybe_shared(shared)
        .map_err(|_| Error::InvalidToken(TokenProblem::Control { at: 0 }))?;
    header.set_sensitive(true);
    Ok(header)
}

/// Whether `token` can be sent as an RFC 6750 bearer credential: at least
/// one character, each visible ASCII (`!` to `~`); the first offence is
/// named with its byte position (never the token itself).
fn check_credential(token: &str) -> Result<(), TokenProblem> {
    if token.is_empty() {
        return Err(TokenProblem::Empty);
    }
    for (at, c) in token.char_indices() {
        match c {
            '!'..='~' => {}
            c if c.is_whitespace() => return Err(TokenProblem::Whitespace { at }),
            c if c.is_ascii() => return Err(TokenProblem::Control { at }),
            _ => return Err(TokenProblem::NonAscii { at }),
        }
    }
    Ok(())
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type())
            .field("issued_at", &self.issued_at)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token().map(|_| "[redacted]"))
            .field("scope", &self.scope())
            .field("extra", &self.extra().keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_ascii_tokens_are_accepted_and_the_problem_is_named() {
        for ok in ["a", "mF_9.B5f-4.1JqM", "abc==", "x:y!~"] {
            assert!(Token::bearer(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("", TokenProblem::Empty),
            ("a b", TokenProblem::Whitespace { at: 1 }),
            ("ab\t", TokenProblem::Whitespace { at: 2 }),
            ("a\r\nX-Evil: 1", TokenProblem::Whitespace { at: 1 }),
            ("a\u{7f}", TokenProblem::Control { at: 1 }),
            ("a\u{0}", TokenProblem::Control { at: 1 }),
            ("t\u{e9}", TokenProblem::NonAscii { at: 1 }),
            ("a\u{a0}b", TokenProblem::Whitespace { at: 1 }),
        ];
        for (token, problem) in cases {
            match Token::bearer(token) {
                Err(Error::InvalidToken(found)) => assert_eq!(found, problem, "{token:?}"),
                other => panic!("{token:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_zero_lifetime_is_spent() {
        let token = Token::bearer("a").expect("token");
        assert!(!token.is_spent());
        assert!(token.with_expires_in(Duration::ZERO).is_spent());
    }
}
