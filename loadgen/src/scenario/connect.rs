//! The `connect` scenario on one worker thread: opens authenticated sessions at a paced
//! rate with locally minted tokens, keeps them open while sending heartbeats, then closes
//! them.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::context::ThreadContext;
use super::ramp::ramp;
use super::session::{Identity, Session};
use crate::machine::{unix_now_ns, unix_now_secs};
use crate::token::TokenMinter;

/// Work of one worker in the `connect` scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectJob {
    /// Run-wide index of the worker's first connection.
    pub first_index: u64,
    pub connections: u64,
    /// User id of run-wide connection 0; connection `i` uses `first_user_id + i`.
    pub first_user_id: u64,
    /// Connections per second for this worker.
    pub connect_rate: f64,
    pub duration_secs: u64,
    pub ping_interval_secs: u64,
    pub jwt_secret: String,
}

/// Runs the scenario on thread `thread` of `threads`, which takes every `threads`-th
/// connection of the job.
///
/// # Errors
/// When the secret is unusable.
pub async fn run_thread(
    ctx: Rc<ThreadContext>,
    job: Rc<ConnectJob>,
    thread: usize,
    threads: usize,
) -> anyhow::Result<()> {
    let minter = Rc::new(TokenMinter::new(&job.jwt_secret)?);
    let mine: Vec<u64> = (thread as u64..job.connections)
        .step_by(threads)
        .map(|local| job.first_index + local)
        .collect();
    let sessions: Rc<RefCell<Vec<Session>>> = Rc::default();
    ramp(mine.len(), job.connect_rate / threads as f64, |k| {
        let (ctx, minter, sessions) = (ctx.clone(), minter.clone(), sessions.clone());
        let index = mine[k];
        let user_id = job.first_user_id + index;
        async move {
            let token = match minter.mint(user_id, &format!("loadgen{user_id}"), unix_now_secs()) {
                Ok(token) => token,
                Err(error) => {
                    tracing::error!(%error, user_id, "minting a token failed");
                    return;
                }
            };
            let identity = Identity { user_id, device: 0 };
            if let Ok(session) = Session::open(&ctx, index, identity, &token, None).await {
                sessions.borrow_mut().push(session);
            }
        }
    })
    .await;

    ctx.ready_then_wait_for_run().await;
    let sessions = std::mem::take(&mut *sessions.borrow_mut());
    let deadline = Instant::now() + Duration::from_secs(job.duration_secs);
    ctx.totals().timing.run_start_ns = Some(unix_now_ns());
    hold(&ctx, &sessions, deadline, job.ping_interval_secs).await;
    ctx.totals().timing.run_end_ns = Some(unix_now_ns());

    ctx.run_done_then_wait_for_finish().await;
    close_all(sessions).await;
    Ok(())
}

/// Keeps `sessions` open until `deadline`, pinging each every `ping_interval_secs`
/// seconds, spread evenly: each second pings the sessions whose position matches that
/// second modulo the interval.
pub async fn hold(
    ctx: &ThreadContext,
    sessions: &[Session],
    deadline: Instant,
    ping_interval_secs: u64,
) {
    let mut tick = 0u64;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        if ping_interval_secs > 0 {
            ping_slice(ctx, sessions, tick, ping_interval_secs);
        }
        tick += 1;
        let pause = Duration::from_secs(1).min(deadline - now);
        monoio::time::sleep(pause).await;
    }
}

/// Pings the sessions whose position modulo `interval` equals `tick` modulo `interval`.
pub fn ping_slice(ctx: &ThreadContext, sessions: &[Session], tick: u64, interval: u64) {
    let slot = (tick % interval) as usize;
    for session in sessions.iter().skip(slot).step_by(interval as usize) {
        session.ping(ctx);
    }
}

/// Closes every session at once and waits for all of them.
pub async fn close_all(sessions: Vec<Session>) {
    let closing: Vec<_> = sessions
        .into_iter()
        .map(|session| monoio::spawn(session.close()))
        .collect();
    for task in closing {
        task.await;
    }
}
