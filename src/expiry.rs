//! Expiry given as a moment rather than a lifetime (an RFC 3339 time, epoch
//! seconds, a JWT's `exp`), converted once to a lifetime on the monotonic
//! clock, by the server's clock when its `Date` header says what that is.
//!
//! A custom [`TokenSource`](crate::TokenSource) reading a vendor's response
//! uses [`parse_rfc3339`] and [`server_date`] with
//! [`Token::with_expires_at`](crate::Token::with_expires_at):
//!
//! ```
//! use reqwest_oauth::Token;
//! use reqwest_oauth::expiry::{parse_rfc3339, server_date};
//!
//! # fn demo(headers: &reqwest::header::HeaderMap) -> Result<Token, reqwest_oauth::Error> {
//! let expires_at = parse_rfc3339("2030-05-19T13:31:05Z");
//! let mut token = Token::bearer("t")?;
//! if let Some(at) = expires_at {
//!     token = token.with_expires_at(at, server_date(headers));
//! }
//! # Ok(token) }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use http::HeaderMap;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Reads an RFC 3339 time, with `Z` or an offset:
/// `2014-05-19T13:31:05Z`, `2014-03-23T15:51:07+00:00`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let z = reqwest_oauth::expiry::parse_rfc3339("2014-05-19T13:31:05Z").unwrap();
/// let offset = reqwest_oauth::expiry::parse_rfc3339("2014-05-19T15:31:05+02:00").unwrap();
/// assert_eq!(z, offset);
/// assert_eq!(z, UNIX_EPOCH + Duration::from_secs(1_400_506_265));
/// ```
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let at = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    Some(SystemTime::from(at))
}

/// The server's clock, from a response's `Date` header.
pub fn server_date(headers: &HeaderMap) -> Option<SystemTime> {
    let date = headers.get(http::header::DATE)?.to_str().ok()?;
    httpdate::parse_http_date(date).ok()
}

/// How long from now until `expires_at`, measured on the server's clock
/// when known (so a skewed local clock does not shorten or stretch it).
pub(crate) fn lifetime_until(expires_at: SystemTime, server_now: Option<SystemTime>) -> Duration {
    let now = server_now.unwrap_or_else(SystemTime::now);
    expires_at.duration_since(now).unwrap_or(Duration::ZERO)
}

/// An absolute expiry from the fields vendors use: an RFC 3339 string or
/// epoch seconds.
pub(crate) fn absolute_expiry(value: &Value) -> Option<SystemTime> {
    match value {
        Value::String(text) => parse_rfc3339(text).or_else(|| epoch(text.trim().parse().ok()?)),
        Value::Number(number) => epoch(number.as_f64()?),
        _ => None,
    }
}

/// The `exp` claim of a JWT access token: decoded, never verified, and
/// used only as a hint when the response says nothing about expiry.
pub(crate) fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    epoch(claims.get("exp")?.as_f64()?)
}

fn epoch(seconds: f64) -> Option<SystemTime> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(seconds).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rfc3339_with_z_and_offsets() {
        let z = parse_rfc3339("2014-03-23T15:51:07Z").expect("z");
        assert_eq!(parse_rfc3339("2014-03-23T15:51:07+00:00"), Some(z));
        assert_eq!(parse_rfc3339("2014-03-23T17:51:07+02:00"), Some(z));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn measures_the_lifetime_on_the_servers_clock() {
        let server_now = parse_rfc3339("2014-05-19T13:00:00Z");
        let expires_at = parse_rfc3339("2014-05-19T13:31:05Z").expect("time");
        assert_eq!(
            lifetime_until(expires_at, server_now),
            Duration::from_secs(31 * 60 + 5)
        );
        // Without the server's clock, the local one (now, 2014 is past).
        assert_eq!(lifetime_until(expires_at, None), Duration::ZERO);
    }

    #[test]
    fn reads_a_jwt_exp_and_ignores_non_jwts() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"x","exp":1700000000}"#);
        let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        assert_eq!(
            jwt_expiry(&jwt),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(jwt_expiry("opaque-token"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
    }

    #[test]
    fn reads_epoch_seconds_as_number_or_string() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(absolute_expiry(&Value::from(1_700_000_000u64)), Some(at));
        assert_eq!(absolute_expiry(&Value::from("1700000000")), Some(at));
        assert_eq!(absolute_expiry(&Value::from(-1)), None);
    }
}
