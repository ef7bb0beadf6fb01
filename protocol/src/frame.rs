//! Length-prefixed frame codec: a 4-byte big-endian length, then one encoded protobuf message.
//!
//! The same framing carries client envelopes inside WebSocket binary messages and internal
//! frames between gateways and routers, so a batch of frames costs one write.

use bytes::{Buf, BufMut, BytesMut};
use prost::Message;

/// Size of the length prefix in front of every frame.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Default maximum size of one frame's body. Chat messages are small; a larger limit only lets
/// one client make the server buffer more before it can reject the frame.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;

/// Reasons a frame cannot be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix announces more bytes than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes; split the content")]
    TooLarge {
        /// Announced body length.
        len: usize,
        /// Configured maximum body length.
        max: usize,
    },
    /// The input ended inside a frame.
    #[error("truncated frame: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the frame needs, prefix included.
        needed: usize,
        /// Bytes that were present.
        available: usize,
    },
    /// The body is not a valid protobuf message of the expected type.
    #[error("malformed frame body: {0}")]
    Malformed(#[from] prost::DecodeError),
}

/// Appends `message` to `out` as one length-prefixed frame.
pub fn encode_frame<M: Message>(message: &M, out: &mut BytesMut) {
    let len = message.encoded_len();
    out.reserve(LENGTH_PREFIX_BYTES + len);
    out.put_u32(len as u32);
    message
        .encode(out)
        .expect("BytesMut grows on demand, so encoding cannot run out of space");
}

/// Incremental decoder for a byte stream that may split frames at any byte.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameDecoder {
    /// Creates a decoder that rejects frames whose body exceeds `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }

    /// Removes and decodes the first complete frame of `buf`.
    ///
    /// Returns `Ok(None)` and leaves `buf` untouched when the frame is not complete yet.
    ///
    /// # Errors
    /// [`FrameError::TooLarge`] as soon as the prefix is readable and above the maximum, and
    /// [`FrameError::Malformed`] when the body does not decode. On error the stream cannot be
    /// resynchronised and should be dropped.
    pub fn decode<M: Message + Default>(
        &self,
        buf: &mut BytesMut,
    ) -> Result<Option<M>, FrameError> {
        let Some(len) = self.peek_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < LENGTH_PREFIX_BYTES + len {
            return Ok(None);
        }

        buf.advance(LENGTH_PREFIX_BYTES);
        let body = buf.split_to(len);
        Ok(Some(M::decode(body.freeze())?))
    }

    /// Reads the body length of the frame at the start of `buf`, checking the maximum.
    fn peek_len(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = buf.get(..LENGTH_PREFIX_BYTES) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(prefix.try_into().expect("slice of prefix length")) as usize;
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        Ok(Some(len))
    }

    /// Decodes every frame of a complete unit, such as one WebSocket message.
    ///
    /// # Errors
    /// As [`FrameDecoder::decode`], plus [`FrameError::Truncated`] when the unit ends inside a
    /// frame.
    pub fn decode_all<M: Message + Default>(&self, unit: &[u8]) -> Result<Vec<M>, FrameError> {
        match self.decode_prefix(unit) {
            (frames, None) => Ok(frames),
            (_, Some(error)) => Err(error),
        }
    }
}

impl FrameDecoder {
    /// Decodes the frames of a complete unit up to the first bad one. Returns the frames
    /// before it and the error that stopped decoding, so a server can serve the good frames
    /// and reject the rest.
    pub fn decode_prefix<M: Message + Default>(&self, unit: &[u8]) -> (Vec<M>, Option<FrameError>) {
        let mut frames = Vec::new();
        let mut rest = unit;
        while !rest.is_empty() {
            let end = match self.frame_end(rest) {
                Ok(end) => end,
                Err(error) => return (frames, Some(error)),
            };
            match M::decode(&rest[LENGTH_PREFIX_BYTES..end]) {
                Ok(frame) => frames.push(frame),
                Err(error) => return (frames, Some(error.into())),
            }
            rest = &rest[end..];
        }
        (frames, None)
    }

    /// Returns the end offset of the complete frame at the start of `unit`.
    fn frame_end(&self, unit: &[u8]) -> Result<usize, FrameError> {
        let available = unit.len();
        let Some(len) = self.peek_len(unit)? else {
            return Err(FrameError::Truncated {
                needed: LENGTH_PREFIX_BYTES,
                available,
            });
        };
        let end = LENGTH_PREFIX_BYTES + len;
        if available < end {
            return Err(FrameError::Truncated {
                needed: end,
                available,
            });
        }
        Ok(end)
    }
}

/// Decodes every frame of `unit` with the default maximum frame size.
///
/// # Errors
/// See [`FrameDecoder::decode_all`].
pub fn decode_frames<M: Message + Default>(unit: &[u8]) -> Result<Vec<M>, FrameError> {
    FrameDecoder::default().decode_all(unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{envelope::Kind, Envelope, SendMessage};
    use proptest::prelude::*;

    fn send(request_id: u64, conversation_id: u64, content: String) -> Envelope {
        Envelope {
            request_id,
            kind: Some(Kind::SendMessage(SendMessage {
                conversation_id,
                client_message_id: format!("m-{request_id}"),
                content,
                r#type: 0,
            })),
        }
    }

    fn arb_envelopes() -> impl Strategy<Value = Vec<Envelope>> {
        prop::collection::vec(
            (any::<u64>(), any::<u64>(), ".{0,40}").prop_map(|(r, c, s)| send(r, c, s)),
            0..8,
        )
    }

    fn encode_all(envelopes: &[Envelope]) -> BytesMut {
        let mut out = BytesMut::new();
        for envelope in envelopes {
            encode_frame(envelope, &mut out);
        }
        out
    }

    proptest! {
        #[test]
        fn round_trip_whole_unit(envelopes in arb_envelopes()) {
            let wire = encode_all(&envelopes);
            let decoded: Vec<Envelope> = decode_frames(&wire).unwrap();
            prop_assert_eq!(decoded, envelopes);
        }

        #[test]
        fn stream_split_at_every_byte(envelopes in arb_envelopes()) {
            let wire = encode_all(&envelopes);
            let decoder = FrameDecoder::default();
            for split in 0..=wire.len() {
                let mut buf = BytesMut::from(&wire[..split]);
                let mut decoded: Vec<Envelope> = Vec::new();
                while let Some(envelope) = decoder.decode(&mut buf).unwrap() {
                    decoded.push(envelope);
                }
                buf.extend_from_slice(&wire[split..]);
                while let Some(envelope) = decoder.decode(&mut buf).unwrap() {
                    decoded.push(envelope);
                }
                prop_assert!(buf.is_empty());
                prop_assert_eq!(&decoded, &envelopes);
            }
        }

        #[test]
        fn truncated_unit_rejected(envelopes in arb_envelopes(), cut in 1usize..64) {
            let wire = encode_all(&envelopes);
            prop_assume!(!wire.is_empty());
            let end = wire.len().saturating_sub(cut);
            let mut frame_ends = Vec::new();
            let mut at = 0;
            for envelope in &envelopes {
                at += LENGTH_PREFIX_BYTES + envelope.encoded_len();
                frame_ends.push(at);
            }
            prop_assume!(end > 0 && !frame_ends.contains(&end));
            let result = decode_frames::<Envelope>(&wire[..end]);
            let is_truncated = matches!(result, Err(FrameError::Truncated { .. }));
            prop_assert!(is_truncated, "expected Truncated, got {:?}", result);
        }
    }

    #[test]
    fn oversized_prefix_rejected_before_body() {
        let decoder = FrameDecoder::new(16);
        let mut buf = BytesMut::new();
        buf.put_u32(17);
        let result = decoder.decode::<Envelope>(&mut buf);
        assert_eq!(result, Err(FrameError::TooLarge { len: 17, max: 16 }));
    }

    #[test]
    fn oversized_frame_in_unit_rejected() {
        let wire = encode_all(&[send(1, 2, "x".repeat(100))]);
        let result = FrameDecoder::new(50).decode_all::<Envelope>(&wire);
        assert!(matches!(result, Err(FrameError::TooLarge { max: 50, .. })));
    }

    #[test]
    fn malformed_body_rejected() {
        let mut wire = BytesMut::new();
        wire.put_u32(3);
        wire.put_slice(&[0xff, 0xff, 0xff]);
        let result = decode_frames::<Envelope>(&wire);
        assert!(matches!(result, Err(FrameError::Malformed(_))));
    }

    #[test]
    fn prefix_keeps_frames_before_error() {
        let mut wire = encode_all(&[send(1, 2, "a".into()), send(2, 2, "b".into())]);
        wire.put_u32(3);
        wire.put_slice(&[0xff, 0xff, 0xff]);
        let (frames, error) = FrameDecoder::default().decode_prefix::<Envelope>(&wire);
        assert_eq!(frames.len(), 2);
        assert!(matches!(error, Some(FrameError::Malformed(_))));
    }

    #[test]
    fn short_prefix_is_truncated() {
        let result = decode_frames::<Envelope>(&[0, 0]);
        assert_eq!(
            result,
            Err(FrameError::Truncated {
                needed: 4,
                available: 2
            })
        );
    }

    #[test]
    fn unknown_field_ignored() {
        // Field 99, varint 7: a field from a newer schema.
        let body = [0x98, 0x06, 0x07, 0x08, 0x05];
        let mut wire = BytesMut::new();
        wire.put_u32(body.len() as u32);
        wire.put_slice(&body);
        let decoded: Vec<Envelope> = decode_frames(&wire).unwrap();
        assert_eq!(decoded[0].request_id, 5);
        assert!(decoded[0].kind.is_none());
    }
}
