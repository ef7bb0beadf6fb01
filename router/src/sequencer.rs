//! Per-conversation seq allocation and batch assembly for group commit, as plain types.
//!
//! The router's commit task feeds a [`BatchBuilder`] with the sends it drained from its
//! queue. The builder resolves in-batch duplicates and hands out seqs from a
//! [`SeqAllocator`], which must be the only writer of the conversations it serves.

use std::collections::HashMap;

use crate::store::{ConversationId, MessageRef, Seq, StoredMessage};

/// Last allocated seq per conversation, loaded from the store on first use.
#[derive(Debug, Default)]
pub struct SeqAllocator {
    last_seq: HashMap<ConversationId, Seq>,
}

impl SeqAllocator {
    /// Checks whether the conversation's last seq is cached.
    pub fn is_loaded(&self, conversation_id: ConversationId) -> bool {
        self.last_seq.contains_key(&conversation_id)
    }

    /// Caches the stored last seq of a conversation.
    pub fn load(&mut self, conversation_id: ConversationId, last_seq: Seq) {
        self.last_seq.insert(conversation_id, last_seq);
    }

    /// Allocates the next seq of a loaded conversation.
    ///
    /// # Panics
    /// When the conversation was not loaded; callers load it first.
    pub fn allocate(&mut self, conversation_id: ConversationId) -> Seq {
        let last = self
            .last_seq
            .get_mut(&conversation_id)
            .expect("conversation seq must be loaded before allocation");
        *last += 1;
        *last
    }

    /// Drops a cached last seq, so the next use reloads it from the store. Called when a
    /// commit fails and the allocated seqs were never written.
    pub fn forget(&mut self, conversation_id: ConversationId) {
        self.last_seq.remove(&conversation_id);
    }
}

/// Outcome of one send in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// A new message at this index of [`BatchBuilder::messages`].
    New(usize),
    /// The message id was already stored.
    Stored(MessageRef),
    /// The message id appeared earlier in the same batch, at this index.
    SameBatch(usize),
}

/// Assembles one group commit.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    messages: Vec<StoredMessage>,
    index_by_id: HashMap<String, usize>,
}

impl BatchBuilder {
    /// Adds a send whose id is not in the store, allocating its seq unless the same id is
    /// already in this batch. `message.seq` is ignored and overwritten.
    pub fn push(
        &mut self,
        allocator: &mut SeqAllocator,
        mut message: StoredMessage,
    ) -> SendOutcome {
        if let Some(index) = self.index_by_id.get(&message.message_id) {
            return SendOutcome::SameBatch(*index);
        }

        message.seq = allocator.allocate(message.conversation_id);
        let index = self.messages.len();
        self.index_by_id.insert(message.message_id.clone(), index);
        self.messages.push(message);
        SendOutcome::New(index)
    }

    /// Looks up a message of this batch by its id.
    pub fn get(&self, message_id: &str) -> Option<&StoredMessage> {
        self.index_by_id
            .get(message_id)
            .map(|index| &self.messages[*index])
    }

    /// Returns the messages to write, in allocation order.
    pub fn messages(&self) -> &[StoredMessage] {
        &self.messages
    }

    /// Returns the conversations that the batch writes to.
    pub fn conversations(&self) -> Vec<ConversationId> {
        let mut ids: Vec<ConversationId> =
            self.messages.iter().map(|m| m.conversation_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(conversation_id: ConversationId, message_id: &str) -> StoredMessage {
        StoredMessage {
            conversation_id,
            seq: 0,
            message_id: message_id.to_string(),
            sender_id: 1,
            content: "hi".to_string(),
            message_type: 0,
            created_at_ms: 0,
        }
    }

    #[test]
    fn seqs_follow_stored_last_per_conversation() {
        let mut allocator = SeqAllocator::default();
        allocator.load(7, 41);
        allocator.load(8, 0);
        let mut batch = BatchBuilder::default();
        batch.push(&mut allocator, message(7, "a"));
        batch.push(&mut allocator, message(8, "b"));
        batch.push(&mut allocator, message(7, "c"));
        let seqs: Vec<(u64, u64)> = batch
            .messages()
            .iter()
            .map(|m| (m.conversation_id, m.seq))
            .collect();
        assert_eq!(seqs, vec![(7, 42), (8, 1), (7, 43)]);
        assert_eq!(batch.conversations(), vec![7, 8]);
    }

    #[test]
    fn duplicate_in_batch_allocates_nothing() {
        let mut allocator = SeqAllocator::default();
        allocator.load(7, 0);
        let mut batch = BatchBuilder::default();
        assert_eq!(
            batch.push(&mut allocator, message(7, "a")),
            SendOutcome::New(0)
        );
        assert_eq!(
            batch.push(&mut allocator, message(7, "a")),
            SendOutcome::SameBatch(0)
        );
        assert_eq!(batch.messages().len(), 1);
        assert_eq!(allocator.allocate(7), 2);
    }

    #[test]
    fn forget_forces_reload() {
        let mut allocator = SeqAllocator::default();
        allocator.load(7, 3);
        allocator.allocate(7);
        allocator.forget(7);
        assert!(!allocator.is_loaded(7));
    }
}
