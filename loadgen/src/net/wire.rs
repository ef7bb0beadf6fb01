//! Client frames: every frame a client sends is masked (RFC 6455 section 5.3), with a
//! fresh random mask per frame.

use bytes::{Bytes, BytesMut};
use switchboard_gateway::ws::{encode_masked_frame, OpCode};
use switchboard_protocol::encode_frame;
use switchboard_protocol::pb::Envelope;

/// Encodes `payload` as one masked binary message.
pub fn binary(payload: &[u8]) -> Bytes {
    masked(OpCode::Binary, payload)
}

/// Encodes envelopes as the length-prefixed frames of one masked binary message.
pub fn envelopes(envelopes: &[Envelope]) -> Bytes {
    let mut payload = BytesMut::new();
    for envelope in envelopes {
        encode_frame(envelope, &mut payload);
    }
    binary(&payload)
}

/// Encodes a masked pong echoing a ping's payload.
pub fn pong(payload: &[u8]) -> Bytes {
    masked(OpCode::Pong, payload)
}

/// Encodes a masked close frame with `code` and a short `reason`.
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    masked(OpCode::Close, &payload)
}

fn masked(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 14);
    encode_masked_frame(&mut out, true, opcode, payload, rand::random());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_gateway::ws::{MessageDecoder, Role, WsEvent};
    use switchboard_protocol::decode_frames;
    use switchboard_protocol::pb::{envelope::Kind, Ping};

    fn decode_as_server(wire: Bytes) -> WsEvent {
        let mut buf = BytesMut::from(&wire[..]);
        let mut decoder = MessageDecoder::new(Role::Server, 1 << 20);
        let event = decoder
            .decode(&mut buf)
            .unwrap()
            .expect("one complete frame");
        assert!(buf.is_empty());
        event
    }

    #[test]
    fn envelopes_decode_at_server() {
        let ping = Envelope {
            request_id: 7,
            kind: Some(Kind::Ping(Ping { client_time_ms: 5 })),
        };
        let WsEvent::Binary(payload) = decode_as_server(envelopes(&[ping.clone(), ping.clone()]))
        else {
            panic!("expected a binary message");
        };
        let frames: Vec<Envelope> = decode_frames(&payload).unwrap();
        assert_eq!(frames, vec![ping.clone(), ping]);
    }

    #[test]
    fn close_carries_code_and_reason() {
        let event = decode_as_server(close(1000, "done"));
        assert_eq!(event, WsEvent::Close(Some((1000, "done".to_string()))));
    }

    #[test]
    fn pong_echoes_payload() {
        assert_eq!(decode_as_server(pong(b"abc")), WsEvent::Pong("abc".into()));
    }
}
