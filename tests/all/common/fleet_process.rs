//! Replicas as real OS processes: the test binary launched again, running
//! only `fleet_processes::replica_process`, which reads its settings from
//! the environment and answers one line per burst of requests it is asked
//! for on stdin.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Set (to the Redis URL) only in a replica process.
pub const REDIS_ENV: &str = "FLEET_REPLICA_REDIS";
pub const TOKEN_URL_ENV: &str = "FLEET_REPLICA_TOKEN_URL";
pub const API_ENV: &str = "FLEET_REPLICA_API";
pub const LEASE_ENV: &str = "FLEET_REPLICA_LEASE_MS";
/// Marks the replica's own lines among the test harness' output.
pub const PREFIX: &str = "fleet-replica:";

/// How long a replica may take to start or to answer one burst.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// What one burst of a replica's requests came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    pub ok: u32,
    pub failed: u32,
}

/// One replica process, killed on drop.
pub struct ReplicaProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ReplicaProcess {
    /// Launches a replica sharing tokens through the Redis at `redis_url`,
    /// with the fleet lock's lease `lease`, and waits until it is ready.
    pub async fn start(redis_url: &str, token_url: &str, api: &str, lease: Duration) -> Self {
        let exe = std::env::current_exe().expect("the test binary");
        let mut child = Command::new(exe)
            .args(["--exact", "fleet_processes::replica_process"])
            .args(["--nocapture", "--test-threads=1"])
            .env(REDIS_ENV, redis_url)
            .env(TOKEN_URL_ENV, token_url)
            .env(API_ENV, api)
            .env(LEASE_ENV, lease.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the replica starts");
        let stdin = child.stdin.take().expect("piped");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut replica = ReplicaProcess {
            child,
            stdin,
            lines,
        };
        assert_eq!(replica.answer().await, "ready");
        replica
    }

    /// Asks for `requests` concurrent requests, without waiting.
    pub async fn send(&mut self, requests: u32) {
        let line = format!("{requests}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("the replica reads");
        self.stdin.flush().await.expect("the replica reads");
    }

    /// The outcome of the burst asked for last.
    pub async fn outcome(&mut self) -> Burst {
        let answer = self.answer().await;
        let mut parts = answer
            .split_whitespace()
            .filter_map(|part| part.split_once('='));
        let mut count = |name: &str| {
            let (key, value) = parts.next().expect("a count");
            assert_eq!(key, name);
            value.parse().expect("a number")
        };
        Burst {
            ok: count("ok"),
            failed: count("failed"),
        }
    }

    /// One burst of `requests`, start to end.
    pub async fn burst(&mut self, requests: u32) -> Burst {
        self.send(requests).await;
        self.outcome().await
    }

    /// The replica's next line of its own, bounded in time.
    async fn answer(&mut self) -> String {
        let read = async {
            loop {
                let line = self.lines.next_line().await.expect("reads");
                let line = line.expect("the replica answers before it exits");
                // The harness prints `test … ... ` before the first line.
                if let Some((_, answer)) = line.split_once(PREFIX) {
                    return answer.trim().to_owned();
                }
            }
        };
        tokio::time::timeout(ANSWER_TIMEOUT, read)
            .await
            .expect("the replica answers in time")
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to the process.
    pub async fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .await
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for a killed replica to be gone.
    pub async fn reap(mut self) {
        let _ = self.child.wait().await;
    }
}
