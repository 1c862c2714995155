//! [`OAuthBody`]: the body of every response through the layer. A gRPC
//! server may answer with headers, then messages, then trailers saying
//! `UNAUTHENTICATED`: by then the caller has the response, so the call
//! cannot be sent again, but the token it carried is retired, so the next
//! call gets a new one.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::entry::Entry;
use super::grpc;
use crate::middleware::Parts;

pin_project! {
    /// The body of a response through an
    /// [`OAuthService`](super::OAuthService): the inner service's body,
    /// frame for frame.
    ///
    /// The body of a gRPC response to a call that carried a token is
    /// watched (not a replay's: its answer is final, as in the
    /// middleware): trailers saying `grpc-status: 16` (`UNAUTHENTICATED`)
    /// retire that token in the shared cache, as a rejection in the
    /// headers would (damped the same way), so the next call gets a new
    /// one. Data frames pass through with one branch; `size_hint` and
    /// `is_end_stream` are the inner body's.
    ///
    /// ```
    /// use http_body_util::{BodyExt, Full};
    /// use reqwest_oauth::{ClientCredentials, OAuthMiddleware, SkipAuth};
    /// use tower::{Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), reqwest_oauth::tower::BoxError> {
    /// let grant = ClientCredentials::new("https://auth.example.com/oauth/token", "id", "secret");
    /// let oauth = OAuthMiddleware::new(grant);
    /// let mut service = tower::ServiceBuilder::new()
    ///     .layer(oauth.layer())
    ///     .service(tower::service_fn(|_: http::Request<String>| async {
    ///         Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
    ///             bytes::Bytes::from_static(b"pong"),
    ///         )))
    ///     }));
    /// // `SkipAuth`: this request needs no token, so none is fetched.
    /// let mut request = http::Request::get("https://api.example.com/ping").body(String::new())?;
    /// request.extensions_mut().insert(SkipAuth);
    /// let response = service.ready().await?.call(request).await?;
    /// // The body reads as the inner service's.
    /// let body = response.into_body().collect().await?.to_bytes();
    /// assert_eq!(body, "pong");
    /// # Ok(()) }
    /// ```
    pub struct OAuthBody<B> {
        #[pin]
        inner: B,
        watch: Option<Watch>,
    }
}

/// What the trailers need to retire the token the call carried.
pub(super) struct Watch {
    parts: Arc<Parts>,
    entry: Entry,
}

impl Watch {
    pub(super) fn new(parts: Arc<Parts>, entry: Entry) -> Self {
        Watch { parts, entry }
    }

    /// The same judgement as a rejection in the headers of a call that
    /// cannot be replayed: retired once per token, unless damped or
    /// fetched for this very call.
    fn read(self, trailers: &HeaderMap) {
        if !grpc::unauthenticated(trailers) {
            return;
        }
        let cache = &self.parts.cache;
        let damped = cache.retire(&self.entry.slot(cache), self.entry.ticket);
        tracing::debug!(
            damped,
            "gRPC UNAUTHENTICATED in the trailers; the token is replaced for the next call"
        );
    }
}

impl<B> OAuthBody<B> {
    /// A body passed through as it is.
    pub(super) fn new(inner: B) -> Self {
        OAuthBody { inner, watch: None }
    }

    /// A body whose trailers are read for `UNAUTHENTICATED`.
    pub(super) fn watched(inner: B, watch: Watch) -> Self {
        OAuthBody {
            inner,
            watch: Some(watch),
        }
    }

    /// The inner service's body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The inner service's body; trailers read from it are no longer
    /// watched.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for OAuthBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if this.watch.is_some() {
            look(this.watch, &polled);
        }
        polled
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads trailers once; the watch ends with them, the end of the body or
/// an error. A data frame leaves it as it is.
fn look<D, E>(watch: &mut Option<Watch>, polled: &Poll<Option<Result<Frame<D>, E>>>) {
    match polled {
        Poll::Pending => {}
        Poll::Ready(Some(Ok(frame))) => {
            if let Some(trailers) = frame.trailers_ref()
                && let Some(watch) = watch.take()
            {
                watch.read(trailers);
            }
        }
        Poll::Ready(_) => *watch = None,
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for OAuthBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthBody")
            .field("inner", &self.inner)
            .field("watched", &self.watch.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Full};

    use super::*;

    #[tokio::test]
    async fn frames_size_hints_and_ends_pass_through() {
        let full = OAuthBody::new(Full::new(Bytes::from_static(b"abc")));
        assert_eq!(full.size_hint().exact(), Some(3));
        assert!(!full.is_end_stream());
        let read = full.collect().await.expect("infallible").to_bytes();
        assert_eq!(read, Bytes::from_static(b"abc"));

        let empty = OAuthBody::new(Empty::<Bytes>::new());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert!(empty.is_end_stream());
    }
}
