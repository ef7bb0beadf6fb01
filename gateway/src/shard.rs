//! One shard: a monoio runtime on its own thread that accepts connections on a SO_REUSEPORT
//! listener, owns its part of the session table and pushes the router's frames to its
//! sessions. Nothing here is shared with another shard, so the frame path takes no lock.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::pb::{internal_frame, Deliver, InternalFrame, PresenceChange};
use switchboard_router::RouterHandle;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::auth::Auth;
use crate::config::GatewayConfig;
use crate::connection;
use crate::host::{self, HostState, SessionHost};
use crate::session::{QueueLimits, SessionEntry};
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
    pub shared: Arc<ShardShared>,
    /// Sessions, writer count and limits, shared with the session machinery.
    pub state: HostState,
}

impl Shard {
    /// Returns the gateway configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.shared.config
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

    /// Hands the frames of one router push to the listed local sessions, encoding the
    /// WebSocket message once for all of them.
    fn deliver(&self, deliver: Deliver) {
        let message = ws::encode_binary(&deliver.frames);
        for session_id in deliver.session_ids {
            match self.state.sessions.get(session_id) {
                Some(entry) => {
                    self.push(session_id, &entry, message.clone());
                }
                None => debug!(session_id, "push for a session that is gone; skipped"),
            }
        }
    }
}

impl SessionHost for Shard {
    const SLOW_CONSUMER_ADVICE: &'static str = "reconnect and sync";
    const DRAIN_REASON: &'static str = "server is draining; reconnect";

    fn state(&self) -> &HostState {
        &self.state
    }

    /// Returns the goaway notice with the delay after which clients reconnect.
    fn drain_notice(&self) -> Option<Bytes> {
        Some(connection::goaway_message(self.config().drain_timeout_ms))
    }

    /// Tells the router that an authenticated session went offline.
    fn session_removed(&self, session_id: u64, entry: &SessionEntry) {
        if let Some(user_id) = entry.user_id.get() {
            self.announce(session_id, user_id, false);
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
    let config = &shared.config;
    let queue_limits = QueueLimits {
        max_messages: config.send_queue_messages,
        max_bytes: config.send_queue_bytes,
    };
    let drain_timeout = Duration::from_millis(config.drain_timeout_ms);
    let shard = Shard {
        state: HostState::new(index, queue_limits, drain_timeout),
        shared,
    };
    let receive = |shard| receive_pushes(shard, pushes);
    host::run_shard(shard, listener, drain, receive, connection::serve)
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
    debug!(shard = shard.state.index, "router push channel closed");
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
