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
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
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

        let (listening_tx, listening_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
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
        let listening = listening_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server listening within 30 s");
        EmbeddedServer {
            listening,
            stop: Some(stop),
            thread: Some(thread),
            _data: data,
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A bench-ws server (plain WebSocket echo or broadcast on the gateway's shards) running
/// on a background thread.
pub struct BenchServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BenchServer {
    /// Starts a server in `mode` on a free loopback port with two shards.
    pub fn start(mode: BenchMode) -> BenchServer {
        let mut options = BenchWsOptions::new(mode, SocketAddr::from(([127, 0, 0, 1], 0)));
        options.shards = 2;
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let on_listening = move |addr| {
                let _ = addr_tx.send(addr);
            };
            bench_ws::run_until(options, on_listening, shutdown).expect("bench-ws runs");
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("bench-ws listening within 30 s");
        BenchServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
