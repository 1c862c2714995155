//! The cache entry a request's token came from, and which token it was:
//! what a rejection of that token, seen in the response or in its
//! trailers, needs to retire it.

use std::borrow::Cow;
use std::sync::Arc;

use crate::cache::{Key, Slot, Ticket, TokenCache};

/// A slot and a ticket. The default key's slot is not held: the cache
/// lends it for as long as the cache lives, so a request with the default
/// key (most of them) pays no reference count for it.
pub(super) struct Entry {
    other: Option<Arc<Slot>>,
    pub(super) ticket: Ticket,
}

impl Entry {
    /// The entry of `slot`, as the cache returned it for a key.
    pub(super) fn new(slot: Cow<'_, Arc<Slot>>, ticket: Ticket) -> Self {
        let other = match slot {
            Cow::Borrowed(_) => None,
            Cow::Owned(slot) => Some(slot),
        };
        Entry { other, ticket }
    }

    /// The slot, from `cache` for the default key.
    pub(super) fn slot<'a>(&'a self, cache: &'a TokenCache) -> Cow<'a, Arc<Slot>> {
        match &self.other {
            Some(slot) => Cow::Borrowed(slot),
            None => cache.slot(&Key::Default),
        }
    }
}
