//! Memberships: adding and removing members, member lookups and read positions. Each
//! membership is two rows written and deleted together: `members_by_conversation` and its
//! per-user index `conversations_by_user`.

use ::fjall::Readable;

use super::keys::{conversation_key, member_key, user_conversation_key};
use super::values::{decode, encode};
use super::{backend_error, commit_durably, now_ms, Inner};
use crate::store::{ConversationId, Member, Role, Seq, StoreError, StoreResult, UserId};

impl Inner {
    /// Adds `user_id` to a conversation with `role`. An existing membership is returned
    /// unchanged.
    ///
    /// A new member's `last_read_seq` starts at the conversation's `last_seq`, so messages sent
    /// before the join do not count as unread.
    ///
    /// # Errors
    /// [`StoreError::ConversationNotFound`] or [`StoreError::UserNotFound`].
    pub(super) fn add_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        role: Role,
    ) -> StoreResult<Member> {
        let _writer = self.lock_writer();
        let snapshot = self.db.snapshot();

        let conversation = self
            .read_conversation(&snapshot, conversation_id)?
            .ok_or(StoreError::ConversationNotFound(conversation_id))?;
        if !self.user_exists(user_id)? {
            return Err(StoreError::UserNotFound(user_id));
        }
        if let Some(member) = self.read_member(&snapshot, conversation_id, user_id)? {
            return Ok(member);
        }

        let member = Member {
            conversation_id,
            user_id,
            role,
            joined_at_ms: now_ms(),
            last_read_seq: conversation.last_seq,
            muted_until_ms: 0,
        };
        let mut batch = self.db.batch();
        self.insert_member_rows(&mut batch, &member)?;
        commit_durably(batch, "add_member")?;
        Ok(member)
    }

    /// Deletes both rows of a membership. Returns whether `user_id` was a member.
    pub(super) fn remove_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<bool> {
        let _writer = self.lock_writer();
        let snapshot = self.db.snapshot();

        if self
            .read_member(&snapshot, conversation_id, user_id)?
            .is_none()
        {
            return Ok(false);
        }

        let mut batch = self.db.batch();
        batch.remove(
            &self.tables.members_by_conversation,
            member_key(conversation_id, user_id),
        );
        batch.remove(
            &self.tables.conversations_by_user,
            user_conversation_key(user_id, conversation_id),
        );
        commit_durably(batch, "remove_member")?;
        Ok(true)
    }

    /// Reads one membership.
    pub(super) fn member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<Member>> {
        self.read_member(&self.db.snapshot(), conversation_id, user_id)
    }

    /// Lists the members of a conversation in user id order, the order of their keys.
    pub(super) fn members(&self, conversation_id: ConversationId) -> StoreResult<Vec<Member>> {
        let snapshot = self.db.snapshot();
        let rows = snapshot.prefix(
            &self.tables.members_by_conversation,
            conversation_key(conversation_id),
        );

        let mut members = Vec::new();
        for row in rows {
            let (key, value) = row
                .into_inner()
                .map_err(|error| backend_error("scanning members_by_conversation", error))?;
            members.push(decode("members_by_conversation", &key, &value)?);
        }
        Ok(members)
    }

    /// Raises a member's `last_read_seq` to `seq`, clamped to the conversation's `last_seq`.
    /// A value at or below the current one writes nothing.
    ///
    /// # Errors
    /// [`StoreError::ConversationNotFound`], or [`StoreError::UserNotFound`] when `user_id` is
    /// not a member.
    pub(super) fn mark_read(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<Member> {
        let _writer = self.lock_writer();
        let snapshot = self.db.snapshot();

        let conversation = self
            .read_conversation(&snapshot, conversation_id)?
            .ok_or(StoreError::ConversationNotFound(conversation_id))?;
        let mut member = self
            .read_member(&snapshot, conversation_id, user_id)?
            .ok_or(StoreError::UserNotFound(user_id))?;

        let target = seq.min(conversation.last_seq);
        if target <= member.last_read_seq {
            return Ok(member);
        }

        member.last_read_seq = target;
        let mut batch = self.db.batch();
        batch.insert(
            &self.tables.members_by_conversation,
            member_key(conversation_id, user_id),
            encode("members_by_conversation", &member)?,
        );
        commit_durably(batch, "mark_read")?;
        Ok(member)
    }
}
