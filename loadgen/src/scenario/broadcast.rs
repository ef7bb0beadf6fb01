//! The `broadcast` scenario on one worker thread: plain WebSocket binary messages, no
//! switchboard protocol. A few connections send stamped messages at a paced rate. The
//! server is expected to send each one to every connection, and every connection records
//! the send-to-receive latency of each copy.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::context::ThreadContext;
use super::plain::{self, PlainJob, Received};
use super::ramp::{due_count, pacing_interval};
use crate::machine::unix_now_ns;
use crate::net::{Outbox, WsReader};
use crate::stats;

/// Work of one worker in the `broadcast` scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastJob {
    pub plain: PlainJob,
    /// Run-wide connections `0..senders` send.
    pub senders: u64,
    /// Messages per second of each sender.
    pub rate_per_sender: f64,
    pub drain_secs: u64,
}

/// Runs the scenario on thread `thread` of `threads`.
pub async fn run_thread(
    ctx: Rc<ThreadContext>,
    job: Rc<BroadcastJob>,
    thread: usize,
    threads: usize,
) {
    let connections = plain::open_connections(&ctx, &job.plain, thread, threads).await;

    let run_end = plain::start_run(&ctx, &job.plain).await;
    let receive_end = run_end + Duration::from_secs(job.drain_secs);
    let mut senders = Vec::new();
    let mut writers = Vec::with_capacity(connections.len());
    let mut receivers = Vec::with_capacity(connections.len());
    for (index, connection) in connections {
        if index < job.senders {
            senders.push(connection.outbox.clone());
        }
        writers.push((connection.outbox.clone(), connection.writer));
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

    plain::close_after_run(&ctx, writers).await;
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
            plain::send_stamped(ctx, outbox, job.plain.payload_bytes);
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
    loop {
        match plain::next_binary(&mut reader, &outbox, end).await {
            Received::Binary(message) => {
                plain::record_stamped(&ctx, &message, stats::SEND_TO_RECEIVE);
            }
            Received::DeadlinePassed => return,
            Received::Lost(cause) => {
                ctx.count_lost(&cause);
                return;
            }
        }
    }
}
