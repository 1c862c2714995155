//! Counters a caller can read: how the cache and the token endpoint behave.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::outcome::ReplayOutcome;
use crate::per_thread::{self, Owner, Values};

/// A snapshot of the middleware's counters since it was built, from
/// [`OAuthMiddleware::stats`](crate::OAuthMiddleware::stats).
///
/// ```
/// # async fn demo(oauth: reqwest_oauth::OAuthMiddleware) {
/// let stats = oauth.stats();
/// println!(
///     "{} token requests for {} cache hits; {} requests waited for a fetch",
///     stats.token_requests, stats.cache_hits, stats.waited
/// );
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Token fetches started (each may make several token requests).
    pub fetches: u64,
    /// Calls to the token source, retries included: HTTP token requests
    /// for the built-in grants. Through a
    /// [`FleetSource`](crate::fleet::FleetSource), a token read from the
    /// fleet's store counts too.
    pub token_requests: u64,
    /// Fetches that ended in an error.
    pub fetch_failures: u64,
    /// Requests answered from the cache without waiting.
    pub cache_hits: u64,
    /// Requests that waited for a fetch.
    pub waited: u64,
    /// Requests that got a cached error during a cooldown, without a fetch.
    pub cooldown_rejections: u64,
    /// Fetches started in the background, ahead of expiry.
    pub background_refreshes: u64,
    /// Requests replayed after the API rejected their token (renewed, or
    /// a wider token for `insufficient_scope`).
    pub replays: u64,
    /// Requests sent again, same token, because the API asked for a DPoP
    /// nonce (`401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"`,
    /// feature `dpop`). Not in [`replays`](Self::replays): the token was
    /// fine, the proof lacked the nonce, so a steady count here is a
    /// server rotating nonces, not tokens being refused. (A token
    /// endpoint's nonce retry is part of its token request.)
    pub dpop_nonce_replays: u64,
    /// Times a key entered a rejection cooldown: the API rejected a token
    /// that a new one would likely not fix (see
    /// [`RejectionDamping`](crate::policy::RejectionDamping)).
    pub rejection_cooldowns: u64,
    /// Rejections handed back as they came during a rejection cooldown,
    /// without a token request or a replay.
    pub rejections_damped: u64,
    /// The most requests that ever shared one fetch.
    pub max_waiters_per_fetch: u64,
    /// Cache entries removed to stay within the key limit.
    pub evictions: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) fetches: AtomicU64,
    pub(crate) token_requests: AtomicU64,
    pub(crate) fetch_failures: AtomicU64,
    pub(crate) cache_hits: PerThreadCounter,
    pub(crate) waited: AtomicU64,
    pub(crate) cooldown_rejections: AtomicU64,
    pub(crate) background_refreshes: AtomicU64,
    pub(crate) replays: AtomicU64,
    pub(crate) dpop_nonce_replays: AtomicU64,
    pub(crate) rejection_cooldowns: AtomicU64,
    pub(crate) rejections_damped: AtomicU64,
    pub(crate) max_waiters_per_fetch: AtomicU64,
    pub(crate) evictions: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request sent again, by both adapters alike: a nonce replay
    /// apart from the others, since its token was fine (only the proof
    /// lacked the nonce) and a server rotating nonces must not read as
    /// tokens refused.
    pub(crate) fn count_replay(&self, outcome: ReplayOutcome) {
        Self::bump(match outcome {
            ReplayOutcome::DpopNonce => &self.dpop_nonce_replays,
            _ => &self.replays,
        });
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Stats {
            fetches: read(&self.fetches),
            token_requests: read(&self.token_requests),
            fetch_failures: read(&self.fetch_failures),
            cache_hits: self.cache_hits.sum(),
            waited: read(&self.waited),
            cooldown_rejections: read(&self.cooldown_rejections),
            background_refreshes: read(&self.background_refreshes),
            replays: read(&self.replays),
            dpop_nonce_replays: read(&self.dpop_nonce_replays),
            rejection_cooldowns: read(&self.rejection_cooldowns),
            rejections_damped: read(&self.rejections_damped),
            max_waiters_per_fetch: read(&self.max_waiters_per_fetch),
            evictions: read(&self.evictions),
        }
    }
}

/// A counter bumped on every request by every thread. Each thread adds to
/// a cell of its own (`per_thread`), on its own cache line, with a plain
/// load and store: no other thread writes that cell, so no count is lost,
/// and the hot path pays no locked instruction (an atomic add cost about
/// 5 ns a request). Reading sums the cells, which outlive their threads.
/// A thread whose cell cannot be reached (its thread-locals torn down)
/// adds to a shared cell instead.
#[derive(Debug, Default)]
pub(crate) struct PerThreadCounter {
    owner: Owner,
    cells: parking_lot::Mutex<Vec<Arc<CountCell>>>,
    shared: AtomicU64,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct CountCell(AtomicU64);

thread_local! {
    static COUNT_CELLS: Values<Arc<CountCell>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl PerThreadCounter {
    #[inline]
    pub(crate) fn add(&self) {
        let mine = per_thread::with(
            &COUNT_CELLS,
            &self.owner,
            || self.new_cell(),
            |mine| {
                mine.0
                    .store(mine.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            },
        );
        if mine.is_none() {
            self.shared.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A cell for a thread's first count. The cells of threads that have
    /// ended (only this list still holds them) are folded into the shared
    /// cell first, so threads that come and go leave no cell behind.
    #[cold]
    fn new_cell(&self) -> Arc<CountCell> {
        let cell = Arc::new(CountCell::default());
        let mut cells = self.cells.lock();
        cells.retain(|kept| {
            let ended = Arc::strong_count(kept) == 1;
            if ended {
                // Pairs with the ended thread's release of its `Arc`: its
                // last count is seen.
                std::sync::atomic::fence(Ordering::Acquire);
                let count = kept.0.load(Ordering::Relaxed);
                self.shared.fetch_add(count, Ordering::Relaxed);
            }
            !ended
        });
        cells.push(cell.clone());
        cell
    }

    pub(crate) fn sum(&self) -> u64 {
        let cells = self.cells.lock();
        let mine: u64 = cells.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
        mine + self.shared.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::PerThreadCounter;

    /// More threads than any fixed set of stripes: a plain store is exact
    /// only while no two threads share a cell.
    #[test]
    fn hits_counted_from_many_threads_at_once_are_all_counted() {
        let counter = PerThreadCounter::default();
        std::thread::scope(|scope| {
            for _ in 0..40 {
                scope.spawn(|| {
                    for _ in 0..5_000 {
                        counter.add();
                    }
                });
            }
        });
        assert_eq!(counter.sum(), 200_000);
    }

    /// Threads that count and end, wave after wave: each ended thread's
    /// count must survive the folding of its cell into the shared one, and
    /// no cell may be left behind per thread. Every wave's total is
    /// checked once it has joined.
    #[test]
    fn counts_of_exited_threads_survive_and_threads_given_their_ids_add_to_them() {
        let counter = PerThreadCounter::default();
        for wave in 1..=50u64 {
            std::thread::scope(|scope| {
                for _ in 0..6 {
                    scope.spawn(|| {
                        for _ in 0..1_000 {
                            counter.add();
                        }
                    });
                }
            });
            assert_eq!(counter.sum(), wave * 6_000, "after wave {wave}");
        }
        // Fifty waves of six threads: the cells of ended threads were
        // folded as new ones came, so no more than two waves' remain.
        assert!(counter.cells.lock().len() <= 12);
    }

    /// A sum taken while threads count reads each cell once, at some
    /// moment: it can lag, but a later sum never reads less than an
    /// earlier one (each cell only grows), and none reads more than was
    /// counted.
    #[test]
    fn sums_read_while_threads_count_never_go_back_nor_past_the_total() {
        use std::sync::atomic::{AtomicBool, Ordering};
        const THREADS: u64 = 4;
        const EACH: u64 = 50_000;
        let counter = PerThreadCounter::default();
        let counting = AtomicBool::new(true);
        let (sums, last) = std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let (mut sums, mut last, mut went_back) = (0u64, 0u64, None);
                while counting.load(Ordering::SeqCst) {
                    let sum = counter.sum();
                    if sum < last || sum > THREADS * EACH {
                        went_back.get_or_insert((last, sum));
                    }
                    last = last.max(sum);
                    sums += 1;
                }
                (sums, last, went_back)
            });
            let writers: Vec<_> = (0..THREADS)
                .map(|_| {
                    scope.spawn(|| {
                        for _ in 0..EACH {
                            counter.add();
                        }
                    })
                })
                .collect();
            for writer in writers {
                writer.join().expect("a writer counts");
            }
            counting.store(false, Ordering::SeqCst);
            let (sums, last, went_back) = reader.join().expect("the reader sums");
            assert_eq!(went_back, None, "(earlier sum, later sum)");
            (sums, last)
        });
        assert!(sums > 0, "the reader summed while the writers counted");
        assert!(last <= THREADS * EACH);
        assert_eq!(counter.sum(), THREADS * EACH);
    }

    /// A thread-local first used before the thread's first count is
    /// dropped after the thread's counting cells (drops run in the reverse
    /// order of first use). A hit counted from its drop (a
    /// request made by a flush on exit) must be counted: a panic there
    /// aborts the process. It runs under `catch_unwind` here, so that the
    /// test fails instead.
    #[test]
    fn a_hit_counted_from_a_thread_local_destructor_is_counted_not_a_panic() {
        use std::sync::Arc;
        let counter = Arc::new(PerThreadCounter::default());
        let (tell, told) = std::sync::mpsc::channel();
        let shared = counter.clone();
        std::thread::spawn(move || {
            let at_exit = {
                let counter = shared.clone();
                move || {
                    let counted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        counter.add();
                    }));
                    let _ = tell.send(counted.is_ok());
                }
            };
            crate::per_thread::at_exit::run(at_exit);
            shared.add();
        })
        .join()
        .expect("the thread ends");
        assert_eq!(told.recv(), Ok(true), "counted, not a panic");
        assert_eq!(counter.sum(), 2);
    }
}
