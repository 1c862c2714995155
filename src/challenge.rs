//! `WWW-Authenticate` challenges (RFC 7235 4.1, 2.1), parsed once so the
//! rejection predicate, step-up and users' own predicates read the same
//! thing.
//!
//! The grammar allows several challenges in one header value and across
//! values, a scheme followed by either a token68 or comma-separated
//! parameters, optional whitespace around `=`, and quoted strings with
//! backslash escapes. Because both challenges and parameters are separated
//! by commas, an item after a comma is a parameter when it reads
//! `name = value`, and a new challenge otherwise.

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

/// One authentication challenge: a scheme and its parameters, or its
/// token68.
///
/// Scheme and parameter names compare case-insensitively; values are kept
/// as sent (quotes removed, escapes resolved).
///
/// ```
/// use reqwest_oauth::policy::Challenge;
///
/// let all = Challenge::parse_all(
///     r#"Basic realm="legacy", bearer Error_Description = "x y", ERROR = insufficient_scope"#,
/// );
/// assert_eq!(all.len(), 2);
/// assert!(all[1].is("Bearer"));
/// assert_eq!(all[1].error(), Some("insufficient_scope"));
/// assert_eq!(all[1].param("error_description"), Some("x y"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
    token68: Option<String>,
}

impl Challenge {
    /// Every challenge in one `WWW-Authenticate` value. Unparseable parts
    /// are skipped up to the next comma, never guessed at.
    pub fn parse_all(value: &str) -> Vec<Challenge> {
        let mut cursor = Cursor { s: value, pos: 0 };
        let mut found = Vec::new();
        loop {
            cursor.skip_separators();
            if cursor.done() {
                return found;
            }
            match cursor.token() {
                Some(scheme) => found.push(cursor.challenge(scheme)),
                None => cursor.skip_item(),
            }
        }
    }

    /// The scheme as sent (`Bearer`, `Basic`, `DPoP`, …).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Whether this is a challenge of `scheme`, compared case-insensitively.
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The value of parameter `name` (case-insensitive), the first if sent
    /// twice.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, names as sent, in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The token68 form's value (`Negotiate YIIB…`), if the challenge has
    /// one instead of parameters.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }

    /// The `error` parameter (RFC 6750 3: `invalid_token`,
    /// `insufficient_scope`, `invalid_request`).
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// The `error_description` parameter.
    pub fn error_description(&self) -> Option<&str> {
        self.param("error_description")
    }

    /// The `scope` parameter: the scope the resource needs (RFC 6750 3).
    pub fn scope(&self) -> Option<&str> {
        self.param("scope")
    }

    /// The `realm` parameter.
    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }
}

/// Every challenge in every `WWW-Authenticate` value of `headers`, in
/// order (values that are not visible ASCII are skipped).
///
/// ```
/// use reqwest_oauth::policy::challenges;
///
/// let mut headers = http::HeaderMap::new();
/// headers.append("www-authenticate", r#"Basic realm="x""#.parse()?);
/// headers.append("www-authenticate", r#"Bearer error="invalid_token""#.parse()?);
/// let found = challenges(&headers);
/// assert_eq!(found.len(), 2);
/// assert_eq!(found[1].error(), Some("invalid_token"));
/// # Ok::<(), http::header::InvalidHeaderValue>(())
/// ```
pub fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Challenge::parse_all)
        .collect()
}

/// A position in one header value.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn done(&self) -> bool {
        self.rest().is_empty()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += c.len_utf8();
        }
        found
    }

    /// Optional whitespace (RFC 7230 OWS); returns whether there was any.
    fn ows(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Whitespace and empty list elements between challenges.
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | ',')) {
            self.pos += 1;
        }
    }

    /// Skips what cannot be parsed, up to the next comma outside quotes.
    fn skip_item(&mut self) {
        while let Some(c) = self.peek() {
            if c == ',' {
                return;
            }
            if c == '"' {
                self.quoted();
            } else {
                self.pos += c.len_utf8();
            }
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> Option<&'a str> {
        let rest = self.rest();
        let end = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        self.pos += end;
        rest.get(..end).filter(|t| !t.is_empty())
    }

    /// An RFC 7230 token.
    fn token(&mut self) -> Option<&'a str> {
        self.take_while(is_tchar)
    }

    /// A quoted string starting at the cursor, unescaped.
    fn quoted(&mut self) -> String {
        let mut value = String::new();
        self.eat('"');
        while let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            match c {
                '"' => break,
                '\\' => {
                    if let Some(escaped) = self.peek() {
                        self.pos += escaped.len_utf8();
                        value.push(escaped);
                    }
                }
                c => value.push(c),
            }
        }
        value
    }

    /// The rest of a challenge whose scheme was just read: a token68 or
    /// parameters, the later ones each after a comma.
    fn challenge(&mut self, scheme: &str) -> Challenge {
        let mut challenge = Challenge {
            scheme: scheme.to_owned(),
            params: Vec::new(),
            token68: None,
        };
        if self.ows() && !self.token68_into(&mut challenge) {
            self.param_into(&mut challenge);
        }
        loop {
            let before = self.pos;
            self.ows();
            if !self.eat(',') {
                if !self.done() {
                    self.skip_item();
                    continue;
                }
                return challenge;
            }
            self.skip_separators();
            if !self.param_ahead() {
                self.pos = before;
                return challenge;
            }
            self.param_into(&mut challenge);
        }
    }

    /// Reads a token68 (`abc+/=`, then nothing but the end or a comma), or
    /// leaves the cursor where it was and returns false.
    fn token68_into(&mut self, challenge: &mut Challenge) -> bool {
        let start = self.pos;
        let Some(body) = self.take_while(is_token68_char) else {
            return false;
        };
        let padded = self.take_while(|c| c == '=').unwrap_or_default();
        let end = self.pos;
        self.ows();
        if self.done() || self.peek() == Some(',') {
            challenge.token68 = Some(format!("{body}{padded}"));
            self.pos = end;
            return true;
        }
        self.pos = start;
        false
    }

    /// Whether `name BWS =` follows, which makes the item a parameter of
    /// the current challenge rather than a new challenge.
    fn param_ahead(&mut self) -> bool {
        let start = self.pos;
        let ahead = self.token().is_some() && {
            self.ows();
            self.peek() == Some('=')
        };
        self.pos = start;
        ahead
    }

    /// `name BWS = BWS (token / quoted-string)`; anything else is skipped.
    fn param_into(&mut self, challenge: &mut Challenge) {
        let Some(name) = self.token() else {
            return self.skip_item();
        };
        self.ows();
        if !self.eat('=') {
            return self.skip_item();
        }
        self.ows();
        let value = match self.peek() {
            Some('"') => self.quoted(),
            _ => self.token().unwrap_or_default().to_owned(),
        };
        challenge.params.push((name.to_owned(), value));
    }
}

/// RFC 7230 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// RFC 7235 `token68` characters before the `=` padding.
fn is_token68_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Challenge {
        let mut all = Challenge::parse_all(value);
        assert_eq!(all.len(), 1, "{value}: {all:?}");
        all.remove(0)
    }

    #[test]
    fn names_are_case_insensitive_and_whitespace_around_equals_is_optional() {
        let c = one(r#"bearer Error_Description = "x y", ERROR = insufficient_scope"#);
        assert!(c.is("Bearer"));
        assert_eq!(c.error(), Some("insufficient_scope"));
        assert_eq!(c.error_description(), Some("x y"));
    }

    #[test]
    fn several_challenges_in_one_value_with_quoted_commas_and_escapes() {
        let all = Challenge::parse_all(
            r#"Newauth realm="apps", type=1, title="Login to \"apps\", ok", Basic realm="simple", Bearer"#,
        );
        let schemes: Vec<_> = all.iter().map(Challenge::scheme).collect();
        assert_eq!(schemes, ["Newauth", "Basic", "Bearer"]);
        assert_eq!(all[0].param("TITLE"), Some(r#"Login to "apps", ok"#));
        assert_eq!(all[0].param("type"), Some("1"));
        assert_eq!(all[1].realm(), Some("simple"));
        assert_eq!(all[2].params().count(), 0);
    }

    #[test]
    fn token68_is_read_and_not_mistaken_for_a_parameter() {
        let all = Challenge::parse_all("Negotiate YIIB+w/a==, Basic realm=x");
        assert_eq!(all[0].token68(), Some("YIIB+w/a=="));
        assert_eq!(all[1].realm(), Some("x"));
        assert_eq!(one("Bearer realm=x").token68(), None);
    }

    #[test]
    fn garbage_is_skipped_not_guessed() {
        for value in ["", ",,", "=", "\"unterminated", "Bearer ,, error=\"x\""] {
            let _ = Challenge::parse_all(value);
        }
        assert_eq!(one(r#"Bearer ,, error="x""#).error(), Some("x"));
        assert_eq!(
            one(r#"Bearer realm="q\"uote, error=no""#).error(),
            None,
            "a quoted comma does not end the value"
        );
    }

    #[test]
    fn collects_across_header_values() {
        let mut headers = HeaderMap::new();
        for value in [
            r#"Basic realm="legacy""#,
            r#"DPoP algs="ES256", Bearer error=invalid_token"#,
        ] {
            headers.append(WWW_AUTHENTICATE, value.parse().expect("header"));
        }
        let found = challenges(&headers);
        let schemes: Vec<_> = found.iter().map(Challenge::scheme).collect();
        assert_eq!(schemes, ["Basic", "DPoP", "Bearer"]);
        assert_eq!(found[2].error(), Some("invalid_token"));
    }
}
