//! Plain WebSocket echo and broadcast server on the gateway's own connection machinery, for
//! comparing the gateway's frame path with other WebSocket servers.
//!
//! It runs what the gateway runs, minus authentication, protocol frames and deadlines: the
//! gateway's shard runtime, HTTP upgrade, reader and writer tasks and session bookkeeping
//! (the crate's `host` module), with the RFC 6455 codec of [`crate::ws`]. Each shard is a
//! monoio thread with its own SO_REUSEPORT listener. Each connection has a bounded
//! [`Outbound`](crate::session::Outbound) send queue, and a connection whose queue fills is
//! dropped with close code 4001, as in the gateway.
//!
//! - [`BenchMode::Echo`] sends every binary message back to its sender.
//! - [`BenchMode::Broadcast`] sends every binary message to every connection of every shard,
//!   the sender included. The receiving shard encodes the WebSocket frame once, queues clones
//!   of the one [`Bytes`] for its own connections and sends the same [`Bytes`] to every other
//!   shard over an unbounded channel.
//!
//! Every request path is accepted and no subprotocol is negotiated. A text message closes the
//! connection with 1003, as in the gateway. Pings get pongs. There is no idle timeout.

mod shard;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::config::GatewayConfig;
use crate::server::{bind_reuseport, wait_for_signal};
use crate::session::QueueLimits;

use shard::{BenchShard, Peer};

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
                if let Err(error) = shard::run(shard, listener, broadcasts, drain) {
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
