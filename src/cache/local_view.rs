//! Each thread's view of the default key's token: a copy of the cached
//! token's `Arc`, checked against the slot's current one with a plain
//! load. An `ArcSwap` load takes and releases a slot in the thread's debt
//! list, two locked instructions (about 10 ns); this check takes none, and
//! the commonest request (the default key) reads its token through it.
//!
//! The price: a thread's copy of a replaced token lives until that thread
//! next asks for the key, or ends, instead of until the last request
//! using it ends. Only the default slot has views (a view per thread per
//! key would cost every key a thread-local entry). Where a thread's view
//! cannot be reached (`per_thread`), the slot is read directly.

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use arc_swap::cache::Cache;

use super::cached::Cached;
use super::slot::Slot;
use crate::per_thread::{self, Owner, Values};

/// One thread's view of one cache's default slot.
type View = Cache<Current, Option<Arc<Cached>>>;

thread_local! {
    static VIEWS: Values<View> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The default slot, seen from each thread that reads it.
pub(super) struct LocalView {
    slot: Arc<Slot>,
    owner: Owner,
}

/// What a thread's view follows: the slot's current token.
struct Current(Arc<Slot>);

impl Deref for Current {
    type Target = ArcSwapOption<Cached>;

    fn deref(&self) -> &Self::Target {
        self.0.current()
    }
}

impl LocalView {
    pub(super) fn new(slot: Arc<Slot>) -> Self {
        LocalView {
            slot,
            owner: Owner::new(),
        }
    }

    /// `read` applied to the slot's current token, as this thread sees it
    /// (refreshed first if the slot's token changed).
    #[inline]
    pub(super) fn read<T>(&self, read: impl Fn(Option<&Cached>) -> T) -> T {
        let make = || Cache::new(Current(self.slot.clone()));
        per_thread::with(&VIEWS, &self.owner, make, |view| {
            read(view.load().as_deref())
        })
        .unwrap_or_else(|| read(self.slot.current().load().as_deref()))
    }
}
