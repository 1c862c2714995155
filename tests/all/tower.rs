//! The tower layer: tonic clients against a tonic server that checks the
//! testkit's tokens, and a hyper client against the testkit API (and
//! wiremock), sharing the middleware's cache.

use crate::common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::{client, echo, grant, servers, within_timeout};
use futures_util::future::{BoxFuture, join_all};
use futures_util::stream::BoxStream;
use http::uri::PathAndQuery;
use http_body_util::{BodyExt, Full};
use reqwest_oauth::OAuthMiddleware;
use reqwest_oauth::policy::ReplayOutcome;
use reqwest_oauth::testkit::AuthServer;
use reqwest_oauth::tower::{BufferBody, OAuthService};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::Service;

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Ping {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Pong {
    #[prost(string, tag = "1")]
    pub(crate) message: String,
}

/// A gRPC service `demo.Echo` (unary `Say`, client-streaming `Collect`,
/// server-streaming `Updates`) that accepts only live tokens of the
/// testkit's authorization server.
#[derive(Clone)]
struct Echo {
    auth: Arc<AuthServer>,
    calls: Arc<AtomicU64>,
    rejections: Arc<AtomicU64>,
}

impl NamedService for Echo {
    const NAME: &'static str = "demo.Echo";
}

impl Echo {
    fn check<T>(&self, request: &tonic::Request<T>) -> Result<(), Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match token {
            Some(token) if self.auth.is_valid(token) => Ok(()),
            _ => {
                self.rejections.fetch_add(1, Ordering::SeqCst);
                Err(Status::unauthenticated("token expired"))
            }
        }
    }
}

struct Say(Echo);

impl tonic::server::UnaryService<Ping> for Say {
    type Response = Pong;
    type Future = BoxFuture<'static, Result<tonic::Response<Pong>, Status>>;

    fn call(&mut self, request: tonic::Request<Ping>) -> Self::Future {
        let checked = self.0.check(&request);
        Box::pin(async move {
            checked?;
            let message = format!("hello {}", request.into_inner().name);
            Ok(tonic::Response::new(Pong { message }))
        })
    }
}

struct Collect(Echo);

impl tonic::server::ClientStreamingService<Ping> for Collect {
    type Response = Pong;
    type Future = BoxFuture<'static, Result<tonic::Response<Pong>, Status>>;

    fn call(&mut self, request: tonic::Request<tonic::Streaming<Ping>>) -> Self::Future {
        let checked = self.0.check(&request);
        Box::pin(async move {
            checked?;
            let mut stream = request.into_inner();
            let mut names = Vec::new();
            while let Some(ping) = stream.message().await? {
                names.push(ping.name);
            }
            let message = names.join(",");
            Ok(tonic::Response::new(Pong { message }))
        })
    }
}

struct Updates(Echo);

impl tonic::server::ServerStreamingService<Ping> for Updates {
    type Response = Pong;
    type ResponseStream = BoxStream<'static, Result<Pong, Status>>;
    type Future = BoxFuture<'static, Result<tonic::Response<Self::ResponseStream>, Status>>;

    /// Answers with headers and a first message whatever the token, and
    /// refuses a dead token only in the trailers, as a server that checks
    /// late (or sees the token expire mid-stream) does.
    fn call(&mut self, request: tonic::Request<Ping>) -> Self::Future {
        let checked = self.0.check(&request);
        let name = request.into_inner().name;
        Box::pin(async move {
            let first = Ok(Pong {
                message: format!("hello {name}"),
            });
            let last = checked.err().map(Err);
            let messages = futures_util::stream::iter(std::iter::once(first).chain(last));
            Ok(tonic::Response::new(
                Box::pin(messages) as Self::ResponseStream
            ))
        })
    }
}

impl Service<http::Request<Body>> for Echo {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let echo = self.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Pong, Ping>::default());
            Ok(match request.uri().path() {
                "/demo.Echo/Say" => grpc.unary(Say(echo), request).await,
                "/demo.Echo/Collect" => grpc.client_streaming(Collect(echo), request).await,
                "/demo.Echo/Updates" => grpc.server_streaming(Updates(echo), request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

/// A running tonic server; dropping it stops it.
struct GrpcServer {
    echo: Echo,
    origin: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GrpcServer {
    async fn start(auth: Arc<AuthServer>) -> GrpcServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let origin = format!("http://{}", listener.local_addr().expect("bound"));
        let echo = Echo {
            auth,
            calls: Arc::default(),
            rejections: Arc::default(),
        };
        let server = tonic::transport::Server::builder()
            .add_service(echo.clone())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        let task = tokio::spawn(async move {
            server.await.expect("gRPC server runs");
        });
        GrpcServer { echo, origin, task }
    }

    fn calls(&self) -> u64 {
        self.echo.calls.load(Ordering::SeqCst)
    }

    fn rejections(&self) -> u64 {
        self.echo.rejections.load(Ordering::SeqCst)
    }
}

pub(crate) type Grpc = tonic::client::Grpc<OAuthService<Channel, BufferBody<Body>>>;

/// A tonic client through the layer of `oauth`, unary calls buffered for
/// replay.
async fn grpc_client(oauth: &OAuthMiddleware, server: &GrpcServer) -> Grpc {
    grpc_client_to(oauth, &server.origin).await
}

/// A tonic client of the gRPC server at `origin` through the layer of
/// `oauth` (which names that origin: tonic sends paths only), unary calls
/// buffered for replay.
pub(crate) async fn grpc_client_to(oauth: &OAuthMiddleware, origin: &str) -> Grpc {
    let origin: http::Uri = origin.parse().expect("origin");
    let channel = Channel::builder(origin.clone())
        .connect()
        .await
        .expect("connects");
    let layer = oauth
        .layer()
        .origin(origin)
        .buffer_bodies(64 * 1024, Body::new);
    tonic::client::Grpc::new(tower::Layer::layer(&layer, channel))
}

pub(crate) async fn say(grpc: &mut Grpc, name: &str) -> Result<tonic::Response<Pong>, Status> {
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let request = tonic::Request::new(Ping { name: name.into() });
    let path = PathAndQuery::from_static("/demo.Echo/Say");
    grpc.unary(request, path, ProstCodec::default()).await
}

/// A server-streaming call: the messages read, and the status it ended
/// with if not OK. The call itself (its headers) must succeed.
async fn updates(grpc: &mut Grpc, name: &str) -> (Vec<String>, Option<Status>) {
    grpc.ready().await.expect("ready");
    let request = tonic::Request::new(Ping { name: name.into() });
    let path = PathAndQuery::from_static("/demo.Echo/Updates");
    let response: tonic::Response<tonic::Streaming<Pong>> = grpc
        .server_streaming(request, path, ProstCodec::default())
        .await
        .expect("the headers say OK");
    let mut stream = response.into_inner();
    let mut messages = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(pong)) => messages.push(pong.message),
            Ok(None) => return (messages, None),
            Err(status) => return (messages, Some(status)),
        }
    }
}

async fn grpc_servers() -> (Arc<AuthServer>, GrpcServer, OAuthMiddleware) {
    let (auth, _api) = servers().await;
    let auth = Arc::new(auth);
    let server = GrpcServer::start(auth.clone()).await;
    let oauth = OAuthMiddleware::new(grant(&auth));
    (auth, server, oauth)
}

#[tokio::test]
async fn a_tonic_call_carries_a_token_from_the_shared_cache() {
    within_timeout(async {
        let (auth, server, oauth) = grpc_servers().await;
        let mut grpc = grpc_client(&oauth, &server).await;
        let pong = say(&mut grpc, "tonic").await.expect("call succeeds");
        assert_eq!(pong.into_inner().message, "hello tonic");
        // The middleware's own callers use the token the layer fetched.
        let token = oauth.token(oauth.default_key()).await.expect("token");
        assert!(auth.is_valid(token.secret()));
        assert_eq!(auth.token_requests(), 1, "one token for both stacks");
        assert_eq!(server.rejections(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_cold_burst_of_1000_grpc_calls_makes_one_token_request() {
    within_timeout(async {
        let (auth, server, oauth) = grpc_servers().await;
        auth.set_delay(Duration::from_millis(50));
        let grpc = grpc_client(&oauth, &server).await;
        let calls = (0..1000).map(|i| {
            let mut grpc = grpc.clone();
            async move { say(&mut grpc, &i.to_string()).await }
        });
        for result in join_all(calls).await {
            result.expect("every call succeeds");
        }
        assert_eq!(auth.token_requests(), 1);
        assert_eq!(server.calls(), 1000);
        assert_eq!(server.rejections(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_unary_calls_replayed() {
    within_timeout(async {
        let (auth, server, oauth) = grpc_servers().await;
        let grpc = grpc_client(&oauth, &server).await;
        say(&mut grpc.clone(), "warm").await.expect("warm-up");
        auth.revoke_all();
        let calls = (0..20).map(|i| {
            let mut grpc = grpc.clone();
            async move { say(&mut grpc, &i.to_string()).await }
        });
        let mut replayed = 0;
        for result in join_all(calls).await {
            let response = result.expect("every call succeeds");
            if response.extensions().get::<ReplayOutcome>() == Some(&ReplayOutcome::Replayed) {
                replayed += 1;
            }
        }
        assert_eq!(auth.token_requests(), 2, "one replacement for all calls");
        let rejected = server.rejections();
        assert!(rejected >= 1, "the revoked token was seen");
        assert_eq!(
            oauth.stats().replays,
            rejected,
            "each rejected call replayed once"
        );
        assert_eq!(replayed, rejected, "replayed responses say so");
    })
    .await;
}

#[tokio::test]
async fn a_streaming_call_is_not_replayed_but_the_next_call_succeeds() {
    within_timeout(async {
        let (auth, server, oauth) = grpc_servers().await;
        let mut grpc = grpc_client(&oauth, &server).await;
        say(&mut grpc, "warm").await.expect("warm-up");
        auth.revoke_all();
        // Messages that are not ready when the call starts: a stream.
        let pings = futures_util::stream::unfold(0, |sent| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            (sent < 3).then(|| {
                (
                    Ping {
                        name: sent.to_string(),
                    },
                    sent + 1,
                )
            })
        });
        grpc.ready().await.expect("ready");
        let path = PathAndQuery::from_static("/demo.Echo/Collect");
        let streamed: Result<tonic::Response<Pong>, Status> = grpc
            .client_streaming(tonic::Request::new(pings), path, ProstCodec::default())
            .await;
        let status = streamed.expect_err("the revoked token is rejected");
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(oauth.stats().replays, 0, "a stream is not sent twice");
        assert_eq!(auth.token_requests(), 1, "replaced on the next call");

        say(&mut grpc, "after")
            .await
            .expect("the next call succeeds");
        assert_eq!(auth.token_requests(), 2);
        assert_eq!(server.rejections(), 1);
    })
    .await;
}

#[tokio::test]
async fn unauthenticated_in_the_trailers_replaces_the_token_once_for_the_next_call() {
    within_timeout(async {
        let (auth, server, oauth) = grpc_servers().await;
        let mut grpc = grpc_client(&oauth, &server).await;
        say(&mut grpc, "warm").await.expect("warm-up");
        auth.revoke_all();

        let (messages, status) = updates(&mut grpc, "stream").await;
        assert_eq!(
            messages,
            ["hello stream"],
            "the answer began before the status"
        );
        let status = status.expect("the trailers carry a status");
        assert_eq!(status.code(), Code::Unauthenticated, "the caller sees it");
        assert_eq!(
            oauth.stats().replays,
            0,
            "an answered call is not sent again"
        );
        assert_eq!(auth.token_requests(), 1, "retired, not fetched ahead");

        let pong = say(&mut grpc, "after")
            .await
            .expect("the next call succeeds");
        assert_eq!(
            pong.extensions().get::<ReplayOutcome>(),
            None,
            "not a replay"
        );
        let (messages, status) = updates(&mut grpc, "again").await;
        assert_eq!((messages.len(), status.map(|s| s.code())), (1, None));
        assert_eq!(auth.token_requests(), 2, "renewed exactly once");
        assert_eq!(server.rejections(), 1, "the new token was never refused");
    })
    .await;
}

#[tokio::test]
async fn concurrent_streams_refused_in_their_trailers_renew_the_token_once() {
    within_timeout(async {
        let (auth, server, oauth) = grpc_servers().await;
        let grpc = grpc_client(&oauth, &server).await;
        say(&mut grpc.clone(), "warm").await.expect("warm-up");
        auth.revoke_all();
        let streams = (0..10).map(|i| {
            let mut grpc = grpc.clone();
            async move { updates(&mut grpc, &i.to_string()).await }
        });
        for (_, status) in join_all(streams).await {
            assert_eq!(status.map(|s| s.code()), Some(Code::Unauthenticated));
        }
        let calls = (0..10).map(|i| {
            let mut grpc = grpc.clone();
            async move { say(&mut grpc, &i.to_string()).await }
        });
        for result in join_all(calls).await {
            result.expect("every later call succeeds");
        }
        assert_eq!(auth.token_requests(), 2, "one replacement for ten refusals");
        assert_eq!(server.rejections(), 10);
    })
    .await;
}

#[tokio::test]
async fn a_trailers_refusal_of_a_replacement_token_is_damped_like_any_rejection() {
    within_timeout(async {
        let (auth, server, oauth) = grpc_servers().await;
        let mut grpc = grpc_client(&oauth, &server).await;
        say(&mut grpc, "warm").await.expect("warm-up");
        auth.revoke_all();
        let (_, status) = updates(&mut grpc, "first").await;
        assert_eq!(status.map(|s| s.code()), Some(Code::Unauthenticated));
        say(&mut grpc, "replaced").await.expect("a new token");
        // The replacement is refused too: a new token would likely not
        // help, so the key enters its rejection cooldown instead.
        auth.revoke_all();
        let (_, status) = updates(&mut grpc, "second").await;
        assert_eq!(status.map(|s| s.code()), Some(Code::Unauthenticated));
        let refused = say(&mut grpc, "damped").await.expect_err("still refused");
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert_eq!(auth.token_requests(), 2, "no token request in the cooldown");
        let stats = oauth.stats();
        assert_eq!(stats.rejection_cooldowns, 1);
        assert_eq!(stats.replays, 0);
    })
    .await;
}

pub(crate) type Hyper = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

pub(crate) fn hyper_client(oauth: &OAuthMiddleware) -> OAuthService<Hyper> {
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    tower::Layer::layer(&oauth.layer(), hyper)
}

pub(crate) async fn json<B>(response: http::Response<B>) -> serde_json::Value
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    assert_eq!(response.status(), 200, "API call failed");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&body).expect("API answers JSON")
}

#[tokio::test]
async fn a_hyper_client_shares_the_token_with_reqwest() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        let mut hyper = hyper_client(&oauth);
        let request = http::Request::get(api.url("/things"))
            .body(Full::default())
            .expect("request");
        let response = hyper.call(request).await.expect("sent");
        assert_eq!(json(response).await["path"], "/things");
        echo(
            client(&oauth)
                .get(api.url("/other"))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(auth.token_requests(), 1, "one token for both clients");
    })
    .await;
}

#[tokio::test]
async fn a_hyper_post_is_replayed_with_its_body_after_revocation() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        oauth.token(oauth.default_key()).await.expect("warm");
        auth.revoke_all();
        let request = http::Request::post(api.url("/orders"))
            .body(Full::new(Bytes::from_static(b"order-1")))
            .expect("request");
        let response = hyper_client(&oauth).call(request).await.expect("sent");
        let outcome = response.extensions().get::<ReplayOutcome>().copied();
        assert_eq!(outcome, Some(ReplayOutcome::Replayed));
        assert_eq!(json(response).await["body"], "order-1");
        assert_eq!(auth.token_requests(), 2);
        assert_eq!(api.rejections(), 1);
    })
    .await;
}

#[tokio::test]
async fn plain_http_to_another_host_is_refused_and_relative_uris_need_an_origin() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        let mut hyper = hyper_client(&oauth);
        let request = http::Request::get("http://api.example.com/things")
            .body(Full::default())
            .expect("request");
        let error = hyper.call(request).await.expect_err("refused");
        let error = error.downcast_ref::<reqwest_oauth::Error>();
        assert!(matches!(
            error,
            Some(reqwest_oauth::Error::InsecureUrl { .. })
        ));
        let relative = http::Request::get("/things")
            .body(Full::default())
            .expect("request");
        let error = hyper.call(relative).await.expect_err("no origin");
        let error = error.downcast_ref::<reqwest_oauth::Error>();
        assert!(matches!(
            error,
            Some(reqwest_oauth::Error::InvalidUrl { .. })
        ));
        assert_eq!(auth.token_requests(), 0, "nothing fetched");
        assert_eq!(api.requests(), 0, "nothing sent");
    })
    .await;
}

fn stepping_up(auth: &AuthServer, on: bool) -> OAuthMiddleware {
    OAuthMiddleware::builder(grant(auth))
        .scope("read")
        .step_up(on)
        .build()
        .expect("config")
}

pub(crate) fn get(url: String) -> http::Request<Full<Bytes>> {
    http::Request::get(url)
        .body(Full::default())
        .expect("request")
}

#[tokio::test]
async fn a_hyper_request_is_stepped_up_on_insufficient_scope() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.require_scope(Some("read admin"));
        let oauth = stepping_up(&auth, true);
        let mut hyper = hyper_client(&oauth);
        let response = hyper.call(get(api.url("/"))).await.expect("sent");
        let outcome = response.extensions().get::<ReplayOutcome>().copied();
        assert_eq!(outcome, Some(ReplayOutcome::SteppedUp));
        assert_eq!(
            json(response).await["scope"],
            "read admin",
            "the union of the key's and the asked scope"
        );
        assert_eq!(
            auth.token_requests(),
            2,
            "the narrow token, then the wide one"
        );
        // The wide token is cached under its own key, shared with reqwest.
        let response = hyper.call(get(api.url("/"))).await.expect("sent");
        let outcome = response.extensions().get::<ReplayOutcome>().copied();
        assert_eq!(outcome, Some(ReplayOutcome::SteppedUp));
        assert_eq!(auth.token_requests(), 2);
        assert_eq!(oauth.cached_keys(), 1);
        let wide = reqwest_oauth::TokenRequest::new().with_scope("read admin");
        oauth.token(&wide).await.expect("cached");
        assert_eq!(auth.token_requests(), 2, "the middleware finds it too");
    })
    .await;
}

#[tokio::test]
async fn a_step_up_through_the_layer_is_never_repeated() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let api = common::api_always_wanting_scope("admin").await;
        let oauth = stepping_up(&auth, true);
        let response = hyper_client(&oauth)
            .call(get(api.uri()))
            .await
            .expect("sent");
        assert_eq!(response.status(), 403, "the replay's answer is final");
        let outcome = response.extensions().get::<ReplayOutcome>().copied();
        assert_eq!(outcome, Some(ReplayOutcome::SteppedUp));
        let received = api.received_requests().await.expect("recorded");
        assert_eq!(received.len(), 2, "the request and one stepped-up replay");
        let sent: Vec<_> = received
            .iter()
            .map(|request| request.headers.get("authorization").cloned())
            .collect();
        assert!(sent[0].is_some(), "the first try carried a token");
        assert_ne!(sent[0], sent[1], "the replay carried the wider one");
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn without_step_up_the_layer_returns_insufficient_scope_as_it_came() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.require_scope(Some("read admin"));
        let oauth = stepping_up(&auth, false);
        let response = hyper_client(&oauth)
            .call(get(api.url("/")))
            .await
            .expect("sent");
        assert_eq!(response.status(), 403);
        assert_eq!(response.extensions().get::<ReplayOutcome>(), None);
        assert_eq!(auth.token_requests(), 1);
        assert_eq!(api.requests(), 1);
    })
    .await;
}
