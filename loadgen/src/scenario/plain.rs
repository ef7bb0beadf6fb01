//! Pieces the plain-WebSocket scenarios (`echo` and `broadcast`) share: opening
//! connections without the switchboard protocol, the measured phase, stamped binary
//! messages, reading until a deadline, and closing.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio::net::tcp::TcpOwnedReadHalf;
use serde::{Deserialize, Serialize};
use switchboard_gateway::ws::WsEvent;

use super::context::{LiveCounters, OpenConnection, ThreadContext};
use super::payload;
use super::ramp::ramp;
use super::session::{close_code, read_cause};
use crate::machine::unix_now_ns;
use crate::net::{wire, Outbox, WsReader};
use crate::stats::Cause;

/// Time to wait for each writer after closing.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Work of one worker that both plain-WebSocket scenarios share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlainJob {
    /// Run-wide index of the worker's first connection.
    pub first_index: u64,
    pub connections: u64,
    /// Connections per second for this worker.
    pub connect_rate: f64,
    pub payload_bytes: usize,
    pub duration_secs: u64,
}

/// Opens this thread's share of the job's connections at the job's rate over all
/// `threads`, counting each outcome. Returns the open connections with their run-wide
/// indexes, in index order.
pub async fn open_connections(
    ctx: &Rc<ThreadContext>,
    job: &PlainJob,
    thread: usize,
    threads: usize,
) -> Vec<(u64, OpenConnection)> {
    let mine: Vec<u64> = (thread as u64..job.connections)
        .step_by(threads)
        .map(|local| job.first_index + local)
        .collect();
    let opened: Rc<RefCell<Vec<(u64, OpenConnection)>>> = Rc::default();
    ramp(mine.len(), job.connect_rate / threads as f64, |k| {
        let (ctx, opened) = (ctx.clone(), opened.clone());
        let index = mine[k];
        async move {
            let started = Instant::now();
            match ctx.open(index, None).await {
                Ok(connection) => {
                    ctx.count_established(started);
                    opened.borrow_mut().push((index, connection));
                }
                Err(cause) => ctx.count_failed(&cause),
            }
        }
    })
    .await;
    let mut opened = std::mem::take(&mut *opened.borrow_mut());
    opened.sort_by_key(|(index, _)| *index);
    opened
}

/// Reports this thread connected, waits for the measured phase and stamps its start.
/// Returns the end of sending, the job's duration from now.
pub async fn start_run(ctx: &ThreadContext, job: &PlainJob) -> Instant {
    ctx.ready_then_wait_for_run().await;
    let run_end = Instant::now() + Duration::from_secs(job.duration_secs);
    ctx.totals().timing.run_start_ns = Some(unix_now_ns());
    run_end
}

/// Reports this thread's measured phase done and waits for the final phase. Then sends a
/// close frame on every connection, drops its outbox and waits up to [`CLOSE_WAIT`] for
/// each writer to finish.
pub async fn close_after_run(
    ctx: &ThreadContext,
    connections: Vec<(Outbox, monoio::task::JoinHandle<u64>)>,
) {
    ctx.run_done_then_wait_for_finish().await;
    let mut writers = Vec::with_capacity(connections.len());
    for (outbox, writer) in connections {
        outbox.send(wire::close(1000, "load run finished"));
        writers.push(writer);
    }
    for writer in writers {
        let _ = monoio::time::timeout(CLOSE_WAIT, writer).await;
    }
}

/// Sends a binary message of `payload_bytes` stamped with the send time, and counts it.
pub fn send_stamped(ctx: &ThreadContext, outbox: &Outbox, payload_bytes: usize) {
    outbox.send(wire::binary(&payload::stamped(
        payload_bytes,
        unix_now_ns(),
    )));
    LiveCounters::bump(&ctx.live().sent);
    let mut totals = ctx.totals();
    totals.traffic.sent += 1;
    totals.traffic.bytes_sent += payload_bytes as u64;
}

/// Counts a received message and records the time since its stamp in the histogram
/// `histogram`.
pub fn record_stamped(ctx: &ThreadContext, message: &[u8], histogram: &str) {
    LiveCounters::bump(&ctx.live().received);
    let mut totals = ctx.totals();
    totals.traffic.received += 1;
    totals.traffic.bytes_received += message.len() as u64;
    if let Some(sent_ns) = payload::sent_unix_ns(message) {
        totals
            .histogram(histogram)
            .record_between_unix_ns(sent_ns, unix_now_ns());
    }
}

/// Result of reading a plain connection up to a deadline.
pub enum Received {
    /// A binary message.
    Binary(Bytes),
    /// The deadline passed with the connection still open.
    DeadlinePassed,
    /// The connection failed or the server closed it.
    Lost(Cause),
}

/// Reads events until the next binary message or `end`. Replies to pings with pongs through
/// `outbox`, and skips text messages and pongs.
///
/// Reads are not cancel safe, so the caller must stop reading this connection once `end`
/// has passed.
pub async fn next_binary(
    reader: &mut WsReader<TcpOwnedReadHalf>,
    outbox: &Outbox,
    end: Instant,
) -> Received {
    loop {
        let event = match monoio::time::timeout_at(end.into(), reader.next_event()).await {
            Err(_) => return Received::DeadlinePassed,
            Ok(Ok(event)) => event,
            Ok(Err(error)) => return Received::Lost(read_cause(error)),
        };
        match event {
            WsEvent::Binary(message) => return Received::Binary(message),
            WsEvent::Ping(ping) => {
                outbox.send(wire::pong(&ping));
            }
            WsEvent::Close(frame) => return Received::Lost(Cause::Closed(close_code(&frame))),
            WsEvent::Text(_) | WsEvent::Pong(_) => {}
        }
    }
}
