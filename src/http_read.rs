//! Reading an HTTP response body with a size limit, for every document the
//! crate reads from an authorization server (token responses, discovery
//! metadata).

use crate::Error;

/// Reads at most `limit` bytes of the body; more is an error, not a
/// truncation, so a hostile or broken server cannot exhaust memory.
pub(crate) async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(Error::ResponseTooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Error::transport)? {
        if body.len() + chunk.len() > limit {
            return Err(Error::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
