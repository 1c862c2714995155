//! [`FleetSource`]: a token source whose tokens the whole fleet shares.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::zeroize::Zeroizing;

use super::failure;
use super::lock::HeldLock;
use super::record::{self, Freshness};
use super::{StoreError, TokenStore};
use crate::grant::FetchReason;
use crate::{Error, FetchContext, Token, TokenRequest, TokenSource};

/// The fleet lock's lease by default. The holder extends it every third
/// of that while it fetches, so it need not cover a slow token request; it
/// bounds how long a dead or frozen holder delays the others.
const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(5);

/// The longest a process waits for others' fetches (each holder alive, its
/// lease extended) before it fetches alone: past a token request's own
/// timeout (30 s) and retries, so only a holder stuck yet alive reaches it.
const MAX_WAIT: Duration = Duration::from_secs(60);

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
/// store until it appears (or the holder's lease lapses, and exactly one of
/// them takes over). A failed fetch is published too, so while its
/// cooldown (the server's `Retry-After`, else a second) lasts the others
/// return the same error without a token request. A token in its refresh
/// window (the middleware's
/// [`refresh_ahead`](crate::OAuthMiddlewareBuilder::refresh_ahead)) is
/// still used while whichever process takes the lock renews it, so the
/// fleet renews ahead of expiry with one token request, not one per process.
///
/// When the API rejects a shared token, the process that saw the `401`
/// replaces it once and replays the request (a token read from the store
/// is never "fetched for this request"), never taking that token from the
/// store again (the cache tells the source which token a fetch replaces):
/// it fetches a new one under the lock and publishes it,
/// and the other processes, on their own `401`, pick that one up without a
/// token request of their own.
///
/// The store failing never fails a request: the process logs a warning
/// and fetches for itself. Refresh tokens are shared only when the store
/// is encrypted (`FleetSource::encrypt`, feature `fleet-encryption`);
/// otherwise each renewal runs the wrapped source's grant.
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
    #[cfg(feature = "fleet-encryption")]
    cipher: Option<super::Cipher>,
    /// The DPoP key every replica of the namespace holds, if tokens are
    /// DPoP-bound: it is part of the store key, so only replicas with the
    /// same key share (and lock for) a token.
    #[cfg(feature = "dpop")]
    dpop: Option<crate::dpop::DpopKey>,
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
            #[cfg(feature = "fleet-encryption")]
            cipher: None,
            #[cfg(feature = "dpop")]
            dpop: None,
        }
    }

    /// Shares DPoP-bound tokens (feature `dpop`) among the replicas that
    /// hold this same key (give it to the wrapped source's endpoint too).
    /// Replicas with another key, or none, never see these tokens: the
    /// key's thumbprint is part of the store key. Without this setting a
    /// DPoP-bound token is kept by the process that fetched it, unshared.
    #[cfg(feature = "dpop")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dpop")))]
    pub fn dpop(mut self, key: crate::dpop::DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// Binds a stored token recorded as bound to `jkt` to this replica's
    /// key, if it is that key.
    fn bind(&self, token: Token, jkt: &str) -> Option<Token> {
        #[cfg(feature = "dpop")]
        if let Some(key) = self.dpop.as_ref().filter(|key| key.thumbprint() == jkt) {
            return token.dpop_bound(key).ok();
        }
        let _ = (token, jkt);
        None
    }

    /// The lease on the fleet's lock (default 5 s). The fetching process
    /// extends it every third of that until it has published, so a slow
    /// token request keeps it; a process that dies or freezes holding it
    /// delays the others by at most one lease, after which exactly one of
    /// them takes over and the rest keep waiting for that one.
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

    /// Seals every value this source stores with `cipher`, and reads only
    /// values sealed with one of its keys: a reader of the store sees no
    /// token, and a value planted without the key is ignored. With a
    /// cipher, refresh tokens are shared too, so a fleet renews with one
    /// `refresh_token` grant. Every process of the namespace needs the same
    /// keys (see [`Cipher`](super::Cipher) for rotation).
    #[cfg(feature = "fleet-encryption")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fleet-encryption")))]
    pub fn encrypt(mut self, cipher: super::Cipher) -> Self {
        self.cipher = Some(cipher);
        self
    }

    /// The value to store under `key`: sealed when a cipher is set.
    fn seal(&self, key: &str, value: &str) -> Option<Zeroizing<String>> {
        #[cfg(feature = "fleet-encryption")]
        if let Some(cipher) = &self.cipher {
            return cipher.seal(key, value).map(Zeroizing::new);
        }
        let _ = key;
        Some(Zeroizing::new(value.to_owned()))
    }

    /// The stored value's plaintext: opened when a cipher is set, and then
    /// `None` for a value not sealed by one of its keys for this `key`.
    fn open(&self, key: &str, value: String) -> Option<Zeroizing<String>> {
        let value = Zeroizing::new(value);
        // Sealing adds a third (base64) and a few bytes; more is garbage.
        if value.len() > 2 * record::MAX_VALUE_BYTES {
            return None;
        }
        #[cfg(feature = "fleet-encryption")]
        if let Some(cipher) = &self.cipher {
            return cipher.open(key, &value);
        }
        let _ = key;
        Some(value)
    }

    fn store_key(&self, request: &TokenRequest) -> String {
        let parts = [request.audience(), request.scope(), request.resource()];
        let parts = serde_json::to_string(&parts).unwrap_or_default();
        // The braces are a Redis Cluster hash tag: the token, its lock and
        // its failure (`<key>:lock`, `<key>:failed`) hash to one slot.
        match self.dpop_thumbprint() {
            None => format!("reqwest-oauth:v1:{{{}:{parts}}}", self.namespace),
            Some(jkt) => format!("reqwest-oauth:v1:{{{}:dpop:{jkt}:{parts}}}", self.namespace),
        }
    }

    /// Reads the key's shared token. The token this fetch replaces after a
    /// rejection counts as absent: the API refused it.
    async fn read(&self, key: &str, cx: FetchContext<'_>) -> Result<Freshness, StoreError> {
        let Some(value) = self.store.get(key).await? else {
            return Ok(Freshness::Unusable);
        };
        let Some(value) = self.open(key, value) else {
            tracing::debug!("a stored token not sealed with this fleet's keys; ignored");
            return Ok(Freshness::Unusable);
        };
        let bind = |token, jkt: &str| self.bind(token, jkt);
        let found = record::decode(&value, SystemTime::now(), self.sealed(), &bind);
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
        let lock = format!("{key}:lock");
        let owner = format!(
            "{}-{}",
            self.owner,
            self.locks_taken.fetch_add(1, Ordering::Relaxed)
        );
        // Not tied to the lease: a waiter keeps waiting while any live
        // holder (a new one after a takeover, too) is fetching.
        let give_up = tokio::time::Instant::now() + MAX_WAIT;
        let mut interval = self.poll_interval;
        loop {
            match self.look(cx, key, &lock, &owner).await {
                Look::Done(result) => return result,
                Look::Locked(held, stale) => return self.fetch_locked(cx, key, held, stale).await,
                Look::Alone(error) => return self.alone(cx, &error).await,
                Look::Wait => {}
            }
            if tokio::time::Instant::now() >= give_up {
                let audience = cx.request().audience();
                tracing::warn!(
                    audience,
                    "waited too long for the fleet's token; fetching alone"
                );
                return self.inner.fetch(cx).await;
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
        }
    }

    /// One look at the store: a usable token, the fleet's current failure,
    /// the lock (taken), or nothing yet.
    async fn look(&self, cx: FetchContext<'_>, key: &str, lock: &str, owner: &str) -> Look {
        let stale = match self.read(key, cx).await {
            Ok(Freshness::Fresh(token)) => {
                tracing::debug!(
                    audience = cx.request().audience(),
                    "token taken from the fleet"
                );
                return Look::Done(Ok(token));
            }
            Ok(Freshness::Renewing(token)) => Some(token),
            Ok(Freshness::Unusable) => match self.shared_failure(key).await {
                Ok(Some(error)) => return Look::Done(Err(error)),
                Ok(None) => None,
                Err(error) => return Look::Alone(error),
            },
            Err(error) => return Look::Alone(error),
        };
        match self.store.try_lock(lock, owner, self.lock_ttl).await {
            Ok(true) => {
                let held =
                    HeldLock::new(self.store.clone(), lock.into(), owner.into(), self.lock_ttl);
                Look::Locked(held, stale)
            }
            // Another process is renewing; this one is still good.
            Ok(false) => stale.map_or(Look::Wait, |token| Look::Done(Ok(token))),
            Err(error) => Look::Alone(error),
        }
    }

    /// The failure another process published for the key, while it lasts.
    async fn shared_failure(&self, key: &str) -> Result<Option<Error>, StoreError> {
        let value = self.store.get(&format!("{key}:failed")).await?;
        let error = value.as_deref().and_then(failure::decode);
        if error.is_some() {
            tracing::debug!("the fleet's last token request failed; waiting out its cooldown");
        }
        Ok(error)
    }

    /// Holding the lock: fetches, publishes and releases it. Reads once
    /// more first, since the previous holder may have published just before
    /// letting go. A failed renewal falls back on the still-usable `stale`
    /// token, as a failed refresh ahead of expiry does in one process; a
    /// failure with nothing to fall back on is published for the fleet.
    async fn fetch_locked(
        &self,
        cx: FetchContext<'_>,
        key: &str,
        held: HeldLock,
        stale: Option<Token>,
    ) -> Result<Token, Error> {
        // A cold process renewing the shared token hands it on as the one
        // replaced, so the grant can use its (shared) refresh token.
        let cx = match (&stale, cx.previous()) {
            (Some(current), None) => cx.replacing(FetchReason::RefreshAhead, Some(current)),
            _ => cx,
        };
        let result = match self.read(key, cx).await {
            Ok(Freshness::Fresh(token)) => Ok(token),
            _ => match (self.fetch_and_publish(cx, key).await, stale) {
                (Err(error), Some(current)) => {
                    tracing::warn!(%error, "renewing the fleet's token failed; using the current one");
                    Ok(current)
                }
                (Err(error), None) => {
                    self.publish_failure(key, &error).await;
                    Err(error)
                }
                (result, _) => result,
            },
        };
        held.release().await;
        result
    }

    async fn publish_failure(&self, key: &str, error: &Error) {
        let Some((value, cooldown)) = failure::encode(error) else {
            return;
        };
        let failed = format!("{key}:failed");
        if let Err(error) = self.store.put(&failed, &value, cooldown).await {
            tracing::warn!(%error, "could not share the failed token request with the fleet");
        }
    }

    async fn fetch_and_publish(&self, cx: FetchContext<'_>, key: &str) -> Result<Token, Error> {
        let token = self.inner.fetch(cx).await?;
        let fleet_jkt = self.dpop_thumbprint();
        let encoded = record::encode(&token, cx.lifetimes(), self.sealed(), fleet_jkt);
        let Some((value, ttl)) = encoded.and_then(|e| Some((self.seal(key, &e.value)?, e.ttl)))
        else {
            return Ok(token);
        };
        match self.store.put(key, &value, ttl).await {
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

/// What one look at the store found.
enum Look {
    /// The answer: a shared token, or the fleet's current failure.
    Done(Result<Token, Error>),
    /// The lock, taken by this process, and the token to fall back on.
    Locked(HeldLock, Option<Token>),
    /// Another process holds the lock and nothing is usable yet.
    Wait,
    /// The store failed.
    Alone(StoreError),
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

impl<S> FleetSource<S> {
    /// Whether stored values are sealed (and so may carry refresh tokens).
    fn sealed(&self) -> bool {
        #[cfg(feature = "fleet-encryption")]
        return self.cipher.is_some();
        #[cfg(not(feature = "fleet-encryption"))]
        false
    }
}

impl<S> FleetSource<S> {
    /// The thumbprint of the fleet's DPoP key, if it has one.
    fn dpop_thumbprint(&self) -> Option<&str> {
        #[cfg(feature = "dpop")]
        return self.dpop.as_ref().map(crate::dpop::DpopKey::thumbprint);
        #[cfg(not(feature = "dpop"))]
        None
    }
}

impl<S> fmt::Debug for FleetSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetSource")
            .field("namespace", &self.namespace)
            .field("lock_ttl", &self.lock_ttl)
            .field("poll_interval", &self.poll_interval)
            .field("encrypted", &self.sealed())
            .field("dpop", &self.dpop_thumbprint())
            .finish_non_exhaustive()
    }
}
