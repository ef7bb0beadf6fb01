//! One shard of the benchmark server: the shared session machinery of [`crate::host`] with
//! an echo or broadcast action on each binary message, and no authentication or deadlines.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use monoio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::debug;

use super::{BenchMode, BenchWsOptions};
use crate::host::{self, Flow, HostState, MessageHandler, ReadLimit, SessionHost};
use crate::session::SessionEntry;
use crate::ws::{self, UpgradeRequest};

/// The broadcast channel of another shard.
pub(super) struct Peer {
    pub index: usize,
    pub sender: mpsc::UnboundedSender<Bytes>,
}

/// State of one shard, owned by its thread.
pub(super) struct BenchShard {
    mode: BenchMode,
    max_message_bytes: usize,
    handshake_timeout: Duration,
    state: HostState,
    peers: Vec<Peer>,
}

impl SessionHost for BenchShard {
    const SLOW_CONSUMER_ADVICE: &'static str = "reconnect";
    const DRAIN_REASON: &'static str = "server is shutting down";

    fn state(&self) -> &HostState {
        &self.state
    }
}

impl BenchShard {
    pub(super) fn new(index: usize, options: &BenchWsOptions, peers: Vec<Peer>) -> Self {
        Self {
            mode: options.mode,
            max_message_bytes: options.max_message_bytes,
            handshake_timeout: options.handshake_timeout,
            state: HostState::new(index, options.queue, options.drain_timeout),
            peers,
        }
    }

    /// Queues one message for every session of this shard.
    fn push_to_all(&self, message: &Bytes) {
        for (session_id, entry) in self.state.sessions.all() {
            self.push(session_id, &entry, message.clone());
        }
    }

    /// Echoes or broadcasts one binary message. Returns false when the sender's session
    /// ended meanwhile.
    fn handle_binary(&self, session_id: u64, entry: &SessionEntry, payload: &[u8]) -> bool {
        let message = ws::encode_binary(payload);
        match self.mode {
            BenchMode::Echo => self.push(session_id, entry, message),
            BenchMode::Broadcast => {
                for peer in &self.peers {
                    if peer.sender.send(message.clone()).is_err() {
                        debug!(
                            shard = self.state.index,
                            peer = peer.index,
                            "peer shard stopped"
                        );
                    }
                }
                self.push_to_all(&message);
                !entry.kill.is_raised()
            }
        }
    }
}

/// One session of a shard, as its reader loop sees it.
struct BenchSession<'a> {
    shard: &'a BenchShard,
    session_id: u64,
    entry: &'a SessionEntry,
}

impl MessageHandler for BenchSession<'_> {
    const TEXT_REJECTION: &'static str = "text messages are not supported; send binary messages";

    fn session_id(&self) -> u64 {
        self.session_id
    }

    fn handle_binary(&mut self, payload: &[u8]) -> Flow {
        let open = self
            .shard
            .handle_binary(self.session_id, self.entry, payload);
        Flow::after_push(open)
    }

    fn send(&self, message: Bytes) -> Flow {
        Flow::after_push(self.shard.push(self.session_id, self.entry, message))
    }
}

/// Runs one shard on the current thread until a drain completes.
pub(super) fn run(
    shard: BenchShard,
    listener: std::net::TcpListener,
    broadcasts: mpsc::UnboundedReceiver<Bytes>,
    drain: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let receive = |shard| receive_broadcasts(shard, broadcasts);
    host::run_shard(shard, listener, drain, receive, serve)
}

/// Queues every message that another shard broadcasts for this shard's sessions.
async fn receive_broadcasts(shard: Rc<BenchShard>, mut broadcasts: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(message) = broadcasts.recv().await {
        shard.push_to_all(&message);
    }
}

/// Serves one accepted connection to its end. Every request path is accepted and no
/// subprotocol is negotiated.
async fn serve(shard: Rc<BenchShard>, stream: TcpStream, peer: SocketAddr) {
    let admit = |_: &UpgradeRequest| Ok(((), None));
    let timeout = shard.handshake_timeout;
    let Some((stream, (), leftover)) = host::upgrade(stream, peer, timeout, admit).await else {
        return;
    };

    let (session_id, entry, read_half) = host::open_session(&shard, stream);
    let mut session = BenchSession {
        shard: &shard,
        session_id,
        entry: &entry,
    };
    let max_message_bytes = shard.max_message_bytes;
    let unlimited = || ReadLimit::Unlimited;
    let ending = host::read_until_end(
        &mut session,
        &entry,
        max_message_bytes,
        unlimited,
        read_half,
        leftover,
    )
    .await;
    shard.close_session(session_id, &entry, ending);
}
