//! Conversions between store records, wire messages and router errors.

use bytes::{Bytes, BytesMut};
use switchboard_protocol::pb::{envelope::Kind, Envelope, ErrorCode, Message};
use switchboard_protocol::{encode_frame, envelope};
use tracing::warn;

use crate::store::{ConversationId, Member, Store, StoreError, StoredMessage, UserId};

/// Encodes one envelope as a length-prefixed frame.
pub(crate) fn encode_frames(envelope: &Envelope) -> Bytes {
    let mut out = BytesMut::new();
    encode_frame(envelope, &mut out);
    out.freeze()
}

/// Builds the wire form of a stored message.
pub(crate) fn wire_message(message: &StoredMessage) -> Message {
    Message {
        conversation_id: message.conversation_id,
        seq: message.seq,
        message_id: message.message_id.clone(),
        sender_id: message.sender_id,
        content: message.content.clone(),
        r#type: message.message_type,
        created_at_ms: message.created_at_ms,
    }
}

/// Encodes a message event, sent to every recipient alike.
pub(crate) fn message_event(message: &StoredMessage) -> Bytes {
    encode_frames(&envelope::reply(0, Kind::Message(wire_message(message))))
}

/// A request that cannot be served, with the code and reason for the client.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub code: ErrorCode,
    pub reason: String,
}

impl Rejection {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// Encodes the rejection as the error reply to `request_id`.
    pub fn into_frames(self, request_id: u64) -> Bytes {
        encode_frames(&envelope::error(request_id, self.code, self.reason))
    }
}

impl From<StoreError> for Rejection {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConversationNotFound(id) => {
                Rejection::new(ErrorCode::NotFound, format!("conversation {id} not found"))
            }
            other => {
                warn!(error = %other, "store operation failed; client gets a retryable error");
                Rejection::new(
                    ErrorCode::Unavailable,
                    "the message store is unavailable; retry the request",
                )
            }
        }
    }
}

/// Returns the membership of `user_id`, or the rejection for a non-member: `NOT_FOUND` when
/// the conversation does not exist, `NOT_MEMBER` otherwise.
pub(crate) async fn require_member(
    store: &dyn Store,
    conversation_id: ConversationId,
    user_id: UserId,
) -> Result<Member, Rejection> {
    if let Some(member) = store.member(conversation_id, user_id).await? {
        return Ok(member);
    }
    if store.conversation(conversation_id).await?.is_none() {
        return Err(StoreError::ConversationNotFound(conversation_id).into());
    }
    Err(Rejection::new(
        ErrorCode::NotMember,
        format!("user {user_id} is not a member of conversation {conversation_id}"),
    ))
}
