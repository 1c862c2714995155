//! [`RedisStore`]: a [`TokenStore`] in Redis (or Valkey), for fleets of
//! processes on many hosts.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::BoxFuture;
use super::redis_settings::{RESPONSE_TIMEOUT, is_auth_error, manager_config};
#[cfg(feature = "redis-sentinel")]
use super::sentinel::SentinelConnection;
use super::{StoreError, TokenStore};

/// Releases a lock only for the owner that holds it.
const UNLOCK: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0"#;

/// Takes a lock that is free, or stale: a lock key without a time to live
/// (planted, or left by a client that set it by hand) would otherwise stall
/// every cold fetch forever, so it counts as abandoned.
const LOCK: &str = r#"local ttl = redis.call("PTTL", KEYS[1])
if ttl == -2 or ttl == -1 then
    redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
    return 1
end
return 0"#;

/// Extends a lock's lease only for the owner that holds it.
const EXTEND: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0"#;

/// A [`TokenStore`] in Redis: `SET … PX` for tokens; for the lock, scripts
/// that take it when free (or left without a time to live), extend it and
/// release it only for its owner. Clones share one reconnecting connection.
///
/// Tokens are stored under `reqwest-oauth:v1:{<namespace>:…}`, in clear
/// unless the `FleetSource` encrypts them (feature `fleet-encryption`):
/// give the store the protection you give the client secret (ACLs, TLS
/// with a `rediss://` URL and redis' TLS feature, a private network).
///
/// ```no_run
/// # async fn demo() -> Result<(), reqwest_oauth::fleet::StoreError> {
/// use reqwest_oauth::fleet::RedisStore;
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    /// For the release at shutdown, which needs a connection that does not
    /// live on the (dying) runtime; `None` for a connection given as is.
    client: Option<Client>,
    scripts: Scripts,
}

/// One Redis, a Redis Cluster (whose connection routes each command to
/// the node serving its key's slot), or the master Redis Sentinel names
/// (whose connection follows it through a failover).
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
    #[cfg(feature = "redis-sentinel")]
    Sentinel(SentinelConnection),
}

#[derive(Clone)]
enum Client {
    Single(redis::Client),
    /// Boxed: twice the size of the other, in a store made once.
    #[cfg(feature = "redis-cluster")]
    Cluster(Box<redis::cluster::ClusterClient>),
    /// The master's client is the one resolved most recently, so it is
    /// read from the connection at release time.
    #[cfg(feature = "redis-sentinel")]
    Sentinel(SentinelConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        command: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Connection::Single(connection) => connection.req_packed_command(command),
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(connection) => connection.req_packed_command(command),
            #[cfg(feature = "redis-sentinel")]
            Connection::Sentinel(connection) => connection.req_packed_command(command),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Connection::Single(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            #[cfg(feature = "redis-sentinel")]
            Connection::Sentinel(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(connection) => connection.get_db(),
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(connection) => connection.get_db(),
            #[cfg(feature = "redis-sentinel")]
            Connection::Sentinel(connection) => connection.get_db(),
        }
    }
}

#[derive(Clone)]
struct Scripts {
    lock: redis::Script,
    extend: redis::Script,
    unlock: redis::Script,
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`)
    /// and proves the connection with a round trip, so a wrong address, a
    /// missing or wrong password, or a refused command fails here, with the
    /// reason, instead of silently turning fleet mode off at every fetch.
    /// Commands time out after a second, so a stalled Redis costs a request
    /// that long at most before the process fetches alone.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::new)?;
        let connection = ConnectionManager::new_with_config(client.clone(), manager_config())
            .await
            .map_err(refused)?;
        let store = Self::with(Connection::Single(connection), Some(Client::Single(client)));
        store.ping().await?;
        Ok(store)
    }

    /// Connects to a Redis Cluster through any of its `nodes` (URLs as for
    /// [`connect`](Self::connect)), and proves the connection the same
    /// way. Each key's token, lock and failure share a hash tag, so they
    /// live on one node.
    #[cfg(feature = "redis-cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-cluster")))]
    pub async fn connect_cluster(nodes: &[&str]) -> Result<Self, StoreError> {
        let client = redis::cluster::ClusterClient::builder(nodes.iter().copied())
            .connection_timeout(RESPONSE_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(1)
            .build()
            .map_err(StoreError::new)?;
        let connection = client.get_async_connection().await.map_err(refused)?;
        let store = Self::with(
            Connection::Cluster(connection),
            Some(Client::Cluster(Box::new(client))),
        );
        store.ping().await?;
        Ok(store)
    }

    /// Connects to the master that Redis Sentinel names for `service_name`,
    /// asking the `sentinels` (URLs as for [`connect`](Self::connect); a
    /// sentinel's own password goes in its URL, `redis://:password@host:26379`).
    /// `master` gives what connecting to the master needs beyond its
    /// address (password, user, database, TLS), `None` if nothing.
    ///
    /// Proves the connection as [`connect`](Self::connect) does, failing
    /// with the cause: no sentinel answered, none knows `service_name`, the
    /// master is down, or it refused the password.
    ///
    /// After a failover the store follows the master: a command that fails
    /// as if the master were gone (a connection error or timeout, or
    /// `READONLY` from a demoted master) makes the store ask the sentinels
    /// again (one task at a time; the others take its answer), and if they
    /// name another master the command is sent once more to it. Until they
    /// do, commands fail and each process fetches alone, as with a Redis
    /// that is down; no request fails. A store call that meets a failover
    /// takes at most about three seconds: the failed command, asking the
    /// sentinels, and the command again, each bounded by a second.
    ///
    /// Sentinel's own limits stay: a token or lock written to the old
    /// master after the failover and before the sentinels demote it is lost
    /// with it, which costs the fleet one more token request.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), reqwest_oauth::fleet::StoreError> {
    /// use redis::RedisConnectionInfo;
    /// use redis::sentinel::SentinelNodeConnectionInfo;
    /// use reqwest_oauth::fleet::RedisStore;
    ///
    /// let master = SentinelNodeConnectionInfo::default()
    ///     .set_redis_connection_info(RedisConnectionInfo::default().set_password("master-secret"));
    /// let store = RedisStore::connect_sentinel(
    ///     &["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"],
    ///     "fleet",
    ///     Some(master),
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis-sentinel")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-sentinel")))]
    pub async fn connect_sentinel(
        sentinels: &[&str],
        service_name: &str,
        master: Option<redis::sentinel::SentinelNodeConnectionInfo>,
    ) -> Result<Self, StoreError> {
        let connection = SentinelConnection::connect(sentinels, service_name, master).await?;
        Ok(Self::with(
            Connection::Sentinel(connection.clone()),
            Some(Client::Sentinel(connection)),
        ))
    }

    /// Uses a connection you configured yourself (TLS, timeouts). Not
    /// checked: call [`TokenStore::get`] once to prove it.
    pub fn from_connection(connection: ConnectionManager) -> Self {
        Self::with(Connection::Single(connection), None)
    }

    fn with(connection: Connection, client: Option<Client>) -> Self {
        RedisStore {
            connection,
            client,
            scripts: Scripts {
                lock: redis::Script::new(LOCK),
                extend: redis::Script::new(EXTEND),
                unlock: redis::Script::new(UNLOCK),
            },
        }
    }

    /// One round trip that needs the connection authenticated.
    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(refused)
    }
}

/// Names the likely cause of a refused connection. Redis' own message never
/// holds the password, so it is kept.
fn refused(error: redis::RedisError) -> StoreError {
    if is_auth_error(&error) {
        return StoreError::new(format!(
            "Redis refused to authenticate this client ({error}); give the user and password in the URL: redis://user:password@host:port"
        ));
    }
    StoreError::new(error)
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

fn px(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

impl RedisStore {
    /// Runs one command on a clone of the shared connection.
    fn run<T: redis::FromRedisValue + Send>(
        &self,
        command: redis::Cmd,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let connection = self.connection.clone();
        Box::pin(async move {
            once_more_if_dropped(|| {
                let mut connection = connection.clone();
                let command = command.clone();
                async move { command.query_async(&mut connection).await }
            })
            .await
        })
    }

    /// Runs a lock script on `key` with `owner` and more arguments.
    fn script<'a>(
        &'a self,
        script: &'a redis::Script,
        key: &'a str,
        owner: &'a str,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<i64, StoreError>> {
        let connection = self.connection.clone();
        Box::pin(async move {
            let mut invocation = script.key(key);
            invocation.arg(owner);
            if let Some(ttl) = ttl {
                invocation.arg(px(ttl));
            }
            once_more_if_dropped(|| {
                let mut connection = connection.clone();
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await
        })
    }
}

/// Sends a command, and once more if the connection had dropped: after a
/// Redis restart the first command meets the dead connection (and makes the
/// manager reconnect), and without a second try every process would fetch
/// alone once. A timeout or a refused connection is not retried: Redis is
/// stalled or down, and the process should not wait twice.
async fn once_more_if_dropped<T, F, Fut>(mut send: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let first = send().await;
    match first {
        Err(error) if error.is_connection_dropped() => send().await.map_err(StoreError::new),
        result => result.map_err(StoreError::new),
    }
}

impl TokenStore for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        self.run(redis::cmd("GET").arg(key).clone())
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.run(
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(px(ttl))
                .clone(),
        )
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let taken = self.script(&self.scripts.lock, key, owner, Some(ttl));
        Box::pin(async move { Ok(taken.await? == 1) })
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let released = self.script(&self.scripts.unlock, key, owner, None);
        Box::pin(async move { released.await.map(drop) })
    }

    fn extend<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let extended = self.script(&self.scripts.extend, key, owner, Some(ttl));
        Box::pin(async move { Ok(extended.await? == 1) })
    }

    /// Releases over a new blocking connection of its own: the shared one
    /// is driven by a task on the runtime that is shutting down.
    fn unlock_blocking(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let Some(client) = &self.client else {
            return Err(StoreError::new(
                "a RedisStore made from a connection cannot release at shutdown",
            ));
        };
        let mut invocation = self.scripts.unlock.key(key);
        invocation.arg(owner);
        let released = || -> redis::RedisResult<i64> {
            match client {
                Client::Single(client) => invocation.invoke(&mut blocking(client)?),
                #[cfg(feature = "redis-cluster")]
                Client::Cluster(client) => invocation.invoke(&mut client.get_connection()?),
                #[cfg(feature = "redis-sentinel")]
                Client::Sentinel(connection) => {
                    invocation.invoke(&mut blocking(&connection.master_client())?)
                }
            }
        };
        released().map(drop).map_err(StoreError::new)
    }
}

/// A blocking connection to one Redis, bounded like the shared one.
fn blocking(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let connection = client.get_connection_with_timeout(RESPONSE_TIMEOUT)?;
    connection.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
    connection.set_write_timeout(Some(RESPONSE_TIMEOUT))?;
    Ok(connection)
}
