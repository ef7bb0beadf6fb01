//! Interoperability of the `ws` codec with the independent `tungstenite` 0.26 implementation.
//!
//! Both sides run in one thread over an in-memory stream, so no socket is opened: tungstenite
//! writes into a buffer that the codec decodes, and reads what the codec encodes.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use bytes::{Bytes, BytesMut};
use switchboard_gateway::ws::{
    close_reply, encode_binary, encode_close, encode_frame, encode_masked_frame, encode_ping,
    encode_text, parse_upgrade_request, switching_protocols_response, MessageDecoder, OpCode, Role,
    WsEvent,
};
use tungstenite::client::ClientRequestBuilder;
use tungstenite::handshake::client::Response;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode as TungOpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::{self, CloseFrame, WebSocket};
use tungstenite::Message;

const MAX_MESSAGE_SIZE: usize = 1 << 20;

/// One end of an in-memory connection: tungstenite reads `incoming` and writes `outgoing`.
#[derive(Debug, Default)]
struct MemoryStream {
    incoming: VecDeque<u8>,
    outgoing: Vec<u8>,
}

impl MemoryStream {
    fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }
}

impl Read for MemoryStream {
    /// Reports `WouldBlock` when empty, like a non-blocking socket with no data yet.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.incoming.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.incoming.read(buf)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs tungstenite's client handshake against the codec's parser and response builder.
fn handshake(request: ClientRequestBuilder) -> (WebSocket<MemoryStream>, Response) {
    let mut mid = match tungstenite::client::client(request, MemoryStream::default()) {
        Err(HandshakeError::Interrupted(mid)) => mid,
        Err(HandshakeError::Failure(error)) => panic!("client handshake failed: {error}"),
        Ok(_) => panic!("handshake finished before the server sent a response"),
    };
    let stream = mid.get_mut().get_mut();
    let request_bytes = stream.take_outgoing();
    let request = parse_upgrade_request(&request_bytes)
        .expect("tungstenite request is valid")
        .expect("tungstenite request is complete");
    assert_eq!(request.bytes_consumed, request_bytes.len());

    let subprotocol = request.subprotocols.first().map(String::as_str);
    let response = switching_protocols_response(&request.key, subprotocol);
    stream.incoming.extend(response);
    let (socket, response) = mid
        .handshake()
        .expect("tungstenite accepts the 101 response");
    assert_eq!(response.status(), 101);
    (socket, response)
}

fn connected_client() -> WebSocket<MemoryStream> {
    let request = ClientRequestBuilder::new("ws://localhost/ws".parse().unwrap());
    handshake(request).0
}

/// Decodes everything tungstenite wrote, feeding it in `chunk_len`-byte reads.
fn decode_outgoing(socket: &mut WebSocket<MemoryStream>, chunk_len: usize) -> Vec<WsEvent> {
    let wire = socket.get_mut().take_outgoing();
    let mut decoder = MessageDecoder::new(Role::Server, MAX_MESSAGE_SIZE);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for chunk in wire.chunks(chunk_len) {
        buf.extend_from_slice(chunk);
        while let Some(event) = decoder
            .decode(&mut buf)
            .expect("tungstenite frames are valid")
        {
            events.push(event);
        }
    }
    assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    events
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn handshake_fields_reach_parser() {
    let request = ClientRequestBuilder::new("ws://chat.test/ws?token=a%20b".parse().unwrap())
        .with_header("Authorization", "Bearer t0k")
        .with_sub_protocol("sb.v1")
        .with_sub_protocol("sb.v2");
    let mut mid = match tungstenite::client::client(request, MemoryStream::default()) {
        Err(HandshakeError::Interrupted(mid)) => mid,
        _ => panic!("handshake must wait for the server response"),
    };
    let request_bytes = mid.get_mut().get_mut().take_outgoing();
    let parsed = parse_upgrade_request(&request_bytes).unwrap().unwrap();
    assert_eq!(parsed.path, "/ws");
    assert_eq!(parsed.query_param("token").as_deref(), Some("a b"));
    assert_eq!(parsed.authorization.as_deref(), Some("Bearer t0k"));
    assert_eq!(parsed.subprotocols, ["sb.v1", "sb.v2"]);
    assert_eq!(parsed.host.as_deref(), Some("chat.test"));
}

#[test]
fn handshake_with_subprotocol_accepted() {
    let request =
        ClientRequestBuilder::new("ws://localhost/ws".parse().unwrap()).with_sub_protocol("sb.v1");
    let (socket, response) = handshake(request);
    assert!(socket.can_write());
    let protocol = response.headers().get("Sec-WebSocket-Protocol");
    assert_eq!(protocol.map(|value| value.as_bytes()), Some(&b"sb.v1"[..]));
}

#[test]
fn client_messages_decode() {
    let mut socket = connected_client();
    let text = "héllo ✓";
    let large = payload(100_000);
    socket.send(Message::binary(payload(5))).unwrap();
    socket.send(Message::text(text)).unwrap();
    socket.send(Message::binary(payload(300))).unwrap();
    socket.send(Message::binary(large.clone())).unwrap();
    socket
        .send(Message::Ping(Bytes::from_static(b"p1")))
        .unwrap();
    socket.send(Message::Pong(Bytes::new())).unwrap();
    socket.flush().unwrap();

    let expected = vec![
        WsEvent::Binary(payload(5).into()),
        WsEvent::Text(text.into()),
        WsEvent::Binary(payload(300).into()),
        WsEvent::Binary(large.into()),
        WsEvent::Ping(Bytes::from_static(b"p1")),
        WsEvent::Pong(Bytes::new()),
    ];
    assert_eq!(decode_outgoing(&mut socket, usize::MAX), expected);
}

#[test]
fn client_bytes_decode_in_small_reads() {
    let mut socket = connected_client();
    socket.send(Message::binary(payload(70_000))).unwrap();
    socket.send(Message::text("split")).unwrap();
    let expected = vec![
        WsEvent::Binary(payload(70_000).into()),
        WsEvent::Text("split".into()),
    ];
    assert_eq!(decode_outgoing(&mut socket, 7), expected);
}

#[test]
fn client_fragments_reassemble() {
    let mut socket = connected_client();
    let fragments = [
        Frame::message("frag", TungOpCode::Data(Data::Text), false),
        Frame::message("mént", TungOpCode::Data(Data::Continue), false),
        Frame::ping(Bytes::from_static(b"between")),
        Frame::message("ed", TungOpCode::Data(Data::Continue), true),
    ];
    for frame in fragments {
        socket.write(Message::Frame(frame)).unwrap();
    }
    socket.flush().unwrap();

    let expected = vec![
        WsEvent::Ping(Bytes::from_static(b"between")),
        WsEvent::Text("fragménted".into()),
    ];
    assert_eq!(decode_outgoing(&mut socket, usize::MAX), expected);
}

#[test]
fn client_close_decodes() {
    let mut socket = connected_client();
    let close = CloseFrame {
        code: CloseCode::Away,
        reason: "tab closed".into(),
    };
    socket.close(Some(close)).unwrap();
    let expected = vec![WsEvent::Close(Some((1001, "tab closed".to_owned())))];
    assert_eq!(decode_outgoing(&mut socket, usize::MAX), expected);

    // tungstenite accepts the echoed close as the end of the closing handshake.
    let reply = close_reply(Some(&(1001, String::new())));
    socket.get_mut().incoming.extend(reply);
    let received = socket.read().unwrap();
    assert_eq!(
        received,
        Message::Close(Some(CloseFrame {
            code: CloseCode::Away,
            reason: "".into(),
        }))
    );
}

#[test]
fn server_frames_read_by_client() {
    let mut socket = connected_client();
    let large = payload(80_000);
    let incoming = &mut socket.get_mut().incoming;
    incoming.extend(encode_binary(&payload(3)));
    incoming.extend(encode_text("server ✓"));
    incoming.extend(encode_binary(&large));

    let mut fragmented = BytesMut::new();
    encode_frame(&mut fragmented, false, OpCode::Binary, b"ab");
    encode_frame(&mut fragmented, true, OpCode::Continuation, b"cd");
    incoming.extend(fragmented);

    assert_eq!(socket.read().unwrap(), Message::binary(payload(3)));
    assert_eq!(socket.read().unwrap(), Message::text("server ✓"));
    assert_eq!(socket.read().unwrap(), Message::binary(large));
    assert_eq!(socket.read().unwrap(), Message::binary(&b"abcd"[..]));
}

#[test]
fn server_ping_gets_pong() {
    let mut socket = connected_client();
    socket
        .get_mut()
        .incoming
        .extend(encode_ping(b"are you there"));
    let received = socket.read().unwrap();
    assert_eq!(
        received,
        Message::Ping(Bytes::from_static(b"are you there"))
    );
    socket.flush().unwrap();

    let expected = vec![WsEvent::Pong(Bytes::from_static(b"are you there"))];
    assert_eq!(decode_outgoing(&mut socket, usize::MAX), expected);
}

#[test]
fn server_close_is_echoed() {
    let mut socket = connected_client();
    socket
        .get_mut()
        .incoming
        .extend(encode_close(4001, "slow consumer"));
    let received = socket.read().unwrap();
    let expected_close = CloseFrame {
        code: CloseCode::from(4001),
        reason: "slow consumer".into(),
    };
    assert_eq!(received, Message::Close(Some(expected_close)));

    // Flushing sends tungstenite's reply, which echoes the code and reason.
    socket.flush().unwrap();
    let expected = vec![WsEvent::Close(Some((4001, "slow consumer".to_owned())))];
    assert_eq!(decode_outgoing(&mut socket, usize::MAX), expected);
}

#[test]
fn masked_frames_read_by_tungstenite_server() {
    let mut stream = MemoryStream::default();
    let mut wire = BytesMut::new();
    encode_masked_frame(&mut wire, true, OpCode::Binary, &payload(200), [9, 8, 7, 6]);
    encode_masked_frame(&mut wire, false, OpCode::Text, "a".as_bytes(), [1, 2, 3, 4]);
    encode_masked_frame(&mut wire, true, OpCode::Continuation, b"b", [5, 6, 7, 8]);
    stream.incoming.extend(wire);

    let mut server = WebSocket::from_raw_socket(stream, protocol::Role::Server, None);
    assert_eq!(server.read().unwrap(), Message::binary(payload(200)));
    assert_eq!(server.read().unwrap(), Message::text("ab"));
}
