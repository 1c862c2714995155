//! The cache on its own, with a clock the tests move by hand: exact
//! schedules, single flight, cooldown, refresh ahead, rejection and
//! eviction, without a sleep or a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::clock::ManualClock;
use super::{CacheConfig, Key, KeyRef, Lease, Renewal, TokenCache};
use crate::source::FetchReason;
use crate::{Error, FetchContext, RetryPolicy, Token, TokenRequest, TokenSource};

/// Counts its calls, remembers what each was told, and issues `t<n>`
/// tokens of a fixed lifetime, or fails while `fail` is set.
#[derive(Default)]
struct Counting {
    calls: AtomicU64,
    seen: parking_lot::Mutex<Vec<(FetchReason, Option<String>)>>,
    fail: std::sync::atomic::AtomicBool,
    gate: Option<Arc<tokio::sync::Notify>>,
}

impl TokenSource for Arc<Counting> {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        let previous = cx.previous().map(|t| t.secret().to_owned());
        self.seen.lock().push((cx.reason(), previous));
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::custom(std::io::Error::other("refused")));
        }
        Ok(Token::bearer(format!("t{n}"))?.with_expires_in(Duration::from_secs(100)))
    }
}

fn cache(source: &Arc<Counting>, clock: &Arc<ManualClock>) -> TokenCache {
    let config = CacheConfig {
        retry: RetryPolicy::none(),
        ..CacheConfig::default()
    };
    TokenCache::new(
        Arc::new(source.clone()),
        TokenRequest::new(),
        config,
        super::Clock::Manual(clock.clone()),
    )
}

fn header(lease: &Lease) -> &str {
    lease.header.to_str().unwrap_or_default()
}

async fn lease(cache: &TokenCache) -> Lease {
    let slot = cache.slot(&Key::Default);
    match cache.lease(&slot).await {
        Ok(lease) => lease,
        Err(error) => panic!("lease failed: {error}"),
    }
}

#[tokio::test]
async fn a_token_is_used_until_its_refresh_window_then_renewed_in_the_background() {
    let (source, clock) = (Arc::new(Counting::default()), Arc::new(ManualClock::new()));
    let cache = cache(&source, &clock);
    assert_eq!(header(&lease(&cache).await), "Bearer t1");
    // 100 s lifetime: refresh after 80 s, use until 90 s (30 s leeway is
    // capped at a tenth of the lifetime).
    clock.advance(Duration::from_secs(79));
    assert_eq!(header(&lease(&cache).await), "Bearer t1");
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(2));
    assert_eq!(header(&lease(&cache).await), "Bearer t1", "still used");
    tokio::task::yield_now().await;
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    assert_eq!(header(&lease(&cache).await), "Bearer t2");
    let seen = source.seen.lock().clone();
    assert_eq!(seen[1], (FetchReason::RefreshAhead, Some("t1".into())));
}

#[tokio::test]
async fn past_its_use_the_token_is_replaced_and_handed_to_the_source() {
    let (source, clock) = (Arc::new(Counting::default()), Arc::new(ManualClock::new()));
    let cache = cache(&source, &clock);
    lease(&cache).await;
    clock.advance(Duration::from_secs(91));
    let renewed = lease(&cache).await;
    assert_eq!(header(&renewed), "Bearer t2");
    assert!(renewed.ticket.fetched(), "the caller waited for the fetch");
    let seen = source.seen.lock().clone();
    assert_eq!(seen[0], (FetchReason::Missing, None));
    assert_eq!(seen[1], (FetchReason::Missing, Some("t1".into())));
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let source = Arc::new(Counting {
        gate: Some(gate.clone()),
        ..Counting::default()
    });
    let cache = Arc::new(cache(&source, &Arc::new(ManualClock::new())));
    let waiters: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { header(&lease(&cache).await).to_owned() })
        })
        .collect();
    tokio::task::yield_now().await;
    gate.notify_one();
    for waiter in waiters {
        assert_eq!(waiter.await.ok().as_deref(), Some("Bearer t1"));
    }
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().fetches, 1);
}

#[tokio::test]
async fn a_failure_is_answered_from_the_cooldown_until_it_ends() {
    let (source, clock) = (Arc::new(Counting::default()), Arc::new(ManualClock::new()));
    source.fail.store(true, Ordering::SeqCst);
    let cache = cache(&source, &clock);
    let slot = cache.slot(&Key::Default);
    for _ in 0..3 {
        assert!(cache.lease(&slot).await.is_err());
    }
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        1,
        "one fetch per cooldown"
    );
    assert_eq!(cache.stats().cooldown_rejections, 2);
    source.fail.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(1));
    assert_eq!(header(&lease(&cache).await), "Bearer t2");
}

#[tokio::test]
async fn a_rejected_token_is_replaced_once_and_given_to_the_source_as_rejected() {
    let (source, clock) = (Arc::new(Counting::default()), Arc::new(ManualClock::new()));
    let cache = cache(&source, &clock);
    let slot = cache.slot(&Key::Default);
    let first = lease(&cache).await;
    clock.advance(Duration::from_secs(3));
    let carried = lease(&cache).await;
    assert!(!carried.ticket.fetched());
    assert_eq!(
        replayed(&cache, &slot, carried.ticket).await.as_deref(),
        Some("Bearer t2")
    );
    // A second request that carried the same old token does not fetch again.
    assert_eq!(
        replayed(&cache, &slot, carried.ticket).await.as_deref(),
        Some("Bearer t2")
    );
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    // A token fetched for the very request is not renewed for it.
    assert!(first.ticket.fetched());
    let fresh = cache.renew_after_rejection(&slot, first.ticket).await;
    assert!(matches!(fresh, Ok(Renewal::Fresh)));
    let seen = source.seen.lock().clone();
    assert_eq!(seen[1], (FetchReason::Rejected, Some("t1".into())));
}

/// The header the request is replayed with, if it is replayed.
async fn replayed(
    cache: &TokenCache,
    slot: &Arc<super::Slot>,
    ticket: super::Ticket,
) -> Option<String> {
    match cache.renew_after_rejection(slot, ticket).await {
        Ok(Renewal::Replay(lease)) => Some(header(&lease).to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn a_replacement_rejected_again_damps_the_key_until_its_cooldown_ends() {
    let (source, clock) = (Arc::new(Counting::default()), Arc::new(ManualClock::new()));
    let cache = cache(&source, &clock);
    let slot = cache.slot(&Key::Default);
    lease(&cache).await;
    clock.advance(Duration::from_secs(3));
    let old = lease(&cache).await;
    assert!(
        replayed(&cache, &slot, old.ticket).await.is_some(),
        "a one-off: renewed"
    );
    let replacement = lease(&cache).await;
    // The replacement is rejected too: damped, nothing fetched.
    assert!(replayed(&cache, &slot, replacement.ticket).await.is_none());
    assert!(replayed(&cache, &slot, replacement.ticket).await.is_none());
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().rejection_cooldowns, 1);
    assert_eq!(cache.stats().rejections_damped, 2);
    // Past the 2 s cooldown one renewal is allowed, and the next cooldown
    // doubles.
    clock.advance(Duration::from_secs(2));
    assert!(replayed(&cache, &slot, replacement.ticket).await.is_some());
    let third = lease(&cache).await;
    assert!(replayed(&cache, &slot, third.ticket).await.is_none());
    clock.advance(Duration::from_secs(3));
    assert!(
        replayed(&cache, &slot, third.ticket).await.is_none(),
        "4 s this time"
    );
    clock.advance(Duration::from_secs(1));
    assert!(replayed(&cache, &slot, third.ticket).await.is_some());
    assert_eq!(source.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_full_cache_evicts_idle_entries_first_then_the_least_recently_used() {
    let (source, clock) = (Arc::new(Counting::default()), Arc::new(ManualClock::new()));
    let config = CacheConfig {
        max_keys: 10,
        retry: RetryPolicy::none(),
        ..CacheConfig::default()
    };
    let cache = TokenCache::new(
        Arc::new(source.clone()),
        TokenRequest::new(),
        config,
        super::Clock::Manual(clock.clone()),
    );
    let keys: Vec<TokenRequest> = (0..12)
        .map(|i| TokenRequest::new().with_audience(format!("a{i}")))
        .collect();
    let key = |i: usize| Key::Other(KeyRef::of(&keys[i]));
    for i in 0..10 {
        clock.advance(Duration::from_millis(5));
        let slot = cache.slot(&key(i));
        assert!(cache.lease(&slot).await.is_ok());
    }
    assert_eq!(cache.len(), 10);
    // Nothing is idle: the oldest tenth (one key) goes.
    let slot = cache.slot(&key(10));
    assert!(cache.lease(&slot).await.is_ok());
    assert_eq!(cache.len(), 10);
    assert_eq!(cache.stats().evictions, 1);
    // Once every token is past use, all are idle and go together.
    clock.advance(Duration::from_secs(200));
    cache.slot(&key(11));
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_borrowed_key_hashes_and_compares_as_the_request_it_names() {
    use std::hash::BuildHasher;
    let hasher = foldhash::fast::RandomState::default();
    let audience: Arc<str> = Arc::from("https://api.example");
    let resources: Vec<Arc<str>> = vec![Arc::from("https://r.example")];
    let borrowed = KeyRef {
        audience: Some(&audience),
        scope: None,
        resources: &resources,
    };
    let owned = TokenRequest::new()
        .with_audience("https://api.example")
        .with_resource("https://r.example");
    assert!(borrowed.same(KeyRef::of(&owned)));
    assert_eq!(
        hasher.hash_one(borrowed),
        hasher.hash_one(KeyRef::of(&owned))
    );
    assert_eq!(KeyRef::of(&borrowed.to_request()).resources, &resources[..]);
    // Moving a value between fields makes another key, hashed apart.
    let moved = TokenRequest::new()
        .with_scope("https://api.example")
        .with_resource("https://r.example");
    assert!(!borrowed.same(KeyRef::of(&moved)));
    assert_ne!(
        hasher.hash_one(borrowed),
        hasher.hash_one(KeyRef::of(&moved))
    );
}

#[test]
fn waiters_of_a_fetch_dropped_with_its_runtime_get_an_error_not_a_hang() {
    // A gate nobody opens: the fetch never finishes on its own.
    let source = Arc::new(Counting {
        gate: Some(Arc::new(tokio::sync::Notify::new())),
        ..Counting::default()
    });
    let cache = Arc::new(cache(&source, &Arc::new(ManualClock::new())));
    let runtime = |threads: usize| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("runtime")
    };
    let (doomed, survivor) = (runtime(1), runtime(1));
    // The fetch task is spawned on `doomed`.
    let starter = cache.clone();
    doomed.block_on(async move {
        let slot = starter.slot(&Key::Default);
        let started = tokio::time::timeout(Duration::from_millis(50), starter.lease(&slot));
        assert!(started.await.is_err(), "the gated fetch cannot finish");
    });
    let waiter = cache.clone();
    let waiting = survivor.spawn(async move {
        let slot = waiter.slot(&Key::Default);
        waiter.lease(&slot).await.map(|_| ())
    });
    // Only once it waits on that fetch (the starter was the first to
    // wait): earlier, it would start a fetch of its own.
    let joined = std::time::Instant::now();
    while cache.stats().waited < 2 {
        assert!(joined.elapsed() < Duration::from_secs(5), "never joined");
        std::thread::yield_now();
    }
    drop(doomed);
    let outcome =
        survivor.block_on(async { tokio::time::timeout(Duration::from_secs(5), waiting).await });
    match outcome {
        Ok(Ok(Err(Error::FetchAborted))) => {}
        Ok(other) => panic!("expected FetchAborted, got {other:?}"),
        Err(_) => panic!("the waiter hung on a fetch that can never finish"),
    }
    assert_eq!(source.calls.load(Ordering::SeqCst), 0, "nothing was issued");
}

/// Each thread reads the default key's token through a view of its own:
/// a token replaced or forgotten on one thread is never used again by
/// another that had read it before. The other thread lives through the
/// whole test, so its view is the same one each time.
#[tokio::test]
async fn a_token_forgotten_on_one_thread_is_not_used_by_another_that_saw_it() {
    let source = Arc::new(Counting::default());
    let clock = Arc::new(ManualClock::new());
    let cache = Arc::new(cache(&source, &clock));
    assert_eq!(header(&lease(&cache).await), "Bearer t1");
    let (ask, asked) = std::sync::mpsc::channel::<()>();
    let (tell, told) = std::sync::mpsc::channel::<Option<String>>();
    let other = std::thread::spawn({
        let cache = cache.clone();
        move || {
            for () in asked {
                let slot = cache.slot(&Key::Default);
                let seen = cache
                    .lease_now(&slot)
                    .map(|lease| header(&lease).to_owned());
                if tell.send(seen).is_err() {
                    break;
                }
            }
        }
    });
    let read_there = || {
        ask.send(()).expect("the other thread listens");
        told.recv().expect("the other thread answers")
    };
    assert_eq!(read_there().as_deref(), Some("Bearer t1"));
    cache.invalidate(&Key::Default);
    assert_eq!(read_there(), None, "a forgotten token is not leased");
    assert_eq!(header(&lease(&cache).await), "Bearer t2");
    assert_eq!(read_there().as_deref(), Some("Bearer t2"));
    drop(ask);
    other.join().expect("the other thread ends");
}

/// Issues `t<n>` for the default key and `k<n>` for any other, each living
/// 100 s from the manual clock's present (`Counting`'s tokens date from the
/// real clock, so one fetched after the clock moved far would be dead on
/// arrival).
struct OnClock {
    clock: Arc<ManualClock>,
    defaults: AtomicU64,
    others: AtomicU64,
}

impl TokenSource for Arc<OnClock> {
    async fn fetch(&self, cx: FetchContext<'_>) -> Result<Token, Error> {
        let name = match cx.request().audience() {
            None => format!("t{}", self.defaults.fetch_add(1, Ordering::SeqCst) + 1),
            Some(_) => format!("k{}", self.others.fetch_add(1, Ordering::SeqCst) + 1),
        };
        Ok(Token::bearer(name)?
            .with_issued_at(self.clock.now())
            .with_expires_in(Duration::from_secs(100)))
    }
}

/// A cache on a manual clock fed by [`OnClock`], and a runtime for its
/// fetches, driven from the test's own thread. Rejections are never damped
/// (a zero maximum cooldown): a test retires token after token.
struct Fixture {
    clock: Arc<ManualClock>,
    cache: Arc<TokenCache>,
    runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn new(max_keys: usize) -> Self {
        let clock = Arc::new(ManualClock::new());
        let source = Arc::new(OnClock {
            clock: clock.clone(),
            defaults: AtomicU64::new(0),
            others: AtomicU64::new(0),
        });
        let config = CacheConfig {
            retry: RetryPolicy::none(),
            max_keys,
            damping: super::RejectionDamping::default().max_cooldown(Duration::ZERO),
            ..CacheConfig::default()
        };
        let cache = TokenCache::new(
            Arc::new(source.clone()),
            TokenRequest::new(),
            config,
            super::Clock::Manual(clock.clone()),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Fixture {
            clock,
            cache: Arc::new(cache),
            runtime,
        }
    }

    /// The default key's token, fetched if need be: its number.
    fn lease(&self) -> u64 {
        number(&self.runtime.block_on(lease(&self.cache)))
    }

    /// The default key's token as a hit on this thread, without waiting.
    fn lease_now(&self) -> Option<u64> {
        let slot = self.cache.slot(&Key::Default);
        self.cache.lease_now(&slot).map(|lease| number(&lease))
    }

    /// The number of the token the default slot holds, usable or not.
    fn current(&self) -> Option<u64> {
        let token = self.cache.default_slot.current_token()?;
        token.secret().trim_start_matches('t').parse().ok()
    }
}

/// The number of a `t<n>` token's lease; 0 (older than any) if it is not one.
fn number(lease: &Lease) -> u64 {
    header(lease)
        .trim_start_matches("Bearer t")
        .parse()
        .unwrap_or(0)
}

/// Waits (spinning, yielding the core) until `done`, or panics after a
/// while with `what`: a stuck handshake fails the test instead of hanging it.
fn until(what: &str, done: impl Fn() -> bool) {
    let since = std::time::Instant::now();
    while !done() {
        assert!(since.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::yield_now();
    }
}

const WORKERS: usize = 4;
const ROUNDS: u64 = 60;

/// Worker threads lease the default key's token in a loop, without
/// waiting, each through its own view of the slot. Meanwhile this thread,
/// round after round, caches token `t<round>`, waits until every worker has
/// leased it (so every view holds it), has `forget` get rid of it
/// (invalidated, retired, replaced), and once `forget` has returned
/// publishes the round. A worker reads the published round before each
/// lease: a token numbered at most that was gone before the lease began,
/// and leasing it breaks the promise, however fresh it still is on the
/// clock. Each round also waits until every worker has leased once after
/// the publication, so every stale view is put to the test.
fn no_lease_after_forgetting(fixture: &Fixture, forget: impl Fn(&Fixture, u64)) {
    use std::sync::atomic::AtomicBool;
    let published = AtomicU64::new(0);
    let seen: Vec<AtomicU64> = (0..WORKERS).map(|_| AtomicU64::new(0)).collect();
    let checked: Vec<AtomicU64> = (0..WORKERS).map(|_| AtomicU64::new(0)).collect();
    let stop = AtomicBool::new(false);
    let broken = parking_lot::Mutex::new(Vec::new());
    let hits = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let (published, seen, checked) = (&published, &seen[worker], &checked[worker]);
            let (stop, broken, hits) = (&stop, &broken, &hits);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let forgotten = published.load(Ordering::SeqCst);
                    if let Some(n) = fixture.lease_now() {
                        let mut broken = broken.lock();
                        if n <= forgotten && broken.len() < 8 {
                            broken.push((forgotten, n));
                        }
                        drop(broken);
                        seen.store(n, Ordering::SeqCst);
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                    checked.store(forgotten, Ordering::SeqCst);
                }
            });
        }
        // Stops the workers however the rounds end, so a failed assertion
        // below fails the test rather than leaving the scope waiting.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let _stop = Stop(&stop);
        // A forgotten token leased: fail at once, not by a stalled round.
        let intact = || {
            let broken = broken.lock();
            assert!(broken.is_empty(), "(forgotten up to, leased): {broken:?}");
        };
        for round in 1..=ROUNDS {
            assert_eq!(fixture.lease(), round, "round {round}'s token");
            until("every worker leased this round's token", || {
                intact();
                seen.iter().all(|n| n.load(Ordering::SeqCst) == round)
            });
            forget(fixture, round);
            published.store(round, Ordering::SeqCst);
            until("every worker leased after the publication", || {
                intact();
                checked.iter().all(|c| c.load(Ordering::SeqCst) >= round)
            });
        }
        intact();
    });
    assert!(hits.into_inner() >= ROUNDS * WORKERS as u64);
}

#[test]
fn no_thread_leases_a_token_once_invalidate_has_returned_though_its_view_held_it() {
    let fixture = Fixture::new(10);
    no_lease_after_forgetting(&fixture, |fixture, round| {
        fixture.cache.invalidate(&Key::Default);
        assert_eq!(fixture.current(), None, "round {round}: forgotten");
    });
}

/// `invalidate_all` retires the default slot and every keyed one: the
/// default slot's views must follow, and keyed tokens go too.
#[test]
fn no_thread_leases_a_token_once_invalidate_all_has_returned() {
    let fixture = Fixture::new(10);
    let keys: Vec<TokenRequest> = (0..3)
        .map(|i| TokenRequest::new().with_audience(format!("a{i}")))
        .collect();
    no_lease_after_forgetting(&fixture, |fixture, round| {
        let slots: Vec<_> = keys
            .iter()
            .map(|key| fixture.cache.slot(&Key::Other(KeyRef::of(key))))
            .collect();
        for slot in &slots {
            let leased = fixture.runtime.block_on(fixture.cache.lease(slot));
            assert!(leased.is_ok(), "round {round}: a keyed token");
        }
        fixture.cache.invalidate_all();
        assert_eq!(fixture.current(), None, "round {round}: default forgotten");
        for slot in &slots {
            assert!(fixture.cache.lease_now(slot).is_none(), "keyed forgotten");
        }
    });
}

/// A token the API rejected is retired for every thread: without a replay
/// (`retire`) on odd rounds, with one (`renew_after_rejection`, whose
/// replacement is the next round's token) on even rounds.
#[test]
fn no_thread_leases_a_token_once_its_rejection_has_retired_it() {
    let fixture = Fixture::new(10);
    no_lease_after_forgetting(&fixture, |fixture, round| {
        let slot = fixture.cache.slot(&Key::Default);
        // A hit: not fetched for this request, so a rejection renews it.
        let carried = match fixture.cache.lease_now(&slot) {
            Some(lease) => lease,
            None => panic!("round {round}: the token is cached"),
        };
        assert_eq!(number(&carried), round);
        if round % 2 == 1 {
            assert!(!fixture.cache.retire(&slot, carried.ticket), "not damped");
            assert_eq!(fixture.current(), None, "round {round}: retired");
        } else {
            let renewal = fixture
                .runtime
                .block_on(fixture.cache.renew_after_rejection(&slot, carried.ticket));
            match renewal {
                Ok(Renewal::Replay(lease)) => assert_eq!(number(&lease), round + 1),
                _ => panic!("round {round}: the rejected token is replaced"),
            }
        }
    });
}

/// A token in its refresh window is still used while its replacement is
/// fetched; once the replacement is stored, no thread may lease the old
/// one, though it is still usable on the clock.
#[test]
fn no_thread_leases_a_token_once_a_refresh_ahead_has_replaced_it() {
    let fixture = Fixture::new(10);
    no_lease_after_forgetting(&fixture, |fixture, round| {
        // Refresh from 80 s of the 100 s lifetime, use until 90 s.
        fixture.clock.advance(Duration::from_secs(81));
        let slot = fixture.cache.slot(&Key::Default);
        fixture.runtime.block_on(async {
            // A worker holding the flight lock makes a request skip
            // starting the refresh: ask until one starts and lands.
            until_async(
                || fixture.current() == Some(round + 1),
                async || {
                    let lease = fixture.cache.lease(&slot).await;
                    assert!(lease.is_ok(), "round {round}: a token");
                    tokio::task::yield_now().await;
                },
            )
            .await;
        });
        assert_eq!(fixture.cache.stats().background_refreshes, round);
    });
}

/// [`until`], doing `step` on the runtime between checks.
async fn until_async(done: impl Fn() -> bool, step: impl AsyncFn()) {
    let since = std::time::Instant::now();
    while !done() {
        assert!(since.elapsed() < Duration::from_secs(20), "never done");
        step().await;
    }
}

/// Threads that come and go: each round one thread leases the token and
/// ends, the token is forgotten (odd rounds) or replaced (even rounds), and
/// a new thread leases. Whatever the new thread finds of the ended one's
/// view, it must not be served the token that thread saw.
#[test]
fn a_thread_started_after_one_that_saw_a_token_does_not_lease_it_once_forgotten() {
    let fixture = Fixture::new(10);
    let mut current = fixture.lease();
    for round in 1..=ROUNDS {
        if fixture.current().is_none() {
            current = fixture.lease();
        }
        let saw = std::thread::scope(|scope| {
            scope
                .spawn(|| fixture.lease_now())
                .join()
                .expect("the first thread leases")
        });
        assert_eq!(
            saw,
            Some(current),
            "round {round}: the first thread's token"
        );
        fixture.cache.invalidate(&Key::Default);
        let expected = match round % 2 {
            0 => {
                current = fixture.lease();
                Some(current)
            }
            _ => None,
        };
        let leased = std::thread::scope(|scope| {
            scope
                .spawn(|| fixture.lease_now())
                .join()
                .expect("the second thread leases")
        });
        assert_eq!(leased, expected, "round {round}");
    }
}

/// Last use is recorded in units of 2^20 ns (about a millisecond): uses
/// two milliseconds apart fall in different units, so they must be told
/// apart. Step after step, a key picked at random is used again and a new
/// key is added, which evicts exactly one (nothing is idle): it must be
/// the least recently used, as a model of the uses says. Forty steps give
/// a unit too coarse to tell the uses apart many chances to pick wrong.
#[test]
fn keys_used_two_milliseconds_apart_are_evicted_least_recently_used_first() {
    const STEPS: usize = 40;
    let fixture = Fixture::new(10);
    let keys: Vec<TokenRequest> = (0..10 + STEPS)
        .map(|i| TokenRequest::new().with_audience(format!("a{i}")))
        .collect();
    let key = |i: usize| Key::Other(KeyRef::of(&keys[i]));
    let use_key = |i: usize| {
        fixture.clock.advance(Duration::from_millis(2));
        let slot = fixture.cache.slot(&key(i));
        let leased = fixture.runtime.block_on(fixture.cache.lease(&slot));
        assert!(leased.is_ok(), "key {i} leased");
    };
    // Keys in the order of their last use, least recent first.
    let mut model: Vec<usize> = (0..10).collect();
    for &i in &model {
        use_key(i);
    }
    let mut random = 0x2545_f491_4f6c_dd1d_u64;
    for step in 0..STEPS {
        random = random
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let again = model.remove((random >> 33) as usize % model.len());
        use_key(again);
        model.push(again);
        let victim = model.remove(0);
        let added = 10 + step;
        use_key(added);
        model.push(added);
        let mut present: Vec<usize> = (0..keys.len())
            .filter(|&i| fixture.cache.existing_slot(&key(i)).is_some())
            .collect();
        let mut expected = model.clone();
        present.sort_unstable();
        expected.sort_unstable();
        assert_eq!(present, expected, "step {step}: key {victim} evicted");
    }
    assert_eq!(fixture.cache.stats().evictions, STEPS as u64);
}

/// A thread's thread-locals are dropped in the reverse order of their
/// first use, so one first used before the thread's first request is
/// dropped after the thread's views of the cache. A request made
/// from its drop (a flush on exit) must be served like any other: a panic
/// in a thread-local's drop aborts the process. The request runs under
/// `catch_unwind` here, so that the test fails instead.
#[test]
fn a_token_leased_from_a_thread_local_destructor_is_served_not_a_panic() {
    let fixture = Fixture::new(10);
    assert_eq!(fixture.lease(), 1);
    let cache = fixture.cache.clone();
    let (tell, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let at_exit = {
            let cache = cache.clone();
            move || {
                let leased = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let slot = cache.slot(&Key::Default);
                    cache.lease_now(&slot).map(|lease| number(&lease))
                }));
                let _ = tell.send(leased.map_err(|_| "panicked"));
            }
        };
        crate::per_thread::at_exit::run(at_exit);
        let slot = cache.slot(&Key::Default);
        assert!(cache.lease_now(&slot).is_some(), "a hit while running");
    })
    .join()
    .expect("the thread ends");
    assert_eq!(told.recv(), Ok(Ok(Some(1))));
}

/// A thread's view holds the token it last read; once the token is
/// forgotten, the view lets go of it at that thread's next request, or
/// when the thread ends, so the token's buffer can be zeroed.
#[test]
fn a_forgotten_token_is_let_go_by_views_at_their_next_request_or_their_end() {
    let fixture = Fixture::new(10);
    assert_eq!(fixture.lease(), 1);
    let slot = fixture.cache.slot(&Key::Default);
    let held = slot
        .current()
        .load_full()
        .map(|cached| Arc::downgrade(&cached))
        .expect("a cached token");
    // Another thread reads it through its own view, then waits.
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (read, was_read) = std::sync::mpsc::channel::<bool>();
    let reader = std::thread::spawn({
        let cache = fixture.cache.clone();
        move || {
            let slot = cache.slot(&Key::Default);
            let _ = read.send(cache.lease_now(&slot).is_some());
            wait.recv().is_ok()
        }
    });
    assert_eq!(was_read.recv(), Ok(true), "the other thread read the token");
    fixture.cache.invalidate(&Key::Default);
    // This thread's view let go at its next request; the other still holds it.
    assert!(fixture.cache.lease_now(&slot).is_none(), "forgotten");
    assert!(held.upgrade().is_some(), "the other thread's view holds it");
    drop(go);
    let _ = reader.join();
    assert!(held.upgrade().is_none(), "let go once that thread ended");
}
