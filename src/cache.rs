//! Tokens per key, each fetched by exactly one task at a time.
//!
//! The hot path takes a read lock for the time it takes to clone an `Arc`.
//! A miss joins the fetch already under way for that key or starts one. The
//! fetch runs in its own task, so dropping any request future (even the one
//! that started the fetch) never strands the others, and a guard clears the
//! in-flight marker however the task ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::{Error, Token, TokenRequest, TokenSource};

/// How a token's announced lifetime becomes the moment it stops being used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    /// Stop using a token this long before it expires…
    pub(crate) leeway: Duration,
    /// …but never more than this fraction of its lifetime early, so short
    /// tokens (a few seconds) are still used.
    pub(crate) leeway_max_fraction: u32,
    /// The lifetime assumed when the server gives none.
    pub(crate) default_lifetime: Duration,
    /// Longer announced lifetimes are cut to this.
    pub(crate) max_lifetime: Duration,
}

impl Lifetimes {
    fn use_until(&self, token: &Token) -> Instant {
        let lifetime = token
            .expires_in()
            .unwrap_or(self.default_lifetime)
            .min(self.max_lifetime);
        let leeway = self.leeway.min(lifetime / self.leeway_max_fraction);
        let usable = lifetime.saturating_sub(leeway);
        token
            .issued_at()
            .checked_add(usable)
            .unwrap_or_else(|| token.issued_at())
    }
}

/// A token handed to a request, and whether the request waited for it to be
/// fetched (a token fetched for this very request is never refreshed again
/// for it).
pub(crate) struct Lease {
    pub(crate) token: Arc<Token>,
    pub(crate) fetched: bool,
}

type FlightResult = Option<Result<Arc<Token>, Error>>;

pub(crate) struct TokenCache {
    source: Arc<dyn TokenSource>,
    lifetimes: Lifetimes,
    default_slot: Arc<Slot>,
    slots: RwLock<HashMap<TokenRequest, Arc<Slot>>>,
    flight_ids: AtomicU64,
}

pub(crate) struct Slot {
    key: TokenRequest,
    current: RwLock<Option<Cached>>,
    inflight: Mutex<Option<Flight>>,
}

#[derive(Clone)]
struct Cached {
    token: Arc<Token>,
    use_until: Instant,
}

struct Flight {
    id: u64,
    done: watch::Receiver<FlightResult>,
}

impl TokenCache {
    pub(crate) fn new(
        source: Arc<dyn TokenSource>,
        default_key: TokenRequest,
        lifetimes: Lifetimes,
    ) -> Self {
        TokenCache {
            source,
            lifetimes,
            default_slot: Arc::new(Slot::new(default_key)),
            slots: RwLock::new(HashMap::new()),
            flight_ids: AtomicU64::new(0),
        }
    }

    pub(crate) fn default_slot(&self) -> &Arc<Slot> {
        &self.default_slot
    }

    pub(crate) fn default_key(&self) -> &TokenRequest {
        &self.default_slot.key
    }

    /// The slot for `key`, made on first use.
    pub(crate) fn slot(&self, key: &TokenRequest) -> Arc<Slot> {
        if *key == self.default_slot.key {
            return self.default_slot.clone();
        }
        if let Some(slot) = self.slots.read().get(key) {
            return slot.clone();
        }
        self.slots
            .write()
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Slot::new(key.clone())))
            .clone()
    }

    /// A usable token for the slot: the cached one, or the result of the one
    /// fetch under way for it.
    pub(crate) async fn lease(&self, slot: &Arc<Slot>) -> Result<Lease, Error> {
        if let Some(token) = slot.usable(Instant::now()) {
            return Ok(Lease {
                token,
                fetched: false,
            });
        }
        let mut done = match self.join_or_start(slot)? {
            Joined::Ready(token) => {
                return Ok(Lease {
                    token,
                    fetched: false,
                });
            }
            Joined::Waiting(done) => done,
        };
        let token = match done.wait_for(Option::is_some).await {
            Ok(result) => result.clone().unwrap_or(Err(Error::FetchAborted)),
            Err(_) => Err(Error::FetchAborted),
        }?;
        Ok(Lease {
            token,
            fetched: true,
        })
    }

    /// Forgets the slot's token, but only if it is still `stale`: a newer
    /// token fetched meanwhile survives.
    pub(crate) fn invalidate_if_current(&self, slot: &Slot, stale: &Arc<Token>) -> bool {
        let mut current = slot.current.write();
        let is_current = current
            .as_ref()
            .is_some_and(|cached| Arc::ptr_eq(&cached.token, stale));
        if is_current {
            *current = None;
        }
        is_current
    }

    /// Forgets the token for `key`, whatever it is.
    pub(crate) fn invalidate(&self, key: &TokenRequest) {
        *self.slot(key).current.write() = None;
    }

    /// Forgets every cached token.
    pub(crate) fn invalidate_all(&self) {
        *self.default_slot.current.write() = None;
        for slot in self.slots.read().values() {
            *slot.current.write() = None;
        }
    }

    fn join_or_start(&self, slot: &Arc<Slot>) -> Result<Joined, Error> {
        let mut inflight = slot.inflight.lock();
        // Re-check under the lock: a fetch may have finished since the miss.
        if let Some(token) = slot.usable(Instant::now()) {
            return Ok(Joined::Ready(token));
        }
        if let Some(flight) = inflight.as_ref() {
            return Ok(Joined::Waiting(flight.done.clone()));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("token fetches need a tokio runtime".into()))?;
        let id = self.flight_ids.fetch_add(1, Ordering::Relaxed);
        let (tx, done) = watch::channel(None);
        *inflight = Some(Flight {
            id,
            done: done.clone(),
        });
        let guard = FlightGuard {
            slot: slot.clone(),
            id,
        };
        let source = self.source.clone();
        let lifetimes = self.lifetimes;
        runtime.spawn(async move {
            let slot = guard.slot.clone();
            let result = fetch(source.as_ref(), &slot.key).await;
            if let Ok(token) = &result {
                slot.store(token.clone(), lifetimes.use_until(token));
            }
            drop(guard);
            // Nobody waiting is fine: the token is cached for the next request.
            let _ = tx.send(Some(result));
        });
        Ok(Joined::Waiting(done))
    }
}

async fn fetch(source: &dyn TokenSource, key: &TokenRequest) -> Result<Arc<Token>, Error> {
    tracing::debug!(audience = key.audience(), "fetching token");
    match source.fetch(key).await {
        Ok(token) => {
            tracing::debug!(audience = key.audience(), expires_in = ?token.expires_in(), "token fetched");
            Ok(Arc::new(token))
        }
        Err(err) => {
            tracing::warn!(audience = key.audience(), error = %err, "token fetch failed");
            Err(err)
        }
    }
}

enum Joined {
    Ready(Arc<Token>),
    Waiting(watch::Receiver<FlightResult>),
}

impl Slot {
    fn new(key: TokenRequest) -> Self {
        Slot {
            key,
            current: RwLock::new(None),
            inflight: Mutex::new(None),
        }
    }

    fn usable(&self, now: Instant) -> Option<Arc<Token>> {
        let current = self.current.read();
        let cached = current.as_ref()?;
        (now < cached.use_until).then(|| cached.token.clone())
    }

    fn store(&self, token: Arc<Token>, use_until: Instant) {
        *self.current.write() = Some(Cached { token, use_until });
    }
}

/// Clears the slot's in-flight marker when the fetch task ends, whether it
/// finished, panicked or was dropped with its runtime, so the next request
/// starts a new fetch instead of waiting on a dead one.
struct FlightGuard {
    slot: Arc<Slot>,
    id: u64,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut inflight = self.slot.inflight.lock();
        if inflight.as_ref().is_some_and(|flight| flight.id == self.id) {
            *inflight = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetimes() -> Lifetimes {
        Lifetimes {
            leeway: Duration::from_secs(30),
            leeway_max_fraction: 10,
            default_lifetime: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(86_400),
        }
    }

    fn token(expires_in: Option<u64>) -> Token {
        let token = Token::bearer("t").expect("valid token");
        match expires_in {
            Some(secs) => token.with_expires_in(Duration::from_secs(secs)),
            None => token,
        }
    }

    #[test]
    fn leeway_is_capped_for_short_tokens() {
        let t = token(Some(2));
        assert_eq!(
            lifetimes().use_until(&t) - t.issued_at(),
            Duration::from_millis(1800)
        );
        let t = token(Some(3600));
        assert_eq!(
            lifetimes().use_until(&t) - t.issued_at(),
            Duration::from_secs(3570)
        );
    }

    #[test]
    fn missing_lifetime_uses_default_and_long_ones_are_capped() {
        let t = token(None);
        assert_eq!(
            lifetimes().use_until(&t) - t.issued_at(),
            Duration::from_secs(3570)
        );
        let t = token(Some(u64::MAX / 2));
        assert_eq!(
            lifetimes().use_until(&t) - t.issued_at(),
            Duration::from_secs(86_400 - 30)
        );
    }
}
