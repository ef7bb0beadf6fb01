//! Turns a scenario's options into one spec per worker process: connection ranges, each
//! worker's share of the rates, threads and source addresses.

use std::net::SocketAddr;

use anyhow::Result;

use super::chat::{prepare, PreparedChat};
use super::outcome::ChatLayout;
use super::split::{split_ranges, thread_count, worker_count};
use crate::net::SourcePool;
use crate::options::{PlainOptions, Scenario};
use crate::scenario::broadcast::BroadcastJob;
use crate::scenario::chat::ChatJob;
use crate::scenario::connect::ConnectJob;
use crate::scenario::echo::EchoJob;
use crate::scenario::plain::PlainJob;
use crate::scenario::Job;
use crate::token::TokenMinter;
use crate::worker::spec::WorkerSpec;

/// Interval between worker progress events, in milliseconds.
const PROGRESS_INTERVAL_MS: u64 = 500;

/// Source addresses used when `--source-addrs` is not given and fewer would do.
const DEFAULT_SOURCE_ADDRS: u32 = 16;

/// Ports per source address assumed when the kernel's range cannot be read: the size of
/// Linux's default range 32768-60999.
const FALLBACK_EPHEMERAL_PORTS: u64 = 28_232;

/// File holding the kernel's ephemeral port range, `LOW HIGH`.
const PORT_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The worker specs of a run.
pub struct RunPlan {
    pub specs: Vec<WorkerSpec>,
    pub threads: usize,
    pub chat: Option<ChatLayout>,
}

/// Builds the worker specs; the chat scenario runs its REST setup here.
///
/// # Errors
/// When the connect secret is unusable or the chat setup fails.
pub fn plan_run(scenario: &Scenario, target: SocketAddr) -> Result<RunPlan> {
    let run = scenario.run_options();
    let total = scenario.connections();
    let workers = worker_count(total, run.connections_per_worker, run.workers);
    let ranges = split_ranges(total, workers);
    let largest = ranges.iter().map(|(_, count)| *count).max().unwrap_or(1);
    let threads = thread_count(largest, run.threads);
    let share = |count: u64| count as f64 / total as f64;
    let ports = ephemeral_ports();
    let source_addrs = match run.source_addrs {
        Some(requested) => {
            check_source_addrs(total, requested, ports)?;
            requested
        }
        None => source_addrs_needed(total, ports).max(DEFAULT_SOURCE_ADDRS),
    };

    let mut chat_layout = None;
    let jobs: Vec<Job> = match scenario {
        Scenario::Connect(options) => {
            TokenMinter::new(&options.jwt_secret)?;
            ranges
                .iter()
                .map(|&(first, count)| {
                    Job::Connect(ConnectJob {
                        first_index: first,
                        connections: count,
                        first_user_id: options.first_user_id,
                        connect_rate: options.connect_rate * share(count),
                        duration_secs: options.duration_secs,
                        ping_interval_secs: options.ping_interval_secs,
                        jwt_secret: options.jwt_secret.clone(),
                    })
                })
                .collect()
        }
        Scenario::Chat(options) => {
            let PreparedChat { devices, layout } = prepare(options)?;
            chat_layout = Some(layout);
            ranges
                .iter()
                .map(|&(first, count)| {
                    let devices = devices[first as usize..(first + count) as usize].to_vec();
                    Job::Chat(ChatJob {
                        devices,
                        connect_rate: options.connect_rate * share(count),
                        send_rate: options.rate * share(count),
                        payload_bytes: options.payload_bytes,
                        duration_secs: options.duration_secs,
                        drain_secs: options.drain_secs,
                        ping_interval_secs: options.ping_interval_secs,
                    })
                })
                .collect()
        }
        Scenario::Echo(options) => ranges
            .iter()
            .map(|&(first, count)| {
                Job::Echo(EchoJob {
                    plain: plain_job(&options.plain, first, count, share(count)),
                    in_flight: options.in_flight,
                })
            })
            .collect(),
        Scenario::Broadcast(options) => ranges
            .iter()
            .map(|&(first, count)| {
                Job::Broadcast(BroadcastJob {
                    plain: plain_job(&options.plain, first, count, share(count)),
                    senders: options.senders,
                    rate_per_sender: options.rate / options.senders as f64,
                    drain_secs: options.drain_secs,
                })
            })
            .collect(),
    };

    let specs = jobs
        .into_iter()
        .enumerate()
        .map(|(index, job)| WorkerSpec {
            index,
            target,
            host: scenario.target().to_string(),
            path: scenario_path(scenario).to_string(),
            threads,
            sources: SourcePool {
                count: source_addrs,
            },
            connect_timeout_ms: run.connect_timeout_ms,
            progress_interval_ms: PROGRESS_INTERVAL_MS,
            job,
        })
        .collect();
    Ok(RunPlan {
        specs,
        threads,
        chat: chat_layout,
    })
}

fn scenario_path(scenario: &Scenario) -> &str {
    match scenario {
        Scenario::Connect(options) => &options.path,
        Scenario::Chat(options) => &options.path,
        Scenario::Echo(options) => &options.plain.path,
        Scenario::Broadcast(options) => &options.plain.path,
    }
}

/// Returns the plain-WebSocket work of the worker that opens `count` connections from
/// run-wide index `first`, which is `share` of all connections.
fn plain_job(options: &PlainOptions, first: u64, count: u64, share: f64) -> PlainJob {
    PlainJob {
        first_index: first,
        connections: count,
        connect_rate: options.connect_rate * share,
        payload_bytes: options.payload_bytes,
        duration_secs: options.duration_secs,
    }
}

/// Returns the number of ephemeral ports of the kernel, from [`PORT_RANGE_FILE`].
fn ephemeral_ports() -> u64 {
    std::fs::read_to_string(PORT_RANGE_FILE)
        .ok()
        .and_then(|text| parse_port_range(&text))
        .unwrap_or(FALLBACK_EPHEMERAL_PORTS)
}

/// Parses `LOW HIGH` into the number of ports in the range.
fn parse_port_range(text: &str) -> Option<u64> {
    let mut bounds = text.split_whitespace().map(str::parse::<u64>);
    let (low, high) = (bounds.next()?.ok()?, bounds.next()?.ok()?);
    (high >= low).then(|| high - low + 1)
}

/// Returns how many source addresses `connections` need with `ports` ports each.
fn source_addrs_needed(connections: u64, ports: u64) -> u32 {
    u32::try_from(connections.div_ceil(ports.max(1))).unwrap_or(u32::MAX)
}

/// Fails when `requested` source addresses cannot carry `connections`. With 0, the
/// kernel picks 127.0.0.1, one address.
fn check_source_addrs(connections: u64, requested: u32, ports: u64) -> Result<()> {
    let needed = source_addrs_needed(connections, ports);
    if u64::from(requested.max(1)) * ports < connections {
        anyhow::bail!(
            "--source-addrs {requested} offers about {} local ports but the run opens \
             {connections} connections; use --source-addrs {needed} or more",
            u64::from(requested.max(1)) * ports
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_parsed() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(28_232));
        assert_eq!(parse_port_range("garbage"), None);
        assert_eq!(parse_port_range("100 50"), None);
    }

    #[test]
    fn source_addresses_sized_by_ports() {
        assert_eq!(source_addrs_needed(1_000_000, 28_232), 36);
        assert_eq!(source_addrs_needed(10, 28_232), 1);
        assert!(check_source_addrs(60_000, 2, 28_232).is_err());
        assert!(check_source_addrs(50_000, 2, 28_232).is_ok());
        let error = check_source_addrs(30_000, 0, 28_232)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--source-addrs 2"), "{error}");
    }
}
