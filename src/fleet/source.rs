//! [`FleetSource`]: a token source whose tokens the whole fleet shares.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::lock::HeldLock;
use super::record::{self, Freshness};
use super::{StoreError, TokenStore};
use crate::grant::FetchReason;
use crate::{Error, FetchContext, Token, TokenRequest, TokenSource};

/// How long a fetching process holds the fleet's lock by default: longer
/// than a token request may take by default (30 s), with a margin.
const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(35);

/// How often a process that waits for another's fetch first looks again.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Waiting processes look again at most this far apart.
const MAX_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Wraps a [`TokenSource`] so that every process of a fleet uses the same
/// token per key, and only one of them fetches it.
///
/// A fetch first reads the shared [`TokenStore`]. A usable token there is
/// used as is. Otherwise the process takes the store's lock for the key,
/// runs the wrapped source and publishes the result; the others poll the
/// store until it appears (or the lock expires, and one of them takes
/// over). A token in its refresh window (the middleware's
/// [`refresh_ahead`](crate::OAuthMiddlewareBuilder::refresh_ahead)) is
/// still used while whichever process takes the lock renews it, so the
/// fleet renews ahead of expiry with one token request, not one per process.
///
/// When the API rejects a shared token, the process that saw the `401`
/// never takes that token from the store again (the cache tells the source
/// which token a fetch replaces): it fetches a new one and publishes it,
/// and the other processes, on their own `401`, pick that one up without a
/// token request of their own.
///
/// The store failing never fails a request: the process logs a warning
/// and fetches for itself. Refresh tokens are not shared; each renewal
/// runs the wrapped source's grant.
///
/// ```no_run
/// # #[cfg(feature = "redis")]
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use reqwest_oauth::fleet::{FleetSource, RedisStore};
/// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
///
/// let store = RedisStore::connect("redis://redis.internal:6379").await?;
/// let grant = ClientCredentials::new("https://auth.example.com/oauth/token", "id", "secret");
/// // The namespace names this client: processes that share it share tokens.
/// let oauth = OAuthMiddleware::new(FleetSource::new("billing-api", grant, store));
/// # Ok(()) }
/// ```
pub struct FleetSource<S> {
    inner: S,
    store: Arc<dyn TokenStore>,
    namespace: String,
    lock_ttl: Duration,
    poll_interval: Duration,
    /// Tells this process's lock acquisitions apart from everyone else's.
    owner: String,
    locks_taken: AtomicU64,
}

impl<S: TokenSource> FleetSource<S> {
    /// Shares the tokens of `source` through `store` among every process
    /// that uses the same `namespace`. The namespace must differ for each
    /// client identity (token endpoint, client ID, grant settings): two
    /// sources with the same namespace hand each other their tokens.
    pub fn new(namespace: impl Into<String>, source: S, store: impl TokenStore) -> Self {
        let nonce = RandomState::new().hash_one(SystemTime::now());
        FleetSource {
            inner: source,
            store: Arc::new(store),
            namespace: namespace.into(),
            lock_ttl: DEFAULT_LOCK_TTL,
            poll_interval: DEFAULT_POLL_INTERVAL,
            owner: format!("{}-{nonce:016x}", std::process::id()),
            locks_taken: AtomicU64::new(0),
        }
    }

    /// How long the fetching process holds the lock (default 35 s). Make it longer than a token request can take;
    /// it is also the longest a waiting process waits before it takes over
    /// from a process that died mid-fetch.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How soon a waiting process first looks for the token again (default
    /// 50 ms); it doubles up to half a second.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    fn store_key(&self, request: &TokenRequest) -> String {
        let parts = [request.audience(), request.scope(), request.resource()];
        let parts = serde_json::to_string(&parts).unwrap_or_default();
        format!("reqwest-oauth:v1:{}:{parts}", self.namespace)
    }

    /// Reads the key's shared token. The token this fetch replaces after a
    /// rejection counts as absent: the API refused it.
    async fn read(&self, key: &str, cx: FetchContext<'_>) -> Result<Freshness, StoreError> {
        let Some(value) = self.store.get(key).await? else {
            return Ok(Freshness::Unusable);
        };
        let found = record::decode(value, SystemTime::now());
        let rejected = match (cx.reason(), cx.previous()) {
            (FetchReason::Rejected, Some(previous)) => previous,
            _ => return Ok(found),
        };
        match &found {
            Freshness::Fresh(token) | Freshness::Renewing(token)
                if token.secret() == rejected.secret() =>
            {
                Ok(Freshness::Unusable)
            }
            _ => Ok(found),
        }
    }

    async fn shared_or_fetched(&self, cx: FetchContext<'_>, key: &str) -> Result<Token, Error> {
        let request = cx.request();
        let lock = format!("{key}:lock");
        let owner = format!(
            "{}-{}",
            self.owner,
            self.locks_taken.fetch_add(1, Ordering::Relaxed)
        );
        let give_up = tokio::time::Instant::now() + self.lock_ttl + MAX_POLL_INTERVAL;
        let mut interval = self.poll_interval;
        loop {
            let stale = match self.read(key, cx).await {
                Ok(Freshness::Fresh(token)) => {
                    tracing::debug!(audience = request.audience(), "token taken from the fleet");
                    return Ok(token);
                }
                Ok(Freshness::Renewing(token)) => Some(token),
                Ok(Freshness::Unusable) => None,
                Err(error) => return self.alone(cx, &error).await,
            };
            match self.store.try_lock(&lock, &owner, self.lock_ttl).await {
                Ok(true) => {
                    let held = HeldLock::new(self.store.clone(), lock, owner);
                    return self.fetch_locked(cx, key, held, stale).await;
                }
                Ok(false) => {
                    // Another process is renewing; this one is still good.
                    if let Some(token) = stale {
                        return Ok(token);
                    }
                }
                Err(error) => return self.alone(cx, &error).await,
            }
            if tokio::time::Instant::now() >= give_up {
                tracing::warn!(
                    audience = request.audience(),
                    "the fleet's token lock outlived its time to live; fetching alone"
                );
                return self.inner.fetch(cx).await;
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
        }
    }

    /// Holding the lock: fetches, publishes and releases it. Reads once
    /// more first, since the previous holder may have published just before
    /// letting go. A failed renewal falls back on the still-usable `stale`
    /// token, as a failed refresh ahead of expiry does in one process.
    async fn fetch_locked(
        &self,
        cx: FetchContext<'_>,
        key: &str,
        held: HeldLock,
        stale: Option<Token>,
    ) -> Result<Token, Error> {
        let result = match self.read(key, cx).await {
            Ok(Freshness::Fresh(token)) => Ok(token),
            _ => match (self.fetch_and_publish(cx, key).await, stale) {
                (Err(error), Some(current)) => {
                    tracing::warn!(%error, "renewing the fleet's token failed; using the current one");
                    Ok(current)
                }
                (result, _) => result,
            },
        };
        held.release().await;
        result
    }

    async fn fetch_and_publish(&self, cx: FetchContext<'_>, key: &str) -> Result<Token, Error> {
        let token = self.inner.fetch(cx).await?;
        let Some(encoded) = record::encode(&token, cx.lifetimes()) else {
            return Ok(token);
        };
        match self.store.put(key, &encoded.value, encoded.ttl).await {
            Ok(()) => {
                tracing::info!(
                    audience = cx.request().audience(),
                    "token fetched and shared with the fleet"
                );
            }
            Err(error) => tracing::warn!(%error, "could not share the token with the fleet"),
        }
        Ok(token)
    }

    /// The store failed: this process fetches for itself.
    async fn alone(&self, cx: FetchContext<'_>, error: &StoreError) -> Result<Token, Error> {
        let audience = cx.request().audience();
        tracing::warn!(%error, audience, "fleet token store unavailable; fetching alone");
        self.inner.fetch(cx).await
    }
}

impl<S: TokenSource> TokenSource for FleetSource<S> {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        let key = self.store_key(cx.request());
        self.shared_or_fetched(cx, &key).await
    }

    fn check(&self) -> Result<(), Error> {
        if self.namespace.is_empty() {
            return Err(Error::EmptyNamespace);
        }
        self.inner.check()
    }
}

impl<S> fmt::Debug for FleetSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetSource")
            .field("namespace", &self.namespace)
            .field("lock_ttl", &self.lock_ttl)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}
