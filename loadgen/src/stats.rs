//! Run totals: counters, failure causes, histograms and checker results of one thread,
//! worker or whole run, and how they merge. Pure logic, no IO.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

use crate::checker::DeliveryTotals;
use crate::histogram::{HistogramError, LatencyHistogram};

/// Histogram of TCP connect to `AuthOk` (protocol scenarios) or to the `101` response.
pub const HANDSHAKE: &str = "handshake";
/// Histogram of chat send to its `SendAck`.
pub const SEND_TO_ACK: &str = "send_to_ack";
/// Histogram of chat send to the push on another device.
pub const SEND_TO_DELIVER: &str = "send_to_deliver";
/// Histogram of echo round trips.
pub const ROUND_TRIP: &str = "round_trip";
/// Histogram of broadcast send to receipt on each connection.
pub const SEND_TO_RECEIVE: &str = "send_to_receive";

/// Cause of a failed open, or of an open connection that ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The server refused the TCP connection.
    Refused,
    /// The connection or a reply did not arrive within its timeout.
    Timeout,
    /// The server responded to the upgrade with this HTTP status instead of 101.
    HttpStatus(u16),
    /// The server sent a close frame with this code.
    Closed(u16),
    /// The server closed TCP without a close frame.
    Eof,
    /// The server reset the connection.
    Reset,
    /// No local port or source address was free.
    AddressUnavailable,
    /// The server replied with an `Error` frame of this code name.
    Rejected(String),
    /// The server broke the WebSocket or switchboard protocol.
    Protocol,
    /// Any other socket error, by its kind.
    Io(io::ErrorKind),
}

impl Cause {
    /// Classifies a socket error.
    pub fn from_io(error: &io::Error) -> Cause {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Cause::Refused,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => Cause::Reset,
            io::ErrorKind::AddrNotAvailable | io::ErrorKind::AddrInUse => Cause::AddressUnavailable,
            io::ErrorKind::TimedOut => Cause::Timeout,
            io::ErrorKind::UnexpectedEof => Cause::Eof,
            kind => Cause::Io(kind),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Refused => f.write_str("refused"),
            Cause::Timeout => f.write_str("timeout"),
            Cause::HttpStatus(status) => write!(f, "http_{status}"),
            Cause::Closed(code) => write!(f, "closed_{code}"),
            Cause::Eof => f.write_str("eof"),
            Cause::Reset => f.write_str("reset"),
            Cause::AddressUnavailable => f.write_str("address_unavailable"),
            Cause::Rejected(code) => write!(f, "error_{code}"),
            Cause::Protocol => f.write_str("protocol"),
            Cause::Io(kind) => write!(f, "io_{kind:?}"),
        }
    }
}

/// Counts by cause name, such as `refused` or `http_401`.
pub type CauseCounts = BTreeMap<String, u64>;

/// Adds one to `cause` in `counts`.
pub fn count_cause(counts: &mut CauseCounts, cause: &Cause) {
    *counts.entry(cause.to_string()).or_default() += 1;
}

fn merge_counts(into: &mut CauseCounts, from: &CauseCounts) {
    for (cause, count) in from {
        *into.entry(cause.clone()).or_default() += count;
    }
}

/// Connection counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionTotals {
    /// Connections the tool tried to open.
    pub attempted: u64,
    /// Connections that completed the upgrade (and `AuthOk` where the protocol is used).
    pub established: u64,
    /// Failed opens by cause.
    pub failed: CauseCounts,
    /// Established connections that ended before the tool closed them, by cause.
    pub lost: CauseCounts,
}

impl ConnectionTotals {
    /// Returns the number of failed opens.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Returns the number of established connections lost before the end.
    pub fn lost_total(&self) -> u64 {
        self.lost.values().sum()
    }
}

/// Message counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficTotals {
    /// Messages sent: chat sends, echo requests or broadcast messages.
    pub sent: u64,
    /// Chat sends acknowledged with a `SendAck`.
    pub acked: u64,
    /// Chat sends rejected with an `Error` reply, by cause.
    pub send_errors: CauseCounts,
    /// Messages still waiting for their ack (chat) or their echo (echo) when the run
    /// ended, after the wait for acks or echoes in flight.
    pub unacked: u64,
    /// Messages received: chat pushes, echo replies or broadcast copies.
    pub received: u64,
    /// Application heartbeats (`Ping` frames) sent.
    pub pings: u64,
    /// `Pong` replies received.
    pub pongs: u64,
    /// Payload bytes sent in WebSocket messages.
    pub bytes_sent: u64,
    /// Payload bytes received in WebSocket messages.
    pub bytes_received: u64,
}

/// Wall-clock marks of a run in unix nanoseconds; merging keeps the earliest start and the
/// latest end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// First connection attempt.
    pub connect_start_ns: Option<u64>,
    /// Last connection established.
    pub connect_end_ns: Option<u64>,
    /// Start of the measured phase.
    pub run_start_ns: Option<u64>,
    /// End of the measured phase.
    pub run_end_ns: Option<u64>,
}

impl Timing {
    fn merge(&mut self, other: &Timing) {
        self.connect_start_ns = min_option(self.connect_start_ns, other.connect_start_ns);
        self.connect_end_ns = self.connect_end_ns.max(other.connect_end_ns);
        self.run_start_ns = min_option(self.run_start_ns, other.run_start_ns);
        self.run_end_ns = self.run_end_ns.max(other.run_end_ns);
    }

    /// Returns the seconds from the first attempt to the last established connection.
    pub fn connect_secs(&self) -> Option<f64> {
        span_secs(self.connect_start_ns, self.connect_end_ns)
    }

    /// Returns the seconds of the measured phase.
    pub fn run_secs(&self) -> Option<f64> {
        span_secs(self.run_start_ns, self.run_end_ns)
    }
}

fn min_option(left: Option<u64>, right: Option<u64>) -> Option<u64> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.min(right)),
        (left, right) => left.or(right),
    }
}

fn span_secs(start: Option<u64>, end: Option<u64>) -> Option<f64> {
    let (start, end) = (start?, end?);
    (end > start).then(|| (end - start) as f64 / 1e9)
}

/// A planted loss: a push the chat pipeline dropped on purpose before the checker saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantedDrop {
    pub conversation_id: u64,
    pub user_id: u64,
    pub device: u8,
    pub seq: u64,
}

/// Everything a thread, worker or run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub connections: ConnectionTotals,
    pub traffic: TrafficTotals,
    /// Latency histograms by name, such as [`HANDSHAKE`].
    pub histograms: BTreeMap<String, LatencyHistogram>,
    pub delivery: DeliveryTotals,
    pub timing: Timing,
    /// Pushes dropped by the test hook of the chat scenario.
    pub planted_drops: Vec<PlantedDrop>,
}

impl Totals {
    /// Returns the histogram `name`, creating it when missing.
    pub fn histogram(&mut self, name: &str) -> &mut LatencyHistogram {
        self.histograms.entry(name.to_string()).or_default()
    }

    /// Adds the totals of another thread or worker.
    ///
    /// # Errors
    /// When a histogram cannot be merged.
    pub fn merge(&mut self, other: &Totals) -> Result<(), HistogramError> {
        let connections = &mut self.connections;
        connections.attempted += other.connections.attempted;
        connections.established += other.connections.established;
        merge_counts(&mut connections.failed, &other.connections.failed);
        merge_counts(&mut connections.lost, &other.connections.lost);

        let traffic = &mut self.traffic;
        traffic.sent += other.traffic.sent;
        traffic.acked += other.traffic.acked;
        merge_counts(&mut traffic.send_errors, &other.traffic.send_errors);
        traffic.unacked += other.traffic.unacked;
        traffic.received += other.traffic.received;
        traffic.pings += other.traffic.pings;
        traffic.pongs += other.traffic.pongs;
        traffic.bytes_sent += other.traffic.bytes_sent;
        traffic.bytes_received += other.traffic.bytes_received;

        for (name, histogram) in &other.histograms {
            self.histogram(name).merge(histogram)?;
        }
        self.delivery.merge(&other.delivery);
        self.timing.merge(&other.timing);
        self.planted_drops
            .extend(other.planted_drops.iter().cloned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_have_stable_names() {
        assert_eq!(Cause::Refused.to_string(), "refused");
        assert_eq!(Cause::HttpStatus(401).to_string(), "http_401");
        assert_eq!(Cause::Closed(1008).to_string(), "closed_1008");
        assert_eq!(
            Cause::Rejected("UNAUTHENTICATED".into()).to_string(),
            "error_UNAUTHENTICATED"
        );
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(Cause::from_io(&refused), Cause::Refused);
        let unavailable = io::Error::from(io::ErrorKind::AddrNotAvailable);
        assert_eq!(Cause::from_io(&unavailable), Cause::AddressUnavailable);
    }

    #[test]
    fn merge_sums_counts_and_histograms() {
        let mut left = Totals::default();
        left.connections.attempted = 3;
        left.connections.established = 2;
        count_cause(&mut left.connections.failed, &Cause::Timeout);
        left.histogram(HANDSHAKE).record_micros(1_000);
        left.timing.connect_start_ns = Some(100);
        left.timing.connect_end_ns = Some(500);

        let mut right = Totals::default();
        right.connections.attempted = 2;
        right.connections.established = 1;
        count_cause(&mut right.connections.failed, &Cause::Timeout);
        count_cause(&mut right.connections.failed, &Cause::Refused);
        right.histogram(HANDSHAKE).record_micros(2_000);
        right.histogram(ROUND_TRIP).record_micros(3_000);
        right.timing.connect_start_ns = Some(50);
        right.timing.connect_end_ns = Some(400);

        left.merge(&right).unwrap();
        assert_eq!(left.connections.attempted, 5);
        assert_eq!(left.connections.established, 3);
        assert_eq!(left.connections.failed["timeout"], 2);
        assert_eq!(left.connections.failed["refused"], 1);
        assert_eq!(left.connections.failed_total(), 3);
        assert_eq!(left.histograms[HANDSHAKE].count(), 2);
        assert_eq!(left.histograms[ROUND_TRIP].count(), 1);
        assert_eq!(left.timing.connect_start_ns, Some(50));
        assert_eq!(left.timing.connect_end_ns, Some(500));
        assert_eq!(left.timing.connect_secs(), Some(450e-9));
    }

    #[test]
    fn totals_survive_json() {
        let mut totals = Totals::default();
        totals.traffic.sent = 9;
        totals.histogram(SEND_TO_ACK).record_micros(700);
        let json = serde_json::to_string(&totals).unwrap();
        let decoded: Totals = serde_json::from_str(&json).unwrap();
        assert_eq!(decoded, totals);
    }
}
