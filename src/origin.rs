//! Which requests get a token at all: origin scoping and origin routes, and
//! the cleartext guard that keeps credentials off plain `http://`.

use std::net::IpAddr;
use std::sync::Arc;

use reqwest::Url;

use crate::Error;

/// A scheme, host and port, compared exactly (ports defaulted per scheme).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// Reads an origin such as `https://api.example.com` or
    /// `http://127.0.0.1:8080`; a path is not allowed.
    pub(crate) fn parse(origin: &str) -> Result<Self, Error> {
        let url = Url::parse(origin)
            .map_err(|e| Error::Config(format!("origin {origin:?} is not a URL: {e}")))?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(Error::Config(format!(
                "origin {origin:?} must be scheme://host[:port], without a path"
            )));
        }
        Self::of(&url).ok_or_else(|| Error::Config(format!("origin {origin:?} has no host")))
    }

    fn of(url: &Url) -> Option<Self> {
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default(),
        })
    }

    fn matches(&self, url: &Url) -> bool {
        url.scheme() == self.scheme
            && url.port_or_known_default() == self.port
            && url
                .host_str()
                .is_some_and(|host| host.eq_ignore_ascii_case(&self.host))
    }
}

/// What the origin rules say about one request.
pub(crate) enum Scope<'a> {
    /// Not an origin that receives tokens: send the request untouched.
    Outside,
    /// Attach a token; a routed audience, if the origin has one.
    Inside(Option<&'a Arc<str>>),
}

/// The origins that receive tokens. With neither routes nor allowed
/// origins, every request does (the unscoped default).
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginRules {
    pub(crate) routes: Vec<(Origin, Arc<str>)>,
    pub(crate) allowed: Vec<Origin>,
}

impl OriginRules {
    pub(crate) fn scope(&self, url: &Url) -> Scope<'_> {
        if self.routes.is_empty() && self.allowed.is_empty() {
            return Scope::Inside(None);
        }
        if let Some((_, audience)) = self.routes.iter().find(|(origin, _)| origin.matches(url)) {
            return Scope::Inside(Some(audience));
        }
        match self.allowed.iter().any(|origin| origin.matches(url)) {
            true => Scope::Inside(None),
            false => Scope::Outside,
        }
    }
}

/// Whether credentials may be sent to `url`: over `https`, or over plain
/// `http` only to a loopback address (127.0.0.0/8, ::1, `localhost`).
pub(crate) fn is_safe_for_credentials(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => {
                domain.eq_ignore_ascii_case("localhost")
                    || domain.to_ascii_lowercase().ends_with(".localhost")
            }
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// The error for credentials about to go over plain `http`.
pub(crate) fn cleartext_refused(url: &Url, what: &str) -> Error {
    Error::InsecureUrl {
        origin: url.origin().ascii_serialization(),
        what: what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("valid URL")
    }

    #[test]
    fn only_https_and_loopback_http_carry_credentials() {
        for ok in [
            "https://api.example.com/x",
            "http://127.0.0.1:8080/x",
            "http://127.9.9.9/x",
            "http://[::1]:1/x",
            "http://localhost/x",
            "http://api.localhost:3000/",
        ] {
            assert!(is_safe_for_credentials(&url(ok)), "{ok}");
        }
        for refused in [
            "http://api.example.com/x",
            "http://10.0.0.1/x",
            "http://localhost.example.com/",
            "ftp://127.0.0.1/",
        ] {
            assert!(!is_safe_for_credentials(&url(refused)), "{refused}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_default_port() {
        let origin = Origin::parse("https://API.example.com").expect("origin");
        assert!(origin.matches(&url("https://api.example.com:443/things")));
        assert!(!origin.matches(&url("http://api.example.com/things")));
        assert!(!origin.matches(&url("https://api.example.com:8443/things")));
        assert!(!origin.matches(&url("https://api.example.com.evil.net/things")));
        assert!(Origin::parse("https://api.example.com/v1").is_err());
    }
}
