//! An authenticated switchboard session: opens the connection, waits for `AuthOk`, then
//! runs a reader task. The reader replies to control frames and passes replies, acks and
//! pushes to the session's state, where the chat scenario's delivery checker records them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use prost::Message as _;
use serde::{Deserialize, Serialize};
use switchboard_gateway::ws::WsEvent;
use switchboard_protocol::pb::{envelope::Kind, Envelope, ErrorCode, Ping, SendMessage};
use switchboard_protocol::pb::{Message, SyncRequest};
use switchboard_protocol::{FrameDecoder, LENGTH_PREFIX_BYTES};
use tokio::sync::oneshot;

use super::chat::content;
use super::context::{LiveCounters, ThreadContext};
use crate::checker::{ConversationRecord, ConversationVerdict};
use crate::machine::unix_now_ns;
use crate::net::reader::MAX_SERVER_MESSAGE_BYTES;
use crate::net::{wire, Outbox, ReadError, WsReader};
use crate::stats::{self, Cause, PlantedDrop};

/// Time to wait for the server's close reply and the writer after closing.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The user and device of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: u64,
    /// Device number of the user, 0 for the first device.
    pub device: u8,
}

/// A push that a session drops before the checker records it: the `nth_push`-th push of
/// `conversation_id`, counting from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropRule {
    pub conversation_id: u64,
    pub nth_push: u32,
}

struct PendingSend {
    sent_at: Instant,
}

/// Mutable state of a session, shared by its reader task and its owner.
struct SessionState {
    next_request_id: u64,
    /// Waiters for replies by request id.
    replies: HashMap<u64, oneshot::Sender<Envelope>>,
    /// Chat sends waiting for their ack, by request id.
    sends: HashMap<u64, PendingSend>,
    /// Delivery records by conversation.
    records: HashMap<u64, ConversationRecord>,
    drop_rule: Option<DropRule>,
    drop_rule_seen: u32,
    /// Cause of the reader's end, or `None` while it runs.
    ended: Option<Cause>,
    /// Set once the tool starts closing, so the close is not counted as a loss.
    closing: bool,
}

impl SessionState {
    fn next_request_id(&mut self) -> u64 {
        self.next_request_id += 1;
        self.next_request_id
    }

    fn record(&mut self, conversation_id: u64) -> &mut ConversationRecord {
        self.records
            .entry(conversation_id)
            .or_insert_with(|| ConversationRecord::new(None))
    }
}

/// An open, authenticated session.
pub struct Session {
    pub identity: Identity,
    outbox: Outbox,
    state: Rc<RefCell<SessionState>>,
    reader: monoio::task::JoinHandle<()>,
    writer: monoio::task::JoinHandle<u64>,
}

impl Session {
    /// Opens connection `index` with `token`, waits for `AuthOk` and starts the reader
    /// task. Counts the attempt and its outcome in the thread's totals.
    ///
    /// # Errors
    /// The [`Cause`] when the connection fails to open or to authenticate in time.
    pub async fn open(
        ctx: &Rc<ThreadContext>,
        index: u64,
        identity: Identity,
        token: &str,
        drop_rule: Option<DropRule>,
    ) -> Result<Session, Cause> {
        let started = Instant::now();
        let result = Self::open_and_authenticate(ctx, index, token, started).await;
        let (connection, early_frames) = match result {
            Ok(opened) => opened,
            Err(cause) => {
                ctx.count_failed(&cause);
                return Err(cause);
            }
        };
        ctx.count_established(started);

        let state = Rc::new(RefCell::new(SessionState {
            next_request_id: 0,
            replies: HashMap::new(),
            sends: HashMap::new(),
            records: HashMap::new(),
            drop_rule,
            drop_rule_seen: 0,
            ended: None,
            closing: false,
        }));
        let reader = monoio::spawn(read_loop(
            ctx.clone(),
            connection.reader,
            connection.outbox.clone(),
            state.clone(),
            identity,
            early_frames,
        ));
        Ok(Session {
            identity,
            outbox: connection.outbox,
            state,
            reader,
            writer: connection.writer,
        })
    }

    async fn open_and_authenticate(
        ctx: &Rc<ThreadContext>,
        index: u64,
        token: &str,
        started: Instant,
    ) -> Result<(super::context::OpenConnection, Vec<Envelope>), Cause> {
        let mut connection = ctx.open(index, Some(token)).await?;
        let left = ctx.target.connect_timeout.saturating_sub(started.elapsed());
        let auth = await_auth_ok(&mut connection.reader, &connection.outbox);
        match monoio::time::timeout(left, auth).await {
            Ok(Ok(early_frames)) => Ok((connection, early_frames)),
            Ok(Err(cause)) => Err(cause),
            Err(_) => Err(Cause::Timeout),
        }
    }

    /// Checks whether the reader still runs.
    pub fn is_open(&self) -> bool {
        self.state.borrow().ended.is_none()
    }

    /// Sets the conversation's `last_seq` at connect time for the checker.
    pub fn set_start_after(&self, conversation_id: u64, last_seq: u64) {
        self.state
            .borrow_mut()
            .record(conversation_id)
            .set_start_after(last_seq);
    }

    /// Checks what the session received in `conversation_id` against its final `last_seq`.
    pub fn verify(&self, conversation_id: u64, last_seq: u64) -> ConversationVerdict {
        self.state
            .borrow_mut()
            .record(conversation_id)
            .verify(last_seq)
    }

    /// Sends a chat message and tracks it until its ack. Returns false when the session
    /// has ended.
    pub fn send_message(&self, ctx: &ThreadContext, conversation_id: u64, text: String) -> bool {
        let request_id = {
            let mut state = self.state.borrow_mut();
            if state.ended.is_some() {
                return false;
            }
            let request_id = state.next_request_id();
            state.sends.insert(
                request_id,
                PendingSend {
                    sent_at: Instant::now(),
                },
            );
            request_id
        };
        let send = Kind::SendMessage(SendMessage {
            conversation_id,
            client_message_id: format!(
                "lg-{}-{}-{request_id}",
                self.identity.user_id, self.identity.device
            ),
            content: text,
            r#type: 0,
        });
        self.queue(ctx, request_id, send);
        LiveCounters::bump(&ctx.live().sent);
        ctx.totals().traffic.sent += 1;
        true
    }

    /// Sends an application heartbeat; its `Pong` is counted by the reader.
    pub fn ping(&self, ctx: &ThreadContext) {
        let request_id = {
            let mut state = self.state.borrow_mut();
            if state.ended.is_some() {
                return;
            }
            state.next_request_id()
        };
        let ping = Kind::Ping(Ping {
            client_time_ms: (unix_now_ns() / 1_000_000) as i64,
        });
        self.queue(ctx, request_id, ping);
        ctx.totals().traffic.pings += 1;
    }

    /// Reads the conversation's `last_seq` with a sync that requests no messages.
    ///
    /// # Errors
    /// [`Cause::Timeout`] without a reply in `timeout`, [`Cause::Rejected`] on an `Error`
    /// reply, and the session's end cause when it ended.
    pub async fn last_seq(
        &self,
        ctx: &ThreadContext,
        conversation_id: u64,
        timeout: Duration,
    ) -> Result<u64, Cause> {
        let sync = Kind::Sync(SyncRequest {
            conversation_id,
            after_seq: u64::MAX,
            limit: 1,
        });
        let reply = self.request(ctx, sync, timeout).await?;
        match reply.kind {
            Some(Kind::SyncResult(result)) => Ok(result.last_seq),
            Some(Kind::Error(error)) => Err(Cause::Rejected(error_code_name(error.code))),
            _ => Err(Cause::Protocol),
        }
    }

    async fn request(
        &self,
        ctx: &ThreadContext,
        kind: Kind,
        timeout: Duration,
    ) -> Result<Envelope, Cause> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let request_id = {
            let mut state = self.state.borrow_mut();
            if let Some(cause) = &state.ended {
                return Err(cause.clone());
            }
            let request_id = state.next_request_id();
            state.replies.insert(request_id, reply_tx);
            request_id
        };
        self.queue(ctx, request_id, kind);
        match monoio::time::timeout(timeout, reply_rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(self.state.borrow().ended.clone().unwrap_or(Cause::Eof)),
            Err(_) => {
                self.state.borrow_mut().replies.remove(&request_id);
                Err(Cause::Timeout)
            }
        }
    }

    fn queue(&self, ctx: &ThreadContext, request_id: u64, kind: Kind) {
        let envelope = Envelope {
            request_id,
            kind: Some(kind),
        };
        let payload_len = LENGTH_PREFIX_BYTES + envelope.encoded_len();
        ctx.totals().traffic.bytes_sent += payload_len as u64;
        self.outbox.send(wire::envelopes(&[envelope]));
    }

    /// Returns the number of sends still waiting for an ack.
    pub fn unacked(&self) -> usize {
        self.state.borrow().sends.len()
    }

    /// Closes the session with code 1000 and waits briefly for the server's close reply.
    /// A session that already ended is counted as lost by its reader.
    pub async fn close(self) {
        {
            let mut state = self.state.borrow_mut();
            state.closing = true;
        }
        self.outbox.send(wire::close(1000, "load run finished"));
        drop(self.outbox);
        let _ = monoio::time::timeout(CLOSE_WAIT, self.reader).await;
        let _ = monoio::time::timeout(CLOSE_WAIT, self.writer).await;
    }
}

/// Reads until the first binary message and checks that it starts with `AuthOk`. Returns
/// the frames that followed `AuthOk` in that message.
async fn await_auth_ok(
    reader: &mut WsReader<monoio::net::tcp::TcpOwnedReadHalf>,
    outbox: &Outbox,
) -> Result<Vec<Envelope>, Cause> {
    loop {
        let event = reader.next_event().await.map_err(read_cause)?;
        let payload = match event {
            WsEvent::Binary(payload) => payload,
            WsEvent::Ping(payload) => {
                outbox.send(wire::pong(&payload));
                continue;
            }
            WsEvent::Close(frame) => return Err(Cause::Closed(close_code(&frame))),
            WsEvent::Text(_) | WsEvent::Pong(_) => continue,
        };
        let mut frames = decode(&payload).ok_or(Cause::Protocol)?.into_iter();
        return match frames.next().and_then(|first| first.kind) {
            Some(Kind::AuthOk(_)) => Ok(frames.collect()),
            Some(Kind::Error(error)) => Err(Cause::Rejected(error_code_name(error.code))),
            _ => Err(Cause::Protocol),
        };
    }
}

async fn read_loop(
    ctx: Rc<ThreadContext>,
    mut reader: WsReader<monoio::net::tcp::TcpOwnedReadHalf>,
    outbox: Outbox,
    state: Rc<RefCell<SessionState>>,
    identity: Identity,
    early_frames: Vec<Envelope>,
) {
    for envelope in early_frames {
        handle_envelope(&ctx, &state, identity, envelope);
    }
    let cause = loop {
        let event = match reader.next_event().await {
            Ok(event) => event,
            Err(error) => break read_cause(error),
        };
        match event {
            WsEvent::Binary(payload) => {
                ctx.totals().traffic.bytes_received += payload.len() as u64;
                let Some(frames) = decode(&payload) else {
                    break Cause::Protocol;
                };
                for envelope in frames {
                    handle_envelope(&ctx, &state, identity, envelope);
                }
            }
            WsEvent::Ping(payload) => {
                outbox.send(wire::pong(&payload));
            }
            WsEvent::Close(frame) => {
                if !state.borrow().closing {
                    outbox.send(wire::close(1000, ""));
                }
                break Cause::Closed(close_code(&frame));
            }
            WsEvent::Text(_) | WsEvent::Pong(_) => {}
        }
    };

    let mut state = state.borrow_mut();
    if !state.closing {
        ctx.count_lost(&cause);
    }
    state.ended = Some(cause);
    state.replies.clear();
}

fn handle_envelope(
    ctx: &ThreadContext,
    state: &RefCell<SessionState>,
    identity: Identity,
    envelope: Envelope,
) {
    let request_id = envelope.request_id;
    let mut state = state.borrow_mut();
    match envelope.kind {
        Some(Kind::Message(message)) if request_id == 0 => {
            handle_push(ctx, &mut state, identity, message);
        }
        Some(Kind::SendAck(ack)) if state.sends.contains_key(&request_id) => {
            let pending = state.sends.remove(&request_id).expect("checked above");
            state.record(ack.conversation_id).record_ack(ack.seq);
            let mut totals = ctx.totals();
            totals.traffic.acked += 1;
            totals
                .histogram(stats::SEND_TO_ACK)
                .record(pending.sent_at.elapsed());
        }
        Some(Kind::Error(error)) if state.sends.remove(&request_id).is_some() => {
            LiveCounters::bump(&ctx.live().errors);
            let cause = Cause::Rejected(error_code_name(error.code));
            stats::count_cause(&mut ctx.totals().traffic.send_errors, &cause);
        }
        Some(Kind::Pong(_)) => ctx.totals().traffic.pongs += 1,
        Some(Kind::GoAway(go_away)) => {
            tracing::debug!(user_id = identity.user_id, reason = %go_away.reason, "server sent GoAway");
        }
        kind => {
            if let Some(waiter) = state.replies.remove(&request_id) {
                let _ = waiter.send(Envelope { request_id, kind });
            }
        }
    }
}

fn handle_push(
    ctx: &ThreadContext,
    state: &mut SessionState,
    identity: Identity,
    message: Message,
) {
    let conversation_id = message.conversation_id;
    if let Some(rule) = state.drop_rule {
        if rule.conversation_id == conversation_id {
            state.drop_rule_seen += 1;
            if state.drop_rule_seen == rule.nth_push {
                ctx.totals().planted_drops.push(PlantedDrop {
                    conversation_id,
                    user_id: identity.user_id,
                    device: identity.device,
                    seq: message.seq,
                });
                return;
            }
        }
    }
    state.record(conversation_id).record_push(message.seq);
    LiveCounters::bump(&ctx.live().received);
    let mut totals = ctx.totals();
    totals.traffic.received += 1;
    if let Some(sent_ns) = content::sent_unix_ns(&message.content) {
        totals
            .histogram(stats::SEND_TO_DELIVER)
            .record_between_unix_ns(sent_ns, unix_now_ns());
    }
}

fn decode(payload: &[u8]) -> Option<Vec<Envelope>> {
    FrameDecoder::new(MAX_SERVER_MESSAGE_BYTES)
        .decode_all(payload)
        .ok()
}

/// Returns the close code of a close frame, 1005 when it carried none.
pub fn close_code(frame: &Option<(u16, String)>) -> u16 {
    frame.as_ref().map_or(1005, |(code, _)| *code)
}

/// Maps a read error to a cause.
pub fn read_cause(error: ReadError) -> Cause {
    match error {
        ReadError::Eof => Cause::Eof,
        ReadError::Io(error) => Cause::from_io(&error),
        ReadError::Protocol(_) => Cause::Protocol,
    }
}

/// Returns the short name of an error code, such as `RATE_LIMITED`.
pub fn error_code_name(code: i32) -> String {
    match ErrorCode::try_from(code) {
        Ok(code) => code
            .as_str_name()
            .trim_start_matches("ERROR_CODE_")
            .to_string(),
        Err(_) => format!("CODE_{code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_named() {
        assert_eq!(
            error_code_name(ErrorCode::RateLimited as i32),
            "RATE_LIMITED"
        );
        assert_eq!(error_code_name(999), "CODE_999");
    }
}
