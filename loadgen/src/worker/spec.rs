//! What passes between the coordinator and a worker process: the spec (one JSON line on
//! the worker's stdin, or `--spec JSON`), commands on stdin, and events as JSON lines on
//! the worker's stdout.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::net::SourcePool;
use crate::scenario::context::Progress;
use crate::scenario::Job;
use crate::stats::Totals;

/// Everything a worker needs to run its share of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// Position of the worker among the run's workers.
    pub index: usize,
    /// Resolved loopback address of the WebSocket server.
    pub target: SocketAddr,
    /// `Host` header of upgrade requests.
    pub host: String,
    /// Path of the WebSocket endpoint.
    pub path: String,
    /// Event-loop threads.
    pub threads: usize,
    pub sources: SourcePool,
    pub connect_timeout_ms: u64,
    /// Interval between progress events, in milliseconds.
    pub progress_interval_ms: u64,
    pub job: Job,
}

/// Commands the coordinator writes to a worker's stdin, one JSON line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Every worker is connected: start the measured phase.
    Start,
    /// Every worker finished the measured phase: check, close and report.
    Finish,
}

/// Events a worker prints on stdout, one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    /// Cumulative counters, every progress interval.
    Progress(Progress),
    /// Every thread finished connecting.
    Ready,
    /// Every thread finished the measured phase.
    RunDone,
    /// Final totals of the worker; the last line it prints.
    Result(Box<Totals>),
}
