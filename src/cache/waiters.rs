//! The result of one fetch, handed to every request waiting for it.
//!
//! A `Notify` and a cell rather than a `watch` channel: a waiter registers,
//! is woken once and reads the cell, without the channel's version
//! bookkeeping, its lock around the value or its cooperative-budget
//! wrapper. In a cold burst every one of thousands of requests waits here,
//! so each instruction saved is saved thousands of times.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use super::cached::Cached;
use crate::Error;

/// What the requests waiting for one fetch share.
#[derive(Default)]
pub(super) struct Waiters {
    notify: Notify,
    result: OnceLock<Result<Arc<Cached>, Error>>,
    /// Set once the fetch task is over, with a result or without one.
    closed: AtomicBool,
}

impl Waiters {
    /// A new flight's waiters, and the publisher its fetch task holds.
    pub(super) fn new() -> (Arc<Self>, Publisher) {
        let waiters = Arc::new(Waiters::default());
        (waiters.clone(), Publisher(waiters))
    }

    /// The fetch's result, once its task is over; `FetchAborted` if the
    /// task ended without one (dropped with its runtime).
    pub(super) async fn wait(&self) -> Result<Arc<Cached>, Error> {
        // Created before the check: a `Notified` sees every
        // `notify_waiters` from its creation on, so a task that closes
        // between the check and the await still wakes it.
        let notified = self.notify.notified();
        if !self.closed.load(Ordering::Acquire) {
            notified.await;
        }
        self.result
            .get()
            .cloned()
            .unwrap_or(Err(Error::FetchAborted))
    }
}

/// Held by the fetch task. However the task ends (finished, or dropped
/// with its runtime), dropping this closes the flight and wakes every
/// waiter, so nobody waits for a fetch that will never finish.
pub(super) struct Publisher(Arc<Waiters>);

impl Publisher {
    pub(super) fn publish(self, result: Result<Arc<Cached>, Error>) {
        // The only `set`: a publisher is made once per flight and consumed.
        let _ = self.0.result.set(result);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }
}
