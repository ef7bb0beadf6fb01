//! Delivery checker of the chat scenario. Pure logic, no IO.
//!
//! A device's record of one conversation collects the seqs it got by push and the seqs of its
//! own sends from their acks. The server pushes a message to every online device of every
//! member except the sending device. So pushes and own acks together must cover every seq
//! after the conversation's `last_seq` at connect time, up to the `last_seq` read by a
//! final sync. A seq missing from both is a loss. A seq pushed twice,
//! or pushed to the device that sent it, is a duplicate. A push with a lower seq than an
//! earlier push is out of order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most losses and duplicates listed one by one in [`DeliveryTotals`]; the totals count all.
pub const MAX_LISTED_PROBLEMS: usize = 200;

/// Seqs one device received in one conversation, by push and by ack.
#[derive(Debug, Clone, Default)]
pub struct ConversationRecord {
    /// `last_seq` of the conversation when the device connected; `None` when unknown.
    start_after: Option<u64>,
    pushes: Vec<u64>,
    acks: Vec<u64>,
    out_of_order: u64,
    highest_push: u64,
}

/// A run of consecutive missing seqs, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub first: u64,
    pub last: u64,
}

impl SeqRange {
    /// Returns the number of seqs in the range.
    pub fn count(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// Result of checking one conversation on one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationVerdict {
    /// Seqs the device had to receive by push or ack.
    pub expected: u64,
    /// Distinct expected seqs it did receive.
    pub received: u64,
    /// Runs of seqs it never received.
    pub missing: Vec<SeqRange>,
    /// Seqs received more than once, with the number of extra copies.
    pub duplicates: Vec<(u64, u64)>,
    /// Pushes that arrived after a push with a higher seq.
    pub out_of_order: u64,
    /// Pushed or acked seqs above the final `last_seq`, which the server never reported.
    pub beyond_last_seq: Vec<u64>,
    /// True when the start was unknown and no seq arrived, so nothing could be checked.
    pub unchecked: bool,
}

impl ConversationVerdict {
    /// Returns the number of missing seqs.
    pub fn missing_count(&self) -> u64 {
        self.missing.iter().map(SeqRange::count).sum()
    }

    /// Checks whether the device received exactly what it should have.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.duplicates.is_empty()
            && self.out_of_order == 0
            && self.beyond_last_seq.is_empty()
            && !self.unchecked
    }
}

impl ConversationRecord {
    /// Creates a record whose expected range starts after `start_after`, the conversation's
    /// `last_seq` when the device connected. With `None`, it starts at the first seq seen.
    pub fn new(start_after: Option<u64>) -> Self {
        Self {
            start_after,
            ..Self::default()
        }
    }

    /// Sets the conversation's `last_seq` at connect time, once the sync reply arrives.
    pub fn set_start_after(&mut self, last_seq: u64) {
        self.start_after = Some(last_seq);
    }

    /// Records a message received by push.
    pub fn record_push(&mut self, seq: u64) {
        if seq < self.highest_push {
            self.out_of_order += 1;
        }
        self.highest_push = self.highest_push.max(seq);
        self.pushes.push(seq);
    }

    /// Records the ack of a message this device sent.
    pub fn record_ack(&mut self, seq: u64) {
        self.acks.push(seq);
    }

    /// Checks the record against the conversation's final `last_seq`.
    pub fn verify(&self, last_seq: u64) -> ConversationVerdict {
        let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
        for &seq in self.pushes.iter().chain(&self.acks) {
            *seen.entry(seq).or_default() += 1;
        }
        let start = match self.start_after {
            Some(after) => after + 1,
            None => match seen.keys().next() {
                Some(&first) => first,
                None => {
                    return ConversationVerdict {
                        unchecked: last_seq > 0,
                        ..ConversationVerdict::default()
                    }
                }
            },
        };

        let mut verdict = ConversationVerdict {
            expected: (last_seq + 1).saturating_sub(start),
            out_of_order: self.out_of_order,
            ..ConversationVerdict::default()
        };
        for (&seq, &copies) in &seen {
            if copies > 1 {
                verdict.duplicates.push((seq, copies - 1));
            }
            if seq > last_seq {
                verdict.beyond_last_seq.push(seq);
            } else if seq >= start {
                verdict.received += 1;
            }
        }
        verdict.missing = missing_ranges(seen.keys().copied(), start, last_seq);
        verdict
    }
}

/// Returns the runs of seqs in `start..=last` that `present` (ascending) lacks.
fn missing_ranges(present: impl Iterator<Item = u64>, start: u64, last: u64) -> Vec<SeqRange> {
    let mut missing = Vec::new();
    let mut next = start;
    for seq in present {
        if seq < next {
            continue;
        }
        if seq > last {
            break;
        }
        if seq > next {
            missing.push(SeqRange {
                first: next,
                last: seq - 1,
            });
        }
        next = seq + 1;
    }
    if next <= last {
        missing.push(SeqRange { first: next, last });
    }
    missing
}

/// One device and conversation that lost messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loss {
    pub conversation_id: u64,
    pub user_id: u64,
    /// Device number of the user, 0 for the first device.
    pub device: u8,
    pub seqs: SeqRange,
}

/// One seq a device received more than once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub conversation_id: u64,
    pub user_id: u64,
    pub device: u8,
    pub seq: u64,
    /// Copies beyond the first.
    pub extra_copies: u64,
}

/// Checker results summed over devices, workers and conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryTotals {
    /// (device, conversation) pairs checked.
    pub checked: u64,
    /// Pairs that could not be checked: the start was unknown and nothing arrived, or the
    /// final sync failed.
    pub unchecked: u64,
    /// Seqs the devices had to receive, summed over pairs.
    pub expected: u64,
    /// Expected seqs the devices received.
    pub received: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub beyond_last_seq: u64,
    /// The first [`MAX_LISTED_PROBLEMS`] losses.
    pub losses: Vec<Loss>,
    /// The first [`MAX_LISTED_PROBLEMS`] duplicates.
    pub duplicate_list: Vec<Duplicate>,
}

impl DeliveryTotals {
    /// Adds the verdict of one device in one conversation.
    pub fn add_verdict(
        &mut self,
        conversation_id: u64,
        user_id: u64,
        device: u8,
        verdict: &ConversationVerdict,
    ) {
        if verdict.unchecked {
            self.unchecked += 1;
            return;
        }
        self.checked += 1;
        self.expected += verdict.expected;
        self.received += verdict.received;
        self.missing += verdict.missing_count();
        self.out_of_order += verdict.out_of_order;
        self.beyond_last_seq += verdict.beyond_last_seq.len() as u64;
        for &seqs in &verdict.missing {
            push_capped(
                &mut self.losses,
                Loss {
                    conversation_id,
                    user_id,
                    device,
                    seqs,
                },
            );
        }
        for &(seq, extra_copies) in &verdict.duplicates {
            self.duplicates += extra_copies;
            push_capped(
                &mut self.duplicate_list,
                Duplicate {
                    conversation_id,
                    user_id,
                    device,
                    seq,
                    extra_copies,
                },
            );
        }
    }

    /// Counts a pair whose final sync failed, so it could not be checked.
    pub fn add_unchecked(&mut self) {
        self.unchecked += 1;
    }

    /// Adds the totals of another worker or thread.
    pub fn merge(&mut self, other: &DeliveryTotals) {
        self.checked += other.checked;
        self.unchecked += other.unchecked;
        self.expected += other.expected;
        self.received += other.received;
        self.missing += other.missing;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.beyond_last_seq += other.beyond_last_seq;
        for loss in &other.losses {
            push_capped(&mut self.losses, loss.clone());
        }
        for duplicate in &other.duplicate_list {
            push_capped(&mut self.duplicate_list, duplicate.clone());
        }
    }

    /// Checks whether every checked pair received exactly its messages and none was left
    /// unchecked.
    pub fn is_clean(&self) -> bool {
        self.missing == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.beyond_last_seq == 0
            && self.unchecked == 0
    }
}

fn push_capped<T>(list: &mut Vec<T>, item: T) {
    if list.len() < MAX_LISTED_PROBLEMS {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(start_after: Option<u64>, pushes: &[u64], acks: &[u64]) -> ConversationRecord {
        let mut record = ConversationRecord::new(start_after);
        for &seq in pushes {
            record.record_push(seq);
        }
        for &seq in acks {
            record.record_ack(seq);
        }
        record
    }

    #[test]
    fn complete_stream_is_clean() {
        let verdict = record(Some(0), &[1, 2, 4, 5], &[3]).verify(5);
        assert!(verdict.is_clean(), "{verdict:?}");
        assert_eq!(verdict.expected, 5);
        assert_eq!(verdict.received, 5);
    }

    #[test]
    fn planted_gap_reported_with_seq() {
        let verdict = record(Some(0), &[1, 2, 4, 5], &[]).verify(5);
        assert_eq!(verdict.missing, vec![SeqRange { first: 3, last: 3 }]);
        assert_eq!(verdict.missing_count(), 1);
        assert_eq!(verdict.received, 4);
        assert!(!verdict.is_clean());
    }

    #[test]
    fn planted_duplicate_reported_with_seq() {
        let verdict = record(Some(0), &[1, 2, 2, 3], &[]).verify(3);
        assert_eq!(verdict.duplicates, vec![(2, 1)]);
        assert!(verdict.missing.is_empty());
        assert_eq!(verdict.out_of_order, 0);
        assert!(!verdict.is_clean());
    }

    #[test]
    fn push_of_own_message_is_duplicate() {
        let verdict = record(Some(0), &[1, 2], &[2]).verify(2);
        assert_eq!(verdict.duplicates, vec![(2, 1)]);
    }

    #[test]
    fn missing_tail_up_to_last_seq() {
        let verdict = record(Some(0), &[1, 2], &[]).verify(6);
        assert_eq!(verdict.missing, vec![SeqRange { first: 3, last: 6 }]);
        assert_eq!(verdict.missing_count(), 4);
    }

    #[test]
    fn missing_head_after_start() {
        let verdict = record(Some(10), &[13, 14], &[]).verify(14);
        assert_eq!(
            verdict.missing,
            vec![SeqRange {
                first: 11,
                last: 12
            }]
        );
        assert_eq!(verdict.expected, 4);
    }

    #[test]
    fn seqs_before_start_ignored() {
        let verdict = record(Some(3), &[2, 4, 5], &[]).verify(5);
        assert!(verdict.missing.is_empty(), "{verdict:?}");
        assert_eq!(verdict.received, 2);
    }

    #[test]
    fn unknown_start_uses_first_seen() {
        let verdict = record(None, &[7, 9], &[]).verify(9);
        assert_eq!(verdict.missing, vec![SeqRange { first: 8, last: 8 }]);
        assert_eq!(verdict.expected, 3);
    }

    #[test]
    fn unknown_start_with_nothing_is_unchecked() {
        let verdict = record(None, &[], &[]).verify(4);
        assert!(verdict.unchecked);
        assert!(!verdict.is_clean());
        let quiet = record(None, &[], &[]).verify(0);
        assert!(quiet.is_clean());
    }

    #[test]
    fn out_of_order_pushes_counted() {
        let verdict = record(Some(0), &[1, 3, 2, 4], &[]).verify(4);
        assert_eq!(verdict.out_of_order, 1);
        assert!(verdict.missing.is_empty());
        assert!(verdict.duplicates.is_empty());
    }

    #[test]
    fn ack_beyond_last_seq_reported() {
        let verdict = record(Some(0), &[1], &[2]).verify(1);
        assert_eq!(verdict.beyond_last_seq, vec![2]);
        assert!(!verdict.is_clean());
    }

    #[test]
    fn several_gaps_become_ranges() {
        let verdict = record(Some(0), &[1, 4, 8], &[5]).verify(10);
        assert_eq!(
            verdict.missing,
            vec![
                SeqRange { first: 2, last: 3 },
                SeqRange { first: 6, last: 7 },
                SeqRange { first: 9, last: 10 },
            ]
        );
    }

    #[test]
    fn totals_name_conversation_device_and_seq() {
        let mut totals = DeliveryTotals::default();
        let clean = record(Some(0), &[1, 2, 3], &[]).verify(3);
        totals.add_verdict(7, 41, 0, &clean);
        let gap = record(Some(0), &[1, 3], &[]).verify(3);
        totals.add_verdict(9, 42, 1, &gap);
        let duplicate = record(Some(0), &[1, 1], &[]).verify(1);
        totals.add_verdict(11, 43, 0, &duplicate);

        assert_eq!(totals.checked, 3);
        assert_eq!(totals.missing, 1);
        assert_eq!(totals.duplicates, 1);
        assert_eq!(
            totals.losses,
            vec![Loss {
                conversation_id: 9,
                user_id: 42,
                device: 1,
                seqs: SeqRange { first: 2, last: 2 },
            }]
        );
        assert_eq!(
            totals.duplicate_list,
            vec![Duplicate {
                conversation_id: 11,
                user_id: 43,
                device: 0,
                seq: 1,
                extra_copies: 1,
            }]
        );
        assert!(!totals.is_clean());
    }

    #[test]
    fn merge_sums_and_caps_lists() {
        let mut left = DeliveryTotals::default();
        let mut right = DeliveryTotals::default();
        let gap = record(Some(0), &[], &[]).verify(1);
        for conversation_id in 0..MAX_LISTED_PROBLEMS as u64 {
            left.add_verdict(conversation_id, 1, 0, &gap);
            right.add_verdict(conversation_id, 2, 0, &gap);
        }
        left.merge(&right);
        assert_eq!(left.missing, 2 * MAX_LISTED_PROBLEMS as u64);
        assert_eq!(left.losses.len(), MAX_LISTED_PROBLEMS);
        assert_eq!(left.checked, 2 * MAX_LISTED_PROBLEMS as u64);
    }

    #[test]
    fn clean_totals_pass() {
        let mut totals = DeliveryTotals::default();
        totals.add_verdict(1, 1, 0, &record(Some(0), &[1, 2], &[3]).verify(3));
        assert!(totals.is_clean());
        totals.add_unchecked();
        assert!(!totals.is_clean());
    }
}
