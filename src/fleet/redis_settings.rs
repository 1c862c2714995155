//! How every connection to a Redis (one, a cluster's, or the master a
//! Sentinel names) is made: its time limits and retries, and how a refused
//! password is recognised.

use std::time::Duration;

use redis::aio::ConnectionManagerConfig;

/// How long one store command may take before the process gives up on the
/// store and fetches alone.
pub(super) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Every connection to a master: commands and connecting time out after
/// [`RESPONSE_TIMEOUT`], and a dropped connection is reconnected once.
pub(super) fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
}

/// Whether Redis refused to authenticate the client (no password, or a
/// wrong one).
pub(super) fn is_auth_error(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || error
            .code()
            .is_some_and(|code| code == "NOAUTH" || code == "WRONGPASS")
}
