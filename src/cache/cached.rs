//! A token as the cache holds it: the token, which fetch made it, and its
//! schedule.

use std::sync::Arc;

use super::clock::{Clock, Tick};
use super::lifetimes::Schedule;
use crate::Token;

/// A cached token with its schedule. `generation` tells tokens apart (the
/// id of the fetch that made it) without holding on to them.
pub(super) struct Cached {
    pub(super) token: Arc<Token>,
    pub(super) generation: u64,
    /// Whether this token replaced a rejected one: if it is rejected too,
    /// the API is likely to reject any token (see `damping.rs`).
    pub(super) replaced_rejected: bool,
    /// The schedule on the hot path's clock: a cache hit reads the coarse
    /// clock and compares, with no arithmetic.
    pub(super) refresh_at: Tick,
    pub(super) use_until: Tick,
}

impl Cached {
    pub(super) fn new(
        token: Arc<Token>,
        generation: u64,
        schedule: Schedule,
        replaced_rejected: bool,
        clock: &Clock,
    ) -> Self {
        Cached {
            refresh_at: clock.tick_at(schedule.refresh_at),
            use_until: clock.tick_at(schedule.use_until),
            token,
            generation,
            replaced_rejected,
        }
    }
}
