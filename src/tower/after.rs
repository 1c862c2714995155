//! What the layer does with an answer: pass it on (watching a gRPC body's
//! trailers), or, boxed, replay a DPoP-bound request with the nonce the
//! API asked for, renew a rejected token and replay, or step up to a wider
//! scope. The decisions are the core's, shared with the middleware
//! (`Binding::needs_nonce_replay` and `Binding::nonce_replay`,
//! `cache::answer_rejection`, `step_up::answer`).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;

use ::tower::Service;
use http::{HeaderValue, Request, Response};

use super::BoxError;
use super::entry::Entry;
use super::grpc;
use super::proof::{Bound, prove};
use super::replay::{Kept, ReplayCopy};
use super::shared::Shared;
use super::watch::{OAuthBody, Watch};
use crate::TokenRequest;
use crate::attach::{Binding, attach_to};
use crate::outcome::{ReplayOutcome, SkipReason};
use crate::step_up::{self, Answer, requested_scope};

/// A boxed future of the layer's output: a token fetch, a replay, a
/// step-up or a nonce replay.
pub(super) type Boxed<R> =
    Pin<Box<dyn Future<Output = Result<Response<OAuthBody<R>>, BoxError>> + Send>>;

/// What a request sent with a cached token keeps for its answer.
pub(super) struct After<S, K, B> {
    shared: Arc<Shared<S, K>>,
    entry: Entry,
    kept: Kept<B>,
    /// The request's key, with step-up on.
    step: Option<Box<TokenRequest>>,
    /// What the answer to a DPoP-bound token's proof is read with.
    bound: Option<Box<Bound>>,
}

/// The answer for the caller now, the work it needs first, or the error
/// it is (an API refusing a DPoP proof).
pub(super) enum Answered<R> {
    Now(Response<OAuthBody<R>>),
    Later(Boxed<R>),
    Failed(BoxError),
}

impl<S, K, B> After<S, K, B> {
    pub(super) fn new(
        shared: Arc<Shared<S, K>>,
        entry: Entry,
        kept: Kept<B>,
        step: Option<Box<TokenRequest>>,
        bound: Option<Box<Bound>>,
    ) -> Self {
        After {
            shared,
            entry,
            kept,
            step,
            bound,
        }
    }
}

impl<S, K, B> After<S, K, B>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    K: Send + Sync + 'static,
    B: Send + 'static,
{
    /// In the middleware's order: for a DPoP-bound token, a nonce request
    /// (replayed, same token) or a refused proof (the error) first; then a
    /// step-up, else a rejection (a `401` the predicate accepts, or gRPC
    /// `UNAUTHENTICATED` in the headers of a trailers-only response), else
    /// the answer as it came.
    #[inline]
    pub(super) fn answer<R: Send + 'static>(self, response: Response<R>) -> Answered<R>
    where
        S: Service<Request<B>, Response = Response<R>>,
    {
        if self.bound.is_some() {
            return self.answer_proof(response);
        }
        self.answer_token(response)
    }

    /// What a DPoP-bound request's answer says of its proof, before the
    /// token is judged. Out of line: a bearer answer's code stays as small
    /// as it was.
    #[inline(never)]
    fn answer_proof<R: Send + 'static>(mut self, response: Response<R>) -> Answered<R>
    where
        S: Service<Request<B>, Response = Response<R>>,
    {
        let Some(bound) = self.bound.take() else {
            return self.answer_token(response);
        };
        match bound.needs_nonce_replay(&response) {
            Ok(false) => self.answer_token(response),
            Ok(true) => Answered::Later(Box::pin(self.nonce_replay(bound, response))),
            Err(refused) => Answered::Failed(refused.into()),
        }
    }

    /// A step-up, else a rejection, else the answer as it came.
    #[inline]
    fn answer_token<R: Send + 'static>(mut self, response: Response<R>) -> Answered<R>
    where
        S: Service<Request<B>, Response = Response<R>>,
    {
        if let Some(key) = self.step.take()
            && let Some(requested) = requested_scope(response.status(), response.headers())
        {
            return Answered::Later(Box::pin(self.step_up(*key, requested, response)));
        }
        // Only a gRPC answer carries a gRPC status: other answers pay one
        // header lookup for both checks.
        let grpc = grpc::is_grpc(response.headers());
        let parts = &self.shared.core.parts;
        if (grpc && grpc::unauthenticated(response.headers()))
            || parts.rejection.is_rejected_http(&response)
        {
            return Answered::Later(Box::pin(self.after_rejection(response)));
        }
        if !grpc {
            return Answered::Now(response.map(OAuthBody::new));
        }
        // A gRPC answer's body is watched for `UNAUTHENTICATED` in its
        // trailers; its headers did not say so, so the token is judged at
        // most once.
        let watch = Watch::new(parts.clone(), self.entry);
        Answered::Now(response.map(|body| OAuthBody::watched(body, watch)))
    }

    /// The API rejected the token the request carried: renew it once and,
    /// if the request was kept, send it once more with the new token. Never
    /// loops: the replay's answer is final.
    async fn after_rejection<R>(
        self,
        rejected: Response<R>,
    ) -> Result<Response<OAuthBody<R>>, BoxError>
    where
        S: Service<Request<B>, Response = Response<R>>,
    {
        let After {
            shared,
            entry,
            kept,
            ..
        } = self;
        let cache = &shared.core.parts.cache;
        let slot = entry.slot(cache);
        let answer = cache.answer_rejection(&slot, entry.ticket, kept.into_copy());
        let (replay, lease) = match answer.await? {
            Ok(renewed) => renewed,
            Err(reason) => return Ok(skipped(rejected, reason)),
        };
        tracing::debug!("rejected token replaced; replaying the request");
        drop(rejected);
        let outcome = ReplayOutcome::Replayed;
        resend(&shared, *replay, lease.header, lease.binding, outcome).await
    }

    /// The API asked for a DPoP nonce (now remembered for its origin):
    /// send the request once more with a new proof carrying it, the same
    /// token. A request that was not kept (a stream) goes back as it came;
    /// the next one carries the nonce.
    async fn nonce_replay<R>(
        self,
        bound: Box<Bound>,
        refused: Response<R>,
    ) -> Result<Response<OAuthBody<R>>, BoxError>
    where
        S: Service<Request<B>, Response = Response<R>>,
    {
        let Bound { binding, url } = *bound;
        let kept = self.kept.into_copy();
        let (replay, header) = match binding.nonce_replay(kept, &url) {
            Ok(replay) => replay,
            Err(reason) => return Ok(skipped(refused, reason)),
        };
        drop(refused);
        let outcome = ReplayOutcome::DpopNonce;
        resend(&self.shared, *replay, header, Some(binding), outcome).await
    }

    /// The API asked for more scope: send the request once more with a
    /// token for the key's scope and the requested one. At most once.
    async fn step_up<R>(
        self,
        key: TokenRequest,
        requested: String,
        refused: Response<R>,
    ) -> Result<Response<OAuthBody<R>>, BoxError>
    where
        S: Service<Request<B>, Response = Response<R>>,
    {
        let parts = &self.shared.core.parts;
        let kept = self.kept.into_copy();
        let answer = step_up::answer(&parts.router, &parts.cache, &key, &requested, kept);
        let (replay, lease) = match answer.await? {
            Answer::Replay(replay, lease) => (replay, lease),
            Answer::AsItCame => return Ok(refused.map(OAuthBody::new)),
            Answer::Skip(reason) => return Ok(skipped(refused, reason)),
        };
        drop(refused);
        let outcome = ReplayOutcome::SteppedUp;
        resend(&self.shared, *replay, lease.header, lease.binding, outcome).await
    }
}

/// Sends a kept request once more with `header` (and, for a DPoP-bound
/// token, a fresh proof), through a clone of the service made ready for
/// it (the caller's instance went with the first send), and marks the
/// answer with `outcome`. That answer is final; an API refusing the proof
/// is an error (`Error::DpopProofRejected`).
async fn resend<S, K, B, R>(
    shared: &Shared<S, K>,
    replay: ReplayCopy<B>,
    header: HeaderValue,
    binding: Option<Arc<Binding>>,
    outcome: ReplayOutcome,
) -> Result<Response<OAuthBody<R>>, BoxError>
where
    S: Service<Request<B>, Response = Response<R>> + Clone,
    S::Error: Into<BoxError>,
{
    shared.core.parts.cache.counters().count_replay(outcome);
    let mut request = replay.into_request();
    let (proof, bound) = prove(&shared.core, binding, &request)?;
    attach_to(request.headers_mut(), header, proof);
    let mut service = shared.spare();
    poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    let mut response = service.call(request).await.map_err(Into::into)?;
    if let Some(bound) = bound {
        // Keep the nonce it may carry; the answer stays final, unless it
        // refuses the proof.
        bound.needs_nonce_replay(&response)?;
    }
    response.extensions_mut().insert(outcome);
    Ok(response.map(OAuthBody::new))
}

/// The rejection itself goes back to the caller, saying why.
fn skipped<R>(mut response: Response<R>, reason: SkipReason) -> Response<OAuthBody<R>> {
    tracing::debug!(?reason, "rejected token; request not replayed");
    response
        .extensions_mut()
        .insert(ReplayOutcome::Skipped(reason));
    response.map(OAuthBody::new)
}
