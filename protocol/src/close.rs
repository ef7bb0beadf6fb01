//! WebSocket close codes that switchboard sends, with their meaning to a client.

/// A close code from RFC 6455 section 7.4, or one of switchboard's 4000-range codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CloseCode {
    /// The session ended normally.
    Normal = 1000,
    /// The server is draining; reconnect, possibly to another gateway.
    GoingAway = 1001,
    /// The peer broke RFC 6455: unmasked client frame, bad opcode, reserved bits, bad
    /// fragmentation or an invalid close frame.
    ProtocolError = 1002,
    /// A text frame with valid UTF-8; the protocol runs on binary messages only.
    UnsupportedData = 1003,
    /// A text frame or close reason with invalid UTF-8.
    InvalidPayload = 1007,
    /// Authentication failed or was not done in time.
    PolicyViolation = 1008,
    /// A message exceeded the maximum message size.
    MessageTooBig = 1009,
    /// The server hit an internal error.
    InternalError = 1011,
    /// No frame arrived within the idle timeout; reconnect and resync.
    IdleTimeout = 4000,
    /// The client read too slowly and its send queue filled; reconnect and resync.
    SlowConsumer = 4001,
}

impl CloseCode {
    /// Returns the numeric code sent on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// Maps a received code to a known variant.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::all()
            .iter()
            .copied()
            .find(|known| known.code() == code)
    }

    /// Returns every code, in numeric order.
    pub fn all() -> &'static [CloseCode] {
        use CloseCode::*;
        &[
            Normal,
            GoingAway,
            ProtocolError,
            UnsupportedData,
            InvalidPayload,
            PolicyViolation,
            MessageTooBig,
            InternalError,
            IdleTimeout,
            SlowConsumer,
        ]
    }

    /// Checks whether a peer may send `code` in a close frame (RFC 6455 section 7.4.2).
    pub fn is_valid_received(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in CloseCode::all() {
            assert_eq!(CloseCode::from_code(code.code()), Some(*code));
        }
    }

    #[test]
    fn reserved_codes_invalid() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert!(!CloseCode::is_valid_received(code), "{code}");
        }
        for code in [1000, 1001, 1011, 3000, 4001] {
            assert!(CloseCode::is_valid_received(code), "{code}");
        }
    }
}
