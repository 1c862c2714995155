//! Which cache entry a request uses, named without building anything: a
//! key borrowed from the request's extensions and the middleware's
//! defaults is hashed and compared as it is, so a keyed request finds its
//! entry without allocating or touching a reference count.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::TokenRequest;

/// Which cache entry a request uses: the middleware's default key (held
/// directly, no hashing) or another one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    Default,
    Other(KeyRef<'a>),
}

/// A [`TokenRequest`]'s parts, borrowed: from a request's extensions, the
/// router's defaults, or a whole `TokenRequest`. Hashes and compares as
/// the `TokenRequest` it names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyRef<'a> {
    pub(crate) audience: Option<&'a Arc<str>>,
    pub(crate) scope: Option<&'a Arc<str>>,
    pub(crate) resources: &'a [Arc<str>],
}

impl<'a> KeyRef<'a> {
    pub(crate) fn of(request: &'a TokenRequest) -> Self {
        KeyRef {
            audience: request.audience_shared(),
            scope: request.scope_shared(),
            resources: request.resources_shared(),
        }
    }

    /// The `TokenRequest` itself, for an entry made for this key.
    pub(crate) fn to_request(self) -> TokenRequest {
        TokenRequest::from_parts(
            self.audience.cloned(),
            self.scope.cloned(),
            self.resources.to_vec(),
        )
    }

    /// Whether `self` and `other` name the same token.
    pub(crate) fn same(self, other: KeyRef<'_>) -> bool {
        same_text(self.audience, other.audience)
            && same_text(self.scope, other.scope)
            && self.resources.len() == other.resources.len()
            && self
                .resources
                .iter()
                .zip(other.resources)
                .all(|(a, b)| same_text(Some(a), Some(b)))
    }
}

/// The same text: often the very same `Arc` (a key made from a request's
/// extension shares it), so the pointer is compared first.
fn same_text(a: Option<&Arc<str>>, b: Option<&Arc<str>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
        (None, None) => true,
        _ => false,
    }
}

/// Written out so the cache's entries, hashed through their
/// `TokenRequest`, and borrowed keys hash alike by construction. Only the
/// audience's text and the scope's length go in: keys that differ
/// elsewhere share a bucket and are told apart by [`KeyRef::same`], and a
/// keyed request hashes a few words instead of every field.
impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.audience.map_or(&[][..], |a| a.as_bytes()));
        state.write_usize(self.scope.map_or(0, |s| s.len()));
    }
}

impl Key<'_> {
    /// The key as an owned `TokenRequest`, `default` standing for
    /// [`Key::Default`].
    pub(crate) fn to_request(self, default: &TokenRequest) -> TokenRequest {
        match self {
            Key::Default => default.clone(),
            Key::Other(key) => key.to_request(),
        }
    }
}
