//! Plain WebSocket echo and broadcast server on the gateway's own connection machinery, for
//! comparing the gateway's frame path with other WebSocket servers.
//!
//! It runs what the gateway runs, minus authentication and protocol frames. Each shard is a
//! monoio thread with its own SO_REUSEPORT listener. Connections use the RFC 6455 handshake
//! and codec of [`crate::ws`], a bounded [`Outbound`] send queue each and the gateway's
//! writer task. A connection whose queue fills is dropped with close code 4001, as in the
//! gateway.
//!
//! - [`BenchMode::Echo`] sends every binary message back to its sender.
//! - [`BenchMode::Broadcast`] sends every binary message to every connection of every shard,
//!   the sender included. The receiving shard encodes the WebSocket frame once, queues clones
//!   of the one [`Bytes`] for its own connections and sends the same [`Bytes`] to every other
//!   shard over an unbounded channel.
//!
//! Every request path is accepted and no subprotocol is negotiated. A text message closes the
//! connection with 1003, as in the gateway. Pings get pongs. There is no idle timeout.

use std::cell::Cell;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, Splitable};
use monoio::net::TcpStream;
use switchboard_protocol::CloseCode;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::config::GatewayConfig;
use crate::connection::{read_more, read_request, reply_and_close, write_queue};
use crate::server::{bind_reuseport, wait_for_signal};
use crate::session::{Outbound, PushError, QueueLimits, SessionEntry, SessionTable, Signal};
use crate::ws::{self, MessageDecoder, Role, WsEvent};

/// Action the server takes on each binary message it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchMode {
    /// Send the message back to its sender.
    Echo,
    /// Send the message to every connection of every shard, the sender included.
    Broadcast,
}

/// Settings of the benchmark server.
#[derive(Debug, Clone)]
pub struct BenchWsOptions {
    /// Action on each binary message.
    pub mode: BenchMode,
    /// Address every shard binds with SO_REUSEPORT; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Number of shard threads; 0 means one per CPU core.
    pub shards: usize,
    /// Largest WebSocket message accepted, in bytes, after reassembly of fragments.
    pub max_message_bytes: usize,
    /// Bounds of each connection's send queue.
    pub queue: QueueLimits,
    /// Time a client has to complete the HTTP upgrade.
    pub handshake_timeout: Duration,
    /// Time a shutdown waits for connections to flush their close frames.
    pub drain_timeout: Duration,
}

impl BenchWsOptions {
    /// Creates options for `mode` on `addr`, with the gateway's default limits.
    pub fn new(mode: BenchMode, addr: SocketAddr) -> Self {
        let gateway = GatewayConfig::default();
        Self {
            mode,
            addr,
            shards: 0,
            max_message_bytes: gateway.max_message_bytes,
            queue: QueueLimits {
                max_messages: gateway.send_queue_messages,
                max_bytes: gateway.send_queue_bytes,
            },
            handshake_timeout: Duration::from_millis(gateway.handshake_timeout_ms),
            drain_timeout: Duration::from_millis(gateway.drain_timeout_ms),
        }
    }

    /// Resolves `shards`, where 0 means one per CPU core.
    fn shard_count(&self) -> usize {
        match self.shards {
            0 => std::thread::available_parallelism().map_or(1, |cores| cores.get()),
            shards => shards,
        }
    }
}

/// Command-line flags of the benchmark server.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchWsArgs {
    /// Action on each binary message: send it back to its sender (echo) or to every
    /// connection (broadcast).
    #[arg(long, value_enum)]
    pub mode: BenchMode,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub addr: SocketAddr,
    /// Number of shard threads; 0 means one per CPU core.
    #[arg(long, default_value_t = 0)]
    pub shards: usize,
    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, default_value_t = GatewayConfig::default().max_message_bytes)]
    pub max_message_bytes: usize,
    /// Send queue bound of one connection, in messages; a connection past it is closed with 4001.
    #[arg(long, default_value_t = GatewayConfig::default().send_queue_messages)]
    pub send_queue_messages: usize,
    /// Send queue bound of one connection, in bytes; a connection past it is closed with 4001.
    #[arg(long, default_value_t = GatewayConfig::default().send_queue_bytes)]
    pub send_queue_bytes: usize,
}

impl From<BenchWsArgs> for BenchWsOptions {
    fn from(args: BenchWsArgs) -> Self {
        let mut options = BenchWsOptions::new(args.mode, args.addr);
        options.shards = args.shards;
        options.max_message_bytes = args.max_message_bytes;
        options.queue = QueueLimits {
            max_messages: args.send_queue_messages,
            max_bytes: args.send_queue_bytes,
        };
        options
    }
}

/// Runs the benchmark server until SIGINT or SIGTERM, after printing
/// `bench-ws listening ws://ADDR/` on stdout.
///
/// # Errors
/// When the runtime that waits for the signal cannot be built, a listener cannot be bound
/// or a shard thread cannot be started.
pub fn run(options: BenchWsOptions) -> anyhow::Result<()> {
    let print_address = |addr: SocketAddr| {
        // One line on stdout, so scripts can find the bound port.
        println!("bench-ws listening ws://{addr}/");
        let _ = std::io::stdout().flush();
    };
    run_until(options, print_address, wait_for_signal())
}

/// Runs the benchmark server until `shutdown` completes, then closes every connection with
/// 1001 and waits up to the drain timeout for the close frames to be written.
/// `on_listening` is called with the bound address once every shard listens.
///
/// `shutdown` is polled on a tokio current-thread runtime on the calling thread.
///
/// # Errors
/// As [`run`].
pub fn run_until(
    options: BenchWsOptions,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to build the runtime that waits for shutdown")?;
    let server = start(&options)?;
    info!(addr = %server.addr, mode = ?options.mode, shards = server.threads.len(), "bench-ws listening");
    on_listening(server.addr);

    runtime.block_on(shutdown);
    info!("shutdown requested; draining");
    server.stop();
    info!("bench-ws stopped");
    Ok(())
}

/// Shard threads of a running server.
struct Running {
    addr: SocketAddr,
    drain: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Tells every shard to drain and waits for the shard threads to exit.
    fn stop(self) {
        let _ = self.drain.send(true);
        for thread in self.threads {
            if thread.join().is_err() {
                error!("a bench-ws shard thread panicked");
            }
        }
    }
}

/// Binds the listeners and starts one thread per shard. Threads already started stop on
/// their own when a later one fails to start, because the drain sender is dropped.
fn start(options: &BenchWsOptions) -> anyhow::Result<Running> {
    let count = options.shard_count();
    let listeners = bind_reuseport(options.addr, count)?;
    let addr = listeners[0].local_addr()?;
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..count).map(|_| mpsc::unbounded_channel()).unzip();
    let (drain_tx, drain_rx) = watch::channel(false);

    let mut threads = Vec::with_capacity(count);
    for (index, (listener, broadcasts)) in listeners.into_iter().zip(receivers).enumerate() {
        let (peers, drain, options) =
            (peers_of(&senders, index), drain_rx.clone(), options.clone());
        let thread = std::thread::Builder::new()
            .name(format!("bench-ws-{index}"))
            .spawn(move || {
                // The shard is built on its own thread, because its session table is not Send.
                let shard = BenchShard::new(index, &options, peers);
                if let Err(error) =
                    run_shard(shard, listener, broadcasts, drain, options.drain_timeout)
                {
                    error!(shard = index, %error, "bench-ws shard failed");
                }
            })
            .with_context(|| format!("failed to spawn bench-ws shard thread {index}"))?;
        threads.push(thread);
    }
    Ok(Running {
        addr,
        drain: drain_tx,
        threads,
    })
}

/// Returns the broadcast senders of every shard except `index`.
fn peers_of(senders: &[mpsc::UnboundedSender<Bytes>], index: usize) -> Vec<Peer> {
    senders
        .iter()
        .enumerate()
        .filter(|(peer, _)| *peer != index)
        .map(|(peer, sender)| Peer {
            index: peer,
            sender: sender.clone(),
        })
        .collect()
}

/// The broadcast channel of another shard.
struct Peer {
    index: usize,
    sender: mpsc::UnboundedSender<Bytes>,
}

/// State of one shard, owned by its thread.
struct BenchShard {
    index: usize,
    mode: BenchMode,
    max_message_bytes: usize,
    queue: QueueLimits,
    handshake_timeout: Duration,
    sessions: SessionTable,
    peers: Vec<Peer>,
    /// Writer tasks still flushing, so a drain can wait for them.
    open_writers: Cell<usize>,
}

/// Reason a connection's reader loop ended.
enum Ending {
    /// The server closes the connection with this code and reason.
    Close(CloseCode, String),
    /// The peer sent a close frame, with its code and reason if any.
    PeerClosed(Option<(u16, String)>),
    /// The connection failed or the peer closed TCP without a close frame.
    Disconnected,
    /// The shard ended the session (slow consumer or drain) and queued its close frame.
    Ended,
}

impl BenchShard {
    fn new(index: usize, options: &BenchWsOptions, peers: Vec<Peer>) -> Self {
        Self {
            index,
            mode: options.mode,
            max_message_bytes: options.max_message_bytes,
            queue: options.queue,
            handshake_timeout: options.handshake_timeout,
            sessions: SessionTable::new(index),
            peers,
            open_writers: Cell::new(0),
        }
    }

    /// Queues one message for a session, dropping the session with 4001 when its queue is
    /// full. Returns false when the session takes no more messages.
    fn push(&self, session_id: u64, entry: &SessionEntry, message: Bytes) -> bool {
        match entry.outbound.push(message) {
            Ok(()) => true,
            Err(PushError::Closed) => false,
            Err(PushError::Full) => {
                let reason = format!(
                    "send queue full at {} messages or {} bytes; reconnect",
                    self.queue.max_messages, self.queue.max_bytes
                );
                debug!(session_id, "slow consumer dropped");
                self.end_session(session_id, entry, CloseCode::SlowConsumer, &reason, true);
                false
            }
        }
    }

    /// Queues one message for every session of this shard.
    fn push_to_all(&self, message: &Bytes) {
        for (session_id, entry) in self.sessions.all() {
            self.push(session_id, &entry, message.clone());
        }
    }

    /// Removes a session, queues its close frame and stops its reader. With
    /// `discard_queued`, messages not yet written are dropped before the close frame.
    fn end_session(
        &self,
        session_id: u64,
        entry: &SessionEntry,
        code: CloseCode,
        reason: &str,
        discard_queued: bool,
    ) {
        self.sessions.remove(session_id);
        entry
            .outbound
            .push_last(ws::encode_close(code.code(), reason), discard_queued);
        entry.kill.raise();
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
                        debug!(shard = self.index, peer = peer.index, "peer shard stopped");
                    }
                }
                self.push_to_all(&message);
                !entry.kill.is_raised()
            }
        }
    }

    /// Handles one decoded event. Returns how the session ends, if it does.
    fn handle_event(
        &self,
        session_id: u64,
        entry: &SessionEntry,
        event: WsEvent,
    ) -> Option<Ending> {
        let open = match event {
            WsEvent::Binary(payload) => self.handle_binary(session_id, entry, &payload),
            WsEvent::Text(_) => {
                let reason = "text messages are not supported; send binary messages";
                return Some(Ending::Close(
                    CloseCode::UnsupportedData,
                    reason.to_string(),
                ));
            }
            WsEvent::Ping(payload) => self.push(session_id, entry, ws::encode_pong(&payload)),
            WsEvent::Pong(_) => true,
            WsEvent::Close(received) => return Some(Ending::PeerClosed(received)),
        };
        (!open).then_some(Ending::Ended)
    }

    /// Decodes and handles every complete message in `buf`. Returns how the session ends,
    /// if it does.
    fn decode_buffered(
        &self,
        session_id: u64,
        entry: &SessionEntry,
        decoder: &mut MessageDecoder,
        buf: &mut BytesMut,
    ) -> Option<Ending> {
        loop {
            match decoder.decode(buf) {
                Ok(Some(event)) => {
                    if let Some(ending) = self.handle_event(session_id, entry, event) {
                        return Some(ending);
                    }
                }
                Ok(None) => return None,
                Err(error) => {
                    debug!(session_id, %error, "WebSocket protocol error");
                    return Some(Ending::Close(error.close_code(), error.to_string()));
                }
            }
        }
    }

    /// Closes a session the way its reader loop ended.
    fn finish(&self, session_id: u64, entry: &SessionEntry, ending: Ending) {
        match ending {
            Ending::Close(code, reason) => {
                self.end_session(session_id, entry, code, &reason, false);
            }
            Ending::PeerClosed(received) => {
                self.sessions.remove(session_id);
                entry
                    .outbound
                    .push_last(ws::close_reply(received.as_ref()), false);
                entry.kill.raise();
            }
            Ending::Disconnected | Ending::Ended => {
                self.end_session(session_id, entry, CloseCode::Normal, "", true);
            }
        }
    }
}

/// Runs one shard on the current thread until a drain completes.
fn run_shard(
    shard: BenchShard,
    listener: std::net::TcpListener,
    broadcasts: mpsc::UnboundedReceiver<Bytes>,
    drain: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()?;
    runtime.block_on(async move {
        let listener = monoio::net::TcpListener::from_std(listener)?;
        let shard = Rc::new(shard);
        info!(
            shard = shard.index,
            io_uring = monoio::utils::detect_uring(),
            "bench-ws shard started"
        );

        monoio::spawn(receive_broadcasts(shard.clone(), broadcasts));
        accept_until_drain(&shard, listener, drain).await;
        finish_drain(&shard, drain_timeout).await;
        info!(shard = shard.index, "bench-ws shard stopped");
        Ok(())
    })
}

/// Queues every message that another shard broadcasts for this shard's sessions.
async fn receive_broadcasts(shard: Rc<BenchShard>, mut broadcasts: mpsc::UnboundedReceiver<Bytes>) {
    while let Some(message) = broadcasts.recv().await {
        shard.push_to_all(&message);
    }
}

/// Accepts connections until the drain flag changes or its sender is dropped.
async fn accept_until_drain(
    shard: &Rc<BenchShard>,
    listener: monoio::net::TcpListener,
    mut drain: watch::Receiver<bool>,
) {
    loop {
        monoio::select! {
            _ = drain.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    monoio::spawn(serve(shard.clone(), stream, peer));
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

/// Closes every session with 1001 and waits up to `timeout` for their writers to finish.
async fn finish_drain(shard: &BenchShard, timeout: Duration) {
    for (session_id, entry) in shard.sessions.all() {
        let reason = "server is shutting down";
        shard.end_session(session_id, &entry, CloseCode::GoingAway, reason, false);
    }
    let deadline = Instant::now() + timeout;
    while shard.open_writers.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if shard.open_writers.get() > 0 {
        warn!(
            shard = shard.index,
            writers = shard.open_writers.get(),
            "drain timed out with connections still flushing"
        );
    }
}

/// Serves one accepted connection to its end.
async fn serve(shard: Rc<BenchShard>, stream: TcpStream, peer: SocketAddr) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%peer, %error, "failed to set TCP_NODELAY");
    }
    let Some((stream, leftover)) = upgrade(&shard, stream, peer).await else {
        return;
    };

    let entry = Rc::new(SessionEntry {
        user_id: Cell::new(None),
        outbound: Outbound::new(shard.queue),
        kill: Signal::default(),
    });
    let session_id = shard.sessions.insert(entry.clone());
    let (read_half, write_half) = stream.into_split();
    shard.open_writers.set(shard.open_writers.get() + 1);
    monoio::spawn(write_session(shard.clone(), entry.clone(), write_half));

    let ending = read_session(&shard, session_id, &entry, read_half, leftover).await;
    shard.finish(session_id, &entry, ending);
}

/// Completes the HTTP upgrade within the handshake timeout. Returns the stream and any bytes
/// read past the request, or `None` when the connection was rejected and closed.
async fn upgrade(
    shard: &BenchShard,
    mut stream: TcpStream,
    peer: SocketAddr,
) -> Option<(TcpStream, BytesMut)> {
    let timeout = shard.handshake_timeout;
    let (request, mut buf) = match monoio::time::timeout(timeout, read_request(&mut stream)).await {
        Ok(Ok(read)) => read,
        Ok(Err(Some(response))) => {
            reply_and_close(stream, response).await;
            return None;
        }
        Ok(Err(None)) => return None,
        Err(_) => {
            debug!(%peer, timeout_ms = timeout.as_millis() as u64, "handshake timed out");
            reply_and_close(stream, ws::http_error(408, "handshake timed out", &[])).await;
            return None;
        }
    };

    let response = ws::switching_protocols_response(&request.key, None);
    let (written, _) = stream.write_all(response).await;
    if let Err(error) = written {
        debug!(%peer, %error, "failed to write the upgrade response");
        return None;
    }
    let _ = buf.split_to(request.bytes_consumed);
    Some((stream, buf))
}

/// Runs the gateway's writer loop for one session, then counts the writer as finished.
async fn write_session<W: monoio::io::AsyncWriteRent>(
    shard: Rc<BenchShard>,
    entry: Rc<SessionEntry>,
    writer: W,
) {
    write_queue(&entry, writer).await;
    shard.open_writers.set(shard.open_writers.get() - 1);
}

/// Reads and handles messages until the session ends.
async fn read_session<R: AsyncReadRent>(
    shard: &BenchShard,
    session_id: u64,
    entry: &SessionEntry,
    mut reader: R,
    mut buf: BytesMut,
) -> Ending {
    let mut decoder = MessageDecoder::new(Role::Server, shard.max_message_bytes);
    loop {
        if let Some(ending) = shard.decode_buffered(session_id, entry, &mut decoder, &mut buf) {
            return ending;
        }
        if entry.kill.is_raised() {
            return Ending::Ended;
        }

        let (read, returned) = monoio::select! {
            _ = entry.kill.wait() => return Ending::Ended,
            read = read_more(&mut reader, buf) => read,
        };
        buf = returned;
        match read {
            Ok(0) => return Ending::Disconnected,
            Ok(_) => {}
            Err(error) => {
                debug!(session_id, %error, "read failed");
                return Ending::Disconnected;
            }
        }
    }
}
