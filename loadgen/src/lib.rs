//! Load generator of switchboard. Every performance number of the project comes from it.
//!
//! A coordinator ([`coordinator::run`]) starts worker processes of the `loadgen` binary,
//! each running one monoio runtime per thread over at most about 15,000 connections, and
//! moves them through three phases together: connect, run, finish. Workers report
//! progress and their final [`stats::Totals`] as JSON lines; the coordinator sums them
//! and decides whether the run passed.
//!
//! Scenarios: `connect` (authenticated connections held with heartbeats), `chat` (DMs and
//! groups with a delivery checker), `echo` and `broadcast` (plain WebSocket binary
//! messages, for any WebSocket server). Targets must be loopback addresses.

pub mod checker;
pub mod coordinator;
pub mod guard;
pub mod histogram;
pub mod machine;
pub mod net;
pub mod options;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod token;
pub mod worker;
