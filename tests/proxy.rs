//! With `HTTP_PROXY`, `ALL_PROXY` and `HTTPS_PROXY` set, the crate's own
//! token client sends nothing for a plain-`http` (loopback) token endpoint
//! or issuer through the proxy, where the proxy would read the credentials
//! in clear (and could answer for the endpoint); `https` still goes through
//! the proxy, as a tunnel that carries no credentials in clear.
//!
//! Its own binary, and the fetches run in a child process of it: proxy
//! variables are process-wide and read once, when the crate's client is
//! built, and setting them in a running (multi-threaded) test process is
//! not sound. The parent records what reaches the proxy; the child, started
//! with the variables set, runs `child_fetches_with_proxies_set` (which does
//! nothing in an ordinary run).

#[path = "all/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{CLIENT_ID, CLIENT_SECRET, within_timeout};
use parking_lot::Mutex;
use reqwest_oauth::testkit::AuthServer;
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware, PasswordGrant};

/// Set only in the child process.
const CHILD: &str = "REQWEST_OAUTH_PROXY_CHILD";

/// A proxy on 127.0.0.1 that records every byte it receives and refuses
/// every request (`403`), tunnels included.
struct RecordingProxy {
    url: String,
    received: Arc<Mutex<Vec<u8>>>,
}

impl RecordingProxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
                let mut buffer = [0u8; 16 * 1024];
                if let Ok(read) = stream.read(&mut buffer) {
                    record.lock().extend_from_slice(&buffer[..read]);
                }
                let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
            }
        });
        RecordingProxy { url, received }
    }
}

#[test]
fn plain_http_credentials_never_go_through_a_proxy() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let proxy = RecordingProxy::start();
    let mut child = Command::new(std::env::current_exe().expect("this test binary"));
    child
        .args(["--exact", "child_fetches_with_proxies_set", "--nocapture"])
        .env(CHILD, "1")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
    ] {
        child.env(name, &proxy.url);
    }
    let output = child.output().expect("the child runs");
    let seen = String::from_utf8_lossy(&proxy.received.lock()).into_owned();
    for leaked in [
        CLIENT_SECRET,
        "s3cr3t%3Awith%26odd%3Dchars",
        "hunter2-proxy",
        "POST ",
        "GET ",
        "authorization",
    ] {
        assert!(
            !seen
                .to_ascii_lowercase()
                .contains(&leaked.to_ascii_lowercase()),
            "{leaked:?} reached the proxy: {seen:?}"
        );
    }
    assert!(
        seen.contains("CONNECT auth.example.test:443"),
        "https did not go through the proxy, so it proved nothing: {seen:?}"
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && report.contains("1 passed"),
        "the child failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs only in the child, with the proxy variables set.
#[tokio::test]
async fn child_fetches_with_proxies_set() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    within_timeout(async {
        let auth = AuthServer::builder()
            .client(CLIENT_ID, CLIENT_SECRET)
            .user("api-user", "hunter2-proxy")
            .start()
            .await
            .expect("auth");
        // A configured loopback endpoint, and one found through discovery.
        let configured = OAuthMiddleware::new(ClientCredentials::new(
            auth.token_url(),
            CLIENT_ID,
            CLIENT_SECRET,
        ));
        configured
            .token(configured.default_key())
            .await
            .expect("the loopback endpoint answered directly");
        let discovered = OAuthMiddleware::new(PasswordGrant::discover(
            auth.issuer(),
            reqwest_oauth::endpoint::ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET),
            "api-user",
            "hunter2-proxy",
        ));
        discovered
            .token(discovered.default_key())
            .await
            .expect("the loopback issuer answered directly");
        assert_eq!(auth.token_requests(), 2);
        // https goes through the proxy, which refuses the tunnel.
        let tunneled = OAuthMiddleware::builder(ClientCredentials::new(
            "https://auth.example.test/token",
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .retry(reqwest_oauth::policy::RetryPolicy::none())
        .build()
        .expect("config");
        let refused = tunneled
            .token(tunneled.default_key())
            .await
            .expect_err("the proxy refuses the tunnel");
        assert!(matches!(refused, Error::Transport { .. }), "{refused:?}");
    })
    .await;
}
