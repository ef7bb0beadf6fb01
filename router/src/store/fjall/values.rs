//! Value encoding of the fjall tables: records as JSON, ids and counters as big-endian u64.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::keys::hex;
use crate::store::{StoreError, StoreResult};

/// Value of a `conversations_by_user` row: what the user's side of a membership records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct JoinedRow {
    pub joined_at_ms: i64,
}

/// Encodes a record as JSON.
///
/// # Errors
/// [`StoreError::Backend`] when serde_json rejects the record.
pub(super) fn encode<T: Serialize>(table: &str, record: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(record)
        .map_err(|error| StoreError::Backend(format!("encoding a {table} row failed: {error}")))
}

/// Decodes a JSON record read from `table` at `key`.
///
/// # Errors
/// [`StoreError::Backend`] naming the table and key when the bytes are not that record.
pub(super) fn decode<T: DeserializeOwned>(table: &str, key: &[u8], value: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(value).map_err(|error| {
        StoreError::Backend(format!(
            "{table} row {} is not a valid record: {error}. The data directory is corrupt or \
             was written by an incompatible version.",
            hex(key)
        ))
    })
}
