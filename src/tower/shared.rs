//! What every clone of one layered service shares: the core, the body
//! policy, and a spare of the inner service for replays.

use std::sync::Arc;

use parking_lot::Mutex;

use super::route::Core;

/// What every clone of one layered service shares.
pub(super) struct Shared<S, K> {
    pub(super) core: Arc<Core>,
    pub(super) keep: K,
    /// The inner service as layered, cloned for each replay. Locked only
    /// then, to clone it: the mutex makes it shareable between threads
    /// whatever `S` is.
    spare: Mutex<S>,
}

impl<S: Clone, K> Shared<S, K> {
    /// A clone of the inner service, for one replay.
    pub(super) fn spare(&self) -> S {
        self.spare.lock().clone()
    }
}

impl<S, K> Shared<S, K> {
    pub(super) fn new(core: Arc<Core>, keep: K, spare: S) -> Self {
        Shared {
            core,
            keep,
            spare: Mutex::new(spare),
        }
    }
}
