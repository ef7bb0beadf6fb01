//! Delivery tier of switchboard: takes accepted messages in per-conversation order, allocates
//! seqs, persists them, updates read state and fans messages out to the gateways that hold
//! each recipient's sessions.

pub mod config;
pub mod link;
pub mod presence;
pub mod sequencer;
mod service;
pub mod store;

pub use config::RouterConfig;
pub use link::{GatewaySink, RouterHandle, RouterSendError, SessionAddr};
pub use service::Router;
