//! Work of each worker thread: one module per scenario, plus the pieces they share
//! (thread context, paced ramp, protocol session, stamped payloads, plain-WebSocket
//! connections).

pub mod broadcast;
pub mod chat;
pub mod connect;
pub mod context;
pub mod echo;
pub mod payload;
pub mod plain;
pub mod ramp;
pub mod session;

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use context::ThreadContext;

/// Work of one worker process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "scenario", rename_all = "snake_case")]
pub enum Job {
    Connect(connect::ConnectJob),
    Chat(chat::ChatJob),
    Echo(echo::EchoJob),
    Broadcast(broadcast::BroadcastJob),
}

impl Job {
    /// Returns the number of connections the job opens.
    pub fn connections(&self) -> u64 {
        match self {
            Job::Connect(job) => job.connections,
            Job::Chat(job) => job.devices.len() as u64,
            Job::Echo(job) => job.plain.connections,
            Job::Broadcast(job) => job.plain.connections,
        }
    }
}

/// Runs thread `thread` of `threads` of a worker's job to the end.
///
/// # Errors
/// When the job cannot start, such as an unusable token secret.
pub async fn run_thread(
    ctx: Rc<ThreadContext>,
    job: Rc<Job>,
    thread: usize,
    threads: usize,
) -> anyhow::Result<()> {
    match &*job {
        Job::Connect(job) => {
            connect::run_thread(ctx, Rc::new(job.clone()), thread, threads).await?;
        }
        Job::Chat(job) => chat::run_thread(ctx, Rc::new(job.clone()), thread, threads).await,
        Job::Echo(job) => echo::run_thread(ctx, Rc::new(job.clone()), thread, threads).await,
        Job::Broadcast(job) => {
            broadcast::run_thread(ctx, Rc::new(job.clone()), thread, threads).await;
        }
    }
    Ok(())
}
