//! The router's event loop and commit task over a real fjall store, with a gateway sink that
//! records what the router pushes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_protocol::decode_frames;
use switchboard_protocol::pb::{
    envelope::Kind, internal_frame, Deliver, Envelope, ErrorCode, InternalFrame, PresenceChange,
    RouterRequest, SendMessage,
};
use switchboard_router::store::fjall::FjallStore;
use switchboard_router::store::*;
use switchboard_router::{GatewaySink, Router, RouterConfig, RouterHandle};
use tokio::sync::mpsc;

const GATEWAY: u32 = 7;

/// Forwards every push to the test as (session id, envelope) pairs.
struct RecordingSink(mpsc::UnboundedSender<(u64, Envelope)>);

impl GatewaySink for RecordingSink {
    fn deliver(&self, deliver: Deliver) {
        let envelopes: Vec<Envelope> =
            decode_frames(&deliver.frames).expect("router frames decode");
        for session_id in deliver.session_ids {
            for envelope in &envelopes {
                let _ = self.0.send((session_id, envelope.clone()));
            }
        }
    }
}

/// A fjall store whose message commits fail while `failing` is set.
struct FlakyStore {
    inner: FjallStore,
    failing: AtomicBool,
}

#[async_trait]
impl Store for FlakyStore {
    async fn create_user(&self, username: &str, password_hash: &str) -> StoreResult<User> {
        self.inner.create_user(username, password_hash).await
    }
    async fn user(&self, user_id: UserId) -> StoreResult<Option<User>> {
        self.inner.user(user_id).await
    }
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_name(username).await
    }
    async fn create_conversation(&self, new: NewConversation) -> StoreResult<Conversation> {
        self.inner.create_conversation(new).await
    }
    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<Conversation>> {
        self.inner.conversation(id).await
    }
    async fn add_member(
        &self,
        id: ConversationId,
        user_id: UserId,
        role: Role,
    ) -> StoreResult<Member> {
        self.inner.add_member(id, user_id, role).await
    }
    async fn remove_member(&self, id: ConversationId, user_id: UserId) -> StoreResult<bool> {
        self.inner.remove_member(id, user_id).await
    }
    async fn member(&self, id: ConversationId, user_id: UserId) -> StoreResult<Option<Member>> {
        self.inner.member(id, user_id).await
    }
    async fn members(&self, id: ConversationId) -> StoreResult<Vec<Member>> {
        self.inner.members(id).await
    }
    async fn inbox(&self, user_id: UserId) -> StoreResult<Vec<InboxEntry>> {
        self.inner.inbox(user_id).await
    }
    async fn append_messages(&self, batch: &[StoredMessage]) -> StoreResult<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("disk unavailable (test)".into()));
        }
        self.inner.append_messages(batch).await
    }
    async fn message_by_id(&self, message_id: &str) -> StoreResult<Option<MessageRef>> {
        self.inner.message_by_id(message_id).await
    }
    async fn messages(
        &self,
        id: ConversationId,
        cursor: Seq,
        limit: usize,
        direction: Direction,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.inner.messages(id, cursor, limit, direction).await
    }
    async fn mark_read(
        &self,
        id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<Member> {
        self.inner.mark_read(id, user_id, seq).await
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<FlakyStore>,
    router: Router,
    handle: RouterHandle,
    pushes: mpsc::UnboundedReceiver<(u64, Envelope)>,
    conversation_id: ConversationId,
    alice: UserId,
    bob: UserId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FlakyStore {
        inner: FjallStore::open(dir.path()).unwrap(),
        failing: AtomicBool::new(false),
    });
    let alice = store.create_user("alice", "x").await.unwrap().user_id;
    let bob = store.create_user("bob", "x").await.unwrap().user_id;
    let conversation = store
        .create_conversation(NewConversation {
            kind: ConversationKind::Dm,
            title: String::new(),
            created_by: alice,
            members: vec![alice, bob],
        })
        .await
        .unwrap();

    let router = Router::start(store.clone(), RouterConfig::default());
    let handle = router.handle();
    let (tx, pushes) = mpsc::unbounded_channel();
    handle
        .register_gateway(GATEWAY, Arc::new(RecordingSink(tx)))
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        router,
        handle,
        pushes,
        conversation_id: conversation.conversation_id,
        alice,
        bob,
    }
}

fn online(handle: &RouterHandle, user_id: UserId, session_id: u64) {
    let change = PresenceChange {
        gateway_id: GATEWAY,
        session_id,
        user_id,
        online: true,
    };
    handle
        .try_send(InternalFrame {
            kind: Some(internal_frame::Kind::Presence(change)),
        })
        .unwrap();
}

fn send(
    handle: &RouterHandle,
    user_id: UserId,
    session_id: u64,
    request_id: u64,
    conversation_id: u64,
    message_id: &str,
) {
    let envelope = Envelope {
        request_id,
        kind: Some(Kind::SendMessage(SendMessage {
            conversation_id,
            client_message_id: message_id.to_string(),
            content: format!("content of {message_id}"),
            r#type: 0,
        })),
    };
    let request = RouterRequest {
        gateway_id: GATEWAY,
        session_id,
        user_id,
        envelope: Some(envelope),
    };
    handle
        .try_send(InternalFrame {
            kind: Some(internal_frame::Kind::Request(request)),
        })
        .unwrap();
}

async fn next_push(pushes: &mut mpsc::UnboundedReceiver<(u64, Envelope)>) -> (u64, Envelope) {
    tokio::time::timeout(Duration::from_secs(5), pushes.recv())
        .await
        .expect("a push within 5 s")
        .expect("router running")
}

/// Collects pushes until `count` arrived.
async fn pushes_until(
    pushes: &mut mpsc::UnboundedReceiver<(u64, Envelope)>,
    count: usize,
) -> Vec<(u64, Envelope)> {
    let mut received = Vec::new();
    while received.len() < count {
        received.push(next_push(pushes).await);
    }
    received
}

#[tokio::test]
async fn acks_and_pushes_in_seq_order() {
    let mut f = fixture().await;
    online(&f.handle, f.alice, 1);
    online(&f.handle, f.bob, 2);
    for index in 1..=50 {
        send(
            &f.handle,
            f.alice,
            1,
            index,
            f.conversation_id,
            &format!("m{index}"),
        );
    }

    let received = pushes_until(&mut f.pushes, 100).await;
    let acks: Vec<u64> = received
        .iter()
        .filter(|(session, _)| *session == 1)
        .map(|(_, envelope)| match &envelope.kind {
            Some(Kind::SendAck(ack)) => ack.seq,
            other => panic!("sender got {other:?}"),
        })
        .collect();
    let delivered: Vec<u64> = received
        .iter()
        .filter(|(session, _)| *session == 2)
        .map(|(_, envelope)| match &envelope.kind {
            Some(Kind::Message(message)) => message.seq,
            other => panic!("recipient got {other:?}"),
        })
        .collect();
    assert_eq!(acks, (1..=50).collect::<Vec<u64>>());
    assert_eq!(delivered, (1..=50).collect::<Vec<u64>>());
    f.router.shutdown().await;
}

#[tokio::test]
async fn failed_commit_leaves_no_gap() {
    let mut f = fixture().await;
    online(&f.handle, f.alice, 1);
    send(&f.handle, f.alice, 1, 1, f.conversation_id, "before");
    let (_, ack) = next_push(&mut f.pushes).await;
    assert!(matches!(ack.kind, Some(Kind::SendAck(ref a)) if a.seq == 1));

    f.store.failing.store(true, Ordering::SeqCst);
    send(&f.handle, f.alice, 1, 2, f.conversation_id, "lost");
    let (_, reply) = next_push(&mut f.pushes).await;
    let Some(Kind::Error(error)) = reply.kind else {
        panic!("expected an error while the store fails, got {reply:?}");
    };
    assert_eq!(error.code, ErrorCode::Unavailable as i32);
    assert!(error.retryable, "a failed commit must be retryable");

    f.store.failing.store(false, Ordering::SeqCst);
    send(&f.handle, f.alice, 1, 3, f.conversation_id, "lost");
    let (_, retry) = next_push(&mut f.pushes).await;
    let Some(Kind::SendAck(ack)) = retry.kind else {
        panic!("expected an ack for the retry, got {retry:?}");
    };
    assert_eq!(ack.seq, 2, "the seq of the failed commit must be reused");
    assert!(!ack.duplicate, "the failed send stored nothing");
    f.router.shutdown().await;
}

#[tokio::test]
async fn shutdown_commits_queued_sends() {
    let mut f = fixture().await;
    online(&f.handle, f.alice, 1);
    for index in 1..=20 {
        send(
            &f.handle,
            f.alice,
            1,
            index,
            f.conversation_id,
            &format!("q{index}"),
        );
    }
    f.router.shutdown().await;

    let mut acks = 0;
    while let Ok((_, envelope)) = f.pushes.try_recv() {
        if matches!(envelope.kind, Some(Kind::SendAck(_))) {
            acks += 1;
        }
    }
    assert_eq!(acks, 20, "every send queued before shutdown must be acked");
    let conversation = f
        .store
        .conversation(f.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.last_seq, 20);
}

#[tokio::test]
async fn read_marker_reaches_other_devices() {
    let mut f = fixture().await;
    online(&f.handle, f.bob, 10);
    online(&f.handle, f.bob, 11);
    online(&f.handle, f.alice, 1);
    send(&f.handle, f.alice, 1, 1, f.conversation_id, "hello");
    pushes_until(&mut f.pushes, 3).await;

    let mark = Envelope {
        request_id: 9,
        kind: Some(Kind::MarkRead(switchboard_protocol::pb::MarkRead {
            conversation_id: f.conversation_id,
            seq: 1,
        })),
    };
    let request = RouterRequest {
        gateway_id: GATEWAY,
        session_id: 10,
        user_id: f.bob,
        envelope: Some(mark),
    };
    f.handle
        .try_send(InternalFrame {
            kind: Some(internal_frame::Kind::Request(request)),
        })
        .unwrap();

    let mut received = pushes_until(&mut f.pushes, 2).await;
    received.sort_by_key(|(session, _)| *session);
    assert!(matches!(
        received[0],
        (
            10,
            Envelope {
                kind: Some(Kind::MarkReadAck(_)),
                ..
            }
        )
    ));
    assert!(matches!(
        received[1],
        (
            11,
            Envelope {
                kind: Some(Kind::ReadMarker(_)),
                ..
            }
        )
    ));
    f.router.shutdown().await;
}
