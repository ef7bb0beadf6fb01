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

fn write_connections(out: &mut String, outcome: &Outcome) {
    let connections = &outcome.totals.connections;
    let rates = rates(outcome);
    let _ = writeln!(
        out,
        "connections   attempted {}  established {}  failed {}  lost {}  rate {} over {}",
        connections.attempted,
        connections.established,
        connections.failed_total(),
        connections.lost_total(),
        per_sec(rates.connections_per_sec),
        seconds(rates.connect_secs)
    );
    if connections.failed_total() + connections.lost_total() > 0 {
        let _ = writeln!(
            out,
            "              failed: {}; lost: {}",
            format_causes(&connections.failed),
            format_causes(&connections.lost)
        );
    }
}

fn write_traffic(out: &mut String, outcome: &Outcome) {
    let traffic = &outcome.totals.traffic;
    let rates = rates(outcome);
    let _ = write!(
        out,
        "traffic       sent {} ({})  received {} ({})",
        traffic.sent,
        per_sec(rates.sent_per_sec),
        traffic.received,
        per_sec(rates.received_per_sec)
    );
    if outcome.scenario == "chat" {
        let _ = write!(
            out,
            "  acked {} ({})  unacked {}",
            traffic.acked,
            per_sec(rates.acked_per_sec),
            traffic.unacked
        );
    }
    if outcome.scenario == "echo" {
        let _ = write!(out, "  unanswered {}", traffic.unacked);
    }
    if let Some(ratio) = rates.broadcast_delivery_ratio {
        let _ = write!(
            out,
            "  delivered {:.2}% of sent x connections",
            ratio * 100.0
        );
    }
    let _ = writeln!(
        out,
        "  pings {} pongs {}  over {}",
        traffic.pings,
        traffic.pongs,
        seconds(rates.run_secs)
    );
    if !traffic.send_errors.is_empty() {
        let _ = writeln!(
            out,
            "              send errors: {}",
            format_causes(&traffic.send_errors)
        );
    }
}

fn write_delivery(out: &mut String, outcome: &Outcome) {
    let delivery = &outcome.totals.delivery;
    let _ = writeln!(
        out,
        "delivery      checked {} (device, conversation) pairs  expected {}  received {}  \
         missing {}  duplicated {}  out of order {}  unchecked {}",
        delivery.checked,
        delivery.expected,
        delivery.received,
        delivery.missing,
        delivery.duplicates,
        delivery.out_of_order,
        delivery.unchecked
    );
}

fn write_memory(out: &mut String, outcome: &Outcome) {
    let Some(memory) = &outcome.memory else {
        return;
    };
    let rss = |sample: Option<ProcessMemory>| {
        sample.map_or("-".to_string(), |sample| mib(sample.rss_bytes as f64))
    };
    let _ = writeln!(
        out,
        "server memory pids {:?}  rss before {}  connected {}  hold {}  peak {}  hwm {}  \
         per connection {}",
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
        memory
            .rss_per_connection_bytes
            .map_or("-".to_string(), |bytes| format!(
                "{:.1} KiB",
                bytes / 1024.0
            ))
    );
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
