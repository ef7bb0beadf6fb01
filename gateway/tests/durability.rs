//! Crash safety: acked messages survive restarts and SIGKILL, with no gap in seqs.

mod common;

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{DmPair, TestServer, WsClient};
use switchboard_protocol::pb::envelope::Kind;
use switchboard_protocol::pb::{Envelope, SendMessage, SyncRequest};

/// Reads the whole conversation through sync pages.
fn read_all(client: &mut WsClient, conversation_id: u64) -> Vec<(u64, String)> {
    let mut messages = Vec::new();
    let mut after = 0;
    for _ in 0..1_000 {
        let reply = client.request(Kind::Sync(SyncRequest {
            conversation_id,
            after_seq: after,
            limit: 500,
        }));
        let Some(Kind::SyncResult(result)) = reply.kind else {
            panic!("expected a sync result, got {reply:?}");
        };
        for message in &result.messages {
            messages.push((message.seq, message.message_id.clone()));
        }
        match result.messages.last() {
            Some(last) if result.has_more => after = last.seq,
            _ => return messages,
        }
    }
    panic!("sync did not finish within 1000 pages");
}

#[test]
fn history_survives_restarts() {
    let mut server = TestServer::start();
    let DmPair {
        alice_token, dm, ..
    } = server.dm_pair();
    let mut a = server.connect(&alice_token);
    for index in 1..=5 {
        a.send_text(dm, &format!("keep-{index}"), "durable");
    }
    drop(a);

    assert!(
        server.terminate(Duration::from_secs(15)),
        "SIGTERM must stop the server cleanly"
    );
    server.kill_and_restart();
    let mut a = server.connect(&alice_token);
    let ids: Vec<String> = read_all(&mut a, dm).into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        ids,
        (1..=5).map(|i| format!("keep-{i}")).collect::<Vec<_>>()
    );

    a.send_text(dm, "keep-6", "after restart");
    drop(a);
    server.kill_and_restart();
    let mut a = server.connect(&alice_token);
    let seqs: Vec<u64> = read_all(&mut a, dm)
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<u64>>());
}

/// Sends pipelined windows of messages until the connection fails; reports every ack.
fn send_until_killed(
    mut client: WsClient,
    conversation_id: u64,
    sender: usize,
    acks: mpsc::Sender<(String, u64)>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut next = 0u64;
    while Instant::now() < deadline && client.closed.is_none() {
        let window: Vec<Envelope> = (0..16)
            .map(|offset| {
                let request_id = next + offset + 1;
                Envelope {
                    request_id,
                    kind: Some(Kind::SendMessage(SendMessage {
                        conversation_id,
                        client_message_id: format!("s{sender}-{request_id}"),
                        content: "crash test".into(),
                        r#type: 0,
                    })),
                }
            })
            .collect();
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.send_frames(&window)))
            .is_err()
        {
            return;
        }
        for envelope in &window {
            let Some(frames) = wait_reply(&mut client, envelope.request_id) else {
                return;
            };
            if let Some(Kind::SendAck(ack)) = frames.kind {
                let _ = acks.send((ack.message_id, ack.seq));
            }
        }
        next += 16;
    }
}

fn wait_reply(client: &mut WsClient, request_id: u64) -> Option<Envelope> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.reply_to(request_id))).ok()
}

#[test]
fn sigkill_loses_no_acked_message() {
    let mut server = TestServer::start();
    let users: Vec<(u64, String)> = (0..3).map(|i| server.user(&format!("writer{i}"))).collect();
    let others: Vec<u64> = users[1..].iter().map(|(id, _)| *id).collect();
    let group = server.conversation(&users[0].1, "group", &others);

    let (ack_tx, ack_rx) = mpsc::channel();
    let senders: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(index, (_, token))| {
            let client = server.connect(token);
            let acks = ack_tx.clone();
            thread::spawn(move || send_until_killed(client, group, index, acks))
        })
        .collect();
    drop(ack_tx);

    // Let acks pile up, then kill in the middle of the stream.
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    while acked.len() < 300 && started.elapsed() < Duration::from_secs(20) {
        if let Ok((id, seq)) = ack_rx.recv_timeout(Duration::from_millis(100)) {
            acked.insert(id, seq);
        }
    }
    server.kill();
    for sender in senders {
        sender.join().expect("sender thread");
    }
    acked.extend(ack_rx.try_iter());
    assert!(
        acked.len() >= 300,
        "only {} acks before the kill",
        acked.len()
    );

    server.kill_and_restart();
    let mut reader = server.connect(&users[0].1);
    let stored: BTreeMap<u64, String> = read_all(&mut reader, group).into_iter().collect();
    let max_seq = stored.keys().last().copied().unwrap_or(0);
    assert_eq!(
        stored.keys().copied().collect::<Vec<u64>>(),
        (1..=max_seq).collect::<Vec<u64>>(),
        "seqs must have no gap"
    );
    for (message_id, seq) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(message_id),
            "acked message {message_id} must be stored at seq {seq}"
        );
    }
}
