//! Content of chat messages sent by the tool: a marker, the send time in unix nanoseconds
//! and a sender tag, padded to the requested size, so any receiver can compute the
//! send-to-deliver latency.

use crate::scenario::session::Identity;

/// Marker at the start of every message the tool sends.
const MARKER: &str = "lg1 t";

/// Smallest content size: the marker, a 20-digit timestamp and the longest sender tag.
pub const MIN_CONTENT_BYTES: usize = 80;

/// Builds the content of message `counter` from `sender`, sent at `sent_unix_ns`, padded
/// with `x` to `size` bytes.
pub fn compose(sender: Identity, counter: u64, sent_unix_ns: u64, size: usize) -> String {
    let mut text = format!(
        "{MARKER}{sent_unix_ns} u{}d{}n{counter} ",
        sender.user_id, sender.device
    );
    let padding = size.saturating_sub(text.len());
    text.extend(std::iter::repeat_n('x', padding));
    text
}

/// Returns the send time of a message composed by [`compose`], or `None` for other
/// content.
pub fn sent_unix_ns(content: &str) -> Option<u64> {
    let rest = content.strip_prefix(MARKER)?;
    let end = rest.find(' ')?;
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_content_has_size_and_timestamp() {
        let sender = Identity {
            user_id: 17,
            device: 1,
        };
        let text = compose(sender, 42, 1_700_000_000_123_456_789, 128);
        assert_eq!(text.len(), 128);
        assert!(text.contains(" u17d1n42 "));
        assert_eq!(sent_unix_ns(&text), Some(1_700_000_000_123_456_789));
    }

    #[test]
    fn longest_header_fits_minimum() {
        let sender = Identity {
            user_id: u64::MAX,
            device: u8::MAX,
        };
        let text = compose(sender, u64::MAX, u64::MAX, MIN_CONTENT_BYTES);
        assert_eq!(text.len(), MIN_CONTENT_BYTES);
    }

    #[test]
    fn foreign_content_ignored() {
        assert_eq!(sent_unix_ns("hello bob"), None);
        assert_eq!(sent_unix_ns("lg1 tnot-a-number x"), None);
    }
}
