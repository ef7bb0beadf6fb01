//! Edge tier of switchboard: WebSocket sessions on monoio (io_uring), one shard of the
//! session table per core, the REST API on tokio, and the single-node server that runs
//! them with the router in one process.

pub mod auth;
pub mod bench_ws;
pub mod config;
mod connection;
mod host;
pub mod rest;
mod secret;
pub mod server;
pub mod session;
mod shard;
pub mod ws;
