//! One shard: a monoio runtime on its own thread that accepts connections on a SO_REUSEPORT
//! listener, owns its part of the session table and pushes the router's frames to its
//! sessions. Nothing here is shared with another shard, so the frame path takes no lock.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::pb::{internal_frame, Deliver, InternalFrame, PresenceChange};
use switchboard_protocol::CloseCode;
use switchboard_router::RouterHandle;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::auth::Auth;
use crate::config::GatewayConfig;
use crate::connection;
use crate::session::{PushError, QueueLimits, SessionEntry, SessionTable};
use crate::ws;

/// Router pushes handled before the push task yields. A burst of pushes would otherwise fill
/// send queues before any writer task runs, and drop sessions whose clients do read.
const PUSHES_PER_YIELD: usize = 64;

/// Read-only state that every shard of a gateway shares.
pub struct ShardShared {
    pub config: GatewayConfig,
    pub auth: Arc<Auth>,
    pub router: RouterHandle,
}

/// State of one shard, owned by its thread.
pub struct Shard {
    pub index: usize,
    pub shared: Arc<ShardShared>,
    pub sessions: SessionTable,
    /// Writer tasks still flushing, so a drain can wait for them.
    pub open_writers: Cell<usize>,
}

impl Shard {
    /// Returns the gateway configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.shared.config
    }

    /// Returns the bounds of a session's send queue.
    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            max_messages: self.config().send_queue_messages,
            max_bytes: self.config().send_queue_bytes,
        }
    }

    /// Tells the router that a session of `user_id` came online or went offline.
    pub fn announce(&self, session_id: u64, user_id: u64, online: bool) {
        let change = PresenceChange {
            gateway_id: self.config().gateway_id,
            session_id,
            user_id,
            online,
        };
        let frame = InternalFrame {
            kind: Some(internal_frame::Kind::Presence(change)),
        };
        if let Err(error) = self.shared.router.try_send(frame) {
            // A lost presence change leaves a stale or missing route until the session
            // reconnects; clients resync on reconnect, so no message is lost.
            warn!(session_id, user_id, online, %error, "presence change not sent to router");
        }
    }

    /// Queues one WebSocket message for a session, dropping the session as a slow consumer
    /// when its queue is full. Returns false when the session can take no more messages.
    pub fn push(&self, session_id: u64, entry: &SessionEntry, message: Bytes) -> bool {
        match entry.outbound.push(message) {
            Ok(()) => true,
            Err(PushError::Closed) => false,
            Err(PushError::Full) => {
                let reason = format!(
                    "send queue full at {} messages or {} bytes; reconnect and sync",
                    self.config().send_queue_messages,
                    self.config().send_queue_bytes
                );
                info!(session_id, user_id = ?entry.user_id.get(), "slow consumer dropped");
                self.end_session(session_id, entry, CloseCode::SlowConsumer, &reason, true);
                false
            }
        }
    }

    /// Removes a session, queues its close frame and stops its reader. With
    /// `discard_queued`, messages not yet written are dropped before the close frame.
    pub fn end_session(
        &self,
        session_id: u64,
        entry: &SessionEntry,
        code: CloseCode,
        reason: &str,
        discard_queued: bool,
    ) {
        if self.sessions.remove(session_id).is_some() {
            if let Some(user_id) = entry.user_id.get() {
                self.announce(session_id, user_id, false);
            }
        }
        entry
            .outbound
            .push_last(ws::encode_close(code.code(), reason), discard_queued);
        entry.kill.raise();
    }

    /// Hands the frames of one router push to the listed local sessions, encoding the
    /// WebSocket message once for all of them.
    fn deliver(&self, deliver: Deliver) {
        let message = ws::encode_binary(&deliver.frames);
        for session_id in deliver.session_ids {
            match self.sessions.get(session_id) {
                Some(entry) => {
                    self.push(session_id, &entry, message.clone());
                }
                None => debug!(session_id, "push for a session that is gone; skipped"),
            }
        }
    }

    /// Sends a goaway notice and a 1001 close to every session.
    fn drain_sessions(&self) {
        let goaway = connection::goaway_message(self.config().drain_timeout_ms);
        for (session_id, entry) in self.sessions.all() {
            let _ = entry.outbound.push(goaway.clone());
            self.end_session(
                session_id,
                &entry,
                CloseCode::GoingAway,
                "server is draining; reconnect",
                false,
            );
        }
    }
}

/// Runs shard `index` on the current thread until a drain completes.
///
/// # Errors
/// When the monoio runtime or the listener cannot be set up.
pub fn run(
    index: usize,
    listener: std::net::TcpListener,
    shared: Arc<ShardShared>,
    pushes: mpsc::UnboundedReceiver<Deliver>,
    drain: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()?;
    runtime.block_on(async move {
        let listener = monoio::net::TcpListener::from_std(listener)?;
        let shard = Rc::new(Shard {
            index,
            shared,
            sessions: SessionTable::new(index),
            open_writers: Cell::new(0),
        });
        info!(
            shard = index,
            io_uring = monoio::utils::detect_uring(),
            "shard started"
        );

        monoio::spawn(receive_pushes(shard.clone(), pushes));
        accept_until_drain(&shard, listener, drain).await;
        finish_drain(&shard).await;
        info!(shard = index, "shard stopped");
        Ok(())
    })
}

async fn receive_pushes(shard: Rc<Shard>, mut pushes: mpsc::UnboundedReceiver<Deliver>) {
    let mut since_yield = 0;
    while let Some(deliver) = pushes.recv().await {
        shard.deliver(deliver);
        since_yield += 1;
        if since_yield == PUSHES_PER_YIELD {
            since_yield = 0;
            yield_now().await;
        }
    }
    debug!(shard = shard.index, "router push channel closed");
}

/// Returns to the scheduler once, behind the tasks that are ready to run.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|context| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        context.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}

async fn accept_until_drain(
    shard: &Rc<Shard>,
    listener: monoio::net::TcpListener,
    mut drain: watch::Receiver<bool>,
) {
    loop {
        monoio::select! {
            _ = drain.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    monoio::spawn(connection::serve(shard.clone(), stream, peer));
                }
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning on the error.
                    warn!(shard = shard.index, %error, "accept failed; retrying in 10 ms");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

async fn finish_drain(shard: &Rc<Shard>) {
    info!(
        shard = shard.index,
        sessions = shard.sessions.len(),
        "draining sessions"
    );
    shard.drain_sessions();
    let deadline =
        std::time::Instant::now() + Duration::from_millis(shard.config().drain_timeout_ms);
    while shard.open_writers.get() > 0 && std::time::Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if shard.open_writers.get() > 0 {
        warn!(
            shard = shard.index,
            writers = shard.open_writers.get(),
            "drain timed out with sessions still flushing"
        );
    }
}
