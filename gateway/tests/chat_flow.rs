//! Messages between online users: ordering, acks, retries and multi-device fan-out.

mod common;

use std::time::Duration;

use common::TestServer;
use switchboard_protocol::pb::envelope::Kind;

#[test]
fn dm_message_reaches_online_peer() {
    let server = TestServer::start();
    let (alice, alice_token) = server.user("alice");
    let (bob, bob_token) = server.user("bob");
    let dm = server.conversation(&alice_token, "dm", &[bob]);
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
