//! Each thread's view of the default key's token: a copy of the cached
//! token's `Arc`, checked against the slot's current one with a plain
//! load. An `ArcSwap` load takes and releases a slot in the thread's debt
//! list, two locked instructions (about 12 ns); this check takes none, and
//! the commonest request (the default key) reads its token through it.
//!
//! The price: a thread's copy of a replaced token lives until that thread
//! next asks for the key, or until the cache is dropped, instead of until
//! the last request using it ends. Only the default slot has views (a view
//! per thread per key would cost every key hundreds of bytes).

use std::cell::RefCell;
use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use arc_swap::cache::Cache;
use thread_local::ThreadLocal;

use super::cached::Cached;
use super::slot::Slot;

/// The default slot, seen from each thread that reads it.
pub(super) struct LocalView {
    slot: Arc<Slot>,
    views: ThreadLocal<View>,
}

/// One thread's view, on a cache line of its own: each request writes its
/// `RefCell` flag, and views of neighbouring threads sharing a line would
/// bounce it between cores on every request.
#[repr(align(128))]
struct View(RefCell<Cache<Current, Option<Arc<Cached>>>>);

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
            views: ThreadLocal::new(),
        }
    }

    /// `read` applied to the slot's current token, as this thread sees it
    /// (refreshed first if the slot's token changed).
    #[inline]
    pub(super) fn read<T>(&self, read: impl FnOnce(Option<&Cached>) -> T) -> T {
        let view = self
            .views
            .get_or(|| View(RefCell::new(Cache::new(Current(self.slot.clone())))));
        match view.0.try_borrow_mut() {
            Ok(mut view) => read(view.load().as_deref()),
            // Only if `read` itself came back here: read the slot directly.
            Err(_) => read(self.slot.current().load().as_deref()),
        }
    }
}
