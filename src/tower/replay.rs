//! What a request through the layer keeps for after a rejection: a copy to
//! send again, or why there is none.

use http::{Extensions, HeaderMap, Method, Request, Uri, Version};

use super::body::ReplayBody;
use crate::cache::Ticket;
use crate::outcome::SkipReason;
use crate::replay::ReplayPolicy;

/// A copy of a request, kept before its token goes in. The head's fields
/// are kept as they are, not as a `Request`: building one costs a default
/// head that is overwritten at once, which only a replay needs to pay.
pub(super) struct ReplayCopy<B> {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: B,
}

impl<B> ReplayCopy<B> {
    pub(super) fn into_request(self) -> Request<B> {
        let mut request = Request::new(self.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        request
    }
}

/// A copy to replay, or why there is none.
// Boxed, as in the middleware: the copy would otherwise sit in every
// request's future, pushing it past the allocator's fast sizes.
pub(super) enum Kept<B> {
    Copy(Box<ReplayCopy<B>>),
    Not(SkipReason),
}

impl<B> Kept<B> {
    /// Keeps a copy of `request` when it could be sent again: the cheap
    /// refusals first (a token fetched for this very request is never
    /// renewed for it, so no copy, unless `fresh_wanted`: a step-up or a
    /// DPoP nonce request may still replay it; the method), then the body,
    /// and the head is copied only when the body could be.
    #[inline]
    pub(super) fn of<K: ReplayBody<B>>(
        request: &mut Request<B>,
        ticket: Ticket,
        policy: ReplayPolicy,
        keep: &K,
        fresh_wanted: bool,
    ) -> Self {
        if ticket.fetched() && !fresh_wanted {
            return Kept::Not(SkipReason::FreshToken);
        }
        if !policy.allows(request.method()) {
            return Kept::Not(SkipReason::Policy);
        }
        let Some(body) = keep.keep(request.body_mut()) else {
            return Kept::Not(SkipReason::StreamingBody);
        };
        // An empty map or extensions is made, not cloned: cloning costs more.
        let headers = match request.headers().is_empty() {
            true => HeaderMap::new(),
            false => request.headers().clone(),
        };
        let extensions = match request.extensions().is_empty() {
            true => Extensions::new(),
            false => request.extensions().clone(),
        };
        Kept::Copy(Box::new(ReplayCopy {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers,
            extensions,
            body,
        }))
    }

    /// The copy to replay, or why there is none.
    pub(super) fn into_copy(self) -> Result<Box<ReplayCopy<B>>, SkipReason> {
        match self {
            Kept::Copy(copy) => Ok(copy),
            Kept::Not(reason) => Err(reason),
        }
    }
}
