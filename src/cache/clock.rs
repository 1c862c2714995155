//! Where the cache reads the time: the system's monotonic clock, or a
//! clock a test moves by hand, so single flight, cooldowns, refresh ahead
//! and eviction are tested exactly and without sleeping.

use std::time::Instant;

/// A source of monotonic time. An enum rather than a trait object: outside
/// tests it has one variant, so reading it on the hot path costs what
/// `Instant::now()` costs and nothing more.
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
    }
}
