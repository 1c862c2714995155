//! Runs an axum router on a free loopback port until dropped.

use std::net::SocketAddr;

use tokio::task::JoinHandle;

/// A running server; dropping it stops the server.
pub(super) struct Running {
    pub(super) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) async fn serve(router: axum::Router) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // Serving only ends with an I/O error on the listener; the test
        // using this server then sees refused connections, which is the
        // honest report.
        let _ = axum::serve(listener, router).await;
    });
    Ok(Running { addr, task })
}
