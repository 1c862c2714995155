//! [`HeldLock`]: the fleet lock one process holds while it fetches, as a
//! lease it keeps extending.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::TokenStore;

/// How long a release at shutdown may hold up the dropping thread.
const DETACHED_RELEASE_WAIT: Duration = Duration::from_secs(1);

/// A taken fleet lock: a lease of `ttl` that a background heartbeat
/// extends every third of it, so a live holder keeps it however long its
/// fetch takes, and a dead or frozen one loses it within one lease.
/// Released explicitly once the token is published; if the fetch is dropped
/// first (its runtime shutting down), released from a thread of its own,
/// since a task spawned on the dying runtime would never run.
pub(super) struct HeldLock {
    store: Arc<dyn TokenStore>,
    key: String,
    owner: String,
    heartbeat: Option<JoinHandle<()>>,
    released: bool,
}

impl HeldLock {
    pub(super) fn new(
        store: Arc<dyn TokenStore>,
        key: String,
        owner: String,
        ttl: Duration,
    ) -> Self {
        let heartbeat = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            runtime.spawn(heartbeat(store.clone(), key.clone(), owner.clone(), ttl))
        });
        HeldLock {
            store,
            key,
            owner,
            heartbeat,
            released: false,
        }
    }

    pub(super) async fn release(mut self) {
        self.released = true;
        self.stop_heartbeat();
        if let Err(error) = self.store.unlock(&self.key, &self.owner).await {
            tracing::warn!(%error, "could not release the fleet's token lock; it expires on its own");
        }
    }

    fn stop_heartbeat(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
    }
}

/// Extends the lease every third of its length until aborted. A store
/// error is retried at the next beat (the lease still has two thirds left);
/// a lease found lost (it expired while this process was frozen, and
/// another took over) ends the heartbeat.
async fn heartbeat(store: Arc<dyn TokenStore>, key: String, owner: String, ttl: Duration) {
    let beat = (ttl / 3).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(beat).await;
        match store.extend(&key, &owner, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "the fleet's token lock was lost while fetching; another process took over"
                );
                return;
            }
            Err(error) => tracing::warn!(%error, "could not extend the fleet's token lock"),
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.stop_heartbeat();
        let store = self.store.clone();
        let key = std::mem::take(&mut self.key);
        let owner = std::mem::take(&mut self.owner);
        let (done, finished) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("fleet-lock-release".into())
            .spawn(move || {
                if let Err(error) = store.unlock_blocking(&key, &owner) {
                    tracing::warn!(%error, "could not release the fleet's token lock; it expires on its own");
                }
                let _ = done.send(());
            });
        // Wait (briefly) so a process exiting right after its runtime still
        // gets the release out; a slow store costs at most this long.
        if spawned.is_ok() {
            let _ = finished.recv_timeout(DETACHED_RELEASE_WAIT);
        }
    }
}
