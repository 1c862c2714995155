//! [`HeldLock`]: the fleet lock one process holds while it fetches.

use std::sync::Arc;

use super::TokenStore;

/// A taken fleet lock. Released explicitly once the token is published;
/// if the fetch is dropped first (its runtime shutting down), released in
/// the background, so the others need not wait out the lock's time to live.
pub(super) struct HeldLock {
    store: Arc<dyn TokenStore>,
    key: String,
    owner: String,
    released: bool,
}

impl HeldLock {
    pub(super) fn new(store: Arc<dyn TokenStore>, key: String, owner: String) -> Self {
        HeldLock {
            store,
            key,
            owner,
            released: false,
        }
    }

    pub(super) async fn release(mut self) {
        self.released = true;
        if let Err(error) = self.store.unlock(&self.key, &self.owner).await {
            tracing::warn!(%error, "could not release the fleet's token lock; it expires on its own");
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let (key, owner) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.owner),
        );
        runtime.spawn(async move {
            let _ = store.unlock(&key, &owner).await;
        });
    }
}
