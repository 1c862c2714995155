//! Finding the token endpoint from an issuer URL: OpenID Connect discovery
//! (`/.well-known/openid-configuration`), falling back to RFC 8414
//! (`/.well-known/oauth-authorization-server`). Fetched once, on first use.

use reqwest::Url;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::endpoint::read_limited;
use crate::{ClientAuth, DEFAULT_BODY_LIMIT, Error};

/// What discovery found.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) token_endpoint: String,
    /// `token_endpoint_auth_methods_supported`, if the document lists them.
    auth_methods: Vec<String>,
}

impl Found {
    /// The client authentication the server says it supports, preferring
    /// HTTP Basic (the RFC's must-support) over body parameters.
    pub(crate) fn preferred_auth(&self) -> Option<ClientAuth> {
        let supports = |method: &str| self.auth_methods.iter().any(|m| m == method);
        if supports("client_secret_basic") {
            Some(ClientAuth::Basic)
        } else if supports("client_secret_post") {
            Some(ClientAuth::Body)
        } else {
            None
        }
    }
}

/// An issuer whose metadata is read lazily and kept.
#[derive(Debug)]
pub(crate) struct Discovery {
    pub(crate) issuer: String,
    found: OnceCell<Found>,
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
    pub(crate) async fn resolve(&self, http: &reqwest::Client) -> Result<&Found, Error> {
        self.found
            .get_or_try_init(|| fetch(http, &self.issuer))
            .await
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        well_known_urls(&self.issuer).map(drop)
    }
}

async fn fetch(http: &reqwest::Client, issuer: &str) -> Result<Found, Error> {
    let mut last = None;
    for url in well_known_urls(issuer)? {
        match metadata(http, url).await {
            Ok(found) => return Ok(found),
            Err(error) => {
                tracing::debug!(issuer, %error, "discovery document not usable; trying the next");
                last = Some(error);
            }
        }
    }
    Err(last.unwrap_or_else(|| refused(issuer, "no discovery document")))
}

async fn metadata(http: &reqwest::Client, url: Url) -> Result<Found, Error> {
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
    let body = read_limited(&mut response, DEFAULT_BODY_LIMIT).await?;
    let document: Value = serde_json::from_slice(&body).map_err(|_| refused(&shown, "not JSON"))?;
    let token_endpoint = document
        .get("token_endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| refused(&shown, "no token_endpoint"))?;
    let auth_methods = document
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|methods| {
            methods
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Found {
        token_endpoint: token_endpoint.to_owned(),
        auth_methods,
    })
}

/// OpenID Connect appends to the issuer; RFC 8414 inserts before its path.
fn well_known_urls(issuer: &str) -> Result<[Url; 2], Error> {
    let url = Url::parse(issuer)
        .map_err(|e| Error::Config(format!("issuer {issuer:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Config(format!(
            "issuer {issuer:?} must be an http(s) URL"
        )));
    }
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    let parse = |text: String| {
        Url::parse(&text).map_err(|e| Error::Config(format!("issuer {issuer:?}: {e}")))
    };
    Ok([
        parse(format!("{origin}{path}/.well-known/openid-configuration"))?,
        parse(format!(
            "{origin}/.well-known/oauth-authorization-server{path}"
        ))?,
    ])
}

fn refused(issuer: &str, reason: &str) -> Error {
    Error::Discovery {
        url: issuer.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
