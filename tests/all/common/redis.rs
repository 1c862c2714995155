//! A throwaway `redis-server` on a free loopback port, stopped on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest_oauth::fleet::RedisStore;

pub struct RedisServer {
    child: Child,
    port: u16,
    /// With the password, if the server requires one.
    pub url: String,
    password: Option<String>,
}

/// A free loopback port (free when asked; the server binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl RedisServer {
    /// Starts one, or returns `None` (saying why) when `redis-server` is not
    /// installed and `REQUIRE_REDIS` is unset. CI sets it, so there a
    /// missing Redis fails the test instead of skipping it.
    pub async fn start() -> Option<RedisServer> {
        Self::start_with(None).await
    }

    /// Like [`start`](Self::start), requiring `password` when given.
    pub async fn start_with(password: Option<&str>) -> Option<RedisServer> {
        let port = free_port();
        let child = spawn(port, password)?;
        let auth = password.map_or(String::new(), |p| format!(":{p}@"));
        let server = RedisServer {
            child,
            port,
            url: format!("redis://{auth}127.0.0.1:{port}"),
            password: password.map(str::to_owned),
        };
        server.ready().await;
        Some(server)
    }

    async fn ready(&self) {
        for _ in 0..100 {
            if RedisStore::connect(&self.url).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not accept connections within 5 s");
    }

    /// The URL without the password.
    pub fn url_without_password(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn store(&self) -> RedisStore {
        RedisStore::connect(&self.url).await.expect("connects")
    }

    /// Runs `redis-cli` against the server (for what the store API cannot
    /// do, such as a key without a time to live); its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-p", &self.port.to_string()]);
        if let Some(password) = &self.password {
            command.env("REDISCLI_AUTH", password);
        }
        let output = command.args(args).output().expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Stops the server now, as an outage would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, empty (a restart without
    /// persistence).
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, self.password.as_deref()).expect("restarts");
        self.ready().await;
    }
}

fn spawn(port: u16, password: Option<&str>) -> Option<Child> {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"]);
    if let Some(password) = password {
        command.args(["--requirepass", password]);
    }
    match command.stdout(Stdio::null()).spawn() {
        Ok(child) => Some(child),
        Err(error) if std::env::var_os("REQUIRE_REDIS").is_none() => {
            eprintln!(
                "SKIPPED: redis-server could not start ({error}); install Redis to run this test"
            );
            None
        }
        Err(error) => panic!("REQUIRE_REDIS is set but redis-server could not start: {error}"),
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
