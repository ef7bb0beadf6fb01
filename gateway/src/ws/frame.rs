//! Frame layer of RFC 6455 section 5.2: incremental header parsing, header and frame encoding,
//! and payload masking.
//!
//! Parsing enforces every rule that the header alone decides: reserved bits, known opcodes,
//! the mask bit for the decoding side, minimal length encoding, control-frame limits and the
//! maximum payload size. The encoders do not check control-frame rules, so tests can build
//! invalid frames with them. [`super::message`] has checked encoders for control frames.

use bytes::{BufMut, Bytes, BytesMut};

use super::WsError;

/// Maximum size of a frame header: 2 fixed bytes, an 8-byte extended length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Maximum payload size of a control frame (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD_LEN: usize = 125;

const FIN_BIT: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const OPCODE_BITS: u8 = 0x0F;
const MASK_BIT: u8 = 0x80;
const LEN7_BITS: u8 = 0x7F;
const LEN7_MAX: u64 = 125;
const LEN7_MARKER_16: u8 = 126;
const LEN7_MARKER_64: u8 = 127;

/// Side of the connection that a decoder runs on, which decides the masking rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Decodes frames sent by a client, which must all be masked.
    Server,
    /// Decodes frames sent by a server, which must not be masked.
    Client,
}

impl Role {
    fn expects_masked_frames(self) -> bool {
        matches!(self, Role::Server)
    }
}

/// Frame opcode (RFC 6455 section 5.2). Reserved opcodes have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// Continues the fragmented message started by a text or binary frame.
    Continuation = 0x0,
    /// First or only frame of a UTF-8 text message.
    Text = 0x1,
    /// First or only frame of a binary message.
    Binary = 0x2,
    /// Starts or acknowledges the closing handshake.
    Close = 0x8,
    /// Requests a pong with the same payload.
    Ping = 0x9,
    /// Replies to a ping, or serves as an unsolicited heartbeat.
    Pong = 0xA,
}

impl OpCode {
    /// Converts the 4-bit opcode field of a header.
    ///
    /// # Errors
    /// [`WsError::UnknownOpcode`] for the reserved opcodes 0x3-0x7 and 0xB-0xF.
    pub fn from_bits(bits: u8) -> Result<Self, WsError> {
        match bits {
            0x0 => Ok(OpCode::Continuation),
            0x1 => Ok(OpCode::Text),
            0x2 => Ok(OpCode::Binary),
            0x8 => Ok(OpCode::Close),
            0x9 => Ok(OpCode::Ping),
            0xA => Ok(OpCode::Pong),
            _ => Err(WsError::UnknownOpcode { opcode: bits }),
        }
    }

    /// Returns the 4-bit opcode field.
    pub fn bits(self) -> u8 {
        self as u8
    }

    /// Checks whether this is a control opcode (close, ping or pong).
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// Decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final-fragment flag.
    pub fin: bool,
    /// Frame opcode.
    pub opcode: OpCode,
    /// Masking key, present on every client frame.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// Header length in bytes, from 2 to [`MAX_HEADER_LEN`].
    pub header_len: usize,
}

/// Parses the frame header at the start of `buf`.
///
/// Returns `Ok(None)` while `buf` contains only part of the header. Rules that the bytes already
/// present decide are checked first, so an invalid frame fails as early as possible, and a
/// payload above `max_payload_len` fails before any of the payload arrives.
///
/// # Errors
/// [`WsError::ReservedBitsSet`], [`WsError::UnknownOpcode`],
/// [`WsError::FragmentedControlFrame`], [`WsError::UnmaskedFrame`] (for [`Role::Server`]),
/// [`WsError::MaskedFrame`] (for [`Role::Client`]), [`WsError::ControlFrameTooLong`],
/// [`WsError::NonMinimalLength`], [`WsError::PayloadLengthMsbSet`] and
/// [`WsError::MessageTooBig`].
pub fn parse_frame_header(
    buf: &[u8],
    role: Role,
    max_payload_len: u64,
) -> Result<Option<FrameHeader>, WsError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let (fin, opcode) = parse_first_byte(first)?;
    let Some(&second) = buf.get(1) else {
        return Ok(None);
    };
    let masked = parse_mask_bit(second, role)?;
    let Some((payload_len, len_bytes)) = parse_payload_len(buf, second & LEN7_BITS)? else {
        return Ok(None);
    };
    check_payload_len(opcode, payload_len, max_payload_len)?;

    let mask_offset = 2 + len_bytes;
    let mask = if masked {
        let Some(key) = buf.get(mask_offset..mask_offset + 4) else {
            return Ok(None);
        };
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    let header_len = mask_offset + if masked { 4 } else { 0 };
    Ok(Some(FrameHeader {
        fin,
        opcode,
        mask,
        payload_len,
        header_len,
    }))
}

fn parse_first_byte(first: u8) -> Result<(bool, OpCode), WsError> {
    let rsv = first & RSV_BITS;
    if rsv != 0 {
        return Err(WsError::ReservedBitsSet { bits: rsv >> 4 });
    }
    let fin = first & FIN_BIT != 0;
    let opcode = OpCode::from_bits(first & OPCODE_BITS)?;
    if opcode.is_control() && !fin {
        return Err(WsError::FragmentedControlFrame { opcode });
    }
    Ok((fin, opcode))
}

fn parse_mask_bit(second: u8, role: Role) -> Result<bool, WsError> {
    let masked = second & MASK_BIT != 0;
    match (role.expects_masked_frames(), masked) {
        (true, false) => Err(WsError::UnmaskedFrame),
        (false, true) => Err(WsError::MaskedFrame),
        _ => Ok(masked),
    }
}

/// Decodes the 7-bit length field and any extended length that follows it, returning the length
/// and the number of extended-length bytes.
fn parse_payload_len(buf: &[u8], len7: u8) -> Result<Option<(u64, usize)>, WsError> {
    match len7 {
        LEN7_MARKER_16 => {
            let Some(bytes) = buf.get(2..4) else {
                return Ok(None);
            };
            let len = u64::from(u16::from_be_bytes([bytes[0], bytes[1]]));
            if len <= LEN7_MAX {
                return Err(WsError::NonMinimalLength {
                    len,
                    encoded_bytes: 2,
                });
            }
            Ok(Some((len, 2)))
        }
        LEN7_MARKER_64 => {
            let Some(bytes) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(bytes);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 {
                return Err(WsError::PayloadLengthMsbSet { len });
            }
            if len <= u64::from(u16::MAX) {
                return Err(WsError::NonMinimalLength {
                    len,
                    encoded_bytes: 8,
                });
            }
            Ok(Some((len, 8)))
        }
        short => Ok(Some((u64::from(short), 0))),
    }
}

fn check_payload_len(opcode: OpCode, len: u64, max_payload_len: u64) -> Result<(), WsError> {
    if opcode.is_control() && len > MAX_CONTROL_PAYLOAD_LEN as u64 {
        return Err(WsError::ControlFrameTooLong { opcode, len });
    }
    if len > max_payload_len {
        return Err(WsError::MessageTooBig {
            len,
            max: max_payload_len,
        });
    }
    Ok(())
}

/// Returns the header size for a payload of `payload_len` bytes.
pub fn header_len(payload_len: u64, masked: bool) -> usize {
    let len_bytes = match payload_len {
        0..=LEN7_MAX => 0,
        126..=0xFFFF => 2,
        _ => 8,
    };
    2 + len_bytes + if masked { 4 } else { 0 }
}

/// Appends a frame header to `out`, with the minimal length encoding.
///
/// Does not check control-frame rules, so it can also build invalid frames for tests.
///
/// # Panics
/// If `payload_len` has its most significant bit set, which no frame may announce.
pub fn encode_frame_header(
    out: &mut BytesMut,
    fin: bool,
    opcode: OpCode,
    payload_len: u64,
    mask: Option<[u8; 4]>,
) {
    assert!(
        payload_len >> 63 == 0,
        "payload length {payload_len:#x} has its most significant bit set"
    );
    out.reserve(header_len(payload_len, mask.is_some()));
    let fin_bit = if fin { FIN_BIT } else { 0 };
    out.put_u8(fin_bit | opcode.bits());

    let mask_bit = if mask.is_some() { MASK_BIT } else { 0 };
    match payload_len {
        0..=LEN7_MAX => out.put_u8(mask_bit | payload_len as u8),
        126..=0xFFFF => {
            out.put_u8(mask_bit | LEN7_MARKER_16);
            out.put_u16(payload_len as u16);
        }
        _ => {
            out.put_u8(mask_bit | LEN7_MARKER_64);
            out.put_u64(payload_len);
        }
    }
    if let Some(key) = mask {
        out.put_slice(&key);
    }
}

/// Appends an unmasked frame, as a server sends it, to `out`.
pub fn encode_frame(out: &mut BytesMut, fin: bool, opcode: OpCode, payload: &[u8]) {
    encode_frame_header(out, fin, opcode, payload.len() as u64, None);
    out.extend_from_slice(payload);
}

/// Appends a frame masked with `mask`, as a client sends it, to `out`.
pub fn encode_masked_frame(
    out: &mut BytesMut,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: [u8; 4],
) {
    encode_frame_header(out, fin, opcode, payload.len() as u64, Some(mask));
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// Encodes a complete unmasked binary message as one frame.
///
/// Encode a broadcast once and clone the returned [`Bytes`] into every recipient's write queue:
/// each clone shares the one buffer.
pub fn encode_binary(payload: &[u8]) -> Bytes {
    encode_unfragmented(OpCode::Binary, payload)
}

/// Encodes a complete unmasked text message as one frame.
pub fn encode_text(text: &str) -> Bytes {
    encode_unfragmented(OpCode::Text, text.as_bytes())
}

pub(crate) fn encode_unfragmented(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(header_len(payload.len() as u64, false) + payload.len());
    encode_frame(&mut out, true, opcode, payload);
    out.freeze()
}

/// Masks or unmasks `data` in place with `mask` (RFC 6455 section 5.3), where `data[0]` is the
/// first payload byte.
///
/// XORs 8 bytes at a time with a repeated 64-bit mask, which the compiler can vectorize, and
/// finishes the last 0-7 bytes one at a time.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    // Native byte order keeps memory byte i of the word paired with mask[i % 4].
    let mask_word = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let masked = u64::from_ne_bytes(word) ^ mask_word;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so its mask phase is 0 again.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    const NO_LIMIT: u64 = u64::MAX >> 1;

    fn parse_server(bytes: &[u8]) -> Result<Option<FrameHeader>, WsError> {
        parse_frame_header(bytes, Role::Server, NO_LIMIT)
    }

    fn masked_header(fin: bool, opcode: OpCode, len: u64) -> BytesMut {
        let mut out = BytesMut::new();
        encode_frame_header(&mut out, fin, opcode, len, Some(MASK));
        out
    }

    #[test]
    fn parse_rfc_masked_hello() {
        // Example from RFC 6455 section 5.7: a masked "Hello" text frame.
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let header = parse_server(&frame).unwrap().unwrap();
        assert!(header.fin);
        assert_eq!(header.opcode, OpCode::Text);
        assert_eq!(header.mask, Some(MASK));
        assert_eq!(header.payload_len, 5);
        assert_eq!(header.header_len, 6);

        let mut payload = frame[6..].to_vec();
        apply_mask(&mut payload, MASK);
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn parse_needs_more_until_complete() {
        let header = masked_header(true, OpCode::Binary, 70_000);
        assert_eq!(header.len(), 14);
        for end in 0..header.len() {
            assert_eq!(parse_server(&header[..end]), Ok(None), "prefix of {end}");
        }
        let parsed = parse_server(&header).unwrap().unwrap();
        assert_eq!(parsed.payload_len, 70_000);
        assert_eq!(parsed.header_len, 14);
    }

    #[test]
    fn parse_rejects_unmasked_client_frame() {
        let mut out = BytesMut::new();
        encode_frame_header(&mut out, true, OpCode::Binary, 3, None);
        assert_eq!(parse_server(&out), Err(WsError::UnmaskedFrame));
    }

    #[test]
    fn parse_rejects_masked_server_frame() {
        let header = masked_header(true, OpCode::Binary, 3);
        let parsed = parse_frame_header(&header, Role::Client, NO_LIMIT);
        assert_eq!(parsed, Err(WsError::MaskedFrame));
    }

    #[test]
    fn parse_client_role_accepts_unmasked() {
        let mut out = BytesMut::new();
        encode_frame_header(&mut out, false, OpCode::Text, 300, None);
        let parsed = parse_frame_header(&out, Role::Client, NO_LIMIT)
            .unwrap()
            .unwrap();
        assert!(!parsed.fin);
        assert_eq!(parsed.mask, None);
        assert_eq!(parsed.payload_len, 300);
        assert_eq!(parsed.header_len, 4);
    }

    #[test]
    fn parse_rejects_each_reserved_bit() {
        for (bit, expected) in [(0x40, 0b100), (0x20, 0b010), (0x10, 0b001)] {
            let frame = [0x82 | bit, 0x80];
            assert_eq!(
                parse_server(&frame),
                Err(WsError::ReservedBitsSet { bits: expected }),
                "bit {bit:#x}"
            );
        }
    }

    #[test]
    fn parse_rejects_reserved_opcodes() {
        for opcode in (0x3..=0x7).chain(0xB..=0xF) {
            let frame = [0x80 | opcode];
            assert_eq!(
                parse_server(&frame),
                Err(WsError::UnknownOpcode { opcode }),
                "opcode {opcode:#x}"
            );
        }
    }

    #[test]
    fn parse_rejects_fragmented_control() {
        for opcode in [OpCode::Close, OpCode::Ping, OpCode::Pong] {
            let header = masked_header(false, opcode, 0);
            assert_eq!(
                parse_server(&header),
                Err(WsError::FragmentedControlFrame { opcode })
            );
        }
    }

    #[test]
    fn parse_rejects_long_control() {
        let header = masked_header(true, OpCode::Ping, 126);
        let expected = Err(WsError::ControlFrameTooLong {
            opcode: OpCode::Ping,
            len: 126,
        });
        assert_eq!(parse_server(&header), expected);
    }

    #[test]
    fn parse_accepts_control_of_125() {
        let header = masked_header(true, OpCode::Pong, 125);
        let parsed = parse_server(&header).unwrap().unwrap();
        assert_eq!(parsed.payload_len, 125);
    }

    #[test]
    fn parse_rejects_length_msb_set() {
        let mut frame = vec![0x82, 0x80 | LEN7_MARKER_64];
        frame.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
        assert_eq!(
            parse_server(&frame),
            Err(WsError::PayloadLengthMsbSet { len: 1 << 63 | 5 })
        );
    }

    #[test]
    fn parse_rejects_non_minimal_lengths() {
        let mut frame16 = vec![0x82, 0x80 | LEN7_MARKER_16];
        frame16.extend_from_slice(&125u16.to_be_bytes());
        assert_eq!(
            parse_server(&frame16),
            Err(WsError::NonMinimalLength {
                len: 125,
                encoded_bytes: 2
            })
        );

        let mut frame64 = vec![0x82, 0x80 | LEN7_MARKER_64];
        frame64.extend_from_slice(&0xFFFFu64.to_be_bytes());
        assert_eq!(
            parse_server(&frame64),
            Err(WsError::NonMinimalLength {
                len: 0xFFFF,
                encoded_bytes: 8
            })
        );
    }

    #[test]
    fn parse_rejects_oversized_before_mask() {
        // Only 2 fixed bytes and the 64-bit length are present: no mask key and no payload.
        let header = masked_header(true, OpCode::Binary, 1 << 40);
        let parsed = parse_frame_header(&header[..10], Role::Server, 1024);
        assert_eq!(
            parsed,
            Err(WsError::MessageTooBig {
                len: 1 << 40,
                max: 1024
            })
        );
    }

    #[test]
    fn parse_accepts_payload_at_limit() {
        let header = masked_header(true, OpCode::Binary, 1024);
        let parsed = parse_frame_header(&header, Role::Server, 1024).unwrap();
        assert_eq!(parsed.map(|h| h.payload_len), Some(1024));
    }

    #[test]
    fn header_len_matches_encoding() {
        for len in [0, 125, 126, 0xFFFF, 0x1_0000, 1 << 40] {
            for mask in [None, Some(MASK)] {
                let mut out = BytesMut::new();
                encode_frame_header(&mut out, true, OpCode::Binary, len, mask);
                assert_eq!(header_len(len, mask.is_some()), out.len(), "len {len}");
            }
        }
    }

    #[test]
    fn encode_binary_is_server_frame() {
        let frame = encode_binary(b"abc");
        assert_eq!(&frame[..], &[0x82, 0x03, b'a', b'b', b'c']);
    }

    #[test]
    fn encode_text_is_server_frame() {
        let frame = encode_text("hé");
        assert_eq!(&frame[..], &[0x81, 0x03, b'h', 0xc3, 0xa9]);
    }

    #[test]
    #[should_panic(expected = "most significant bit")]
    fn encode_rejects_length_msb() {
        encode_frame_header(&mut BytesMut::new(), true, OpCode::Binary, 1 << 63, None);
    }

    fn naive_mask(data: &mut [u8], mask: [u8; 4]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }

    proptest! {
        #[test]
        fn mask_matches_naive_xor(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            offset in 0usize..16,
            mask in any::<[u8; 4]>(),
        ) {
            // The offset moves the slice start, so the 8-byte loads hit every alignment.
            let offset = offset.min(data.len());
            let mut fast = data.clone();
            let mut naive = data.clone();
            apply_mask(&mut fast[offset..], mask);
            naive_mask(&mut naive[offset..], mask);
            prop_assert_eq!(fast, naive);
        }

        #[test]
        fn header_round_trip(
            fin in any::<bool>(),
            opcode in prop_oneof![Just(OpCode::Continuation), Just(OpCode::Text), Just(OpCode::Binary)],
            len in prop_oneof![0u64..=200, 60_000u64..=70_000, 0u64..(1 << 63)],
            mask in proptest::option::of(any::<[u8; 4]>()),
        ) {
            let mut out = BytesMut::new();
            encode_frame_header(&mut out, fin, opcode, len, mask);
            let role = if mask.is_some() { Role::Server } else { Role::Client };
            let parsed = parse_frame_header(&out, role, NO_LIMIT).unwrap().unwrap();
            prop_assert_eq!(parsed, FrameHeader { fin, opcode, mask, payload_len: len, header_len: out.len() });
        }
    }
}
