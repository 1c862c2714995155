//! The cache on its own, with a clock the tests move by hand: exact
//! schedules, single flight, cooldown, refresh ahead, rejection and
//! eviction, without a sleep or a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::clock::ManualClock;
use super::{CacheConfig, Key, Lease, TokenCache};
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
    clock.advance(Duration::from_secs(1));
    let carried = lease(&cache).await;
    assert!(!carried.ticket.fetched());
    let renewed = cache.renew_after_rejection(&slot, carried.ticket).await;
    let renewed = renewed.and_then(Result::ok).map(|l| header(&l).to_owned());
    assert_eq!(renewed.as_deref(), Some("Bearer t2"));
    // A second request that carried the same old token does not fetch again.
    let again = cache.renew_after_rejection(&slot, carried.ticket).await;
    let again = again.and_then(Result::ok).map(|l| header(&l).to_owned());
    assert_eq!(again.as_deref(), Some("Bearer t2"));
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    // A token fetched for the very request is not renewed for it.
    assert!(first.ticket.fetched());
    assert!(
        cache
            .renew_after_rejection(&slot, first.ticket)
            .await
            .is_none()
    );
    let seen = source.seen.lock().clone();
    assert_eq!(seen[1], (FetchReason::Rejected, Some("t1".into())));
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
    let key = |i: usize| Key::Other(TokenRequest::new().with_audience(format!("a{i}")));
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
