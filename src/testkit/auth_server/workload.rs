//! The [`AuthServer`]'s workload-identity grants: token exchange (RFC
//! 8693), checking the subject (and actor) token against the tokens it or
//! a server it trusts issued, or a JWT signed by a trusted key; and the JWT
//! bearer grant (RFC 7523 2.1), checking the assertion's signature,
//! audience, expiry and `jti`.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::{AuthServer, AuthServerBuilder, AuthState, RecordedTokenRequest, Refusal};
use crate::testkit::issued::IssuedTokens;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// What the builder collects for the workload grants.
#[derive(Default)]
pub(super) struct WorkloadBuilder {
    keys: Vec<Vec<u8>>,
    trusted: Vec<Arc<IssuedTokens>>,
    targets: Option<HashSet<String>>,
}

/// What the running server checks the workload grants against.
pub(super) struct Workload {
    keys: Vec<(DecodingKey, Algorithm)>,
    trusted: Vec<Arc<IssuedTokens>>,
    targets: Option<HashSet<String>>,
    /// The token endpoint URL and the issuer: the audiences an assertion
    /// may name. Known once the server listens.
    urls: OnceLock<[String; 2]>,
    /// Assertion ids already used; a replayed assertion is refused.
    seen_jti: Mutex<HashSet<String>>,
}

impl WorkloadBuilder {
    /// Parses the keys: an unusable PEM is the caller's mistake, reported
    /// by `start`.
    pub(super) fn build(self) -> std::io::Result<Workload> {
        let keys = self
            .keys
            .iter()
            .map(|pem| decoding_key(pem))
            .collect::<std::io::Result<_>>()?;
        Ok(Workload {
            keys,
            trusted: self.trusted,
            targets: self.targets,
            urls: OnceLock::new(),
            seen_jti: Mutex::new(HashSet::new()),
        })
    }
}

fn decoding_key(pem: &[u8]) -> std::io::Result<(DecodingKey, Algorithm)> {
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok((key, Algorithm::ES256));
    }
    match DecodingKey::from_rsa_pem(pem) {
        Ok(key) => Ok((key, Algorithm::RS256)),
        Err(error) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a P-256 or RSA public key PEM: {error}"),
        )),
    }
}

impl Workload {
    pub(super) fn set_urls(&self, token_url: String, issuer: String) {
        let _ = self.urls.set([token_url, issuer]);
    }

    /// The claims of a JWT signed by a trusted key, unexpired; with
    /// `audience_checked`, its `aud` must name this server.
    fn verify(&self, jwt: &str, audience_checked: bool) -> Option<Value> {
        self.keys.iter().find_map(|(key, algorithm)| {
            let mut validation = Validation::new(*algorithm);
            validation.set_required_spec_claims(&["exp", "iss", "sub"]);
            match (audience_checked, self.urls.get()) {
                (true, Some(urls)) => validation.set_audience(urls),
                _ => validation.validate_aud = false,
            }
            jsonwebtoken::decode::<Value>(jwt, key, &validation)
                .ok()
                .map(|data| data.claims)
        })
    }

    /// Who a subject or actor token of `kind` stands for: the subject this
    /// server (or a trusted one) issued it to, or a trusted JWT's `sub`.
    fn principal(&self, state: &AuthState, token: &str, kind: &str) -> Option<String> {
        match kind {
            ACCESS_TOKEN => std::iter::once(&state.tokens)
                .chain(&self.trusted)
                .find_map(|tokens| {
                    tokens.check(token)?;
                    Some(tokens.subject_of(token).unwrap_or_default())
                }),
            JWT | ID_TOKEN => {
                let claims = self.verify(token, false)?;
                claims.get("sub")?.as_str().map(str::to_owned)
            }
            _ => None,
        }
    }

    /// Whether the audience and resource asked for may be issued for.
    fn target_allowed(&self, request: &RecordedTokenRequest) -> bool {
        let Some(targets) = &self.targets else {
            return true;
        };
        ["audience", "resource"]
            .iter()
            .filter_map(|name| request.params.get(*name))
            .all(|target| targets.contains(target))
    }
}

impl AuthServerBuilder {
    /// Trusts this public key (P-256 or RSA, PEM) for the JWT bearer
    /// grant's assertions and for token exchange subject tokens of type
    /// `…:token-type:jwt` or `…:id_token` (a Kubernetes service account
    /// token, a CI runner's OIDC token). An assertion must also name this
    /// server's token endpoint or issuer in `aud`, be unexpired, carry
    /// `iss` and `sub`, and not repeat a `jti`. A key that does not parse
    /// makes [`start`](Self::start) fail.
    pub fn trust_assertion_key(mut self, public_key_pem: &[u8]) -> Self {
        self.workload.keys.push(public_key_pem.to_vec());
        self
    }

    /// Accepts access tokens `other` issued as token exchange subject and
    /// actor tokens, as well as this server's own: a delegation chain
    /// across two servers.
    pub fn trust_tokens_of(mut self, other: &AuthServer) -> Self {
        self.workload.trusted.push(other.state.tokens.clone());
        self
    }

    /// The only audiences and resources a token exchange or JWT bearer
    /// grant may ask for; others are refused with `invalid_target`.
    /// Default: any.
    pub fn exchange_targets<I, T>(mut self, targets: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.workload.targets = Some(targets.into_iter().map(Into::into).collect());
        self
    }
}

impl AuthServer {
    /// Who a token this server issued was issued to: the client id
    /// (client credentials), the user (password grant), the assertion's
    /// `sub` (JWT bearer), or the subject token's principal (token
    /// exchange, whichever server issued the subject token).
    pub fn subject_of(&self, token: &str) -> Option<String> {
        self.state.tokens.subject_of(token)
    }

    /// Issues an access token for `subject` directly, as if a grant had
    /// run (a user's token to exchange, a platform token to write to a
    /// file). The token is valid at this server's APIs for its lifetime.
    pub fn issue_token(&self, subject: &str, audience: Option<&str>) -> String {
        let lifetime = *self.state.lifetime.lock();
        let token = self
            .state
            .tokens
            .issue(audience.map(str::to_owned), None, lifetime);
        self.state.tokens.set_subject(&token, subject);
        token
    }
}

/// The answer to a workload grant, or `None` for another grant type.
pub(super) fn issue(
    state: &AuthState,
    request: &RecordedTokenRequest,
) -> Option<Result<Value, Refusal>> {
    match request.params.get("grant_type").map(String::as_str) {
        Some(TOKEN_EXCHANGE) => Some(exchange(state, request)),
        Some(JWT_BEARER) => Some(jwt_bearer(state, request)),
        _ => None,
    }
}

fn refused(code: &'static str, description: &'static str) -> Refusal {
    (StatusCode::BAD_REQUEST, code, description)
}

/// RFC 8693 2.1: check the subject (and actor) token, the target and the
/// requested type, and issue.
fn exchange(state: &AuthState, request: &RecordedTokenRequest) -> Result<Value, Refusal> {
    let workload = &state.workload;
    let param = |name: &str| request.params.get(name).map(String::as_str);
    let (Some(subject), Some(kind)) = (param("subject_token"), param("subject_token_type")) else {
        return Err(refused(
            "invalid_request",
            "subject_token and its type are required",
        ));
    };
    let invalid_subject = refused("invalid_grant", "the subject token is not valid here");
    let principal = workload
        .principal(state, subject, kind)
        .ok_or(invalid_subject)?;
    if let Some(actor) = param("actor_token") {
        let actor_kind = param("actor_token_type")
            .ok_or(refused("invalid_request", "actor_token_type is required"))?;
        workload.principal(state, actor, actor_kind).ok_or(refused(
            "invalid_grant",
            "the actor token is not valid here",
        ))?;
    }
    if !workload.target_allowed(request) {
        return Err(refused(
            "invalid_target",
            "that audience or resource is not allowed",
        ));
    }
    let issued_type = match param("requested_token_type") {
        None | Some(ACCESS_TOKEN) => ACCESS_TOKEN,
        Some(JWT) => JWT,
        Some(ID_TOKEN) => ID_TOKEN,
        Some(_) => {
            return Err(refused(
                "invalid_request",
                "unsupported requested_token_type",
            ));
        }
    };
    let mut body = grant_token(state, request, &principal);
    body["issued_token_type"] = Value::from(issued_type);
    if issued_type != ACCESS_TOKEN {
        body["token_type"] = Value::from("N_A");
    }
    Ok(body)
}

/// RFC 7523 2.1 and 3: a trusted signature, this server in `aud`, unexpired,
/// `iss` and `sub`, a `jti` not seen before.
fn jwt_bearer(state: &AuthState, request: &RecordedTokenRequest) -> Result<Value, Refusal> {
    let workload = &state.workload;
    let assertion = request
        .params
        .get("assertion")
        .ok_or(refused("invalid_request", "assertion is required"))?;
    let claims = workload
        .verify(assertion, true)
        .ok_or(refused("invalid_grant", "the assertion is not valid here"))?;
    let jti = claims.get("jti").and_then(Value::as_str);
    if jti.is_some_and(|jti| !workload.seen_jti.lock().insert(jti.to_owned())) {
        return Err(refused("invalid_grant", "the assertion was used before"));
    }
    if !workload.target_allowed(request) {
        return Err(refused(
            "invalid_target",
            "that audience or resource is not allowed",
        ));
    }
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(grant_token(state, request, subject))
}

/// A bearer token for `subject` with the request's audience and scope.
fn grant_token(state: &AuthState, request: &RecordedTokenRequest, subject: &str) -> Value {
    let lifetime = *state.lifetime.lock();
    let scope = request.params.get("scope").cloned();
    let audience = request.params.get("audience").cloned();
    let token = state.tokens.issue(audience, scope.clone(), lifetime);
    state.tokens.set_subject(&token, subject);
    let mut body = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs_f64(),
    });
    if let Some(scope) = scope {
        body["scope"] = Value::from(scope);
    }
    body
}
