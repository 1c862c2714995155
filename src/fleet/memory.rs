//! [`MemoryStore`]: a [`TokenStore`] inside one process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use secrecy::zeroize::Zeroizing;

use super::BoxFuture;
use super::{StoreError, TokenStore};

/// A [`TokenStore`] in this process's memory: for tests of fleet behaviour,
/// and for several independently built clients in one process that should
/// share tokens. Clones share one store. Values are zeroed when replaced,
/// expired or dropped.
///
/// ```
/// use reqwest_oauth::fleet::{FleetSource, MemoryStore};
/// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
///
/// let store = MemoryStore::new();
/// let grant = || ClientCredentials::new("https://auth.example.com/token", "id", "secret");
/// // Two middlewares, built apart, fetch one token between them.
/// let first = OAuthMiddleware::new(FleetSource::new("billing", grant(), store.clone()));
/// let second = OAuthMiddleware::new(FleetSource::new("billing", grant(), store));
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

struct Entry {
    value: Zeroizing<String>,
    until: Instant,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops expired entries, then runs `f` on the rest.
    fn with_live<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> T {
        let mut entries = self.entries.lock();
        let now = Instant::now();
        entries.retain(|_, entry| entry.until > now);
        f(&mut entries)
    }

    fn set(entries: &mut HashMap<String, Entry>, key: &str, value: &str, ttl: Duration) {
        let entry = Entry {
            value: Zeroizing::new(value.to_owned()),
            until: Instant::now() + ttl,
        };
        entries.insert(key.to_owned(), entry);
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entries.lock().len())
            .finish()
    }
}

impl TokenStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        let value = self.with_live(|entries| entries.get(key).map(|entry| (*entry.value).clone()));
        Box::pin(async move { Ok(value) })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with_live(|entries| Self::set(entries, key, value, ttl));
        Box::pin(async { Ok(()) })
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let taken = self.with_live(|entries| {
            let free = !entries.contains_key(key);
            if free {
                Self::set(entries, key, owner, ttl);
            }
            free
        });
        Box::pin(async move { Ok(taken) })
    }

    fn unlock<'a>(&'a self, key: &'a str, owner: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with_live(|entries| {
            if entries.get(key).is_some_and(|entry| *entry.value == owner) {
                entries.remove(key);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn extend<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let held = self.with_live(|entries| {
            let held = entries.get(key).is_some_and(|entry| *entry.value == owner);
            if held {
                Self::set(entries, key, owner, ttl);
            }
            held
        });
        Box::pin(async move { Ok(held) })
    }
}
