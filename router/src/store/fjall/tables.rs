//! The fjall keyspaces of the store, one per table of the data model, and the `meta` rows that
//! persist the id counters and the message bucket size.

use ::fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch};

use super::keys::decode_u64;
use super::{backend_error, commit_durably};
use crate::store::{StoreError, StoreResult};

/// `meta` key of the next user id to allocate.
pub(super) const NEXT_USER_ID: &[u8] = b"next_user_id";
/// `meta` key of the next conversation id to allocate.
pub(super) const NEXT_CONVERSATION_ID: &[u8] = b"next_conversation_id";
/// `meta` key of the bucket size the `messages` keys were written with.
const MESSAGE_BUCKET_SIZE_KEY: &[u8] = b"message_bucket_size";

/// Handles to the keyspaces of the store.
pub(super) struct Tables {
    /// `user_id -> User`.
    pub users: Keyspace,
    /// `username -> user_id`.
    pub usernames: Keyspace,
    /// `conversation_id -> Conversation`.
    pub conversations: Keyspace,
    /// `(conversation_id, user_id) -> Member`.
    pub members_by_conversation: Keyspace,
    /// `(user_id, conversation_id) -> JoinedRow`.
    pub conversations_by_user: Keyspace,
    /// `(conversation_id, bucket, seq) -> StoredMessage`.
    pub messages: Keyspace,
    /// `message_id -> MessageRef`.
    pub message_ids: Keyspace,
    /// Counters and settings, keyed by name.
    pub meta: Keyspace,
}

impl Tables {
    /// Opens every keyspace of the store, creating the missing ones.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when fjall fails to open a keyspace.
    pub fn open(db: &Database) -> StoreResult<Tables> {
        let open = |name: &str| {
            db.keyspace(name, KeyspaceCreateOptions::default)
                .map_err(|error| backend_error(&format!("opening keyspace {name}"), error))
        };
        Ok(Tables {
            users: open("users")?,
            usernames: open("usernames")?,
            conversations: open("conversations")?,
            members_by_conversation: open("members_by_conversation")?,
            conversations_by_user: open("conversations_by_user")?,
            messages: open("messages")?,
            message_ids: open("message_ids")?,
            meta: open("meta")?,
        })
    }

    /// Reads a `meta` counter, or returns `default` when the store has never written it.
    ///
    /// # Errors
    /// [`StoreError::Backend`] on a read failure or a malformed row.
    pub fn read_counter(&self, key: &[u8], default: u64) -> StoreResult<u64> {
        let value = self
            .meta
            .get(key)
            .map_err(|error| backend_error("reading meta", error))?;
        match value {
            Some(value) => decode_u64("meta", key, &value),
            None => Ok(default),
        }
    }

    /// Returns the bucket size of the `messages` keys: the stored one, or `requested` after
    /// storing it durably when the store is new.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the stored size differs from `requested`, because keys
    /// written with one bucket size cannot be found with another.
    pub fn settle_bucket_size(&self, db: &Database, requested: u64) -> StoreResult<u64> {
        let stored = self.read_counter(MESSAGE_BUCKET_SIZE_KEY, 0)?;
        if stored == requested {
            return Ok(stored);
        }
        if stored != 0 {
            return Err(StoreError::Backend(format!(
                "the store was written with message bucket size {stored}, but was opened with \
                 {requested}. Open it with message_bucket_size {stored}."
            )));
        }

        let mut batch: OwnedWriteBatch = db.batch();
        batch.insert(&self.meta, MESSAGE_BUCKET_SIZE_KEY, requested.to_be_bytes());
        commit_durably(batch, "storing the message bucket size")?;
        Ok(requested)
    }
}
