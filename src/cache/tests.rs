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
