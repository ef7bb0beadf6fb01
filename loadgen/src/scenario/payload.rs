//! Payloads of the echo and broadcast scenarios: the first 8 bytes carry the send time as
//! big-endian unix nanoseconds (CLOCK_REALTIME, shared by every process on the machine),
//! the rest is filler.

/// Size of the timestamp at the start of each payload.
pub const STAMP_BYTES: usize = 8;

/// Builds a payload of `size` bytes (at least [`STAMP_BYTES`]) stamped with `sent_unix_ns`.
pub fn stamped(size: usize, sent_unix_ns: u64) -> Vec<u8> {
    let mut payload = vec![b'x'; size.max(STAMP_BYTES)];
    payload[..STAMP_BYTES].copy_from_slice(&sent_unix_ns.to_be_bytes());
    payload
}

/// Returns the send time stamped in `payload`, or `None` when it is too short.
pub fn sent_unix_ns(payload: &[u8]) -> Option<u64> {
    let stamp = payload.get(..STAMP_BYTES)?;
    Some(u64::from_be_bytes(stamp.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        let payload = stamped(64, 1_234_567_890_123);
        assert_eq!(payload.len(), 64);
        assert_eq!(sent_unix_ns(&payload), Some(1_234_567_890_123));
    }

    #[test]
    fn short_payload_has_no_stamp() {
        assert_eq!(sent_unix_ns(b"1234567"), None);
        assert_eq!(stamped(2, 5).len(), STAMP_BYTES);
    }
}
