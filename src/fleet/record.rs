//! How a token travels through a [`TokenStore`](super::TokenStore): as a
//! small JSON object with wall-clock times, since the processes of a fleet
//! share no monotonic clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use secrecy::zeroize::Zeroizing;
use serde_json::{Map, Value};

use crate::Token;
use crate::cache::Lifetimes;

/// The largest stored value read or written. Access tokens, JWTs included,
/// are a few kilobytes; anything larger is garbage or an attack (a planted
/// 2 MB "token" would go out as a 2 MB header on every request).
pub(super) const MAX_VALUE_BYTES: usize = 16 * 1024;

/// What a reader may do with a shared token.
pub(super) enum Freshness {
    /// Use it.
    Fresh(Token),
    /// Use it, but it is due for renewal: whoever can take the lock renews.
    Renewing(Token),
    /// Nothing usable: absent, expired, or unreadable.
    Unusable,
}

/// A token, encoded for the store, and how long the store should keep it.
pub(super) struct Encoded {
    pub(super) value: Zeroizing<String>,
    pub(super) ttl: Duration,
}

/// Encodes `token` with the moments its schedule gives (and its refresh
/// token, when `with_refresh`: only for a store that is encrypted); `None`
/// if it is already past use or too large, or bound to a DPoP key other
/// than `fleet_jkt` (the fleet's key: only replicas holding the key can use
/// the token, so no other key's token is published).
pub(super) fn encode(
    token: &Token,
    lifetimes: &Lifetimes,
    with_refresh: bool,
    fleet_jkt: Option<&str>,
) -> Option<Encoded> {
    let jkt = token.dpop_thumbprint();
    if jkt.is_some() && jkt != fleet_jkt {
        return None;
    }
    let schedule = lifetimes.schedule(token);
    let (now, wall) = (Instant::now(), SystemTime::now());
    let ttl = schedule.use_until.checked_duration_since(now)?;
    let refresh = token.refresh_token().filter(|_| with_refresh);
    let parts = token.secret().len() + token.scope().map_or(0, str::len);
    if parts + refresh.map_or(0, str::len) > MAX_VALUE_BYTES - 256 {
        return None;
    }
    let at = |instant: Instant| unix_ms(wall + instant.saturating_duration_since(now));
    let mut value = Zeroizing::new(String::with_capacity(token.secret().len() + 128));
    value.push_str("{\"access_token\":");
    value.push_str(&Zeroizing::new(json_string(token.secret())));
    for (name, instant) in [
        ("refresh_at_ms", schedule.refresh_at),
        ("use_until_ms", schedule.use_until),
        ("expires_at_ms", schedule.expires_at),
    ] {
        value.push_str(&format!(",\"{name}\":{}", at(instant)));
    }
    if let Some(scope) = token.scope() {
        value.push_str(",\"scope\":");
        value.push_str(&json_string(scope));
    }
    if let Some(refresh) = token.refresh_token().filter(|_| with_refresh) {
        value.push_str(",\"refresh_token\":");
        value.push_str(&Zeroizing::new(json_string(refresh)));
    }
    if let Some(jkt) = jkt {
        value.push_str(",\"jkt\":");
        value.push_str(&json_string(jkt));
    }
    value.push('}');
    Some(Encoded { value, ttl })
}

/// Reads a stored value at wall-clock `now`. Anything oversized, malformed
/// or with moments out of order is unusable, never handed to a request.
/// A usable token is marked shared: fetched by another process. Its refresh
/// token is taken only `with_refresh` (the value was sealed). A DPoP-bound
/// token (`jkt`) is usable only if `bind` binds it to this replica's key.
pub(super) fn decode(
    value: &str,
    now: SystemTime,
    with_refresh: bool,
    bind: &dyn Fn(Token, &str) -> Option<Token>,
) -> Freshness {
    if value.len() > MAX_VALUE_BYTES {
        return Freshness::Unusable;
    }
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(value) else {
        return Freshness::Unusable;
    };
    let now_ms = unix_ms(now);
    let (Some(refresh_at), Some(use_until), Some(expires_at)) = (
        millis(&fields, "refresh_at_ms"),
        millis(&fields, "use_until_ms"),
        millis(&fields, "expires_at_ms"),
    ) else {
        return Freshness::Unusable;
    };
    let Some(Value::String(secret)) = fields.remove("access_token") else {
        return Freshness::Unusable;
    };
    if now_ms >= use_until || refresh_at > use_until || use_until > expires_at {
        return Freshness::Unusable;
    }
    let Ok(mut token) = Token::bearer(secret).map(Token::shared) else {
        return Freshness::Unusable;
    };
    token = token.with_expires_at(UNIX_EPOCH + Duration::from_millis(expires_at), Some(now));
    if let Some(Value::String(scope)) = fields.remove("scope") {
        token = token.with_scope(scope);
    }
    if let Some(Value::String(refresh)) = fields.remove("refresh_token").filter(|_| with_refresh) {
        token = token.with_refresh_token(Zeroizing::new(refresh).as_str());
    }
    match fields.remove("jkt") {
        None => {}
        Some(Value::String(jkt)) => match bind(token, &jkt) {
            Some(bound) => token = bound,
            None => return Freshness::Unusable,
        },
        Some(_) => return Freshness::Unusable,
    }
    if now_ms < refresh_at {
        Freshness::Fresh(token)
    } else {
        Freshness::Renewing(token)
    }
}

fn millis(fields: &Map<String, Value>, name: &str) -> Option<u64> {
    fields.get(name)?.as_u64()
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

fn json_string(text: &str) -> String {
    // Serialising a string cannot fail; the fallback keeps this total.
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unbound(_: Token, _: &str) -> Option<Token> {
        None
    }

    fn lifetimes() -> Lifetimes {
        Lifetimes::default()
    }

    #[test]
    fn a_token_comes_back_with_its_secret_scope_and_lifetime() {
        let token = Token::bearer("tok\"en")
            .map(|t| {
                t.with_expires_in(Duration::from_secs(100))
                    .with_scope("a b")
            })
            .ok();
        let encoded = token
            .as_ref()
            .and_then(|t| encode(t, &lifetimes(), false, None));
        let encoded = encoded.map(|e| (e.value.to_string(), e.ttl));
        let Some((value, ttl)) = encoded else {
            panic!("a fresh token encodes")
        };
        assert!(ttl <= Duration::from_secs(90) && ttl > Duration::from_secs(89));
        let Freshness::Fresh(back) = decode(&value, SystemTime::now(), false, &unbound) else {
            panic!("read back fresh")
        };
        assert_eq!(back.secret(), "tok\"en");
        assert!(back.is_shared(), "a token read back was fetched elsewhere");
        assert_eq!(back.scope(), Some("a b"));
        let left = back.expires_in().unwrap_or_default();
        assert!(left > Duration::from_secs(98) && left <= Duration::from_secs(100));
    }

    #[test]
    fn past_its_refresh_moment_it_is_renewing_and_past_use_unusable() {
        let token = Token::bearer("t").map(|t| t.with_expires_in(Duration::from_secs(100)));
        let Some(encoded) = token
            .ok()
            .and_then(|t| encode(&t, &lifetimes(), false, None))
        else {
            panic!("encodes")
        };
        let later = |secs| SystemTime::now() + Duration::from_secs(secs);
        let value = encoded.value.to_string();
        assert!(matches!(
            decode(&value, later(85), false, &unbound),
            Freshness::Renewing(_)
        ));
        assert!(matches!(
            decode(&value, later(95), false, &unbound),
            Freshness::Unusable
        ));
    }

    #[test]
    fn garbage_and_foreign_values_are_unusable() {
        let huge = format!(
            "{{\"access_token\":\"{}\",\"refresh_at_ms\":1,\"use_until_ms\":2,\"expires_at_ms\":3}}",
            "a".repeat(MAX_VALUE_BYTES)
        );
        let far = u64::MAX / 2;
        let disordered = format!(
            "{{\"access_token\":\"t\",\"refresh_at_ms\":{far},\"use_until_ms\":{},\"expires_at_ms\":{far}}}",
            far - 1
        );
        let bad_header = format!(
            "{{\"access_token\":\"a\\r\\nX: y\",\"refresh_at_ms\":{far},\"use_until_ms\":{far},\"expires_at_ms\":{far}}}"
        );
        let planted = ["", "null", "{}", "{\"access_token\":1}", "[1,2]"];
        for value in planted
            .map(String::from)
            .into_iter()
            .chain([huge, disordered, bad_header])
        {
            assert!(matches!(
                decode(&value, SystemTime::now(), false, &unbound),
                Freshness::Unusable
            ));
        }
    }
}
