//! The JSON report of a run: command line, options, machine, dates and results, with
//! histograms both summarised and encoded (base64 of the HDR V2 serialization).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{rates, Rates};
use crate::checker::DeliveryTotals;
use crate::coordinator::memory::MemoryReport;
use crate::coordinator::outcome::ChatLayout;
use crate::coordinator::Outcome;
use crate::histogram::{LatencyHistogram, LatencySummary};
use crate::machine::{describe_machine, format_utc, Machine};
use crate::options::Scenario;
use crate::stats::{ConnectionTotals, PlantedDrop, TrafficTotals};

/// Options whose value is a secret and never written to a report.
const SECRET_OPTIONS: [&str; 1] = ["--jwt-secret"];

/// The JSON report of one run.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub scenario: &'static str,
    pub passed: bool,
    pub problems: &'a [String],
    pub command_line: Vec<String>,
    pub options: serde_json::Value,
    pub machine: Machine,
    pub started_at_utc: String,
    pub finished_at_utc: String,
    pub target: String,
    pub workers: usize,
    pub threads_per_worker: usize,
    pub results: Results<'a>,
}

/// Measured results of one run.
#[derive(Debug, Serialize)]
pub struct Results<'a> {
    pub connections: &'a ConnectionTotals,
    pub traffic: &'a TrafficTotals,
    pub rates: Rates,
    pub latency_ms: BTreeMap<&'a str, LatencySummary>,
    /// Each histogram as base64 of its HDR V2 serialization, in microseconds.
    pub histograms_v2_base64: &'a BTreeMap<String, LatencyHistogram>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<&'a DeliveryTotals>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub planted_drops: &'a [PlantedDrop],
    pub server_memory: Option<&'a MemoryReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat: Option<&'a ChatLayout>,
}

/// Builds the report of `outcome`, run as `command_line` with `scenario`'s options.
pub fn build_document<'a>(
    outcome: &'a Outcome,
    scenario: &Scenario,
    command_line: &[String],
) -> Document<'a> {
    let totals = &outcome.totals;
    Document {
        scenario: outcome.scenario,
        passed: outcome.passed(),
        problems: &outcome.problems,
        command_line: redact_command_line(command_line),
        options: scenario.options_json(),
        machine: describe_machine(),
        started_at_utc: format_utc(outcome.started_unix_secs),
        finished_at_utc: format_utc(outcome.finished_unix_secs),
        target: outcome.target.to_string(),
        workers: outcome.workers,
        threads_per_worker: outcome.threads_per_worker,
        results: Results {
            connections: &totals.connections,
            traffic: &totals.traffic,
            rates: rates(outcome),
            latency_ms: totals
                .histograms
                .iter()
                .map(|(name, histogram)| (name.as_str(), histogram.summary()))
                .collect(),
            histograms_v2_base64: &totals.histograms,
            delivery: (outcome.scenario == "chat").then_some(&totals.delivery),
            planted_drops: &totals.planted_drops,
            server_memory: outcome.memory.as_ref(),
            chat: outcome.chat.as_ref(),
        },
    }
}

/// Replaces the values of secret options with `<redacted>`, in both `--name value` and
/// `--name=value` forms.
pub fn redact_command_line(args: &[String]) -> Vec<String> {
    let mut redacted = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        if hide_next {
            redacted.push("<redacted>".to_string());
            hide_next = false;
            continue;
        }
        if SECRET_OPTIONS.contains(&arg.as_str()) {
            hide_next = true;
            redacted.push(arg.clone());
            continue;
        }
        let secret_with_value = SECRET_OPTIONS
            .iter()
            .find(|option| arg.starts_with(&format!("{option}=")));
        match secret_with_value {
            Some(option) => redacted.push(format!("{option}=<redacted>")),
            None => redacted.push(arg.clone()),
        }
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn secrets_redacted_in_both_forms() {
        let args = strings(&[
            "loadgen",
            "connect",
            "--jwt-secret",
            "s3cret-value",
            "--connections",
            "5",
            "--jwt-secret=other-secret",
        ]);
        let redacted = redact_command_line(&args);
        assert_eq!(
            redacted,
            strings(&[
                "loadgen",
                "connect",
                "--jwt-secret",
                "<redacted>",
                "--connections",
                "5",
                "--jwt-secret=<redacted>",
            ])
        );
    }
}
