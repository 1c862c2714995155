//! The connection behind
//! [`RedisStore::connect_sentinel`](super::RedisStore::connect_sentinel):
//! to the master Redis Sentinel names, asked again when a command shows the
//! master may have moved.
//!
//! The `redis` crate resolves the master once per call and leaves failover
//! to its caller; a fleet store lives as long as its process, across
//! failovers, so it re-resolves on the failures a failover causes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisError, RedisResult, ServerErrorKind, Value,
};

use super::StoreError;
use super::redis_settings::{RESPONSE_TIMEOUT, is_auth_error, manager_config};

/// Asking the sentinels, checking the master they name (its `ROLE`) and
/// connecting to it is a few round trips to two servers: bounded like one
/// command, so a stalled sentinel or master costs a store call one more
/// second, not a hang.
const RESOLVE_TIMEOUT: Duration = RESPONSE_TIMEOUT;

/// A connection to the master the sentinels name for one service. Clones
/// share it, and with it each other's failovers.
#[derive(Clone)]
pub(super) struct SentinelConnection {
    shared: Arc<Shared>,
}

struct Shared {
    /// The master resolved most recently, read by every command without a
    /// lock.
    current: ArcSwap<Master>,
    /// Held while the sentinels are asked, so that one task asks at a time
    /// and the tasks that failed meanwhile take its answer.
    sentinel: tokio::sync::Mutex<SentinelClient>,
    /// Completed askings: a task that waited for the lock sees that another
    /// asked after its own command failed, and does not ask again.
    asked: AtomicU64,
    service: String,
}

/// One resolved master.
struct Master {
    connection: ConnectionManager,
    /// For the release at shutdown, which cannot use the connection (it is
    /// driven by the runtime that is shutting down).
    client: redis::Client,
}

impl SentinelConnection {
    /// Asks the `sentinels` for the master of `service`, connects to it and
    /// proves the connection with a `PING`; on failure, says which part
    /// failed (see [`explain`]).
    pub(super) async fn connect(
        sentinels: &[&str],
        service: &str,
        master: Option<SentinelNodeConnectionInfo>,
    ) -> Result<Self, StoreError> {
        let sentinels = sentinels
            .iter()
            .map(|url| url.into_connection_info())
            .collect::<RedisResult<Vec<ConnectionInfo>>>()
            .map_err(|error| StoreError::new(format!("a sentinel URL is invalid: {error}")))?;
        let kind = SentinelServerType::Master;
        let mut client = SentinelClient::build(sentinels.clone(), service.to_owned(), master, kind)
            .map_err(StoreError::new)?;
        let resolving = async { Master::connect(client.async_get_client().await?).await };
        let resolved = match within(RESOLVE_TIMEOUT, resolving).await {
            Ok(resolved) => resolved,
            Err(error) => return Err(explain(error, &sentinels, service).await),
        };
        resolved.ping(service).await?;
        Ok(SentinelConnection {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee(resolved),
                sentinel: tokio::sync::Mutex::new(client),
                asked: AtomicU64::new(0),
                service: service.to_owned(),
            }),
        })
    }

    /// The client of the master resolved most recently, for a blocking
    /// connection that needs no runtime.
    pub(super) fn master_client(&self) -> redis::Client {
        self.shared.current.load().client.clone()
    }

    /// Runs `send` on the current master. If it fails as if the master had
    /// moved, asks the sentinels, and runs it once more if they name
    /// another master; otherwise the failure stands, so a command waits for
    /// at most one failed attempt on the old master (the store's bound).
    async fn on_master<T, F, Fut>(&self, send: F) -> RedisResult<T>
    where
        T: Answer,
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let master = self.shared.current.load_full();
        let answer = send(master.connection.clone()).await;
        let moved = match &answer {
            Err(error) => may_have_moved(error),
            Ok(answer) => answer.refused_by_a_replica(),
        };
        if !moved {
            return answer;
        }
        match self.follow(&master).await {
            Some(moved) => send(moved.connection.clone()).await,
            None => answer,
        }
    }

    /// After a command failed on `failed`: the master to retry on, if it is
    /// another one. One task asks the sentinels at a time; a task that
    /// waited takes the answer of the asking that ran meanwhile.
    async fn follow(&self, failed: &Arc<Master>) -> Option<Arc<Master>> {
        let asked = self.shared.asked.load(Ordering::Acquire);
        let mut sentinel = self.shared.sentinel.lock().await;
        let current = self.shared.current.load_full();
        if !Arc::ptr_eq(&current, failed) {
            return Some(current);
        }
        if self.shared.asked.load(Ordering::Acquire) != asked {
            return None;
        }
        let moved = self.ask(&mut sentinel, failed).await;
        self.shared.asked.fetch_add(1, Ordering::AcqRel);
        let moved = Arc::new(moved?);
        self.shared.current.store(Arc::clone(&moved));
        Some(moved)
    }

    /// Asks the sentinels for the master and connects to it if it is not
    /// `failed`'s. While a failover is under way the sentinels name none
    /// (the old master is down, not yet replaced): nothing changes, and the
    /// caller's command fails as it would against a Redis that is down.
    async fn ask(&self, sentinel: &mut SentinelClient, failed: &Master) -> Option<Master> {
        let service = self.shared.service.as_str();
        let from = address(&failed.client);
        let asking = async {
            let client = sentinel.async_get_client().await?;
            if address(&client) == from {
                return Ok(None);
            }
            Master::connect(client).await.map(Some)
        };
        match within(RESOLVE_TIMEOUT, asking).await {
            Ok(Some(master)) => {
                let to = address(&master.client);
                tracing::info!(service, %from, %to, "following the Redis master to its new address");
                Some(master)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::debug!(%error, service, "no other Redis master to follow yet");
                None
            }
        }
    }
}

impl Master {
    /// Connects to the master `client` points at, with the timeouts of
    /// [`RedisStore::connect`](super::RedisStore::connect).
    async fn connect(client: redis::Client) -> RedisResult<Master> {
        let connection =
            ConnectionManager::new_with_config(client.clone(), manager_config()).await?;
        Ok(Master { connection, client })
    }

    /// One round trip that needs the connection authenticated.
    async fn ping(&self, service: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let answer = redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await;
        answer.map(drop).map_err(|error| {
            let at = address(&self.client);
            let hint = if is_auth_error(&error) {
                MASTER_PASSWORD
            } else {
                ""
            };
            StoreError::new(format!(
                "the master of `{service}` at {at} did not answer PING: {error}{hint}"
            ))
        })
    }
}

/// `future`'s result, or a timeout error after `limit`.
async fn within<T>(
    limit: Duration,
    future: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| {
            let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
            Err(RedisError::from(timed_out))
        })
}

/// Whether a failed command may mean the master changed: the connection
/// failed (refused, reset, timed out: the master died or is cut off), or
/// the node answered as a replica.
fn may_have_moved(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || matches!(error.kind(), ErrorKind::Server(kind) if is_replica_refusal(kind))
}

/// `READONLY`: the node was demoted to a replica; `MASTERDOWN`: it is a
/// replica that lost its master.
fn is_replica_refusal(kind: ServerErrorKind) -> bool {
    matches!(
        kind,
        ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown
    )
}

/// What a connection answers. Redis' refusals arrive as values, not
/// errors (`query_async` turns them into errors later), so a refusal from
/// a replica is looked for in them.
trait Answer {
    fn refused_by_a_replica(&self) -> bool;
}

impl Answer for Value {
    fn refused_by_a_replica(&self) -> bool {
        matches!(self, Value::ServerError(error) if error.kind().is_some_and(is_replica_refusal))
    }
}

impl Answer for Vec<Value> {
    fn refused_by_a_replica(&self) -> bool {
        self.iter().any(Answer::refused_by_a_replica)
    }
}

/// `host:port` of a client, for messages and logs (never its password).
fn address(client: &redis::Client) -> String {
    client.get_connection_info().addr().to_string()
}

/// Where the master's password goes, for an error that says it was refused.
const MASTER_PASSWORD: &str = "; give the master's password (and user) with `SentinelNodeConnectionInfo::set_redis_connection_info`";

/// Says why no master could be had. The `redis` crate's error alone does
/// not say whether the sentinels, the name or the master failed, so the
/// sentinels are asked directly where the master of `service` is.
async fn explain(error: RedisError, sentinels: &[ConnectionInfo], service: &str) -> StoreError {
    let message = match master_address(sentinels, service).await {
        Err(refused) if is_auth_error(&refused) => format!(
            "the sentinels refused to authenticate this client ({refused}); give a sentinel's password in its URL: redis://:password@host:26379"
        ),
        Err(unreachable) => format!("no sentinel answered ({unreachable})"),
        Ok(None) => format!("no sentinel knows a master named `{service}`"),
        Ok(Some(at)) if error.kind() == ErrorKind::MasterNameNotFoundBySentinel => {
            format!("the sentinels name no master of `{service}` that is up (last known at {at})")
        }
        Ok(Some(at)) if is_auth_error(&error) => format!(
            "the master of `{service}` at {at} refused to authenticate this client ({error}){MASTER_PASSWORD}"
        ),
        Ok(Some(at)) => format!("the master of `{service}` at {at} failed: {error}"),
    };
    StoreError::new(message)
}

/// The master's `host:port` per the first sentinel that answers (`None`
/// if it knows no such name), or the last sentinel's error.
async fn master_address(
    sentinels: &[ConnectionInfo],
    service: &str,
) -> RedisResult<Option<String>> {
    let mut last = RedisError::from((ErrorKind::EmptySentinelList, "no sentinel given"));
    for sentinel in sentinels {
        let asked = within(RESOLVE_TIMEOUT, async {
            let client = redis::Client::open(sentinel.clone())?;
            let mut connection = client.get_multiplexed_async_connection().await?;
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(service)
                .query_async::<Option<(String, u16)>>(&mut connection)
                .await
        });
        match asked.await {
            Ok(found) => return Ok(found.map(|(host, port)| format!("{host}:{port}"))),
            Err(error) => last = error,
        }
    }
    Err(last)
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(
        &'a mut self,
        command: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, Value> {
        Box::pin(self.on_master(move |mut connection| async move {
            connection.req_packed_command(command).await
        }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        Box::pin(self.on_master(move |mut connection| async move {
            connection
                .req_packed_commands(pipeline, offset, count)
                .await
        }))
    }

    fn get_db(&self) -> i64 {
        self.shared.current.load().connection.get_db()
    }
}
