//! [`OAuthService`]: the layer's service. A request whose token is cached
//! is routed, leased, given its token and sent from `call` itself: its
//! future is the inner service's, wrapped, with nothing boxed. Only a
//! token fetch, a rejection or a step-up takes a boxed future.

use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tower::Service;
use http::{Request, Response};

use super::BoxError;
use super::after::After;
use super::body::{CloneBody, ReplayBody};
use super::entry::Entry;
use super::future::ResponseFuture;
use super::proof::prove;
use super::replay::Kept;
use super::route::Core;
use super::shared::Shared;
use super::watch::OAuthBody;
use crate::TokenRequest;
use crate::attach::attach_to;
use crate::cache::{Lease, Slot};
use crate::routing::Route;

/// The service of an [`OAuthLayer`](super::OAuthLayer) around `S`.
///
/// `poll_ready` is the inner service's, and the instance polled ready is
/// the one a call uses. Cloning clones `S` and one `Arc`; a call clones
/// neither `S` nor any lock-protected state: a replay, rare, uses a clone
/// of the service as it was layered, made ready for that request alone.
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub struct OAuthService<S, K = CloneBody> {
    inner: S,
    shared: Arc<Shared<S, K>>,
}

impl<S: Clone, K> OAuthService<S, K> {
    pub(super) fn new(inner: S, core: Arc<Core>, keep: K) -> Self {
        let spare = inner.clone();
        OAuthService {
            inner,
            shared: Arc::new(Shared::new(core, keep, spare)),
        }
    }
}

impl<S: Clone, K> Clone for OAuthService<S, K> {
    fn clone(&self) -> Self {
        OAuthService {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: std::fmt::Debug, K> std::fmt::Debug for OAuthService<S, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, K, B, R> Service<Request<B>> for OAuthService<S, K>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    K: ReplayBody<B>,
    B: Send + 'static,
    R: Send + 'static,
{
    type Response = Response<OAuthBody<R>>;
    type Error = BoxError;
    type Future = ResponseFuture<S, K, B, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    /// Route, lease, attach, send: all synchronous when the token is
    /// cached, so the request goes to the instance polled ready, now.
    fn call(&mut self, request: Request<B>) -> Self::Future {
        let core = &self.shared.core;
        let key = match core.route(&request) {
            Ok(Route::Use(key)) => key,
            Ok(Route::Pass) => return ResponseFuture::pass(self.inner.call(request)),
            Ok(Route::Refuse(error)) | Err(error) => return ResponseFuture::failed(error.into()),
        };
        let parts = &core.parts;
        // Kept for a step-up only, and boxed: the common request carries no
        // key in its future.
        let step = parts
            .step_up
            .then(|| Box::new(key.to_request(&parts.router.default_key)));
        let slot = parts.cache.slot(&key);
        match parts.cache.lease_now(&slot) {
            Some(lease) => send(&self.shared, &mut self.inner, request, step, slot, lease),
            None => {
                let slot = slot.into_owned();
                self.miss(request, step, slot)
            }
        }
    }
}

impl<S: Clone, K> OAuthService<S, K> {
    /// No usable token cached: wait for one (the fetch under way, or a new
    /// one), then send as on the cached path. The instance polled ready
    /// goes with the request and this one keeps a clone (tower's rule: the
    /// instance polled ready is the one called).
    fn miss<B, R>(
        &mut self,
        request: Request<B>,
        step: Option<Box<TokenRequest>>,
        slot: Arc<Slot>,
    ) -> ResponseFuture<S, K, B, R>
    where
        S: Service<Request<B>, Response = Response<R>> + Send + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        K: ReplayBody<B>,
        B: Send + 'static,
        R: Send + 'static,
    {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        ResponseFuture::slow(Box::pin(async move {
            let lease = shared.core.parts.cache.lease(&slot).await?;
            send(&shared, &mut inner, request, step, Cow::Owned(slot), lease).await
        }))
    }
}

/// Keeps a copy for a replay (before the token goes in), attaches the
/// token and sends the request to `inner`, which was polled ready.
// Inlined into `call`: the request is not moved once more.
#[inline(always)]
fn send<S, K, B, R>(
    shared: &Arc<Shared<S, K>>,
    inner: &mut S,
    mut request: Request<B>,
    step: Option<Box<TokenRequest>>,
    slot: Cow<'_, Arc<Slot>>,
    lease: Lease,
) -> ResponseFuture<S, K, B, R>
where
    S: Service<Request<B>, Response = Response<R>>,
    K: ReplayBody<B>,
{
    let Lease {
        header,
        binding,
        ticket,
    } = lease;
    let core = &shared.core;
    // A copy even when the token was fetched for this request, if a
    // step-up may want one or the token is DPoP-bound (a nonce request
    // replays even a fresh token), as in the middleware.
    let fresh_wanted = step.is_some() || binding.is_some();
    let kept = Kept::of(
        &mut request,
        ticket,
        core.parts.replay,
        &shared.keep,
        fresh_wanted,
    );
    let (proof, bound) = match prove(core, binding, &request) {
        Ok(proved) => proved,
        Err(error) => return ResponseFuture::failed(error.into()),
    };
    attach_to(request.headers_mut(), header, proof);
    let entry = Entry::new(slot, ticket);
    let after = After::new(shared.clone(), entry, kept, step, bound);
    ResponseFuture::sent(inner.call(request), after)
}
