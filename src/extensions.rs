//! Per-request choices, set with `reqwest_middleware`'s `with_extension`.

use std::sync::Arc;

/// Use the token for this audience on this request, instead of the
/// middleware's default.
///
/// ```
/// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) -> Result<(), reqwest_middleware::Error> {
/// use reqwest_oauth::Audience;
///
/// let response = client
///     .get("https://billing.example.com/invoices")
///     .with_extension(Audience::new("https://billing.example.com"))
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Audience(pub(crate) Arc<str>);

impl Audience {
    /// The audience, as sent in the token request's `audience` parameter.
    pub fn new(audience: impl Into<Arc<str>>) -> Self {
        Audience(audience.into())
    }
}

/// Use a token with this scope on this request, instead of the source's
/// configured scope. Tokens are cached per audience and scope.
///
/// ```
/// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) -> Result<(), reqwest_middleware::Error> {
/// use reqwest_oauth::Scope;
///
/// client
///     .delete("https://api.example.com/things/7")
///     .with_extension(Scope::new("things:write"))
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(pub(crate) Arc<str>);

impl Scope {
    /// The scope, a space-separated list as the token endpoint expects it.
    pub fn new(scope: impl Into<Arc<str>>) -> Self {
        Scope(scope.into())
    }
}

/// Use a token for this RFC 8707 resource indicator on this request (sent
/// as the `resource` parameter). Tokens are cached per resource too.
///
/// ```
/// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) -> Result<(), reqwest_middleware::Error> {
/// use reqwest_oauth::Resource;
///
/// client
///     .get("https://files.example.com/report.pdf")
///     .with_extension(Resource::new("https://files.example.com/"))
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resource(pub(crate) Arc<str>);

impl Resource {
    /// The resource indicator, an absolute URI.
    pub fn new(resource: impl Into<Arc<str>>) -> Self {
        Resource(resource.into())
    }
}

/// Send this request exactly as built: no token is fetched or attached,
/// and a 401 is returned as it is.
///
/// ```
/// # async fn demo(client: reqwest_middleware::ClientWithMiddleware) -> Result<(), reqwest_middleware::Error> {
/// use reqwest_oauth::SkipAuth;
///
/// client.get("https://api.example.com/health").with_extension(SkipAuth).send().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkipAuth;
