//! [`ResponseFuture`]: the future of a call through the layer, written by
//! hand so that a request whose token is cached costs the inner service's
//! future and a few words beside it, not a boxed `async` block.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::tower::Service;
use http::{Request, Response};
use pin_project_lite::pin_project;

use super::BoxError;
use super::after::{After, Answered, Boxed};
use super::body::ReplayBody;
use super::watch::OAuthBody;

pin_project! {
    /// The future of [`OAuthService`](super::OAuthService): on the cached
    /// path, the inner service's future and what a rejection would need;
    /// boxed only while a token is fetched, or a request replayed or
    /// stepped up.
    #[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
    pub struct ResponseFuture<S, K, B, R>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, K, B, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, K, B, R>
    where
        S: Service<Request<B>>,
    {
        // A request that gets no token: only its body is wrapped.
        Pass { #[pin] future: S::Future },
        // Sent with a cached token; `after` is taken when it is answered.
        Sent { #[pin] future: S::Future, after: Option<After<S, K, B>> },
        Slow { future: Boxed<R> },
        Failed { error: Option<BoxError> },
        Done,
    }
}

impl<S, K, B, R> ResponseFuture<S, K, B, R>
where
    S: Service<Request<B>>,
{
    pub(super) fn pass(future: S::Future) -> Self {
        Self::of(State::Pass { future })
    }

    pub(super) fn sent(future: S::Future, after: After<S, K, B>) -> Self {
        let after = Some(after);
        Self::of(State::Sent { future, after })
    }

    pub(super) fn slow(future: Boxed<R>) -> Self {
        Self::of(State::Slow { future })
    }

    pub(super) fn failed(error: BoxError) -> Self {
        let error = Some(error);
        Self::of(State::Failed { error })
    }

    fn of(state: State<S, K, B, R>) -> Self {
        ResponseFuture { state }
    }
}

impl<S, K, B, R> Future for ResponseFuture<S, K, B, R>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    K: ReplayBody<B>,
    B: Send + 'static,
    R: Send + 'static,
{
    type Output = Result<Response<OAuthBody<R>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let output = match state.as_mut().project() {
                StateProj::Pass { future } => {
                    let answered = ready!(future.poll(cx));
                    answered.map(|r| r.map(OAuthBody::new)).map_err(Into::into)
                }
                StateProj::Sent { future, after } => {
                    // `after` is taken with the answer: the inner future is
                    // never polled again, and stays until this one is
                    // dropped (no state change on the cached path).
                    if after.is_none() {
                        return Poll::Ready(Err(polled_after_completion()));
                    }
                    let response = match ready!(future.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            after.take();
                            return Poll::Ready(Err(error.into()));
                        }
                    };
                    match after.take().map(|after| after.answer(response)) {
                        Some(Answered::Now(response)) => return Poll::Ready(Ok(response)),
                        Some(Answered::Later(future)) => {
                            state.set(State::Slow { future });
                            continue;
                        }
                        Some(Answered::Failed(error)) => Err(error),
                        None => Err(polled_after_completion()),
                    }
                }
                StateProj::Slow { future } => ready!(future.as_mut().poll(cx)),
                StateProj::Failed { error } => {
                    Err(error.take().unwrap_or_else(polled_after_completion))
                }
                StateProj::Done => Err(polled_after_completion()),
            };
            state.set(State::Done);
            return Poll::Ready(output);
        }
    }
}

/// Polling a finished future is a caller's bug; it gets an error, not a
/// panic.
fn polled_after_completion() -> BoxError {
    "the OAuthService response future was polled after it completed".into()
}

impl<S, K, B, R> std::fmt::Debug for ResponseFuture<S, K, B, R>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Pass { .. } => "pass",
            State::Sent { .. } => "sent",
            State::Slow { .. } => "slow",
            State::Failed { .. } => "failed",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
