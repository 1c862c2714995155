//! Building a source from an issuer URL: OpenID Connect discovery, the
//! RFC 8414 fallback, fetched once and lazily, auth method chosen from it.

use crate::common;

use common::{CLIENT_ID, CLIENT_SECRET, servers, within_timeout};
use reqwest_oauth::endpoint::ClientIdentity;
use reqwest_oauth::endpoint::{ClientAuth, TokenEndpoint};
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn openid_configuration_names_the_token_endpoint_read_once_and_lazily() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let issuer = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/tenant/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": format!("{}/tenant", issuer.uri()),
                "token_endpoint": auth.token_url(),
                "token_endpoint_auth_methods_supported": ["client_secret_post"]
            })))
            .expect(1)
            .mount(&issuer)
            .await;
        let oauth = OAuthMiddleware::builder(ClientCredentials::discover(
            format!("{}/tenant", issuer.uri()),
            CLIENT_ID,
            CLIENT_SECRET,
        ))
        .build()
        .expect("config");
        assert_eq!(
            issuer.received_requests().await.map(|r| r.len()),
            Some(0),
            "discovery ran before first use"
        );
        oauth
            .token(&reqwest_oauth::TokenRequest::new().with_audience("a"))
            .await
            .expect("token");
        oauth
            .token(&reqwest_oauth::TokenRequest::new().with_audience("b"))
            .await
            .expect("token");
        // client_secret_post only: the credentials went in the body.
        let seen = auth.last_request().expect("token request");
        assert!(seen.basic.is_none());
        assert_eq!(
            seen.params.get("client_secret").map(String::as_str),
            Some(CLIENT_SECRET)
        );
        assert_eq!(auth.token_requests(), 2);
    })
    .await;
}

#[tokio::test]
async fn falls_back_to_rfc8414_metadata() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let issuer = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/oauth-authorization-server/tenant"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "token_endpoint": auth.token_url(),
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]
            })))
            .mount(&issuer)
            .await;
        let oauth = OAuthMiddleware::new(ClientCredentials::discover(format!("{}/tenant", issuer.uri()), CLIENT_ID, CLIENT_SECRET));
        oauth.token(oauth.default_key()).await.expect("token");
        assert_eq!(auth.last_request().and_then(|r| r.basic).map(|b| b.0), Some(CLIENT_ID.to_owned()));
    })
    .await;
}

#[tokio::test]
async fn missing_metadata_is_a_typed_error_and_is_retried_later() {
    within_timeout(async {
        let issuer = MockServer::start().await;
        let oauth =
            OAuthMiddleware::builder(ClientCredentials::discover(issuer.uri(), "id", "secret"))
                .cooldown(std::time::Duration::ZERO)
                .build()
                .expect("config");
        let err = oauth
            .token(oauth.default_key())
            .await
            .expect_err("no metadata");
        assert!(matches!(err, Error::Discovery { .. }), "{err:?}");
        let (auth, _api) = servers().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"token_endpoint": auth.token_url()})),
            )
            .mount(&issuer)
            .await;
        // The failure was not kept: discovery runs again and succeeds (the
        // token request then fails only because these credentials are unknown).
        let err = oauth
            .token(oauth.default_key())
            .await
            .expect_err("unknown client");
        assert_eq!(err.endpoint_error().map(|e| e.status().as_u16()), Some(401));
    })
    .await;
}

#[tokio::test]
async fn a_discovered_plain_http_token_endpoint_off_loopback_is_refused() {
    within_timeout(async {
        let issuer = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"token_endpoint": "http://auth.example.com/token"})),
            )
            .mount(&issuer)
            .await;
        let err = OAuthMiddleware::new(ClientCredentials::discover(issuer.uri(), "id", "secret"))
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect_err("refused");
        assert!(matches!(err, Error::InsecureUrl { .. }), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn the_testkit_auth_server_is_discoverable_from_its_issuer() {
    within_timeout(async {
        let (auth, api) = servers().await;
        let oauth = OAuthMiddleware::new(ClientCredentials::discover(
            auth.issuer(),
            CLIENT_ID,
            CLIENT_SECRET,
        ));
        let client = common::client(&oauth);
        common::echo(client.get(api.url("/")).send().await.expect("sent")).await;
        assert_eq!(auth.token_requests(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_issuer_that_is_not_an_http_url_is_refused_at_build_time() {
    for issuer in ["not a url", "ftp://login.example.com/tenant"] {
        let result =
            OAuthMiddleware::builder(ClientCredentials::discover(issuer, "id", "secret")).build();
        assert!(
            matches!(result, Err(Error::InvalidUrl { what: "issuer", .. })),
            "{issuer}"
        );
    }
}

#[tokio::test]
async fn a_chosen_client_auth_wins_over_the_servers_list() {
    within_timeout(async {
        let (auth, _api) = servers().await;
        let issuer = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "token_endpoint": auth.token_url(),
                "token_endpoint_auth_methods_supported": ["client_secret_basic"]
            })))
            .mount(&issuer)
            .await;
        let identity = ClientIdentity::secret(CLIENT_ID, CLIENT_SECRET).auth(ClientAuth::Body);
        let endpoint = TokenEndpoint::discover(issuer.uri(), identity);
        OAuthMiddleware::new(ClientCredentials::at(endpoint))
            .token(&reqwest_oauth::TokenRequest::new())
            .await
            .expect("token");
        let seen = auth.last_request().expect("token request");
        assert!(seen.basic.is_none());
        assert_eq!(
            seen.params.get("client_secret").map(String::as_str),
            Some(CLIENT_SECRET)
        );
    })
    .await;
}
