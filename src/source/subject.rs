//! [`SubjectToken`]: where the credential a workload-identity grant trades
//! comes from (a token exchange's subject or actor token, a JWT bearer
//! grant's assertion): a fixed value, a file, an async closure, or another
//! token source.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::{BoxFuture, DynSource};
use crate::{Error, FetchContext, TokenRequest};

/// Where a credential that a grant trades for a token comes from: the
/// `subject_token` or `actor_token` of a
/// [`TokenExchange`](crate::grant::TokenExchange), or the `assertion` of a
/// [`JwtBearer`](crate::grant::JwtBearer) grant.
///
/// It is read again on every token request, never kept between them: a
/// rotated credential is used by the next fetch. Token requests are rare
/// (one per token lifetime and key), so the read costs nothing that
/// matters.
///
/// **One subject per grant.** The tokens a grant obtains are cached per key
/// (audience, scope, resource) inside one middleware, so every token that
/// middleware holds was issued for this subject. A `SubjectToken` must
/// therefore always stand for the same principal (rotated credentials of
/// one workload are fine; a closure that returns different users' tokens
/// is not): make one grant, and one middleware, per subject. In fleet mode
/// the namespace must name the subject as well (see
/// [`SubjectToken::name`]).
///
/// ```
/// use reqwest_oauth::grant::SubjectToken;
/// use reqwest_oauth::{ClientCredentials, TokenRequest};
///
/// // A Kubernetes projected service account token, rotated by the kubelet.
/// let file = SubjectToken::file("/var/run/secrets/tokens/workload");
/// // A token from another authorization server: a delegation chain.
/// let upstream = ClientCredentials::new("https://idp.example.com/token", "id", "secret");
/// let chained = SubjectToken::from_source(upstream, TokenRequest::new().with_audience("sts"));
/// // Any async lookup, e.g. a CI runner's ID-token request.
/// let ci = SubjectToken::from_fn("ci id token", || async {
///     std::env::var("CI_ID_TOKEN").map_err(reqwest_oauth::Error::custom)
/// });
/// assert_eq!(file.name(), "file /var/run/secrets/tokens/workload");
/// # let _ = (chained, ci);
/// ```
#[derive(Clone)]
pub struct SubjectToken {
    from: Origin,
    name: String,
}

/// The kinds of origin; each is read by [`SubjectToken::read`].
#[derive(Clone)]
enum Origin {
    Fixed(Arc<SecretString>),
    File(PathBuf),
    Fn(Arc<dyn Fn() -> BoxFuture<'static, Result<String, Error>> + Send + Sync>),
    Source(Arc<dyn DynSource>, TokenRequest),
}

impl SubjectToken {
    /// A value that never changes (a user's token the service was handed,
    /// an assertion made elsewhere). Named `"fixed value"` until
    /// [`named`](Self::named).
    pub fn fixed(value: impl Into<String>) -> Self {
        Self::with(
            Origin::Fixed(Arc::new(SecretString::from(value.into()))),
            "fixed value",
        )
    }

    /// A file read on every token request, so a credential rotated on disk
    /// (a Kubernetes projected token, a CI runner's token file) is picked
    /// up by the next fetch. It is read on the runtime's blocking pool,
    /// never on a worker thread. Leading and trailing whitespace (the
    /// final newline most writers add) is trimmed.
    ///
    /// Re-reading is chosen over watching the modification time: a
    /// rotated JWT often has the same length, and a coarse file system
    /// clock can give two writes the same time, so either could hide a
    /// rotation.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let name = format!("file {}", path.display());
        Self::with(Origin::File(path), name)
    }

    /// The value an async closure returns, called on every token request;
    /// `name` says where it comes from in errors and logs.
    pub fn from_fn<F, Fut>(name: impl Into<String>, read: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, Error>> + Send + 'static,
    {
        let read = move || -> BoxFuture<'static, Result<String, Error>> { Box::pin(read()) };
        Self::with(Origin::Fn(Arc::new(read)), name.into())
    }

    /// The access token another source issues for `request`: a delegation
    /// chain (server A's token exchanged at server B). The source is asked
    /// on every token request of the grant that holds this; to reuse a
    /// cached upstream token instead, read it from that middleware with
    /// [`from_fn`](Self::from_fn) and
    /// [`OAuthMiddleware::token`](crate::OAuthMiddleware::token).
    pub fn from_source(source: impl super::TokenSource, request: TokenRequest) -> Self {
        let name = match request.audience() {
            Some(audience) => format!("token source for {audience}"),
            None => "token source".to_owned(),
        };
        Self::with(Origin::Source(Arc::new(source), request), name)
    }

    fn with(from: Origin, name: impl Into<String>) -> Self {
        SubjectToken {
            from,
            name: name.into(),
        }
    }

    /// Renames this origin, as errors and logs show it (never the value).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Where the value comes from (`file <path>`, `fixed value`, a
    /// closure's or source's name): what errors name, and a part for a
    /// fleet namespace, which must differ per subject.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks an upstream source's configuration (the other origins have
    /// none to check), so a delegation chain's mistakes surface at
    /// `build()`.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.from {
            Origin::Source(source, _) => source.check(),
            _ => Ok(()),
        }
    }

    /// The current value, trimmed; `role` (`"subject token"`, …) names it
    /// in errors. Any failure is an [`Error::Subject`] naming the origin.
    pub(crate) async fn read(&self, role: &'static str) -> Result<SecretString, Error> {
        let fail = |reason: String, transient: bool| Error::Subject {
            role,
            from: self.name.clone(),
            reason,
            transient,
        };
        let value = match &self.from {
            Origin::Fixed(value) => value.expose_secret().to_owned(),
            Origin::File(path) => read_file(path.clone())
                .await
                .map_err(|(reason, transient)| fail(reason, transient))?,
            Origin::Fn(read) => read()
                .await
                .map_err(|e| fail(e.to_string(), e.is_transient()))?,
            Origin::Source(source, request) => source
                .fetch_boxed(FetchContext::new(request))
                .await
                .map_err(|e| fail(e.to_string(), e.is_transient()))?
                .secret()
                .to_owned(),
        };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            // A writer that truncates before writing leaves an empty file for
            // a moment: worth another try.
            return Err(fail("it is empty".to_owned(), true));
        }
        Ok(SecretString::from(trimmed.to_owned()))
    }
}

/// Reads `path` on the blocking pool. The error is its text and whether a
/// retry may succeed (the file not there yet, as before a volume is
/// mounted; not for a permission or encoding problem).
async fn read_file(path: PathBuf) -> Result<String, (String, bool)> {
    let read = tokio::task::spawn_blocking(move || std::fs::read(&path));
    let bytes = match read.await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => return Err(io_failure(&error)),
        Err(error) => return Err((format!("the read was cancelled: {error}"), true)),
    };
    String::from_utf8(bytes).map_err(|_| ("it is not UTF-8".to_owned(), false))
}

fn io_failure(error: &std::io::Error) -> (String, bool) {
    use std::io::ErrorKind;
    let transient = matches!(
        error.kind(),
        ErrorKind::NotFound | ErrorKind::Interrupted | ErrorKind::TimedOut | ErrorKind::WouldBlock
    );
    (error.to_string(), transient)
}

impl fmt::Debug for SubjectToken {
    // The value is a credential: the origin's name only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SubjectToken").field(&self.name).finish()
    }
}
