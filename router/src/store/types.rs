//! Records of the store's data model.

use serde::{Deserialize, Serialize};

/// Numeric user id, allocated by the store.
pub type UserId = u64;
/// Numeric conversation id, allocated by the store.
pub type ConversationId = u64;
/// Per-conversation sequence number; the first message has seq 1.
pub type Seq = u64;

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub user_id: UserId,
    pub username: String,
    /// PHC string of the password hash.
    pub password_hash: String,
    pub created_at_ms: i64,
}

/// Kind of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationKind {
    /// Two members, fixed.
    Dm,
    /// Any number of members, changeable.
    Group,
}

/// Role of a member in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

/// Input of [`Store::create_conversation`](super::Store::create_conversation).
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub kind: ConversationKind,
    pub title: String,
    pub created_by: UserId,
    /// Every initial member, the creator included; duplicates are ignored.
    pub members: Vec<UserId>,
}

/// A conversation row, with the state the inbox derives from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation_id: ConversationId,
    pub kind: ConversationKind,
    pub title: String,
    pub created_by: UserId,
    pub created_at_ms: i64,
    /// Seq of the newest durable message; 0 when there is none.
    pub last_seq: Seq,
    /// Time of the newest message, or of creation when there is none.
    pub last_activity_ms: i64,
    /// The newest message, for inbox previews.
    pub last_message: Option<StoredMessage>,
}

/// A membership row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at_ms: i64,
    pub last_read_seq: Seq,
    pub muted_until_ms: i64,
}

/// A durable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    /// The client's idempotency key.
    pub message_id: String,
    pub sender_id: UserId,
    pub content: String,
    /// `MessageType` of the wire protocol, as its number.
    pub message_type: i32,
    pub created_at_ms: i64,
}

/// Entry of the message-id deduplication index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub created_at_ms: i64,
}

/// One row of a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    pub conversation: Conversation,
    pub last_read_seq: Seq,
    /// `conversation.last_seq - last_read_seq`.
    pub unread: u64,
}

/// Reading order of [`Store::messages`](super::Store::messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first, strictly below the cursor.
    Backward,
    /// Oldest first, strictly above the cursor.
    Forward,
}
