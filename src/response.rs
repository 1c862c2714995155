//! Reading what a token endpoint answered: a token (RFC 6749 5.1) or an
//! error (RFC 6749 5.2, plus the `message` shape some vendors use).

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::error::{EndpointError, ErrorCode};
use crate::expiry::{absolute_expiry, jwt_expiry, lifetime_until, server_date};
use crate::{Error, Token};

/// Fields that vendors use for an absolute expiry, in order of preference.
const ABSOLUTE_EXPIRY_FIELDS: [&str; 3] = ["expires_at", "access_token_expires_at", "expires_on"];

/// How much of a non-JSON error body is quoted in an error.
const SNIPPET_CHARS: usize = 120;

/// What a token endpoint's answer is: a token, or a refusal whose typed
/// error the caller builds with [`parse_error`] (one place, so whatever is
/// done to server-supplied error text is done to every refusal).
#[derive(Debug)]
pub(crate) enum Answer {
    /// A usable token response.
    Token(Token),
    /// A token response with `token_type: DPoP` (RFC 9449): usable only
    /// once bound to the key its request's proof was signed with, which
    /// the endpoint does (or refuses, without a key).
    Dpop(Token),
    /// An error status, or a success status whose body has an `error`
    /// member (some servers answer errors with 200): read it with
    /// [`parse_error`].
    Refused,
}

/// Reads a token endpoint's answer: a refusal (an error status, or an
/// `error` member whatever the status; no token in such a body is used),
/// else a token response.
pub(crate) fn parse_answer(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    issued_at: Instant,
) -> Result<Answer, Error> {
    if !status.is_success() {
        return Ok(Answer::Refused);
    }
    let fields = body_fields(body).map_err(|reason| invalid(status, reason))?;
    if fields.get("error").is_some_and(|e| !e.is_null()) {
        return Ok(Answer::Refused);
    }
    let (token, dpop) = parse_token(status, headers, fields, issued_at)?;
    Ok(if dpop {
        Answer::Dpop(token)
    } else {
        Answer::Token(token)
    })
}

fn invalid(status: StatusCode, reason: &str) -> Error {
    Error::InvalidTokenResponse {
        status,
        reason: reason.to_owned(),
    }
}

/// Reads a successful token response's fields into a [`Token`].
///
/// Expiry: `expires_in`, else an absolute expiry field, each capped by the
/// `exp` of a JWT access token when that is earlier; with none of them, no
/// lifetime (the cache's default applies).
fn parse_token(
    status: StatusCode,
    headers: &HeaderMap,
    mut fields: Map<String, Value>,
    issued_at: Instant,
) -> Result<(Token, bool), Error> {
    let access_token = match fields.remove("access_token") {
        Some(Value::String(token)) => token,
        Some(_) => return Err(invalid(status, "`access_token` is not a string")),
        None => return Err(invalid(status, "the body has no `access_token`")),
    };
    // RFC 6749 requires token_type, but servers that leave it out (or send
    // it empty or null) issue bearer tokens, so those read as bearer.
    let dpop = match fields.remove("token_type") {
        None | Some(Value::Null) => false,
        Some(Value::String(kind)) if kind.is_empty() || kind.eq_ignore_ascii_case("bearer") => {
            false
        }
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("dpop") => true,
        // RFC 8693 2.2.1: a token exchange that issues something other than
        // an access token (an ID token, a JWT, a SAML assertion) says `N_A`.
        // Such a token is sent as a bearer credential; the marker stays in
        // the extras so the grant and its caller can tell.
        Some(Value::String(kind))
            if kind == NOT_APPLICABLE && issued_other_than_access(&fields) =>
        {
            fields.insert("token_type".to_owned(), Value::String(kind));
            false
        }
        Some(Value::String(kind)) => return Err(Error::UnsupportedTokenType(kind)),
        Some(_) => return Err(invalid(status, "`token_type` is not a string")),
    };
    let mut token = Token::bearer(access_token)?.with_issued_at(issued_at);
    if let Some(lifetime) = lifetime(&mut fields, token.secret(), headers)? {
        token = token.with_expires_in(lifetime);
    }
    if let Some(Value::String(refresh)) = fields.remove("refresh_token") {
        token = token.with_refresh_token(refresh);
    }
    if let Some(Value::String(scope)) = fields.remove("scope") {
        token = token.with_scope(scope);
    }
    Ok((token.with_extra(fields), dpop))
}

/// The `token_type` of a token exchange's answer when the issued token is
/// not an access token (RFC 8693 2.2.1).
pub(crate) const NOT_APPLICABLE: &str = "N_A";

/// Whether the answer is a token exchange's (it has `issued_token_type`)
/// that issued something other than an access token: the only answer
/// `token_type: N_A` is allowed in.
fn issued_other_than_access(fields: &Map<String, Value>) -> bool {
    fields
        .get("issued_token_type")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind != "urn:ietf:params:oauth:token-type:access_token")
}

/// The body's fields, whatever its `Content-Type` says: servers label JSON
/// `text/plain` or `text/html`, or send a form, or no label at all. A JSON
/// object is read as one; otherwise a body that looks like a form (a `=`,
/// and not markup) as a form.
fn body_fields(body: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let body = strip_bom(body).trim_ascii();
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => return Ok(fields),
        Ok(_) => return Err("the body is not a JSON object"),
        Err(_) => {}
    }
    let form_like = body.contains(&b'=') && !matches!(body.first(), Some(b'<' | b'{' | b'['));
    if !form_like {
        return Err("the body is neither JSON nor a form");
    }
    Ok(form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect())
}

/// The token's lifetime: `expires_in`, else the first absolute expiry field
/// present (measured by the server's `Date` when known); the access token's
/// JWT `exp` caps either, since a server that writes whole-second `exp`
/// kills the token before `expires_in` says. Takes `expires_in` out of
/// `fields`; the absolute fields stay, as extras.
fn lifetime(
    fields: &mut Map<String, Value>,
    access_token: &str,
    headers: &HeaderMap,
) -> Result<Option<Duration>, Error> {
    let server_now = server_date(headers);
    let announced = match fields.remove("expires_in") {
        None | Some(Value::Null) => None,
        Some(value) => Some(seconds_from(&value).map_err(|reason| Error::InvalidExpiry {
            field: "expires_in".into(),
            reason: reason.into(),
        })?),
    };
    let stated = match announced {
        Some(lifetime) => Some(lifetime),
        None => absolute_field(fields)?.map(|at| lifetime_until(at, server_now)),
    };
    let from_jwt = jwt_expiry(access_token).map(|at| lifetime_until(at, server_now));
    Ok(match (stated, from_jwt) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// The first absolute expiry field present (null counts as absent); one
/// that is present but unreadable is an error, not a reason to guess.
fn absolute_field(fields: &Map<String, Value>) -> Result<Option<SystemTime>, Error> {
    let found = ABSOLUTE_EXPIRY_FIELDS
        .iter()
        .find_map(|name| Some((*name, fields.get(*name).filter(|v| !v.is_null())?)));
    let Some((name, value)) = found else {
        return Ok(None);
    };
    match absolute_expiry(value) {
        Some(at) => Ok(Some(at)),
        None => Err(Error::InvalidExpiry {
            field: name.into(),
            reason: "not an RFC 3339 time or epoch seconds".into(),
        }),
    }
}

/// Reads `expires_in` sent as a number or a numeric string, floored to whole
/// seconds (a fraction is never trusted to extend a token). Zero or less is
/// a token dead on arrival: `Duration::ZERO`, which the cache hands to the
/// waiting requests but does not keep. Anything else is an error.
fn seconds_from(value: &Value) -> Result<Duration, &'static str> {
    let seconds = match value {
        Value::Number(n) => n.as_f64().ok_or("not a number")?,
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| "not a number")?,
        _ => return Err("not a number"),
    };
    if !seconds.is_finite() {
        return Err("not a finite number");
    }
    let seconds = seconds.floor();
    if seconds <= 0.0 {
        return Ok(Duration::ZERO);
    }
    // try_from_secs_f64 fails only for values beyond ~584 billion years;
    // those are capped by the cache's maximum lifetime anyway.
    Ok(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// Reads an error response body (JSON or a form, sniffed) into what the
/// server said. Called only from `endpoint::exchange::refusal`, the one
/// place a refusal becomes an [`EndpointError`].
pub(crate) fn parse_error(status: StatusCode, body: &[u8]) -> EndpointError {
    let mut error = EndpointError::bare(status);
    match body_fields(body) {
        Ok(fields) => read_error_fields(&mut error, &fields),
        Err(_) => error.body_snippet = snippet(body),
    }
    error
}

fn read_error_fields(error: &mut EndpointError, fields: &Map<String, Value>) {
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    error.code = text("error").map(|code| ErrorCode::parse(&code));
    error.description = text("error_description");
    error.message = text("message");
    error.uri = text("error_uri");
    if error.code.is_none() && error.description.is_none() && error.message.is_none() {
        error.body_snippet = snippet(&serde_json::to_vec(fields).unwrap_or_default());
    }
}

/// A short, single-line, printable start of a body, or `None` when empty.
fn snippet(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(strip_bom(body));
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(SNIPPET_CHARS)
        .collect();
    (!line.is_empty()).then_some(line)
}

fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not
/// part of the API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Reads `body` as a token response and as an error response, with and
    /// without a form content type; must never panic.
    pub fn token_endpoint_answer(status: u16, form: bool, body: &[u8]) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let mut headers = HeaderMap::new();
        if form {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        let _ = parse_answer(status, &headers, body, Instant::now());
        let _ = parse_error(status, body).to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(body: &str) -> Result<Token, Error> {
        parse_token_with(&HeaderMap::new(), body.as_bytes())
    }

    fn parse_token_with(headers: &HeaderMap, body: &[u8]) -> Result<Token, Error> {
        match parse_answer(StatusCode::OK, headers, body, Instant::now())? {
            Answer::Token(token) => Ok(token),
            Answer::Dpop(_) => Err(Error::UnsupportedTokenType("DPoP".into())),
            Answer::Refused => Err(parse_error(StatusCode::OK, body).into()),
        }
    }

    #[test]
    fn reads_form_encoded_token_responses() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .expect("header"),
        );
        let t = parse_token_with(
            &headers,
            b"access_token=a%2Bb&token_type=bearer&expires_in=30",
        )
        .expect("form token");
        assert_eq!(t.secret(), "a+b");
        assert_eq!(t.expires_in(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn absolute_expiry_is_measured_by_the_servers_date() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::DATE,
            "Mon, 19 May 2014 13:00:00 GMT".parse().expect("header"),
        );
        let body = br#"{"access_token":"a","access_token_expires_at":"2014-05-19T15:31:05+02:00"}"#;
        let t = parse_token_with(&headers, body).expect("token");
        assert_eq!(t.expires_in(), Some(Duration::from_secs(31 * 60 + 5)));
    }

    #[test]
    fn reads_expires_in_as_number_string_and_float_floored() {
        for (body, secs) in [
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":60}"#,
                60,
            ),
            (
                r#"{"access_token":"a","token_type":"bearer","expires_in":"60"}"#,
                60,
            ),
            (r#"{"access_token":"a","expires_in":1.5}"#, 1),
            (r#"{"access_token":"a","expires_in":"59.999"}"#, 59),
        ] {
            let t = token(body).expect(body);
            assert_eq!(t.expires_in(), Some(Duration::from_secs(secs)), "{body}");
        }
        assert!(matches!(
            token(r#"{"access_token":"a","expires_in":"soon"}"#),
            Err(Error::InvalidExpiry { field, .. }) if field == "expires_in"
        ));
    }

    #[test]
    fn a_lifetime_that_floors_to_zero_or_below_is_spent_not_unknown() {
        for spent in [
            r#"{"access_token":"a","expires_in":-5}"#,
            r#"{"access_token":"a","expires_in":"0"}"#,
            r#"{"access_token":"a","expires_in":0.9}"#,
            r#"{"access_token":"a","expires_at":"2014-03-23T15:51:07Z"}"#,
        ] {
            let t = token(spent).expect(spent);
            assert_eq!(t.expires_in(), Some(Duration::ZERO), "{spent}");
            assert!(t.is_spent(), "{spent}");
        }
    }

    #[test]
    fn null_expires_in_is_absent() {
        let t = token(r#"{"access_token":"a","token_type":"bearer","expires_in":null}"#)
            .expect("null expires_in");
        assert_eq!(t.expires_in(), None);
        // ... and the next source applies.
        let t = token(r#"{"access_token":"a","expires_in":null,"expires_at":4102444800}"#)
            .expect("absolute");
        assert!(
            t.expires_in()
                .is_some_and(|d| d > Duration::from_secs(3600))
        );
    }

    #[test]
    fn an_unreadable_absolute_expiry_is_a_typed_error() {
        for (body, name) in [
            (
                r#"{"access_token":"a","expires_at":"2014-03-23 15:51:07"}"#,
                "expires_at",
            ),
            (
                r#"{"access_token":"a","access_token_expires_at":"not-a-date"}"#,
                "access_token_expires_at",
            ),
            (r#"{"access_token":"a","expires_on":true}"#, "expires_on"),
        ] {
            match token(body) {
                Err(Error::InvalidExpiry { field, .. }) => assert_eq!(field, name, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    fn jwt(exp: u64) -> String {
        use base64::Engine;
        let claims = format!(r#"{{"exp":{exp}}}"#);
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln")
    }

    #[test]
    fn the_earlier_of_expires_in_and_a_jwt_exp_wins() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::DATE,
            "Mon, 19 May 2014 13:00:00 GMT".parse().expect("header"),
        );
        let now = 1_400_504_400; // the Date above, in epoch seconds
        for (exp, expires_in, expected) in [(now + 299, 300, 299), (now + 600, 300, 300)] {
            let body = format!(
                r#"{{"access_token":"{}","expires_in":{expires_in}}}"#,
                jwt(exp)
            );
            let t = parse_token_with(&headers, body.as_bytes()).expect("token");
            assert_eq!(t.expires_in(), Some(Duration::from_secs(expected)));
        }
    }

    #[test]
    fn an_empty_or_null_token_type_reads_as_bearer() {
        for body in [
            r#"{"access_token":"a","token_type":""}"#,
            r#"{"access_token":"a","token_type":null}"#,
        ] {
            assert_eq!(token(body).expect(body).secret(), "a");
        }
    }

    #[test]
    fn an_error_member_refuses_even_with_200_and_an_access_token() {
        let body = br#"{"access_token":"leaked","error":"bad_verification_code","error_description":"expired"}"#;
        let answer = parse_answer(StatusCode::OK, &HeaderMap::new(), body, Instant::now());
        assert!(matches!(answer, Ok(Answer::Refused)), "{answer:?}");
        let error = parse_error(StatusCode::OK, body);
        assert_eq!(
            error.code(),
            Some(&ErrorCode::Other("bad_verification_code".into()))
        );
        assert_eq!(error.description(), Some("expired"));
        // A form-encoded one, as GitHub sends without an Accept header.
        let form = b"error=incorrect_client_credentials&error_description=The+client_id";
        let answer = parse_answer(StatusCode::OK, &HeaderMap::new(), form, Instant::now());
        assert!(matches!(answer, Ok(Answer::Refused)), "{answer:?}");
        assert_eq!(
            parse_error(StatusCode::OK, form).description(),
            Some("The client_id")
        );
    }

    #[test]
    fn the_body_format_is_sniffed_whatever_the_label() {
        let json = br#"{"access_token":"j","expires_in":60}"#.as_slice();
        let form = b"access_token=f&expires_in=60".as_slice();
        for label in [
            Some("text/plain"),
            Some("text/html; charset=utf-8"),
            Some("application/x-www-form-urlencoded"),
            Some("application/json"),
            None,
        ] {
            let mut headers = HeaderMap::new();
            if let Some(label) = label {
                headers.insert(http::header::CONTENT_TYPE, label.parse().expect("header"));
            }
            for (body, secret) in [(json, "j"), (form, "f")] {
                let t = parse_token_with(&headers, body).expect("token");
                assert_eq!(
                    (t.secret(), t.expires_in()),
                    (secret, Some(Duration::from_secs(60))),
                    "{label:?}"
                );
            }
        }
        assert!(token("<html>a=b</html>").is_err());
    }

    #[test]
    fn refuses_non_bearer_and_missing_or_unsendable_tokens() {
        assert!(matches!(
            token(r#"{"access_token":"a","token_type":"mac"}"#),
            Err(Error::UnsupportedTokenType(t)) if t == "mac"
        ));
        assert!(matches!(
            token(r#"{"token_type":"Bearer"}"#),
            Err(Error::InvalidTokenResponse { .. })
        ));
        assert!(matches!(
            token(r#"{"access_token":"a\r\nX-Evil: 1"}"#),
            Err(Error::InvalidToken(_))
        ));
        assert!(matches!(
            token(r#"{"access_token":"caf\u00e9"}"#),
            Err(Error::InvalidToken(_))
        ));
    }

    #[test]
    fn keeps_refresh_token_scope_and_unknown_fields() {
        let t = token("\u{feff}{\"access_token\":\"a\",\"refresh_token\":\"r\",\"scope\":\"x y\",\"id_token\":\"j\"}")
            .expect("token");
        assert_eq!(t.refresh_token(), Some("r"));
        assert_eq!(t.scope(), Some("x y"));
        assert_eq!(t.extra().get("id_token"), Some(&Value::from("j")));
    }

    #[test]
    fn reads_rfc_and_message_shaped_errors() {
        let rfc = parse_error(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"bad password"}"#,
        );
        assert_eq!(rfc.code(), Some(&ErrorCode::InvalidGrant));
        assert_eq!(rfc.description(), Some("bad password"));
        let vendor = parse_error(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"invalid_client","message":"Client authentication failed"}"#,
        );
        assert_eq!(vendor.code(), Some(&ErrorCode::InvalidClient));
        assert_eq!(vendor.message(), Some("Client authentication failed"));
        assert_eq!(
            vendor.to_string(),
            "token endpoint answered 401 Unauthorized: invalid_client: Client authentication failed"
        );
    }

    #[test]
    fn quotes_a_short_snippet_of_non_json_errors() {
        let html = parse_error(
            StatusCode::BAD_GATEWAY,
            b"<html>\r\n<body>502 Bad Gateway</body>\n</html>",
        );
        assert_eq!(
            html.body_snippet(),
            Some("<html> <body>502 Bad Gateway</body> </html>")
        );
        let empty = parse_error(StatusCode::SERVICE_UNAVAILABLE, b"");
        assert_eq!(empty.body_snippet(), None);
        let long = parse_error(StatusCode::BAD_GATEWAY, "x".repeat(10_000).as_bytes());
        assert_eq!(long.body_snippet().map(str::len), Some(SNIPPET_CHARS));
    }
}
