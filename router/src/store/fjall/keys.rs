//! Key encoding of the fjall tables. Every id is written big-endian, so the byte order of a key
//! is the numeric order of its fields and a range scan over a key prefix walks rows in id order.

use crate::store::{ConversationId, Seq, StoreError, StoreResult, UserId};

/// Maximum length of a fjall key, in bytes. fjall panics on longer or empty keys.
pub(super) const MAX_KEY_BYTES: usize = u16::MAX as usize;

/// Key of the `users` and `conversations_by_user` prefix: the user id.
pub(super) fn user_key(user_id: UserId) -> [u8; 8] {
    user_id.to_be_bytes()
}

/// Key of the `conversations` table and of the per-conversation prefixes.
pub(super) fn conversation_key(conversation_id: ConversationId) -> [u8; 8] {
    conversation_id.to_be_bytes()
}

/// Key of `members_by_conversation`: `(conversation_id, user_id)`.
pub(super) fn member_key(conversation_id: ConversationId, user_id: UserId) -> [u8; 16] {
    concat_u64(conversation_id, user_id)
}

/// Key of `conversations_by_user`: `(user_id, conversation_id)`.
pub(super) fn user_conversation_key(user_id: UserId, conversation_id: ConversationId) -> [u8; 16] {
    concat_u64(user_id, conversation_id)
}

/// Key of `messages`: `(conversation_id, seq / bucket_size, seq)`.
///
/// The bucket is a function of the seq, so for one bucket size the key order within a
/// conversation is the seq order, and one range scan crosses bucket boundaries.
pub(super) fn message_key(conversation_id: ConversationId, seq: Seq, bucket_size: u64) -> [u8; 24] {
    let mut key = [0; 24];
    key[..8].copy_from_slice(&conversation_id.to_be_bytes());
    key[8..16].copy_from_slice(&(seq / bucket_size).to_be_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Greatest possible `messages` key of a conversation, an inclusive upper scan bound.
pub(super) fn last_message_key(conversation_id: ConversationId) -> [u8; 24] {
    let mut key = [0xff; 24];
    key[..8].copy_from_slice(&conversation_id.to_be_bytes());
    key
}

/// Reads the second id of a 16-byte compound key, such as the conversation id of a
/// `conversations_by_user` key.
///
/// # Errors
/// [`StoreError::Backend`] when `key` is not 16 bytes long.
pub(super) fn second_id(table: &str, key: &[u8]) -> StoreResult<u64> {
    match <[u8; 16]>::try_from(key) {
        Ok(bytes) => Ok(u64::from_be_bytes(id_bytes(&bytes[8..]))),
        Err(_) => Err(StoreError::Backend(format!(
            "{table} key {} is {} bytes long, expected 16. The data directory is corrupt.",
            hex(key),
            key.len()
        ))),
    }
}

/// Decodes a big-endian u64 value, such as a `usernames` row or an id counter.
///
/// # Errors
/// [`StoreError::Backend`] when `value` is not 8 bytes long.
pub(super) fn decode_u64(table: &str, key: &[u8], value: &[u8]) -> StoreResult<u64> {
    match <[u8; 8]>::try_from(value) {
        Ok(bytes) => Ok(u64::from_be_bytes(bytes)),
        Err(_) => Err(StoreError::Backend(format!(
            "{table} row {} holds {} bytes, expected an 8-byte big-endian integer. The data \
             directory is corrupt.",
            hex(key),
            value.len()
        ))),
    }
}

/// Checks that a caller-supplied string fits fjall's key length of 1 to 65535 bytes.
///
/// # Errors
/// [`StoreError::Backend`] naming `field` and the length when it does not.
pub(super) fn check_string_key(field: &str, value: &str) -> StoreResult<()> {
    if is_valid_string_key(value) {
        return Ok(());
    }
    // NOTE: StoreError has no variant for invalid input, so this caller error is reported as
    // a backend error although a retry cannot succeed.
    Err(StoreError::Backend(format!(
        "{field} is {} bytes long, but the embedded store accepts 1 to {MAX_KEY_BYTES} bytes. \
         Use a non-empty, shorter {field}.",
        value.len()
    )))
}

/// Returns whether `value` can be a fjall key. A string that cannot be a key is never stored.
pub(super) fn is_valid_string_key(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_KEY_BYTES
}

/// Formats bytes as lowercase hex for error messages.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn concat_u64(first: u64, second: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&first.to_be_bytes());
    key[8..].copy_from_slice(&second.to_be_bytes());
    key
}

fn id_bytes(slice: &[u8]) -> [u8; 8] {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(slice);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn message_keys_sort_by_conversation_then_seq(
            a in (0u64..4, any::<u64>()),
            b in (0u64..4, any::<u64>()),
            bucket_size in 1u64..20_000,
        ) {
            let key_a = message_key(a.0, a.1, bucket_size);
            let key_b = message_key(b.0, b.1, bucket_size);
            prop_assert_eq!(key_a.cmp(&key_b), a.cmp(&b));
            prop_assert!(key_a <= last_message_key(a.0));
        }

        #[test]
        fn member_keys_sort_by_conversation_then_user(
            a in (any::<u64>(), any::<u64>()),
            b in (any::<u64>(), any::<u64>()),
        ) {
            prop_assert_eq!(member_key(a.0, a.1).cmp(&member_key(b.0, b.1)), a.cmp(&b));
        }
    }

    #[test]
    fn second_id_reads_conversation_of_user_key() {
        let key = user_conversation_key(7, 0x0102_0304_0506_0708);
        assert_eq!(
            second_id("conversations_by_user", &key).unwrap(),
            0x0102_0304_0506_0708
        );
    }

    #[test]
    fn second_id_rejects_short_key() {
        let error = second_id("conversations_by_user", &[1, 2, 3]).unwrap_err();
        assert!(error.to_string().contains("010203"), "{error}");
    }

    #[test]
    fn string_key_length_limits() {
        assert!(check_string_key("username", "").is_err());
        assert!(check_string_key("username", "a").is_ok());
        assert!(check_string_key("username", &"a".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(check_string_key("username", &"a".repeat(MAX_KEY_BYTES + 1)).is_err());
    }
}
