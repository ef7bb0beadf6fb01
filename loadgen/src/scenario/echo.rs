//! The `echo` scenario on one worker thread: plain WebSocket binary messages, no
//! switchboard protocol. Each connection keeps a fixed number of stamped messages in
//! flight and sends a new one for every echo it gets back, recording the round trip.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::context::{OpenConnection, ThreadContext};
use super::plain::{self, PlainJob, Received};
use crate::machine::unix_now_ns;
use crate::net::Outbox;
use crate::stats;

/// Time to wait for echoes still in flight when the duration ends.
pub const DRAIN: Duration = Duration::from_secs(2);

/// Work of one worker in the `echo` scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoJob {
    pub plain: PlainJob,
    pub in_flight: u32,
}

/// Runs the scenario on thread `thread` of `threads`.
pub async fn run_thread(ctx: Rc<ThreadContext>, job: Rc<EchoJob>, thread: usize, threads: usize) {
    let connections = plain::open_connections(&ctx, &job.plain, thread, threads).await;

    let deadline = plain::start_run(&ctx, &job.plain).await;
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

    plain::close_after_run(&ctx, writers).await;
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
    let payload_bytes = job.plain.payload_bytes;
    for _ in 0..job.in_flight {
        plain::send_stamped(&ctx, &outbox, payload_bytes);
    }
    let mut outstanding = job.in_flight;
    // The drain's end is the only read timeout, because this connection stops reading then.
    let drain_end = deadline + DRAIN;
    while outstanding > 0 {
        match plain::next_binary(&mut reader, &outbox, drain_end).await {
            Received::Binary(echo) => {
                outstanding -= 1;
                plain::record_stamped(&ctx, &echo, stats::ROUND_TRIP);
                if Instant::now() < deadline {
                    plain::send_stamped(&ctx, &outbox, payload_bytes);
                    outstanding += 1;
                }
            }
            Received::DeadlinePassed => break,
            Received::Lost(cause) => {
                ctx.count_lost(&cause);
                break;
            }
        }
    }
    ctx.totals().traffic.unacked += u64::from(outstanding);
    (outbox, writer)
}
