//! End-to-end runs of the chat scenario against a single-node server embedded in the test
//! process, through the library API with real worker processes of the `loadgen` binary.

mod common;

use switchboard_loadgen::checker::{Loss, SeqRange};
use switchboard_loadgen::coordinator::{self, Outcome};
use switchboard_loadgen::options::{ChatOptions, DropHook, Scenario};
use switchboard_loadgen::stats;

use common::{run_env, EmbeddedServer, SECRET};

/// Conversation index of the first group: it follows the 6 DMs of [`small_chat`].
const FIRST_GROUP_INDEX: usize = 6;

/// 12 users and 3 second devices in 6 DMs, 2 groups of 4 and a group of 6, split over two
/// worker processes.
fn small_chat(server: &EmbeddedServer) -> ChatOptions {
    let mut options = ChatOptions {
        target: server.listening.websocket.to_string(),
        rest: server.listening.rest.to_string(),
        users: 12,
        dm_pairs: Some(6),
        groups: 2,
        group_size: Some(4),
        large_group_size: Some(6),
        second_device_fraction: 0.25,
        rate: 60.0,
        payload_bytes: 100,
        duration_secs: 3,
        drain_secs: 1,
        connect_rate: 200.0,
        jwt_secret: Some(SECRET.to_string()),
        ..ChatOptions::default()
    };
    options.run.connections_per_worker = 8;
    options.run.threads = Some(2);
    options.run.source_addrs = Some(4);
    options
}

fn run(options: ChatOptions) -> Outcome {
    coordinator::run(&Scenario::Chat(options), &run_env()).expect("chat run completes")
}

#[test]
fn chat_run_delivers_everything() {
    let server = EmbeddedServer::start();
    let outcome = run(small_chat(&server));
    let totals = &outcome.totals;

    assert!(outcome.passed(), "problems: {:?}", outcome.problems);
    assert_eq!(outcome.workers, 2);
    assert_eq!(totals.connections.established, 15);
    assert!(totals.traffic.acked > 0, "{:?}", totals.traffic);
    assert_eq!(totals.traffic.acked, totals.traffic.sent);
    assert_eq!(totals.traffic.unacked, 0);
    assert!(totals.traffic.received > 0, "{:?}", totals.traffic);

    let delivery = &totals.delivery;
    assert!(delivery.checked > 0);
    assert_eq!(delivery.unchecked, 0);
    assert_eq!(delivery.missing, 0, "{:?}", delivery.losses);
    assert_eq!(delivery.duplicates, 0, "{:?}", delivery.duplicate_list);
    assert_eq!(delivery.out_of_order, 0);
    assert_eq!(delivery.received, delivery.expected);
    assert!(totals.planted_drops.is_empty());

    assert_eq!(
        totals.histograms[stats::SEND_TO_ACK].count(),
        totals.traffic.acked
    );
    assert_eq!(
        totals.histograms[stats::SEND_TO_DELIVER].count(),
        totals.traffic.received
    );
    assert_eq!(totals.histograms[stats::HANDSHAKE].count(), 15);
}

#[test]
fn planted_drop_fails_run() {
    let server = EmbeddedServer::start();
    let mut options = small_chat(&server);
    options.drop_hook = Some(DropHook {
        conversation_index: FIRST_GROUP_INDEX,
        member_index: 3,
        nth_push: 2,
    });
    let outcome = run(options);
    let totals = &outcome.totals;

    assert!(!outcome.passed());
    assert_eq!(totals.planted_drops.len(), 1, "{:?}", totals.planted_drops);
    let planted = &totals.planted_drops[0];
    let group = &outcome.chat.as_ref().expect("chat layout").conversations[FIRST_GROUP_INDEX];
    assert_eq!(planted.conversation_id, group.conversation_id);
    assert_eq!(planted.user_id, group.members[3]);
    assert_eq!(planted.device, 0);

    assert_eq!(totals.delivery.missing, 1);
    assert_eq!(totals.delivery.duplicates, 0);
    assert_eq!(
        totals.delivery.losses,
        vec![Loss {
            conversation_id: planted.conversation_id,
            user_id: planted.user_id,
            device: 0,
            seqs: SeqRange {
                first: planted.seq,
                last: planted.seq,
            },
        }]
    );
    let named = format!(
        "lost: conversation {} user {} device 0 seqs {}..={}",
        planted.conversation_id, planted.user_id, planted.seq, planted.seq
    );
    assert!(
        outcome.problems.contains(&named),
        "problems: {:?}",
        outcome.problems
    );
}
