//! Storage contract of the router: the source of truth for users, conversations, members and
//! messages. The embedded [`fjall`](crate::store::fjall) backend implements it; a ScyllaDB
//! backend implements the same trait and passes the same conformance suite.
//!
//! Key layout follows the data model. Messages live in bucketed partitions
//! `(conversation_id, seq / MESSAGE_BUCKET_SIZE)`, so a reader knows which partitions a seq
//! range touches. Inbox rows are derived at read time from the conversation row, so a
//! message costs one conversation update rather than one write per member.

pub mod fjall;
mod types;

pub use types::*;

use async_trait::async_trait;

/// Messages per partition bucket: bucket = seq / MESSAGE_BUCKET_SIZE. Bounds the size of one
/// partition for a large group on a wide-row store.
pub const MESSAGE_BUCKET_SIZE: u64 = 10_000;

/// Errors of a store backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The username is already registered.
    #[error("username {0:?} is already taken; choose another")]
    UsernameTaken(String),
    /// A referenced user does not exist.
    #[error("user {0} not found")]
    UserNotFound(UserId),
    /// A referenced conversation does not exist.
    #[error("conversation {0} not found")]
    ConversationNotFound(ConversationId),
    /// A batch would not leave the conversation's seqs strictly increasing without gaps.
    #[error("conversation {conversation_id}: seq {seq} does not follow last seq {last_seq}")]
    SeqConflict {
        /// Conversation of the rejected message.
        conversation_id: ConversationId,
        /// Seq of the rejected message.
        seq: Seq,
        /// The conversation's stored last seq.
        last_seq: Seq,
    },
    /// The backend failed; the operation may be retried.
    #[error("store backend failed: {0}")]
    Backend(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Persistent state of the chat service. Implementations are safe to share between threads.
///
/// Every write method returns only once its effect is durable (synced to disk for the
/// embedded store), so a caller may acknowledge it to a client.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a user with a unique `username`.
    ///
    /// # Errors
    /// [`StoreError::UsernameTaken`] when the name exists.
    async fn create_user(&self, username: &str, password_hash: &str) -> StoreResult<User>;

    /// Looks a user up by id.
    async fn user(&self, user_id: UserId) -> StoreResult<Option<User>>;

    /// Looks a user up by username.
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>>;

    /// Creates a conversation with its initial members, `created_by` included in `members`.
    ///
    /// # Errors
    /// [`StoreError::UserNotFound`] when a member does not exist.
    async fn create_conversation(&self, new: NewConversation) -> StoreResult<Conversation>;

    /// Looks a conversation up by id.
    async fn conversation(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<Conversation>>;

    /// Adds `user_id` to a conversation; adding an existing member changes nothing.
    ///
    /// # Errors
    /// [`StoreError::ConversationNotFound`] or [`StoreError::UserNotFound`].
    async fn add_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        role: Role,
    ) -> StoreResult<Member>;

    /// Removes `user_id` from a conversation. Returns whether it was a member.
    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<bool>;

    /// Looks up one membership.
    async fn member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<Member>>;

    /// Lists the members of a conversation, ordered by user id.
    async fn members(&self, conversation_id: ConversationId) -> StoreResult<Vec<Member>>;

    /// Lists the inbox of a user: each conversation it is a member of with its last seq,
    /// preview and unread count, most recent activity first.
    async fn inbox(&self, user_id: UserId) -> StoreResult<Vec<InboxEntry>>;

    /// Writes a batch of messages and the matching message-id index rows, advances each
    /// conversation's last seq, preview and activity time, and raises each sender's
    /// `last_read_seq` to its newest message, all in one durable commit.
    ///
    /// Within the batch, messages of one conversation appear in seq order.
    ///
    /// # Errors
    /// [`StoreError::SeqConflict`] when a message's seq is not exactly one above the
    /// conversation's last seq (stored or earlier in the batch); nothing of the batch is
    /// written then. [`StoreError::ConversationNotFound`] likewise.
    async fn append_messages(&self, batch: &[StoredMessage]) -> StoreResult<()>;

    /// Looks a message id up in the deduplication index.
    async fn message_by_id(&self, message_id: &str) -> StoreResult<Option<MessageRef>>;

    /// Reads up to `limit` messages of a conversation strictly after (forward) or strictly
    /// before (backward) `cursor`, in that direction's order. A backward read with cursor 0
    /// starts at the newest message.
    async fn messages(
        &self,
        conversation_id: ConversationId,
        cursor: Seq,
        limit: usize,
        direction: Direction,
    ) -> StoreResult<Vec<StoredMessage>>;

    /// Raises a member's `last_read_seq` to `seq`, clamped to the conversation's last seq.
    /// Lower values leave it unchanged. Returns the member after the update.
    ///
    /// # Errors
    /// [`StoreError::ConversationNotFound`], or [`StoreError::UserNotFound`] when the user is
    /// not a member.
    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<Member>;
}
