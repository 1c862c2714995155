//! A tonic client whose calls carry OAuth 2.0 tokens from the same cache as a
//! reqwest client, against a gRPC server (defined below) that accepts only
//! live tokens of the testkit's authorization server. The second call meets
//! an expired token: the server answers `UNAUTHENTICATED`, the layer fetches
//! a new token and sends the call again, and the caller sees only the answer.
//!
//! Message types are plain Rust with `prost` derives, so no `protoc` is
//! needed.
//!
//! ```text
//! cargo run --example tonic --features tower,testkit
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::uri::PathAndQuery;
use reqwest_oauth::policy::ReplayOutcome;
use reqwest_oauth::testkit::AuthServer;
use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
use tonic::Status;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::transport::{Channel, Server};
use tonic_prost::ProstCodec;
use tower::{Service, ServiceBuilder};

#[derive(Clone, PartialEq, prost::Message)]
struct HelloRequest {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HelloReply {
    #[prost(string, tag = "1")]
    message: String,
}

/// The gRPC service `demo.Greeter` with one unary method, `SayHello`,
/// written by hand instead of generated.
#[derive(Clone)]
struct Greeter {
    auth: Arc<AuthServer>,
}

impl NamedService for Greeter {
    const NAME: &'static str = "demo.Greeter";
}

struct SayHello(Arc<AuthServer>);

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = BoxFuture<'static, Result<tonic::Response<HelloReply>, Status>>;

    fn call(&mut self, request: tonic::Request<HelloRequest>) -> Self::Future {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let valid = token.is_some_and(|token| self.0.is_valid(token));
        Box::pin(async move {
            if !valid {
                return Err(Status::unauthenticated("the access token expired"));
            }
            let message = format!("hello, {}", request.into_inner().name);
            Ok(tonic::Response::new(HelloReply { message }))
        })
    }
}

impl Service<http::Request<Body>> for Greeter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let auth = self.auth.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
            Ok(match request.uri().path() {
                "/demo.Greeter/SayHello" => grpc.unary(SayHello(auth), request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let auth = Arc::new(
        AuthServer::builder()
            .client("app", "secret")
            .start()
            .await?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin: http::Uri = format!("http://{}", listener.local_addr()?).parse()?;
    let server = Server::builder()
        .add_service(Greeter { auth: auth.clone() })
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);

    // One middleware: its layer and any reqwest client share its cache.
    let oauth = OAuthMiddleware::new(ClientCredentials::new(auth.token_url(), "app", "secret"));
    let channel = Channel::builder(origin.clone()).connect().await?;
    let channel = ServiceBuilder::new()
        // tonic sends only the path through the layers around a channel, so
        // the layer is told the origin; unary calls are small, so they are
        // kept (up to 64 KiB) to be sent again after a rejected token.
        .layer(
            oauth
                .layer()
                .origin(origin)
                .buffer_bodies(64 * 1024, Body::new),
        )
        .service(channel);
    let mut greeter = tonic::client::Grpc::new(channel);

    for name in ["first call", "after the token expired"] {
        greeter.ready().await?;
        let request = tonic::Request::new(HelloRequest { name: name.into() });
        let path = PathAndQuery::from_static("/demo.Greeter/SayHello");
        let reply: tonic::Response<HelloReply> =
            greeter.unary(request, path, ProstCodec::default()).await?;
        let replayed = reply.extensions().get::<ReplayOutcome>().is_some();
        println!("{} (replayed: {replayed})", reply.into_inner().message);
        // The server now treats every token issued so far as expired, while
        // the client's cache still holds one.
        auth.revoke_all();
    }
    println!("token requests: {}", auth.token_requests());
    Ok(())
}
