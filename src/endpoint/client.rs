//! Who the client is and how it proves it (RFC 6749 2.3): one identity, one
//! authentication method, turned into a Basic header or body fields.

use std::borrow::Cow;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::scrub::Sent;

/// How a client with a secret sends it to the token endpoint (RFC 6749 2.3.1).
///
/// Only a [`ClientIdentity::Secret`] has a choice; a public client sends its
/// `client_id` in the body and a `private_key_jwt` client a signed assertion.
///
/// ```
/// use reqwest_oauth::ClientCredentials;
/// use reqwest_oauth::endpoint::ClientAuth;
///
/// // `client_id` and `client_secret` in the body instead of a Basic header.
/// let grant = ClientCredentials::new("https://auth.example.com/token", "id", "secret")
///     .client_auth(ClientAuth::Body);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// Works out of the box (the default when nothing is chosen and
    /// discovery does not decide): HTTP Basic ([`ClientAuth::Basic`]) first;
    /// if the token endpoint answers `invalid_client` or `401`, the same
    /// request once more with the secret in the body; what worked is then
    /// used for every later request to that endpoint. Deployed servers
    /// disagree on how Basic credentials are decoded, so a secret with `:`,
    /// `+`, `%`, `/` or a space fails Basic on some of them.
    #[default]
    AutoDetect,
    /// HTTP Basic with the id and secret each form-urlencoded first, as
    /// RFC 6749 2.3.1 specifies. The secret is never also sent in the body.
    Basic,
    /// HTTP Basic with the id and secret as they are, not encoded first, as
    /// many deployed servers expect (they differ from [`ClientAuth::Basic`]
    /// only for ids or secrets with characters other than `A-Z a-z 0-9 - . _ *`).
    BasicUnencoded,
    /// HTTP Basic with the id and secret percent-encoded (RFC 3986: all but
    /// `A-Z a-z 0-9 - . _ ~`), as some servers decode them.
    BasicPercentEncoded,
    /// `client_id` and `client_secret` as body parameters.
    Body,
}

impl ClientAuth {
    /// The method a server's `token_endpoint_auth_methods_supported` asks
    /// for: the one it lists, or, when it lists both, Basic first with the
    /// body as fallback ([`ClientAuth::AutoDetect`]); `None` when it lists
    /// neither.
    pub(super) fn from_supported(methods: &[String]) -> Option<ClientAuth> {
        let supports = |method: &str| methods.iter().any(|m| m == method);
        match (
            supports("client_secret_basic"),
            supports("client_secret_post"),
        ) {
            (true, true) => Some(ClientAuth::AutoDetect),
            (true, false) => Some(ClientAuth::Basic),
            (false, true) => Some(ClientAuth::Body),
            (false, false) => None,
        }
    }

    /// The id or secret as it goes inside the Basic credentials, or `None`
    /// for body authentication.
    fn basic_encode(self, value: &str) -> Option<String> {
        match self {
            ClientAuth::Basic => Some(form_urlencoded::byte_serialize(value.as_bytes()).collect()),
            ClientAuth::BasicUnencoded => Some(value.to_owned()),
            ClientAuth::BasicPercentEncoded => {
                Some(percent_encoding::utf8_percent_encode(value, RFC3986_RESERVED).to_string())
            }
            // AutoDetect is resolved to Basic or Body before a proof is
            // made; reaching here means body, which every server accepts.
            ClientAuth::Body | ClientAuth::AutoDetect => None,
        }
    }
}

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const RFC3986_RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Who the client is and how it authenticates: exactly one method per
/// client, so a request can never carry two (RFC 6749 2.3 allows one).
///
/// ```
/// use reqwest_oauth::endpoint::{ClientAuth, ClientIdentity, TokenEndpoint};
///
/// // A confidential client; auto-detected unless set (or discovery says so).
/// let secret = ClientIdentity::secret("my-client", "my-secret").auth(ClientAuth::Body);
/// // A public client: only its id, in the body.
/// let public = ClientIdentity::public("spa");
/// let endpoint = TokenEndpoint::new("https://auth.example.com/oauth/token", secret);
/// # let _ = (endpoint, public);
/// ```
///
/// A secret cannot be added to another identity, nor a second identity to
/// an endpoint: there is no spelling for two methods.
///
/// ```compile_fail
/// use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
///
/// let endpoint = TokenEndpoint::new("https://auth.example.com/token", ClientIdentity::public("id"))
///     .client("id", Some("secret".to_owned()));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientIdentity {
    /// A public client (RFC 6749 2.1): `client_id` in the body, no secret.
    Public {
        /// The `client_id`.
        id: String,
    },
    /// A confidential client with a shared secret (`client_secret_basic` or
    /// `client_secret_post`). An empty secret is not sent: the request
    /// carries `client_id` in the body, as for a public client.
    Secret {
        /// The `client_id`.
        id: String,
        /// The `client_secret`.
        secret: SecretString,
        /// How the secret is sent; `None` follows the server's discovery
        /// metadata when the endpoint was discovered, else
        /// [`ClientAuth::AutoDetect`]. A choice made here never probes.
        auth: Option<ClientAuth>,
    },
    /// A client proving itself with a signed JWT (`private_key_jwt`,
    /// RFC 7523 2.2): `client_id`, `client_assertion_type` and a fresh
    /// `client_assertion` in the body of every request.
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    PrivateKeyJwt {
        /// The `client_id`, also the assertion's `iss` and `sub`.
        id: String,
        /// The key that signs each assertion.
        key: crate::PrivateKeyJwt,
    },
}

impl ClientIdentity {
    /// A public client: only its id is sent.
    pub fn public(id: impl Into<String>) -> Self {
        ClientIdentity::Public { id: id.into() }
    }

    /// A confidential client with a secret, sent as the server prefers (see
    /// [`ClientIdentity::Secret`]'s `auth`) unless [`auth`](Self::auth) says.
    pub fn secret(id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientIdentity::Secret {
            id: id.into(),
            secret: SecretString::from(secret.into()),
            auth: None,
        }
    }

    /// A client authenticated by assertions signed with `key`.
    #[cfg(feature = "private-key-jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "private-key-jwt")))]
    pub fn private_key_jwt(id: impl Into<String>, key: crate::PrivateKeyJwt) -> Self {
        ClientIdentity::PrivateKeyJwt { id: id.into(), key }
    }

    /// Sets how a secret is sent. Only a [`ClientIdentity::Secret`] has a
    /// secret to send; the other identities are returned unchanged.
    pub fn auth(mut self, method: ClientAuth) -> Self {
        if let ClientIdentity::Secret { auth, .. } = &mut self {
            *auth = Some(method);
        }
        self
    }

    /// The `client_id`.
    pub fn id(&self) -> &str {
        match self {
            ClientIdentity::Public { id } | ClientIdentity::Secret { id, .. } => id,
            #[cfg(feature = "private-key-jwt")]
            ClientIdentity::PrivateKeyJwt { id, .. } => id,
        }
    }

    /// The method chosen for a secret, if one was.
    pub(super) fn chosen_auth(&self) -> Option<ClientAuth> {
        match self {
            ClientIdentity::Secret { auth, .. } => *auth,
            _ => None,
        }
    }

    /// Whether there is a secret to send, so the method matters: an empty
    /// secret is treated as no secret (a public client).
    pub(super) fn has_secret(&self) -> bool {
        matches!(self, ClientIdentity::Secret { secret, .. } if !secret.expose_secret().is_empty())
    }

    /// What one request carries to prove this identity to `token_url`, with
    /// `auth` the method resolved for a secret.
    #[cfg_attr(not(feature = "private-key-jwt"), allow(unused_variables))]
    pub(super) fn prove(
        &self,
        auth: ClientAuth,
        token_url: &reqwest::Url,
    ) -> Result<Proof<'_>, Error> {
        Ok(match self {
            ClientIdentity::Public { id } => Proof::Body(vec![borrowed("client_id", id)]),
            // An empty secret proves nothing and some servers reject
            // `client_secret=`: sent as a public client.
            ClientIdentity::Secret { id, .. } if !self.has_secret() => {
                Proof::Body(vec![borrowed("client_id", id)])
            }
            ClientIdentity::Secret { id, secret, .. } => {
                let secret = secret.expose_secret();
                match (auth.basic_encode(id), auth.basic_encode(secret)) {
                    (Some(user), Some(password)) => Proof::Basic {
                        user,
                        password,
                        secret,
                    },
                    _ => Proof::Body(vec![
                        borrowed("client_id", id),
                        borrowed("client_secret", secret),
                    ]),
                }
            }
            #[cfg(feature = "private-key-jwt")]
            ClientIdentity::PrivateKeyJwt { id, key } => Proof::Body(vec![
                borrowed("client_assertion_type", crate::assertion::JWT_BEARER),
                (
                    "client_assertion",
                    Cow::Owned(key.assertion(id, token_url.as_str())?),
                ),
                borrowed("client_id", id),
            ]),
        })
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIdentity::Public { id } => f.debug_struct("Public").field("id", id).finish(),
            ClientIdentity::Secret { id, auth, .. } => f
                .debug_struct("Secret")
                .field("id", id)
                .field("secret", &"[redacted]")
                .field("auth", auth)
                .finish(),
            #[cfg(feature = "private-key-jwt")]
            ClientIdentity::PrivateKeyJwt { id, key } => f
                .debug_struct("PrivateKeyJwt")
                .field("id", id)
                .field("key", key)
                .finish(),
        }
    }
}

/// What one request carries to authenticate the client: a Basic header's
/// user and password, or body fields; one or the other, never both.
pub(super) enum Proof<'a> {
    /// The user and password of an `Authorization: Basic` header, encoded,
    /// and the secret before encoding (what a server that decodes echoes).
    Basic {
        user: String,
        password: String,
        secret: &'a str,
    },
    /// Body parameters, sent before the grant's own.
    Body(Vec<(&'static str, Cow<'a, str>)>),
}

impl Proof<'_> {
    /// Notes the credentials this proof carries, to be scrubbed from
    /// whatever the server answers.
    pub(super) fn note<'s>(&'s self, sent: &mut Sent<'s>) {
        match self {
            Proof::Basic {
                user,
                password,
                secret,
            } => {
                sent.secret(secret);
                sent.basic(user, password);
            }
            Proof::Body(fields) => {
                for (name, value) in fields {
                    sent.param(name, value);
                }
            }
        }
    }
}

fn borrowed<'a>(name: &'static str, value: &'a str) -> (&'static str, Cow<'a, str>) {
    (name, Cow::Borrowed(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> reqwest::Url {
        reqwest::Url::parse("https://auth.example.com/token").expect("url")
    }

    fn body(proof: Proof<'_>) -> Vec<(&'static str, String)> {
        match proof {
            Proof::Basic { .. } => panic!("expected body fields"),
            Proof::Body(fields) => fields
                .into_iter()
                .map(|(k, v)| (k, v.into_owned()))
                .collect(),
        }
    }

    #[test]
    fn a_secret_goes_in_basic_or_in_the_body_never_both() {
        let identity = ClientIdentity::secret("my id", "p@ss");
        match identity.prove(ClientAuth::Basic, &url()).expect("proof") {
            Proof::Basic { user, password, .. } => {
                assert_eq!((user, password), ("my+id".into(), "p%40ss".into()))
            }
            Proof::Body(_) => panic!("expected Basic"),
        }
        assert_eq!(
            body(identity.prove(ClientAuth::Body, &url()).expect("proof")),
            [
                ("client_id", "my id".into()),
                ("client_secret", "p@ss".into())
            ]
        );
    }

    #[test]
    fn a_public_client_sends_only_its_id_and_ignores_auth() {
        let identity = ClientIdentity::public("spa").auth(ClientAuth::Body);
        assert_eq!(identity.chosen_auth(), None);
        assert_eq!(
            body(identity.prove(ClientAuth::Basic, &url()).expect("proof")),
            [("client_id", "spa".into())]
        );
    }

    #[test]
    fn the_servers_list_prefers_basic_then_post() {
        let list = |methods: &[&str]| methods.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            ClientAuth::from_supported(&list(&["client_secret_post", "client_secret_basic"])),
            Some(ClientAuth::AutoDetect)
        );
        assert_eq!(
            ClientAuth::from_supported(&list(&["client_secret_basic"])),
            Some(ClientAuth::Basic)
        );
        assert_eq!(
            ClientAuth::from_supported(&list(&["private_key_jwt", "client_secret_post"])),
            Some(ClientAuth::Body)
        );
        assert_eq!(
            ClientAuth::from_supported(&list(&["tls_client_auth"])),
            None
        );
    }

    #[test]
    fn an_empty_secret_is_omitted_as_for_a_public_client() {
        let identity = ClientIdentity::secret("svc", "");
        assert!(!identity.has_secret());
        for auth in [ClientAuth::Body, ClientAuth::Basic, ClientAuth::AutoDetect] {
            assert_eq!(
                body(identity.prove(auth, &url()).expect("proof")),
                [("client_id", "svc".into())]
            );
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let identity = ClientIdentity::secret("id", "hunter2").auth(ClientAuth::Body);
        let shown = format!("{identity:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
