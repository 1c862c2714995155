//! A token as the cache holds it: the token, which fetch made it, and its
//! schedule.

use std::sync::Arc;
use std::time::Instant;

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
    /// The schedule itself: a cache hit compares the time with these and
    /// does no arithmetic (two `Instant`s cost 24 bytes more per key than
    /// millisecond offsets, and save the subtraction and conversions every
    /// request paid).
    pub(super) refresh_at: Instant,
    pub(super) use_until: Instant,
}

impl Cached {
    pub(super) fn new(
        token: Arc<Token>,
        generation: u64,
        schedule: Schedule,
        replaced_rejected: bool,
    ) -> Self {
        Cached {
            refresh_at: schedule.refresh_at,
            use_until: schedule.use_until,
            token,
            generation,
            replaced_rejected,
        }
    }
}
