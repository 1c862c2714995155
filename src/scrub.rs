//! What a token request sent never comes back in what the server said.
//!
//! Servers, proxies and framework debug pages echo bad requests ("could not
//! parse: client_secret=…"), so anything a token endpoint answers may hold
//! the credentials the request carried. [`Sent`] gathers those credentials
//! where the request is authenticated and encoded (borrowed, so a request
//! that succeeds pays nothing); on an error, every spelling of them an echo
//! may use is replaced in all server-supplied text before that text enters
//! an [`Error`] (and so any event that shows one).

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::zeroize::Zeroizing;

use crate::Error;
use crate::error::{EndpointError, ErrorCode};

/// What replaces a credential in server text.
pub(crate) const REDACTED: &str = "[redacted]";

/// The shortest start of a credential hidden at the cut end of a snippet:
/// a truncated quote must not leave most of a secret showing.
const MIN_TAIL: usize = 4;

/// Parameter names whose values are credentials, beyond the name patterns
/// in [`is_secret_param`].
const SECRET_PARAMS: [&str; 3] = ["code", "code_verifier", "device_code"];

/// Name parts that mark a parameter as a credential (`client_secret`,
/// `password`, `refresh_token`, `client_assertion`, `subject_token`, …).
const SECRET_PARTS: [&str; 5] = ["secret", "password", "token", "assertion", "key"];

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What JavaScript's `encodeURIComponent` leaves alone.
const URI_COMPONENT: &AsciiSet = &RFC3986
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The credentials one token request carried.
#[derive(Default)]
pub(crate) struct Sent<'a> {
    values: Vec<&'a str>,
    basic: Option<(&'a str, &'a str)>,
}

/// Whether a body parameter's value is a credential.
pub(crate) fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if name.ends_with("_type") {
        // `client_assertion_type`, `subject_token_type`: a URN, not a secret.
        return false;
    }
    SECRET_PARAMS.contains(&name.as_str()) || SECRET_PARTS.iter().any(|part| name.contains(part))
}

impl<'a> Sent<'a> {
    /// Notes a body parameter; kept only if its name marks a credential.
    pub(crate) fn param(&mut self, name: &str, value: &'a str) {
        if is_secret_param(name) {
            self.secret(value);
        }
    }

    /// Notes a credential sent in any form (the raw client secret behind a
    /// Basic header, for one).
    pub(crate) fn secret(&mut self, value: &'a str) {
        if !value.is_empty() {
            self.values.push(value);
        }
    }

    /// Notes the user and password of the `Authorization: Basic` header, as
    /// encoded into it.
    pub(crate) fn basic(&mut self, user: &'a str, password: &'a str) {
        self.secret(password);
        self.basic = Some((user, password));
    }

    /// Whether anything is to be scrubbed.
    fn is_empty(&self) -> bool {
        self.values.is_empty() && self.basic.is_none()
    }

    /// `body` with every spelling of what was sent replaced, before it is
    /// parsed: a quote cut short later can then not hold part of a secret.
    pub(crate) fn body<'b>(&self, body: &'b [u8]) -> Cow<'b, [u8]> {
        if self.is_empty() {
            return Cow::Borrowed(body);
        }
        match self.spellings().replace(body) {
            Some(scrubbed) => Cow::Owned(scrubbed),
            None => Cow::Borrowed(body),
        }
    }

    /// `error` with every spelling of what was sent replaced in the text the
    /// server supplied.
    pub(crate) fn error(&self, error: Error) -> Error {
        if self.is_empty() {
            return error;
        }
        let spellings = self.spellings();
        match error {
            Error::TokenEndpoint(refused) => {
                let mut refused = Arc::unwrap_or_clone(refused);
                spellings.endpoint_error(&mut refused);
                Error::TokenEndpoint(Arc::new(refused))
            }
            Error::UnsupportedTokenType(kind) => Error::UnsupportedTokenType(spellings.text(kind)),
            Error::InvalidTokenResponse { status, reason } => Error::InvalidTokenResponse {
                status,
                reason: spellings.text(reason),
            },
            Error::InvalidExpiry { field, reason } => Error::InvalidExpiry {
                field: spellings.text(field),
                reason: spellings.text(reason),
            },
            other => other,
        }
    }

    /// Every spelling an echo may give a sent credential: as sent, and
    /// through any one or two of the encodings in [`encodings`]; the Basic
    /// header's value decoded and in base64 likewise. Longest first, so the
    /// longest match wins.
    fn spellings(&self) -> Spellings {
        let mut bases: Vec<Zeroizing<String>> = self
            .values
            .iter()
            .map(|v| Zeroizing::new((*v).to_owned()))
            .collect();
        if let Some((user, password)) = self.basic {
            let decoded = Zeroizing::new(format!("{user}:{password}"));
            // Padded and not: an echo may drop the `=`.
            bases.push(Zeroizing::new(STANDARD.encode(decoded.as_bytes())));
            bases.push(Zeroizing::new(STANDARD_NO_PAD.encode(decoded.as_bytes())));
            bases.push(decoded);
        }
        Spellings::new(spell_all(&bases))
    }
}

/// `bases` as they are and through any one or two [`encodings`]: the
/// request body's own (form, JSON, Basic), then the echo's (a JSON string,
/// a URL, an HTML page). Longest first, without duplicates (ASCII case
/// ignored, as matching does).
fn spell_all(bases: &[Zeroizing<String>]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut all: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut add = |text: &str| {
        if !text.is_empty() {
            all.push(Zeroizing::new(text.as_bytes().to_vec()));
        }
    };
    for base in bases {
        add(base);
        for once in encodings(base) {
            add(&once);
            for twice in encodings(&once) {
                add(&twice);
            }
        }
    }
    all.sort_by(|a, b| {
        b.len().cmp(&a.len()).then_with(|| {
            a.iter()
                .map(u8::to_ascii_lowercase)
                .cmp(b.iter().map(u8::to_ascii_lowercase))
        })
    });
    all.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    all
}

/// Every way one encoding may spell `value`: form-urlencoded,
/// percent-encoded (RFC 3986, and as `encodeURIComponent` writes it),
/// inside a JSON string (three ways) and HTML-escaped.
fn encodings(value: &str) -> [Zeroizing<String>; 7] {
    let [json, ascii, php] = json_escapes(value);
    let html = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    [
        Zeroizing::new(form_urlencoded::byte_serialize(value.as_bytes()).collect()),
        Zeroizing::new(utf8_percent_encode(value, RFC3986).to_string()),
        Zeroizing::new(utf8_percent_encode(value, URI_COMPONENT).to_string()),
        json,
        ascii,
        php,
        Zeroizing::new(html),
    ]
}

/// A value inside a JSON string: as serde writes it, with non-ASCII as
/// `\u` escapes (as Python does), and with `/` escaped too (as PHP does).
fn json_escapes(value: &str) -> [Zeroizing<String>; 3] {
    let quoted = Zeroizing::new(serde_json::to_string(value).unwrap_or_default());
    let json = quoted
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or_default();
    let mut ascii = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    let php = ascii.replace('/', "\\/");
    [
        Zeroizing::new(json.to_owned()),
        Zeroizing::new(ascii),
        Zeroizing::new(php),
    ]
}

/// The spellings to look for, longest first; zeroed when dropped.
struct Spellings {
    all: Vec<Zeroizing<Vec<u8>>>,
    /// Indexes into `all` by lowercased first byte, so the scan tries only
    /// the spellings that can start where it stands.
    by_first: Vec<Vec<usize>>,
}

impl Spellings {
    fn new(all: Vec<Zeroizing<Vec<u8>>>) -> Self {
        let mut by_first = vec![Vec::new(); 256];
        for (index, spelling) in all.iter().enumerate() {
            if let Some(first) = spelling.first() {
                by_first[usize::from(first.to_ascii_lowercase())].push(index);
            }
        }
        Spellings { all, by_first }
    }

    /// Scrubs every server-supplied text of an endpoint error.
    fn endpoint_error(&self, refused: &mut EndpointError) {
        for field in [
            &mut refused.description,
            &mut refused.message,
            &mut refused.uri,
            &mut refused.content_type,
        ] {
            *field = field.take().map(|text| self.text(text));
        }
        refused.body_snippet = refused
            .body_snippet
            .take()
            .map(|text| self.tail(self.text(text)));
        if let Some(ErrorCode::Other(code)) = &mut refused.code {
            *code = self.text(std::mem::take(code));
        }
    }

    /// `text` with every spelling replaced.
    fn text(&self, text: String) -> String {
        match self.replace(text.as_bytes()) {
            // A match starts and ends on character boundaries (spellings
            // are whole UTF-8 strings, compared ASCII-case-insensitively),
            // so this is still UTF-8; lossy only as a fallback.
            Some(scrubbed) => String::from_utf8(scrubbed)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            None => text,
        }
    }

    /// `text` with a start of a spelling at its very end hidden: a snippet
    /// cut short may end in the middle of a credential.
    fn tail(&self, text: String) -> String {
        let bytes = text.as_bytes();
        for spelling in &self.all {
            for len in (MIN_TAIL..spelling.len()).rev() {
                if bytes.len() >= len
                    && bytes[bytes.len() - len..].eq_ignore_ascii_case(&spelling[..len])
                {
                    let mut kept = bytes[..bytes.len() - len].to_vec();
                    kept.extend_from_slice(REDACTED.as_bytes());
                    return String::from_utf8_lossy(&kept).into_owned();
                }
            }
        }
        text
    }

    /// `haystack` with every spelling replaced (ASCII case ignored, so
    /// `%2f` matches `%2F`), or `None` when nothing matched.
    fn replace(&self, haystack: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut at = 0;
        let mut copied = 0;
        while at < haystack.len() {
            let rest = &haystack[at..];
            let first = usize::from(rest[0].to_ascii_lowercase());
            let found = self.by_first[first]
                .iter()
                .map(|&index| &self.all[index])
                .find(|s| rest.len() >= s.len() && rest[..s.len()].eq_ignore_ascii_case(s));
            match found {
                Some(spelling) => {
                    let buffer = out.get_or_insert_with(|| Vec::with_capacity(haystack.len()));
                    buffer.extend_from_slice(&haystack[copied..at]);
                    buffer.extend_from_slice(REDACTED.as_bytes());
                    at += spelling.len();
                    copied = at;
                }
                None => at += 1,
            }
        }
        let mut out = out?;
        out.extend_from_slice(&haystack[copied..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(sent: &Sent<'_>, text: &str) -> String {
        sent.spellings().text(text.to_owned())
    }

    #[test]
    fn every_spelling_of_a_secret_is_replaced() {
        let mut sent = Sent::default();
        sent.param("client_secret", "s3cr3t:with&odd=chars/é");
        for echo in [
            "s3cr3t:with&odd=chars/é",
            "s3cr3t%3Awith%26odd%3Dchars%2F%C3%A9",
            "s3cr3t%3awith%26odd%3dchars%2f%c3%a9",
            "s3cr3t:with&odd=chars\\/\\u00e9",
            "s3cr3t:with&amp;odd=chars/é",
        ] {
            let shown = scrubbed(&sent, &format!("bad secret {echo}."));
            assert_eq!(shown, "bad secret [redacted].", "{echo}");
        }
    }

    #[test]
    fn the_basic_value_is_replaced_encoded_and_decoded() {
        let mut sent = Sent::default();
        sent.basic("id", "p%40ss!");
        let header = STANDARD.encode("id:p%40ss!");
        let shown = scrubbed(
            &sent,
            &format!("Authorization: Basic {header} (id:p%40ss!)"),
        );
        assert_eq!(shown, "Authorization: Basic [redacted] ([redacted])");
    }

    #[test]
    fn names_mark_credentials_and_others_stay() {
        for secret in [
            "client_secret",
            "password",
            "refresh_token",
            "client_assertion",
            "assertion",
            "subject_token",
            "code_verifier",
        ] {
            assert!(is_secret_param(secret), "{secret}");
        }
        for public in [
            "grant_type",
            "username",
            "scope",
            "client_id",
            "client_assertion_type",
            "audience",
        ] {
            assert!(!is_secret_param(public), "{public}");
        }
    }

    #[test]
    fn a_cut_snippet_hides_the_start_of_a_secret() {
        let mut sent = Sent::default();
        sent.secret("hunter2-password");
        let spellings = sent.spellings();
        assert_eq!(
            spellings.tail("body password=hunt".to_owned()),
            "body password=[redacted]"
        );
        assert_eq!(spellings.tail("ends in hun".to_owned()), "ends in hun");
    }

    #[test]
    fn every_server_text_in_an_error_is_scrubbed() {
        let mut sent = Sent::default();
        sent.param("password", "hunter2-password");
        let refused = EndpointError {
            status: http::StatusCode::BAD_REQUEST,
            code: Some(ErrorCode::Other("hunter2-password".into())),
            description: Some("d hunter2-password".into()),
            message: Some("m hunter2-password".into()),
            uri: Some("https://e.example/?p=hunter2-password".into()),
            body_snippet: Some("s hunter2-password".into()),
            content_type: Some("text/hunter2-password".into()),
            body_len: 1,
            retry_after: None,
        };
        for error in [
            Error::from(refused),
            Error::UnsupportedTokenType("hunter2-password".into()),
            Error::InvalidTokenResponse {
                status: http::StatusCode::OK,
                reason: "r hunter2-password".into(),
            },
            Error::InvalidExpiry {
                field: "expires_at".into(),
                reason: "x hunter2-password".into(),
            },
        ] {
            let shown = format!("{0} {0:?}", sent.error(error));
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains(REDACTED), "{shown}");
        }
    }

    #[test]
    fn nothing_sent_nothing_touched() {
        let sent = Sent::default();
        assert!(matches!(sent.body(b"as is"), Cow::Borrowed(b"as is")));
    }
}
