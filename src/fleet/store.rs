//! [`TokenStore`]: the storage a fleet shares, and its error.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future, as the [`TokenStore`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the processes of a fleet keep the tokens they share, and the lock
/// that lets exactly one of them fetch a token at a time.
///
/// Implemented by [`MemoryStore`](super::MemoryStore) (one process) and,
/// with the `redis` feature, [`RedisStore`](super::RedisStore); implement it
/// for any store with expiring keys and an atomic "set if absent". Values
/// are opaque text holding an access token: treat them as secrets (never
/// log them), and protect the store as you would the client secret.
///
/// Errors are never fatal: a [`FleetSource`](super::FleetSource) whose
/// store fails fetches its token alone, as if it had no fleet.
pub trait TokenStore: Send + Sync + 'static {
    /// The value under `key`, if it is there and has not expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    /// Stores `value` under `key` for `ttl`, replacing what was there.
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Takes the lock `key` for `owner` if nobody holds it (atomically), for
    /// at most `ttl`; `true` if taken.
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Releases the lock `key` if `owner` still holds it (atomically, so a
    /// lock that expired and was taken by another is left alone).
    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Extends the lock `key` to `ttl` from now if `owner` still holds it
    /// (atomically); `false` if it does not (it expired and another took
    /// over). The holder calls it every third of the lease while it fetches.
    fn extend<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// [`unlock`](TokenStore::unlock) from a plain thread with no async
    /// runtime: a fetch holding the lock was dropped, typically because its
    /// runtime is shutting down, so nothing may be spawned on it.
    ///
    /// The default runs `unlock` on a one-off runtime for at most a second,
    /// which suits stores whose futures need no task on the caller's
    /// runtime. A store whose connection lives on the caller's runtime
    /// (like [`RedisStore`](super::RedisStore)) overrides it.
    fn unlock_blocking(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(StoreError::new)?;
        // The timeout is made inside `block_on`: a timer needs the context
        // of a runtime, and this thread has none of its own.
        let unlock =
            async { tokio::time::timeout(Duration::from_secs(1), self.unlock(key, owner)).await };
        runtime
            .block_on(unlock)
            .map_err(|_| StoreError::new("releasing the lock timed out"))?
    }
}

impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        (**self).get(key)
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).put(key, value, ttl)
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).try_lock(key, owner, ttl)
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).unlock(key, owner)
    }

    fn extend<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).extend(key, owner, ttl)
    }

    fn unlock_blocking(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        (**self).unlock_blocking(key, owner)
    }
}

/// A [`TokenStore`] failed (unreachable, timed out, refused a command).
///
/// ```
/// use reqwest_oauth::fleet::StoreError;
///
/// let error = StoreError::new(std::io::Error::other("connection refused"));
/// assert_eq!(error.to_string(), "token store failed: connection refused");
/// ```
pub struct StoreError(Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps the store's own error. It must not hold a stored value.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError(error.into())
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreError").field(&self.0).finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token store failed: {}", self.0)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}
