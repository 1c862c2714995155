//! When a cached token starts being refreshed, and when it stops being used.

use std::time::{Duration, Instant};

use crate::Token;

/// Stop using a token this long before it expires, by default.
pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// The lifetime assumed for a token whose response has no `expires_in`.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Longer announced lifetimes are cut to this, by default (24 hours).
pub(crate) const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A token is never used for less than this share of its lifetime: a
/// 2-second token is used for 1.8 s rather than never.
const LEEWAY_MAX_FRACTION: u32 = 10;

/// When a background refresh starts, ahead of expiry.
///
/// ```
/// use std::time::Duration;
/// use reqwest_oauth::policy::RefreshAhead;
/// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
///
/// let grant = ClientCredentials::new("https://auth.example.com/token", "id", "secret");
/// // Renew five minutes before expiry instead of in the last 20 %.
/// let oauth = OAuthMiddleware::builder(grant)
///     .refresh_ahead(RefreshAhead::Before(Duration::from_secs(300)))
///     .build()?;
/// # Ok::<(), reqwest_oauth::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RefreshAhead {
    /// Refresh in the background once this fraction of the lifetime is left
    /// (default: `Fraction(0.2)`, the last 20 %).
    Fraction(f64),
    /// Refresh in the background this long before the token expires.
    Before(Duration),
    /// No background refresh: a request that finds the token expired waits
    /// for a new one.
    Off,
}

impl Default for RefreshAhead {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl RefreshAhead {
    const DEFAULT: RefreshAhead = RefreshAhead::Fraction(0.2);

    /// How long into a `lifetime` the refresh starts; `None` when off.
    fn after(self, lifetime: Duration) -> Option<Duration> {
        match self {
            RefreshAhead::Fraction(left) => Some(lifetime.mul_f64(1.0 - left.clamp(0.0, 1.0))),
            RefreshAhead::Before(ahead) => Some(lifetime.saturating_sub(ahead)),
            RefreshAhead::Off => None,
        }
    }
}

/// How a token's announced lifetime becomes the moments it is refreshed and
/// stops being used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    /// Stop using a token this long before it expires (never more than a
    /// tenth of its lifetime early, so tokens of a few seconds are used).
    pub(crate) leeway: Duration,
    /// The lifetime assumed when the server gives none.
    pub(crate) default_lifetime: Duration,
    /// Longer announced lifetimes are cut to this.
    pub(crate) max_lifetime: Duration,
    pub(crate) refresh_ahead: RefreshAhead,
}

impl Lifetimes {
    pub(crate) const DEFAULT: Lifetimes = Lifetimes {
        leeway: DEFAULT_LEEWAY,
        default_lifetime: DEFAULT_LIFETIME,
        max_lifetime: DEFAULT_MAX_LIFETIME,
        refresh_ahead: RefreshAhead::DEFAULT,
    };
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The two moments that matter for one cached token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub(crate) refresh_at: Instant,
    pub(crate) use_until: Instant,
    pub(crate) expires_at: Instant,
}

impl Lifetimes {
    pub(crate) fn schedule(&self, token: &Token) -> Schedule {
        let lifetime = token
            .expires_in()
            .unwrap_or(self.default_lifetime)
            .min(self.max_lifetime);
        let leeway = self.leeway.min(lifetime / LEEWAY_MAX_FRACTION);
        let usable = lifetime.saturating_sub(leeway);
        let refresh_after = self.refresh_ahead.after(lifetime).unwrap_or(usable);
        let at = |after: Duration| {
            token
                .issued_at()
                .checked_add(after)
                .unwrap_or(token.issued_at())
        };
        Schedule {
            refresh_at: at(refresh_after.min(usable)),
            use_until: at(usable),
            expires_at: at(lifetime),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetimes(refresh_ahead: RefreshAhead) -> Lifetimes {
        Lifetimes {
            refresh_ahead,
            ..Lifetimes::default()
        }
    }

    fn offsets(token: &Token, refresh_ahead: RefreshAhead) -> (Duration, Duration) {
        let s = lifetimes(refresh_ahead).schedule(token);
        (
            s.refresh_at - token.issued_at(),
            s.use_until - token.issued_at(),
        )
    }

    fn token(expires_in: Option<u64>) -> Token {
        let token = Token::bearer("t").expect("valid token");
        match expires_in {
            Some(secs) => token.with_expires_in(Duration::from_secs(secs)),
            None => token,
        }
    }

    #[test]
    fn leeway_is_capped_for_short_tokens() {
        let (refresh, until) = offsets(&token(Some(2)), RefreshAhead::default());
        assert_eq!(until, Duration::from_millis(1800));
        assert_eq!(refresh, Duration::from_millis(1600));
        let (refresh, until) = offsets(&token(Some(3600)), RefreshAhead::default());
        assert_eq!(until, Duration::from_secs(3570));
        assert_eq!(refresh, Duration::from_secs(2880));
    }

    #[test]
    fn missing_lifetime_uses_default_and_long_ones_are_capped() {
        assert_eq!(
            offsets(&token(None), RefreshAhead::Off).1,
            Duration::from_secs(3570)
        );
        let (refresh, until) = offsets(&token(Some(u64::MAX / 2)), RefreshAhead::Off);
        assert_eq!(until, Duration::from_secs(86_400 - 30));
        assert_eq!(refresh, until);
    }

    #[test]
    fn refresh_before_a_duration_never_passes_the_end_of_use() {
        let (refresh, _) = offsets(
            &token(Some(600)),
            RefreshAhead::Before(Duration::from_secs(60)),
        );
        assert_eq!(refresh, Duration::from_secs(540));
        let (refresh, until) = offsets(&token(Some(600)), RefreshAhead::Before(Duration::ZERO));
        assert_eq!(refresh, until);
    }
}
