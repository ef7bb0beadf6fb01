//! Session bookkeeping of one shard over its [`SessionTable`]: queueing with slow-consumer
//! drops, ending sessions and closing every session for a drain. No IO happens here, because
//! the writer tasks flush what these methods queue.

use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use switchboard_protocol::CloseCode;
use tracing::{debug, info};

use super::Ending;
use crate::session::{PushError, QueueLimits, SessionEntry, SessionTable};
use crate::ws;

/// State that every session host keeps: its sessions, their writer tasks and their limits.
pub(crate) struct HostState {
    /// Shard index, for logs.
    pub index: usize,
    /// Live sessions of the shard.
    pub sessions: SessionTable,
    /// Writer tasks still flushing, so a drain can wait for them.
    pub open_writers: Cell<usize>,
    /// Bounds of each session's send queue.
    pub queue_limits: QueueLimits,
    /// Time a drain waits for writers to flush their close frames.
    pub drain_timeout: Duration,
}

impl HostState {
    /// Creates the state of shard `index` with no sessions.
    pub(crate) fn new(index: usize, queue_limits: QueueLimits, drain_timeout: Duration) -> Self {
        Self {
            index,
            sessions: SessionTable::new(index),
            open_writers: Cell::new(0),
            queue_limits,
            drain_timeout,
        }
    }
}

/// Owner of one shard's sessions: a gateway shard or a benchmark shard. The provided methods
/// are the shared session bookkeeping. An implementation supplies its [`HostState`], its
/// close reasons and what happens when a session leaves the table.
pub(crate) trait SessionHost {
    /// Advice at the end of the close reason sent to a slow consumer.
    const SLOW_CONSUMER_ADVICE: &'static str;
    /// Close reason sent with 1001 to every session when the shard drains.
    const DRAIN_REASON: &'static str;

    /// Returns the sessions, writer count and limits of the shard.
    fn state(&self) -> &HostState;

    /// Returns the message queued before each session's close frame when the shard drains.
    fn drain_notice(&self) -> Option<Bytes> {
        None
    }

    /// Runs once for each session that leaves the table, before its close frame is queued.
    fn session_removed(&self, _session_id: u64, _entry: &SessionEntry) {}

    /// Queues one WebSocket message for a session, dropping the session as a slow consumer
    /// when its queue is full. Returns false when the session can take no more messages.
    fn push(&self, session_id: u64, entry: &SessionEntry, message: Bytes) -> bool {
        match entry.outbound.push(message) {
            Ok(()) => true,
            Err(PushError::Closed) => false,
            Err(PushError::Full) => {
                let limits = self.state().queue_limits;
                let reason = format!(
                    "send queue full at {} messages or {} bytes; {}",
                    limits.max_messages,
                    limits.max_bytes,
                    Self::SLOW_CONSUMER_ADVICE
                );
                info!(session_id, user_id = ?entry.user_id.get(), "slow consumer dropped");
                self.end_session(session_id, entry, CloseCode::SlowConsumer, &reason, true);
                false
            }
        }
    }

    /// Removes a session, queues its close frame and stops its reader. With
    /// `discard_queued`, messages not yet written are dropped before the close frame.
    fn end_session(
        &self,
        session_id: u64,
        entry: &SessionEntry,
        code: CloseCode,
        reason: &str,
        discard_queued: bool,
    ) {
        let close = ws::encode_close(code.code(), reason);
        remove_and_close(self, session_id, entry, close, discard_queued);
    }

    /// Closes a session the way its reader loop ended.
    fn close_session(&self, session_id: u64, entry: &SessionEntry, ending: Ending) {
        match ending {
            Ending::Close(code, reason) => {
                debug!(session_id, code = code.code(), %reason, "closing session");
                self.end_session(session_id, entry, code, &reason, false);
            }
            Ending::PeerClosed(received) => {
                let reply = ws::close_reply(received.as_ref());
                remove_and_close(self, session_id, entry, reply, false);
            }
            Ending::Disconnected | Ending::Ended => {
                self.end_session(session_id, entry, CloseCode::Normal, "", true);
            }
        }
        debug!(session_id, user_id = ?entry.user_id.get(), "session closed");
    }

    /// Queues the drain notice, if any, and a 1001 close for every session.
    fn close_all_for_drain(&self) {
        let notice = self.drain_notice();
        for (session_id, entry) in self.state().sessions.all() {
            if let Some(notice) = &notice {
                let _ = entry.outbound.push(notice.clone());
            }
            self.end_session(
                session_id,
                &entry,
                CloseCode::GoingAway,
                Self::DRAIN_REASON,
                false,
            );
        }
    }
}

/// Removes a session from the table, queues `close` as its last message and stops its
/// reader. [`SessionHost::session_removed`] runs only when the session was still in the
/// table, so a session that ends twice is reported once.
fn remove_and_close<H: SessionHost + ?Sized>(
    host: &H,
    session_id: u64,
    entry: &SessionEntry,
    close: Bytes,
    discard_queued: bool,
) {
    if host.state().sessions.remove(session_id).is_some() {
        host.session_removed(session_id, entry);
    }
    entry.outbound.push_last(close, discard_queued);
    entry.kill.raise();
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use bytes::BytesMut;

    use super::*;
    use crate::session::{Outbound, Signal};
    use crate::ws::{MessageDecoder, Role, WsEvent};

    /// Host that counts removals and sends a drain notice.
    struct CountingHost {
        state: HostState,
        removed: Cell<usize>,
    }

    impl SessionHost for CountingHost {
        const SLOW_CONSUMER_ADVICE: &'static str = "try again";
        const DRAIN_REASON: &'static str = "draining";

        fn state(&self) -> &HostState {
            &self.state
        }

        fn drain_notice(&self) -> Option<Bytes> {
            Some(ws::encode_binary(b"notice"))
        }

        fn session_removed(&self, _session_id: u64, _entry: &SessionEntry) {
            self.removed.set(self.removed.get() + 1);
        }
    }

    fn host(max_messages: usize) -> CountingHost {
        let limits = QueueLimits {
            max_messages,
            max_bytes: 1024,
        };
        CountingHost {
            state: HostState::new(2, limits, Duration::from_secs(1)),
            removed: Cell::new(0),
        }
    }

    fn open(host: &CountingHost) -> (u64, Rc<SessionEntry>) {
        let entry = Rc::new(SessionEntry {
            user_id: Cell::new(None),
            outbound: Outbound::new(host.state.queue_limits),
            kill: Signal::default(),
        });
        (host.state.sessions.insert(entry.clone()), entry)
    }

    /// Takes every queued message and decodes it as a client would.
    fn queued_events(entry: &SessionEntry) -> Vec<WsEvent> {
        let mut batch = Vec::new();
        futures::executor::block_on(entry.outbound.pop_all(&mut batch));
        let mut buf: BytesMut = batch.iter().flat_map(|message| message.to_vec()).collect();
        let mut decoder = MessageDecoder::new(Role::Client, 1024);
        let mut events = Vec::new();
        while let Some(event) = decoder.decode(&mut buf).expect("server frames decode") {
            events.push(event);
        }
        events
    }

    fn close_code(event: &WsEvent) -> Option<u16> {
        match event {
            WsEvent::Close(Some((code, _))) => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn full_queue_drops_slow_consumer() {
        let host = host(1);
        let (session_id, entry) = open(&host);

        assert!(host.push(session_id, &entry, ws::encode_binary(b"first")));
        assert!(!host.push(session_id, &entry, ws::encode_binary(b"second")));

        assert!(host.state.sessions.get(session_id).is_none());
        assert_eq!(host.removed.get(), 1);
        assert!(entry.kill.is_raised());
        let events = queued_events(&entry);
        assert_eq!(events.len(), 1, "queued messages are discarded: {events:?}");
        let WsEvent::Close(Some((code, reason))) = &events[0] else {
            panic!("expected a close frame, got {events:?}");
        };
        assert_eq!(*code, CloseCode::SlowConsumer.code());
        assert!(reason.ends_with("; try again"), "reason: {reason}");
    }

    #[test]
    fn push_to_ended_session_fails() {
        let host = host(4);
        let (session_id, entry) = open(&host);
        host.end_session(session_id, &entry, CloseCode::Normal, "", false);

        assert!(!host.push(session_id, &entry, ws::encode_binary(b"late")));
    }

    #[test]
    fn second_end_reports_no_removal() {
        let host = host(4);
        let (session_id, entry) = open(&host);

        host.end_session(session_id, &entry, CloseCode::Normal, "", false);
        host.close_session(session_id, &entry, Ending::Disconnected);

        assert_eq!(host.removed.get(), 1);
    }

    #[test]
    fn peer_close_gets_echoed_code() {
        let host = host(4);
        let (session_id, entry) = open(&host);
        assert!(host.push(session_id, &entry, ws::encode_binary(b"queued")));

        let received = Some((4100, "done".to_string()));
        host.close_session(session_id, &entry, Ending::PeerClosed(received));

        let events = queued_events(&entry);
        assert_eq!(events.len(), 2, "queued messages are kept: {events:?}");
        assert_eq!(close_code(&events[1]), Some(4100));
        assert_eq!(host.removed.get(), 1);
    }

    #[test]
    fn disconnect_discards_queued_messages() {
        let host = host(4);
        let (session_id, entry) = open(&host);
        assert!(host.push(session_id, &entry, ws::encode_binary(b"queued")));

        host.close_session(session_id, &entry, Ending::Disconnected);

        let events = queued_events(&entry);
        assert_eq!(events.len(), 1, "queued messages are discarded: {events:?}");
        assert_eq!(close_code(&events[0]), Some(CloseCode::Normal.code()));
    }

    #[test]
    fn drain_queues_notice_then_1001() {
        let host = host(4);
        let sessions = [open(&host), open(&host)];

        host.close_all_for_drain();

        assert!(host.state.sessions.is_empty());
        assert_eq!(host.removed.get(), 2);
        for (_, entry) in &sessions {
            let events = queued_events(entry);
            assert_eq!(events.len(), 2, "{events:?}");
            assert_eq!(events[0], WsEvent::Binary(Bytes::from_static(b"notice")));
            let expected = Some((CloseCode::GoingAway.code(), "draining".to_string()));
            assert_eq!(events[1], WsEvent::Close(expected));
        }
    }
}
