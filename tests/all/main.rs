//! Every integration test in one binary: one link of the crate instead of
//! one per file, which matters on small CI machines. One module per
//! capability, each against real HTTP servers on 127.0.0.1.

mod attach;
mod chaos;
mod common;
mod discovery;
mod dpop;
mod echoing_endpoint;
mod edges;
mod fleet;
mod fleet_cluster;
mod fleet_encryption;
mod fleet_processes;
mod fleet_redis;
mod fleet_sentinel;
mod interop;
mod private_key_jwt;
mod refresh;
mod rejection_path;
mod reliability;
mod replay;
mod security;
mod single_flight;
mod token_cache;
mod token_endpoint;
mod tower;
mod tower_dpop;
mod vendors;
mod workload;
