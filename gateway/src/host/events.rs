//! Handling of the WebSocket events that a session's reader decodes. This file does no IO.
//! The reader loop in `read.rs` fills the buffer and acts on the returned [`Ending`].

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use switchboard_protocol::CloseCode;
use tracing::debug;

use crate::ws::{self, MessageDecoder, WsEvent};

/// Reason a reader loop ended.
pub(crate) enum Ending {
    /// The server closes the session with this code and reason.
    Close(CloseCode, String),
    /// The peer sent a close frame, with its code and reason if any.
    PeerClosed(Option<(u16, String)>),
    /// The connection failed or the peer closed TCP without a close frame.
    Disconnected,
    /// The shard ended the session (slow consumer or drain) and queued its close frame.
    Ended,
}

/// Whether the reader goes on after a message.
pub(crate) enum Flow {
    Continue,
    End(Ending),
}

impl Flow {
    /// Converts the result of a push: the session goes on while its queue takes messages.
    pub(crate) fn after_push(queued: bool) -> Flow {
        if queued {
            Flow::Continue
        } else {
            Flow::End(Ending::Ended)
        }
    }
}

/// Limit on how long a session's next read may wait.
pub(crate) enum ReadLimit {
    /// The read waits until data arrives or the session is stopped.
    Unlimited,
    /// The read waits this long at most, and the session then ends with the given ending.
    Within(Duration, Ending),
    /// A deadline has already passed, so the session ends with the given ending now.
    Expired(Ending),
}

/// Handler of one session's decoded messages, the part of the reader loop that differs
/// between servers.
pub(crate) trait MessageHandler {
    /// Close reason sent with 1003 when the peer sends a text message.
    const TEXT_REJECTION: &'static str;

    /// Returns the id of the session, for logs.
    fn session_id(&self) -> u64;

    /// Handles one binary message.
    fn handle_binary(&mut self, payload: &[u8]) -> Flow;

    /// Queues one encoded WebSocket message for this session.
    fn send(&self, message: Bytes) -> Flow;
}

/// Decodes and handles every complete message in `buf`. Returns how the session ends, if it
/// does.
pub(crate) fn decode_buffered<H: MessageHandler>(
    handler: &mut H,
    decoder: &mut MessageDecoder,
    buf: &mut BytesMut,
) -> Option<Ending> {
    loop {
        let event = match decoder.decode(buf) {
            Ok(Some(event)) => event,
            Ok(None) => return None,
            Err(error) => {
                debug!(session_id = handler.session_id(), %error, "WebSocket protocol error");
                return Some(Ending::Close(error.close_code(), error.to_string()));
            }
        };

        let flow = match event {
            WsEvent::Binary(payload) => handler.handle_binary(&payload),
            WsEvent::Text(_) => Flow::End(Ending::Close(
                CloseCode::UnsupportedData,
                H::TEXT_REJECTION.to_string(),
            )),
            WsEvent::Ping(payload) => handler.send(ws::encode_pong(&payload)),
            WsEvent::Pong(_) => Flow::Continue,
            WsEvent::Close(received) => Flow::End(Ending::PeerClosed(received)),
        };
        if let Flow::End(ending) = flow {
            return Some(ending);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::ws::{encode_frame, encode_masked_frame, OpCode, Role};

    const MASK: [u8; 4] = [1, 2, 3, 4];

    /// Handler that records what it receives and ends the session after the binary message
    /// `end_after`.
    #[derive(Default)]
    struct Recorder {
        binaries: Vec<Vec<u8>>,
        sent: RefCell<Vec<Bytes>>,
        end_after: Option<&'static [u8]>,
    }

    impl MessageHandler for Recorder {
        const TEXT_REJECTION: &'static str = "binary messages only";

        fn session_id(&self) -> u64 {
            7
        }

        fn handle_binary(&mut self, payload: &[u8]) -> Flow {
            self.binaries.push(payload.to_vec());
            if self.end_after == Some(payload) {
                Flow::End(Ending::Ended)
            } else {
                Flow::Continue
            }
        }

        fn send(&self, message: Bytes) -> Flow {
            self.sent.borrow_mut().push(message);
            Flow::Continue
        }
    }

    fn client_frame(buf: &mut BytesMut, opcode: OpCode, payload: &[u8]) {
        encode_masked_frame(buf, true, opcode, payload, MASK);
    }

    fn decode(handler: &mut Recorder, buf: &mut BytesMut) -> Option<Ending> {
        let mut decoder = MessageDecoder::new(Role::Server, 1024);
        decode_buffered(handler, &mut decoder, buf)
    }

    #[test]
    fn binaries_and_pings_handled_in_order() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, OpCode::Binary, b"a");
        client_frame(&mut buf, OpCode::Ping, b"p");
        client_frame(&mut buf, OpCode::Binary, b"b");
        let mut handler = Recorder::default();

        assert!(decode(&mut handler, &mut buf).is_none());
        assert_eq!(handler.binaries, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(*handler.sent.borrow(), vec![ws::encode_pong(b"p")]);
        assert!(buf.is_empty());
    }

    #[test]
    fn partial_frame_stays_buffered() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, OpCode::Binary, b"abc");
        let whole = buf.len();
        let mut partial = buf.split_to(whole - 1);
        let mut handler = Recorder::default();

        assert!(decode(&mut handler, &mut partial).is_none());
        assert!(handler.binaries.is_empty());
    }

    #[test]
    fn handler_end_stops_decoding() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, OpCode::Binary, b"last");
        client_frame(&mut buf, OpCode::Binary, b"unread");
        let mut handler = Recorder {
            end_after: Some(b"last"),
            ..Recorder::default()
        };

        let ending = decode(&mut handler, &mut buf);
        assert!(matches!(ending, Some(Ending::Ended)));
        assert_eq!(handler.binaries, vec![b"last".to_vec()]);
        assert!(!buf.is_empty(), "the second message must stay undecoded");
    }

    #[test]
    fn text_message_closes_with_1003() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, OpCode::Text, b"hello");
        let mut handler = Recorder::default();

        let Some(Ending::Close(code, reason)) = decode(&mut handler, &mut buf) else {
            panic!("a text message must close the session");
        };
        assert_eq!(code, CloseCode::UnsupportedData);
        assert_eq!(reason, Recorder::TEXT_REJECTION);
    }

    #[test]
    fn peer_close_ends_with_its_code() {
        let mut buf = BytesMut::new();
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        client_frame(&mut buf, OpCode::Close, &payload);
        let mut handler = Recorder::default();

        let ending = decode(&mut handler, &mut buf);
        let Some(Ending::PeerClosed(Some((code, reason)))) = ending else {
            panic!("a close frame must end the session as closed by the peer");
        };
        assert_eq!(code, 1000);
        assert_eq!(reason, "bye");
    }

    #[test]
    fn unmasked_frame_closes_with_protocol_error() {
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, true, OpCode::Binary, b"a");
        let mut handler = Recorder::default();

        let Some(Ending::Close(code, _)) = decode(&mut handler, &mut buf) else {
            panic!("an unmasked client frame must close the session");
        };
        assert_eq!(code, CloseCode::ProtocolError);
        assert!(handler.binaries.is_empty());
    }
}
