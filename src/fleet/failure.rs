//! A failed fetch, shared: while it lasts, every process of the fleet
//! answers with the same error instead of asking the token endpoint again,
//! so a failing endpoint sees one request per cooldown, not one per replica.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::record::MAX_VALUE_BYTES;
use crate::Error;
use crate::error::{EndpointError, ErrorCode};

/// How long a failure is shared when the server named no `Retry-After`:
/// the in-process cache's default cooldown.
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(1);

/// The longest a `Retry-After` is honoured for the whole fleet: a server
/// asking for more is not left to stall every replica for an hour.
const MAX_COOLDOWN: Duration = Duration::from_secs(300);

/// The failure to publish and for how long, if `error` is one the token
/// endpoint answered (what it said can be handed on exactly; a transport
/// error is local to one process and its network, so it is not shared).
pub(super) fn encode(error: &Error) -> Option<(String, Duration)> {
    let Error::TokenEndpoint(refused) = error else {
        return None;
    };
    let cooldown = refused
        .retry_after()
        .unwrap_or(DEFAULT_COOLDOWN)
        .clamp(Duration::from_millis(1), MAX_COOLDOWN);
    let value = json!({
        "status": refused.status().as_u16(),
        "error": refused.code().map(ErrorCode::as_str),
        "error_description": refused.description(),
        "retry_after_ms": refused.retry_after().map(|after| after.as_millis() as u64),
    });
    let value = value.to_string();
    (value.len() <= MAX_VALUE_BYTES).then_some((value, cooldown))
}

/// The shared failure as this process's error; `None` for anything
/// oversized or malformed (which is ignored: the process fetches).
pub(super) fn decode(value: &str) -> Option<Error> {
    if value.len() > MAX_VALUE_BYTES {
        return None;
    }
    let fields: Value = serde_json::from_str(value).ok()?;
    let status = u16::try_from(fields.get("status")?.as_u64()?).ok()?;
    let status = http::StatusCode::from_u16(status).ok()?;
    let text = |name: &str| fields.get(name)?.as_str().map(str::to_owned);
    let retry_after = fields.get("retry_after_ms").and_then(Value::as_u64);
    // From `bare`, so fields the endpoint error gains stay at their
    // "not known" values here.
    let mut refused = EndpointError::bare(status);
    refused.code = text("error").as_deref().map(ErrorCode::parse);
    refused.description = text("error_description");
    refused.retry_after = retry_after.map(Duration::from_millis);
    Some(Error::TokenEndpoint(Arc::new(refused)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_error_travels_with_its_retry_after() {
        let mut refused = EndpointError::bare(http::StatusCode::SERVICE_UNAVAILABLE);
        refused.code = Some(ErrorCode::parse("temporarily_unavailable"));
        refused.description = Some("down".into());
        refused.retry_after = Some(Duration::from_secs(3));
        let error = Error::TokenEndpoint(Arc::new(refused));
        let Some((value, cooldown)) = encode(&error) else {
            panic!("an endpoint error is shared")
        };
        assert_eq!(cooldown, Duration::from_secs(3));
        let Some(Error::TokenEndpoint(back)) = decode(&value) else {
            panic!("reads back")
        };
        assert_eq!(back.status(), 503);
        assert_eq!(back.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(back.description(), Some("down"));
        for garbage in ["", "{}", "{\"status\":99}", "[1]"] {
            assert!(decode(garbage).is_none());
        }
    }
}
