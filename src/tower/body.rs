//! Keeping a copy of a request body, so a request whose token was rejected
//! can be sent again: a cloneable body is cloned; any other body is read
//! ahead as far as it is ready at once, within a size limit.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// How the layer keeps a copy of a request body to send the request again
/// after its token was rejected: [`CloneBody`] (the default) or
/// [`BufferBody`].
///
/// `keep` sees the body about to be sent (and may replace it, with one
/// that yields the same frames) and gives back a copy for the replay when
/// the request can be sent twice; `None` means the request is not replayed
/// (its rejected token is still replaced). The body is borrowed, not
/// moved, so the cached path does not move the request around; `keep` is
/// synchronous, so a request whose token is cached is sent from the
/// service's `call` without a future of its own for this step.
pub trait ReplayBody<B>: Clone + Send + Sync + 'static {
    /// A copy of `body` to send again, if there can be one. Must not wait:
    /// only what the body has ready now can be kept.
    fn keep(&self, body: &mut B) -> Option<B>;
}

/// Replays requests whose body type is `Clone` (`Full<Bytes>`, `Empty`,
/// `String`, …) by cloning the body: the layer's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneBody;

impl<B: Clone> ReplayBody<B> for CloneBody {
    fn keep(&self, body: &mut B) -> Option<B> {
        Some(body.clone())
    }
}

/// Replays requests whose body (of any type) is complete and ready at once
/// and no longer than a limit, such as a unary gRPC call's; a streaming
/// body is sent as it comes and not replayed. Made by
/// [`OAuthLayer::buffer_bodies`](super::OAuthLayer::buffer_bodies).
pub struct BufferBody<B: Body> {
    max_bytes: usize,
    rebuild: fn(BufferedBody<B>) -> B,
}

impl<B: Body> BufferBody<B> {
    pub(super) fn new(max_bytes: usize, rebuild: fn(BufferedBody<B>) -> B) -> Self {
        BufferBody { max_bytes, rebuild }
    }
}

impl<B: Body> Clone for BufferBody<B> {
    fn clone(&self) -> Self {
        BufferBody {
            max_bytes: self.max_bytes,
            rebuild: self.rebuild,
        }
    }
}

impl<B: Body> std::fmt::Debug for BufferBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferBody")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl<B> ReplayBody<B> for BufferBody<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Send,
{
    fn keep(&self, sent: &mut B) -> Option<B> {
        // An empty stand-in (no allocation for tonic's body) while the
        // original is read.
        let mut body = std::mem::replace(sent, (self.rebuild)(BufferedBody::default()));
        let mut read = BufferedBody::default();
        let mut size = 0usize;
        // Only what is ready now: waiting for a streaming body's next frame
        // could wait on the response this request is to get. A body that is
        // not ready keeps this waker, which wakes nothing; that is harmless,
        // since the service sending it polls it again with its own.
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(None) => break,
                Poll::Ready(Some(Ok(frame))) => {
                    size = size.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                    read.push(frame);
                    if size > self.max_bytes {
                        *sent = self.rest(read, body);
                        return None;
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    read.error = Some(error);
                    *sent = self.rest(read, body);
                    return None;
                }
                Poll::Pending if read.is_empty() => {
                    *sent = body;
                    return None;
                }
                Poll::Pending => {
                    *sent = self.rest(read, body);
                    return None;
                }
            }
        }
        let copy = read.copy();
        *sent = (self.rebuild)(read);
        Some((self.rebuild)(copy))
    }
}

impl<B: Body> BufferBody<B> {
    /// What was read, then the rest of the original body.
    fn rest(&self, mut read: BufferedBody<B>, body: B) -> B {
        read.rest = Some(body);
        (self.rebuild)(read)
    }
}

/// A request body the layer read ahead: the frames read, then the rest of
/// the original body if it had not ended. [`BufferBody`] turns one into
/// the service's body type with the function it was given (for tonic,
/// `tonic::body::Body::new`).
pub struct BufferedBody<B: Body> {
    data: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    error: Option<B::Error>,
    rest: Option<B>,
}

impl<B: Body> Default for BufferedBody<B> {
    fn default() -> Self {
        BufferedBody {
            data: VecDeque::new(),
            trailers: None,
            error: None,
            rest: None,
        }
    }
}

impl<B: Body<Data = Bytes>> BufferedBody<B> {
    fn push(&mut self, frame: Frame<Bytes>) {
        match frame.into_data() {
            Ok(data) => self.data.push_back(data),
            Err(frame) => self.trailers = frame.into_trailers().ok(),
        }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty() && self.trailers.is_none()
    }

    /// A copy of a complete body (the bytes are shared, not copied).
    fn copy(&self) -> Self {
        BufferedBody {
            data: self.data.clone(),
            trailers: self.trailers.clone(),
            error: None,
            rest: None,
        }
    }
}

impl<B: Body> std::fmt::Debug for BufferedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedBody")
            .field("chunks", &self.data.len())
            .field("trailers", &self.trailers.is_some())
            .field("rest", &self.rest.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Body for BufferedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(data) = this.data.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(error) = this.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        match &mut this.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
            && self.error.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self.data.iter().map(|data| data.len() as u64).sum();
        let mut hint = self
            .rest
            .as_ref()
            .map_or(SizeHint::with_exact(0), B::size_hint);
        // Upper first: each setter checks lower <= upper.
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper.saturating_add(read));
        }
        hint.set_lower(hint.lower().saturating_add(read));
        hint
    }
}
