//! Where the cache reads the time: the system's monotonic clock, or a
//! clock a test moves by hand, so single flight, cooldowns, refresh ahead
//! and eviction are tested exactly and without sleeping.
//!
//! Two readings: [`Clock::now`], a precise `Instant`, for everything but
//! the hot path; and [`Clock::tick`], a coarse one, for the hot path alone.
//! On Linux a tick is the kernel's coarse monotonic clock, which costs a
//! tenth of a precise reading (2 ns against 21 ns on the machine the
//! benches ran on) and trails it by at most one kernel tick (1 to 10 ms):
//! a cached token's schedule is compared with it, and no token's schedule
//! is that tight (a token lives seconds at the least, and its last usable
//! moment is already a margin before its expiry).

use std::time::{Duration, Instant};

/// A moment on the hot path's coarse clock, in nanoseconds from an
/// arbitrary origin. Only compared with other ticks of the same process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tick(u64);

impl Tick {
    /// The tick in units of 2^20 ns (about a millisecond): a shift, not a
    /// division, for recording a key's last use.
    pub(crate) fn coarse_ms(self) -> u64 {
        self.0 >> 20
    }

    fn nanos(duration: Duration) -> u64 {
        u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Longer than a kernel tick at the lowest common rate (100 Hz) between
/// the readings of [`Clock::tick_at`]: the thread was paused there.
const PAUSE: Duration = Duration::from_millis(12);

/// A source of monotonic time. An enum rather than a trait object: outside
/// tests it has one variant, so reading it on the hot path costs what the
/// coarse clock costs and nothing more.
#[derive(Clone, Default)]
pub(crate) enum Clock {
    /// The system's monotonic clock.
    #[default]
    System,
    /// A clock a test moves by hand.
    #[cfg(test)]
    Manual(std::sync::Arc<ManualClock>),
}

impl Clock {
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            #[cfg(test)]
            Clock::Manual(clock) => clock.now(),
        }
    }

    /// The coarse reading, for the hot path.
    #[inline]
    pub(crate) fn tick(&self) -> Tick {
        match self {
            Clock::System => system_tick(),
            #[cfg(test)]
            Clock::Manual(clock) => clock.tick(),
        }
    }

    /// The tick at which `at` falls, for a deadline read on the hot path.
    /// Measured from now on both clocks, so the coarse clock's lag shifts
    /// the deadline by at most one kernel tick. The tick is read first: a
    /// thread taken off its core between the two readings then moves the
    /// deadline earlier (a token renewed sooner), never later; and the
    /// readings are taken again, a few times at most, when a tick read
    /// after them shows such a pause.
    pub(crate) fn tick_at(&self, at: Instant) -> Tick {
        let (mut tick, mut now) = (self.tick(), self.now());
        for _ in 0..3 {
            if self.tick().0.saturating_sub(tick.0) <= Tick::nanos(PAUSE) {
                break;
            }
            (tick, now) = (self.tick(), self.now());
        }
        match at.checked_duration_since(now) {
            Some(ahead) => Tick(tick.0.saturating_add(Tick::nanos(ahead))),
            None => Tick(tick.0.saturating_sub(Tick::nanos(now - at))),
        }
    }
}

/// The kernel's coarse monotonic clock: read from the vDSO without the
/// time stamp counter, so it is the cheapest clock there is.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn system_tick() -> Tick {
    use rustix::time::{ClockId, clock_gettime};
    let time = clock_gettime(ClockId::MonotonicCoarse);
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(time.tv_nsec).unwrap_or(0);
    Tick(seconds.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// Elsewhere, the precise monotonic clock, from a process-wide origin.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn system_tick() -> Tick {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    Tick(Tick::nanos(
        Instant::now().saturating_duration_since(origin),
    ))
}

#[cfg(test)]
pub(crate) use manual::ManualClock;

#[cfg(test)]
mod manual {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    /// A clock that stands still until a test advances it.
    pub(crate) struct ManualClock {
        start: Instant,
        elapsed_ms: AtomicU64,
    }

    impl ManualClock {
        pub(crate) fn new() -> Self {
            ManualClock {
                start: Instant::now(),
                elapsed_ms: AtomicU64::new(0),
            }
        }

        pub(crate) fn advance(&self, by: Duration) {
            self.elapsed_ms
                .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        }
    }

    impl ManualClock {
        pub(crate) fn now(&self) -> Instant {
            self.start + Duration::from_millis(self.elapsed_ms.load(Ordering::SeqCst))
        }

        /// The same moment as [`now`](Self::now), as a tick: exact, as a
        /// test needs, with room below for instants before the start.
        pub(crate) fn tick(&self) -> super::Tick {
            let origin = 1u64 << 50;
            super::Tick(origin + self.elapsed_ms.load(Ordering::SeqCst) * 1_000_000)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Clock;

    /// The most the coarse clock trails the precise one: one kernel tick
    /// at the lowest common rate (100 Hz), with room for a busy machine.
    const KERNEL_TICK: Duration = Duration::from_millis(12);

    #[test]
    fn a_deadline_on_the_coarse_clock_passes_within_a_kernel_tick_of_the_precise_one() {
        let clock = Clock::System;
        let deadline = Instant::now() + Duration::from_millis(30);
        let on_ticks = clock.tick_at(deadline);
        assert!(clock.tick() < on_ticks, "not yet passed on either clock");
        std::thread::sleep(Duration::from_millis(30) + KERNEL_TICK);
        assert!(Instant::now() > deadline);
        assert!(clock.tick() >= on_ticks, "passed on the coarse clock too");
    }

    #[test]
    fn the_coarse_clock_never_runs_ahead_of_a_deadline_by_more_than_a_kernel_tick() {
        let clock = Clock::System;
        for _ in 0..1_000 {
            let deadline = Instant::now() + Duration::from_millis(50);
            let on_ticks = clock.tick_at(deadline);
            // Still 50 ms away on the precise clock: never passed on ticks.
            assert!(clock.tick() < on_ticks);
            // And a moment a tick ago has passed on ticks too.
            let past = clock.tick_at(Instant::now() - KERNEL_TICK);
            assert!(past < clock.tick());
        }
    }

    /// The precise clock, in nanoseconds on the coarse clock's scale: both
    /// are the kernel's monotonic clock, one read at the last tick, the
    /// other now (and `Instant` is the latter).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn precise_nanos() -> u64 {
        use rustix::time::{ClockId, clock_gettime};
        let time = clock_gettime(ClockId::Monotonic);
        let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
        seconds * 1_000_000_000 + u64::try_from(time.tv_nsec).unwrap_or(0)
    }

    /// The ground the "never early" half stands on: the coarse clock is
    /// the precise one as of the last kernel tick, so it never reads later
    /// than a precise reading taken after it, and trails one taken before
    /// it by at most about a tick.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn the_coarse_clock_never_reads_ahead_of_the_precise_one_and_trails_it_by_a_tick() {
        let mut most_behind = 0;
        for _ in 0..300_000 {
            let before = precise_nanos();
            let coarse = super::system_tick().0;
            let after = precise_nanos();
            assert!(coarse <= after, "ahead by {} ns", coarse - after);
            most_behind = most_behind.max(before.saturating_sub(coarse));
        }
        assert!(
            most_behind <= KERNEL_TICK.as_nanos() as u64,
            "trailed by {most_behind} ns"
        );
    }

    /// Deadlines a few milliseconds apart, some closer than a tick, some
    /// already past, each watched until well after it passed: on ticks it
    /// must pass neither more than a kernel tick before nor after it passes
    /// on `Instant`. Each reading of the coarse clock is bracketed by two
    /// precise ones, so a thread preempted between them only makes the
    /// check more lenient, never fail.
    #[test]
    fn a_deadline_passes_on_ticks_neither_a_kernel_tick_early_nor_late() {
        let clock = Clock::System;
        for offset_ms in [-8i64, -3, -1, 0, 1, 2, 3, 4, 5, 7, 9, 13, 17] {
            let now = Instant::now();
            let offset = Duration::from_millis(offset_ms.unsigned_abs());
            let deadline = if offset_ms < 0 {
                now - offset
            } else {
                now + offset
            };
            let on_ticks = clock.tick_at(deadline);
            loop {
                let before = Instant::now();
                let passed = clock.tick() >= on_ticks;
                let after = Instant::now();
                if passed {
                    assert!(after + KERNEL_TICK >= deadline, "{offset_ms} ms: early");
                } else {
                    assert!(before < deadline + KERNEL_TICK, "{offset_ms} ms: late");
                }
                if before > deadline + KERNEL_TICK + Duration::from_millis(2) {
                    break;
                }
                std::hint::spin_loop();
            }
        }
    }

    /// A thread taken off its core between `tick_at`'s two readings would
    /// convert the deadline late by as long as it was off, had the precise
    /// clock been read first. Threads outnumbering the cores convert one
    /// deadline over and over, so some are taken off there; no conversion
    /// may land more than a kernel tick late (the deadline would pass on
    /// ticks after it passed on `Instant`: a token used past its last
    /// usable moment). Early is the safe side (a token renewed sooner); a
    /// pause makes it early by at most the pause, retried thrice, so only
    /// an absurd earliness fails.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_deadline_converted_by_threads_competing_for_the_cores_lands_within_a_kernel_tick() {
        let ahead = Duration::from_millis(500);
        // The deadline on both scales, from readings nothing came between.
        let (deadline, on_precise) = loop {
            let before = precise_nanos();
            let now = Instant::now();
            let after = precise_nanos();
            if after - before < 50_000 {
                break (now + ahead, before + ahead.as_nanos() as u64);
            }
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let clock = Clock::System;
        let (earliest, latest) = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8 * cores)
                .map(|_| {
                    scope.spawn(|| {
                        let (mut earliest, mut latest) = (u64::MAX, 0);
                        let since = Instant::now();
                        while since.elapsed() < Duration::from_millis(300) {
                            let on_ticks = clock.tick_at(deadline).0;
                            earliest = earliest.min(on_ticks);
                            latest = latest.max(on_ticks);
                        }
                        (earliest, latest)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| thread.join().expect("a thread converts"))
                .fold((u64::MAX, 0), |(e, l), (te, tl)| (e.min(te), l.max(tl)))
        });
        let tick = KERNEL_TICK.as_nanos() as u64;
        let early = on_precise.saturating_sub(earliest);
        let late = latest.saturating_sub(on_precise + 50_000);
        assert!(late <= tick, "landed {late} ns late");
        assert!(early <= 20 * tick, "landed {early} ns early");
    }

    #[test]
    fn ticks_never_go_back() {
        let clock = Clock::System;
        let mut last = clock.tick();
        for _ in 0..100_000 {
            let now = clock.tick();
            assert!(now >= last);
            last = now;
        }
    }
}
