//! RFC 6455 WebSocket codec with no IO and no async: callers feed it bytes and it returns
//! parsed requests, events and encoded frames, so the connection tasks own every read, write
//! and timer.
//!
//! - [`handshake`] parses the HTTP/1.1 upgrade request and builds the `101 Switching
//!   Protocols` response and HTTP error responses.
//! - [`frame`] parses and encodes frame headers and masks payloads.
//! - [`message`] turns frames into [`WsEvent`]s with [`MessageDecoder`]: it reassembles
//!   fragments, checks control and close frames and validates UTF-8. It also encodes close,
//!   ping and pong frames.
//!
//! # Connection lifecycle
//!
//! 1. Read into a `BytesMut` until [`parse_upgrade_request`] returns `Ok(Some(request))`. On
//!    `Err(e)`, write [`HandshakeError::to_response`] and close the connection.
//! 2. Check `request.path`, [`UpgradeRequest::query_param`] and `request.authorization`, then
//!    write [`switching_protocols_response`], or [`http_error`] with the caller's status.
//! 3. Drop `request.bytes_consumed` bytes from the buffer. Any bytes after them are already
//!    WebSocket frames.
//! 4. After every read, call [`MessageDecoder::decode`] until it returns `Ok(None)`. Reply
//!    to [`WsEvent::Ping`] with [`encode_pong`], and [`WsEvent::Close`] with [`close_reply`] before
//!    closing the socket.
//! 5. On `Err(e)` from `decode`, write [`WsError::to_close_frame`] and close the connection.
//!    The decoder cannot resynchronise after an error.
//! 6. For a broadcast, call [`encode_binary`] once and clone the [`bytes::Bytes`] into every
//!    recipient's write queue.
//!
//! Event payloads are slices of the read buffer when a message arrives in one frame, so a
//! retained event keeps that part of the read buffer allocated.
//!
//! ```
//! use bytes::BytesMut;
//! use switchboard_gateway::ws::{
//!     encode_masked_frame, parse_upgrade_request, switching_protocols_response, MessageDecoder,
//!     OpCode, Role, WsEvent,
//! };
//!
//! let mut buf = BytesMut::from(
//!     "GET /ws?token=abc HTTP/1.1\r\nHost: chat\r\nUpgrade: websocket\r\n\
//!      Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
//!      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
//! );
//! // A client frame that arrived in the same read as the request.
//! encode_masked_frame(&mut buf, true, OpCode::Binary, b"hi", [1, 2, 3, 4]);
//!
//! let request = parse_upgrade_request(&buf).unwrap().expect("complete request");
//! assert_eq!(request.query_param("token").as_deref(), Some("abc"));
//! let response = switching_protocols_response(&request.key, None);
//! assert!(response.starts_with(b"HTTP/1.1 101"));
//!
//! let _ = buf.split_to(request.bytes_consumed);
//! let mut decoder = MessageDecoder::new(Role::Server, 64 * 1024);
//! let event = decoder.decode(&mut buf).unwrap();
//! assert_eq!(event, Some(WsEvent::Binary("hi".into())));
//! assert_eq!(decoder.decode(&mut buf).unwrap(), None);
//! ```

pub mod frame;
pub mod handshake;
pub mod message;

use bytes::Bytes;
use switchboard_protocol::CloseCode;

pub use frame::{
    apply_mask, encode_binary, encode_frame, encode_frame_header, encode_masked_frame, encode_text,
    parse_frame_header, FrameHeader, OpCode, Role,
};
pub use handshake::{
    accept_key, http_error, parse_upgrade_request, switching_protocols_response, HandshakeError,
    UpgradeRequest,
};
pub use message::{close_reply, encode_close, encode_ping, encode_pong, MessageDecoder, WsEvent};

/// Reasons a frame stream violates RFC 6455 or the configured limits.
///
/// Each error maps to the close code to send with [`WsError::close_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A frame sets RSV1, RSV2 or RSV3, but no extension was negotiated.
    #[error("frame sets reserved bits {bits:#05b}, but no extension was negotiated")]
    ReservedBitsSet {
        /// RSV1-RSV3 as a 3-bit number, RSV1 highest.
        bits: u8,
    },
    /// A frame uses a reserved opcode.
    #[error("unknown opcode {opcode:#x}")]
    UnknownOpcode {
        /// The 4-bit opcode field.
        opcode: u8,
    },
    /// A client sent an unmasked frame.
    #[error("client frame is not masked, but clients must mask every frame")]
    UnmaskedFrame,
    /// A server sent a masked frame.
    #[error("server frame is masked, but servers must not mask frames")]
    MaskedFrame,
    /// A control frame has FIN clear.
    #[error("{opcode:?} frame is fragmented, but control frames must set FIN")]
    FragmentedControlFrame {
        /// Opcode of the frame.
        opcode: OpCode,
    },
    /// A control frame announces more than 125 payload bytes.
    #[error(
        "{opcode:?} frame announces {len} payload bytes, but control frames allow at most 125"
    )]
    ControlFrameTooLong {
        /// Opcode of the frame.
        opcode: OpCode,
        /// Announced payload length.
        len: u64,
    },
    /// A 64-bit payload length has its most significant bit set.
    #[error("64-bit payload length {len:#x} has its most significant bit set")]
    PayloadLengthMsbSet {
        /// Announced payload length.
        len: u64,
    },
    /// A payload length is encoded in more bytes than it needs.
    #[error("payload length {len} is encoded in {encoded_bytes} extra bytes, but the minimal encoding is required")]
    NonMinimalLength {
        /// Announced payload length.
        len: u64,
        /// Size of the extended length field, 2 or 8.
        encoded_bytes: u8,
    },
    /// A continuation frame arrived with no fragmented message in progress.
    #[error("continuation frame arrived with no fragmented message in progress")]
    UnexpectedContinuation,
    /// A text or binary frame arrived while a fragmented message was in progress.
    #[error("{opcode:?} frame arrived inside a fragmented message, but a continuation frame was expected")]
    InterleavedDataFrame {
        /// Opcode of the new frame.
        opcode: OpCode,
    },
    /// A close frame has a 1-byte payload.
    #[error(
        "close frame has a 1-byte payload, but a close payload must be empty or start with a 2-byte code"
    )]
    CloseFrameTooShort,
    /// A close frame carries a code that RFC 6455 section 7.4 does not allow on the wire.
    #[error("close code {code} is not allowed in a close frame")]
    InvalidCloseCode {
        /// The received code.
        code: u16,
    },
    /// A close frame reason is not valid UTF-8.
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
    /// A text message is not valid UTF-8.
    #[error("text message is not valid UTF-8 after byte {valid_up_to}")]
    InvalidUtf8 {
        /// Length of the valid prefix of the message.
        valid_up_to: usize,
    },
    /// A frame or reassembled message would exceed the maximum message size.
    #[error("message of {len} bytes exceeds the maximum message size of {max} bytes")]
    MessageTooBig {
        /// Message length including the announced frame.
        len: u64,
        /// Configured maximum message size.
        max: u64,
    },
}

impl WsError {
    /// Maps the error to the close code to send to the peer before closing the connection.
    pub fn close_code(&self) -> CloseCode {
        match self {
            WsError::InvalidCloseReason | WsError::InvalidUtf8 { .. } => CloseCode::InvalidPayload,
            WsError::MessageTooBig { .. } => CloseCode::MessageTooBig,
            _ => CloseCode::ProtocolError,
        }
    }

    /// Encodes the close frame to send for this error, with the error message as the reason.
    pub fn to_close_frame(&self) -> Bytes {
        encode_close(self.close_code().code(), &self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_by_error_kind() {
        assert_eq!(
            WsError::UnmaskedFrame.close_code(),
            CloseCode::ProtocolError
        );
        assert_eq!(
            WsError::InvalidCloseCode { code: 1005 }.close_code(),
            CloseCode::ProtocolError
        );
        assert_eq!(
            WsError::InvalidUtf8 { valid_up_to: 0 }.close_code(),
            CloseCode::InvalidPayload
        );
        assert_eq!(
            WsError::InvalidCloseReason.close_code(),
            CloseCode::InvalidPayload
        );
        assert_eq!(
            WsError::MessageTooBig { len: 2, max: 1 }.close_code(),
            CloseCode::MessageTooBig
        );
    }

    #[test]
    fn close_frame_carries_code_and_reason() {
        let frame = WsError::MessageTooBig { len: 2, max: 1 }.to_close_frame();
        assert_eq!(frame[0], 0x88);
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1009);
        let reason = std::str::from_utf8(&frame[4..]).unwrap();
        assert_eq!(
            reason,
            "message of 2 bytes exceeds the maximum message size of 1 bytes"
        );
    }
}
