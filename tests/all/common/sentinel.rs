//! A Redis Sentinel set-up on free loopback ports: a master, one replica
//! of it and one sentinel watching them, each a real `redis-server`,
//! stopped (and their files removed) on drop.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use redis::RedisConnectionInfo;
use redis::sentinel::SentinelNodeConnectionInfo;
use reqwest_oauth::fleet::RedisStore;

use super::redis::{free_port, launch};

/// The name the sentinel monitors the master under.
pub const SERVICE: &str = "fleet";

/// How the set-up is made.
#[derive(Default, Clone, Copy)]
pub struct Options {
    /// Required by the master and the replica (`requirepass`, `masterauth`).
    pub master_password: Option<&'static str>,
    /// Required by the sentinel itself.
    pub sentinel_password: Option<&'static str>,
    /// The sentinel declares a silent master down after 1 s (else 10 s,
    /// so that a busy test machine never fails over by accident).
    pub quick_failover: bool,
}

/// One `redis-server` process, killed on drop.
struct Node {
    child: Child,
    port: u16,
}

impl Node {
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct SentinelSetup {
    /// `None` once killed.
    master: Option<Node>,
    replica: Node,
    sentinel: Node,
    pub master_port: u16,
    pub replica_port: u16,
    options: Options,
    dir: PathBuf,
}

impl SentinelSetup {
    /// Starts one and waits until the sentinel watches the master and knows
    /// its replica; `None` (saying why) when `redis-server` is missing and
    /// `REQUIRE_REDIS` is unset.
    pub async fn start(options: Options) -> Option<SentinelSetup> {
        let (master_port, replica_port) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("reqwest-oauth-sentinel-{master_port}"));
        std::fs::create_dir_all(&dir).expect("a directory for the set-up");
        let Some(child) = launch(server(master_port, &dir, options)) else {
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        };
        let master = Node {
            child,
            port: master_port,
        };
        let mut replica = server(replica_port, &dir, options);
        replica.args(["--replicaof", "127.0.0.1", &master_port.to_string()]);
        let replica = Node {
            child: launch(replica).expect("the replica starts like the master"),
            port: replica_port,
        };
        // Synchronised before the sentinel starts, so that the master's
        // first answer to the sentinel lists the replica (the next comes
        // 10 s later).
        let replicated = "master_link_status:up";
        until("the replica's sync", || {
            run_cli(
                replica_port,
                options.master_password,
                &["INFO", "replication"],
            )
            .contains(replicated)
        })
        .await;
        let sentinel = start_sentinel(&dir, master_port, options);
        let setup = SentinelSetup {
            master: Some(master),
            replica,
            sentinel,
            master_port,
            replica_port,
            options,
            dir,
        };
        setup.ready().await;
        Some(setup)
    }

    /// Waits for the sentinel to know both nodes (it finds the replica
    /// through the master).
    async fn ready(&self) {
        let known = &["SENTINEL", "REPLICAS", SERVICE];
        let replica = format!("127.0.0.1:{}", self.replica_port);
        until("the sentinel finding the replica", || {
            self.sentinel_cli(known).contains(&replica)
        })
        .await;
    }

    /// The sentinel's URL, with its password if it requires one.
    pub fn sentinel_url(&self) -> String {
        let auth = self
            .options
            .sentinel_password
            .map_or(String::new(), |p| format!(":{p}@"));
        format!("redis://{auth}127.0.0.1:{}", self.sentinel.port)
    }

    /// What connecting to the master needs: its password, if any.
    pub fn master_info(&self) -> Option<SentinelNodeConnectionInfo> {
        let password = self.options.master_password?;
        let redis = RedisConnectionInfo::default().set_password(password);
        Some(SentinelNodeConnectionInfo::default().set_redis_connection_info(redis))
    }

    pub async fn store(&self) -> RedisStore {
        let url = self.sentinel_url();
        RedisStore::connect_sentinel(&[&url], SERVICE, self.master_info())
            .await
            .expect("connects through the sentinel")
    }

    /// SIGKILLs the master, as a crashed host would lose it.
    pub fn kill_master(&mut self) {
        self.master = None;
    }

    /// The port of the master the sentinel lists now. It lists the new
    /// one only once a failover has ended (`+switch-master`), as clients
    /// see it: `GET-MASTER-ADDR-BY-NAME` answers the promoted replica
    /// earlier, while `SENTINEL MASTERS` (which clients ask) does not.
    pub fn named_master_port(&self) -> Option<u16> {
        let answer = self.sentinel_cli(&["SENTINEL", "MASTER", SERVICE]);
        let mut lines = answer.lines().map(str::trim);
        lines.find(|line| *line == "port")?;
        lines.next()?.parse().ok()
    }

    /// Has the sentinel promote the replica while the master is alive (a
    /// planned failover), and waits until it names the replica. Polled:
    /// the sentinel refuses until it has heard from the replica itself.
    pub async fn fail_over(&self) {
        until("the sentinel accepting a failover", || {
            self.sentinel_cli(&["SENTINEL", "FAILOVER", SERVICE]) == "OK"
        })
        .await;
        until("the sentinel listing the new master", || {
            self.named_master_port() == Some(self.replica_port)
        })
        .await;
    }

    /// Makes the old master a replica of the new one, as the sentinel does
    /// some seconds after a failover, but without closing its clients'
    /// connections (which the sentinel does): they meet `READONLY`.
    pub async fn demote_old_master(&self) {
        let new = self.replica_port.to_string();
        let demoted = self.cli(self.master_port, &["REPLICAOF", "127.0.0.1", &new]);
        assert_eq!(demoted, "OK");
        let replicated = "master_link_status:up";
        until("the old master's sync", || {
            self.cli(self.master_port, &["INFO", "replication"])
                .contains(replicated)
        })
        .await;
    }

    /// Whether the sentinel holds the master down and fails it over (or
    /// has: it then lists the new one).
    pub fn failing_over(&self) -> bool {
        let master = self.sentinel_cli(&["SENTINEL", "MASTER", SERVICE]);
        master.contains("o_down")
            || master.contains("failover_in_progress")
            || self.named_master_port() == Some(self.replica_port)
    }

    /// Makes the sentinel slow to declare a master down again (10 s). Called
    /// once a quick failover is under way: on a busy machine the promoted
    /// replica can miss a second of the sentinel's pings, and a second
    /// failover (to the dead master) would spoil the test's counts.
    pub fn steady(&self) {
        let set = [
            "SENTINEL",
            "SET",
            SERVICE,
            "down-after-milliseconds",
            "10000",
        ];
        assert_eq!(self.sentinel_cli(&set), "OK");
    }

    /// Polls until `key` has reached the replica.
    pub async fn until_replicated(&self, key: &str) {
        until("the key's replication", || {
            self.cli(self.replica_port, &["EXISTS", key]) == "1"
        })
        .await;
    }

    /// Runs `redis-cli` against the master or replica on `port`.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        run_cli(port, self.options.master_password, args)
    }

    fn sentinel_cli(&self, args: &[&str]) -> String {
        run_cli(self.sentinel.port, self.options.sentinel_password, args)
    }
}

impl Drop for SentinelSetup {
    fn drop(&mut self) {
        // Stopped before their directory goes, so none writes to it after.
        self.master = None;
        self.replica.stop();
        self.sentinel.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A master or replica: no persistence, files in `dir`, and a full sync
/// that starts at once (Redis waits 5 s by default for more replicas).
fn server(port: u16, dir: &std::path::Path, options: Options) -> Command {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(["--save", "", "--appendonly", "no"])
        .args(["--repl-diskless-sync-delay", "0"]);
    if let Some(password) = options.master_password {
        command.args(["--requirepass", password, "--masterauth", password]);
    }
    command
}

/// The sentinel, from a configuration file in `dir` (it rewrites the file
/// as it learns the set-up, so it must be its own).
fn start_sentinel(dir: &std::path::Path, master_port: u16, options: Options) -> Node {
    let port = free_port();
    let down_after = if options.quick_failover {
        1_000
    } else {
        10_000
    };
    let mut conf = format!(
        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
         sentinel monitor {SERVICE} 127.0.0.1 {master_port} 1\n\
         sentinel down-after-milliseconds {SERVICE} {down_after}\n\
         sentinel failover-timeout {SERVICE} 2000\n",
        dir = dir.display(),
    );
    if let Some(password) = options.master_password {
        conf.push_str(&format!("sentinel auth-pass {SERVICE} {password}\n"));
    }
    if let Some(password) = options.sentinel_password {
        conf.push_str(&format!("requirepass {password}\n"));
    }
    let path = dir.join("sentinel.conf");
    std::fs::write(&path, conf).expect("the sentinel's configuration");
    let mut command = Command::new("redis-server");
    command.arg(&path).arg("--sentinel");
    let child = launch(command).expect("the sentinel starts like the master");
    Node { child, port }
}

fn run_cli(port: u16, password: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new("redis-cli");
    command.args(["-p", &port.to_string()]);
    if let Some(password) = password {
        command.env("REDISCLI_AUTH", password);
    }
    let output = command.args(args).output().expect("redis-cli runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Polls `done` every 20 ms for up to 15 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the sentinel set-up: {what} never happened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
