//! Starts a single-node switchboard: the embedded store, the router, the REST API on tokio
//! and one monoio shard thread per core, all in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use socket2::{Domain, Protocol, Socket, Type};
use switchboard_protocol::pb::Deliver;
use switchboard_router::store::fjall::FjallStore;
use switchboard_router::store::Store;
use switchboard_router::{GatewaySink, Router};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::auth::Auth;
use crate::config::Config;
use crate::rest::{self, RestState};
use crate::session::shard_of;
use crate::shard::{self, ShardShared};

/// Backlog of each shard's listener.
const LISTEN_BACKLOG: i32 = 4096;

/// Routes router pushes to the shard that owns each session.
struct ShardLinks {
    shards: Vec<mpsc::UnboundedSender<Deliver>>,
}

impl GatewaySink for ShardLinks {
    fn deliver(&self, deliver: Deliver) {
        if self.shards.len() == 1 {
            self.send(0, deliver);
            return;
        }
        let mut by_shard: Vec<Vec<u64>> = vec![Vec::new(); self.shards.len()];
        for session_id in deliver.session_ids {
            match by_shard.get_mut(shard_of(session_id)) {
                Some(sessions) => sessions.push(session_id),
                None => warn!(
                    session_id,
                    "push for a session of an unknown shard; skipped"
                ),
            }
        }
        for (shard, session_ids) in by_shard.into_iter().enumerate() {
            if !session_ids.is_empty() {
                let part = Deliver {
                    gateway_id: deliver.gateway_id,
                    session_ids,
                    frames: deliver.frames.clone(),
                };
                self.send(shard, part);
            }
        }
    }
}

impl ShardLinks {
    fn send(&self, shard: usize, deliver: Deliver) {
        if self.shards[shard].send(deliver).is_err() {
            warn!(shard, "shard stopped; push dropped");
        }
    }
}

/// Addresses a running node listens on.
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    pub websocket: SocketAddr,
    pub rest: SocketAddr,
}

/// Runs a node until SIGINT or SIGTERM, then drains it. `on_listening` is called once every
/// listener is bound.
///
/// # Errors
/// When the store cannot be opened, a listener cannot be bound, or a shard fails to start.
pub async fn run(config: Config, on_listening: impl FnOnce(Listening)) -> anyhow::Result<()> {
    run_until(config, on_listening, wait_for_signal()).await
}

/// Runs a node until `shutdown` completes, then drains it. Lets tests and tools embed a
/// node in their own process.
///
/// # Errors
/// As [`run`].
pub async fn run_until(
    config: Config,
    on_listening: impl FnOnce(Listening),
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "failed to create data directory {}",
            config.data_dir.display()
        )
    })?;
    let store_path = config.data_dir.join("store");
    let store: Arc<dyn Store> = Arc::new(FjallStore::open(&store_path).with_context(|| {
        format!(
            "failed to open the store at {}; if another switchboard uses this data \
                     directory, stop it or pass another --data-dir",
            store_path.display()
        )
    })?);
    let secret = crate::secret::load_or_create(&config)?;
    let auth = Arc::new(Auth::new(
        &secret,
        Duration::from_secs(config.auth.token_ttl_secs),
    )?);
    let router = Router::start(store.clone(), config.router.clone());

    let (drain_tx, drain_rx) = watch::channel(false);
    let (websocket, shards) = start_shards(&config, &router, auth.clone(), drain_rx.clone())?;
    let rest_listener = tokio::net::TcpListener::bind(config.rest.listen_addr)
        .await
        .with_context(|| {
            format!(
                "failed to bind the REST listener on {}",
                config.rest.listen_addr
            )
        })?;
    let rest_addr = rest_listener.local_addr()?;
    let rest_task = tokio::spawn(serve_rest(
        rest_listener,
        RestState { store, auth },
        drain_rx,
    ));
    info!(%websocket, rest = %rest_addr, "switchboard listening");
    on_listening(Listening {
        websocket,
        rest: rest_addr,
    });

    shutdown.await;
    info!("shutdown requested; draining");
    let _ = drain_tx.send(true);
    join_shards(shards).await;
    if let Err(join_error) = rest_task.await {
        error!(%join_error, "REST task ended abnormally");
    }
    router.shutdown().await;
    info!("switchboard stopped");
    Ok(())
}

fn start_shards(
    config: &Config,
    router: &Router,
    auth: Arc<Auth>,
    drain: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, Vec<JoinHandle<()>>)> {
    let count = config.shard_count();
    let listeners = bind_reuseport(config.gateway.listen_addr, count)?;
    let websocket = listeners[0].local_addr()?;
    let shared = Arc::new(ShardShared {
        config: config.gateway.clone(),
        auth,
        router: router.handle(),
    });

    let mut senders = Vec::with_capacity(count);
    let mut threads = Vec::with_capacity(count);
    for (index, listener) in listeners.into_iter().enumerate() {
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        senders.push(push_tx);
        let (shared, drain) = (shared.clone(), drain.clone());
        let thread = std::thread::Builder::new()
            .name(format!("shard-{index}"))
            .spawn(move || {
                if let Err(error) = shard::run(index, listener, shared, push_rx, drain) {
                    error!(shard = index, %error, "shard failed");
                }
            })
            .context("failed to spawn a shard thread")?;
        threads.push(thread);
    }
    router
        .handle()
        .register_gateway(
            config.gateway.gateway_id,
            Arc::new(ShardLinks { shards: senders }),
        )
        .context("failed to register the gateway with the router")?;
    Ok((websocket, threads))
}

/// Binds `count` listeners on one address with SO_REUSEPORT, so the kernel spreads
/// connections over the shards. Port 0 resolves to the port of the first listener.
pub(crate) fn bind_reuseport(
    addr: SocketAddr,
    count: usize,
) -> anyhow::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        ensure_port_free(addr)?;
    }
    let mut listeners: Vec<std::net::TcpListener> = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket
            .bind(&addr.into())
            .with_context(|| format!("failed to bind the WebSocket listener on {addr}"))?;
        socket.listen(LISTEN_BACKLOG)?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Binds `addr` once without SO_REUSEPORT and releases it. SO_REUSEPORT would let this
/// process join the listeners of another server on the same port, and the kernel would then
/// split new connections between the two. A plain bind fails on any listener instead.
fn ensure_port_free(addr: SocketAddr) -> anyhow::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    match probe.bind(&addr.into()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "address {addr} is already in use by another process; stop it or choose another \
             address"
        ),
        Err(error) => {
            Err(error).with_context(|| format!("failed to bind the WebSocket listener on {addr}"))
        }
    }
}

async fn serve_rest(
    listener: tokio::net::TcpListener,
    state: RestState,
    mut drain: watch::Receiver<bool>,
) {
    let shutdown = async move {
        let _ = drain.changed().await;
    };
    if let Err(serve_error) = axum::serve(listener, rest::router(state))
        .with_graceful_shutdown(shutdown)
        .await
    {
        error!(%serve_error, "REST server failed");
    }
}

async fn join_shards(shards: Vec<JoinHandle<()>>) {
    let joined = tokio::task::spawn_blocking(move || {
        for shard in shards {
            if shard.join().is_err() {
                error!("a shard thread panicked");
            }
        }
    });
    if let Err(join_error) = joined.await {
        error!(%join_error, "failed to join shard threads");
    }
}

/// Waits for SIGINT or SIGTERM.
pub(crate) async fn wait_for_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(signal_error) => {
                warn!(%signal_error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
