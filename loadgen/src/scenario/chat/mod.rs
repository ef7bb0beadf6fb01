//! The `chat` scenario on one worker thread. It connects devices and reads each
//! conversation's `last_seq`, then sends messages at a paced total rate, each from a random
//! device to a random conversation of its user. After the acks and a drain, it syncs every
//! conversation again and checks every device's deliveries.

pub mod content;
pub mod plan;
pub mod setup;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::connect::close_all;
use super::context::{LiveCounters, ThreadContext};
use super::ramp::{due_count, pacing_interval, ramp};
use super::session::{DropRule, Identity, Session};
use crate::machine::unix_now_ns;

/// Time to wait for outstanding acks after the last send.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Time to wait for one sync reply.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// One device to connect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceSpec {
    /// Run-wide connection index, which picks the source address.
    pub index: u64,
    pub identity: Identity,
    pub token: String,
    /// Conversations of the user.
    pub conversations: Vec<u64>,
    /// Push to drop before the checker, for the checker's own test.
    pub drop_rule: Option<DropRule>,
}

/// Work of one worker in the `chat` scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatJob {
    pub devices: Vec<DeviceSpec>,
    /// Connections per second for this worker.
    pub connect_rate: f64,
    /// Messages per second for this worker.
    pub send_rate: f64,
    pub payload_bytes: usize,
    pub duration_secs: u64,
    pub drain_secs: u64,
    pub ping_interval_secs: u64,
}

struct Device {
    spec: DeviceSpec,
    session: Session,
}

/// Runs the scenario on thread `thread` of `threads`, which takes every `threads`-th
/// device of the job.
pub async fn run_thread(ctx: Rc<ThreadContext>, job: Rc<ChatJob>, thread: usize, threads: usize) {
    let mine: Vec<DeviceSpec> = job
        .devices
        .iter()
        .skip(thread)
        .step_by(threads)
        .cloned()
        .collect();
    let (devices, unconnected) =
        connect_devices(&ctx, mine, job.connect_rate / threads as f64).await;

    ctx.ready_then_wait_for_run().await;
    ctx.totals().timing.run_start_ns = Some(unix_now_ns());
    send_paced(&ctx, &devices, &job, job.send_rate / threads as f64).await;
    ctx.totals().timing.run_end_ns = Some(unix_now_ns());
    wait_for_acks(&ctx, &devices).await;

    ctx.run_done_then_wait_for_finish().await;
    monoio::time::sleep(Duration::from_secs(job.drain_secs)).await;
    for spec in &unconnected {
        for _ in &spec.conversations {
            ctx.totals().delivery.add_unchecked();
        }
    }
    verify_and_close(&ctx, devices).await;
}

/// Opens a session per device and reads the `last_seq` of each of its conversations.
/// Returns the connected devices and the specs of those that failed to connect.
async fn connect_devices(
    ctx: &Rc<ThreadContext>,
    specs: Vec<DeviceSpec>,
    rate: f64,
) -> (Vec<Device>, Vec<DeviceSpec>) {
    let connected: Rc<RefCell<Vec<Device>>> = Rc::default();
    let unconnected: Rc<RefCell<Vec<DeviceSpec>>> = Rc::default();
    ramp(specs.len(), rate, |k| {
        let spec = specs[k].clone();
        let (ctx, connected, unconnected) = (ctx.clone(), connected.clone(), unconnected.clone());
        async move {
            match open_device(&ctx, &spec).await {
                Some(session) => connected.borrow_mut().push(Device { spec, session }),
                None => unconnected.borrow_mut().push(spec),
            }
        }
    })
    .await;
    let connected = std::mem::take(&mut *connected.borrow_mut());
    let unconnected = std::mem::take(&mut *unconnected.borrow_mut());
    (connected, unconnected)
}

async fn open_device(ctx: &Rc<ThreadContext>, spec: &DeviceSpec) -> Option<Session> {
    let session = Session::open(ctx, spec.index, spec.identity, &spec.token, spec.drop_rule)
        .await
        .ok()?;
    for &conversation_id in &spec.conversations {
        match session.last_seq(ctx, conversation_id, SYNC_TIMEOUT).await {
            Ok(last_seq) => session.set_start_after(conversation_id, last_seq),
            Err(cause) => {
                // The checker then starts at the first seq this device receives.
                tracing::warn!(
                    user_id = spec.identity.user_id,
                    conversation_id,
                    %cause,
                    "initial sync failed"
                );
            }
        }
    }
    Some(session)
}

/// Sends messages at `rate` per second until the duration ends, each from a random device
/// to a random conversation of its user, and pings every device each ping interval.
async fn send_paced(ctx: &ThreadContext, devices: &[Device], job: &ChatJob, rate: f64) {
    let senders: Vec<&Device> = devices
        .iter()
        .filter(|device| !device.spec.conversations.is_empty())
        .collect();
    let sessions: Vec<&Session> = devices.iter().map(|device| &device.session).collect();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(job.duration_secs);
    let mut rng = rand::rng();
    let mut sent = 0u64;
    let mut next_ping = start;
    let mut tick = 0u64;
    while Instant::now() < deadline {
        let due = due_count(start.elapsed(), rate);
        while sent < due && !senders.is_empty() {
            let device = senders[rng.random_range(0..senders.len())];
            let conversations = &device.spec.conversations;
            let conversation_id = conversations[rng.random_range(0..conversations.len())];
            let text =
                content::compose(device.spec.identity, sent, unix_now_ns(), job.payload_bytes);
            if !device.session.send_message(ctx, conversation_id, text) {
                LiveCounters::bump(&ctx.live().errors);
                *ctx.totals()
                    .traffic
                    .send_errors
                    .entry("session_closed".to_string())
                    .or_default() += 1;
            }
            sent += 1;
        }
        if job.ping_interval_secs > 0 && Instant::now() >= next_ping {
            ping_each(ctx, &sessions, tick, job.ping_interval_secs);
            tick += 1;
            next_ping += Duration::from_secs(1);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        monoio::time::sleep(pacing_interval(rate).min(left)).await;
    }
}

fn ping_each(ctx: &ThreadContext, sessions: &[&Session], tick: u64, interval: u64) {
    let slot = (tick % interval) as usize;
    for session in sessions.iter().skip(slot).step_by(interval as usize) {
        session.ping(ctx);
    }
}

/// Waits up to [`ACK_WAIT`] for every send to be acked or rejected, then counts the rest as
/// unacked.
async fn wait_for_acks(ctx: &ThreadContext, devices: &[Device]) {
    let deadline = Instant::now() + ACK_WAIT;
    let unacked = || -> usize { devices.iter().map(|device| device.session.unacked()).sum() };
    while unacked() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    ctx.totals().traffic.unacked += unacked() as u64;
}

/// Reads each conversation's final `last_seq`, checks each device's deliveries against
/// it, and closes the sessions.
async fn verify_and_close(ctx: &Rc<ThreadContext>, devices: Vec<Device>) {
    let checks: Vec<_> = devices
        .into_iter()
        .map(|device| {
            let ctx = ctx.clone();
            monoio::spawn(async move {
                verify_device(&ctx, &device).await;
                device.session
            })
        })
        .collect();
    let mut sessions = Vec::with_capacity(checks.len());
    for check in checks {
        sessions.push(check.await);
    }
    close_all(sessions).await;
}

async fn verify_device(ctx: &ThreadContext, device: &Device) {
    let identity = device.spec.identity;
    for &conversation_id in &device.spec.conversations {
        let last_seq = match device
            .session
            .last_seq(ctx, conversation_id, SYNC_TIMEOUT)
            .await
        {
            Ok(last_seq) => last_seq,
            Err(cause) => {
                tracing::warn!(user_id = identity.user_id, conversation_id, %cause, "final sync failed");
                ctx.totals().delivery.add_unchecked();
                continue;
            }
        };
        let verdict = device.session.verify(conversation_id, last_seq);
        if !verdict.is_clean() {
            tracing::debug!(
                user_id = identity.user_id,
                device = identity.device,
                conversation_id,
                ?verdict,
                "delivery check failed"
            );
        }
        ctx.totals().delivery.add_verdict(
            conversation_id,
            identity.user_id,
            identity.device,
            &verdict,
        );
    }
}
