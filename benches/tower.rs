//! The tower layer's cached path against a tower layer that inserts one
//! pre-built header, both around a service that answers at once (no
//! socket), on one thread.
//!
//! `cargo bench --bench tower --features tower` times them in interleaved
//! rounds (`BENCH_ROUNDS=N`). For an instruction count, which does not
//! drift with load:
//!
//! ```text
//! cargo bench --bench tower --features tower --no-run   # prints the binary path
//! CHAIN=oauth REQUESTS=11000 valgrind --tool=callgrind target/release/deps/tower-…
//! ```
//!
//! `CHAIN` is `static_header`, `oauth` (full URIs) or `oauth_origin` (the
//! layer's origin set, as with tonic); per-request cost is the difference
//! between runs of 11,000 and 1,000 requests, / 10,000.

mod support;

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Empty;
use reqwest_oauth::OAuthMiddleware;
use reqwest_oauth::tower::OAuthBody;
use support::rounds::{System, interleave, per_unit, rounds};
use support::{CountingSource, URL, bearer_header};
use tower::util::BoxCloneService;
use tower::{Service, ServiceBuilder, ServiceExt};

type Boxed<R> = BoxCloneService<Request<Empty<Bytes>>, Response<R>, tower::BoxError>;

/// Each stack boxed the same way; the layer's responses carry its body
/// wrapper, so the two have different response types.
enum Stack {
    Static(Boxed<Empty<Bytes>>),
    OAuth(Boxed<OAuthBody<Empty<Bytes>>>),
}

impl Stack {
    /// `requests` requests one after the other; the match is outside the
    /// loop, so each request's code is the same as with one stack type.
    async fn send(&mut self, requests: usize) {
        match self {
            Stack::Static(service) => {
                for _ in 0..requests {
                    send(service).await;
                }
            }
            Stack::OAuth(service) => {
                for _ in 0..requests {
                    send(service).await;
                }
            }
        }
    }
}

/// The innermost service: answers 200 without a socket, so the figures are
/// the layers' cost only.
#[derive(Clone, Copy)]
struct Terminal;

impl Service<Request<Empty<Bytes>>> for Terminal {
    type Response = Response<Empty<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Empty<Bytes>>) -> Self::Future {
        std::future::ready(Ok(Response::new(Empty::new())))
    }
}

fn stack(rt: &tokio::runtime::Runtime, name: &str) -> Stack {
    match name {
        "static_header" => {
            let header = bearer_header("static");
            let layer = ServiceBuilder::new().map_request(move |mut request: Request<_>| {
                request.headers_mut().insert(AUTHORIZATION, header.clone());
                request
            });
            Stack::Static(BoxCloneService::new(
                layer.service(Terminal).map_err(tower::BoxError::from),
            ))
        }
        "oauth" | "oauth_origin" => {
            let oauth = OAuthMiddleware::new(CountingSource::default());
            rt.block_on(oauth.token(oauth.default_key()))
                .expect("warm cache");
            let layer = match name {
                "oauth" => oauth.layer(),
                _ => oauth
                    .layer()
                    .origin(http::Uri::from_static("http://127.0.0.1:9")),
            };
            Stack::OAuth(BoxCloneService::new(
                ServiceBuilder::new().layer(layer).service(Terminal),
            ))
        }
        other => panic!("unknown CHAIN {other:?}"),
    }
}

fn request() -> Request<Empty<Bytes>> {
    Request::get(URL).body(Empty::new()).expect("request")
}

async fn send<R>(service: &mut Boxed<R>) {
    let response = service.ready().await.expect("ready").call(request()).await;
    assert_eq!(response.expect("answered").status(), 200);
}

const CHAINS: [&str; 3] = ["static_header", "oauth", "oauth_origin"];

/// Requests per batch; each round times one batch of every stack.
const BATCH: usize = 2_000;

fn one_thread(rt: &tokio::runtime::Runtime) {
    let systems = CHAINS
        .iter()
        .map(|&name| {
            let mut service = stack(rt, name);
            System::new(name, move || {
                rt.block_on(async {
                    let start = std::time::Instant::now();
                    service.send(BATCH).await;
                    per_unit(start.elapsed(), BATCH)
                })
            })
        })
        .collect();
    let samples = interleave(rounds(41), 3, systems);
    samples.print(
        "tower layer, cached path, one thread",
        "/req",
        "static_header",
    );
    let target = "the middleware's bound";
    samples.ratio(
        "OAuthLayer (full URI) / static header",
        "oauth",
        "static_header",
        target,
    );
    samples.ratio(
        "OAuthLayer (origin set) / static header",
        "oauth_origin",
        "static_header",
        target,
    );
}

/// A fixed number of requests through one stack, for callgrind.
fn drive(rt: &tokio::runtime::Runtime, name: &str, requests: usize) {
    let mut service = stack(rt, name);
    rt.block_on(service.send(requests));
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(name) = std::env::var("CHAIN") {
        let requests = std::env::var("REQUESTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000);
        return drive(&rt, &name, requests);
    }
    one_thread(&rt);
}
