//! Every use of the crate's API in this suite, so that a reshaped API means
//! editing this one file.

use std::time::Duration;

use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_oauth::endpoint::{ClientAuth, ClientIdentity, PrivateKeyJwt};
use reqwest_oauth::{ClientCredentials, Error, OAuthMiddleware, PasswordGrant, Resource};

use crate::server::{ODD_SECRET, PLAIN_SECRET, RealServer, USERNAME};

/// How the client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Basic,
    BasicUnencoded,
    BasicPercentEncoded,
    Body,
    PrivateKeyJwt,
}

impl Auth {
    pub const ALL: [Auth; 5] = [
        Auth::Basic,
        Auth::BasicUnencoded,
        Auth::BasicPercentEncoded,
        Auth::Body,
        Auth::PrivateKeyJwt,
    ];

    /// Each server client is registered with one method, as servers do;
    /// the `-odd` ones have [`ODD_SECRET`], the others [`PLAIN_SECRET`].
    pub fn client_id(self, odd_secret: bool) -> &'static str {
        match (self, odd_secret) {
            (Auth::PrivateKeyJwt, _) => "jwt-client",
            (Auth::Body, false) => "post-plain",
            (Auth::Body, true) => "post-odd",
            (_, false) => "basic-plain",
            (_, true) => "basic-odd",
        }
    }
}

/// A middleware and a client chain using it.
pub struct OAuth {
    pub client: ClientWithMiddleware,
    pub middleware: OAuthMiddleware,
}

impl OAuth {
    fn new(middleware: OAuthMiddleware) -> OAuth {
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(middleware.clone())
            .build();
        OAuth { client, middleware }
    }

    /// Token requests this middleware made (its own count, next to the
    /// server's).
    pub fn token_requests(&self) -> u64 {
        self.middleware.stats().token_requests
    }

    /// Requests replayed after an expired-token 401.
    pub fn replays(&self) -> u64 {
        self.middleware.stats().replays
    }

    /// The current token for the default key, from the cache or fetched.
    pub async fn token(&self) -> String {
        let token = self
            .middleware
            .token(self.middleware.default_key())
            .await
            .expect("a token");
        token.secret().to_owned()
    }

    /// GET `url` through the chain; `resource` adds a per-request RFC 8707
    /// resource.
    /// The cached token's type (`Bearer` or `DPoP`).
    pub async fn token_type(&self) -> &'static str {
        let key = self.middleware.default_key();
        let token = self.middleware.token(key).await.expect("token");
        token.token_type()
    }

    pub async fn get(&self, url: &str, resource: Option<&str>) -> Result<u16, Failure> {
        let mut request = self.client.get(url);
        if let Some(resource) = resource {
            request = request.with_extension(Resource::new(resource));
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(Failure::of(&error)),
        }
    }
}

/// Why a call failed, as the crate's typed error tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The token endpoint's RFC 6749 `error` code, if it answered with one.
    pub code: Option<String>,
    pub message: String,
}

impl Failure {
    fn of(error: &reqwest_middleware::Error) -> Failure {
        let oauth = Error::from_middleware(error);
        Failure {
            code: oauth
                .and_then(Error::endpoint_error)
                .and_then(|e| e.code())
                .map(|code| code.as_str().to_owned()),
            message: error.to_string(),
        }
    }
}

fn build(grant: impl reqwest_oauth::TokenSource, resource: Option<&str>) -> OAuth {
    let mut builder = OAuthMiddleware::builder(grant);
    if let Some(resource) = resource {
        builder = builder.resource(resource);
    }
    OAuth::new(builder.build().expect("middleware builds"))
}

/// Client credentials with a secret, authenticated as `auth` says, for the
/// client registered with that method and (unless it is [`ODD_SECRET`]) the
/// ordinary secret; any other secret is a wrong one.
pub fn client_credentials(server: &RealServer, auth: Auth, secret: &str) -> OAuth {
    let client_id = auth.client_id(secret == ODD_SECRET);
    let grant = match auth {
        Auth::PrivateKeyJwt => {
            let pem = std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/rsa_private.pem"
            ))
            .expect("fixture key");
            let key = PrivateKeyJwt::rs256_pem(&pem).expect("RSA key");
            return build(
                ClientCredentials::with_private_key_jwt(server.token_url(), client_id, key),
                None,
            );
        }
        Auth::Basic => ClientAuth::Basic,
        Auth::BasicUnencoded => ClientAuth::BasicUnencoded,
        Auth::BasicPercentEncoded => ClientAuth::BasicPercentEncoded,
        Auth::Body => ClientAuth::Body,
    };
    build(
        ClientCredentials::new(server.token_url(), client_id, secret).client_auth(grant),
        None,
    )
}

/// Client credentials for the `basic-plain` client with DPoP (RFC 9449):
/// a key generated in memory, every token and API request proven with it.
pub fn dpop_client_credentials(server: &RealServer) -> (OAuth, reqwest_oauth::dpop::DpopKey) {
    let key = reqwest_oauth::dpop::DpopKey::generate().expect("DPoP key");
    let identity = ClientIdentity::secret("basic-plain", PLAIN_SECRET).auth(ClientAuth::Basic);
    let endpoint =
        reqwest_oauth::endpoint::TokenEndpoint::new(server.token_url(), identity).dpop(key.clone());
    (build(ClientCredentials::at(endpoint), None), key)
}

/// Client credentials for the `basic-plain` client whose tokens are for
/// `resource` (RFC 8707), or the server's default API.
pub fn client_credentials_for(server: &RealServer, resource: Option<&str>) -> OAuth {
    build(
        ClientCredentials::new(server.token_url(), "basic-plain", PLAIN_SECRET),
        resource,
    )
}

/// Client credentials with the token endpoint (and client authentication)
/// found from the issuer's metadata.
pub fn discovered_client_credentials(server: &RealServer) -> OAuth {
    build(
        ClientCredentials::discover(&server.base, "basic-plain", PLAIN_SECRET),
        None,
    )
}

/// The password grant for the confidential `basic-plain` client (whose
/// refresh tokens both servers rotate on every use).
pub fn password(server: &RealServer, password: &str) -> OAuth {
    let grant = PasswordGrant::new(
        server.token_url(),
        ClientIdentity::secret("basic-plain", PLAIN_SECRET),
        USERNAME,
        password,
    )
    .timeout(Duration::from_secs(10));
    build(grant, None)
}
