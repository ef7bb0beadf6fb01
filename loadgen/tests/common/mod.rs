//! Test harness: a single-node switchboard server and a bench-ws server embedded in the test
//! process, each on its own threads, and the environment that runs loadgen's workers from
//! the `loadgen` binary.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use switchboard_gateway::bench_ws::{self, BenchMode, BenchWsOptions};
use switchboard_gateway::config::Config;
use switchboard_gateway::server::{self, Listening};
use switchboard_loadgen::coordinator::progress::ProgressStyle;
use switchboard_loadgen::coordinator::RunEnv;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Returns the environment that starts workers from the `loadgen` binary, without progress
/// output.
pub fn run_env() -> RunEnv {
    RunEnv {
        worker_exe: PathBuf::from(env!("CARGO_BIN_EXE_loadgen")),
        progress: ProgressStyle::Quiet,
    }
}

/// Secret the embedded server verifies tokens with.
pub const SECRET: &str = "loadgen-test-secret-of-at-least-32-bytes";

/// A node running on a background thread with its own tokio runtime.
pub struct EmbeddedServer {
    pub listening: Listening,
    // Declared before `_data`, so the server stops before its data folder is deleted.
    thread: ServerThread,
    _data: TempDir,
}

impl EmbeddedServer {
    /// Starts a node on free loopback ports with a fresh data folder.
    pub fn start() -> EmbeddedServer {
        let data = tempfile::tempdir().expect("create a data folder");
        let mut config = Config {
            data_dir: data.path().to_path_buf(),
            ..Config::default()
        };
        config.gateway.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.rest.listen_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.gateway.shards = 2;
        config.gateway.drain_timeout_ms = 1_000;
        config.gateway.rate_limit_per_second = 1_000;
        config.gateway.rate_limit_burst = 1_000;
        config.auth.jwt_secret = Some(SECRET.to_string());

        let (thread, listening) = ServerThread::start("server", move |listening_tx, stopped| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("build the server runtime");
            let shutdown = async move {
                let _ = stopped.await;
            };
            let on_listening = move |listening| {
                let _ = listening_tx.send(listening);
            };
            runtime
                .block_on(server::run_until(config, on_listening, shutdown))
                .expect("server runs");
        });
        EmbeddedServer {
            listening,
            thread,
            _data: data,
        }
    }
}

/// A bench-ws server (plain WebSocket echo or broadcast on the gateway's shards) running
/// on a background thread.
pub struct BenchServer {
    pub addr: SocketAddr,
    thread: ServerThread,
}

impl BenchServer {
    /// Starts a server in `mode` on a free loopback port with two shards.
    pub fn start(mode: BenchMode) -> BenchServer {
        let mut options = BenchWsOptions::new(mode, SocketAddr::from(([127, 0, 0, 1], 0)));
        options.shards = 2;
        let (thread, addr) = ServerThread::start("bench-ws", move |addr_tx, stopped| {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let on_listening = move |addr| {
                let _ = addr_tx.send(addr);
            };
            bench_ws::run_until(options, on_listening, shutdown).expect("bench-ws runs");
        });
        BenchServer { addr, thread }
    }
}

/// A server running on a background thread. Dropping it stops the server and joins the
/// thread.
struct ServerThread {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Runs `serve` on a new thread and waits up to 30 s for the address it listens on.
    /// `serve` gets a sender for that address and a receiver that completes when the server
    /// should stop. Panics with `name` in the message when no address arrives in time.
    fn start<L, F>(name: &str, serve: F) -> (ServerThread, L)
    where
        L: Send + 'static,
        F: FnOnce(mpsc::Sender<L>, oneshot::Receiver<()>) + Send + 'static,
    {
        let (listening_tx, listening_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || serve(listening_tx, stopped));
        let listening = listening_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|error| panic!("{name} not listening within 30 s: {error}"));
        let server = ServerThread {
            stop: Some(stop),
            thread: Some(thread),
        };
        (server, listening)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
