//! The `echo` scenario on one worker thread: plain WebSocket binary messages, no
//! switchboard protocol. Each connection keeps a fixed number of stamped messages in
//! flight and sends a new one for every echo it gets back, recording the round trip.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchboard_gateway::ws::WsEvent;

use super::context::{LiveCounters, OpenConnection, ThreadContext};
use super::payload;
use super::ramp::ramp;
use super::session::{close_code, read_cause};
use crate::machine::unix_now_ns;
use crate::net::{wire, Outbox};
use crate::stats::{self, Cause};

/// Time to wait for echoes still in flight when the duration ends.
pub const DRAIN: Duration = Duration::from_secs(2);

/// Work of one worker in the `echo` scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoJob {
    /// Run-wide index of the worker's first connection.
    pub first_index: u64,
    pub connections: u64,
    /// Connections per second for this worker.
    pub connect_rate: f64,
    pub in_flight: u32,
    pub payload_bytes: usize,
    pub duration_secs: u64,
}

/// Runs the scenario on thread `thread` of `threads`.
pub async fn run_thread(ctx: Rc<ThreadContext>, job: Rc<EchoJob>, thread: usize, threads: usize) {
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
    let deadline = Instant::now() + Duration::from_secs(job.duration_secs);
    ctx.totals().timing.run_start_ns = Some(unix_now_ns());
    let loops: Vec<_> = connections
        .into_iter()
        .map(|(_, connection)| {
            monoio::spawn(echo_loop(ctx.clone(), job.clone(), connection, deadline))
        })
        .collect();
    let mut writers = Vec::with_capacity(loops.len());
    for task in loops {
        writers.push(task.await);
    }
    ctx.totals().timing.run_end_ns = Some(unix_now_ns());

    ctx.run_done_then_wait_for_finish().await;
    for (outbox, _) in &writers {
        outbox.send(wire::close(1000, "load run finished"));
    }
    for (outbox, writer) in writers {
        drop(outbox);
        let _ = monoio::time::timeout(DRAIN, writer).await;
    }
}

/// Opens this thread's share of `connections` plain WebSocket connections at `rate` per
/// second over all threads, counting each outcome. Returns the open connections with their
/// run-wide indexes, in index order.
pub async fn open_plain(
    ctx: &Rc<ThreadContext>,
    first_index: u64,
    connections: u64,
    rate: f64,
    thread: usize,
    threads: usize,
) -> Vec<(u64, OpenConnection)> {
    let mine: Vec<u64> = (thread as u64..connections)
        .step_by(threads)
        .map(|local| first_index + local)
        .collect();
    let opened: Rc<RefCell<Vec<(u64, OpenConnection)>>> = Rc::default();
    ramp(mine.len(), rate / threads as f64, |k| {
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

/// Runs round trips until `deadline`, then waits up to [`DRAIN`] for echoes in flight.
/// Returns the connection's outbox and writer, still open, so closing waits for the final
/// phase.
async fn echo_loop(
    ctx: Rc<ThreadContext>,
    job: Rc<EchoJob>,
    connection: OpenConnection,
    deadline: Instant,
) -> (Outbox, monoio::task::JoinHandle<u64>) {
    let OpenConnection {
        mut reader,
        outbox,
        writer,
    } = connection;
    let send = |ctx: &ThreadContext| {
        let frame = wire::binary(&payload::stamped(job.payload_bytes, unix_now_ns()));
        outbox.send(frame);
        LiveCounters::bump(&ctx.live().sent);
        let mut totals = ctx.totals();
        totals.traffic.sent += 1;
        totals.traffic.bytes_sent += job.payload_bytes as u64;
    };
    for _ in 0..job.in_flight {
        send(&ctx);
    }
    let mut outstanding = job.in_flight;
    let drain_end = deadline + DRAIN;
    let lost = loop {
        if outstanding == 0 {
            break None;
        }
        // Reads are not cancel safe, so the only timeout is the end of the drain, after
        // which this connection stops reading anyway.
        let event = match monoio::time::timeout_at(drain_end.into(), reader.next_event()).await {
            Err(_) => break None,
            Ok(Ok(event)) => event,
            Ok(Err(error)) => break Some(read_cause(error)),
        };
        match event {
            WsEvent::Binary(echo) => {
                outstanding -= 1;
                record_echo(&ctx, &echo);
                if Instant::now() < deadline {
                    send(&ctx);
                    outstanding += 1;
                }
            }
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
    ctx.totals().traffic.unacked += u64::from(outstanding);
    (outbox, writer)
}

fn record_echo(ctx: &ThreadContext, echo: &[u8]) {
    LiveCounters::bump(&ctx.live().received);
    let mut totals = ctx.totals();
    totals.traffic.received += 1;
    totals.traffic.bytes_received += echo.len() as u64;
    if let Some(sent_ns) = payload::sent_unix_ns(echo) {
        totals
            .histogram(stats::ROUND_TRIP)
            .record_between_unix_ns(sent_ns, unix_now_ns());
    }
}
