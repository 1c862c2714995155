//! What the benches share: the floor, the canned terminal, an in-process
//! token source, the peers (`peers.rs`) and the interleaved timing harness
//! (`rounds.rs`).
#![allow(dead_code)]

pub mod peers;
pub mod rounds;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Extensions, HeaderValue};
use parking_lot::RwLock;
use reqwest::{Request, Response, ResponseBuilderExt};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use reqwest_oauth::{Error, FetchContext, Token, TokenSource};

/// The URL every in-process bench request goes to; nothing listens there.
pub const URL: &str = "http://127.0.0.1:9/things";

/// Parsed once: a request costs every system the same `Url` clone, and no
/// system pays for URL parsing (which would inflate the floor by ~5,000
/// instructions and flatter every ratio).
static PREBUILT_URL: LazyLock<reqwest::Url> = LazyLock::new(|| URL.parse().expect("valid URL"));

/// The last middleware of every in-process chain: answers 200 without a
/// socket, so the benches measure middleware cost only. Answers 401 to the
/// token it was told to reject (for the expiry wave).
#[derive(Default)]
pub struct Terminal {
    rejected: RwLock<Option<HeaderValue>>,
    pub rejections: AtomicU64,
}

impl Terminal {
    pub fn reject(&self, header: HeaderValue) {
        *self.rejected.write() = Some(header);
    }
}

#[async_trait::async_trait]
impl Middleware for Terminal {
    async fn handle(
        &self,
        req: Request,
        _: &mut Extensions,
        _: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let rejected = self.rejected.read().clone();
        if rejected.is_some() && req.headers().get(AUTHORIZATION) == rejected.as_ref() {
            self.rejections.fetch_add(1, Ordering::Relaxed);
            // The request's URL, as a real client's response carries it: a
            // rejection from elsewhere (a redirect target) is not ours.
            let response = http::Response::builder()
                .url(req.url().clone())
                .status(401)
                .header(WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#)
                .body(Vec::new())
                .map_err(reqwest_middleware::Error::middleware)?;
            return Ok(response.into());
        }
        // Carrying the request's URL, as a real client's response does:
        // without one, reqwest parses a placeholder URL for every response
        // (~2,600 instructions that would inflate the floor).
        let response = http::Response::builder()
            .url(req.url().clone())
            .body(Vec::new())
            .map_err(reqwest_middleware::Error::middleware)?;
        Ok(response.into())
    }
}

/// The floor: one pre-built, sensitive header inserted.
pub struct StaticBearer(pub HeaderValue);

#[async_trait::async_trait]
impl Middleware for StaticBearer {
    async fn handle(
        &self,
        mut req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        req.headers_mut().insert(AUTHORIZATION, self.0.clone());
        next.run(req, ext).await
    }
}

pub fn bearer_header(token: &str) -> HeaderValue {
    let mut header = HeaderValue::try_from(format!("Bearer {token}")).expect("valid header");
    header.set_sensitive(true);
    header
}

/// Issues numbered one-hour tokens in process, after an optional delay.
#[derive(Default)]
pub struct CountingSource {
    pub issued: AtomicU64,
    pub delay: Duration,
    pub token_len: usize,
}

impl TokenSource for CountingSource {
    async fn fetch(&self, _: FetchContext<'_>) -> Result<Token, Error> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let mut token = format!("token-{n}-");
        while token.len() < self.token_len.max(token.len()) {
            token.push('x');
        }
        Ok(Token::bearer(token)?.with_expires_in(Duration::from_secs(3600)))
    }
}

pub fn chain(
    middleware: Option<Arc<dyn Middleware>>,
    terminal: Arc<Terminal>,
) -> ClientWithMiddleware {
    let mut builder = ClientBuilder::new(reqwest::Client::new());
    if let Some(middleware) = middleware {
        builder = builder.with_arc(middleware);
    }
    builder.with_arc(terminal).build()
}

/// Sends `requests` requests through `client` at once, each in its own
/// task, and checks every answer is a 200.
pub async fn send_all(client: ClientWithMiddleware, requests: usize) {
    let client = Arc::new(client);
    let tasks: Vec<_> = (0..requests)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.execute(request()).await.map(|r| r.status()) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("no panic").expect("request"), 200);
    }
}

pub fn request() -> Request {
    Request::new(http::Method::GET, PREBUILT_URL.clone())
}
