//! DPoP (RFC 9449) through the tower layer: a hyper client against the
//! testkit API, which checks every proof (signature, `htm`, `htu`, `iat`,
//! `jti`, `ath`, key binding, nonce), and a tonic client against a gRPC
//! server that has the same API judge each call's proof.

use crate::common;
use crate::tower::{Grpc, Ping, Pong, get, grpc_client_to, hyper_client, json, say};

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use common::{CLIENT_ID, CLIENT_SECRET, client, echo, servers, within_timeout};
use futures_util::future::BoxFuture;
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{Full, StreamBody};
use reqwest_oauth::dpop::DpopKey;
use reqwest_oauth::endpoint::{ClientIdentity, TokenEndpoint};
use reqwest_oauth::policy::{ReplayOutcome, SkipReason};
use reqwest_oauth::testkit::{ApiServer, AuthServer};
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware};
use serde_json::Value;
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic_prost::ProstCodec;
use tower::{Service, ServiceExt};

/// A middleware whose token endpoint binds tokens to `key`.
fn dpop_oauth(auth: &AuthServer, key: &DpopKey) -> OAuthMiddleware {
    let identity = ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET);
    let endpoint = TokenEndpoint::new(auth.token_url(), identity).dpop(key.clone());
    OAuthMiddleware::new(ClientCredentials::at(endpoint))
}

fn claims(proof: &http::HeaderValue) -> Value {
    let proof = proof.to_str().expect("ASCII");
    let segment = proof.split('.').nth(1).expect("claims");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("json")
}

fn outcome<B>(response: &http::Response<B>) -> Option<ReplayOutcome> {
    response.extensions().get::<ReplayOutcome>().copied()
}

#[tokio::test]
async fn a_hyper_client_sends_a_bound_token_with_a_fresh_proof_the_api_checks() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let key = DpopKey::generate().expect("key");
        let oauth = dpop_oauth(&auth, &key);
        let mut hyper = hyper_client(&oauth);
        // Each call is accepted only with a proof for its method and URL
        // (no query), this token's hash, and a `jti` never seen before.
        for _ in 0..3 {
            let response = hyper
                .call(get(api.url("/things?page=2")))
                .await
                .expect("sent");
            assert_eq!(json(response).await["path"], "/things");
        }
        let post = http::Request::post(api.url("/orders"))
            .body(Full::new(Bytes::from_static(b"order-1")))
            .expect("request");
        let response = hyper.call(post).await.expect("sent");
        assert_eq!(json(response).await["body"], "order-1");
        let token = oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(token.token_type(), "DPoP");
        assert_eq!(
            auth.dpop_jkt(token.secret()).as_deref(),
            Some(key.thumbprint())
        );
        assert_eq!(auth.tokens_issued(), 1);
        assert_eq!(api.rejections(), 0);
    })
    .await;
}

#[tokio::test]
async fn the_middleware_and_the_layer_share_one_bound_token() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = dpop_oauth(&auth, &DpopKey::generate().expect("key"));
        let response = hyper_client(&oauth)
            .call(get(api.url("/via-tower")))
            .await
            .expect("sent");
        assert_eq!(json(response).await["path"], "/via-tower");
        let http = client(&oauth);
        let answer = http.get(api.url("/via-reqwest")).send().await;
        assert_eq!(echo(answer.expect("sent")).await["path"], "/via-reqwest");
        assert_eq!(auth.token_requests(), 1, "one bound token for both");
        assert_eq!(api.rejections(), 0, "each stack proved its own requests");
    })
    .await;
}

#[tokio::test]
async fn a_proof_names_the_method_the_layers_origin_for_a_path_and_no_query() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let key = DpopKey::generate().expect("key");
        let oauth = dpop_oauth(&auth, &key);
        // The inner service records what the layer sent, and answers 200.
        let seen = Arc::new(Mutex::new(Vec::<http::HeaderMap>::new()));
        let record = seen.clone();
        let inner = tower::service_fn(move |request: http::Request<String>| {
            record
                .lock()
                .expect("not poisoned")
                .push(request.headers().clone());
            std::future::ready(Ok::<_, Infallible>(http::Response::new(String::new())))
        });
        let origin = http::Uri::from_static("https://grpc.example.com");
        let mut service = tower::Layer::layer(&oauth.layer().origin(origin), inner);
        let requests = [
            http::Request::post("/demo.Echo/Say?trace=1"),
            http::Request::get("https://api.example.com/a/b?secret=1"),
        ];
        for request in requests {
            let request = request.body(String::new()).expect("request");
            let ready = service.ready().await.expect("ready");
            let response = ready.call(request).await.expect("answered");
            assert_eq!(response.status(), 200);
        }
        let token = oauth.token(oauth.default_key()).await.expect("token");
        let ath = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.secret().as_bytes());
        let seen = seen.lock().expect("not poisoned");
        let proofs: Vec<Value> = seen
            .iter()
            .map(|headers| claims(&headers["dpop"]))
            .collect();
        for headers in seen.iter() {
            assert_eq!(headers["authorization"], format!("DPoP {}", token.secret()));
        }
        assert_eq!(proofs[0]["htm"], "POST");
        assert_eq!(proofs[0]["htu"], "https://grpc.example.com/demo.Echo/Say");
        assert_eq!(proofs[1]["htm"], "GET");
        assert_eq!(proofs[1]["htu"], "https://api.example.com/a/b");
        for proof in &proofs {
            assert_eq!(proof["ath"], URL_SAFE_NO_PAD.encode(ath.as_ref()));
        }
        assert_ne!(proofs[0]["jti"], proofs[1]["jti"], "a fresh proof each");
    })
    .await;
}

#[tokio::test]
async fn a_nonce_request_through_the_layer_costs_one_replay_with_the_same_token() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = dpop_oauth(&auth, &DpopKey::generate().expect("key"));
        let mut hyper = hyper_client(&oauth);
        // The first call's token is fetched for it: still replayed, since
        // the token was fine and only the proof lacked the nonce.
        api.require_dpop_nonce(Some("n-1"));
        let response = hyper.call(get(api.url("/"))).await.expect("sent");
        assert_eq!(outcome(&response), Some(ReplayOutcome::DpopNonce));
        json(response).await;
        assert_eq!(api.requests(), 2, "use_dpop_nonce, then the replay");
        let response = hyper.call(get(api.url("/"))).await.expect("sent");
        assert_eq!(outcome(&response), None, "the nonce was remembered");
        json(response).await;
        assert_eq!(api.requests(), 3);
        // The API rotates its nonce: one replay again.
        api.require_dpop_nonce(Some("n-2"));
        let response = hyper.call(get(api.url("/"))).await.expect("sent");
        assert_eq!(outcome(&response), Some(ReplayOutcome::DpopNonce));
        json(response).await;
        assert_eq!(api.requests(), 5);
        let stats = oauth.stats();
        assert_eq!(stats.dpop_nonce_replays, 2);
        assert_eq!(stats.replays, 0, "no token was refused");
        assert_eq!(auth.token_requests(), 1, "never a new token for a nonce");
    })
    .await;
}

type Streamed = BoxBody<Bytes, Infallible>;

#[tokio::test]
async fn a_streaming_body_is_not_replayed_for_a_nonce_but_the_next_call_carries_it() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = dpop_oauth(&auth, &DpopKey::generate().expect("key"));
        // Cached, so the body is judged in `call`, before any of it exists.
        oauth.token(oauth.default_key()).await.expect("token");
        let hyper =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Streamed>();
        let layer = oauth.layer().buffer_bodies(1024, BoxBody::new);
        let mut service = tower::Layer::layer(&layer, hyper);
        api.require_dpop_nonce(Some("n-1"));
        let (send, chunk) = tokio::sync::oneshot::channel::<Bytes>();
        let frames = futures_util::stream::once(async move {
            Ok::<_, Infallible>(Frame::data(chunk.await.unwrap_or_default()))
        });
        let request = http::Request::post(api.url("/upload"))
            .body(BoxBody::new(StreamBody::new(frames)))
            .expect("request");
        let answer = service.call(request);
        send.send(Bytes::from_static(b"chunk")).expect("body open");
        let refused = answer.await.expect("answered");
        assert_eq!(refused.status(), 401, "the nonce request itself");
        assert_eq!(
            outcome(&refused),
            Some(ReplayOutcome::Skipped(SkipReason::StreamingBody))
        );
        assert_eq!(oauth.stats().dpop_nonce_replays, 0, "a stream is sent once");

        let whole = BoxBody::new(Full::new(Bytes::from_static(b"whole")));
        let request = http::Request::post(api.url("/upload"))
            .body(whole)
            .expect("request");
        let response = service.call(request).await.expect("sent");
        assert_eq!(outcome(&response), None, "the nonce was remembered");
        assert_eq!(json(response).await["body"], "whole");
        assert_eq!(api.requests(), 2);
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_api_refusing_the_proof_through_the_layer_is_the_typed_error_and_renews_nothing() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = dpop_oauth(&auth, &DpopKey::generate().expect("key"));
        let mut hyper = hyper_client(&oauth);
        json(hyper.call(get(api.url("/"))).await.expect("sent")).await;
        // The API's clock is ten minutes fast: every proof is too old.
        api.set_dpop_clock_offset(600);
        let error = hyper
            .call(get(api.url("/orders?page=1")))
            .await
            .expect_err("refused");
        let error = error.downcast_ref::<Error>().expect("the crate's error");
        crate::common::assert_proof_refused_for_its_time(error, &api.origin());
        assert_eq!(auth.token_requests(), 1, "a refused proof renews no token");
        assert_eq!(api.requests(), 2, "and replays nothing");
        assert_eq!(oauth.stats().replays, 0);
        // The clock put right, the same token works.
        api.set_dpop_clock_offset(0);
        json(hyper.call(get(api.url("/"))).await.expect("sent")).await;
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_revoked_bound_token_is_renewed_and_replayed_with_a_new_proof() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = dpop_oauth(&auth, &DpopKey::generate().expect("key"));
        let mut hyper = hyper_client(&oauth);
        json(hyper.call(get(api.url("/"))).await.expect("sent")).await;
        auth.revoke_all();
        let post = http::Request::post(api.url("/orders"))
            .body(Full::new(Bytes::from_static(b"order-2")))
            .expect("request");
        let response = hyper.call(post).await.expect("sent");
        // `DPoP error="invalid_token"` is a refused token: a new one, and
        // the replay's proof is new too (the API refuses a `jti` twice).
        assert_eq!(outcome(&response), Some(ReplayOutcome::Replayed));
        assert_eq!(json(response).await["body"], "order-2");
        assert_eq!(auth.tokens_issued(), 2);
        assert_eq!(api.rejections(), 1);
        assert_eq!(oauth.stats().replays, 1);
    })
    .await;
}

/// A gRPC service `demo.Echo` (unary `Say`) that has the testkit API judge
/// each call's DPoP proof: the call's token and proof go to the API with
/// the call's method, path and authority, so the API checks the proof
/// against this server's URL. A refusal comes back as `UNAUTHENTICATED`
/// with the API's challenge and nonce in the metadata, as a gRPC server
/// checking proofs itself would answer.
#[derive(Clone)]
struct ProvingEcho {
    api: String,
    http: reqwest::Client,
}

impl NamedService for ProvingEcho {
    const NAME: &'static str = "demo.Echo";
}

/// What the API needs of a call to judge its proof.
struct Presented {
    authority: String,
    path: String,
    credentials: Vec<(&'static str, http::HeaderValue)>,
}

impl Presented {
    fn of(request: &http::Request<Body>) -> Self {
        let authority = request.uri().authority().map(ToString::to_string);
        let credentials = ["authorization", "dpop"]
            .into_iter()
            .filter_map(|name| Some((name, request.headers().get(name)?.clone())))
            .collect();
        Presented {
            authority: authority.unwrap_or_default(),
            path: request.uri().path().to_owned(),
            credentials,
        }
    }
}

impl ProvingEcho {
    async fn judge(&self, call: Presented) -> Result<(), Status> {
        let mut forward = self
            .http
            .post(format!("{}{}", self.api, call.path))
            .header(http::header::HOST, call.authority);
        for (name, value) in call.credentials {
            forward = forward.header(name, value);
        }
        let answer = forward
            .send()
            .await
            .map_err(|error| Status::unavailable(error.to_string()))?;
        if answer.status().is_success() {
            return Ok(());
        }
        let mut status = Status::unauthenticated("the proof was refused");
        for name in ["www-authenticate", "dpop-nonce"] {
            let value = answer.headers().get(name).and_then(|v| v.to_str().ok());
            if let Some(value) = value.and_then(|v| v.parse().ok()) {
                status.metadata_mut().insert(name, value);
            }
        }
        Err(status)
    }
}

struct Hello;

impl tonic::server::UnaryService<Ping> for Hello {
    type Response = Pong;
    type Future = std::future::Ready<Result<tonic::Response<Pong>, Status>>;

    fn call(&mut self, request: tonic::Request<Ping>) -> Self::Future {
        let message = format!("hello {}", request.into_inner().name);
        std::future::ready(Ok(tonic::Response::new(Pong { message })))
    }
}

impl Service<http::Request<Body>> for ProvingEcho {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let echo = self.clone();
        let presented = Presented::of(&request);
        Box::pin(async move {
            if let Err(status) = echo.judge(presented).await {
                return Ok(status.into_http());
            }
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Pong, Ping>::default());
            Ok(grpc.unary(Hello, request).await)
        })
    }
}

/// Starts a [`ProvingEcho`] for `api` on 127.0.0.1; its origin, and the
/// task serving it (aborted when dropped).
async fn proving_server(api: &ApiServer) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let origin = format!("http://{}", listener.local_addr().expect("bound"));
    let echo = ProvingEcho {
        api: api.origin(),
        http: reqwest::Client::new(),
    };
    let server = tonic::transport::Server::builder()
        .add_service(echo)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    let task = tokio::spawn(async move {
        server.await.expect("gRPC server runs");
    });
    (origin, task)
}

async fn say_ok(grpc: &mut Grpc, name: &str) -> tonic::Response<Pong> {
    say(grpc, name).await.expect("the call succeeds")
}

#[tokio::test]
async fn a_tonic_call_proves_its_path_on_the_layers_origin_and_a_nonce_costs_one_replay() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let (origin, server) = proving_server(&api).await;
        let oauth = dpop_oauth(&auth, &DpopKey::generate().expect("key"));
        let mut grpc = grpc_client_to(&oauth, &origin).await;
        let pong = say_ok(&mut grpc, "tonic").await;
        assert_eq!(pong.into_inner().message, "hello tonic");
        assert_eq!(api.requests(), 1, "the API judged the call's proof");
        assert_eq!(api.rejections(), 0);
        // The nonce request comes as gRPC UNAUTHENTICATED with the DPoP
        // challenge in its metadata: the unary call (buffered) is sent
        // once more with the nonce, the same token.
        api.require_dpop_nonce(Some("g-1"));
        let pong = say_ok(&mut grpc, "again").await;
        let outcome = pong.extensions().get::<ReplayOutcome>().copied();
        assert_eq!(outcome, Some(ReplayOutcome::DpopNonce));
        assert_eq!(pong.into_inner().message, "hello again");
        assert_eq!(api.requests(), 3);
        let stats = oauth.stats();
        assert_eq!((stats.dpop_nonce_replays, stats.replays), (1, 0));
        assert_eq!(auth.token_requests(), 1);
        server.abort();
    })
    .await;
}
