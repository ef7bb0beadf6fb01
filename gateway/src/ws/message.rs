//! Message layer of RFC 6455: reassembles fragmented messages, validates text as UTF-8 and
//! close frames per section 7.4, and encodes the control frames a server sends.
//!
//! [`MessageDecoder`] stores the per-connection state: the fragmented message in progress and
//! whether a close frame arrived. Control frames may arrive between the fragments of a message
//! and come out as their own events.

use bytes::{Buf, Bytes, BytesMut};
use switchboard_protocol::CloseCode;

use super::frame::{
    encode_unfragmented, parse_frame_header, FrameHeader, OpCode, Role, MAX_CONTROL_PAYLOAD_LEN,
};
use super::{apply_mask, WsError};

/// Maximum close reason size: a control payload of 125 bytes minus the 2-byte code.
pub const MAX_CLOSE_REASON_LEN: usize = MAX_CONTROL_PAYLOAD_LEN - 2;

/// Complete message or control frame decoded from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// Reassembled text message, validated as UTF-8.
    Text(Bytes),
    /// Reassembled binary message.
    Binary(Bytes),
    /// Ping payload, which the pong must echo.
    Ping(Bytes),
    /// Pong payload.
    Pong(Bytes),
    /// Close frame with its code and reason, or `None` for an empty close payload.
    Close(Option<(u16, String)>),
}

/// Fragmented text or binary message whose final frame has not arrived.
#[derive(Debug)]
struct PartialMessage {
    opcode: OpCode,
    data: BytesMut,
    /// Length of the prefix of `data` known to be valid UTF-8, for text messages.
    utf8_checked: usize,
}

/// Per-connection decoder that turns a byte stream into [`WsEvent`]s.
#[derive(Debug)]
pub struct MessageDecoder {
    role: Role,
    max_message_size: usize,
    partial: Option<PartialMessage>,
    close_received: bool,
}

impl MessageDecoder {
    /// Creates a decoder for frames arriving at `role`, rejecting messages larger than
    /// `max_message_size` bytes.
    pub fn new(role: Role, max_message_size: usize) -> Self {
        Self {
            role,
            max_message_size,
            partial: None,
            close_received: false,
        }
    }

    /// Checks whether a close frame has been decoded.
    pub fn close_received(&self) -> bool {
        self.close_received
    }

    /// Decodes the next event from the start of `buf`, consuming the frames it was built from.
    ///
    /// Call it until it returns `Ok(None)`, which means `buf` contains no complete frame. Partial
    /// frames stay in `buf`, and fragments of an unfinished message move into the decoder. After a
    /// [`WsEvent::Close`], RFC 6455 section 5.5.1 allows no further frames, so every later call
    /// discards `buf` and returns `Ok(None)`.
    ///
    /// # Errors
    /// Any [`WsError`]: header errors as soon as the header bytes arrive, and
    /// [`WsError::MessageTooBig`] before the oversized payload arrives. After an error the
    /// stream cannot be resynchronised, so send [`WsError::to_close_frame`] and close.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<WsEvent>, WsError> {
        loop {
            if self.close_received {
                buf.clear();
                return Ok(None);
            }
            let Some((header, payload)) = self.take_frame(buf)? else {
                return Ok(None);
            };
            if let Some(event) = self.handle_frame(header, payload)? {
                return Ok(Some(event));
            }
        }
    }

    /// Removes one complete frame from `buf` and returns its header and unmasked payload.
    fn take_frame(&self, buf: &mut BytesMut) -> Result<Option<(FrameHeader, BytesMut)>, WsError> {
        let max = self.max_message_size as u64;
        let Some(header) = parse_frame_header(buf, self.role, max)? else {
            return Ok(None);
        };
        self.check_sequence(&header)?;

        // `payload_len` is at most `max_message_size`, so it fits in usize.
        let payload_len = header.payload_len as usize;
        if buf.len() < header.header_len + payload_len {
            return Ok(None);
        }
        buf.advance(header.header_len);
        let mut payload = buf.split_to(payload_len);
        if let Some(mask) = header.mask {
            apply_mask(&mut payload, mask);
        }
        Ok(Some((header, payload)))
    }

    /// Checks fragmentation order and the reassembled size before any payload is buffered.
    fn check_sequence(&self, header: &FrameHeader) -> Result<(), WsError> {
        match (header.opcode, &self.partial) {
            (OpCode::Continuation, None) => Err(WsError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => Err(WsError::InterleavedDataFrame {
                opcode: header.opcode,
            }),
            (OpCode::Continuation, Some(partial)) => {
                let len = partial.data.len() as u64 + header.payload_len;
                let max = self.max_message_size as u64;
                if len > max {
                    return Err(WsError::MessageTooBig { len, max });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn handle_frame(
        &mut self,
        header: FrameHeader,
        payload: BytesMut,
    ) -> Result<Option<WsEvent>, WsError> {
        match header.opcode {
            OpCode::Text | OpCode::Binary if header.fin => {
                complete_message(header.opcode, payload).map(Some)
            }
            OpCode::Text | OpCode::Binary => {
                self.start_message(header.opcode, payload)?;
                Ok(None)
            }
            OpCode::Continuation => self.continue_message(header.fin, &payload),
            OpCode::Ping => Ok(Some(WsEvent::Ping(payload.freeze()))),
            OpCode::Pong => Ok(Some(WsEvent::Pong(payload.freeze()))),
            OpCode::Close => {
                let close = parse_close_payload(&payload)?;
                self.close_received = true;
                Ok(Some(WsEvent::Close(close)))
            }
        }
    }

    fn start_message(&mut self, opcode: OpCode, data: BytesMut) -> Result<(), WsError> {
        let mut partial = PartialMessage {
            opcode,
            data,
            utf8_checked: 0,
        };
        partial.check_utf8_prefix()?;
        self.partial = Some(partial);
        Ok(())
    }

    fn continue_message(&mut self, fin: bool, payload: &[u8]) -> Result<Option<WsEvent>, WsError> {
        let partial = self
            .partial
            .as_mut()
            .expect("check_sequence rejects a continuation with no message in progress");
        partial.data.extend_from_slice(payload);
        partial.check_utf8_prefix()?;
        if !fin {
            return Ok(None);
        }
        let partial = self.partial.take().expect("partial message checked above");
        partial.finish().map(Some)
    }
}

impl PartialMessage {
    /// Validates the UTF-8 received so far, so invalid text fails before its final fragment.
    ///
    /// A code point split across fragments is left unchecked until its remaining bytes arrive.
    fn check_utf8_prefix(&mut self) -> Result<(), WsError> {
        if self.opcode != OpCode::Text {
            return Ok(());
        }
        let unchecked = &self.data[self.utf8_checked..];
        match simdutf8::compat::from_utf8(unchecked) {
            Ok(_) => self.utf8_checked = self.data.len(),
            Err(error) if error.error_len().is_none() => self.utf8_checked += error.valid_up_to(),
            Err(error) => {
                return Err(WsError::InvalidUtf8 {
                    valid_up_to: self.utf8_checked + error.valid_up_to(),
                })
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<WsEvent, WsError> {
        if self.opcode == OpCode::Text && self.utf8_checked != self.data.len() {
            // The message ends inside a multi-byte sequence.
            return Err(WsError::InvalidUtf8 {
                valid_up_to: self.utf8_checked,
            });
        }
        complete_message(self.opcode, self.data)
    }
}

/// Builds the event for a complete text or binary message, validating text.
fn complete_message(opcode: OpCode, data: BytesMut) -> Result<WsEvent, WsError> {
    if opcode == OpCode::Binary {
        return Ok(WsEvent::Binary(data.freeze()));
    }
    if simdutf8::basic::from_utf8(&data).is_err() {
        // The basic check is faster, so compat runs only to locate the error.
        let valid_up_to = simdutf8::compat::from_utf8(&data)
            .err()
            .map_or(data.len(), |error| error.valid_up_to());
        return Err(WsError::InvalidUtf8 { valid_up_to });
    }
    Ok(WsEvent::Text(data.freeze()))
}

/// Parses a close payload: empty, or a 2-byte big-endian code and a UTF-8 reason.
fn parse_close_payload(payload: &[u8]) -> Result<Option<(u16, String)>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::CloseFrameTooShort),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !CloseCode::is_valid_received(code) {
                return Err(WsError::InvalidCloseCode { code });
            }
            let reason =
                simdutf8::basic::from_utf8(reason).map_err(|_| WsError::InvalidCloseReason)?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

/// Encodes an unmasked close frame with `code` and `reason`.
///
/// Truncates `reason` at a character boundary to at most [`MAX_CLOSE_REASON_LEN`] bytes.
///
/// # Panics
/// If `code` may not be sent in a close frame, such as 1005 or 1006
/// (see [`CloseCode::is_valid_received`]).
pub fn encode_close(code: u16, reason: &str) -> Bytes {
    assert!(
        CloseCode::is_valid_received(code),
        "close code {code} may not be sent in a close frame"
    );
    let reason = truncate_at_char_boundary(reason, MAX_CLOSE_REASON_LEN);
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    encode_unfragmented(OpCode::Close, &payload)
}

/// Encodes the close frame that acknowledges a received close (RFC 6455 section 5.5.1).
///
/// Echoes the received code without a reason, or sends an empty close payload when the peer
/// sent none, since code 1005 may not appear on the wire.
pub fn close_reply(received: Option<&(u16, String)>) -> Bytes {
    match received {
        Some((code, _)) => encode_close(*code, ""),
        None => encode_unfragmented(OpCode::Close, &[]),
    }
}

/// Encodes an unmasked ping frame.
///
/// # Panics
/// If `payload` exceeds [`MAX_CONTROL_PAYLOAD_LEN`] bytes.
pub fn encode_ping(payload: &[u8]) -> Bytes {
    encode_control(OpCode::Ping, payload)
}

/// Encodes an unmasked pong frame, which echoes the payload of the ping it replies to.
///
/// # Panics
/// If `payload` exceeds [`MAX_CONTROL_PAYLOAD_LEN`] bytes. A decoded ping payload never does.
pub fn encode_pong(payload: &[u8]) -> Bytes {
    encode_control(OpCode::Pong, payload)
}

fn encode_control(opcode: OpCode, payload: &[u8]) -> Bytes {
    assert!(
        payload.len() <= MAX_CONTROL_PAYLOAD_LEN,
        "{opcode:?} payload of {} bytes exceeds the control frame maximum of {MAX_CONTROL_PAYLOAD_LEN}",
        payload.len()
    );
    encode_unfragmented(opcode, payload)
}

fn truncate_at_char_boundary(text: &str, max_len: usize) -> &str {
    if text.len() <= max_len {
        return text;
    }
    let mut end = max_len;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::{encode_frame, encode_frame_header, encode_masked_frame};
    use proptest::prelude::*;

    const MASK: [u8; 4] = [0xa1, 0x02, 0xf3, 0x44];
    const MAX: usize = 1024;

    fn client_frame(out: &mut BytesMut, fin: bool, opcode: OpCode, payload: &[u8]) {
        encode_masked_frame(out, fin, opcode, payload, MASK);
    }

    fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        payload
    }

    /// Decodes every event in `buf` with a fresh server decoder.
    fn decode_all(buf: &mut BytesMut) -> Result<Vec<WsEvent>, WsError> {
        let mut decoder = MessageDecoder::new(Role::Server, MAX);
        let mut events = Vec::new();
        while let Some(event) = decoder.decode(buf)? {
            events.push(event);
        }
        Ok(events)
    }

    fn decode_one_frame(opcode: OpCode, payload: &[u8]) -> Result<Vec<WsEvent>, WsError> {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, true, opcode, payload);
        decode_all(&mut buf)
    }

    #[test]
    fn decode_single_frame_events() {
        let cases = [
            (
                OpCode::Binary,
                WsEvent::Binary(Bytes::from_static(b"\x00\xff")),
            ),
            (
                OpCode::Text,
                WsEvent::Text(Bytes::from_static("hé".as_bytes())),
            ),
            (OpCode::Ping, WsEvent::Ping(Bytes::from_static(b"p"))),
            (OpCode::Pong, WsEvent::Pong(Bytes::from_static(b""))),
        ];
        for (opcode, expected) in cases {
            let payload = match &expected {
                WsEvent::Binary(p) | WsEvent::Text(p) | WsEvent::Ping(p) | WsEvent::Pong(p) => {
                    p.clone()
                }
                WsEvent::Close(_) => unreachable!(),
            };
            assert_eq!(decode_one_frame(opcode, &payload), Ok(vec![expected]));
        }
    }

    #[test]
    fn decode_rejects_unmasked_client_frame() {
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, true, OpCode::Binary, b"x");
        assert_eq!(decode_all(&mut buf), Err(WsError::UnmaskedFrame));
    }

    #[test]
    fn decode_rejects_reserved_bits() {
        let mut buf = BytesMut::from(&[0xC2, 0x80, 0, 0, 0, 0][..]);
        let result = decode_all(&mut buf);
        assert_eq!(result, Err(WsError::ReservedBitsSet { bits: 0b100 }));
        assert_eq!(result.unwrap_err().close_code(), CloseCode::ProtocolError);
    }

    #[test]
    fn decode_rejects_unknown_opcode() {
        let mut buf = BytesMut::from(&[0x83, 0x80, 0, 0, 0, 0][..]);
        assert_eq!(
            decode_all(&mut buf),
            Err(WsError::UnknownOpcode { opcode: 3 })
        );
    }

    #[test]
    fn decode_rejects_fragmented_control() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, false, OpCode::Ping, b"x");
        assert_eq!(
            decode_all(&mut buf),
            Err(WsError::FragmentedControlFrame {
                opcode: OpCode::Ping
            })
        );
    }

    #[test]
    fn decode_rejects_control_over_125() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, true, OpCode::Pong, &[0; 126]);
        assert_eq!(
            decode_all(&mut buf),
            Err(WsError::ControlFrameTooLong {
                opcode: OpCode::Pong,
                len: 126
            })
        );
    }

    #[test]
    fn decode_rejects_continuation_without_start() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, true, OpCode::Continuation, b"x");
        assert_eq!(decode_all(&mut buf), Err(WsError::UnexpectedContinuation));
    }

    #[test]
    fn decode_rejects_interleaved_data_frame() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, false, OpCode::Binary, b"a");
        client_frame(&mut buf, true, OpCode::Text, b"b");
        assert_eq!(
            decode_all(&mut buf),
            Err(WsError::InterleavedDataFrame {
                opcode: OpCode::Text
            })
        );
    }

    #[test]
    fn decode_control_between_fragments() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, false, OpCode::Text, "h".as_bytes());
        client_frame(&mut buf, true, OpCode::Ping, b"1");
        client_frame(&mut buf, false, OpCode::Continuation, "é".as_bytes());
        client_frame(&mut buf, true, OpCode::Pong, b"2");
        client_frame(&mut buf, true, OpCode::Continuation, "!".as_bytes());
        let expected = vec![
            WsEvent::Ping(Bytes::from_static(b"1")),
            WsEvent::Pong(Bytes::from_static(b"2")),
            WsEvent::Text(Bytes::from_static("hé!".as_bytes())),
        ];
        assert_eq!(decode_all(&mut buf), Ok(expected));
    }

    #[test]
    fn decode_close_variants() {
        assert_eq!(
            decode_one_frame(OpCode::Close, b""),
            Ok(vec![WsEvent::Close(None)])
        );
        assert_eq!(
            decode_one_frame(OpCode::Close, &close_payload(1000, b"bye")),
            Ok(vec![WsEvent::Close(Some((1000, "bye".to_owned())))])
        );
        assert_eq!(
            decode_one_frame(OpCode::Close, &close_payload(4001, b"")),
            Ok(vec![WsEvent::Close(Some((4001, String::new())))])
        );
    }

    #[test]
    fn decode_rejects_one_byte_close() {
        assert_eq!(
            decode_one_frame(OpCode::Close, &[0x03]),
            Err(WsError::CloseFrameTooShort)
        );
    }

    #[test]
    fn decode_rejects_invalid_close_codes() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            let result = decode_one_frame(OpCode::Close, &close_payload(code, b""));
            assert_eq!(result, Err(WsError::InvalidCloseCode { code }), "{code}");
        }
    }

    #[test]
    fn decode_rejects_invalid_close_reason() {
        let result = decode_one_frame(OpCode::Close, &close_payload(1000, b"\xff\xfe"));
        assert_eq!(result, Err(WsError::InvalidCloseReason));
        assert_eq!(result.unwrap_err().close_code(), CloseCode::InvalidPayload);
    }

    #[test]
    fn decode_rejects_invalid_text() {
        let result = decode_one_frame(OpCode::Text, b"ok\xc3\x28");
        assert_eq!(result, Err(WsError::InvalidUtf8 { valid_up_to: 2 }));
        assert_eq!(result.unwrap_err().close_code().code(), 1007);
    }

    #[test]
    fn decode_rejects_invalid_fragment_early() {
        // The first fragment already contains an invalid byte, so no continuation is needed.
        let mut buf = BytesMut::new();
        client_frame(&mut buf, false, OpCode::Text, b"abc\xff");
        assert_eq!(
            decode_all(&mut buf),
            Err(WsError::InvalidUtf8 { valid_up_to: 3 })
        );
    }

    #[test]
    fn decode_text_split_inside_code_point() {
        let euro = "€".as_bytes();
        let mut buf = BytesMut::new();
        client_frame(&mut buf, false, OpCode::Text, &euro[..1]);
        client_frame(&mut buf, false, OpCode::Continuation, &euro[1..2]);
        client_frame(&mut buf, true, OpCode::Continuation, &euro[2..]);
        let expected = vec![WsEvent::Text(Bytes::from_static(euro))];
        assert_eq!(decode_all(&mut buf), Ok(expected));
    }

    #[test]
    fn decode_rejects_text_ending_mid_code_point() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, false, OpCode::Text, b"a");
        client_frame(&mut buf, true, OpCode::Continuation, &"€".as_bytes()[..2]);
        assert_eq!(
            decode_all(&mut buf),
            Err(WsError::InvalidUtf8 { valid_up_to: 1 })
        );
    }

    #[test]
    fn decode_rejects_oversized_before_payload() {
        // Only the header is present, and the error must not wait for the payload.
        let mut buf = BytesMut::new();
        encode_frame_header(&mut buf, true, OpCode::Binary, MAX as u64 + 1, Some(MASK));
        let result = decode_all(&mut buf);
        let expected = WsError::MessageTooBig {
            len: MAX as u64 + 1,
            max: MAX as u64,
        };
        assert_eq!(result, Err(expected));
        assert_eq!(result.unwrap_err().close_code().code(), 1009);
    }

    #[test]
    fn decode_rejects_oversized_reassembly() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, false, OpCode::Binary, &[0; MAX - 10]);
        encode_frame_header(&mut buf, true, OpCode::Continuation, 11, Some(MASK));
        let expected = WsError::MessageTooBig {
            len: MAX as u64 + 1,
            max: MAX as u64,
        };
        assert_eq!(decode_all(&mut buf), Err(expected));
    }

    #[test]
    fn decode_accepts_message_at_limit() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, false, OpCode::Binary, &[7; MAX - 10]);
        client_frame(&mut buf, true, OpCode::Continuation, &[7; 10]);
        let expected = vec![WsEvent::Binary(Bytes::from(vec![7; MAX]))];
        assert_eq!(decode_all(&mut buf), Ok(expected));
    }

    #[test]
    fn decode_rejects_64bit_length_msb() {
        let mut buf = BytesMut::from(&[0x82, 0xFF][..]);
        buf.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            decode_all(&mut buf),
            Err(WsError::PayloadLengthMsbSet { len: u64::MAX })
        );
    }

    #[test]
    fn decode_keeps_partial_frame() {
        let mut whole = BytesMut::new();
        client_frame(&mut whole, true, OpCode::Binary, b"hello");
        let mut buf = BytesMut::from(&whole[..whole.len() - 1]);
        let mut decoder = MessageDecoder::new(Role::Server, MAX);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(
            buf.len(),
            whole.len() - 1,
            "partial frame must stay buffered"
        );

        buf.extend_from_slice(&whole[whole.len() - 1..]);
        let event = decoder.decode(&mut buf);
        assert_eq!(
            event,
            Ok(Some(WsEvent::Binary(Bytes::from_static(b"hello"))))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn decode_ignores_frames_after_close() {
        let mut buf = BytesMut::new();
        client_frame(&mut buf, true, OpCode::Close, &close_payload(1000, b""));
        client_frame(&mut buf, true, OpCode::Binary, b"late");
        let mut decoder = MessageDecoder::new(Role::Server, MAX);
        let event = decoder.decode(&mut buf);
        assert_eq!(event, Ok(Some(WsEvent::Close(Some((1000, String::new()))))));
        assert!(decoder.close_received());
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn client_role_decodes_server_frames() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&super::super::encode_binary(b"srv"));
        buf.extend_from_slice(&encode_ping(b"p"));
        let mut decoder = MessageDecoder::new(Role::Client, MAX);
        let first = decoder.decode(&mut buf);
        assert_eq!(first, Ok(Some(WsEvent::Binary(Bytes::from_static(b"srv")))));
        let second = decoder.decode(&mut buf);
        assert_eq!(second, Ok(Some(WsEvent::Ping(Bytes::from_static(b"p")))));
    }

    #[test]
    fn encode_close_truncates_at_char_boundary() {
        // 61 two-byte characters are 122 bytes, and one more would pass the 123-byte limit.
        let reason = "é".repeat(70);
        let frame = encode_close(1000, &reason);
        assert_eq!(frame[1] as usize, 2 + 122);
        assert_eq!(&frame[4..], "é".repeat(61).as_bytes());
    }

    #[test]
    fn encode_close_keeps_short_reason() {
        let frame = encode_close(1001, "draining");
        let mut expected = vec![0x88, 10, 0x03, 0xE9];
        expected.extend_from_slice(b"draining");
        assert_eq!(&frame[..], &expected[..]);
    }

    #[test]
    #[should_panic(expected = "close code 1005")]
    fn encode_close_rejects_reserved_code() {
        encode_close(1005, "");
    }

    #[test]
    fn close_reply_echoes_code() {
        let reply = close_reply(Some(&(4000, "idle".to_owned())));
        assert_eq!(&reply[..], &[0x88, 2, 0x0F, 0xA0]);
        assert_eq!(&close_reply(None)[..], &[0x88, 0]);
    }

    #[test]
    fn encode_ping_and_pong() {
        assert_eq!(&encode_ping(b"ab")[..], &[0x89, 2, b'a', b'b']);
        assert_eq!(&encode_pong(b"")[..], &[0x8A, 0]);
    }

    #[test]
    #[should_panic(expected = "exceeds the control frame maximum")]
    fn encode_pong_rejects_long_payload() {
        encode_pong(&[0; 126]);
    }

    /// One message as a client sends it. Data messages carry fragment cut points and an
    /// optional ping to send between their first two fragments.
    #[derive(Debug, Clone)]
    enum TestMessage {
        Data {
            opcode: OpCode,
            data: Vec<u8>,
            cuts: Vec<usize>,
            ping: Option<Vec<u8>>,
        },
        Ping(Vec<u8>),
        Pong(Vec<u8>),
    }

    fn test_message() -> impl Strategy<Value = TestMessage> {
        let cuts = || proptest::collection::vec(0usize..64, 0..4);
        let ping = || proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8));
        let binary =
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(|d| (OpCode::Binary, d));
        let text = "\\PC{0,24}".prop_map(|t: String| (OpCode::Text, t.into_bytes()));
        prop_oneof![
            (prop_oneof![binary, text], cuts(), ping()).prop_map(|((opcode, data), cuts, ping)| {
                TestMessage::Data {
                    opcode,
                    data,
                    cuts,
                    ping,
                }
            }),
            proptest::collection::vec(any::<u8>(), 0..=125).prop_map(TestMessage::Ping),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(TestMessage::Pong),
        ]
    }

    /// Splits `data` into fragments at the sorted, clamped cut points, which may fall inside
    /// a UTF-8 code point.
    fn fragments<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|&cut| cut.min(data.len())).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for point in points {
            pieces.push(&data[start..point]);
            start = point;
        }
        pieces.push(&data[start..]);
        pieces
    }

    /// Appends the frames of a data message and returns the events it produces, in order.
    fn encode_data_message(
        out: &mut BytesMut,
        opcode: OpCode,
        data: &[u8],
        cuts: &[usize],
        ping: Option<&Vec<u8>>,
    ) -> Vec<WsEvent> {
        let mut events = Vec::new();
        let pieces = fragments(data, cuts);
        let last = pieces.len() - 1;
        for (i, piece) in pieces.iter().enumerate() {
            let frame_opcode = if i == 0 { opcode } else { OpCode::Continuation };
            client_frame(out, i == last, frame_opcode, piece);
            if let (0, Some(ping), true) = (i, ping, last > 0) {
                client_frame(out, true, OpCode::Ping, ping);
                events.push(WsEvent::Ping(Bytes::from(ping.clone())));
            }
        }
        let payload = Bytes::from(data.to_vec());
        events.push(match opcode {
            OpCode::Text => WsEvent::Text(payload),
            _ => WsEvent::Binary(payload),
        });
        events
    }

    fn encode_messages(messages: &[TestMessage]) -> (BytesMut, Vec<WsEvent>) {
        let mut out = BytesMut::new();
        let mut events = Vec::new();
        for message in messages {
            match message {
                TestMessage::Data {
                    opcode,
                    data,
                    cuts,
                    ping,
                } => {
                    let produced =
                        encode_data_message(&mut out, *opcode, data, cuts, ping.as_ref());
                    events.extend(produced);
                }
                TestMessage::Ping(data) => {
                    client_frame(&mut out, true, OpCode::Ping, data);
                    events.push(WsEvent::Ping(Bytes::from(data.clone())));
                }
                TestMessage::Pong(data) => {
                    client_frame(&mut out, true, OpCode::Pong, data);
                    events.push(WsEvent::Pong(Bytes::from(data.clone())));
                }
            }
        }
        (out, events)
    }

    /// Feeds `chunks` one after another into one decoder, draining events after each.
    fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<WsEvent> {
        let mut decoder = MessageDecoder::new(Role::Server, MAX);
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(event) = decoder.decode(&mut buf).expect("valid stream") {
                events.push(event);
            }
        }
        assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
        events
    }

    proptest! {
        #[test]
        fn round_trip_any_split(messages in proptest::collection::vec(test_message(), 1..5)) {
            let (wire, expected) = encode_messages(&messages);
            prop_assert_eq!(&decode_chunks([&wire[..]]), &expected);
            for split in 0..=wire.len() {
                let (head, tail) = wire.split_at(split);
                prop_assert_eq!(&decode_chunks([head, tail]), &expected, "split at {}", split);
            }
            prop_assert_eq!(&decode_chunks(wire.chunks(1)), &expected);
        }
    }
}
