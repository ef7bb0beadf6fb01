//! The outcome of a run and the rules that decide whether it passed. Pure logic.

use std::net::SocketAddr;

use serde::Serialize;

use super::memory::MemoryReport;
use crate::options::Scenario;
use crate::stats::{CauseCounts, Totals};

/// Losses named one by one in a failure message.
const LOSSES_NAMED: usize = 5;

/// A conversation created by the chat setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationInfo {
    pub conversation_id: u64,
    /// Member user ids in setup order.
    pub members: Vec<u64>,
}

/// Users, devices and conversations created by the chat setup.
#[derive(Debug, Clone, Serialize)]
pub struct ChatLayout {
    pub users: usize,
    pub devices: u64,
    /// Conversations in setup order: DMs, then groups, then the large group.
    pub conversations: Vec<ConversationInfo>,
}

/// Result of a whole run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: &'static str,
    pub target: SocketAddr,
    pub workers: usize,
    pub threads_per_worker: usize,
    pub started_unix_secs: u64,
    pub finished_unix_secs: u64,
    pub totals: Totals,
    pub memory: Option<MemoryReport>,
    pub chat: Option<ChatLayout>,
    /// Reasons the run failed; empty when it passed.
    pub problems: Vec<String>,
}

impl Outcome {
    /// Checks whether the run passed every check.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Lists why a run with these totals failed; empty when it passed.
pub fn judge(scenario: &Scenario, target: SocketAddr, totals: &Totals) -> Vec<String> {
    let mut problems = Vec::new();
    let connections = &totals.connections;
    if connections.established == 0 {
        problems.push(format!(
            "no connection was established to {target}; the failure causes say why"
        ));
    }
    let broken = connections.failed_total() + connections.lost_total();
    let allowed = scenario.run_options().max_failed_connections;
    if broken > allowed {
        problems.push(format!(
            "{broken} connections failed to open or were lost (failed: {}; lost: {}); \
             --max-failed-connections allows {allowed}",
            format_causes(&connections.failed),
            format_causes(&connections.lost)
        ));
    }
    match scenario {
        Scenario::Chat(_) => judge_chat(totals, &mut problems),
        Scenario::Echo(_) => {
            if totals.traffic.received == 0 {
                problems.push("no echo came back".to_string());
            }
            if totals.traffic.unacked > 0 {
                problems.push(format!(
                    "{} echoes did not come back within {} s after the last send",
                    totals.traffic.unacked,
                    crate::scenario::echo::DRAIN.as_secs()
                ));
            }
        }
        Scenario::Broadcast(_) if totals.traffic.received == 0 => {
            problems.push("no broadcast message was received".to_string());
        }
        _ => {}
    }
    problems
}

fn judge_chat(totals: &Totals, problems: &mut Vec<String>) {
    let delivery = &totals.delivery;
    if totals.traffic.acked == 0 {
        problems.push("no message was acked".to_string());
    }
    if totals.traffic.unacked > 0 {
        problems.push(format!(
            "{} sends got neither an ack nor an error",
            totals.traffic.unacked
        ));
    }
    if !delivery.is_clean() {
        problems.push(format!(
            "delivery check failed: {} seqs missing, {} duplicated, {} out of order, {} above \
             last_seq, {} (device, conversation) pairs unchecked",
            delivery.missing,
            delivery.duplicates,
            delivery.out_of_order,
            delivery.beyond_last_seq,
            delivery.unchecked
        ));
    }
    for loss in delivery.losses.iter().take(LOSSES_NAMED) {
        problems.push(format!(
            "lost: conversation {} user {} device {} seqs {}..={}",
            loss.conversation_id, loss.user_id, loss.device, loss.seqs.first, loss.seqs.last
        ));
    }
    for duplicate in delivery.duplicate_list.iter().take(LOSSES_NAMED) {
        problems.push(format!(
            "duplicated: conversation {} user {} device {} seq {} ({} extra copies)",
            duplicate.conversation_id,
            duplicate.user_id,
            duplicate.device,
            duplicate.seq,
            duplicate.extra_copies
        ));
    }
}

/// Formats cause counts as `refused 3, timeout 2`, or `none`.
pub fn format_causes(counts: &CauseCounts) -> String {
    if counts.is_empty() {
        return "none".to_string();
    }
    counts
        .iter()
        .map(|(cause, count)| format!("{cause} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{ConversationRecord, DeliveryTotals};
    use crate::options::ChatOptions;
    use crate::stats::{count_cause, Cause};

    fn target() -> SocketAddr {
        "127.0.0.1:8080".parse().unwrap()
    }

    fn healthy_chat_totals() -> Totals {
        let mut totals = Totals::default();
        totals.connections.attempted = 2;
        totals.connections.established = 2;
        totals.traffic.sent = 5;
        totals.traffic.acked = 5;
        totals
    }

    #[test]
    fn healthy_chat_passes() {
        let scenario = Scenario::Chat(ChatOptions::default());
        assert!(judge(&scenario, target(), &healthy_chat_totals()).is_empty());
    }

    #[test]
    fn loss_fails_and_is_named() {
        let scenario = Scenario::Chat(ChatOptions::default());
        let mut totals = healthy_chat_totals();
        let mut record = ConversationRecord::new(Some(0));
        record.record_push(1);
        record.record_push(3);
        let mut delivery = DeliveryTotals::default();
        delivery.add_verdict(12, 4, 0, &record.verify(3));
        totals.delivery = delivery;

        let problems = judge(&scenario, target(), &totals);
        assert!(
            problems.iter().any(|p| p.contains("1 seqs missing")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p == "lost: conversation 12 user 4 device 0 seqs 2..=2"),
            "{problems:?}"
        );
    }

    #[test]
    fn failed_connections_over_limit_fail() {
        let scenario = Scenario::Chat(ChatOptions::default());
        let mut totals = healthy_chat_totals();
        count_cause(&mut totals.connections.failed, &Cause::Refused);
        let problems = judge(&scenario, target(), &totals);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("refused 1"), "{problems:?}");
    }

    #[test]
    fn nothing_established_fails() {
        let scenario = Scenario::Chat(ChatOptions::default());
        let problems = judge(&scenario, target(), &Totals::default());
        assert!(problems[0].contains("127.0.0.1:8080"), "{problems:?}");
        assert!(problems[0].starts_with("no connection"), "{problems:?}");
    }
}
