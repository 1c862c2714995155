//! Finding the token endpoint from an issuer URL: OpenID Connect discovery
//! (`/.well-known/openid-configuration`), falling back to RFC 8414
//! (`/.well-known/oauth-authorization-server`). Fetched once, on first use.
//!
//! Discovery only reports what the server published; the endpoint decides
//! what to make of it (which URL to trust, which client authentication).

use reqwest::Url;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::Error;
use crate::http_read::read_limited;
use crate::origin::{redacted_url, refuse_userinfo};

/// The largest metadata document read: far more than any real one needs.
const METADATA_BODY_LIMIT: usize = 64 * 1024;

/// The part of the server's metadata the token endpoint uses.
#[derive(Debug)]
pub(crate) struct Metadata {
    /// `token_endpoint`, as published (checked by the endpoint, not here).
    pub(crate) token_endpoint: String,
    /// `token_endpoint_auth_methods_supported`, empty if not listed.
    pub(crate) auth_methods: Vec<String>,
    /// `dpop_signing_alg_values_supported` (RFC 9449), empty if not listed.
    #[cfg_attr(not(feature = "dpop"), allow(dead_code))]
    pub(crate) dpop_algs: Vec<String>,
}

/// An issuer whose metadata is read lazily and kept.
pub(crate) struct Discovery {
    pub(crate) issuer: String,
    found: OnceCell<Metadata>,
}

impl Discovery {
    pub(crate) fn new(issuer: String) -> Self {
        Discovery {
            issuer,
            found: OnceCell::new(),
        }
    }

    /// The issuer's metadata: read on first call; a failure is not kept, so
    /// the next call tries again.
    pub(crate) async fn resolve(&self, http: &reqwest::Client) -> Result<&Metadata, Error> {
        self.found
            .get_or_try_init(|| fetch(http, &self.issuer))
            .await
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        well_known_urls(&self.issuer).map(drop)
    }
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("issuer", &redacted_url(&self.issuer))
            .field("found", &self.found.initialized())
            .finish()
    }
}

async fn fetch(http: &reqwest::Client, issuer: &str) -> Result<Metadata, Error> {
    let mut last = None;
    for url in well_known_urls(issuer)? {
        match metadata(http, url).await {
            Ok(found) => return Ok(found),
            Err(error) => {
                let issuer = redacted_url(issuer);
                tracing::debug!(issuer, %error, "discovery document not usable; trying the next");
                last = Some(error);
            }
        }
    }
    Err(last.unwrap_or_else(|| refused(issuer, "no discovery document")))
}

async fn metadata(http: &reqwest::Client, url: Url) -> Result<Metadata, Error> {
    let shown = url.to_string();
    let mut response = http
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(Error::transport)?;
    if !response.status().is_success() {
        return Err(refused(&shown, &format!("answered {}", response.status())));
    }
    let body = read_limited(&mut response, METADATA_BODY_LIMIT).await?;
    let document: Value = serde_json::from_slice(&body).map_err(|_| refused(&shown, "not JSON"))?;
    let token_endpoint = document
        .get("token_endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| refused(&shown, "no token_endpoint"))?;
    Ok(Metadata {
        token_endpoint: token_endpoint.to_owned(),
        auth_methods: strings(&document, "token_endpoint_auth_methods_supported"),
        dpop_algs: strings(&document, "dpop_signing_alg_values_supported"),
    })
}

/// A metadata member that lists strings; empty when absent.
fn strings(document: &Value, member: &str) -> Vec<String> {
    document
        .get(member)
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// OpenID Connect appends to the issuer; RFC 8414 inserts before its path.
fn well_known_urls(issuer: &str) -> Result<[Url; 2], Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        what: "issuer",
        reason,
    };
    let shown = redacted_url(issuer);
    let url = Url::parse(issuer).map_err(|e| invalid(format!("{shown:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(format!("{shown:?} must be an http(s) URL")));
    }
    refuse_userinfo(&url, "issuer")?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    let parse = |text: String| Url::parse(&text).map_err(|e| invalid(format!("{shown:?}: {e}")));
    Ok([
        parse(format!("{origin}{path}/.well-known/openid-configuration"))?,
        parse(format!(
            "{origin}/.well-known/oauth-authorization-server{path}"
        ))?,
    ])
}

fn refused(issuer: &str, reason: &str) -> Error {
    Error::Discovery {
        url: redacted_url(issuer),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_that_is_not_an_http_url_is_a_typed_url_error() {
        for issuer in ["not a url", "ftp://login.example.com", "mailto:a@b.c"] {
            assert!(
                matches!(
                    well_known_urls(issuer),
                    Err(Error::InvalidUrl { what: "issuer", .. })
                ),
                "{issuer}"
            );
        }
    }

    #[test]
    fn builds_both_well_known_urls() {
        let [oidc, rfc8414] = well_known_urls("https://login.example.com/tenant-1/").expect("urls");
        assert_eq!(
            oidc.as_str(),
            "https://login.example.com/tenant-1/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc8414.as_str(),
            "https://login.example.com/.well-known/oauth-authorization-server/tenant-1"
        );
        let [oidc, rfc8414] = well_known_urls("https://auth.example.com").expect("urls");
        assert_eq!(
            oidc.as_str(),
            "https://auth.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc8414.as_str(),
            "https://auth.example.com/.well-known/oauth-authorization-server"
        );
    }
}
