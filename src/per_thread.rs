//! Values each thread keeps for one owner (a cache's view of its token, a
//! hit counter's cell), in the standard library's thread-locals.
//!
//! Reached with `try_with` and `try_borrow_mut`: a request made while this
//! thread's thread-locals are being torn down (from another thread-local's
//! destructor), or from inside a value's own use, gets `None` and takes its
//! owner's shared path; nothing here can panic. Owners are told apart by a
//! number never reused. A thread's values go when the thread ends; a value
//! whose owner is gone goes the next time that thread makes a value.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::LocalKey;

/// One owner of per-thread values.
#[derive(Debug)]
pub(crate) struct Owner {
    id: u64,
    /// Threads hold weak references to it, to tell a dropped owner's
    /// values from a live one's.
    alive: Arc<()>,
}

impl Owner {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Owner {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
        }
    }
}

impl Default for Owner {
    fn default() -> Self {
        Owner::new()
    }
}

/// What one thread keeps: a value per owner it has used (most threads,
/// one or two).
pub(crate) type Values<V> = RefCell<Vec<Kept<V>>>;

/// One thread's value for one owner.
pub(crate) struct Kept<V> {
    owner: u64,
    alive: Weak<()>,
    value: V,
}

/// `use_it` applied to this thread's value for `owner`, made by `make` on
/// the thread's first use; `None` when this thread's values cannot be
/// reached (see the module's comment), and then `use_it` is not called.
#[inline]
pub(crate) fn with<V: 'static, R>(
    values: &'static LocalKey<Values<V>>,
    owner: &Owner,
    make: impl FnOnce() -> V,
    use_it: impl FnOnce(&mut V) -> R,
) -> Option<R> {
    values
        .try_with(|values| {
            let mut values = values.try_borrow_mut().ok()?;
            let at = match values.iter().position(|kept| kept.owner == owner.id) {
                Some(at) => at,
                None => add(&mut values, owner, make()),
            };
            values.get_mut(at).map(|kept| use_it(&mut kept.value))
        })
        .ok()
        .flatten()
}

/// Keeps `value` for `owner`, dropping first what this thread kept for
/// owners that are gone. Where it went.
#[cold]
fn add<V>(values: &mut Vec<Kept<V>>, owner: &Owner, value: V) -> usize {
    values.retain(|kept| kept.alive.strong_count() > 0);
    values.push(Kept {
        owner: owner.id,
        alive: Arc::downgrade(&owner.alive),
        value,
    });
    values.len() - 1
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Owner, Values, with};

    thread_local! {
        static NUMBERS: Values<u32> = const { std::cell::RefCell::new(Vec::new()) };
    }

    #[test]
    fn each_owner_has_its_own_value_and_a_dropped_owners_value_goes() {
        let (first, second) = (Owner::new(), Owner::new());
        assert_eq!(with(&NUMBERS, &first, || 1, |n| *n), Some(1));
        assert_eq!(with(&NUMBERS, &second, || 2, |n| *n), Some(2));
        assert_eq!(with(&NUMBERS, &first, || 9, |n| *n), Some(1));
        drop(first);
        let third = Owner::new();
        assert_eq!(with(&NUMBERS, &third, || 3, |n| *n), Some(3));
        assert_eq!(NUMBERS.with(|values| values.borrow().len()), 2);
    }

    #[test]
    fn a_use_from_inside_a_use_gets_none_not_a_panic() {
        let owner = Owner::new();
        let inner = with(
            &NUMBERS,
            &owner,
            || 1,
            |_| with(&NUMBERS, &owner, || 1, |n| *n),
        );
        assert_eq!(inner, Some(None));
    }

    /// What the late use saw: 0 not yet, 1 its value, 2 none.
    static SEEN: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

    /// The late use is registered first, so it runs after the values are
    /// dropped (drops run in reverse order of first use): it finds them
    /// torn down, and gets `None`, not a panic.
    #[test]
    fn values_reached_after_their_teardown_answer_none_not_a_panic() {
        let ended = std::thread::spawn(|| {
            let owner = Owner::new();
            let seen = Arc::new(Owner::new());
            let late = seen.clone();
            super::at_exit::run(move || {
                let code = match with(&NUMBERS, &late, || 7, |n| *n) {
                    Some(_) => 1,
                    None => 2,
                };
                SEEN.store(code, std::sync::atomic::Ordering::SeqCst);
            });
            assert_eq!(with(&NUMBERS, &owner, || 5, |n| *n), Some(5));
            assert_eq!(with(&NUMBERS, &seen, || 6, |n| *n), Some(6));
        })
        .join();
        assert!(ended.is_ok(), "the thread ended without a panic");
        assert_eq!(SEEN.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}

/// For tests: a closure run when the thread's thread-locals are dropped,
/// as a flush on exit would run.
#[cfg(test)]
pub(crate) mod at_exit {
    use std::cell::RefCell;

    struct AtExit(Option<Box<dyn FnOnce()>>);

    impl Drop for AtExit {
        fn drop(&mut self) {
            if let Some(at_exit) = self.0.take() {
                at_exit();
            }
        }
    }

    thread_local! {
        static AT_EXIT: RefCell<AtExit> = const { RefCell::new(AtExit(None)) };
    }

    /// Runs `at_exit` from a thread-local's drop when this thread ends.
    /// Thread-locals are dropped in the reverse order of their first use,
    /// so one first used here, before the thread's first request, is
    /// dropped after everything that request set up.
    pub(crate) fn run(at_exit: impl FnOnce() + 'static) {
        AT_EXIT.with(|cell| cell.borrow_mut().0 = Some(Box::new(at_exit)));
    }
}
