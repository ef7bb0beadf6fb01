//! Messages between online users: ordering, acks, retries and multi-device fan-out.

mod common;

use std::time::Duration;

use common::{DmPair, TestServer};
use switchboard_protocol::pb::envelope::Kind;
use switchboard_protocol::pb::ErrorCode;

#[test]
fn dm_message_reaches_online_peer() {
    let server = TestServer::start();
    let DmPair {
        alice,
        alice_token,
        bob_token,
        dm,
        ..
    } = server.dm_pair();
    let mut a = server.connect(&alice_token);
    let mut b = server.connect(&bob_token);

    let reply = a.send_text(dm, "m-1", "hello bob");
    let Some(Kind::SendAck(ack)) = reply.kind else {
        panic!("expected a send ack, got {reply:?}");
    };
    assert_eq!(ack.seq, 1);
    assert_eq!(ack.conversation_id, dm);
    assert!(!ack.duplicate);

    let event = b
        .next_event(Duration::from_secs(5))
        .expect("bob receives the message");
    let Some(Kind::Message(message)) = event.kind else {
        panic!("expected a message event, got {event:?}");
    };
    assert_eq!(message.seq, 1);
    assert_eq!(message.sender_id, alice);
    assert_eq!(message.content, "hello bob");
    assert_eq!(message.message_id, "m-1");
}

fn ack_seq(reply: &switchboard_protocol::pb::Envelope) -> u64 {
    match &reply.kind {
        Some(Kind::SendAck(ack)) => ack.seq,
        other => panic!("expected a send ack, got {other:?}"),
    }
}

fn error_code(reply: &switchboard_protocol::pb::Envelope) -> ErrorCode {
    match &reply.kind {
        Some(Kind::Error(error)) => ErrorCode::try_from(error.code).expect("known error code"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn offline_peer_syncs_missed_messages() {
    let server = TestServer::start();
    let DmPair {
        alice_token,
        bob_token,
        dm,
        ..
    } = server.dm_pair();
    let mut a = server.connect(&alice_token);

    let mut b = server.connect(&bob_token);
    assert_eq!(ack_seq(&a.send_text(dm, "m-1", "first")), 1);
    let seen = b
        .next_event(Duration::from_secs(5))
        .expect("bob sees the first message");
    assert!(matches!(seen.kind, Some(Kind::Message(ref m)) if m.seq == 1));
    b.close();

    for (index, text) in ["two", "three", "four"].iter().enumerate() {
        let seq = ack_seq(&a.send_text(dm, &format!("m-{}", index + 2), text));
        assert_eq!(seq, index as u64 + 2);
    }

    let mut b = server.connect(&bob_token);
    let reply = b.sync(dm, 1);
    let Some(Kind::SyncResult(result)) = reply.kind else {
        panic!("expected a sync result, got {reply:?}");
    };
    let seqs: Vec<u64> = result.messages.iter().map(|m| m.seq).collect();
    let texts: Vec<&str> = result.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    assert_eq!(texts, vec!["two", "three", "four"]);
    assert!(!result.has_more);
    assert_eq!(result.last_seq, 4);
}

#[test]
fn retried_send_returns_original_seq() {
    let server = TestServer::start();
    let DmPair {
        alice_token, dm, ..
    } = server.dm_pair();
    let mut a = server.connect(&alice_token);

    assert_eq!(ack_seq(&a.send_text(dm, "m-1", "once")), 1);
    let retry = a.send_text(dm, "m-1", "once");
    let Some(Kind::SendAck(ack)) = retry.kind else {
        panic!("expected a send ack for the retry, got {retry:?}");
    };
    assert_eq!(ack.seq, 1, "a retry must return the original seq");
    assert!(ack.duplicate, "a retry must be flagged as a duplicate");
    assert_eq!(ack_seq(&a.send_text(dm, "m-2", "next")), 2);

    // Both copies in one batch: the second gets the ack of the first.
    a.send_frames(&[send_envelope(10, dm, "m-3"), send_envelope(11, dm, "m-3")]);
    assert_eq!(ack_seq(&a.reply_to(10)), 3);
    assert_eq!(ack_seq(&a.reply_to(11)), 3);

    let reply = a.sync(dm, 0);
    let Some(Kind::SyncResult(result)) = reply.kind else {
        panic!("expected a sync result, got {reply:?}");
    };
    let ids: Vec<&str> = result
        .messages
        .iter()
        .map(|m| m.message_id.as_str())
        .collect();
    assert_eq!(
        ids,
        vec!["m-1", "m-2", "m-3"],
        "nothing may be stored twice"
    );
}

#[test]
fn message_id_of_other_sender_rejected() {
    let server = TestServer::start();
    let DmPair {
        alice_token,
        bob_token,
        dm,
        ..
    } = server.dm_pair();
    let mut a = server.connect(&alice_token);
    let mut b = server.connect(&bob_token);

    assert_eq!(ack_seq(&a.send_text(dm, "shared-id", "from alice")), 1);
    let reply = b.send_text(dm, "shared-id", "from bob");
    assert_eq!(
        error_code(&reply),
        ErrorCode::InvalidArgument,
        "bob's send must not be acked as alice's message"
    );

    // Sent at nearly the same time, possibly in one batch: one sender keeps the id.
    b.send_frames(&[send_envelope(20, dm, "race-id")]);
    a.send_frames(&[send_envelope(21, dm, "race-id")]);
    let first = b.reply_to(20);
    let second = a.reply_to(21);
    let acked = [&first, &second]
        .iter()
        .filter(|reply| matches!(reply.kind, Some(Kind::SendAck(_))))
        .count();
    assert_eq!(
        acked, 1,
        "exactly one sender may own the id: {first:?} {second:?}"
    );
}

fn send_envelope(
    request_id: u64,
    conversation_id: u64,
    message_id: &str,
) -> switchboard_protocol::pb::Envelope {
    switchboard_protocol::pb::Envelope {
        request_id,
        kind: Some(Kind::SendMessage(switchboard_protocol::pb::SendMessage {
            conversation_id,
            client_message_id: message_id.to_string(),
            content: "batched".to_string(),
            r#type: 0,
        })),
    }
}

#[test]
fn group_message_reaches_every_device_once() {
    let server = TestServer::start();
    let users: Vec<(u64, String)> = (0..50)
        .map(|i| server.user(&format!("member{i}")))
        .collect();
    let member_ids: Vec<u64> = users[1..].iter().map(|(id, _)| *id).collect();
    let group = server.conversation(&users[0].1, "group", &member_ids);

    // Ten devices: users 1..=7 with one each, users 8..=9 with two, plus a non-member.
    let mut devices = Vec::new();
    for (user_id, token) in &users[1..8] {
        devices.push((*user_id, server.connect(token)));
    }
    for (user_id, token) in &users[8..10] {
        devices.push((*user_id, server.connect(token)));
        devices.push((*user_id, server.connect(token)));
    }
    assert_eq!(devices.len(), 11);
    let (_, outsider_token) = server.user("outsider");
    let mut outsider = server.connect(&outsider_token);

    let mut sender = server.connect(&users[0].1);
    assert_eq!(ack_seq(&sender.send_text(group, "g-1", "hello group")), 1);

    for (user_id, device) in devices.iter_mut() {
        let event = device
            .next_event(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("device of user {user_id} got nothing"));
        let Some(Kind::Message(message)) = event.kind else {
            panic!("device of user {user_id} got {event:?}");
        };
        assert_eq!(message.seq, 1);
        let extra = device.next_event(Duration::from_millis(300));
        assert!(
            extra.is_none(),
            "device of user {user_id} got a second copy: {extra:?}"
        );
    }
    assert!(
        outsider.next_event(Duration::from_millis(300)).is_none(),
        "a non-member must not receive group messages"
    );
    assert!(
        sender.next_event(Duration::from_millis(300)).is_none(),
        "the sending device gets the ack, not an echo"
    );
}

#[test]
fn rest_history_pages_with_cursor() {
    let server = TestServer::start();
    let DmPair {
        alice_token,
        bob_token,
        dm,
        ..
    } = server.dm_pair();
    let mut a = server.connect(&alice_token);
    for index in 1..=12 {
        assert_eq!(
            ack_seq(&a.send_text(dm, &format!("h-{index}"), &format!("text {index}"))),
            index
        );
    }

    let mut seen = Vec::new();
    let mut after = 0;
    for _ in 0..10 {
        let path = format!("/v1/conversations/{dm}/messages?after={after}&limit=5");
        let (status, body) = server.rest("GET", &path, Some(&bob_token), None);
        assert_eq!(status, 200, "history page: {body}");
        let page: Vec<u64> = body["messages"]
            .as_array()
            .expect("messages array")
            .iter()
            .map(|m| m["seq"].as_u64().expect("seq"))
            .collect();
        seen.extend(page);
        if !body["has_more"].as_bool().expect("has_more") {
            break;
        }
        after = body["next_cursor"]
            .as_u64()
            .expect("next_cursor while has_more");
    }
    assert_eq!(seen, (1..=12).collect::<Vec<u64>>());
}

#[test]
fn read_marker_clears_unread_and_syncs_devices() {
    let server = TestServer::start();
    let DmPair {
        alice_token,
        bob,
        bob_token,
        dm,
        ..
    } = server.dm_pair();
    let mut a = server.connect(&alice_token);
    for index in 1..=3 {
        a.send_text(dm, &format!("r-{index}"), "unread");
    }

    let unread = |server: &TestServer| -> u64 {
        let (status, body) = server.rest("GET", "/v1/conversations", Some(&bob_token), None);
        assert_eq!(status, 200, "inbox: {body}");
        let entry = body
            .as_array()
            .expect("inbox array")
            .iter()
            .find(|entry| entry["conversation_id"].as_u64() == Some(dm))
            .expect("the DM is in bob's inbox");
        entry["unread"].as_u64().expect("unread")
    };
    assert_eq!(unread(&server), 3);
    let (_, alice_inbox) = server.rest("GET", "/v1/conversations", Some(&alice_token), None);
    assert_eq!(
        alice_inbox[0]["unread"].as_u64(),
        Some(0),
        "a sender's own messages must not count as unread: {alice_inbox}"
    );

    let mut phone = server.connect(&bob_token);
    let mut laptop = server.connect(&bob_token);
    let reply = phone.request(Kind::MarkRead(switchboard_protocol::pb::MarkRead {
        conversation_id: dm,
        seq: 2,
    }));
    let Some(Kind::MarkReadAck(ack)) = reply.kind else {
        panic!("expected a mark-read ack, got {reply:?}");
    };
    assert_eq!(ack.last_read_seq, 2);
    assert_eq!(ack.unread, 1);
    assert_eq!(unread(&server), 1);

    let event = laptop
        .next_event(Duration::from_secs(5))
        .expect("the other device receives the read marker");
    let Some(Kind::ReadMarker(marker)) = event.kind else {
        panic!("expected a read marker, got {event:?}");
    };
    assert_eq!(marker.conversation_id, dm);
    assert_eq!(marker.user_id, bob);
    assert_eq!(marker.last_read_seq, 2);
    assert!(
        phone.next_event(Duration::from_millis(300)).is_none(),
        "the device that moved the marker gets the ack only"
    );
}

#[test]
fn non_member_requests_rejected() {
    let server = TestServer::start();
    let (_, alice_token) = server.user("alice");
    let (bob, _) = server.user("bob");
    let (_, eve_token) = server.user("eve");
    let dm = server.conversation(&alice_token, "dm", &[bob]);
    let mut a = server.connect(&alice_token);
    a.send_text(dm, "private-1", "secret");

    let mut eve = server.connect(&eve_token);
    assert_eq!(
        error_code(&eve.send_text(dm, "eve-1", "let me in")),
        ErrorCode::NotMember
    );
    assert_eq!(error_code(&eve.sync(dm, 0)), ErrorCode::NotMember);
    let history = eve.request(Kind::History(switchboard_protocol::pb::HistoryRequest {
        conversation_id: dm,
        cursor: 0,
        limit: 10,
        direction: 0,
    }));
    assert_eq!(error_code(&history), ErrorCode::NotMember);
    assert_eq!(
        error_code(&eve.send_text(999_999, "eve-2", "nowhere")),
        ErrorCode::NotFound
    );

    let path = format!("/v1/conversations/{dm}/messages");
    let (status, _) = server.rest("GET", &path, Some(&eve_token), None);
    assert_eq!(status, 403, "REST history must reject a non-member");

    let reply = a.sync(dm, 0);
    let Some(Kind::SyncResult(result)) = reply.kind else {
        panic!("expected a sync result, got {reply:?}");
    };
    assert_eq!(
        result.messages.len(),
        1,
        "the rejected send must store nothing"
    );
}
