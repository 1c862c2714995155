//! A middleware that holds the first `n` requests until all of them have
//! arrived, so all are in flight at once; later ones (replays) pass. Shared
//! by the tests and the benches.

use std::sync::atomic::{AtomicUsize, Ordering};

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

/// Holds the first `n` requests until all `n` have arrived; later ones
/// (the replays) pass straight through.
pub struct HoldFirst {
    barrier: tokio::sync::Barrier,
    arrived: AtomicUsize,
    n: usize,
}

impl HoldFirst {
    pub fn new(n: usize) -> Self {
        HoldFirst {
            barrier: tokio::sync::Barrier::new(n),
            arrived: AtomicUsize::new(0),
            n,
        }
    }
}

#[async_trait::async_trait]
impl Middleware for HoldFirst {
    async fn handle(
        &self,
        req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if self.arrived.fetch_add(1, Ordering::SeqCst) < self.n {
            self.barrier.wait().await;
        }
        next.run(req, ext).await
    }
}
