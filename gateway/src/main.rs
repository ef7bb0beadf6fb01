//! The `switchboard` command.

mod cli;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use switchboard_gateway::config::Config;
use switchboard_gateway::{bench_ws, server};

/// Log filter used when `RUST_LOG` is unset. The storage engine logs every flush at info.
const DEFAULT_LOG_FILTER: &str = "info,fjall=warn,lsm_tree=warn";

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Connection and delivery tier of a chat service.
#[derive(Parser)]
#[command(name = "switchboard", version)]
struct Cli {
    #[command(flatten)]
    client: cli::ClientOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the single-node server: gateway, router and embedded store in one process.
    Serve {
        /// TOML configuration file; `SWITCHBOARD_*` environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Folder of the embedded store [default: data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address of the WebSocket listener [default: 127.0.0.1:8080].
        #[arg(long)]
        ws_addr: Option<std::net::SocketAddr>,
        /// Address of the REST listener [default: 127.0.0.1:8081].
        #[arg(long)]
        rest_addr: Option<std::net::SocketAddr>,
    },
    /// Run a plain WebSocket echo or broadcast server on the gateway's shards, without the
    /// chat protocol, to compare the gateway's WebSocket path with other servers.
    BenchWs(bench_ws::BenchWsArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let args = Cli::parse();
    match args.command {
        Command::Serve {
            config,
            data_dir,
            ws_addr,
            rest_addr,
        } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(data_dir) = data_dir {
                config.data_dir = data_dir;
            }
            if let Some(addr) = ws_addr {
                config.gateway.listen_addr = addr;
            }
            if let Some(addr) = rest_addr {
                config.rest.listen_addr = addr;
            }
            serve(config)
        }
        Command::BenchWs(bench_args) => bench_ws::run(bench_args.into()),
        Command::Client(command) => cli::run(command, &args.client),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("router")
        .enable_all()
        .build()?;
    let ws_path = config.gateway.ws_path.clone();
    let data_dir = config.data_dir.clone();
    runtime.block_on(server::run(config, |listening| {
        // One line on stdout, so scripts and tests can find the bound ports.
        println!(
            "switchboard listening websocket=ws://{}{} rest=http://{} data_dir={}",
            listening.websocket,
            ws_path,
            listening.rest,
            data_dir.display()
        );
        let _ = std::io::stdout().flush();
    }))
}
