//! A real authorization server, installed by `install.sh` into the
//! git-ignored `.real-servers/`, started on a free loopback port by our
//! script in `servers/`, and stopped when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What the scripts in `servers/` register; they must agree with this file.
pub const PLAIN_SECRET: &str = "ordinary-secret-0123456789";
/// Every character the issue names: `: + % /` and a space, with `%2F` so a
/// server that percent-decodes a secret sent as it is gets a different one.
pub const ODD_SECRET: &str = "s:e+c%2Fr/e t";
pub const USERNAME: &str = "alice";
pub const PASSWORD: &str = "wonderland";

/// The one variable that turns "not installed" from a skip into a failure.
const REQUIRE: &str = "REQUIRE_REAL_SERVERS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `oidc-provider` (npm) on Node.
    OidcProvider,
    /// Authlib (PyPI) in a small Flask app.
    Authlib,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::OidcProvider => "oidc-provider",
            Kind::Authlib => "Authlib",
        }
    }

    fn folder(self) -> &'static str {
        match self {
            Kind::OidcProvider => "oidc_provider",
            Kind::Authlib => "authlib",
        }
    }

    /// The `error` a wrong password gets. RFC 6749 5.2 says `invalid_grant`;
    /// Authlib answers `invalid_request` ("Invalid 'username' or
    /// 'password' in request."). oidc-provider has no password grant; the
    /// one in our script answers `invalid_grant`.
    pub fn wrong_password_error(self) -> &'static str {
        match self {
            Kind::OidcProvider => "invalid_grant",
            Kind::Authlib => "invalid_request",
        }
    }

    /// oidc-provider has the resourceIndicators feature; Authlib has no
    /// RFC 8707 support.
    pub fn honours_resource_indicators(self) -> bool {
        self == Kind::OidcProvider
    }
}

pub struct RealServer {
    pub kind: Kind,
    /// `http://127.0.0.1:<port>`: the issuer, the token endpoint's origin and
    /// the protected APIs' origin.
    pub base: String,
    child: Child,
    /// Held open: the script exits when it closes, even if this process is
    /// killed before `Drop` runs.
    _stdin: ChildStdin,
    log: PathBuf,
    http: reqwest::Client,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Says why the server cannot run: a skip, unless CI's variable is set.
fn unavailable(kind: Kind, why: String) -> Option<RealServer> {
    if std::env::var_os(REQUIRE).is_some() {
        panic!("{REQUIRE} is set but {} cannot run: {why}", kind.name());
    }
    eprintln!(
        "SKIPPED: {} cannot run ({why}); run tests/real_servers/install.sh to install it",
        kind.name()
    );
    None
}

impl RealServer {
    /// Starts one, or returns `None` (saying why) when its runtime or its
    /// packages are not installed and `REQUIRE_REAL_SERVERS` is unset.
    pub async fn start(kind: Kind) -> Option<RealServer> {
        let installed = repo().join(".real-servers").join(kind.folder());
        if !installed.join(".installed-from").exists() {
            return unavailable(kind, format!("{} is not installed", installed.display()));
        }
        let script_dir = repo()
            .join("tests/real_servers/servers")
            .join(kind.folder());
        let public_key = repo().join("tests/fixtures/rsa_public.pem");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port()
            .to_string();
        let mut command = match kind {
            Kind::OidcProvider => {
                let mut command = Command::new("node");
                command
                    .arg(script_dir.join("server.mjs"))
                    .arg(&port)
                    .arg(&installed)
                    .arg(&public_key);
                command
            }
            Kind::Authlib => {
                let mut command = Command::new(installed.join("venv/bin/python"));
                command
                    .arg(script_dir.join("server.py"))
                    .arg(&port)
                    .arg(&public_key);
                command
            }
        };
        // The servers' warnings and errors go to a file, shown if start fails.
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("real-server-{}-{port}.log", kind.folder()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let spawned = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => return unavailable(kind, format!("{command:?} did not start: {error}")),
        };
        let stdin = child.stdin.take().expect("piped stdin");
        let server = RealServer {
            kind,
            base: format!("http://127.0.0.1:{port}"),
            child,
            _stdin: stdin,
            log,
            http: reqwest::Client::new(),
        };
        server.wait_until_ready().await;
        Some(server)
    }

    async fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(response) = self.http.get(self.url("/test/stats")).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} did not answer within 20 s; its log:\n{}",
            self.kind.name(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token_url(&self) -> String {
        self.url("/token")
    }

    pub fn revocation_url(&self) -> String {
        match self.kind {
            Kind::OidcProvider => self.url("/token/revocation"),
            Kind::Authlib => self.url("/revoke"),
        }
    }

    /// A protected API; `default` accepts tokens requested without a
    /// resource, `a` and `b` (oidc-provider) only tokens for themselves.
    pub fn api(&self, name: &str) -> String {
        self.url(&format!("/api/{name}"))
    }

    /// The server's own counters (see the scripts).
    pub async fn stats(&self) -> ServerStats {
        let value: Value = self
            .http
            .get(self.url("/test/stats"))
            .send()
            .await
            .expect("stats answer")
            .json()
            .await
            .expect("stats are JSON");
        ServerStats(value)
    }

    /// Revokes `token` at the RFC 7009 endpoint, as the client that owns it
    /// (both servers only let the owner revoke).
    pub async fn revoke(&self, token: &str, client_id: &str, secret: &str) {
        let response = self
            .http
            .post(self.revocation_url())
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("token", token)
                    .finish(),
            )
            .send()
            .await
            .expect("revocation answer");
        assert_eq!(
            response.status(),
            200,
            "{} revoked the token",
            self.kind.name()
        );
    }

    /// Calls an API with a bearer token by hand, past the middleware.
    pub async fn call_with(&self, api: &str, token: &str) -> u16 {
        self.http
            .get(self.api(api))
            .bearer_auth(token)
            .send()
            .await
            .expect("API answers")
            .status()
            .as_u16()
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The counters a server script keeps, read at one moment.
#[derive(Debug)]
pub struct ServerStats(pub Value);

impl ServerStats {
    fn count(&self, field: &str) -> u64 {
        self.0[field].as_u64().unwrap_or(0)
    }

    /// Every POST to the token endpoint, whatever its outcome.
    pub fn token_requests(&self) -> u64 {
        self.count("token_requests")
    }

    /// Successful token responses for one `grant_type`.
    pub fn granted(&self, grant_type: &str) -> u64 {
        self.0["grants"][grant_type].as_u64().unwrap_or(0)
    }

    /// The `error` codes of refused token requests, in order.
    pub fn errors(&self) -> Vec<String> {
        self.0["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e.as_str().unwrap_or("?").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rotated-out refresh tokens presented again.
    pub fn refresh_token_reuse(&self) -> u64 {
        self.count("refresh_token_reuse")
    }

    /// Grants the server revoked (oidc-provider does on refresh token reuse).
    pub fn grants_revoked(&self) -> u64 {
        self.count("grants_revoked")
    }

    pub fn api_ok(&self) -> u64 {
        self.count("api_ok")
    }

    /// API calls whose DPoP proof the API checked and accepted.
    pub fn dpop_api_ok(&self) -> u64 {
        self.count("dpop_api_ok")
    }

    pub fn api_rejected(&self) -> u64 {
        self.count("api_rejected")
    }
}
