//! A throwaway `redis-server` on a free loopback port, stopped on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest_oauth::fleet::RedisStore;

pub struct RedisServer {
    child: Child,
    pub url: String,
}

impl RedisServer {
    /// Starts one, or returns `None` (saying why) when `redis-server` is not
    /// installed and `REQUIRE_REDIS` is unset. CI sets it, so there a
    /// missing Redis fails the test instead of skipping it.
    pub async fn start() -> Option<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if std::env::var_os("REQUIRE_REDIS").is_none() => {
                eprintln!(
                    "SKIPPED: redis-server could not start ({error}); install Redis to run this test"
                );
                return None;
            }
            Err(error) => panic!("REQUIRE_REDIS is set but redis-server could not start: {error}"),
        };
        let server = RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if RedisStore::connect(&server.url).await.is_ok() {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not accept connections within 5 s");
    }

    pub async fn store(&self) -> RedisStore {
        RedisStore::connect(&self.url).await.expect("connects")
    }

    /// Stops the server now, as an outage would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
