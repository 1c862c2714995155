//! [`RedisStore`]: a [`TokenStore`] in Redis (or Valkey), for fleets of
//! processes on many hosts.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::BoxFuture;
use super::{StoreError, TokenStore};

/// How long one store command may take before the process gives up on the
/// store and fetches alone.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Releases a lock only for the owner that holds it.
const UNLOCK: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0"#;

/// A [`TokenStore`] in Redis: `SET … PX` for tokens, `SET … NX PX` for the
/// lock, a compare-and-delete script to release it. Clones share one
/// reconnecting connection.
///
/// Tokens are stored in clear under `reqwest-oauth:v1:<namespace>:…`: give
/// the store the protection you give the client secret (ACLs, TLS with a
/// `rediss://` URL and redis' TLS feature, a private network).
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
    connection: ConnectionManager,
    unlock: redis::Script,
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://[user:password@]host:port[/db]`).
    /// Commands time out after a second, so a stalled Redis costs a request
    /// that long at most before the process fetches alone.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::new)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(StoreError::new)?;
        Ok(Self::from_connection(connection))
    }

    /// Uses a connection you configured yourself (TLS, timeouts, Sentinel).
    pub fn from_connection(connection: ConnectionManager) -> Self {
        RedisStore {
            connection,
            unlock: redis::Script::new(UNLOCK),
        }
    }
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
    fn run<T: redis::FromRedisValue>(
        &self,
        command: redis::Cmd,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            command
                .query_async(&mut connection)
                .await
                .map_err(StoreError::new)
        })
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
        let set = redis::cmd("SET")
            .arg(key)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(px(ttl))
            .clone();
        let reply = self.run::<Option<String>>(set);
        Box::pin(async move { Ok(reply.await?.is_some()) })
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            let _released: i64 = self
                .unlock
                .key(key)
                .arg(owner)
                .invoke_async(&mut connection)
                .await
                .map_err(StoreError::new)?;
            Ok(())
        })
    }
}
