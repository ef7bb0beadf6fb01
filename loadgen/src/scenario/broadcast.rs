//! The `broadcast` scenario on one worker thread: plain WebSocket binary messages, no
//! switchboard protocol. A few connections send stamped messages at a paced rate. The
//! server is expected to send each one to every connection, and every connection records
//! the send-to-receive latency of each copy.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard_gateway::ws::WsEvent;

use super::context::{LiveCounters, ThreadContext};
use super::echo::open_plain;
use super::payload;
use super::ramp::{due_count, pacing_interval};
use super::session::{close_code, read_cause};
use crate::machine::unix_now_ns;
use crate::net::{wire, Outbox, WsReader};
use crate::stats::{self, Cause};

/// Time to wait for writers after closing.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Work of one worker in the `broadcast` scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastJob {
    /// Run-wide index of the worker's first connection.
    pub first_index: u64,
    pub connections: u64,
    /// Run-wide connections `0..senders` send.
    pub senders: u64,
    /// Messages per second of each sender.
    pub rate_per_sender: f64,
    /// Connections per second for this worker.
    pub connect_rate: f64,
    pub payload_bytes: usize,
    pub duration_secs: u64,
    pub drain_secs: u64,
}

/// Runs the scenario on thread `thread` of `threads`.
pub async fn run_thread(
    ctx: Rc<ThreadContext>,
    job: Rc<BroadcastJob>,
    thread: usize,
    threads: usize,
) {
    let connections = open_plain(
        &ctx,
        job.first_index,
        job.connections,
        job.connect_rate,
        thread,
        threads,
    )
    .await;

    ctx.ready_then_wait_for_run().await;
    let run_end = Instant::now() + Duration::from_secs(job.duration_secs);
    let receive_end = run_end + Duration::from_secs(job.drain_secs);
    ctx.totals().timing.run_start_ns = Some(unix_now_ns());
    let mut outboxes = Vec::with_capacity(connections.len());
    let mut senders = Vec::new();
    let mut writers = Vec::with_capacity(connections.len());
    let mut receivers = Vec::with_capacity(connections.len());
    for (index, connection) in connections {
        if index < job.senders {
            senders.push(connection.outbox.clone());
        }
        outboxes.push(connection.outbox.clone());
        writers.push(connection.writer);
        let task = receive_loop(
            ctx.clone(),
            connection.reader,
            connection.outbox,
            receive_end,
        );
        receivers.push(monoio::spawn(task));
    }
    let rate = job.rate_per_sender * senders.len() as f64;
    send_paced(&ctx, &senders, &job, rate, run_end).await;
    drop(senders);
    ctx.totals().timing.run_end_ns = Some(unix_now_ns());
    for receiver in receivers {
        receiver.await;
    }

    ctx.run_done_then_wait_for_finish().await;
    for outbox in outboxes {
        outbox.send(wire::close(1000, "load run finished"));
    }
    for writer in writers {
        let _ = monoio::time::timeout(CLOSE_WAIT, writer).await;
    }
}

/// Sends stamped messages round-robin over `senders` at `rate` per second until `end`.
async fn send_paced(
    ctx: &ThreadContext,
    senders: &[Outbox],
    job: &BroadcastJob,
    rate: f64,
    end: Instant,
) {
    if senders.is_empty() {
        return;
    }
    let start = Instant::now();
    let mut sent = 0u64;
    while Instant::now() < end {
        let due = due_count(start.elapsed(), rate);
        while sent < due {
            let outbox = &senders[(sent % senders.len() as u64) as usize];
            outbox.send(wire::binary(&payload::stamped(
                job.payload_bytes,
                unix_now_ns(),
            )));
            LiveCounters::bump(&ctx.live().sent);
            let mut totals = ctx.totals();
            totals.traffic.sent += 1;
            totals.traffic.bytes_sent += job.payload_bytes as u64;
            sent += 1;
        }
        let left = end.saturating_duration_since(Instant::now());
        monoio::time::sleep(pacing_interval(rate).min(left)).await;
    }
}

/// Records every message until `end`, when the read is abandoned. The outbox replies to
/// pings and is dropped at the end, so only the sender and closer keep the writer open.
async fn receive_loop(
    ctx: Rc<ThreadContext>,
    mut reader: WsReader<monoio::net::tcp::TcpOwnedReadHalf>,
    outbox: Outbox,
    end: Instant,
) {
    let lost = loop {
        let event = match monoio::time::timeout_at(end.into(), reader.next_event()).await {
            Err(_) => break None,
            Ok(Ok(event)) => event,
            Ok(Err(error)) => break Some(read_cause(error)),
        };
        match event {
            WsEvent::Binary(message) => record_copy(&ctx, &message),
            WsEvent::Ping(ping) => {
                outbox.send(wire::pong(&ping));
            }
            WsEvent::Close(frame) => break Some(Cause::Closed(close_code(&frame))),
            WsEvent::Text(_) | WsEvent::Pong(_) => {}
        }
    };
    if let Some(cause) = lost {
        ctx.count_lost(&cause);
    }
}

fn record_copy(ctx: &ThreadContext, message: &[u8]) {
    LiveCounters::bump(&ctx.live().received);
    let mut totals = ctx.totals();
    totals.traffic.received += 1;
    totals.traffic.bytes_received += message.len() as u64;
    if let Some(sent_ns) = payload::sent_unix_ns(message) {
        totals
            .histogram(stats::SEND_TO_RECEIVE)
            .record_between_unix_ns(sent_ns, unix_now_ns());
    }
}
