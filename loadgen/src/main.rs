//! The `loadgen` command: parses the scenario options, runs the scenario through the
//! coordinator, prints the summary table and writes the JSON report and latency plot. The
//! hidden `worker` subcommand is what the coordinator starts for each worker process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use switchboard_loadgen::coordinator::progress::ProgressStyle;
use switchboard_loadgen::coordinator::{self, Outcome, RunEnv};
use switchboard_loadgen::options::{
    BroadcastOptions, ChatOptions, ConnectOptions, EchoOptions, Scenario,
};
use switchboard_loadgen::report::{self, build_document};
use switchboard_loadgen::{machine, worker};

/// Load generator for switchboard and other WebSocket servers on this machine.
///
/// Every target must be a loopback address (127.0.0.0/8, [::1] or localhost). Each run is
/// bounded: at most 1,000,000 connections and 3,600 s, and it stops by itself.
#[derive(Parser)]
#[command(name = "loadgen", version)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Open authenticated switchboard connections at a paced rate and hold them.
    ///
    /// Reports handshake latency, connections per second, failures by cause and server
    /// memory per connection.
    // When a required argument is missing, the usage line that clap 4.6 generates lists the
    // options given so far as if they were required too, so the usage is written out here.
    #[command(override_usage = "loadgen connect [OPTIONS] --jwt-secret <JWT_SECRET>")]
    Connect {
        #[command(flatten)]
        options: ConnectOptions,
        #[command(flatten)]
        output: OutputOptions,
    },
    /// Register users, create DMs and groups, and send messages at a paced rate.
    ///
    /// Reports send-to-ack and send-to-deliver latency. Checks that every device received
    /// every message of its conversations exactly once.
    Chat {
        #[command(flatten)]
        options: ChatOptions,
        #[command(flatten)]
        output: OutputOptions,
    },
    /// Send binary messages and time their echoes, without the switchboard protocol.
    ///
    /// Each connection keeps --in-flight messages in flight. Reports round trips per second
    /// and round-trip latency.
    Echo {
        #[command(flatten)]
        options: EchoOptions,
        #[command(flatten)]
        output: OutputOptions,
    },
    /// Send binary messages that the server relays to every connection, without the
    /// switchboard protocol.
    ///
    /// A few connections send. Reports deliveries per second and send-to-receive latency.
    Broadcast {
        #[command(flatten)]
        options: BroadcastOptions,
        #[command(flatten)]
        output: OutputOptions,
    },
    /// Run one worker process of a run (started by the coordinator).
    #[command(hide = true)]
    Worker {
        /// Worker spec as JSON, or `-` to read it as the first line of stdin.
        #[arg(long)]
        spec: String,
    },
}

#[derive(Args)]
struct OutputOptions {
    /// JSON report file; the latency plot is written next to it with the extension .svg.
    /// `-` writes neither [default: loadgen-<scenario>-<unix time>.json].
    #[arg(long)]
    json: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (scenario, output) = match cli.command {
        CliCommand::Worker { spec } => {
            init_logging("warn");
            return match worker::run(&spec) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("worker failed: {error:#}");
                    ExitCode::FAILURE
                }
            };
        }
        CliCommand::Connect { options, output } => (Scenario::Connect(options), output),
        CliCommand::Chat { options, output } => (Scenario::Chat(options), output),
        CliCommand::Echo { options, output } => (Scenario::Echo(options), output),
        CliCommand::Broadcast { options, output } => (Scenario::Broadcast(options), output),
    };
    init_logging("info");
    match run_scenario(&scenario, &output) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the scenario, prints the table and writes the reports. Returns whether it passed.
fn run_scenario(scenario: &Scenario, output: &OutputOptions) -> Result<bool> {
    let env = RunEnv {
        worker_exe: std::env::current_exe().context("cannot locate the loadgen executable")?,
        progress: ProgressStyle::Auto,
    };
    let outcome = coordinator::run(scenario, &env)?;
    print!("{}", report::table::render(&outcome));
    write_reports(&outcome, scenario, output)?;
    Ok(outcome.passed())
}

fn write_reports(outcome: &Outcome, scenario: &Scenario, output: &OutputOptions) -> Result<()> {
    let json_path = match output.json.as_deref() {
        Some("-") => return Ok(()),
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(format!(
            "loadgen-{}-{}.json",
            outcome.scenario,
            machine::unix_now_secs()
        )),
    };
    let command_line: Vec<String> = std::env::args().collect();
    let document = build_document(outcome, scenario, &command_line);
    let json = serde_json::to_string_pretty(&document).expect("reports serialize to JSON");
    std::fs::write(&json_path, json + "\n")
        .with_context(|| format!("writing the report {} failed", json_path.display()))?;

    let svg_path = json_path.with_extension("svg");
    let series: Vec<(&str, _)> = outcome
        .totals
        .histograms
        .iter()
        .map(|(name, histogram)| (name.as_str(), histogram))
        .collect();
    let title = format!("loadgen {} latency by percentile", outcome.scenario);
    std::fs::write(&svg_path, report::svg::render(&title, &series))
        .with_context(|| format!("writing the plot {} failed", svg_path.display()))?;
    println!(
        "report {}  plot {}",
        display(&json_path),
        display(&svg_path)
    );
    Ok(())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
