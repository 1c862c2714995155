//! Behaviour 5: an expired-token 401 invalidates that token (only if still
//! cached), fetches once, and replays the request once, unchanged.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::hold_first::HoldFirst;
use common::{client, echo, grant, servers, within_timeout};
use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{ClientBuilder, Middleware, Next};
use reqwest_oauth::OAuthMiddleware;
use reqwest_oauth::policy::{ReplayOutcome, ReplayPolicy};
use reqwest_oauth::testkit::{ApiServer, AuthServer, RejectionStyle};

/// Warms the cache, then makes the API reject the cached token.
async fn with_stale_token(oauth: &OAuthMiddleware, auth: &AuthServer) {
    oauth
        .token(oauth.default_key())
        .await
        .expect("warm-up token");
    auth.revoke_all();
}

#[tokio::test]
async fn an_rfc6750_invalid_token_401_is_recovered_by_one_replay() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        with_stale_token(&oauth, &auth).await;
        echo(client(&oauth).get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.token_requests(), 2);
        assert_eq!(api.requests(), 2, "one rejected request, one replay");
        assert_eq!(api.rejections(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_json_token_expired_401_without_www_authenticate_is_recovered() {
    within_timeout(async {
        let (auth, _) = servers().await;
        let api = ApiServer::builder(&auth)
            .rejection_style(RejectionStyle::JsonBody)
            .start()
            .await
            .expect("api");
        let oauth = OAuthMiddleware::new(grant(&auth));
        with_stale_token(&oauth, &auth).await;
        echo(client(&oauth).get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(auth.token_requests(), 2);
        assert_eq!(api.rejections(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_401_naming_another_bearer_error_is_returned_as_is() {
    within_timeout(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .respond_with(
                wiremock::ResponseTemplate::new(401)
                    .insert_header("www-authenticate", r#"Bearer error="invalid_request""#),
            )
            .mount(&server)
            .await;
        let (auth, _) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        oauth.token(oauth.default_key()).await.expect("warm-up");
        let response = client(&oauth).get(server.uri()).send().await.expect("call");
        assert_eq!(response.status(), 401);
        assert_eq!(
            auth.token_requests(),
            1,
            "not a token problem, yet a token was fetched"
        );
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
    })
    .await;
}

#[tokio::test]
async fn the_replay_keeps_method_headers_and_body() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        with_stale_token(&oauth, &auth).await;
        let response = client(&oauth)
            .patch(api.url("/orders/7"))
            .header("x-test", "kept")
            .body("{\"qty\":3}")
            .send()
            .await
            .expect("call");
        let echoed = echo(response).await;
        assert_eq!(echoed["method"], "PATCH");
        assert_eq!(echoed["path"], "/orders/7");
        assert_eq!(echoed["x-test"], "kept");
        assert_eq!(echoed["body"], "{\"qty\":3}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_requests_rejected_with_the_same_token_make_one_new_token_request() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        with_stale_token(&oauth, &auth).await;
        auth.set_delay(Duration::from_millis(100));
        // Every request leaves with the stale token before any 401 returns.
        let client = Arc::new(
            ClientBuilder::new(reqwest::Client::new())
                .with(oauth.clone())
                .with(HoldFirst::new(500))
                .build(),
        );
        let tasks: Vec<_> = (0..500)
            .map(|_| {
                let (client, url) = (client.clone(), api.url("/"));
                tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("no panic").expect("request"), 200);
        }
        assert_eq!(
            auth.token_requests(),
            2,
            "the warm-up and exactly one renewal"
        );
        assert_eq!(api.rejections(), 500);
        assert_eq!(api.requests(), 1000);
    })
    .await;
}

/// Between our middleware and the network: on the first request only,
/// renews the cached token while the request still carries the old one, as
/// a concurrent request would.
struct RenewMeanwhile(OAuthMiddleware, AtomicUsize);

#[async_trait::async_trait]
impl Middleware for RenewMeanwhile {
    async fn handle(
        &self,
        req: Request,
        ext: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
            self.0.invalidate(self.0.default_key());
            self.0
                .token(self.0.default_key())
                .await
                .map_err(reqwest_middleware::Error::middleware)?;
        }
        next.run(req, ext).await
    }
}

#[tokio::test]
async fn a_newer_cached_token_is_used_for_the_replay_without_fetching() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        with_stale_token(&oauth, &auth).await;
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(oauth.clone())
            .with(RenewMeanwhile(oauth.clone(), AtomicUsize::new(0)))
            .build();
        // The request goes out with the revoked token; the renewal in between
        // caches a good one, which the replay must reuse (and must not drop).
        let first = client.get(api.url("/")).send().await.expect("call");
        assert_eq!(first.status(), 200);
        assert_eq!(
            auth.token_requests(),
            2,
            "warm-up + the renewal in between; no third fetch"
        );
        assert_eq!(api.rejections(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_second_401_goes_back_to_the_caller() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        oauth.token(oauth.default_key()).await.expect("warm-up");
        api.reject_all(true);
        let response = client(&oauth).get(api.url("/")).send().await.expect("call");
        assert_eq!(response.status(), 401);
        assert_eq!(api.requests(), 2, "the request and exactly one replay");
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_token_fetched_for_this_request_is_not_renewed_for_it() {
    within_timeout(async {
        let (auth, api) = servers().await;
        api.reject_all(true);
        let response = client(&OAuthMiddleware::new(grant(&auth)))
            .get(api.url("/"))
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 401);
        assert_eq!(api.requests(), 1);
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn idempotent_only_does_not_replay_a_post_but_still_forgets_the_token() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::builder(grant(&auth))
            .replay(ReplayPolicy::IdempotentOnly)
            .build()
            .expect("config");
        with_stale_token(&oauth, &auth).await;
        let client = client(&oauth);
        let post = client
            .post(api.url("/"))
            .body("x")
            .send()
            .await
            .expect("call");
        assert_eq!(post.status(), 401);
        assert_eq!(api.requests(), 1, "a POST was replayed");
        echo(
            client
                .put(api.url("/"))
                .body("x")
                .send()
                .await
                .expect("call"),
        )
        .await;
        assert_eq!(auth.token_requests(), 2, "the rejected token was kept");
        assert_eq!(api.rejections(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_streaming_body_is_not_replayed_and_the_token_is_still_forgotten() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        with_stale_token(&oauth, &auth).await;
        let client = client(&oauth);
        let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("a"), Ok("b")];
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let response = client
            .post(api.url("/"))
            .body(body)
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 401);
        assert_eq!(api.requests(), 1);
        assert_eq!(auth.token_requests(), 1);
        echo(client.get(api.url("/")).send().await.expect("call")).await;
        assert_eq!(
            auth.token_requests(),
            2,
            "the rejected token was still cached"
        );
    })
    .await;
}

#[tokio::test]
async fn a_replayed_request_without_a_body_keeps_method_path_and_headers() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(grant(&auth));
        with_stale_token(&oauth, &auth).await;
        let response = client(&oauth)
            .delete(api.url("/orders/9?force=1"))
            .header("x-test", "kept")
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("call");
        let echoed = echo(response).await;
        assert_eq!(echoed["method"], "DELETE");
        assert_eq!(echoed["path"], "/orders/9");
        assert_eq!(echoed["x-test"], "kept");
        assert_eq!(api.rejections(), 1, "the request was not replayed");
    })
    .await;
}

/// A source that hands out `t1`, `t2`, … one per fetch.
fn numbered_tokens() -> impl reqwest_oauth::TokenSource {
    let issued = Arc::new(AtomicUsize::new(0));
    reqwest_oauth::source_fn(move |_key| {
        let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
        async move { reqwest_oauth::Token::bearer(format!("t{n}")) }
    })
}

/// An API on wiremock that rejects `Bearer t1` as expired at `path` and
/// answers 200 to any other token.
async fn rejects_the_first_token(server: &wiremock::MockServer, path: &str) {
    use wiremock::matchers::{header, path as at};
    wiremock::Mock::given(at(path))
        .and(header("authorization", "Bearer t1"))
        .respond_with(
            wiremock::ResponseTemplate::new(401)
                .insert_header("www-authenticate", r#"Bearer error="invalid_token""#),
        )
        .mount(server)
        .await;
    wiremock::Mock::given(at(path))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_long_url_and_its_headers_are_replayed_exactly() {
    // Short URLs are kept inline for the replay, long ones on the heap:
    // both must come back byte for byte.
    within_timeout(async {
        let server = wiremock::MockServer::start().await;
        rejects_the_first_token(&server, "/things").await;
        let oauth = OAuthMiddleware::new(numbered_tokens());
        oauth.token(oauth.default_key()).await.expect("warm-up");
        let query = format!("q={}&%C3%A9=%20x", "long".repeat(100));
        let url = format!("{}/things?{query}", server.uri());
        let response = client(&oauth)
            .get(&url)
            .header("x-request-id", "abc-123")
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 200);
        let seen = server.received_requests().await.expect("recorded");
        assert_eq!(seen.len(), 2, "one rejected request, one replay");
        for request in &seen {
            assert_eq!(request.url.path(), "/things", "the replay went elsewhere");
            assert_eq!(request.url.query(), Some(query.as_str()));
            assert_eq!(request.headers["x-request-id"], "abc-123");
        }
        assert_eq!(seen[1].headers["authorization"], "Bearer t2");
    })
    .await;
}

#[tokio::test]
async fn a_401_after_a_same_origin_redirect_replays_the_original_request() {
    within_timeout(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::path("/old"))
            .respond_with(wiremock::ResponseTemplate::new(302).insert_header("location", "/new"))
            .mount(&server)
            .await;
        rejects_the_first_token(&server, "/new").await;
        let oauth = OAuthMiddleware::new(numbered_tokens());
        oauth.token(oauth.default_key()).await.expect("warm-up");
        let response = client(&oauth)
            .get(format!("{}/old", server.uri()))
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.extensions().get::<ReplayOutcome>(),
            Some(&ReplayOutcome::Replayed)
        );
        let seen: Vec<(String, String)> = server
            .received_requests()
            .await
            .expect("recorded")
            .iter()
            .map(|r| {
                let token = r.headers["authorization"].to_str().unwrap_or("").to_owned();
                (r.url.path().to_owned(), token)
            })
            .collect();
        let expected = [
            ("/old", "Bearer t1"),
            ("/new", "Bearer t1"),
            ("/old", "Bearer t2"),
            ("/new", "Bearer t2"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        assert_eq!(seen, expected, "the replay restarts at the original URL");
    })
    .await;
}
