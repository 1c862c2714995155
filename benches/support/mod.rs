//! What the benches share: the baseline middlewares, an in-process token
//! source, and the ratio report read back from criterion's own estimates.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{Extensions, HeaderValue};
use parking_lot::RwLock;
use reqwest::{Request, Response};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use reqwest_oauth::{Error, FetchContext, Token, TokenSource};

/// The URL every in-process bench request goes to; nothing listens there.
pub const URL: &str = "http://127.0.0.1:9/things";

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
            let response = http::Response::builder()
                .status(401)
                .header(WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#)
                .body(Vec::new())
                .map_err(reqwest_middleware::Error::middleware)?;
            return Ok(response.into());
        }
        Ok(http::Response::new(Vec::new()).into())
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

/// The common design (Go's `ReuseTokenSource`): one async mutex around the
/// cached token, taken on every request.
pub struct MutexCache(pub tokio::sync::Mutex<Option<(HeaderValue, Instant)>>);

#[async_trait::async_trait]
impl Middleware for MutexCache {
    async fn handle(
        &self,
        mut req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let header = {
            let mut cached = self.0.lock().await;
            match cached.as_ref() {
                Some((header, until)) if Instant::now() < *until => header.clone(),
                _ => {
                    let header = bearer_header("mutex-token");
                    *cached = Some((header.clone(), Instant::now() + Duration::from_secs(3600)));
                    header
                }
            }
        };
        req.headers_mut().insert(AUTHORIZATION, header);
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

pub fn request() -> Request {
    Request::new(http::Method::GET, URL.parse().expect("valid URL"))
}

/// Criterion's estimate (ns per iteration) for `group/id` from this run:
/// the slope where criterion fitted one, else the mean, as it prints.
pub fn estimate_ns(group: &str, id: &str) -> Option<f64> {
    let root = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/criterion"));
    let path = root.join(group).join(id).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| json["mean"]["point_estimate"].as_f64())
}

/// One line of a ratio report: a measured benchmark over its baseline.
pub struct Ratio {
    pub name: &'static str,
    /// `(group, id)` of the measured benchmark.
    pub measured: (&'static str, &'static str),
    /// `(group, id)` of the baseline from the same run.
    pub baseline: (&'static str, &'static str),
    pub target: &'static str,
}

/// Prints `name: measured / baseline = ratio (target …)` for each line.
pub fn report(title: &str, rows: &[Ratio]) {
    println!("\n== {title}");
    for row in rows {
        let measured = estimate_ns(row.measured.0, row.measured.1);
        let baseline = estimate_ns(row.baseline.0, row.baseline.1);
        match (measured, baseline) {
            (Some(a), Some(b)) => println!(
                "{}: {a:.0} ns / {b:.0} ns = {ratio:.3} (target {})",
                row.name,
                row.target,
                ratio = a / b
            ),
            _ => println!("{}: not measured in this run", row.name),
        }
    }
}
