//! The commit task: drains queued sends, assigns seqs, writes them in one durable group
//! commit, then acknowledges each sender and fans each message out.
//!
//! It is the single owner of seq allocation for the conversations it serves, which keeps seqs
//! strictly increasing. Seqs also stay gap-free, because a failed commit drops the seqs it
//! allocated.

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_protocol::envelope;
use switchboard_protocol::pb::{envelope::Kind, ErrorCode, MessageType, SendAck, SendMessage};
use tokio::sync::mpsc;
use tracing::{debug, error, info};

use super::convert::{encode_frames, message_event, require_member, Rejection};
use super::Context;
use crate::config::RouterConfig;
use crate::link::SessionAddr;
use crate::sequencer::{BatchBuilder, SendOutcome, SeqAllocator};
use crate::store::{ConversationId, MessageRef, StoredMessage, UserId};

/// A validated send waiting for its commit.
pub(crate) struct PendingSend {
    pub from: SessionAddr,
    pub user_id: UserId,
    pub request_id: u64,
    pub send: SendMessage,
}

/// Checks the fields of a send that need no store lookup.
pub(crate) fn validate(config: &RouterConfig, send: &SendMessage) -> Result<(), String> {
    if send.conversation_id == 0 {
        return Err("conversation_id is missing; set it to the target conversation".into());
    }
    if send.client_message_id.is_empty() {
        return Err("client_message_id is empty; set a unique id such as a UUID".into());
    }
    if send.client_message_id.len() > config.max_message_id_bytes {
        return Err(format!(
            "client_message_id is {} bytes, above the maximum of {}",
            send.client_message_id.len(),
            config.max_message_id_bytes
        ));
    }
    if send.content.is_empty() {
        return Err("content is empty; send at least one character".into());
    }
    match MessageType::try_from(send.r#type) {
        Ok(MessageType::Text | MessageType::Image | MessageType::File) => {}
        Ok(MessageType::System) => {
            return Err(
                "type MESSAGE_TYPE_SYSTEM is reserved for the server; use TEXT, IMAGE \
                        or FILE"
                    .into(),
            )
        }
        Err(_) => {
            return Err(format!(
                "type {} is unknown; use 0 (TEXT), 1 (IMAGE) or 2 (FILE)",
                send.r#type
            ))
        }
    }
    if send.content.len() > config.max_content_bytes {
        return Err(format!(
            "content is {} bytes, above the maximum of {}; split the message",
            send.content.len(),
            config.max_content_bytes
        ));
    }
    Ok(())
}

/// Runs until the queue's senders are gone and the queue is empty.
pub(crate) async fn run(context: Arc<Context>, mut queue: mpsc::Receiver<PendingSend>) {
    let mut allocator = SeqAllocator::default();
    let mut sends = Vec::with_capacity(context.config.max_batch_messages);
    while queue
        .recv_many(&mut sends, context.config.max_batch_messages)
        .await
        > 0
    {
        commit_batch(&context, &mut allocator, std::mem::take(&mut sends)).await;
    }
    info!("commit task stopped");
}

async fn commit_batch(context: &Context, allocator: &mut SeqAllocator, sends: Vec<PendingSend>) {
    let mut batch = BatchBuilder::default();
    let mut admitted = Vec::with_capacity(sends.len());
    for pending in sends {
        match admit(context, allocator, &mut batch, &pending).await {
            Ok(outcome) => admitted.push((pending, outcome)),
            Err(rejection) => {
                context.reply(pending.from, rejection.into_frames(pending.request_id))
            }
        }
    }

    if !batch.messages().is_empty() {
        if let Err(store_error) = context.store.append_messages(batch.messages()).await {
            error!(error = %store_error, messages = batch.messages().len(), "group commit failed; senders get a retryable error");
            for conversation_id in batch.conversations() {
                allocator.forget(conversation_id);
            }
            reject_new(context, admitted);
            return;
        }
        debug!(messages = batch.messages().len(), "group commit durable");
    }

    for (pending, outcome) in &admitted {
        acknowledge(context, &batch, pending, outcome);
    }
    fan_out(context, &batch, &admitted).await;
}

/// Checks membership and idempotency, and adds a new message to the batch.
async fn admit(
    context: &Context,
    allocator: &mut SeqAllocator,
    batch: &mut BatchBuilder,
    pending: &PendingSend,
) -> Result<SendOutcome, Rejection> {
    let send = &pending.send;
    let store = context.store.as_ref();
    require_member(store, send.conversation_id, pending.user_id).await?;

    if let Some(stored) = store.message_by_id(&send.client_message_id).await? {
        check_reuse(store, pending, stored).await?;
        return Ok(SendOutcome::Stored(stored));
    }
    if let Some(earlier) = batch.get(&send.client_message_id) {
        if earlier.conversation_id != send.conversation_id || earlier.sender_id != pending.user_id {
            return Err(id_taken(send));
        }
    }

    if !allocator.is_loaded(send.conversation_id) {
        let conversation = store.conversation(send.conversation_id).await?.ok_or(
            crate::store::StoreError::ConversationNotFound(send.conversation_id),
        )?;
        allocator.load(send.conversation_id, conversation.last_seq);
    }

    let message = StoredMessage {
        conversation_id: send.conversation_id,
        seq: 0,
        message_id: send.client_message_id.clone(),
        sender_id: pending.user_id,
        content: send.content.clone(),
        message_type: send.r#type,
        created_at_ms: now_ms(),
    };
    Ok(batch.push(allocator, message))
}

/// Accepts a repeated message id only as a retry of the same sender in the same
/// conversation, so one user's send can never be acknowledged as another user's message.
async fn check_reuse(
    store: &dyn crate::store::Store,
    pending: &PendingSend,
    stored: MessageRef,
) -> Result<(), Rejection> {
    if stored.conversation_id != pending.send.conversation_id {
        return Err(id_taken(&pending.send));
    }
    let original = store
        .messages(
            stored.conversation_id,
            stored.seq - 1,
            1,
            crate::store::Direction::Forward,
        )
        .await?;
    match original.first() {
        Some(message) if message.seq == stored.seq && message.sender_id == pending.user_id => {
            Ok(())
        }
        _ => Err(id_taken(&pending.send)),
    }
}

fn id_taken(send: &SendMessage) -> Rejection {
    Rejection::new(
        ErrorCode::InvalidArgument,
        format!(
            "client_message_id {:?} is already used by another message; use a fresh unique id \
             such as a UUID",
            send.client_message_id
        ),
    )
}

fn reject_new(context: &Context, admitted: Vec<(PendingSend, SendOutcome)>) {
    for (pending, outcome) in admitted {
        let frames = match outcome {
            SendOutcome::Stored(stored) => ack_frames(&pending, stored, true),
            SendOutcome::New(_) | SendOutcome::SameBatch(_) => Rejection::new(
                ErrorCode::Unavailable,
                "the message could not be stored; retry with the same client_message_id",
            )
            .into_frames(pending.request_id),
        };
        context.reply(pending.from, frames);
    }
}

fn acknowledge(
    context: &Context,
    batch: &BatchBuilder,
    pending: &PendingSend,
    outcome: &SendOutcome,
) {
    let (stored, duplicate) = match outcome {
        SendOutcome::Stored(stored) => (*stored, true),
        SendOutcome::New(index) => (message_ref(&batch.messages()[*index]), false),
        SendOutcome::SameBatch(index) => (message_ref(&batch.messages()[*index]), true),
    };
    context.reply(pending.from, ack_frames(pending, stored, duplicate));
}

fn message_ref(message: &StoredMessage) -> MessageRef {
    MessageRef {
        conversation_id: message.conversation_id,
        seq: message.seq,
        created_at_ms: message.created_at_ms,
    }
}

fn ack_frames(pending: &PendingSend, stored: MessageRef, duplicate: bool) -> bytes::Bytes {
    let ack = SendAck {
        message_id: pending.send.client_message_id.clone(),
        conversation_id: stored.conversation_id,
        seq: stored.seq,
        created_at_ms: stored.created_at_ms,
        duplicate,
    };
    encode_frames(&envelope::reply(pending.request_id, Kind::SendAck(ack)))
}

/// Pushes each new message to every online session of every member but the sending one.
async fn fan_out(context: &Context, batch: &BatchBuilder, admitted: &[(PendingSend, SendOutcome)]) {
    let mut members_by_conversation: HashMap<ConversationId, Arc<[UserId]>> = HashMap::new();
    for (pending, outcome) in admitted {
        let SendOutcome::New(index) = outcome else {
            continue;
        };
        let message = &batch.messages()[*index];
        let members = match members_by_conversation.get(&message.conversation_id) {
            Some(members) => members.clone(),
            None => match context.store.members(message.conversation_id).await {
                Ok(members) => {
                    let ids: Arc<[UserId]> = members.iter().map(|member| member.user_id).collect();
                    members_by_conversation.insert(message.conversation_id, ids.clone());
                    ids
                }
                Err(store_error) => {
                    // The message is durable; members resync it on their next sync.
                    error!(conversation_id = message.conversation_id, seq = message.seq, error = %store_error, "member lookup failed; push skipped");
                    continue;
                }
            },
        };
        context.fanout(members, message_event(message), Some(pending.from));
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(content: &str, message_type: i32) -> SendMessage {
        SendMessage {
            conversation_id: 1,
            client_message_id: "id-1".into(),
            content: content.into(),
            r#type: message_type,
        }
    }

    #[test]
    fn text_send_accepted() {
        assert_eq!(validate(&RouterConfig::default(), &send("hi", 0)), Ok(()));
    }

    #[test]
    fn empty_content_rejected() {
        let error = validate(&RouterConfig::default(), &send("", 0)).unwrap_err();
        assert!(error.contains("content is empty"), "{error}");
    }

    #[test]
    fn system_type_rejected() {
        let error = validate(
            &RouterConfig::default(),
            &send("x", MessageType::System as i32),
        )
        .unwrap_err();
        assert!(error.contains("reserved"), "{error}");
    }

    #[test]
    fn unknown_type_rejected() {
        let error = validate(&RouterConfig::default(), &send("x", 99)).unwrap_err();
        assert!(error.contains("type 99"), "{error}");
    }
}
