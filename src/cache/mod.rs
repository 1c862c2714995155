//! Tokens per key, each fetched by exactly one task at a time.
//!
//! The hot path takes a read lock for the time it takes to clone an `Arc`.
//! A miss joins the fetch already under way for that key or starts one; a
//! token in its refresh window is used while one background fetch replaces
//! it. Fetches run in their own task, so dropping any request future (even
//! the one that started the fetch) never strands the others, and a guard
//! clears the running marker however the task ends. After a failed fetch,
//! requests for that key get the same error, without a new fetch, until the
//! cooldown ends.

mod lifetimes;
mod renew;
mod slot;

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio::sync::watch;

pub(crate) use lifetimes::Lifetimes;
pub use lifetimes::RefreshAhead;
pub(crate) use slot::{Cached, Slot};
use slot::{Flight, FlightGuard, FlightResult, FlightState, Lookup};

use crate::stats::{Counters, Stats};
use crate::{Error, RetryPolicy, TokenRequest, TokenSource};
use renew::renew;

/// Everything that shapes the cache's behaviour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheConfig {
    pub(crate) lifetimes: Lifetimes,
    pub(crate) retry: RetryPolicy,
    pub(crate) cooldown: Duration,
    pub(crate) max_keys: usize,
}

/// What a request took from a usable token, and whether it waited for the
/// token to be fetched (a token fetched for this very request is never
/// refreshed again for it).
pub(crate) struct Lease<T> {
    pub(crate) taken: T,
    pub(crate) fetched: bool,
}

pub(crate) struct TokenCache {
    source: Arc<dyn TokenSource>,
    config: CacheConfig,
    default_slot: Arc<Slot>,
    /// Keyed by each slot's own key, so the key is stored once per entry.
    slots: RwLock<HashSet<SlotEntry>>,
    flight_ids: AtomicU64,
    counters: Arc<Counters>,
    epoch: Instant,
}

enum Joined<T> {
    Ready(T),
    Waiting(watch::Receiver<FlightResult>),
}

impl TokenCache {
    pub(crate) fn new(
        source: Arc<dyn TokenSource>,
        default_key: TokenRequest,
        config: CacheConfig,
    ) -> Self {
        TokenCache {
            source,
            config,
            default_slot: Arc::new(Slot::new(default_key)),
            slots: RwLock::new(HashSet::new()),
            flight_ids: AtomicU64::new(0),
            counters: Arc::new(Counters::default()),
            epoch: Instant::now(),
        }
    }

    pub(crate) fn default_slot(&self) -> &Arc<Slot> {
        &self.default_slot
    }

    pub(crate) fn default_key(&self) -> &TokenRequest {
        &self.default_slot.key
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The slot for `key`, made on first use. Making one when the cache is
    /// full evicts expired entries first, then the least recently used.
    pub(crate) fn slot(&self, key: &TokenRequest) -> Arc<Slot> {
        if let Some(slot) = self.existing_slot(key) {
            return slot;
        }
        let mut slots = self.slots.write();
        if let Some(entry) = slots.get(key) {
            return entry.0.clone();
        }
        if slots.len() >= self.config.max_keys {
            self.evict(&mut slots);
        }
        let slot = Arc::new(Slot::new(key.clone()));
        slots.insert(SlotEntry(slot.clone()));
        slot
    }

    fn existing_slot(&self, key: &TokenRequest) -> Option<Arc<Slot>> {
        if *key == self.default_slot.key {
            return Some(self.default_slot.clone());
        }
        self.slots.read().get(key).map(|entry| entry.0.clone())
    }

    /// Makes room for at least one key: drops idle entries, then, if still
    /// full, the least recently used tenth, so the cost of a sweep is spread
    /// over many inserts.
    #[allow(clippy::mutable_key_type)] // hashed by the immutable key only
    fn evict(&self, slots: &mut HashSet<SlotEntry>) {
        let before = slots.len();
        let now = Instant::now();
        slots.retain(|entry| !entry.0.is_idle(now));
        if slots.len() >= self.config.max_keys {
            let keep = self.config.max_keys - (self.config.max_keys / 10).max(1);
            let mut by_age: Vec<(u64, TokenRequest)> = slots
                .iter()
                .map(|entry| (entry.0.last_used_ms(), entry.0.key.clone()))
                .collect();
            let remove = by_age.len().saturating_sub(keep);
            if remove > 0 && remove < by_age.len() {
                by_age.select_nth_unstable_by_key(remove, |(used, _)| *used);
            }
            for (_, key) in by_age.iter().take(remove) {
                slots.remove(key);
            }
        }
        let evicted = (before - slots.len()) as u64;
        self.counters
            .evictions
            .fetch_add(evicted, Ordering::Relaxed);
        tracing::debug!(evicted, "token cache full; entries evicted");
    }

    /// A usable token for the slot (the cached one, or the result of the one
    /// fetch under way for it), of which `take` keeps what the caller needs.
    /// Taking only what is needed (a header clone, a generation number)
    /// keeps the hot path free of writes to shared memory.
    pub(crate) async fn lease<T>(
        &self,
        slot: &Arc<Slot>,
        take: impl Fn(&Cached) -> T,
    ) -> Result<Lease<T>, Error> {
        let now = Instant::now();
        slot.touch(now.saturating_duration_since(self.epoch).as_millis() as u64);
        let joined = match slot.lookup(now, &take) {
            Lookup::Fresh(taken) => Joined::Ready(taken),
            Lookup::Refresh(taken) => {
                self.refresh_in_background(slot, now);
                Joined::Ready(taken)
            }
            Lookup::Missing => self.join_or_start(slot, now, &take)?,
        };
        let mut done = match joined {
            Joined::Ready(taken) => {
                self.counters.cache_hits.add();
                return Ok(Lease {
                    taken,
                    fetched: false,
                });
            }
            Joined::Waiting(done) => done,
        };
        Counters::bump(&self.counters.waited);
        tracing::debug!(
            audience = slot.key.audience(),
            "no usable token cached; waiting for the fetch"
        );
        let cached = match done.wait_for(Option::is_some).await {
            Ok(result) => result.clone().unwrap_or(Err(Error::FetchAborted)),
            Err(_) => Err(Error::FetchAborted),
        }?;
        Ok(Lease {
            taken: take(&cached),
            fetched: true,
        })
    }

    fn join_or_start<T>(
        &self,
        slot: &Arc<Slot>,
        now: Instant,
        take: impl Fn(&Cached) -> T,
    ) -> Result<Joined<T>, Error> {
        let mut state = slot.flight.lock();
        // Re-check under the lock: a fetch may have finished since the miss.
        if let Lookup::Fresh(taken) | Lookup::Refresh(taken) = slot.lookup(now, take) {
            return Ok(Joined::Ready(taken));
        }
        if let Some(flight) = state.running.as_mut() {
            flight.waiters += 1;
            self.counters
                .max_waiters_per_fetch
                .fetch_max(flight.waiters, Ordering::Relaxed);
            return Ok(Joined::Waiting(flight.done.clone()));
        }
        if let Some((until, error)) = state.failed.as_deref()
            && now < *until
        {
            Counters::bump(&self.counters.cooldown_rejections);
            return Err(error.clone());
        }
        Ok(Joined::Waiting(self.start(slot, &mut state, 1)?))
    }

    /// Starts one fetch for a token that is still usable but due for
    /// renewal. Nobody waits for it; a failure keeps the current token.
    fn refresh_in_background(&self, slot: &Arc<Slot>, now: Instant) {
        // Contended: another request is already deciding.
        let Some(mut state) = slot.flight.try_lock() else {
            return;
        };
        let cooling = state
            .failed
            .as_deref()
            .is_some_and(|(until, _)| now < *until);
        if state.running.is_some() || cooling {
            return;
        }
        if self.start(slot, &mut state, 0).is_ok() {
            Counters::bump(&self.counters.background_refreshes);
            tracing::debug!(
                audience = slot.key.audience(),
                "refreshing token ahead of expiry"
            );
        }
    }

    /// Spawns the fetch task for the slot and marks it running.
    fn start(
        &self,
        slot: &Arc<Slot>,
        state: &mut FlightState,
        waiters: u64,
    ) -> Result<watch::Receiver<FlightResult>, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("token fetches need a tokio runtime".into()))?;
        let id = self.flight_ids.fetch_add(1, Ordering::Relaxed);
        let (tx, done) = watch::channel(None);
        state.running = Some(Box::new(Flight {
            id,
            done: done.clone(),
            waiters,
        }));
        self.counters
            .max_waiters_per_fetch
            .fetch_max(waiters, Ordering::Relaxed);
        let guard = FlightGuard {
            slot: slot.clone(),
            id,
        };
        let source = self.source.clone();
        let counters = self.counters.clone();
        let config = self.config;
        runtime.spawn(async move {
            let slot = &guard.slot;
            let refresh_token = slot.flight.lock().refresh_token.clone();
            let renewed = renew(
                source.as_ref(),
                &slot.key,
                refresh_token,
                &config.retry,
                &counters,
            )
            .await;
            let result = renewed.map(|renewed| {
                let schedule = config.lifetimes.schedule(&renewed.token);
                let cached = Arc::new(Cached::new(Arc::new(renewed.token), id, schedule));
                (cached, renewed.refresh_token)
            });
            let result = {
                let mut state = slot.flight.lock();
                match result {
                    Ok((cached, refresh_token)) => {
                        slot.store(cached.clone());
                        state.failed = None;
                        state.refresh_token = refresh_token;
                        Ok(cached)
                    }
                    Err(error) => {
                        Counters::bump(&counters.fetch_failures);
                        state.failed =
                            Some(Box::new((Instant::now() + config.cooldown, error.clone())));
                        Err(error)
                    }
                }
            };
            drop(guard);
            // Nobody waiting is fine: the token is cached for the next request.
            let _ = tx.send(Some(result));
        });
        Ok(done)
    }

    /// Forgets the slot's token, but only if it is still generation
    /// `stale`: a newer token fetched meanwhile survives.
    pub(crate) fn invalidate_if_current(&self, slot: &Slot, stale: u64) -> bool {
        self.forget(slot, Some(stale))
    }

    /// Forgets the token for `key`, whatever it is.
    pub(crate) fn invalidate(&self, key: &TokenRequest) {
        if let Some(slot) = self.existing_slot(key)
            && self.forget(&slot, None)
        {
            tracing::debug!(audience = key.audience(), "token invalidated");
        }
    }

    /// Forgets every cached token.
    pub(crate) fn invalidate_all(&self) {
        self.forget(&self.default_slot, None);
        for entry in self.slots.read().iter() {
            self.forget(&entry.0, None);
        }
    }

    /// Forgets the slot's token (if it is generation `stale`, when given)
    /// and tells the source, which may share it beyond this cache.
    fn forget(&self, slot: &Slot, stale: Option<u64>) -> bool {
        let Some(forgotten) = slot.forget(stale) else {
            return false;
        };
        self.source.forget(&slot.key, &forgotten.token);
        true
    }

    /// How many keys (besides the default one) have an entry.
    pub(crate) fn len(&self) -> usize {
        self.slots.read().len()
    }
}
/// A slot in the key set, hashed and compared by its key, which never
/// changes; the slot's mutable parts take no part in hashing.
struct SlotEntry(Arc<Slot>);

impl Borrow<TokenRequest> for SlotEntry {
    fn borrow(&self) -> &TokenRequest {
        &self.0.key
    }
}

impl Hash for SlotEntry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.key.hash(state);
    }
}

impl PartialEq for SlotEntry {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}

impl Eq for SlotEntry {}
