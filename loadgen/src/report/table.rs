//! The human-readable summary of a run, printed on stdout at the end.

use std::fmt::Write as _;

use super::rates;
use crate::coordinator::outcome::format_causes;
use crate::coordinator::Outcome;
use crate::machine::{format_utc, ProcessMemory};

/// Renders the summary table of `outcome`.
pub fn render(outcome: &Outcome) -> String {
    let mut out = String::new();
    let verdict = if outcome.passed() { "PASSED" } else { "FAILED" };
    let _ = writeln!(
        out,
        "loadgen {}: {verdict}  target {}  {} worker(s) x {} thread(s)  started {}",
        outcome.scenario,
        outcome.target,
        outcome.workers,
        outcome.threads_per_worker,
        format_utc(outcome.started_unix_secs)
    );
    write_connections(&mut out, outcome);
    write_traffic(&mut out, outcome);
    if outcome.scenario == "chat" {
        write_delivery(&mut out, outcome);
    }
    write_memory(&mut out, outcome);
    write_latency(&mut out, outcome);
    if !outcome.problems.is_empty() {
        let _ = writeln!(out, "problems");
        for problem in &outcome.problems {
            let _ = writeln!(out, "  - {problem}");
        }
    }
    out
}

/// Width of the label column that starts each row of counts.
const LABEL_WIDTH: usize = 14;

/// Writes one row of counts: `label` padded to [`LABEL_WIDTH`], then `fields`. An empty
/// label continues the row above.
fn write_row(out: &mut String, label: &str, fields: impl std::fmt::Display) {
    let _ = writeln!(out, "{label:<LABEL_WIDTH$}{fields}");
}

fn write_connections(out: &mut String, outcome: &Outcome) {
    let connections = &outcome.totals.connections;
    let rates = rates(outcome);
    write_row(
        out,
        "connections",
        format_args!(
            "attempted {}  established {}  failed {}  lost {}  rate {} over {}",
            connections.attempted,
            connections.established,
            connections.failed_total(),
            connections.lost_total(),
            per_sec(rates.connections_per_sec),
            seconds(rates.connect_secs)
        ),
    );
    if connections.failed_total() + connections.lost_total() > 0 {
        write_row(
            out,
            "",
            format_args!(
                "failed: {}; lost: {}",
                format_causes(&connections.failed),
                format_causes(&connections.lost)
            ),
        );
    }
}

fn write_traffic(out: &mut String, outcome: &Outcome) {
    let traffic = &outcome.totals.traffic;
    let rates = rates(outcome);
    let mut fields = String::new();
    let _ = write!(
        fields,
        "sent {} ({})  received {} ({})",
        traffic.sent,
        per_sec(rates.sent_per_sec),
        traffic.received,
        per_sec(rates.received_per_sec)
    );
    if outcome.scenario == "chat" {
        let _ = write!(
            fields,
            "  acked {} ({})  unacked {}",
            traffic.acked,
            per_sec(rates.acked_per_sec),
            traffic.unacked
        );
    }
    if outcome.scenario == "echo" {
        let _ = write!(fields, "  unanswered {}", traffic.unacked);
    }
    if let Some(ratio) = rates.broadcast_delivery_ratio {
        let _ = write!(
            fields,
            "  delivered {:.2}% of sent x connections",
            ratio * 100.0
        );
    }
    let _ = write!(
        fields,
        "  pings {} pongs {}  over {}",
        traffic.pings,
        traffic.pongs,
        seconds(rates.run_secs)
    );
    write_row(out, "traffic", fields);
    if !traffic.send_errors.is_empty() {
        write_row(
            out,
            "",
            format_args!("send errors: {}", format_causes(&traffic.send_errors)),
        );
    }
}

fn write_delivery(out: &mut String, outcome: &Outcome) {
    let delivery = &outcome.totals.delivery;
    write_row(
        out,
        "delivery",
        format_args!(
            "checked {} (device, conversation) pairs  expected {}  received {}  missing {}  \
             duplicated {}  out of order {}  unchecked {}",
            delivery.checked,
            delivery.expected,
            delivery.received,
            delivery.missing,
            delivery.duplicates,
            delivery.out_of_order,
            delivery.unchecked
        ),
    );
}

fn write_memory(out: &mut String, outcome: &Outcome) {
    let Some(memory) = &outcome.memory else {
        return;
    };
    let rss = |sample: Option<ProcessMemory>| {
        sample.map_or("-".to_string(), |sample| mib(sample.rss_bytes as f64))
    };
    write_row(
        out,
        "server memory",
        format_args!(
            "pids {:?}  rss before {}  connected {}  hold {}  peak {}  hwm {}  per connection {}",
            memory.pids,
            mib(memory.before.rss_bytes as f64),
            rss(memory.connected),
            rss(memory.hold),
            memory
                .peak_rss_bytes
                .map_or("-".to_string(), |bytes| mib(bytes as f64)),
            memory
                .hold
                .or(memory.connected)
                .map_or("-".to_string(), |sample| mib(sample.hwm_bytes as f64)),
            per_connection(memory.rss_per_connection_bytes)
        ),
    );
}

/// Formats the memory per connection. A negative figure means the server freed more than the
/// connections took, as after chat setup, so it tells nothing about the connections.
fn per_connection(bytes: Option<f64>) -> String {
    match bytes {
        None => "-".to_string(),
        Some(bytes) if bytes < 0.0 => "n/a (server memory fell while connecting)".to_string(),
        Some(bytes) => format!("{:.1} KiB", bytes / 1024.0),
    }
}

fn write_latency(out: &mut String, outcome: &Outcome) {
    if outcome.totals.histograms.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:<16}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"
    );
    for (name, histogram) in &outcome.totals.histograms {
        let s = histogram.summary();
        let _ = writeln!(
            out,
            "{name:<16}{:>10}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}{:>10.3}",
            s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.p9999_ms, s.max_ms, s.mean_ms
        );
    }
}

fn per_sec(rate: Option<f64>) -> String {
    rate.map_or("-".to_string(), |rate| format!("{rate:.1}/s"))
}

fn seconds(secs: Option<f64>) -> String {
    secs.map_or("-".to_string(), |secs| format!("{secs:.2} s"))
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::memory::MemoryReport;
    use crate::stats::Totals;

    fn outcome(scenario: &'static str) -> Outcome {
        let mut totals = Totals::default();
        totals.connections.attempted = 10;
        totals.connections.established = 8;
        totals.connections.failed.insert("refused".to_string(), 2);

        totals.traffic.sent = 100;
        totals.traffic.acked = 90;
        totals.traffic.unacked = 10;
        totals.traffic.received = 95;
        totals.traffic.pings = 4;
        totals.traffic.pongs = 3;
        totals
            .traffic
            .send_errors
            .insert("RATE_LIMITED".to_string(), 1);
        totals.timing.connect_start_ns = Some(1_000_000_000);
        totals.timing.connect_end_ns = Some(3_000_000_000);
        totals.timing.run_start_ns = Some(3_000_000_000);
        totals.timing.run_end_ns = Some(13_000_000_000);

        Outcome {
            scenario,
            target: "127.0.0.1:8080".parse().unwrap(),
            workers: 1,
            threads_per_worker: 2,
            started_unix_secs: 0,
            finished_unix_secs: 13,
            totals,
            memory: Some(MemoryReport {
                pids: vec![42],
                before: ProcessMemory {
                    rss_bytes: 1 << 20,
                    hwm_bytes: 1 << 20,
                },
                connected: None,
                hold: Some(ProcessMemory {
                    rss_bytes: 3 << 20,
                    hwm_bytes: 4 << 20,
                }),
                peak_rss_bytes: Some(3 << 20),
                rss_per_connection_bytes: Some(2048.0),
            }),
            chat: None,
            problems: vec!["one problem".to_string()],
        }
    }

    #[test]
    fn chat_rows_aligned() {
        let table = render(&outcome("chat"));
        let expected = "\
loadgen chat: FAILED  target 127.0.0.1:8080  1 worker(s) x 2 thread(s)  started 1970-01-01T00:00:00Z
connections   attempted 10  established 8  failed 2  lost 0  rate 4.0/s over 2.00 s
              failed: refused 2; lost: none
traffic       sent 100 (10.0/s)  received 95 (9.5/s)  acked 90 (9.0/s)  unacked 10  pings 4 pongs 3  over 10.00 s
              send errors: RATE_LIMITED 1
delivery      checked 0 (device, conversation) pairs  expected 0  received 0  missing 0  duplicated 0  out of order 0  unchecked 0
server memory pids [42]  rss before 1.0 MiB  connected -  hold 3.0 MiB  peak 3.0 MiB  hwm 4.0 MiB  per connection 2.0 KiB
problems
  - one problem
";
        assert_eq!(table, expected);
    }

    #[test]
    fn echo_traffic_row() {
        let table = render(&outcome("echo"));
        let traffic = table
            .lines()
            .find(|line| line.starts_with("traffic"))
            .unwrap();
        assert_eq!(
            traffic,
            "traffic       sent 100 (10.0/s)  received 95 (9.5/s)  unanswered 10  pings 4 pongs 3  over 10.00 s"
        );
        assert!(!table.contains("delivery"), "{table}");
    }
}
