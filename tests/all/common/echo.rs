//! An attacker's token endpoint: every token request is answered with an
//! error that echoes the request back (its body, its `Authorization`
//! header and that header decoded), in the shape the last path segment
//! names, as framework debug pages, WAF block pages and "could not parse"
//! messages do. And the clients that talk to it, one per grant and client
//! authentication method.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parking_lot::Mutex;
use reqwest_oauth::endpoint::{BodyFormat, ClientAuth, ClientIdentity, PrivateKeyJwt};
use reqwest_oauth::{ClientCredentials, OAuthMiddleware, PasswordGrant, TokenSource};
use serde_json::json;
use wiremock::{Request, Respond, ResponseTemplate};

/// Each secret holds a marker that no encoding changes (letters and
/// digits only): if the marker shows anywhere, the secret leaked in some
/// spelling. The rest of each secret is what encodings disagree on.
pub const SECRET: &str = "Sé cr3t/+%2F:&=\"x<MarkSecretQ7>";
pub const PASSWORD: &str = "pä ss/w+rd%41&=\"'<MarkPasswordZ9>\\";
pub const REFRESH: &str = "rt/+MarkRefreshK4==";
pub const MARKERS: [&str; 3] = ["MarkSecretQ7", "MarkPasswordZ9", "MarkRefreshK4"];
pub const USERNAME: &str = "api-user";

/// The shapes an echo comes in; the token URL's last segment picks one.
pub const SHAPES: [&str; 9] = [
    "plain",
    "description",
    "json",
    "html",
    "authorization",
    "form",
    "json-escaped",
    "uri",
    "code",
];

const RSA_PRIVATE: &[u8] = include_bytes!("../../fixtures/rsa_private.pem");

/// What the endpoint received: each request's body and `Authorization`.
#[derive(Clone, Default)]
pub struct Echo {
    pub received: Arc<Mutex<Vec<(String, String)>>>,
}

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let decoded = auth
            .strip_prefix("Basic ")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        self.received.lock().push((body.clone(), auth.clone()));
        // The credentials as the server decoded them first, as in "invalid
        // password 'x'", so that a quote cut short still holds them.
        let values: Vec<String> = secret_params(&body).into_iter().map(|(_, v)| v).collect();
        let echoed = format!("{auth} {decoded} {} {body}", values.join(" "));
        let shape = request.url.path().rsplit('/').next().unwrap_or_default();
        answer(shape, &echoed, &body, &auth)
    }
}

fn answer(shape: &str, echoed: &str, body: &str, auth: &str) -> ResponseTemplate {
    let text = |status: u16, content_type: &str, text: String| {
        ResponseTemplate::new(status).set_body_raw(text.into_bytes(), content_type)
    };
    match shape {
        "plain" => text(400, "text/plain", format!("could not parse: {echoed}")),
        "description" => ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_request", "error_description": format!("could not parse {echoed}")
        })),
        "json" => ResponseTemplate::new(400).set_body_json(json!({
            "received": body, "authorization": auth, "echo": echoed
        })),
        "html" => text(
            500,
            "text/html; charset=utf-8",
            format!(
                "<html><body><h1>Internal Server Error</h1><pre>{}</pre></body></html>",
                html_escape(echoed)
            ),
        ),
        "authorization" => ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "message": format!("bad credentials: Authorization: {echoed}")
        })),
        "form" => text(
            400,
            "application/x-www-form-urlencoded",
            format!("{body}&authorization={}", form(auth)),
        ),
        "json-escaped" => text(
            400,
            "text/plain",
            format!("unexpected input \"{}\"", php_json(echoed)),
        ),
        "uri" => ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_request",
            "error_uri": format!("https://errors.example/?request={}", form(echoed))
        })),
        _ => ResponseTemplate::new(400).set_body_json(json!({ "error": echoed })),
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub fn form(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// JSON string content as PHP writes it: non-ASCII as `\u` escapes, `/`
/// escaped.
fn php_json(text: &str) -> String {
    let json = serde_json::to_string(text).expect("a string serializes");
    let mut out = String::new();
    for c in json[1..json.len() - 1].chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// One way a client authenticates, with the grant it runs.
pub struct Case {
    pub name: &'static str,
    pub build: fn(String) -> OAuthMiddleware,
}

fn middleware(source: impl TokenSource + 'static) -> OAuthMiddleware {
    OAuthMiddleware::builder(source)
        .retry(reqwest_oauth::policy::RetryPolicy::none())
        .build()
        .expect("config")
}

fn credentials(url: String, auth: ClientAuth) -> OAuthMiddleware {
    middleware(ClientCredentials::new(url, super::CLIENT_ID, SECRET).client_auth(auth))
}

fn password(url: String, client: ClientIdentity) -> PasswordGrant {
    PasswordGrant::new(url, client, USERNAME, PASSWORD)
}

/// Every grant with every client authentication method.
pub const CLIENT_AUTH_CASES: [Case; 8] = [
    Case {
        name: "client credentials, Basic",
        build: |url| credentials(url, ClientAuth::Basic),
    },
    Case {
        name: "client credentials, BasicUnencoded",
        build: |url| credentials(url, ClientAuth::BasicUnencoded),
    },
    Case {
        name: "client credentials, BasicPercentEncoded",
        build: |url| credentials(url, ClientAuth::BasicPercentEncoded),
    },
    Case {
        name: "client credentials, Body, JSON",
        build: |url| {
            middleware(
                ClientCredentials::new(url, super::CLIENT_ID, SECRET)
                    .client_auth(ClientAuth::Body)
                    .body_format(BodyFormat::Json),
            )
        },
    },
    Case {
        name: "client credentials, private_key_jwt",
        build: |url| {
            let key = PrivateKeyJwt::rs256_pem(RSA_PRIVATE).expect("rsa key");
            middleware(ClientCredentials::with_private_key_jwt(
                url,
                super::CLIENT_ID,
                key,
            ))
        },
    },
    Case {
        name: "password, public client",
        build: |url| middleware(password(url, ClientIdentity::public(super::CLIENT_ID))),
    },
    Case {
        name: "password, Basic",
        build: |url| {
            middleware(password(
                url,
                ClientIdentity::secret(super::CLIENT_ID, SECRET),
            ))
        },
    },
    Case {
        name: "password, Body, JSON",
        build: |url| {
            let client = ClientIdentity::secret(super::CLIENT_ID, SECRET).auth(ClientAuth::Body);
            middleware(password(url, client).body_format(BodyFormat::Json))
        },
    },
];

/// Every credential the endpoint saw, read from what it received: body
/// parameters that are secrets, the Basic value and that value decoded.
pub fn received_secrets(echo: &Echo) -> Vec<String> {
    let mut secrets = Vec::new();
    for (body, auth) in echo.received.lock().iter() {
        let params: Vec<(String, String)> = match serde_json::from_str(body) {
            Ok(serde_json::Value::Object(fields)) => fields
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect(),
            _ => form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        };
        for (name, value) in params {
            if [
                "client_secret",
                "password",
                "refresh_token",
                "client_assertion",
            ]
            .contains(&name.as_str())
            {
                secrets.push(value);
            }
        }
        if let Some(b64) = auth.strip_prefix("Basic ") {
            secrets.push(b64.trim_end_matches('=').to_owned());
            let decoded = STANDARD.decode(b64).expect("base64");
            secrets.push(String::from_utf8(decoded).expect("utf-8"));
        }
    }
    secrets
}

/// The secret parameters of a form or JSON body, decoded.
fn secret_params(body: &str) -> Vec<(String, String)> {
    let params: Vec<(String, String)> = match serde_json::from_str(body) {
        Ok(serde_json::Value::Object(fields)) => fields
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
            .collect(),
        _ => form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    };
    params
        .into_iter()
        .filter(|(name, _)| {
            [
                "client_secret",
                "password",
                "refresh_token",
                "client_assertion",
            ]
            .contains(&name.as_str())
        })
        .collect()
}

/// Fails if `shown` holds any secret the endpoint received, in any of the
/// spellings an echo used, or any secret's marker.
pub fn assert_nothing_sent_is_shown(shown: &str, secrets: &[String], context: &str) {
    for marker in MARKERS {
        assert!(
            !shown.contains(marker),
            "{context}: a secret ({marker}) came back in {shown:?}"
        );
    }
    for secret in secrets {
        for spelling in [secret.clone(), form(secret), php_json(secret)] {
            assert!(
                !shown.contains(&spelling),
                "{context}: {spelling:?} came back in {shown:?}"
            );
        }
        if let Some((_, signature)) = secret.rsplit_once('.') {
            assert!(
                !shown.contains(signature),
                "{context}: an assertion's signature came back in {shown:?}"
            );
        }
    }
}

/// What a caller can see of an error: Display and Debug of it and of each
/// error in its `source()` chain.
pub fn shown(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut shown = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        shown.push(e.to_string());
        shown.push(format!("{e:?}"));
        next = e.source();
    }
    shown
}
