//! Messages: the bucketed `messages` table, the `message_ids` index and the group-commit
//! append that also advances each conversation row.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::ops::Bound;

use ::fjall::Snapshot;

use super::keys::{
    check_string_key, conversation_key, is_valid_string_key, last_message_key, member_key,
    message_key,
};
use super::values::{decode, encode};
use super::{backend_error, commit_durably, Inner};
use crate::store::{
    Conversation, ConversationId, Direction, MessageRef, Seq, StoreError, StoreResult,
    StoredMessage, UserId,
};

/// Bounds of a range scan over `messages` keys.
type MessageKeyRange = (Bound<[u8; 24]>, Bound<[u8; 24]>);

/// A conversation row being advanced by a batch, with the index of its newest message.
struct PendingConversation {
    row: Conversation,
    newest: usize,
}

impl Inner {
    /// Writes all messages of `batch`, their `message_ids` rows and one updated row per
    /// conversation in one atomic, synced commit.
    ///
    /// NOTE: an existing `message_ids` row with the same id is overwritten, so callers
    /// deduplicate with `message_by_id` before allocating a seq.
    ///
    /// # Errors
    /// [`StoreError::SeqConflict`] when a seq is not one above the conversation's last seq
    /// (stored or earlier in the batch), [`StoreError::ConversationNotFound`], or
    /// [`StoreError::Backend`] for an empty or oversized message id. Nothing is written then.
    pub(super) fn append_messages(&self, batch: &[StoredMessage]) -> StoreResult<()> {
        let _writer = self.lock_writer();
        let snapshot = self.db.snapshot();
        let mut pending: BTreeMap<ConversationId, PendingConversation> = BTreeMap::new();
        let mut write = self.db.batch();

        for (index, message) in batch.iter().enumerate() {
            check_string_key("message id", &message.message_id)?;
            let conversation = self.pending_conversation(&snapshot, &mut pending, message)?;
            advance(conversation, index, message)?;
            self.insert_message_rows(&mut write, message)?;
        }

        self.mark_senders_read(&snapshot, &mut write, batch)?;
        for (conversation_id, conversation) in pending {
            let PendingConversation { mut row, newest } = conversation;
            row.last_message = Some(batch[newest].clone());
            write.insert(
                &self.tables.conversations,
                conversation_key(conversation_id),
                encode("conversations", &row)?,
            );
        }
        commit_durably(write, "append_messages")
    }

    /// Raises each sender's read marker to its newest message in the batch, so a user's own
    /// messages never count as unread.
    fn mark_senders_read(
        &self,
        snapshot: &Snapshot,
        write: &mut ::fjall::OwnedWriteBatch,
        batch: &[StoredMessage],
    ) -> StoreResult<()> {
        let mut newest: BTreeMap<(ConversationId, UserId), Seq> = BTreeMap::new();
        for message in batch {
            let seq = newest
                .entry((message.conversation_id, message.sender_id))
                .or_default();
            *seq = (*seq).max(message.seq);
        }

        for ((conversation_id, user_id), seq) in newest {
            let Some(mut member) = self.read_member(snapshot, conversation_id, user_id)? else {
                continue;
            };
            if member.last_read_seq < seq {
                member.last_read_seq = seq;
                write.insert(
                    &self.tables.members_by_conversation,
                    member_key(conversation_id, user_id),
                    encode("members_by_conversation", &member)?,
                );
            }
        }
        Ok(())
    }

    /// Looks a message id up in the `message_ids` index.
    pub(super) fn message_by_id(&self, message_id: &str) -> StoreResult<Option<MessageRef>> {
        if !is_valid_string_key(message_id) {
            return Ok(None);
        }
        let value = self
            .tables
            .message_ids
            .get(message_id)
            .map_err(|error| backend_error("reading message_ids", error))?;
        value
            .map(|value| decode("message_ids", message_id.as_bytes(), &value))
            .transpose()
    }

    /// Reads up to `limit` messages strictly after (forward) or strictly before (backward)
    /// `cursor` with one range scan, which crosses bucket boundaries because keys sort by seq.
    /// A backward read with cursor 0 starts at the newest message.
    pub(super) fn messages(
        &self,
        conversation_id: ConversationId,
        cursor: Seq,
        limit: usize,
        direction: Direction,
    ) -> StoreResult<Vec<StoredMessage>> {
        let Some(range) = self.message_range(conversation_id, cursor, direction) else {
            return Ok(Vec::new());
        };
        let rows = self.tables.messages.range(range);
        let rows: Box<dyn Iterator<Item = ::fjall::Guard>> = match direction {
            Direction::Forward => Box::new(rows),
            Direction::Backward => Box::new(rows.rev()),
        };

        let mut messages = Vec::with_capacity(limit.min(1024));
        for row in rows.take(limit) {
            let (key, value) = row
                .into_inner()
                .map_err(|error| backend_error("scanning messages", error))?;
            messages.push(decode("messages", &key, &value)?);
        }
        Ok(messages)
    }

    /// Returns the key range of a read, or `None` when no seq can satisfy it.
    fn message_range(
        &self,
        conversation_id: ConversationId,
        cursor: Seq,
        direction: Direction,
    ) -> Option<MessageKeyRange> {
        let bucket_size = self.message_bucket_size;
        let last = Bound::Included(last_message_key(conversation_id));
        match direction {
            Direction::Forward => {
                let first = cursor.checked_add(1)?;
                let start = message_key(conversation_id, first, bucket_size);
                Some((Bound::Included(start), last))
            }
            Direction::Backward if cursor == 0 => {
                let start = message_key(conversation_id, 0, bucket_size);
                Some((Bound::Included(start), last))
            }
            Direction::Backward => {
                let start = message_key(conversation_id, 0, bucket_size);
                let end = message_key(conversation_id, cursor, bucket_size);
                Some((Bound::Included(start), Bound::Excluded(end)))
            }
        }
    }

    /// Returns the pending row of the message's conversation, read from `snapshot` on first
    /// use in the batch.
    fn pending_conversation<'a>(
        &self,
        snapshot: &Snapshot,
        pending: &'a mut BTreeMap<ConversationId, PendingConversation>,
        message: &StoredMessage,
    ) -> StoreResult<&'a mut PendingConversation> {
        let conversation_id = message.conversation_id;
        match pending.entry(conversation_id) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(entry) => {
                let row = self
                    .read_conversation(snapshot, conversation_id)?
                    .ok_or(StoreError::ConversationNotFound(conversation_id))?;
                Ok(entry.insert(PendingConversation { row, newest: 0 }))
            }
        }
    }

    fn insert_message_rows(
        &self,
        write: &mut ::fjall::OwnedWriteBatch,
        message: &StoredMessage,
    ) -> StoreResult<()> {
        let reference = MessageRef {
            conversation_id: message.conversation_id,
            seq: message.seq,
            created_at_ms: message.created_at_ms,
        };
        write.insert(
            &self.tables.messages,
            message_key(
                message.conversation_id,
                message.seq,
                self.message_bucket_size,
            ),
            encode("messages", message)?,
        );
        write.insert(
            &self.tables.message_ids,
            message.message_id.as_str(),
            encode("message_ids", &reference)?,
        );
        Ok(())
    }
}

/// Advances a pending conversation row past `message`, the batch entry at `index`.
///
/// # Errors
/// [`StoreError::SeqConflict`] when the message's seq is not exactly one above the row's
/// `last_seq`, which already counts earlier messages of the batch.
fn advance(
    conversation: &mut PendingConversation,
    index: usize,
    message: &StoredMessage,
) -> StoreResult<()> {
    let row = &mut conversation.row;
    if row.last_seq.checked_add(1) != Some(message.seq) {
        return Err(StoreError::SeqConflict {
            conversation_id: row.conversation_id,
            seq: message.seq,
            last_seq: row.last_seq,
        });
    }
    row.last_seq = message.seq;
    row.last_activity_ms = message.created_at_ms;
    conversation.newest = index;
    Ok(())
}
