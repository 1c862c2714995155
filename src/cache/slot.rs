//! One cache entry: the current token for a key, the fetch under way for
//! it, and the last failure (for the cooldown).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;

use super::cached::Cached;
use super::clock::Tick;
use super::damping::Damping;
use super::waiters::Waiters;
use crate::{Error, Token, TokenRequest};

pub(crate) struct Slot {
    pub(crate) key: TokenRequest,
    /// Read on every request without a lock or a shared write: `ArcSwap`
    /// loads leave the `Arc`'s count alone.
    current: ArcSwapOption<Cached>,
    pub(super) flight: Mutex<FlightState>,
    /// Last use, in [`Tick::coarse_ms`] (for eviction).
    last_used_ms: AtomicU64,
}

/// What a request finds in a slot, and what it took from the token.
pub(super) enum Lookup<T> {
    /// A token to use as it is.
    Fresh(T),
    /// A token to use, whose refresh window has begun.
    Refresh(T),
    /// No usable token.
    Missing,
}

/// Boxed parts: most slots have neither, and a slot is made per key.
#[derive(Default)]
pub(super) struct FlightState {
    pub(super) running: Option<Box<Flight>>,
    /// The last fetch's error and when its cooldown ends.
    pub(super) failed: Option<Box<(Instant, Error)>>,
    /// The token last forgotten (rejected or invalidated), handed to the
    /// next fetch as the one it replaces, so a grant can still use its
    /// refresh token and a fleet can tell it from a newer shared one.
    pub(super) retired: Option<Arc<Token>>,
    /// The key's rejection cooldown, once the API rejected a token that a
    /// new one would not fix.
    pub(super) damping: Option<Box<Damping>>,
    /// When the last fetch started, so the next starts no sooner than the
    /// refetch floor after it.
    pub(super) last_fetch: Option<Instant>,
}

impl<T> Lookup<T> {
    /// What `cached` is worth at `now`, and what `take` keeps of it.
    #[inline]
    pub(super) fn of(cached: Option<&Cached>, now: Tick, take: impl FnOnce(&Cached) -> T) -> Self {
        let Some(cached) = cached else {
            return Lookup::Missing;
        };
        if now < cached.refresh_at {
            Lookup::Fresh(take(cached))
        } else if now < cached.use_until {
            Lookup::Refresh(take(cached))
        } else {
            Lookup::Missing
        }
    }
}

pub(super) struct Flight {
    pub(super) id: u64,
    pub(super) done: Arc<Waiters>,
    pub(super) waiters: u64,
}

impl Slot {
    pub(super) fn new(key: TokenRequest) -> Self {
        Slot {
            key,
            current: ArcSwapOption::empty(),
            flight: Mutex::new(FlightState::default()),
            last_used_ms: AtomicU64::new(0),
        }
    }

    pub(super) fn lookup<T>(&self, now: Tick, take: impl FnOnce(&Cached) -> T) -> Lookup<T> {
        Lookup::of(self.current.load().as_deref(), now, take)
    }

    /// The current token's cell, for a thread's view of it.
    pub(super) fn current(&self) -> &ArcSwapOption<Cached> {
        &self.current
    }

    /// The cached token of generation `generation`, if it is still the one.
    pub(super) fn cached(&self, generation: u64) -> Option<Arc<Cached>> {
        let current = self.current.load_full()?;
        (current.generation == generation).then_some(current)
    }

    /// The cached token, usable or not (for a fetch that replaces it).
    pub(super) fn current_token(&self) -> Option<Arc<Token>> {
        self.current
            .load()
            .as_ref()
            .map(|cached| cached.token.clone())
    }

    pub(super) fn store(&self, cached: Arc<Cached>) {
        self.current.store(Some(cached));
    }

    /// Forgets the token if it is generation `stale` (or any token, for
    /// `None`), keeping it as the one the next fetch replaces; a newer token
    /// stored meanwhile survives. Whether a token was forgotten.
    pub(super) fn retire(&self, stale: Option<u64>) -> bool {
        self.retire_locked(&mut self.flight.lock(), stale)
    }

    /// [`retire`](Self::retire), with the flight lock already held.
    pub(super) fn retire_locked(&self, state: &mut FlightState, stale: Option<u64>) -> bool {
        let mut forgot = None;
        self.current.rcu(|current| {
            let matches = match (current, stale) {
                (Some(cached), Some(stale)) => cached.generation == stale,
                (Some(_), None) => true,
                (None, _) => false,
            };
            forgot = if matches { current.clone() } else { None };
            if matches { None } else { current.clone() }
        });
        let Some(forgot) = forgot else {
            return false;
        };
        state.retired = Some(forgot.token.clone());
        true
    }

    /// Whether the slot holds nothing worth keeping at `now`: no usable
    /// token and no fetch under way.
    pub(super) fn is_idle(&self, now: Tick) -> bool {
        matches!(self.lookup(now, |_| ()), Lookup::Missing) && self.flight.lock().running.is_none()
    }

    /// Records a use. Writes at most once per millisecond, so a busy key
    /// does not turn every read into a write of a shared cache line.
    pub(super) fn touch(&self, now: Tick) {
        let now_ms = now.coarse_ms();
        if self.last_used_ms.load(Ordering::Relaxed) != now_ms {
            self.last_used_ms.store(now_ms, Ordering::Relaxed);
        }
    }

    pub(super) fn last_used_ms(&self) -> u64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }
}

/// Clears the slot's running fetch when the fetch task ends, whether it
/// finished, panicked or was dropped with its runtime, so the next request
/// starts a new fetch instead of waiting on a dead one.
pub(super) struct FlightGuard {
    pub(super) slot: Arc<Slot>,
    pub(super) id: u64,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut state = self.slot.flight.lock();
        if state
            .running
            .as_ref()
            .is_some_and(|flight| flight.id == self.id)
        {
            state.running = None;
        }
    }
}
