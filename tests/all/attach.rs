//! Behaviour 4: the bearer header is attached and marked sensitive; a request
//! that has its own Authorization header, or carries `SkipAuth`, is left alone.

use crate::common;

use std::sync::Arc;

use common::{echo, grant, servers, within_timeout};
use http::Extensions;
use parking_lot::Mutex;
use reqwest::{Request, Response};
use reqwest_middleware::{ClientBuilder, Middleware, Next};
use reqwest_oauth::{OAuthMiddleware, SkipAuth};

/// Records the Authorization header each request leaves the chain with.
#[derive(Clone, Default)]
struct SeenHeaders(Arc<Mutex<Vec<Option<http::HeaderValue>>>>);

#[async_trait::async_trait]
impl Middleware for SeenHeaders {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        self.0
            .lock()
            .push(req.headers().get(http::header::AUTHORIZATION).cloned());
        next.run(req, extensions).await
    }
}

#[tokio::test]
async fn attaches_a_sensitive_bearer_header() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        let seen = SeenHeaders::default();
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(oauth.clone())
            .with(seen.clone())
            .build();
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        let header = seen.0.lock()[0].clone().expect("an Authorization header");
        let token = oauth
            .token(oauth.default_key())
            .await
            .expect("cached token");
        assert_eq!(
            header.to_str().expect("ascii"),
            format!("Bearer {}", token.secret())
        );
        assert!(header.is_sensitive(), "the header is not marked sensitive");
        assert!(!format!("{header:?}").contains(token.secret()));
    })
    .await;
}

#[tokio::test]
async fn an_existing_authorization_header_is_left_alone() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let seen = SeenHeaders::default();
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(OAuthMiddleware::new(grant(&auth)))
            .with(seen.clone())
            .build();
        let response = client
            .get(api.url("/"))
            .header("authorization", "Bearer caller-chosen")
            .send()
            .await
            .expect("call");
        assert_eq!(
            response.status(),
            401,
            "the API should refuse the caller's token"
        );
        assert_eq!(
            seen.0.lock()[0].as_ref().map(|h| h.as_bytes().to_vec()),
            Some(b"Bearer caller-chosen".to_vec())
        );
        assert_eq!(auth.token_requests(), 0);
        assert_eq!(api.requests(), 1, "a caller's own 401 must not be replayed");
    })
    .await;
}

#[tokio::test]
async fn skip_auth_sends_the_request_untouched() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let seen = SeenHeaders::default();
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(OAuthMiddleware::new(grant(&auth)))
            .with(seen.clone())
            .build();
        let response = client
            .get(api.url("/health"))
            .with_extension(SkipAuth)
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 401);
        assert_eq!(seen.0.lock()[0], None);
        assert_eq!(auth.token_requests(), 0);
        assert_eq!(api.requests(), 1);
    })
    .await;
}
