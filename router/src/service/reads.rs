//! Requests served from the store without a commit: sync, history, read markers and typing.

use std::sync::Arc;

use switchboard_protocol::envelope;
use switchboard_protocol::pb::{
    envelope::Kind, Direction as WireDirection, HistoryPage, HistoryRequest, MarkRead, MarkReadAck,
    ReadMarker, SyncRequest, SyncResult, Typing, TypingAck, TypingEvent,
};

use super::convert::{encode_frames, require_member, wire_message, Rejection};
use super::Context;
use crate::link::SessionAddr;
use crate::store::{Direction, UserId};

/// Serves one read request and queues its reply, plus any push to other sessions.
pub(crate) async fn handle(
    context: Arc<Context>,
    from: SessionAddr,
    user_id: UserId,
    request_id: u64,
    kind: Kind,
) {
    let request = Request {
        context: &context,
        from,
        user_id,
    };
    let result = match kind {
        Kind::Sync(sync) => request.sync(sync).await,
        Kind::History(history) => request.history(history).await,
        Kind::MarkRead(mark) => request.mark_read(mark).await,
        Kind::Typing(typing) => request.typing(typing).await,
        other => unreachable!(
            "router routes only reads here, got {}",
            envelope::kind_name(&other)
        ),
    };

    let frames = match result {
        Ok(reply) => encode_frames(&envelope::reply(request_id, reply)),
        Err(rejection) => rejection.into_frames(request_id),
    };
    context.reply(from, frames);
}

struct Request<'a> {
    context: &'a Context,
    from: SessionAddr,
    user_id: UserId,
}

impl Request<'_> {
    fn page_limit(&self, requested: u32) -> usize {
        let config = &self.context.config;
        match requested {
            0 => config.default_page_messages as usize,
            limit => limit.min(config.max_page_messages) as usize,
        }
    }

    async fn sync(&self, sync: SyncRequest) -> Result<Kind, Rejection> {
        let store = self.context.store.as_ref();
        require_member(store, sync.conversation_id, self.user_id).await?;

        let limit = self.page_limit(sync.limit);
        let mut messages = store
            .messages(
                sync.conversation_id,
                sync.after_seq,
                limit + 1,
                Direction::Forward,
            )
            .await?;
        let has_more = messages.len() > limit;
        messages.truncate(limit);
        let last_seq = match store.conversation(sync.conversation_id).await? {
            Some(conversation) => conversation.last_seq,
            None => messages
                .last()
                .map(|message| message.seq)
                .unwrap_or_default(),
        };

        Ok(Kind::SyncResult(SyncResult {
            conversation_id: sync.conversation_id,
            messages: messages.iter().map(wire_message).collect(),
            has_more,
            last_seq,
        }))
    }

    async fn history(&self, history: HistoryRequest) -> Result<Kind, Rejection> {
        let store = self.context.store.as_ref();
        require_member(store, history.conversation_id, self.user_id).await?;

        let direction = match WireDirection::try_from(history.direction) {
            Ok(WireDirection::Forward) => Direction::Forward,
            Ok(WireDirection::Backward) => Direction::Backward,
            Err(_) => {
                return Err(Rejection::new(
                    switchboard_protocol::pb::ErrorCode::InvalidArgument,
                    format!(
                        "direction {} is unknown; use 0 (backward) or 1 (forward)",
                        history.direction
                    ),
                ))
            }
        };
        let limit = self.page_limit(history.limit);
        let mut messages = store
            .messages(
                history.conversation_id,
                history.cursor,
                limit + 1,
                direction,
            )
            .await?;
        let has_more = messages.len() > limit;
        messages.truncate(limit);
        let next_cursor = match (has_more, messages.last()) {
            (true, Some(last)) => last.seq,
            _ => 0,
        };

        Ok(Kind::HistoryPage(HistoryPage {
            conversation_id: history.conversation_id,
            messages: messages.iter().map(wire_message).collect(),
            next_cursor,
            has_more,
        }))
    }

    async fn mark_read(&self, mark: MarkRead) -> Result<Kind, Rejection> {
        let store = self.context.store.as_ref();
        let before = require_member(store, mark.conversation_id, self.user_id).await?;

        let member = store
            .mark_read(mark.conversation_id, self.user_id, mark.seq)
            .await?;
        let last_seq = store
            .conversation(mark.conversation_id)
            .await?
            .map(|conversation| conversation.last_seq)
            .unwrap_or(member.last_read_seq);

        let marker = ReadMarker {
            conversation_id: mark.conversation_id,
            user_id: self.user_id,
            last_read_seq: member.last_read_seq,
        };
        if member.last_read_seq > before.last_read_seq {
            let frames = encode_frames(&envelope::reply(0, Kind::ReadMarker(marker)));
            self.context
                .fanout(Arc::from([self.user_id]), frames, Some(self.from));
        }

        Ok(Kind::MarkReadAck(MarkReadAck {
            conversation_id: mark.conversation_id,
            last_read_seq: member.last_read_seq,
            unread: last_seq.saturating_sub(member.last_read_seq),
        }))
    }

    async fn typing(&self, typing: Typing) -> Result<Kind, Rejection> {
        let store = self.context.store.as_ref();
        require_member(store, typing.conversation_id, self.user_id).await?;

        let members: Arc<[UserId]> = store
            .members(typing.conversation_id)
            .await?
            .iter()
            .map(|member| member.user_id)
            .filter(|user_id| *user_id != self.user_id)
            .collect();
        let event = TypingEvent {
            conversation_id: typing.conversation_id,
            user_id: self.user_id,
            typing: typing.typing,
        };
        let frames = encode_frames(&envelope::reply(0, Kind::TypingEvent(event)));
        self.context.fanout(members, frames, Some(self.from));

        Ok(Kind::TypingAck(TypingAck {
            conversation_id: typing.conversation_id,
        }))
    }
}
