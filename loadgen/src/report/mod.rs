//! Reports of a run: the JSON document, the human-readable table and the latency
//! percentile plot.

pub mod document;
pub mod svg;
pub mod table;

pub use document::{build_document, redact_command_line, Document};

use crate::coordinator::Outcome;

/// Rates and spans derived from an outcome.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rates {
    /// Seconds from the first connection attempt to the last established connection.
    pub connect_secs: Option<f64>,
    /// Established connections per second over `connect_secs`.
    pub connections_per_sec: Option<f64>,
    /// Seconds of the measured phase.
    pub run_secs: Option<f64>,
    pub sent_per_sec: Option<f64>,
    pub acked_per_sec: Option<f64>,
    pub received_per_sec: Option<f64>,
    /// Received messages over sent messages times established connections: the share of
    /// broadcast copies that arrived.
    pub broadcast_delivery_ratio: Option<f64>,
}

/// Derives rates from an outcome's totals.
pub fn rates(outcome: &Outcome) -> Rates {
    let totals = &outcome.totals;
    let connect_secs = totals.timing.connect_secs();
    let run_secs = totals.timing.run_secs();
    let per = |count: u64, secs: Option<f64>| secs.map(|secs| count as f64 / secs);
    let expected_copies = totals.traffic.sent * totals.connections.established;
    Rates {
        connect_secs,
        connections_per_sec: per(totals.connections.established, connect_secs),
        run_secs,
        sent_per_sec: per(totals.traffic.sent, run_secs),
        acked_per_sec: per(totals.traffic.acked, run_secs),
        received_per_sec: per(totals.traffic.received, run_secs),
        broadcast_delivery_ratio: (outcome.scenario == "broadcast" && expected_copies > 0)
            .then(|| totals.traffic.received as f64 / expected_copies as f64),
    }
}
