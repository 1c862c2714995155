//! Encoding a token request's parameters as a form or a JSON object.

/// How the token request's parameters are encoded in its body.
///
/// ```
/// use reqwest_oauth::ClientCredentials;
/// use reqwest_oauth::endpoint::BodyFormat;
///
/// // Auth0-style endpoints take JSON; RFC 6749 says form (the default).
/// let grant = ClientCredentials::new("https://tenant.auth0.com/oauth/token", "id", "secret")
///     .body_format(BodyFormat::Json);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 requires.
    #[default]
    Form,
    /// A JSON object of strings, as some vendors require instead.
    Json,
}

impl BodyFormat {
    /// The `Content-Type` of a body in this format.
    pub(super) fn content_type(self) -> &'static str {
        match self {
            BodyFormat::Form => "application/x-www-form-urlencoded",
            BodyFormat::Json => "application/json",
        }
    }

    /// The body carrying `pairs`, in order.
    pub(super) fn encode<'a>(self, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
        match self {
            BodyFormat::Form => form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
                .into_bytes(),
            BodyFormat::Json => {
                let object: serde_json::Map<String, serde_json::Value> = pairs
                    .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                    .collect();
                // Serialising a map of strings cannot fail.
                serde_json::to_vec(&object).unwrap_or_default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_pairs_as_form_or_json_in_order() {
        let pairs = [("grant_type", "password"), ("username", "a b&c")];
        let form = BodyFormat::Form.encode(pairs.into_iter());
        assert_eq!(form, b"grant_type=password&username=a+b%26c");
        let json: serde_json::Value =
            serde_json::from_slice(&BodyFormat::Json.encode(pairs.into_iter())).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"grant_type": "password", "username": "a b&c"})
        );
    }
}
