//! Damping an API that keeps rejecting tokens: after a rejection that a
//! new token would not fix (the token was brand new, or itself replaced a
//! rejected one), the key stops fetching for a cooldown that grows while
//! the rejections go on. Token requests per key then stay within
//! `1 + elapsed / cooldown` whatever the API does.

use std::time::{Duration, Instant};

/// How the middleware damps an API that rejects every token (a client
/// pointed at the wrong environment, a revoked client).
///
/// A rejected token is normally replaced once and the request replayed.
/// When the rejected token was younger than [`min_age`](Self::min_age), or
/// was itself the replacement of a rejected one, another token would most
/// likely be rejected too: the key enters a rejection cooldown, during
/// which rejections go back to the caller as they came, with no token
/// request and no replay. The first rejection after the cooldown may fetch
/// again; the cooldown doubles each time, up to
/// [`max_cooldown`](Self::max_cooldown), and resets when an older token is
/// rejected (a genuine one-off revocation).
///
/// ```
/// use std::time::Duration;
/// use reqwest_oauth::policy::RejectionDamping;
///
/// let damping = RejectionDamping::default()
///     .min_age(Duration::from_secs(5))
///     .cooldown(Duration::from_secs(1))
///     .max_cooldown(Duration::from_secs(30));
/// # let _ = damping;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectionDamping {
    min_age: Duration,
    cooldown: Duration,
    max_cooldown: Duration,
}

impl Default for RejectionDamping {
    /// No minimum age (a rejected token is suspect only if it was fetched
    /// for the very request, or replaced a rejected one); cooldowns from
    /// 2 s, doubling to 1 minute.
    fn default() -> Self {
        RejectionDamping {
            min_age: Duration::ZERO,
            cooldown: Duration::from_secs(2),
            max_cooldown: Duration::from_secs(60),
        }
    }
}

impl RejectionDamping {
    /// A rejected token younger than this is not replaced at once (default
    /// zero: age alone never damps, so a token revoked right after it was
    /// issued is still replaced once).
    pub fn min_age(mut self, age: Duration) -> Self {
        self.min_age = age;
        self
    }

    /// The first rejection cooldown (default 2 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The longest rejection cooldown (default 60 s).
    pub fn max_cooldown(mut self, cooldown: Duration) -> Self {
        self.max_cooldown = cooldown;
        self
    }

    /// Whether a rejection of a token of this `age` (that replaced a
    /// rejected one, or not) is one a new token would not fix.
    pub(crate) fn is_suspect(&self, age: Duration, replaced_rejected: bool) -> bool {
        age < self.min_age || (replaced_rejected && age < self.max_cooldown)
    }

    /// The next cooldown after `previous` (none yet: the first).
    pub(crate) fn next(&self, previous: Option<Duration>) -> Duration {
        previous
            .map_or(self.cooldown, |last| last.saturating_mul(2))
            .min(self.max_cooldown)
    }
}

/// A key's rejection cooldown: until when, and how long it lasted (the
/// next one doubles it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Damping {
    pub(crate) until: Instant,
    pub(crate) length: Duration,
}
