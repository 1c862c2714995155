//! One fetch per key at a time: a request that finds no usable token joins
//! the fetch under way or starts one in its own task; a token in its
//! refresh window starts one in the background.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::TokenCache;
use super::cached::Cached;
use super::clock::Tick;
use super::slot::{Flight, FlightGuard, FlightState, Lookup, Slot};
use super::waiters::Waiters;
use crate::retry::with_retries;
use crate::source::FetchReason;
use crate::stats::Counters;
use crate::{Error, FetchContext, Token};

enum Joined<T> {
    Ready(T),
    Waiting(Arc<Waiters>),
}

impl TokenCache {
    /// A usable token for the slot (the cached one, or the result of the one
    /// fetch under way for it), of which `take` keeps what the caller needs,
    /// and whether the caller waited for it to be fetched. Taking only what
    /// is needed (a header clone, a generation number) keeps the hot path
    /// free of writes to shared memory.
    pub(super) async fn lease_with<T>(
        &self,
        slot: &Arc<Slot>,
        take: impl Fn(&Cached) -> T,
    ) -> Result<(T, bool), Error> {
        let joined = match self.usable(slot, self.clock.tick(), &take) {
            Some(taken) => Joined::Ready(taken),
            None => self.join_or_start(slot, &take)?,
        };
        let done = match joined {
            Joined::Ready(taken) => {
                self.counters.cache_hits.add();
                return Ok((taken, false));
            }
            Joined::Waiting(done) => done,
        };
        Counters::bump(&self.counters.waited);
        tracing::debug!(
            audience = slot.key.audience(),
            "no usable token cached; waiting for the fetch"
        );
        let cached = done.wait().await?;
        // A token a fleet read from its store was fetched elsewhere, maybe
        // long ago: not "fetched for this request", so a 401 may renew it.
        Ok((take(&cached), !cached.token.is_shared()))
    }

    /// The hot path, without waiting: what `take` keeps of a usable cached
    /// token (starting a background refresh if its window has begun), or
    /// `None` when there is none.
    pub(super) fn usable<T>(
        &self,
        slot: &Arc<Slot>,
        now: Tick,
        take: impl Fn(&Cached) -> T + Copy,
    ) -> Option<T> {
        // The default slot is never evicted, so its use goes unrecorded;
        // it is read through this thread's view of it.
        let found = if Arc::ptr_eq(slot, &self.default_slot) {
            self.default_view
                .read(|cached| Lookup::of(cached, now, take))
        } else {
            slot.touch(now);
            slot.lookup(now, take)
        };
        match found {
            Lookup::Fresh(taken) => Some(taken),
            Lookup::Refresh(taken) => {
                self.refresh_in_background(slot, self.clock.now());
                Some(taken)
            }
            Lookup::Missing => None,
        }
    }

    fn join_or_start<T>(
        &self,
        slot: &Arc<Slot>,
        take: impl Fn(&Cached) -> T,
    ) -> Result<Joined<T>, Error> {
        let mut state = slot.flight.lock();
        let now = self.clock.now();
        // Re-check under the lock: a fetch may have finished since the miss.
        if let Lookup::Fresh(taken) | Lookup::Refresh(taken) = slot.lookup(self.clock.tick(), take)
        {
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
            return Err(Error::cooling_down(error, *until - now));
        }
        let (reason, previous) = match state.retired.take() {
            Some(rejected) => (FetchReason::Rejected, Some(rejected)),
            None => (FetchReason::Missing, slot.current_token()),
        };
        Ok(Joined::Waiting(
            self.start(slot, &mut state, reason, previous, 1)?,
        ))
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
        let previous = slot.current_token();
        if self
            .start(slot, &mut state, FetchReason::RefreshAhead, previous, 0)
            .is_ok()
        {
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
        reason: FetchReason,
        previous: Option<Arc<Token>>,
        waiters: u64,
    ) -> Result<Arc<Waiters>, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let id = self.flight_ids.fetch_add(1, Ordering::Relaxed);
        let (done, publisher) = Waiters::new();
        state.running = Some(Box::new(Flight {
            id,
            done: done.clone(),
            waiters,
        }));
        self.counters
            .max_waiters_per_fetch
            .fetch_max(waiters, Ordering::Relaxed);
        let wait = self.refetch_wait(state, reason);
        let task = FetchTask {
            guard: FlightGuard {
                slot: slot.clone(),
                id,
            },
            source: self.source.clone(),
            counters: self.counters.clone(),
            clock: self.clock.clone(),
            config: self.config,
            reason,
            previous,
        };
        runtime.spawn(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let result = task.run().await;
            // Nobody waiting is fine: the token is cached for the next request.
            publisher.publish(result);
        });
        Ok(done)
    }
}

impl TokenCache {
    /// How long a fetch starting now waits so that fetches made because a
    /// token ran out start at least the refetch floor apart (a token that
    /// lives a millisecond must not cost a token request per API call);
    /// records when it will start. Renewals ahead of expiry and after a
    /// rejection are not held back: a configured refresh-ahead and a
    /// revoked token are not a tiny lifetime.
    fn refetch_wait(&self, state: &mut FlightState, reason: FetchReason) -> Duration {
        let now = self.clock.now();
        let wait = match (reason, state.last_fetch) {
            (FetchReason::Missing, Some(last)) => {
                (last + self.config.min_refetch).saturating_duration_since(now)
            }
            _ => Duration::ZERO,
        };
        state.last_fetch = Some(now + wait);
        wait
    }
}

/// Everything one spawned fetch needs, owned, so it outlives the request
/// that started it.
struct FetchTask {
    guard: FlightGuard,
    source: Arc<dyn crate::source::DynSource>,
    counters: Arc<Counters>,
    clock: super::Clock,
    config: super::CacheConfig,
    reason: FetchReason,
    previous: Option<Arc<Token>>,
}

impl FetchTask {
    /// Fetches (with retries), stores the token or the error and the end of
    /// its cooldown, and clears the running marker.
    async fn run(self) -> Result<Arc<Cached>, Error> {
        let slot = &self.guard.slot;
        Counters::bump(&self.counters.fetches);
        let cx = FetchContext::new(&slot.key)
            .replacing(self.reason, self.previous.as_deref())
            .with_lifetimes(&self.config.lifetimes);
        let fetched = with_retries(&self.config.retry, &self.counters, cx, |cx| {
            self.source.fetch_boxed(cx)
        })
        .await;
        let mut state = slot.flight.lock();
        let result = match fetched {
            Ok(token) => {
                let schedule = self.config.lifetimes.schedule(&token);
                let replaced_rejected = self.reason == FetchReason::Rejected;
                let token = Arc::new(token);
                let id = self.guard.id;
                let cached = Cached::new(token, id, schedule, replaced_rejected, &self.clock);
                let cached = Arc::new(cached);
                // A token dead on arrival (lifetime zero) is stored all the
                // same: its schedule ends where it starts, so only the
                // requests that waited for it use it, and the next fetch
                // still gets it as the previous token (its refresh token).
                slot.store(cached.clone());
                state.failed = None;
                Ok(cached)
            }
            Err(error) => {
                Counters::bump(&self.counters.fetch_failures);
                let until = self.clock.now() + self.cooldown_after(&error);
                state.failed = Some(Box::new((until, error.clone())));
                // The replaced token is still the one to hand the next fetch.
                if self.reason == FetchReason::Rejected {
                    state.retired = self.previous.clone();
                }
                Err(error)
            }
        };
        drop(state);
        drop(self.guard);
        result
    }

    /// How long requests for the key get this error without a new fetch:
    /// the configured cooldown, or the server's `Retry-After` when longer,
    /// up to the configured maximum.
    fn cooldown_after(&self, error: &Error) -> Duration {
        let asked = error.endpoint_error().and_then(|e| e.retry_after());
        let cooldown = self.config.cooldown;
        match asked {
            Some(asked) if asked > cooldown => asked.min(self.config.max_cooldown).max(cooldown),
            _ => cooldown,
        }
    }
}
