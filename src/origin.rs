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
        let shown = redacted_url(origin);
        let url =
            Url::parse(origin).map_err(|e| origin_error(format!("{shown:?} is not a URL: {e}")))?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(origin_error(format!(
                "{shown:?} must be scheme://host[:port], without a path"
            )));
        }
        Self::of(&url).ok_or_else(|| origin_error(format!("{shown:?} has no host")))
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

/// Whether two URLs share scheme, host and port: the one rule for "the same
/// origin", whether configured (`allow_origin`) or seen (a response reached
/// through a redirect).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    Origin::of(a).is_some_and(|origin| origin.matches(b))
}

fn origin_error(reason: String) -> Error {
    Error::InvalidUrl {
        what: "origin",
        reason,
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
    // Matched as bytes: compiled to a length check and a compare, where a
    // `str` match calls `memcmp` (this runs for every request).
    match url.scheme().as_bytes() {
        b"https" => true,
        b"http" => match url.host() {
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

/// `raw` as it may be shown in a `Debug`, an error or an event: user and
/// password replaced, each query value and the fragment replaced, query
/// names kept. Works on text that does not parse as a URL, too.
pub(crate) fn redacted_url(raw: &str) -> String {
    let (rest, fragment) = match raw.split_once('#') {
        Some((rest, _)) => (rest, "#[redacted]"),
        None => (raw, ""),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let mut shown = match rest.split_once("://") {
        Some((scheme, after)) => {
            // The authority ends at the first `/`; userinfo ends at its last `@`.
            let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://[redacted]@{host}{path}"),
                None => rest.to_owned(),
            }
        }
        None => rest.to_owned(),
    };
    if let Some(query) = query {
        shown.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}=[redacted]"),
                None if pair.is_empty() => String::new(),
                None => "[redacted]".to_owned(),
            })
            .collect();
        shown.push_str(&pairs.join("&"));
    }
    shown.push_str(fragment);
    shown
}

/// Refuses a URL with credentials in it (`user:password@`): they would
/// travel to the server as written, and show wherever the URL is shown.
pub(crate) fn refuse_userinfo(url: &Url, what: &'static str) -> Result<(), Error> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    Err(Error::InvalidUrl {
        what,
        reason: format!(
            "{} has credentials in it (user:password@); give the client's \
             credentials as its `ClientIdentity` (e.g. `ClientIdentity::secret(id, secret)`), \
             never in the URL",
            redacted_url(url.as_str())
        ),
    })
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
    fn shown_urls_hide_userinfo_query_values_and_fragments() {
        for (raw, shown) in [
            (
                "https://u:p%40ss@auth.example.com/t?key=s3cr3t&x#frag",
                "https://[redacted]@auth.example.com/t?key=[redacted]&[redacted]#[redacted]",
            ),
            ("https://auth.example.com/t", "https://auth.example.com/t"),
            (
                "not a url user:pw@?token=abc",
                "not a url user:pw@?token=[redacted]",
            ),
            ("ftp://a@b@host", "ftp://[redacted]@host"),
        ] {
            assert_eq!(redacted_url(raw), shown, "{raw}");
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
