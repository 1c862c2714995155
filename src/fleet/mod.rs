//! Fleet mode: one token per key for a whole fleet of processes.
//!
//! Each [`OAuthMiddleware`](crate::OAuthMiddleware) caches tokens for its
//! own process. Run fifty replicas and the token endpoint sees fifty token
//! requests at start-up and at every expiry, which rate-limited endpoints
//! (and vendors billing per token) punish. Wrap the source in a
//! [`FleetSource`] with a shared [`TokenStore`] and the fleet fetches once:
//! the first process to miss takes a lock in the store, fetches, and
//! publishes the token; the rest read it. The in-process cache in front of
//! it is unchanged, so the hot path never touches the store.
//!
//! | store | for |
//! |---|---|
//! | [`RedisStore`] (feature `redis`) | processes on many hosts, through Redis or Valkey (one server; a Cluster with `redis-cluster`; Sentinel, following the master through a failover, with `redis-sentinel`) |
//! | [`MemoryStore`] | clients built apart in one process; tests |
//! | your own [`TokenStore`] | any store with expiring keys and "set if absent" |
//!
//! What the fleet guarantees, and what it does not:
//!
//! - A store that fails or stalls (a second, for [`RedisStore`]) never fails
//!   a request: that process fetches alone and says so in a warning.
//! - A process that dies or freezes holding the lock delays the others by
//!   at most one lease ([`FleetSource::lock_ttl`]); then exactly one of
//!   them takes over.
//! - A token the API rejected is never taken from the store again by the
//!   process that saw the rejection; it replaces it once, replays the
//!   request, and the fleet converges on the one replacement.
//! - A failing token endpoint is asked once per cooldown (its
//!   `Retry-After`) by the whole fleet, not once per process.
//! - Anyone who can read the store can use the tokens in it: protect it
//!   like the client secret. The namespace given to [`FleetSource::new`]
//!   must be unique per client identity.
//!
//! ```
//! use reqwest_oauth::fleet::{FleetSource, MemoryStore};
//! use reqwest_oauth::testkit::{ApiServer, AuthServer};
//! use reqwest_oauth::{ClientCredentials, OAuthMiddleware};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = AuthServer::builder().client("id", "secret").start().await?;
//! let api = ApiServer::start(&auth).await?;
//! let store = MemoryStore::new(); // RedisStore::connect(url) across hosts
//!
//! for _replica in 0..3 {
//!     let grant = ClientCredentials::new(auth.token_url(), "id", "secret");
//!     let oauth = OAuthMiddleware::new(FleetSource::new("orders", grant, store.clone()));
//!     let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!         .with(oauth)
//!         .build();
//!     assert_eq!(client.get(api.url("/orders")).send().await?.status(), 200);
//! }
//! assert_eq!(auth.token_requests(), 1);
//! # Ok(()) }
//! ```

#[cfg(feature = "fleet-encryption")]
mod cipher;
mod failure;
mod lock;
mod memory;
mod record;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_settings;
#[cfg(feature = "redis-sentinel")]
mod sentinel;
mod source;
mod store;

#[cfg(feature = "fleet-encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "fleet-encryption")))]
pub use cipher::Cipher;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;
pub use source::FleetSource;
pub use store::{BoxFuture, StoreError, TokenStore};
