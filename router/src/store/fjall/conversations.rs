//! Conversations: the `conversations` table, conversation creation with its initial members,
//! and the inbox, which is derived at read time from a user's memberships.

use std::collections::BTreeSet;

use ::fjall::{Readable, Snapshot};
use tracing::debug;

use super::keys::{conversation_key, member_key, second_id, user_conversation_key, user_key};
use super::tables::NEXT_CONVERSATION_ID;
use super::values::{decode, encode, JoinedRow};
use super::{backend_error, commit_durably, now_ms, Inner};
use crate::store::{
    Conversation, ConversationId, InboxEntry, Member, NewConversation, Role, StoreError,
    StoreResult, UserId,
};

impl Inner {
    /// Allocates the next conversation id and writes the conversation with a membership for
    /// `created_by` (as owner) and each other listed user (as member).
    ///
    /// # Errors
    /// [`StoreError::UserNotFound`] naming the first missing user. Nothing is written then.
    pub(super) fn create_conversation(&self, new: &NewConversation) -> StoreResult<Conversation> {
        let mut counters = self.lock_writer();

        let mut member_ids: BTreeSet<UserId> = new.members.iter().copied().collect();
        member_ids.insert(new.created_by);
        for &user_id in &member_ids {
            if !self.user_exists(user_id)? {
                return Err(StoreError::UserNotFound(user_id));
            }
        }

        let now = now_ms();
        let conversation = Conversation {
            conversation_id: counters.next_conversation_id,
            kind: new.kind,
            title: new.title.clone(),
            created_by: new.created_by,
            created_at_ms: now,
            last_seq: 0,
            last_activity_ms: now,
            last_message: None,
        };
        let conversation_id = conversation.conversation_id;
        let next_conversation_id = conversation_id + 1;

        let mut batch = self.db.batch();
        batch.insert(
            &self.tables.conversations,
            conversation_key(conversation_id),
            encode("conversations", &conversation)?,
        );
        for &user_id in &member_ids {
            let role = if user_id == new.created_by {
                Role::Owner
            } else {
                Role::Member
            };
            let member = Member {
                conversation_id,
                user_id,
                role,
                joined_at_ms: now,
                last_read_seq: 0,
                muted_until_ms: 0,
            };
            self.insert_member_rows(&mut batch, &member)?;
        }
        batch.insert(
            &self.tables.meta,
            NEXT_CONVERSATION_ID,
            next_conversation_id.to_be_bytes(),
        );
        commit_durably(batch, "create_conversation")?;

        counters.next_conversation_id = next_conversation_id;
        debug!(
            conversation_id,
            members = member_ids.len(),
            "created conversation"
        );
        Ok(conversation)
    }

    /// Reads a conversation row.
    pub(super) fn conversation(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        self.read_conversation(&self.db.snapshot(), conversation_id)
    }

    /// Lists the conversations of `user_id` with their unread counts, most recent activity
    /// first and, at equal activity, the higher conversation id first.
    ///
    /// All rows are read from one snapshot, so the entries are consistent with each other.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a `conversations_by_user` row has no matching conversation
    /// or member row, which a committed batch never leaves behind.
    pub(super) fn inbox(&self, user_id: UserId) -> StoreResult<Vec<InboxEntry>> {
        let snapshot = self.db.snapshot();
        let mut entries = Vec::new();

        for row in snapshot.prefix(&self.tables.conversations_by_user, user_key(user_id)) {
            let key = row
                .key()
                .map_err(|error| backend_error("scanning conversations_by_user", error))?;
            let conversation_id = second_id("conversations_by_user", &key)?;
            entries.push(self.inbox_entry(&snapshot, user_id, conversation_id)?);
        }

        entries.sort_by(|a, b| {
            let a = &a.conversation;
            let b = &b.conversation;
            b.last_activity_ms
                .cmp(&a.last_activity_ms)
                .then(b.conversation_id.cmp(&a.conversation_id))
        });
        Ok(entries)
    }

    fn inbox_entry(
        &self,
        snapshot: &Snapshot,
        user_id: UserId,
        conversation_id: ConversationId,
    ) -> StoreResult<InboxEntry> {
        let inconsistent = |table: &str| {
            StoreError::Backend(format!(
                "conversations_by_user lists conversation {conversation_id} for user {user_id}, \
                 but {table} has no matching row. The data directory is inconsistent."
            ))
        };
        let conversation = self
            .read_conversation(snapshot, conversation_id)?
            .ok_or_else(|| inconsistent("conversations"))?;
        let member = self
            .read_member(snapshot, conversation_id, user_id)?
            .ok_or_else(|| inconsistent("members_by_conversation"))?;

        Ok(InboxEntry {
            unread: conversation.last_seq.saturating_sub(member.last_read_seq),
            last_read_seq: member.last_read_seq,
            conversation,
        })
    }

    /// Adds the `members_by_conversation` and `conversations_by_user` rows of `member` to
    /// `batch`.
    pub(super) fn insert_member_rows(
        &self,
        batch: &mut ::fjall::OwnedWriteBatch,
        member: &Member,
    ) -> StoreResult<()> {
        let joined = JoinedRow {
            joined_at_ms: member.joined_at_ms,
        };
        batch.insert(
            &self.tables.members_by_conversation,
            member_key(member.conversation_id, member.user_id),
            encode("members_by_conversation", member)?,
        );
        batch.insert(
            &self.tables.conversations_by_user,
            user_conversation_key(member.user_id, member.conversation_id),
            encode("conversations_by_user", &joined)?,
        );
        Ok(())
    }

    /// Reads a conversation row as of `snapshot`.
    pub(super) fn read_conversation(
        &self,
        snapshot: &Snapshot,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        let key = conversation_key(conversation_id);
        let value = snapshot
            .get(&self.tables.conversations, key)
            .map_err(|error| backend_error("reading conversations", error))?;
        value
            .map(|value| decode("conversations", &key, &value))
            .transpose()
    }

    /// Reads a membership row as of `snapshot`.
    pub(super) fn read_member(
        &self,
        snapshot: &Snapshot,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<Member>> {
        let key = member_key(conversation_id, user_id);
        let value = snapshot
            .get(&self.tables.members_by_conversation, key)
            .map_err(|error| backend_error("reading members_by_conversation", error))?;
        value
            .map(|value| decode("members_by_conversation", &key, &value))
            .transpose()
    }
}
