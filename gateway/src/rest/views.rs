//! JSON response bodies of the REST API, converted from store records so that the wire shape
//! stays stable when the storage model changes.

use serde::Serialize;
use switchboard_router::store::{
    Conversation, ConversationKind, InboxEntry, Member, Role, StoredMessage,
};

/// A conversation with its members.
#[derive(Debug, Serialize)]
pub struct ConversationView {
    pub conversation_id: u64,
    pub kind: ConversationKind,
    /// Null when the conversation has no title.
    pub title: Option<String>,
    pub created_by: u64,
    pub created_at_ms: i64,
    pub last_seq: u64,
    pub members: Vec<MemberView>,
}

impl ConversationView {
    /// Combines a conversation row with its member rows.
    pub fn new(conversation: Conversation, members: Vec<Member>) -> Self {
        Self {
            conversation_id: conversation.conversation_id,
            kind: conversation.kind,
            title: title_or_null(conversation.title),
            created_by: conversation.created_by,
            created_at_ms: conversation.created_at_ms,
            last_seq: conversation.last_seq,
            members: members.into_iter().map(MemberView::from).collect(),
        }
    }
}

/// One membership of a conversation.
#[derive(Debug, Serialize)]
pub struct MemberView {
    pub conversation_id: u64,
    pub user_id: u64,
    pub role: Role,
    pub joined_at_ms: i64,
    pub last_read_seq: u64,
}

impl From<Member> for MemberView {
    fn from(member: Member) -> Self {
        Self {
            conversation_id: member.conversation_id,
            user_id: member.user_id,
            role: member.role,
            joined_at_ms: member.joined_at_ms,
            last_read_seq: member.last_read_seq,
        }
    }
}

/// One row of the inbox.
#[derive(Debug, Serialize)]
pub struct InboxEntryView {
    pub conversation_id: u64,
    pub kind: ConversationKind,
    /// Null when the conversation has no title.
    pub title: Option<String>,
    pub last_seq: u64,
    pub last_read_seq: u64,
    pub unread: u64,
    pub last_activity_ms: i64,
    pub last_message: Option<MessagePreview>,
}

impl From<InboxEntry> for InboxEntryView {
    fn from(entry: InboxEntry) -> Self {
        let conversation = entry.conversation;
        Self {
            conversation_id: conversation.conversation_id,
            kind: conversation.kind,
            title: title_or_null(conversation.title),
            last_seq: conversation.last_seq,
            last_read_seq: entry.last_read_seq,
            unread: entry.unread,
            last_activity_ms: conversation.last_activity_ms,
            last_message: conversation.last_message.map(MessagePreview::from),
        }
    }
}

/// The newest message of a conversation, as shown in the inbox.
#[derive(Debug, Serialize)]
pub struct MessagePreview {
    pub seq: u64,
    pub message_id: String,
    pub sender_id: u64,
    pub content: String,
    pub created_at_ms: i64,
}

impl From<StoredMessage> for MessagePreview {
    fn from(message: StoredMessage) -> Self {
        Self {
            seq: message.seq,
            message_id: message.message_id,
            sender_id: message.sender_id,
            content: message.content,
            created_at_ms: message.created_at_ms,
        }
    }
}

/// A message of the history endpoint.
#[derive(Debug, Serialize)]
pub struct MessageView {
    pub conversation_id: u64,
    pub seq: u64,
    pub message_id: String,
    pub sender_id: u64,
    pub content: String,
    /// `MessageType` of the wire protocol, as its number.
    pub message_type: i32,
    pub created_at_ms: i64,
}

impl From<StoredMessage> for MessageView {
    fn from(message: StoredMessage) -> Self {
        Self {
            conversation_id: message.conversation_id,
            seq: message.seq,
            message_id: message.message_id,
            sender_id: message.sender_id,
            content: message.content,
            message_type: message.message_type,
            created_at_ms: message.created_at_ms,
        }
    }
}

/// Maps the store's empty title to JSON null.
fn title_or_null(title: String) -> Option<String> {
    if title.is_empty() {
        None
    } else {
        Some(title)
    }
}
