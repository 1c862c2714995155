//! Tokens per key, each fetched by exactly one task at a time.
//!
//! The hot path is an `ArcSwap` load and a header clone. A miss joins the
//! fetch already under way for that key or starts one; a token in its
//! refresh window is used while one background fetch replaces it. Fetches
//! run in their own task, so dropping any request future (even the one that
//! started the fetch) never strands the others, and a guard clears the
//! running marker however the task ends. After a failed fetch, requests for
//! that key get the same error, without a new fetch, until the cooldown
//! ends.
//!
//! The cache keeps no grant state: a fetch is handed the token it replaces
//! (through [`FetchContext`](crate::FetchContext)), and the source decides
//! what to do with it (use its refresh token, skip a shared copy of it).

mod cached;
mod clock;
mod damping;
mod flight;
mod key;
mod lifetimes;
mod local_view;
mod slot;
#[cfg(test)]
mod tests;
mod waiters;

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::HeaderValue;
use parking_lot::Mutex;

pub(crate) use clock::Clock;
use damping::Damping;
pub use damping::RejectionDamping;
pub(crate) use key::{Key, KeyRef};
pub(crate) use lifetimes::Lifetimes;
pub use lifetimes::RefreshAhead;
pub(crate) use slot::Slot;

use crate::attach::Binding;
use crate::outcome::SkipReason;
use crate::source::DynSource;
use crate::stats::{Counters, Stats};
use crate::{Error, RetryPolicy, Token, TokenRequest};

/// The most keys cached at once, by default.
pub(crate) const DEFAULT_MAX_KEYS: usize = 10_000;

/// After a failed fetch, requests for that key get its error without a new
/// fetch for this long, by default.
pub(crate) const DEFAULT_COOLDOWN: Duration = Duration::from_secs(1);

/// Fetches for one key start at least this far apart, by default, so a
/// token announced to live a millisecond does not cost a token request per
/// API call.
pub(crate) const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(1);

/// A `Retry-After` longer than the cooldown lengthens it, up to this, by
/// default.
pub(crate) const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(300);

/// Everything that shapes the cache's behaviour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheConfig {
    pub(crate) lifetimes: Lifetimes,
    pub(crate) retry: RetryPolicy,
    pub(crate) cooldown: Duration,
    /// The longest cooldown a `Retry-After` can ask for.
    pub(crate) max_cooldown: Duration,
    pub(crate) max_keys: usize,
    pub(crate) damping: RejectionDamping,
    /// Fetches for one key start at least this far apart.
    pub(crate) min_refetch: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            lifetimes: Lifetimes::DEFAULT,
            retry: RetryPolicy::default(),
            cooldown: DEFAULT_COOLDOWN,
            max_cooldown: DEFAULT_MAX_COOLDOWN,
            max_keys: DEFAULT_MAX_KEYS,
            damping: RejectionDamping::default(),
            min_refetch: DEFAULT_MIN_REFETCH,
        }
    }
}

/// A usable token's header, and the ticket that names the token it came
/// from, to hand back if the API rejects it.
pub(crate) struct Lease {
    pub(crate) header: HeaderValue,
    /// The DPoP key a bound token needs a proof from; `None` for bearer.
    pub(crate) binding: Option<Arc<Binding>>,
    pub(crate) ticket: Ticket,
}

/// What a lease takes from the cached token: clones of its header and
/// binding, and its generation.
/// What a request takes of a cached token: its header, its DPoP binding
/// (if any) and which token it was.
type Taken = (HeaderValue, Option<Arc<Binding>>, u64);

impl Lease {
    fn of((header, binding, generation): Taken, fetched: bool) -> Self {
        Lease {
            header,
            binding,
            ticket: Ticket {
                generation,
                fetched,
            },
        }
    }
}

fn take(cached: &cached::Cached) -> Taken {
    let token = &cached.token;
    (
        token.header_value().clone(),
        token.binding().cloned(),
        cached.generation,
    )
}

/// What the cache did about a rejected token.
pub(crate) enum Renewal {
    /// Replaced (or already replaced by another request): replay with this.
    Replay(Lease),
    /// The token was fetched for this very request: a new one would be
    /// refused too (wrong audience, missing permission), so none is fetched.
    Fresh,
    /// The key is in a rejection cooldown: no token request, no replay.
    Damped,
}

/// What a rejection calls for, decided under the slot's lock.
enum Verdict {
    Renew,
    Fresh,
    Damped,
}

/// Which token a request carried, and whether it was fetched for this very
/// request (such a token is never renewed again for it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    generation: u64,
    fetched: bool,
}

impl Ticket {
    /// Whether the token was fetched for this very request.
    pub(crate) fn fetched(&self) -> bool {
        self.fetched
    }
}

pub(crate) struct TokenCache {
    source: Arc<dyn DynSource>,
    config: CacheConfig,
    clock: Clock,
    default_slot: Arc<Slot>,
    /// Each thread's view of the default slot's token (the hot path).
    default_view: local_view::LocalView,
    /// Keyed by each slot's own key, so the key is stored once per entry.
    /// A lock-free set: a keyed request finds its entry without writing to
    /// anything the cache's other users share (a read lock would). Hashed
    /// with foldhash, seeded per process: SipHash cost several times more.
    slots: papaya::HashSet<SlotEntry, foldhash::fast::RandomState>,
    /// Serializes what changes the key set (a new entry, a sweep), so the
    /// cache never grows past its bound between a check and an insert.
    growing: Mutex<()>,
    flight_ids: AtomicU64,
    counters: Arc<Counters>,
}

impl TokenCache {
    pub(crate) fn new(
        source: Arc<dyn DynSource>,
        default_key: TokenRequest,
        config: CacheConfig,
        clock: Clock,
    ) -> Self {
        let default_slot = Arc::new(Slot::new(default_key));
        TokenCache {
            source,
            config,
            clock,
            default_view: local_view::LocalView::new(default_slot.clone()),
            default_slot,
            slots: papaya::HashSet::with_hasher(foldhash::fast::RandomState::default()),
            growing: Mutex::new(()),
            flight_ids: AtomicU64::new(0),
            counters: Arc::new(Counters::default()),
        }
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The hot path: a usable cached token's lease, without waiting, or
    /// `None` when the caller must [`lease`](Self::lease) (and wait). Kept
    /// synchronous so a request future that finds its token cached carries
    /// no fetch machinery in its state.
    #[inline]
    pub(crate) fn lease_now(&self, slot: &Arc<Slot>) -> Option<Lease> {
        let taken = self.usable(slot, self.clock.tick(), take)?;
        self.counters.cache_hits.add();
        Some(Lease::of(taken, false))
    }

    /// A usable token's header for `key`: the cached one, or the result of
    /// the one fetch under way for it.
    pub(crate) async fn lease(&self, slot: &Arc<Slot>) -> Result<Lease, Error> {
        let (taken, fetched) = self.lease_with(slot, take).await?;
        Ok(Lease::of(taken, fetched))
    }

    /// The API rejected the token of `ticket`. With the request's `kept`
    /// copy: the copy and the lease to replay it with, or why it is not
    /// replayed. Without one (`kept` says why), the token is only retired.
    /// What every adapter does after a rejection, decided once.
    pub(crate) async fn answer_rejection<C>(
        &self,
        slot: &Arc<Slot>,
        ticket: Ticket,
        kept: Result<C, SkipReason>,
    ) -> Result<Result<(C, Lease), SkipReason>, Error> {
        let copy = match kept {
            Ok(copy) => copy,
            Err(reason) => {
                let damped = self.retire(slot, ticket);
                return Ok(Err(if damped { SkipReason::Damped } else { reason }));
            }
        };
        Ok(match self.renew_after_rejection(slot, ticket).await? {
            Renewal::Replay(lease) => Ok((copy, lease)),
            Renewal::Fresh => Err(SkipReason::FreshToken),
            Renewal::Damped => Err(SkipReason::Damped),
        })
    }

    /// The API rejected the token of `ticket`: replace it (unless a newer
    /// one replaced it already) and lease the replacement, or say why not.
    pub(crate) async fn renew_after_rejection(
        &self,
        slot: &Arc<Slot>,
        ticket: Ticket,
    ) -> Result<Renewal, Error> {
        match self.judge_rejection(slot, ticket) {
            Verdict::Renew => Ok(Renewal::Replay(self.lease(slot).await?)),
            Verdict::Fresh => Ok(Renewal::Fresh),
            Verdict::Damped => Ok(Renewal::Damped),
        }
    }

    /// The API rejected the token of `ticket` and the request will not be
    /// replayed: retire the token unless the rejection is damped or the
    /// token was fetched for this request (the next request fetches).
    /// Whether the rejection was damped.
    pub(crate) fn retire(&self, slot: &Slot, ticket: Ticket) -> bool {
        matches!(self.judge_rejection(slot, ticket), Verdict::Damped)
    }

    /// Decides what a rejection of `ticket`'s token calls for, under the
    /// slot's flight lock: retire it and renew, or leave it (damped, or
    /// fetched for this very request). A rejection a new token would most
    /// likely not fix starts (or, past one, lengthens) the key's rejection
    /// cooldown; past a cooldown one renewal is allowed.
    fn judge_rejection(&self, slot: &Slot, ticket: Ticket) -> Verdict {
        let now = self.clock.now();
        let mut state = slot.flight.lock();
        let previous = state.damping.as_deref().copied();
        if previous.is_some_and(|damping| now < damping.until) {
            Counters::bump(&self.counters.rejections_damped);
            return Verdict::Damped;
        }
        let suspect = ticket.fetched
            || slot.cached(ticket.generation).is_some_and(|cached| {
                let age = now.saturating_duration_since(cached.token.issued_at());
                self.config
                    .damping
                    .is_suspect(age, cached.replaced_rejected)
            });
        state.damping = match suspect {
            true => Some(Box::new(self.start_damping(slot, now, previous))),
            false => None,
        };
        if ticket.fetched {
            return Verdict::Fresh;
        }
        if suspect && previous.is_none() {
            Counters::bump(&self.counters.rejections_damped);
            return Verdict::Damped;
        }
        slot.retire_locked(&mut state, Some(ticket.generation));
        Verdict::Renew
    }

    fn start_damping(&self, slot: &Slot, now: Instant, previous: Option<Damping>) -> Damping {
        let length = self.config.damping.next(previous.map(|d| d.length));
        Counters::bump(&self.counters.rejection_cooldowns);
        tracing::warn!(
            audience = slot.key.audience(),
            cooldown = ?length,
            "the API rejected a token a new one would likely not fix; no new token for the cooldown"
        );
        Damping {
            until: now + length,
            length,
        }
    }

    /// The token itself for `key`, for code that needs more than the header.
    pub(crate) async fn token(&self, slot: &Arc<Slot>) -> Result<Arc<Token>, Error> {
        let (token, _) = self.lease_with(slot, |cached| cached.token.clone()).await?;
        Ok(token)
    }

    /// The slot for `key`, made on first use. Making one when the cache is
    /// full evicts expired entries first, then the least recently used.
    #[inline]
    pub(crate) fn slot(&self, key: &Key<'_>) -> Cow<'_, Arc<Slot>> {
        match key {
            Key::Default => Cow::Borrowed(&self.default_slot),
            Key::Other(key) => Cow::Owned(self.keyed_slot(*key)),
        }
    }

    /// The slot for a key other than the default, made on first use.
    fn keyed_slot(&self, key: KeyRef<'_>) -> Arc<Slot> {
        match self.slots.pin().get(&key) {
            Some(entry) => entry.0.clone(),
            None => self.add_slot(key),
        }
    }

    /// Makes the slot for `key`, unless another request just did.
    fn add_slot(&self, key: KeyRef<'_>) -> Arc<Slot> {
        let _growing = self.growing.lock();
        let slots = self.slots.pin();
        if let Some(entry) = slots.get(&key) {
            return entry.0.clone();
        }
        if slots.len() >= self.config.max_keys {
            self.evict();
        }
        let slot = Arc::new(Slot::new(key.to_request()));
        slots.insert(SlotEntry(slot.clone()));
        slot
    }

    fn existing_slot(&self, key: &Key<'_>) -> Option<Arc<Slot>> {
        match key {
            Key::Default => Some(self.default_slot.clone()),
            Key::Other(key) => self.slots.pin().get(key).map(|entry| entry.0.clone()),
        }
    }

    /// Makes room for at least one key: drops idle entries, then, if still
    /// full, the least recently used tenth, so the cost of a sweep is spread
    /// over many inserts. Called with `growing` held.
    fn evict(&self) {
        let slots = self.slots.pin();
        let before = slots.len();
        let now = self.clock.tick();
        slots.retain(|entry| !entry.0.is_idle(now));
        if slots.len() >= self.config.max_keys {
            let keep = self.config.max_keys - (self.config.max_keys / 10).max(1);
            let mut by_age: Vec<(u64, Arc<Slot>)> = slots
                .iter()
                .map(|entry| (entry.0.last_used_ms(), entry.0.clone()))
                .collect();
            let remove = by_age.len().saturating_sub(keep);
            if remove > 0 && remove < by_age.len() {
                by_age.select_nth_unstable_by_key(remove, |(used, _)| *used);
            }
            for (_, slot) in by_age.iter().take(remove) {
                slots.remove(&KeyRef::of(&slot.key));
            }
        }
        let evicted = before.saturating_sub(slots.len()) as u64;
        self.counters
            .evictions
            .fetch_add(evicted, Ordering::Relaxed);
        tracing::debug!(evicted, "token cache full; entries evicted");
    }

    /// Forgets the token for `key`, whatever it is.
    pub(crate) fn invalidate(&self, key: &Key) {
        if let Some(slot) = self.existing_slot(key)
            && slot.retire(None)
        {
            tracing::debug!(audience = slot.key.audience(), "token invalidated");
        }
    }

    /// Forgets every cached token.
    pub(crate) fn invalidate_all(&self) {
        self.default_slot.retire(None);
        for entry in self.slots.pin().iter() {
            entry.0.retire(None);
        }
    }

    /// How many keys (besides the default one) have an entry.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

/// A slot in the key set, hashed and compared by its key, which never
/// changes; the slot's mutable parts take no part in hashing.
struct SlotEntry(Arc<Slot>);

impl Hash for SlotEntry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        KeyRef::of(&self.0.key).hash(state);
    }
}

impl PartialEq for SlotEntry {
    fn eq(&self, other: &Self) -> bool {
        KeyRef::of(&self.0.key).same(KeyRef::of(&other.0.key))
    }
}

impl Eq for SlotEntry {}

/// A borrowed key finds its entry as the entry's own key would.
impl papaya::Equivalent<SlotEntry> for KeyRef<'_> {
    fn equivalent(&self, entry: &SlotEntry) -> bool {
        self.same(KeyRef::of(&entry.0.key))
    }
}
