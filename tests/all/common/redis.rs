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
    launch(command)
}

/// Starts a `redis-server` command, or returns `None` (saying why) when it
/// cannot start and `REQUIRE_REDIS` is unset.
pub fn launch(mut command: Command) -> Option<Child> {
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

/// A three-node Redis Cluster (no replicas) on loopback ports, made with
/// `redis-cli --cluster create`, stopped and its files removed on drop.
pub struct RedisCluster {
    nodes: Vec<Child>,
    pub ports: Vec<u16>,
    dir: std::path::PathBuf,
}

/// A free port whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    for _ in 0..100 {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

impl RedisCluster {
    /// Starts one, or `None` (saying why) like [`RedisServer::start`].
    pub async fn start() -> Option<RedisCluster> {
        let ports: Vec<u16> = (0..3).map(|_| free_cluster_port()).collect();
        let dir = std::env::temp_dir().join(format!("reqwest-oauth-cluster-{}", ports[0]));
        std::fs::create_dir_all(&dir).expect("a directory for the nodes");
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            ports: ports.clone(),
            dir,
        };
        for port in ports {
            let mut command = Command::new("redis-server");
            command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(format!("nodes-{port}.conf"))
                .arg("--dir")
                .arg(&cluster.dir)
                .args(["--save", "", "--appendonly", "no"]);
            match command.stdout(Stdio::null()).spawn() {
                Ok(child) => cluster.nodes.push(child),
                Err(error) if std::env::var_os("REQUIRE_REDIS").is_none() => {
                    eprintln!("SKIPPED: redis-server could not start ({error})");
                    return None;
                }
                Err(error) => {
                    panic!("REQUIRE_REDIS is set but redis-server could not start: {error}")
                }
            }
        }
        cluster.create().await;
        Some(cluster)
    }

    /// Waits for the nodes, joins them into a cluster, waits until every
    /// node reports it ready.
    async fn create(&self) {
        for port in &self.ports {
            self.until(*port, &["PING"], "PONG").await;
        }
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(created.status.success(), "cluster create: {created:?}");
        for port in &self.ports {
            self.until(*port, &["CLUSTER", "INFO"], "cluster_state:ok")
                .await;
        }
    }

    /// Polls `redis-cli` on `port` until its output contains `expected`.
    async fn until(&self, port: u16, args: &[&str], expected: &str) {
        for _ in 0..200 {
            if self.cli(port, args).contains(expected) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cluster node {port} never answered {expected}");
    }

    /// Runs `redis-cli` against the node on `port`; its output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    pub async fn store(&self) -> RedisStore {
        let urls = self.urls();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        RedisStore::connect_cluster(&urls).await.expect("connects")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
