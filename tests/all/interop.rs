//! In one chain with `reqwest-retry` and `reqwest-tracing`, in both orders:
//! transient API failures are retried with a token attached, an expired
//! token is replaced once, and no extra token requests are made.

use crate::common;

use common::{grant, servers, within_timeout};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_oauth::OAuthMiddleware;
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_tracing::TracingMiddleware;
use wiremock::matchers::{header_exists, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Copy, Debug)]
enum Order {
    /// tracing → retry → oauth: the recommended order.
    OAuthInnermost,
    /// oauth → tracing → retry.
    OAuthOutermost,
}

fn chain(order: Order, oauth: &OAuthMiddleware) -> ClientWithMiddleware {
    let retry = RetryTransientMiddleware::new_with_policy(
        ExponentialBackoff::builder()
            .retry_bounds(
                std::time::Duration::from_millis(1),
                std::time::Duration::from_millis(5),
            )
            .build_with_max_retries(2),
    );
    let builder = ClientBuilder::new(reqwest::Client::new());
    match order {
        Order::OAuthInnermost => builder
            .with(TracingMiddleware::default())
            .with(retry)
            .with(oauth.clone()),
        Order::OAuthOutermost => builder
            .with(oauth.clone())
            .with(TracingMiddleware::default())
            .with(retry),
    }
    .build()
}

/// An API that fails once with 503, then answers 200 to bearer requests.
async fn flaky_api() -> MockServer {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&api)
        .await;
    api
}

#[tokio::test]
async fn a_retried_request_carries_a_token_in_either_order() {
    within_timeout(async {
        for order in [Order::OAuthInnermost, Order::OAuthOutermost] {
            let (auth, _) = servers().await;
            let api = flaky_api().await;
            let oauth = OAuthMiddleware::new(grant(&auth));
            let response = chain(order, &oauth)
                .get(api.uri())
                .send()
                .await
                .expect("call");
            assert_eq!(response.status(), 200, "{order:?}");
            let received = api.received_requests().await.expect("recorded");
            assert_eq!(received.len(), 2, "{order:?}: one failure, one retry");
            assert!(
                received
                    .iter()
                    .all(|r| r.headers.contains_key("authorization")),
                "{order:?}"
            );
            assert_eq!(auth.token_requests(), 1, "{order:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_in_either_order() {
    within_timeout(async {
        for order in [Order::OAuthInnermost, Order::OAuthOutermost] {
            let (auth, api) = servers().await;
            let oauth = OAuthMiddleware::new(grant(&auth));
            oauth.token(oauth.default_key()).await.expect("warm-up");
            auth.revoke_all();
            let response = chain(order, &oauth)
                .get(api.url("/"))
                .send()
                .await
                .expect("call");
            assert_eq!(response.status(), 200, "{order:?}");
            assert_eq!(
                api.requests(),
                2,
                "{order:?}: the 401 is not retried by reqwest-retry, only replayed once"
            );
            assert_eq!(auth.token_requests(), 2, "{order:?}");
            assert_eq!(oauth.stats().replays, 1, "{order:?}");
        }
    })
    .await;
}
