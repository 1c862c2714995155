//! [`OAuthMiddleware`]: the `reqwest-middleware` adapter over the core.
//! A request's path reads top to bottom: route (skip, refuse or key),
//! lease a token, attach it, send, and on a rejection renew once and
//! replay.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{Extensions, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::attach::{Binding, attach};
use crate::cache::{Lease, Slot, Ticket, TokenCache};
use crate::outcome::{ReplayOutcome, SkipReason};
use crate::rejection::Rejection;
use crate::replay::{Answer, Kept, ReplayPolicy};
use crate::routing::{Route, Router};
use crate::stats::Stats;
use crate::step_up::{self, requested_scope};
use crate::{Error, Token, TokenRequest};

/// Gives every request of a `reqwest_middleware` client an OAuth 2.0 token:
/// fetched lazily, cached per key (audience, scope, resource), fetched by
/// one task at a time, and renewed once when the API rejects it.
///
/// Cloning is cheap and clones share one cache. Made by
/// [`OAuthMiddleware::new`] or [`OAuthMiddleware::builder`].
///
/// ```no_run
/// use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let oauth = OAuthMiddleware::builder(ClientCredentials::new(
///     "https://auth.example.com/oauth/token",
///     "client-id",
///     "client-secret",
/// ))
/// .audience("https://api.example.com")
/// .build()?;
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(oauth.clone())
///     .build();
/// let things = client.get("https://api.example.com/things").send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuthMiddleware {
    inner: Arc<Parts>,
}

/// What the builder hands over: the routing rules, the cache, and the
/// policies for rejected tokens.
pub(crate) struct Parts {
    pub(crate) router: Router,
    pub(crate) cache: TokenCache,
    pub(crate) replay: ReplayPolicy,
    pub(crate) rejection: Rejection,
    /// Whether `insufficient_scope` is answered with a wider token.
    pub(crate) step_up: bool,
}

impl std::fmt::Debug for OAuthMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthMiddleware")
            .field("default_key", &self.inner.router.default_key)
            .field("replay", &self.inner.replay)
            .finish_non_exhaustive()
    }
}

impl OAuthMiddleware {
    pub(crate) fn from_parts(parts: Parts) -> Self {
        OAuthMiddleware {
            inner: Arc::new(parts),
        }
    }

    /// The core this middleware adapts, for the other adapters (the tower
    /// layer) to share: one cache, one token request per key.
    #[cfg(feature = "tower")]
    pub(crate) fn parts(&self) -> &Arc<Parts> {
        &self.inner
    }

    /// The key of requests that name no audience, scope or resource of
    /// their own: the builder's audience and resource.
    pub fn default_key(&self) -> &TokenRequest {
        &self.inner.router.default_key
    }

    /// A valid token for `key`, from the cache or fetched now, for code that
    /// needs the token itself.
    ///
    /// ```no_run
    /// # async fn demo(oauth: reqwest_oauth::OAuthMiddleware) -> Result<(), reqwest_oauth::Error> {
    /// let token = oauth.token(oauth.default_key()).await?;
    /// let other = reqwest_oauth::TokenRequest::new().with_audience("https://billing.example.com");
    /// let billing = oauth.token(&other).await?;
    /// # Ok(()) }
    /// ```
    pub async fn token(&self, key: &TokenRequest) -> Result<Arc<Token>, Error> {
        let key = self.inner.router.key_for(key);
        let slot = self.inner.cache.slot(&key);
        self.inner.cache.token(&slot).await
    }

    /// Forgets the cached token for `key`; the next request fetches a new
    /// one (handing the forgotten token to the source as the one replaced).
    pub fn invalidate(&self, key: &TokenRequest) {
        let key = self.inner.router.key_for(key);
        self.inner.cache.invalidate(&key);
    }

    /// Forgets every cached token.
    pub fn invalidate_all(&self) {
        self.inner.cache.invalidate_all();
    }

    /// The counters since the middleware was built: fetches, token
    /// requests, cache hits, waits, refreshes, replays and more.
    pub fn stats(&self) -> Stats {
        self.inner.cache.stats()
    }

    /// How many keys besides the default have a cache entry (bounded by
    /// the builder's `max_keys`).
    pub fn cached_keys(&self) -> usize {
        self.inner.cache.len()
    }

    /// The API rejected the token the request carried: renew it once and,
    /// if allowed, send the request once more with the new token. Never
    /// loops: the replay's answer is final. The response says what was done
    /// ([`ReplayOutcome`]).
    async fn after_rejection(
        &self,
        slot: &Arc<Slot>,
        ticket: Ticket,
        kept: Kept,
        rejected: Response,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let Answer::Ours(kept) = kept.answer(rejected.url()) else {
            // Reached through a redirect: that origin never saw our token.
            return Ok(skipped(rejected, SkipReason::OtherOrigin));
        };
        let (replay, lease) = match self.inner.cache.answer_rejection(slot, ticket, kept).await {
            Ok(Ok(renewed)) => renewed,
            Ok(Err(reason)) => return Ok(skipped(rejected, reason)),
            Err(error) => return Err(middleware_error(error)),
        };
        tracing::debug!(
            replay = "renewed",
            "rejected token replaced; replaying the request"
        );
        drop(rejected);
        let binding = lease.binding.as_ref();
        self.resend(
            replay,
            lease.header,
            binding,
            ReplayOutcome::Replayed,
            extensions,
            next,
        )
        .await
    }

    /// Sends a kept request once more with `header` (and, for a DPoP-bound
    /// token, a fresh proof), and marks the answer with `outcome`. Whatever
    /// it is, that answer is final; an API refusing the proof is an error
    /// ([`Error::DpopProofRejected`]).
    async fn resend(
        &self,
        mut request: Request,
        header: HeaderValue,
        binding: Option<&Arc<Binding>>,
        outcome: ReplayOutcome,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        self.inner.cache.counters().count_replay(outcome);
        attach(&mut request, header, binding).map_err(middleware_error)?;
        let mut response = next.run(request, extensions).await?;
        if let Some(binding) = binding {
            // Keep the nonce it may carry; the answer stays final, unless
            // it refuses the proof.
            replays_for_nonce(binding, &response)?;
        }
        response.extensions_mut().insert(outcome);
        Ok(response)
    }
}

impl OAuthMiddleware {
    /// Sends the request once more with a new proof carrying the nonce the
    /// API just gave (remembered for its origin), the same token: the token
    /// was not refused, the proof was. The replay's answer is final.
    async fn nonce_replay(
        &self,
        binding: Arc<Binding>,
        kept: Kept,
        refused: Response,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let kept = match kept.answer(refused.url()) {
            Answer::OtherOrigin => return Ok(skipped(refused, SkipReason::OtherOrigin)),
            Answer::Ours(kept) => kept,
        };
        // The decision is the binding's, shared with the tower layer.
        let (replay, authorization) = match binding.nonce_replay(kept, refused.url()) {
            Ok(replay) => replay,
            Err(reason) => return Ok(skipped(refused, reason)),
        };
        drop(refused);
        let outcome = ReplayOutcome::DpopNonce;
        self.resend(
            replay,
            authorization,
            Some(&binding),
            outcome,
            extensions,
            next,
        )
        .await
    }
}

/// A rare path's future, boxed behind a trait object: its state stays out
/// of the request's future, and its code out of the request's `poll` (a
/// concrete box lets the compiler inline the whole rare path there).
#[inline(never)]
fn rare<'a>(
    future: impl Future<Output = reqwest_middleware::Result<Response>> + Send + 'a,
) -> Handled<'a> {
    Box::pin(future)
}

fn middleware_error(error: Error) -> reqwest_middleware::Error {
    reqwest_middleware::Error::middleware(error)
}

/// Whether a DPoP-bound request's answer asks for a nonce (a replay);
/// a proof refused outright is an error here, before any rejection is
/// judged.
fn replays_for_nonce(binding: &Binding, response: &Response) -> reqwest_middleware::Result<bool> {
    binding
        .needs_nonce_replay(response.url(), response.status(), response.headers())
        .map_err(middleware_error)
}

/// A request the API answered with `insufficient_scope`: its key, and the
/// scope the API asked for.
struct StepUp {
    key: TokenRequest,
    requested: String,
}

impl OAuthMiddleware {
    /// Sends the request once more with a token for the key's scope plus
    /// the requested one ([`step_up::answer`], shared with the tower
    /// layer). Never more than once per request: the replay's answer is
    /// final.
    async fn step_up(
        &self,
        step: StepUp,
        kept: Kept,
        refused: Response,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let kept = match kept.answer(refused.url()) {
            Answer::OtherOrigin => return Ok(skipped(refused, SkipReason::OtherOrigin)),
            Answer::Ours(kept) => kept,
        };
        let inner = &self.inner;
        let answer = step_up::answer(
            &inner.router,
            &inner.cache,
            &step.key,
            &step.requested,
            kept,
        );
        let (replay, lease) = match answer.await.map_err(middleware_error)? {
            step_up::Answer::Replay(replay, lease) => (replay, lease),
            step_up::Answer::AsItCame => return Ok(refused),
            step_up::Answer::Skip(reason) => return Ok(skipped(refused, reason)),
        };
        drop(refused);
        let binding = lease.binding.as_ref();
        let outcome = ReplayOutcome::SteppedUp;
        self.resend(replay, lease.header, binding, outcome, extensions, next)
            .await
    }
}

/// The rejection itself goes back to the caller, saying why.
fn skipped(mut response: Response, reason: SkipReason) -> Response {
    tracing::debug!(?reason, "rejected token; request not replayed");
    response
        .extensions_mut()
        .insert(ReplayOutcome::Skipped(reason));
    response
}

/// The future of one request. Written out rather than through
/// `async_trait`, so the request is moved into it once (an `async fn`
/// stores its arguments twice) and a request that takes no token gets the
/// next middleware's future as it is.
type Handled<'a> = Pin<Box<dyn Future<Output = reqwest_middleware::Result<Response>> + Send + 'a>>;

impl Middleware for OAuthMiddleware {
    fn handle<'s, 'e, 'n, 'f>(
        &'s self,
        request: Request,
        extensions: &'e mut Extensions,
        next: Next<'n>,
    ) -> Handled<'f>
    where
        's: 'f,
        'e: 'f,
        'n: 'f,
        Self: 'f,
    {
        let inner = &self.inner;
        let key = match inner
            .router
            .route(request.url(), request.headers(), extensions)
        {
            Route::Pass => return next.run(request, extensions),
            Route::Refuse(error) => {
                return Box::pin(std::future::ready(Err(middleware_error(error))));
            }
            Route::Use(key) => key,
        };
        let slot = inner.cache.slot(&key);
        // Kept for a step-up only, and boxed: the common request carries no
        // key in its future.
        let step_key = inner
            .step_up
            .then(|| Box::new(key.to_request(&inner.router.default_key)));
        match inner.cache.lease_now(&slot) {
            Some(lease) => Box::pin(self.send(request, slot, lease, step_key, extensions, next)),
            // The miss path waits in a future of its own: its state stays
            // out of the one a cached token uses.
            None => Box::pin(async move {
                let lease = inner.cache.lease(&slot).await.map_err(middleware_error)?;
                self.send(request, slot, lease, step_key, extensions, next)
                    .await
            }),
        }
    }
}

impl OAuthMiddleware {
    /// Attaches the leased token and sends; then answers a nonce request, an
    /// `insufficient_scope` or a rejection. The copy for a replay is taken
    /// and the token attached before the future is made, so the future
    /// holds the request once.
    #[inline(always)]
    fn send<'a>(
        &'a self,
        mut request: Request,
        slot: Cow<'a, Arc<Slot>>,
        lease: Lease,
        step_key: Option<Box<TokenRequest>>,
        extensions: &'a mut Extensions,
        next: Next<'a>,
    ) -> impl Future<Output = reqwest_middleware::Result<Response>> + Send + 'a {
        let Lease {
            header,
            binding,
            ticket,
        } = lease;
        // A token fetched for this request is never renewed for it, so no
        // copy; but keep one with step-up on (a fresh token may be too
        // narrow) and for a DPoP-bound token (a nonce request replays even
        // a fresh token).
        let fresh = ticket.fetched() && step_key.is_none() && binding.is_none();
        let kept = Kept::of(&request, fresh, self.inner.replay);
        let attached = attach(&mut request, header, binding.as_ref());
        async move {
            attached.map_err(middleware_error)?;
            let response = next.clone().run(request, extensions).await?;
            if let Some(binding) = binding
                && replays_for_nonce(&binding, &response)?
            {
                return rare(self.nonce_replay(binding, kept, response, extensions, next)).await;
            }
            if let Some(key) = step_key
                && let Some(requested) = requested_scope(response.status(), response.headers())
            {
                let step = StepUp {
                    key: *key,
                    requested,
                };
                return rare(self.step_up(step, kept, response, extensions, next)).await;
            }
            if !self.inner.rejection.is_rejected(&response) {
                return Ok(response);
            }
            rare(self.after_rejection(&slot, ticket, kept, response, extensions, next)).await
        }
    }
}

impl Error {
    /// Finds this crate's error inside an error returned by a
    /// `reqwest_middleware` client, if the middleware produced it.
    ///
    /// ```
    /// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) {
    /// match client.get("https://api.example.com/things").send().await {
    ///     Ok(response) => println!("{}", response.status()),
    ///     Err(err) => match reqwest_oauth::Error::from_middleware(&err) {
    ///         Some(oauth) if oauth.is_transient() => eprintln!("try later: {oauth}"),
    ///         Some(oauth) => eprintln!("fix the configuration: {oauth}"),
    ///         None => eprintln!("the API request itself failed: {err}"),
    ///     },
    /// }
    /// # }
    /// ```
    pub fn from_middleware(err: &reqwest_middleware::Error) -> Option<&Error> {
        match err {
            reqwest_middleware::Error::Middleware(inner) => inner.downcast_ref::<Error>(),
            reqwest_middleware::Error::Reqwest(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use reqwest_middleware::{Middleware, Next};

    /// glibc serves allocations up to this size from its per-thread cache;
    /// above it every request's future takes the slow path.
    const ALLOCATOR_FAST_PATH: usize = 1032;

    /// Records the size of the future `OAuthMiddleware::handle` returns,
    /// then answers without sending anything.
    struct Measure(crate::OAuthMiddleware, Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl Middleware for Measure {
        async fn handle(
            &self,
            request: reqwest::Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            let future = self.0.handle(request, extensions, next);
            self.1
                .store(std::mem::size_of_val(&*future), Ordering::SeqCst);
            Ok(http::Response::new(reqwest::Body::from("")).into())
        }
    }

    #[tokio::test]
    async fn a_cached_token_request_future_fits_the_allocators_fast_path() {
        let oauth =
            crate::OAuthMiddleware::new(crate::source_fn(|_| async { crate::Token::bearer("t") }));
        oauth.token(oauth.default_key()).await.expect("warm");
        let size = Arc::new(AtomicUsize::new(0));
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(Measure(oauth, size.clone()))
            .build();
        client
            .get("https://api.example/")
            .send()
            .await
            .expect("answered");
        let size = size.load(Ordering::SeqCst);
        assert!(size > 0 && size <= ALLOCATOR_FAST_PATH, "{size} bytes");
    }
}
