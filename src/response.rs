//! Reading what a token endpoint answered: a token (RFC 6749 5.1) or an
//! error (RFC 6749 5.2, plus the `message` shape some vendors use).

use std::time::{Duration, Instant};

use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::error::{EndpointError, ErrorCode};
use crate::expiry::{absolute_expiry, jwt_expiry, lifetime_until, server_date};
use crate::{Error, Token};

/// Fields that vendors use for an absolute expiry, in order of preference.
const ABSOLUTE_EXPIRY_FIELDS: [&str; 3] = ["expires_at", "access_token_expires_at", "expires_on"];

/// How much of a non-JSON error body is quoted in an error.
const SNIPPET_CHARS: usize = 120;

/// Reads a successful token response body into a [`Token`].
///
/// The body is JSON, or a form when the server says so (some do). Expiry
/// comes from `expires_in`; failing that, an absolute expiry field; failing
/// that, the `exp` claim of a JWT access token; failing that, none (the
/// cache's default lifetime applies).
pub(crate) fn parse_token(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    issued_at: Instant,
) -> Result<Token, Error> {
    let invalid = |reason: &str| Error::InvalidTokenResponse {
        status,
        reason: reason.to_owned(),
    };
    let mut fields = token_fields(headers, body).map_err(invalid)?;
    let access_token = match fields.remove("access_token") {
        Some(Value::String(token)) => token,
        Some(_) => return Err(invalid("`access_token` is not a string")),
        None => return Err(invalid("the body has no `access_token`")),
    };
    // RFC 6749 requires token_type, but servers that leave it out issue
    // bearer tokens, so a missing type is read as bearer.
    match fields.remove("token_type") {
        None => {}
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(Value::String(kind)) => return Err(Error::UnsupportedTokenType(kind)),
        Some(_) => return Err(invalid("`token_type` is not a string")),
    }
    let mut token = Token::bearer(access_token)?.with_issued_at(issued_at);
    if let Some(lifetime) = lifetime(&mut fields, token.secret(), headers).map_err(invalid)? {
        token = token.with_expires_in(lifetime);
    }
    if let Some(Value::String(refresh)) = fields.remove("refresh_token") {
        token = token.with_refresh_token(refresh);
    }
    if let Some(Value::String(scope)) = fields.remove("scope") {
        token = token.with_scope(scope);
    }
    Ok(token.with_extra(fields))
}

/// The body's fields: JSON, or a form when the server says so (some do).
fn token_fields(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .starts_with("application/x-www-form-urlencoded")
        });
    if is_form {
        return Ok(form_urlencoded::parse(strip_bom(body))
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect());
    }
    match serde_json::from_slice::<Value>(strip_bom(body)) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err("the body is not a JSON object"),
        Err(_) => Err("the body is not JSON"),
    }
}

/// The token's lifetime: `expires_in`, else an absolute expiry field, else
/// the access token's JWT `exp`, each absolute moment measured by the
/// server's clock (its `Date`) when known. Takes `expires_in` out of
/// `fields`; the absolute fields stay, as extras.
fn lifetime(
    fields: &mut Map<String, Value>,
    access_token: &str,
    headers: &HeaderMap,
) -> Result<Option<Duration>, &'static str> {
    if let Some(value) = fields.remove("expires_in") {
        let announced = seconds_from(&value).map_err(|()| "`expires_in` is not a number")?;
        if announced.is_some() {
            return Ok(announced);
        }
    }
    let absolute = ABSOLUTE_EXPIRY_FIELDS
        .iter()
        .find_map(|name| fields.get(*name).and_then(absolute_expiry))
        .or_else(|| jwt_expiry(access_token));
    // Converted here, so the flow stays response -> expiry -> token.
    Ok(absolute.map(|at| lifetime_until(at, server_date(headers))))
}

/// Reads `expires_in` sent as a number or a numeric string; fractions are
/// kept. Zero or negative says nothing usable (some servers send 0 for "no
/// expiry"), so it reads as absent (`Ok(None)`) and the next expiry source
/// applies, rather than a token that must be fetched for every request.
/// Anything else that is not a number is an error.
fn seconds_from(value: &Value) -> Result<Option<Duration>, ()> {
    let seconds = match value {
        Value::Number(n) => n.as_f64().ok_or(())?,
        Value::String(s) => s.trim().parse::<f64>().map_err(drop)?,
        _ => return Err(()),
    };
    if !seconds.is_finite() {
        return Err(());
    }
    if seconds <= 0.0 {
        return Ok(None);
    }
    // try_from_secs_f64 fails only for values beyond ~584 billion years;
    // those are capped by the cache's maximum lifetime anyway.
    Ok(Some(
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX),
    ))
}

/// Reads an error response body into what the server said.
pub(crate) fn parse_error(status: StatusCode, body: &[u8]) -> EndpointError {
    let mut error = EndpointError {
        status,
        code: None,
        description: None,
        message: None,
        uri: None,
        body_snippet: None,
        content_type: None,
        body_len: body.len(),
        retry_after: None,
    };
    match serde_json::from_slice::<Value>(strip_bom(body)) {
        Ok(Value::Object(fields)) => read_error_fields(&mut error, &fields),
        _ => error.body_snippet = snippet(body),
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
                CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        }
        let _ = parse_token(status, &headers, body, Instant::now());
        let _ = parse_error(status, body).to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(body: &str) -> Result<Token, Error> {
        parse_token(
            StatusCode::OK,
            &HeaderMap::new(),
            body.as_bytes(),
            Instant::now(),
        )
    }

    #[test]
    fn reads_form_encoded_token_responses() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .expect("header"),
        );
        let t = parse_token(
            StatusCode::OK,
            &headers,
            b"access_token=a%2Bb&token_type=bearer&expires_in=30",
            Instant::now(),
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
        let t = parse_token(StatusCode::OK, &headers, body, Instant::now()).expect("token");
        assert_eq!(t.expires_in(), Some(Duration::from_secs(31 * 60 + 5)));
    }

    #[test]
    fn reads_expires_in_as_number_string_and_float() {
        for (body, secs) in [
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":60}"#,
                60.0,
            ),
            (
                r#"{"access_token":"a","token_type":"bearer","expires_in":"60"}"#,
                60.0,
            ),
            (r#"{"access_token":"a","expires_in":1.5}"#, 1.5),
        ] {
            let t = token(body).expect(body);
            assert_eq!(
                t.expires_in(),
                Some(Duration::from_secs_f64(secs)),
                "{body}"
            );
        }
        for unusable in [
            r#"{"access_token":"a","expires_in":-5}"#,
            r#"{"access_token":"a","expires_in":"0"}"#,
        ] {
            assert_eq!(
                token(unusable).expect(unusable).expires_in(),
                None,
                "{unusable}"
            );
        }
        assert!(token(r#"{"access_token":"a","expires_in":"soon"}"#).is_err());
    }

    #[test]
    fn refuses_non_bearer_and_missing_token() {
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
            Err(Error::InvalidTokenResponse { .. })
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
