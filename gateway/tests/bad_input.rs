//! Bad input from one client: malformed frames, protocol violations, bad tokens, broken
//! handshakes and a client that stops reading. Each test checks the server's response to the
//! bad client, and that two healthy clients on the same server still exchange messages and
//! keep every message acked before the bad input.

mod common;

use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use common::client::REPLY_TIMEOUT;
use common::raw::{upgrade_request, RawClient, ServerEvent, MASK};
use common::{mint_token, unix_now, TestServer, WsClient};
use switchboard_gateway::ws::{encode_frame, encode_masked_frame, OpCode};
use switchboard_protocol::encode_frame as encode_protocol_frame;
use switchboard_protocol::pb::envelope::Kind;
use switchboard_protocol::pb::{
    Authenticate, Envelope, ErrorCode, GoAway, Message, Ping, Pong, SendAck, SendMessage,
    SyncRequest,
};

/// Time a test waits for the server to close a connection.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// `handshake_timeout_ms` of the test server configuration.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);

/// `auth_timeout_ms` of the test server configuration.
const AUTH_TIMEOUT: Duration = Duration::from_millis(1000);

/// `max_frame_bytes` of the test server configuration.
const MAX_FRAME_BYTES: usize = 65_536;

/// `max_message_bytes` of the test server configuration.
const MAX_MESSAGE_BYTES: usize = 131_072;

/// Messages per sync page, small enough that a page of flood messages stays below the
/// client's 64 KiB frame limit and the server's 64 KiB send queue.
const SYNC_PAGE: u32 = 12;

/// Two healthy users in a DM, both online, used to check that the server keeps serving
/// everyone else while one client misbehaves.
struct Bystanders {
    conversation: u64,
    sender: WsClient,
    receiver: WsClient,
    /// Contents of the messages acked so far, where the message with seq `n` is at index `n - 1`.
    acked: Vec<String>,
}

impl Bystanders {
    fn join(server: &TestServer) -> Bystanders {
        let (_, carol_token) = server.user("carol");
        let (dave, dave_token) = server.user("dave");
        let conversation = server.conversation(&carol_token, "dm", &[dave]);
        Bystanders {
            conversation,
            sender: server.connect(&carol_token),
            receiver: server.connect(&dave_token),
            acked: Vec::new(),
        }
    }

    /// Sends one message and checks its ack and its delivery to the peer.
    fn exchange(&mut self) {
        let seq = self.acked.len() as u64 + 1;
        let content = format!("bystander message {seq}");
        let reply = self
            .sender
            .send_text(self.conversation, &format!("bystander-{seq}"), &content);
        let ack = expect_ack(reply, "bystander send");
        assert_eq!(ack.seq, seq, "bystander message got an unexpected seq");
        self.acked.push(content.clone());

        let event = self
            .receiver
            .next_event(REPLY_TIMEOUT)
            .expect("bystander peer receives the message");
        let Some(Kind::Message(message)) = event.kind else {
            panic!("bystander peer expected a message event, got {event:?}");
        };
        assert_eq!(message.seq, seq, "bystander peer received the wrong seq");
        assert_eq!(
            message.content, content,
            "bystander peer received the wrong content"
        );
    }

    /// Checks that a sync returns every acked message.
    fn assert_synced(&mut self) {
        let messages = sync_all(&mut self.receiver, self.conversation);
        assert_contents(&messages, &self.acked, "bystander sync");
    }
}

/// A running server with bystanders that exchanged one message, and a user `alice` with a
/// DM to `bob` for the bad client to act as.
struct Fixture {
    server: TestServer,
    bystanders: Bystanders,
    alice: u64,
    alice_token: String,
    dm: u64,
}

impl Fixture {
    fn start() -> Fixture {
        let server = TestServer::start();
        let (alice, alice_token) = server.user("alice");
        let (bob, _) = server.user("bob");
        let dm = server.conversation(&alice_token, "dm", &[bob]);
        let mut bystanders = Bystanders::join(&server);
        bystanders.exchange();
        Fixture {
            server,
            bystanders,
            alice,
            alice_token,
            dm,
        }
    }

    /// Opens a raw WebSocket session as alice, authenticated by the Authorization header.
    fn raw_alice(&self) -> RawClient {
        let authorization = format!("Bearer {}", self.alice_token);
        let request = upgrade_request("/ws", "13", &[("Authorization", &authorization)]);
        let (mut client, _) = RawClient::upgrade(self.server.ws_addr, &request);
        let event = client.next_event(REPLY_TIMEOUT);
        let ServerEvent::Frames(frames) = event else {
            panic!("expected AuthOk after the upgrade, got {event:?}");
        };
        assert!(
            matches!(frames[0].kind, Some(Kind::AuthOk(_))),
            "first frame after the upgrade is not AuthOk: {frames:?}"
        );
        client
    }

    /// Sends alice's message `content` over a raw session and checks its ack.
    fn raw_alice_sends(&self, client: &mut RawClient, content: &str) {
        let reply = client.request(send_kind(self.dm, content));
        let ack = expect_ack(reply, "alice's send before the bad input");
        assert_eq!(ack.seq, 1, "alice's first message got an unexpected seq");
    }

    /// Checks from a new session that alice's DM contains exactly `expected`.
    fn assert_alice_history(&self, expected: &[&str]) {
        let mut client = self.server.connect(&self.alice_token);
        let messages = sync_all(&mut client, self.dm);
        let expected: Vec<String> = expected.iter().map(|text| text.to_string()).collect();
        assert_contents(&messages, &expected, "alice's sync after the bad input");
    }

    /// Checks that the bystanders still exchange messages and that none was lost.
    fn assert_others_served(mut self) {
        self.bystanders.exchange();
        self.bystanders.assert_synced();
    }
}

fn send_kind(conversation_id: u64, content: &str) -> Kind {
    Kind::SendMessage(SendMessage {
        conversation_id,
        client_message_id: format!("{conversation_id}-{content}"),
        content: content.to_string(),
        r#type: 0,
    })
}

fn ping_envelope(request_id: u64) -> Envelope {
    Envelope {
        request_id,
        kind: Some(Kind::Ping(Ping { client_time_ms: 7 })),
    }
}

fn expect_ack(reply: Envelope, context: &str) -> SendAck {
    match reply.kind {
        Some(Kind::SendAck(ack)) => ack,
        _ => panic!("{context}: expected a send ack, got {reply:?}"),
    }
}

/// Asserts that `reply` is an error with `code` for `request_id`.
fn assert_error(reply: &Envelope, code: ErrorCode, request_id: u64) {
    let Some(Kind::Error(error)) = &reply.kind else {
        panic!("expected error {code:?}, got {reply:?}");
    };
    assert_eq!(
        error.code, code as i32,
        "wrong error code; reason: {}",
        error.reason
    );
    assert_eq!(
        reply.request_id, request_id,
        "error carries the wrong request id"
    );
    assert!(!error.reason.is_empty(), "error {code:?} has no reason");
}

/// Syncs a conversation from the start, page by page.
fn sync_all(client: &mut WsClient, conversation_id: u64) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    for _ in 0..1_000 {
        let after_seq = messages.last().map_or(0, |message| message.seq);
        let reply = client.request(Kind::Sync(SyncRequest {
            conversation_id,
            after_seq,
            limit: SYNC_PAGE,
        }));
        let Some(Kind::SyncResult(result)) = reply.kind else {
            panic!("expected a sync result, got {reply:?}");
        };
        messages.extend(result.messages);
        if !result.has_more {
            return messages;
        }
    }
    panic!("sync of conversation {conversation_id} did not end after 1000 pages");
}

/// Asserts that `messages` have seqs 1..=n in order and the expected contents.
fn assert_contents(messages: &[Message], expected: &[String], context: &str) {
    let seqs: Vec<u64> = messages.iter().map(|message| message.seq).collect();
    let expected_seqs: Vec<u64> = (1..=expected.len() as u64).collect();
    assert_eq!(
        seqs, expected_seqs,
        "{context}: seqs have a gap or an extra"
    );
    let contents: Vec<&str> = messages
        .iter()
        .map(|message| message.content.as_str())
        .collect();
    assert_eq!(contents, expected, "{context}: contents differ");
}

/// Checks that a session that got an error frame stays open: alice sends another message
/// and a sync returns both.
fn assert_session_open(fixture: &Fixture, client: &mut WsClient) {
    let reply = client.send_text(fixture.dm, "after", "after");
    let ack = expect_ack(reply, "send after the bad input");
    assert_eq!(ack.seq, 2, "send after the bad input got an unexpected seq");
    let messages = sync_all(client, fixture.dm);
    let expected = ["before".to_string(), "after".to_string()];
    assert_contents(&messages, &expected, "sync on the same session");
}

/// Connects alice and sends one message, which becomes seq 1 of her DM.
fn alice_with_one_message(fixture: &Fixture) -> WsClient {
    let mut client = fixture.server.connect(&fixture.alice_token);
    let reply = client.send_text(fixture.dm, "before", "before");
    let ack = expect_ack(reply, "send before the bad input");
    assert_eq!(ack.seq, 1, "first send got an unexpected seq");
    client
}

/// Sends a binary message of a good ping frame followed by `bad_frame`, and checks that the
/// server replies to the ping before it sends the error with `code` and request id 0.
fn assert_bad_frame_rejected(client: &mut WsClient, bad_frame: &[u8], code: ErrorCode) {
    let mut payload = BytesMut::new();
    encode_protocol_frame(&ping_envelope(41), &mut payload);
    payload.extend_from_slice(bad_frame);
    client.send_binary(payload.to_vec());

    let first = client
        .next_frame(REPLY_TIMEOUT)
        .expect("reply to the good frame before the bad one");
    assert!(
        matches!(first.kind, Some(Kind::Pong(_))),
        "the frame before the bad one was not served: {first:?}"
    );
    assert_eq!(first.request_id, 41, "pong carries the wrong request id");
    let second = client
        .next_frame(REPLY_TIMEOUT)
        .expect("error reply to the bad frame");
    assert_error(&second, code, 0);
}

#[test]
fn malformed_frame_rejected() {
    let fixture = Fixture::start();
    let mut alice = alice_with_one_message(&fixture);

    let mut bad = BytesMut::new();
    bad.put_u32(3);
    bad.put_slice(&[0xff, 0xff, 0xff]);
    assert_bad_frame_rejected(&mut alice, &bad, ErrorCode::MalformedFrame);

    assert_session_open(&fixture, &mut alice);
    fixture.assert_others_served();
}

#[test]
fn truncated_frame_rejected() {
    let fixture = Fixture::start();
    let mut alice = alice_with_one_message(&fixture);

    // The prefix announces 100 bytes, but the message ends after 10.
    let mut bad = BytesMut::new();
    bad.put_u32(100);
    bad.put_slice(&[0x08; 10]);
    assert_bad_frame_rejected(&mut alice, &bad, ErrorCode::MalformedFrame);

    // A message that ends inside the length prefix is truncated too.
    assert_bad_frame_rejected(&mut alice, &[0, 0], ErrorCode::MalformedFrame);

    assert_session_open(&fixture, &mut alice);
    fixture.assert_others_served();
}

#[test]
fn oversized_frame_rejected() {
    let fixture = Fixture::start();
    let mut alice = alice_with_one_message(&fixture);

    // A whole frame one byte over the limit, in a message under the message limit.
    let len = MAX_FRAME_BYTES + 1;
    let mut bad = BytesMut::new();
    bad.put_u32(len as u32);
    bad.put_bytes(0x08, len);
    assert!(
        bad.len() + 64 < MAX_MESSAGE_BYTES,
        "test message must stay under the message limit"
    );
    assert_bad_frame_rejected(&mut alice, &bad, ErrorCode::FrameTooLarge);

    // A prefix alone is rejected before its body arrives.
    let mut prefix_only = BytesMut::new();
    prefix_only.put_u32(u32::MAX);
    assert_bad_frame_rejected(&mut alice, &prefix_only, ErrorCode::FrameTooLarge);

    assert_session_open(&fixture, &mut alice);
    fixture.assert_others_served();
}

#[test]
fn oversized_message_closes_1009() {
    let fixture = Fixture::start();
    let mut alice = fixture.raw_alice();
    fixture.raw_alice_sends(&mut alice, "before");

    let payload = vec![0u8; MAX_MESSAGE_BYTES + 1];
    // The server may close before it reads the whole payload, so a failed write is expected.
    let _ = alice.send_masked(true, OpCode::Binary, &payload);
    let (_, end) = alice.read_until_end(CLOSE_TIMEOUT);
    assert!(
        matches!(end, ServerEvent::Close(1009, _)),
        "expected close 1009 for a message over {MAX_MESSAGE_BYTES} bytes, got {end:?}"
    );

    fixture.assert_alice_history(&["before"]);
    fixture.assert_others_served();
}

#[test]
fn fragmented_oversized_message_closes_1009() {
    let fixture = Fixture::start();
    let mut alice = fixture.raw_alice();
    fixture.raw_alice_sends(&mut alice, "before");

    // Each fragment is under the limit, but together they are over it.
    let fragment = vec![0u8; MAX_MESSAGE_BYTES / 2 + 1];
    alice
        .send_masked(false, OpCode::Binary, &fragment)
        .expect("send the first fragment");
    let _ = alice.send_masked(true, OpCode::Continuation, &fragment);
    let (_, end) = alice.read_until_end(CLOSE_TIMEOUT);
    assert!(
        matches!(end, ServerEvent::Close(1009, _)),
        "expected close 1009 for fragments totalling over {MAX_MESSAGE_BYTES} bytes, got {end:?}"
    );

    fixture.assert_alice_history(&["before"]);
    fixture.assert_others_served();
}

/// Sends `frame` on a raw session of alice and asserts that the server closes with `code`.
fn assert_frame_closes(fixture: &Fixture, frame: &[u8], code: u16) {
    let mut alice = fixture.raw_alice();
    fixture.raw_alice_sends(&mut alice, "before");

    alice.write(frame).expect("write the bad frame");
    let (_, end) = alice.read_until_end(CLOSE_TIMEOUT);
    let ServerEvent::Close(received, reason) = end else {
        panic!("expected close {code}, got {end:?}");
    };
    assert_eq!(received, code, "wrong close code; reason: {reason}");
    assert!(!reason.is_empty(), "close {code} has no reason");

    fixture.assert_alice_history(&["before"]);
}

fn ping_message_payload() -> Vec<u8> {
    let mut payload = BytesMut::new();
    encode_protocol_frame(&ping_envelope(1), &mut payload);
    payload.to_vec()
}

#[test]
fn unmasked_frame_closes_1002() {
    let fixture = Fixture::start();
    let mut frame = BytesMut::new();
    encode_frame(&mut frame, true, OpCode::Binary, &ping_message_payload());

    assert_frame_closes(&fixture, &frame, 1002);
    fixture.assert_others_served();
}

#[test]
fn reserved_bits_close_1002() {
    let fixture = Fixture::start();
    let mut frame = BytesMut::new();
    encode_masked_frame(
        &mut frame,
        true,
        OpCode::Binary,
        &ping_message_payload(),
        MASK,
    );
    // RSV1, which means a compressed message under permessage-deflate, never negotiated here.
    frame[0] |= 0x40;

    assert_frame_closes(&fixture, &frame, 1002);
    fixture.assert_others_served();
}

#[test]
fn unknown_opcode_closes_1002() {
    let fixture = Fixture::start();
    // FIN with opcode 0x3, a reserved non-control opcode, and an empty masked payload.
    let mut frame = BytesMut::new();
    frame.put_u8(0x80 | 0x3);
    frame.put_u8(0x80);
    frame.put_slice(&MASK);

    assert_frame_closes(&fixture, &frame, 1002);
    fixture.assert_others_served();
}

#[test]
fn invalid_utf8_text_closes_1007() {
    let fixture = Fixture::start();
    let mut frame = BytesMut::new();
    encode_masked_frame(
        &mut frame,
        true,
        OpCode::Text,
        &[b'h', b'i', 0xff, 0xfe],
        MASK,
    );

    assert_frame_closes(&fixture, &frame, 1007);
    fixture.assert_others_served();
}

#[test]
fn text_message_closes_1003() {
    let fixture = Fixture::start();
    let mut alice = alice_with_one_message(&fixture);

    alice.send_message_raw(tungstenite::Message::text("hello"));
    let (code, reason) = alice.expect_close(CLOSE_TIMEOUT);
    assert_eq!(
        code, 1003,
        "wrong close code for a text message; reason: {reason}"
    );

    fixture.assert_alice_history(&["before"]);
    fixture.assert_others_served();
}

#[test]
fn unknown_kind_rejected() {
    let fixture = Fixture::start();
    let mut alice = alice_with_one_message(&fixture);

    // Request id 7, then field 99 with varint 7: a kind from a newer schema.
    let body = [0x08, 7, 0x98, 0x06, 0x07];
    let mut payload = BytesMut::new();
    payload.put_u32(body.len() as u32);
    payload.put_slice(&body);
    alice.send_binary(payload.to_vec());
    let reply = alice.reply_to(7);
    assert_error(&reply, ErrorCode::UnknownKind, 7);

    // An envelope with a request id and no kind at all.
    alice.send_frames(&[Envelope {
        request_id: 8,
        kind: None,
    }]);
    let reply = alice.reply_to(8);
    assert_error(&reply, ErrorCode::UnknownKind, 8);

    assert_session_open(&fixture, &mut alice);
    fixture.assert_others_served();
}

#[test]
fn server_kind_rejected() {
    let fixture = Fixture::start();
    let mut alice = alice_with_one_message(&fixture);

    let server_kinds = [
        Kind::Pong(Pong::default()),
        Kind::SendAck(SendAck::default()),
        Kind::Message(Message::default()),
        Kind::GoAway(GoAway::default()),
    ];
    for (index, kind) in server_kinds.into_iter().enumerate() {
        let request_id = 100 + index as u64;
        let name = format!("{kind:?}");
        alice.send_frames(&[Envelope {
            request_id,
            kind: Some(kind),
        }]);
        let reply = alice.reply_to(request_id);
        let Some(Kind::Error(error)) = &reply.kind else {
            panic!("client-sent {name} got {reply:?} instead of an error");
        };
        assert_eq!(
            error.code,
            ErrorCode::NotARequest as i32,
            "client-sent {name} got the wrong error code; reason: {}",
            error.reason
        );
    }

    assert_session_open(&fixture, &mut alice);
    fixture.assert_others_served();
}

#[test]
fn missing_token_then_request() {
    let fixture = Fixture::start();
    let connected_at = Instant::now();
    let mut client = WsClient::connect(fixture.server.ws_addr, None);

    let reply = client.request(send_kind(fixture.dm, "unauthenticated"));
    let Some(Kind::Error(error)) = &reply.kind else {
        panic!("unauthenticated send got {reply:?} instead of an error");
    };
    assert_eq!(
        error.code,
        ErrorCode::Unauthenticated as i32,
        "unauthenticated send got the wrong error code; reason: {}",
        error.reason
    );

    let reply = client.request(Kind::Ping(Ping { client_time_ms: 5 }));
    assert!(
        matches!(reply.kind, Some(Kind::Pong(_))),
        "ping before authentication was not answered: {reply:?}"
    );

    let reply = client.request(Kind::Authenticate(Authenticate {
        token: fixture.alice_token.clone(),
    }));
    let Some(Kind::AuthOk(ok)) = reply.kind else {
        panic!("authenticate with a valid token got {reply:?}");
    };
    assert_eq!(ok.user_id, fixture.alice, "AuthOk names the wrong user");

    // Once authenticated, the session outlives the authentication deadline.
    let past_deadline = AUTH_TIMEOUT + Duration::from_millis(300);
    std::thread::sleep(past_deadline.saturating_sub(connected_at.elapsed()));
    let reply = client.send_text(fixture.dm, "authenticated", "authenticated");
    let ack = expect_ack(reply, "send after authenticating");
    assert_eq!(
        ack.seq, 1,
        "the rejected send must not have been stored, so this one is seq 1"
    );

    fixture.assert_alice_history(&["authenticated"]);
    fixture.assert_others_served();
}

#[test]
fn auth_timeout_closes_1008() {
    let fixture = Fixture::start();
    let connected_at = Instant::now();
    let mut client = WsClient::connect(fixture.server.ws_addr, None);

    let (code, reason) = client.expect_close(CLOSE_TIMEOUT);
    let elapsed = connected_at.elapsed();
    assert_eq!(code, 1008, "wrong close code; reason: {reason}");
    assert!(
        elapsed >= AUTH_TIMEOUT - Duration::from_millis(100),
        "closed after {elapsed:?}, before the {AUTH_TIMEOUT:?} authentication timeout"
    );
    assert!(
        elapsed < AUTH_TIMEOUT + Duration::from_secs(2),
        "closed after {elapsed:?}, long after the {AUTH_TIMEOUT:?} authentication timeout"
    );

    fixture.assert_others_served();
}

#[test]
fn bad_authenticate_closes_1008() {
    let fixture = Fixture::start();
    let expired = mint_token(fixture.alice, unix_now() - 3600);
    let cases = [("garbage", "not-a-token".to_string()), ("expired", expired)];

    for (name, token) in cases {
        let mut client = WsClient::connect(fixture.server.ws_addr, None);
        let reply = client.request(Kind::Authenticate(Authenticate { token }));
        let Some(Kind::Error(error)) = &reply.kind else {
            panic!("authenticate with a {name} token got {reply:?} instead of an error");
        };
        assert_eq!(
            error.code,
            ErrorCode::Unauthenticated as i32,
            "authenticate with a {name} token got the wrong error code; reason: {}",
            error.reason
        );
        let (code, reason) = client.expect_close(CLOSE_TIMEOUT);
        assert_eq!(
            code, 1008,
            "wrong close code after a {name} token; reason: {reason}"
        );
    }

    fixture.assert_others_served();
}

/// Sends `request` on a new connection and returns the server's HTTP response, after
/// checking that the server closes the connection.
fn rejected_upgrade(server: &TestServer, request: &str) -> common::raw::HttpResponse {
    let mut client = RawClient::connect(server.ws_addr);
    client
        .write(request.as_bytes())
        .expect("write the upgrade request");
    let response = client.read_http_response(REPLY_TIMEOUT);
    assert!(
        client.wait_for_eof(CLOSE_TIMEOUT),
        "server kept the connection open after answering {}",
        response.status
    );
    response
}

#[test]
fn invalid_header_token_401() {
    let fixture = Fixture::start();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({
            "sub": fixture.alice.to_string(),
            "name": "alice",
            "iat": unix_now(),
            "exp": unix_now() + 3600,
        }),
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-of-at-least-thirty-two-bytes"),
    )
    .expect("sign the forged token");
    let cases = [("garbage", "not-a-token".to_string()), ("forged", forged)];

    for (name, token) in cases {
        let authorization = format!("Bearer {token}");
        let request = upgrade_request("/ws", "13", &[("Authorization", &authorization)]);
        let response = rejected_upgrade(&fixture.server, &request);
        assert_eq!(
            response.status, 401,
            "{name} token: wrong status; body: {}",
            response.body
        );
        assert!(
            response.body.contains("invalid token"),
            "{name} token: body does not say the token is invalid: {}",
            response.body
        );
        assert!(
            response.header("WWW-Authenticate").is_some(),
            "{name} token: 401 without WWW-Authenticate"
        );
    }

    fixture.assert_others_served();
}

#[test]
fn expired_token_401() {
    let fixture = Fixture::start();
    let expired = mint_token(fixture.alice, unix_now() - 3600);
    let authorization = format!("Bearer {expired}");
    let subprotocols = format!("switchboard.v1, bearer.{expired}");
    let cases = [
        (
            "header",
            upgrade_request("/ws", "13", &[("Authorization", &authorization)]),
        ),
        (
            "query",
            upgrade_request(&format!("/ws?token={expired}"), "13", &[]),
        ),
        (
            "subprotocol",
            upgrade_request("/ws", "13", &[("Sec-WebSocket-Protocol", &subprotocols)]),
        ),
    ];

    for (form, request) in cases {
        let response = rejected_upgrade(&fixture.server, &request);
        assert_eq!(
            response.status, 401,
            "expired token in the {form}: wrong status; body: {}",
            response.body
        );
        assert!(
            response.body.contains("expired"),
            "expired token in the {form}: body does not say expired: {}",
            response.body
        );
    }

    fixture.assert_others_served();
}

/// Upgrades with `request`, then checks AuthOk for alice and that the session can send.
fn assert_token_accepted(fixture: &Fixture, request: &str) -> common::raw::HttpResponse {
    let (mut client, response) = RawClient::upgrade(fixture.server.ws_addr, request);
    let event = client.next_event(REPLY_TIMEOUT);
    let ServerEvent::Frames(frames) = event else {
        panic!("expected AuthOk after the upgrade, got {event:?}");
    };
    let Some(Kind::AuthOk(ok)) = &frames[0].kind else {
        panic!("first frame after the upgrade is not AuthOk: {frames:?}");
    };
    assert_eq!(ok.user_id, fixture.alice, "AuthOk names the wrong user");

    let reply = client.request(send_kind(fixture.dm, "hello"));
    let ack = expect_ack(reply, "send on a session authenticated at the upgrade");
    assert_eq!(ack.seq, 1, "first send got an unexpected seq");
    response
}

#[test]
fn query_token_accepted() {
    let fixture = Fixture::start();
    let request = upgrade_request(&format!("/ws?token={}", fixture.alice_token), "13", &[]);

    assert_token_accepted(&fixture, &request);
    fixture.assert_alice_history(&["hello"]);
    fixture.assert_others_served();
}

#[test]
fn subprotocol_token_accepted() {
    let fixture = Fixture::start();
    let subprotocols = format!("switchboard.v1, bearer.{}", fixture.alice_token);
    let request = upgrade_request("/ws", "13", &[("Sec-WebSocket-Protocol", &subprotocols)]);

    let response = assert_token_accepted(&fixture, &request);
    assert_eq!(
        response.header("Sec-WebSocket-Protocol"),
        Some("switchboard.v1"),
        "server must select the version subprotocol and never the token"
    );
    fixture.assert_alice_history(&["hello"]);
    fixture.assert_others_served();
}

#[test]
fn wrong_path_404() {
    let fixture = Fixture::start();
    let authorization = format!("Bearer {}", fixture.alice_token);
    let request = upgrade_request("/chat", "13", &[("Authorization", &authorization)]);

    let response = rejected_upgrade(&fixture.server, &request);
    assert_eq!(
        response.status, 404,
        "wrong status; body: {}",
        response.body
    );
    assert!(
        response.body.contains("/ws"),
        "404 body does not name the WebSocket path: {}",
        response.body
    );

    fixture.assert_others_served();
}

#[test]
fn bad_version_426() {
    let fixture = Fixture::start();
    let request = upgrade_request("/ws", "8", &[]);

    let response = rejected_upgrade(&fixture.server, &request);
    assert_eq!(
        response.status, 426,
        "wrong status; body: {}",
        response.body
    );
    assert_eq!(
        response.header("Sec-WebSocket-Version"),
        Some("13"),
        "426 must name the supported version"
    );

    fixture.assert_others_served();
}

#[test]
fn unsupported_subprotocol_400() {
    let fixture = Fixture::start();
    let request = upgrade_request("/ws", "13", &[("Sec-WebSocket-Protocol", "switchboard.v9")]);

    let response = rejected_upgrade(&fixture.server, &request);
    assert_eq!(
        response.status, 400,
        "wrong status; body: {}",
        response.body
    );
    assert!(
        response.body.contains("switchboard.v9"),
        "400 body does not name the offered version: {}",
        response.body
    );

    fixture.assert_others_served();
}

/// Asserts that the server responds with 408 and closes within a margin of the handshake timeout
/// counted from `connected_at`.
fn assert_handshake_timed_out(client: &mut RawClient, connected_at: Instant) {
    let response = client.read_http_response(HANDSHAKE_TIMEOUT + CLOSE_TIMEOUT);
    let elapsed = connected_at.elapsed();
    assert_eq!(
        response.status, 408,
        "wrong status; body: {}",
        response.body
    );
    assert!(
        elapsed >= HANDSHAKE_TIMEOUT - Duration::from_millis(100),
        "408 after {elapsed:?}, before the {HANDSHAKE_TIMEOUT:?} handshake timeout"
    );
    assert!(
        elapsed < HANDSHAKE_TIMEOUT + Duration::from_secs(2),
        "408 after {elapsed:?}, long after the {HANDSHAKE_TIMEOUT:?} handshake timeout"
    );
    assert!(
        client.wait_for_eof(CLOSE_TIMEOUT),
        "server kept the connection open after the 408"
    );
}

#[test]
fn silent_handshake_times_out() {
    let fixture = Fixture::start();
    let connected_at = Instant::now();
    let mut client = RawClient::connect(fixture.server.ws_addr);

    assert_handshake_timed_out(&mut client, connected_at);
    fixture.assert_others_served();
}

#[test]
fn slow_handshake_times_out() {
    let fixture = Fixture::start();
    let request = upgrade_request("/ws", "13", &[]);
    let connected_at = Instant::now();
    let mut client = RawClient::connect(fixture.server.ws_addr);

    // One byte every 50 ms: the whole head would take several handshake timeouts. The last
    // byte is never sent, so the request stays incomplete. The loop stops early once the
    // server closes the connection.
    let drip_until = connected_at + HANDSHAKE_TIMEOUT + CLOSE_TIMEOUT;
    let bytes = request.as_bytes();
    for byte in &bytes[..bytes.len() - 1] {
        if Instant::now() > drip_until || client.write(std::slice::from_ref(byte)).is_err() {
            break;
        }
        if connected_at.elapsed() > HANDSHAKE_TIMEOUT + Duration::from_millis(200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    assert_handshake_timed_out(&mut client, connected_at);
    fixture.assert_others_served();
}

/// Content size of one flood message.
const FLOOD_CONTENT_BYTES: usize = 4 * 1024;

/// Flood messages sent to the client that never reads. 1,500 messages of 4 KiB are about
/// 6 MiB. That is an estimated 7 times what the 64 KiB send queue and the loopback socket
/// buffers absorb for a receiver with a 4 KiB SO_RCVBUF: on Linux the victim read at most
/// about 210 messages before the drop.
const FLOOD_MESSAGES: usize = 1_500;

/// Sends in flight at once, well under the sender's own 64-message send queue.
const FLOOD_WINDOW: usize = 16;

#[test]
fn slow_consumer_dropped() {
    let fixture = Fixture::start();
    let server = &fixture.server;
    let (sender_id, sender_token) = server.user("sender");
    let (victim_id, victim_token) = server.user("victim");
    let conversation = server.conversation(&sender_token, "dm", &[victim_id]);
    let mut sender = server.connect(&sender_token);

    let authorization = format!("Bearer {victim_token}");
    let request = upgrade_request("/ws", "13", &[("Authorization", &authorization)]);
    let mut victim = RawClient::connect_with_receive_buffer(server.ws_addr, 4096);
    victim
        .write(request.as_bytes())
        .expect("write the victim's upgrade request");
    let response = victim.read_http_response(REPLY_TIMEOUT);
    assert_eq!(response.status, 101, "victim upgrade: {}", response.body);
    let event = victim.next_event(REPLY_TIMEOUT);
    assert!(
        matches!(&event, ServerEvent::Frames(frames) if matches!(frames[0].kind, Some(Kind::AuthOk(_)))),
        "victim expected AuthOk, got {event:?}"
    );

    // The victim reads nothing while the sender floods it.
    let content = "x".repeat(FLOOD_CONTENT_BYTES);
    let flood_deadline = Instant::now() + Duration::from_secs(40);
    let mut next_request_id = 1_000u64;
    let mut acked = 0usize;
    while acked < FLOOD_MESSAGES {
        assert!(
            Instant::now() < flood_deadline,
            "flood too slow: {acked} of {FLOOD_MESSAGES} acked in 40 s"
        );
        let window = FLOOD_WINDOW.min(FLOOD_MESSAGES - acked);
        let first_request_id = next_request_id;
        let envelopes: Vec<Envelope> = (0..window as u64)
            .map(|offset| Envelope {
                request_id: first_request_id + offset,
                kind: Some(Kind::SendMessage(SendMessage {
                    conversation_id: conversation,
                    client_message_id: format!("flood-{}", first_request_id + offset),
                    content: content.clone(),
                    r#type: 0,
                })),
            })
            .collect();
        sender.send_frames(&envelopes);
        next_request_id += window as u64;

        for offset in 0..window as u64 {
            let reply = sender.reply_to(first_request_id + offset);
            let ack = expect_ack(reply, "flood send");
            acked += 1;
            assert_eq!(ack.seq, acked as u64, "flood acks out of seq order");
        }
    }

    // Now the victim reads: what the kernel had buffered, then the end of the connection,
    // with close 4001 if the server could still write it.
    let (frames_read, end) = victim.read_until_end(Duration::from_secs(10));
    assert!(
        matches!(
            end,
            ServerEvent::Close(4001, _) | ServerEvent::Eof | ServerEvent::Reset
        ),
        "victim expected close 4001 or the end of the connection after {frames_read} messages, got {end:?}"
    );
    assert!(
        frames_read < FLOOD_MESSAGES,
        "victim read all {frames_read} messages, so it was never dropped"
    );

    // A new session of the victim syncs every acked message without a gap.
    let mut resynced = server.connect(&victim_token);
    let messages = sync_all(&mut resynced, conversation);
    let seqs: Vec<u64> = messages.iter().map(|message| message.seq).collect();
    let expected_seqs: Vec<u64> = (1..=FLOOD_MESSAGES as u64).collect();
    assert!(
        seqs == expected_seqs,
        "victim's sync returned {} messages, not seqs 1..={FLOOD_MESSAGES} without a gap",
        seqs.len()
    );
    assert!(
        messages
            .iter()
            .all(|message| message.sender_id == sender_id),
        "victim's sync returned a message from someone other than the sender"
    );
    assert!(
        messages.iter().all(|message| message.content == content),
        "victim's sync returned altered content"
    );

    // The sender was never dropped: it can still send.
    let reply = sender.send_text(conversation, "after-flood", "after flood");
    let ack = expect_ack(reply, "sender after the flood");
    assert_eq!(
        ack.seq,
        FLOOD_MESSAGES as u64 + 1,
        "send after the flood got an unexpected seq"
    );

    fixture.assert_others_served();
}
