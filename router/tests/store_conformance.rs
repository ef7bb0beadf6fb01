//! Conformance suite of the [`Store`] contract.
//!
//! Each `check_*` function exercises one behaviour through the trait alone and creates its own
//! users and conversations with unique names, so a backend whose data outlives a test run can
//! run the same suite. The tests at the end run every check against a [`FjallStore`] in a
//! temporary directory, followed by the checks that only hold for the embedded store.

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchboard_router::store::fjall::{FjallStore, FjallStoreOptions};
use switchboard_router::store::{
    Conversation, ConversationId, ConversationKind, Direction, MessageRef, NewConversation, Role,
    Seq, Store, StoreError, StoreResult, StoredMessage, User, UserId, MESSAGE_BUCKET_SIZE,
};
use tempfile::TempDir;

/// Bucket size of the embedded store in these tests, small so a few messages cross buckets.
const SMALL_BUCKET_SIZE: u64 = 4;

/// A user id and a conversation id that no check ever creates.
const MISSING_ID: u64 = u64::MAX;

/// Tasks that race to create users in the concurrency check.
const RACING_TASKS: usize = 16;

/// Environment variable that hands the store directory to the child of the abort test.
const ABORT_CHILD_DIR: &str = "SWITCHBOARD_STORE_ABORT_CHILD_DIR";

/// Time the child of the abort test may take before it is killed and the test fails.
const ABORT_CHILD_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn now_ms() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(elapsed.as_millis()).unwrap()
}

/// Returns a name that no earlier call returned, in this or an earlier test run, because it
/// contains the run's start time and a counter.
fn unique_name(prefix: &str) -> String {
    static RUN: OnceLock<u128> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let run = RUN.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{run}-{n}")
}

fn expect_error<T: Debug>(result: StoreResult<T>, operation: &str) -> StoreError {
    match result {
        Ok(value) => panic!("{operation}: expected an error, got {value:?}"),
        Err(error) => error,
    }
}

async fn new_user(store: &dyn Store, prefix: &str) -> User {
    let username = unique_name(prefix);
    store
        .create_user(&username, &format!("hash-of-{username}"))
        .await
        .unwrap()
}

async fn new_group(store: &dyn Store, created_by: UserId, members: &[UserId]) -> Conversation {
    let new = NewConversation {
        kind: ConversationKind::Group,
        title: unique_name("group"),
        created_by,
        members: members.to_vec(),
    };
    store.create_conversation(new).await.unwrap()
}

fn message(
    conversation_id: ConversationId,
    seq: Seq,
    sender_id: UserId,
    created_at_ms: i64,
) -> StoredMessage {
    StoredMessage {
        conversation_id,
        seq,
        message_id: unique_name("message"),
        sender_id,
        content: format!("message {seq} of conversation {conversation_id}"),
        message_type: 1,
        created_at_ms,
    }
}

/// Appends seqs `first..=last` in one batch, each created at `created_at_ms`.
async fn append_seqs(
    store: &dyn Store,
    conversation_id: ConversationId,
    sender_id: UserId,
    first: Seq,
    last: Seq,
    created_at_ms: i64,
) -> Vec<StoredMessage> {
    let batch: Vec<StoredMessage> = (first..=last)
        .map(|seq| message(conversation_id, seq, sender_id, created_at_ms))
        .collect();
    store.append_messages(&batch).await.unwrap();
    batch
}

fn seqs(messages: &[StoredMessage]) -> Vec<Seq> {
    messages.iter().map(|message| message.seq).collect()
}

/// Reads a whole conversation in pages of `page` messages, each page starting at the last
/// seq of the previous one. Fails when it takes more than `max_pages` pages.
async fn read_all_pages(
    store: &dyn Store,
    conversation_id: ConversationId,
    page: usize,
    direction: Direction,
    max_pages: usize,
) -> Vec<StoredMessage> {
    let mut all = Vec::new();
    let mut cursor = 0;
    for _ in 0..max_pages {
        let batch = store
            .messages(conversation_id, cursor, page, direction)
            .await
            .unwrap();
        assert!(batch.len() <= page, "a page of {page} held {}", batch.len());
        let Some(last) = batch.last() else {
            return all;
        };
        cursor = last.seq;
        let full = batch.len() == page;
        all.extend(batch);
        if !full {
            return all;
        }
    }
    panic!("reading conversation {conversation_id} took more than {max_pages} pages of {page}");
}

async fn inbox_ids(store: &dyn Store, user_id: UserId) -> Vec<ConversationId> {
    let inbox = store.inbox(user_id).await.unwrap();
    inbox
        .iter()
        .map(|entry| entry.conversation.conversation_id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checks that every backend must pass
// ---------------------------------------------------------------------------------------------

/// Checks user creation and lookup by id and by username.
pub async fn check_user_create_and_lookup(store: &dyn Store) {
    let name = unique_name("alice");
    let alice = store.create_user(&name, "hash-a").await.unwrap();
    let bob = new_user(store, "bob").await;

    assert_eq!(alice.username, name);
    assert_eq!(alice.password_hash, "hash-a");
    assert_ne!(alice.user_id, bob.user_id);
    assert_eq!(
        store.user(alice.user_id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.user(bob.user_id).await.unwrap(), Some(bob.clone()));
    assert_eq!(store.user_by_name(&name).await.unwrap(), Some(alice));
    assert_eq!(store.user_by_name(&bob.username).await.unwrap(), Some(bob));
    assert_eq!(store.user(MISSING_ID).await.unwrap(), None);
    assert_eq!(
        store.user_by_name(&unique_name("nobody")).await.unwrap(),
        None
    );
    assert_eq!(store.user_by_name("").await.unwrap(), None);
}

/// Checks that a second user with a taken username is rejected and the first is kept.
pub async fn check_duplicate_username_rejected(store: &dyn Store) {
    let first = new_user(store, "taken").await;

    let error = expect_error(
        store.create_user(&first.username, "another-hash").await,
        "create_user with a taken name",
    );

    assert!(
        matches!(&error, StoreError::UsernameTaken(name) if *name == first.username),
        "{error:?}"
    );
    assert_eq!(
        store.user_by_name(&first.username).await.unwrap(),
        Some(first)
    );
}

/// Checks conversation creation with duplicate and unsorted members, its lookup, and that a
/// missing member rejects the whole conversation.
pub async fn check_conversation_create_and_lookup(store: &dyn Store) {
    let creator = new_user(store, "creator").await;
    let first = new_user(store, "first").await;
    let second = new_user(store, "second").await;
    let new = NewConversation {
        kind: ConversationKind::Group,
        title: "team".into(),
        created_by: creator.user_id,
        members: vec![
            second.user_id,
            creator.user_id,
            first.user_id,
            second.user_id,
        ],
    };

    let group = store.create_conversation(new).await.unwrap();

    assert_eq!(group.kind, ConversationKind::Group);
    assert_eq!(group.title, "team");
    assert_eq!(group.created_by, creator.user_id);
    assert_eq!(group.last_seq, 0);
    assert_eq!(group.last_message, None);
    assert_eq!(group.last_activity_ms, group.created_at_ms);
    assert_eq!(
        store.conversation(group.conversation_id).await.unwrap(),
        Some(group.clone())
    );

    let members = store.members(group.conversation_id).await.unwrap();
    let mut expected_ids = vec![creator.user_id, first.user_id, second.user_id];
    expected_ids.sort_unstable();
    let member_ids: Vec<UserId> = members.iter().map(|member| member.user_id).collect();
    assert_eq!(member_ids, expected_ids);
    for member in &members {
        let expected_role = if member.user_id == creator.user_id {
            Role::Owner
        } else {
            Role::Member
        };
        assert_eq!(
            member.role, expected_role,
            "role of user {}",
            member.user_id
        );
        assert_eq!(member.conversation_id, group.conversation_id);
        assert_eq!(member.last_read_seq, 0);
    }

    let dm = store
        .create_conversation(NewConversation {
            kind: ConversationKind::Dm,
            title: String::new(),
            created_by: first.user_id,
            members: vec![first.user_id, second.user_id],
        })
        .await
        .unwrap();
    assert_ne!(dm.conversation_id, group.conversation_id);
    assert_eq!(dm.kind, ConversationKind::Dm);
    assert_eq!(store.members(dm.conversation_id).await.unwrap().len(), 2);

    let inbox_before = inbox_ids(store, creator.user_id).await;
    let error = expect_error(
        store
            .create_conversation(NewConversation {
                kind: ConversationKind::Group,
                title: "with a missing member".into(),
                created_by: creator.user_id,
                members: vec![creator.user_id, MISSING_ID],
            })
            .await,
        "create_conversation with a missing member",
    );
    assert!(
        matches!(error, StoreError::UserNotFound(MISSING_ID)),
        "{error:?}"
    );
    assert_eq!(inbox_ids(store, creator.user_id).await, inbox_before);
    assert_eq!(store.conversation(MISSING_ID).await.unwrap(), None);
}

/// Checks adding, re-adding, listing and removing members, and the errors of `add_member`.
pub async fn check_member_add_remove(store: &dyn Store) {
    let owner = new_user(store, "owner").await;
    let other = new_user(store, "other").await;
    let joiner = new_user(store, "joiner").await;
    let group = new_group(store, owner.user_id, &[other.user_id]).await;
    let conversation_id = group.conversation_id;
    append_seqs(store, conversation_id, owner.user_id, 1, 2, now_ms()).await;

    let added = store
        .add_member(conversation_id, joiner.user_id, Role::Member)
        .await
        .unwrap();
    assert_eq!(added.conversation_id, conversation_id);
    assert_eq!(added.user_id, joiner.user_id);
    assert_eq!(added.role, Role::Member);
    assert_eq!(
        added.last_read_seq, 2,
        "messages before the join are not unread"
    );
    assert_eq!(
        store.member(conversation_id, joiner.user_id).await.unwrap(),
        Some(added.clone())
    );

    let re_added = store
        .add_member(conversation_id, joiner.user_id, Role::Owner)
        .await
        .unwrap();
    assert_eq!(re_added, added, "adding an existing member changes nothing");

    let mut expected_ids = vec![owner.user_id, other.user_id, joiner.user_id];
    expected_ids.sort_unstable();
    let members = store.members(conversation_id).await.unwrap();
    let member_ids: Vec<UserId> = members.iter().map(|member| member.user_id).collect();
    assert_eq!(member_ids, expected_ids);
    let inbox = store.inbox(joiner.user_id).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].conversation.conversation_id, conversation_id);
    assert_eq!(inbox[0].unread, 0);

    assert!(store
        .remove_member(conversation_id, joiner.user_id)
        .await
        .unwrap());
    assert!(!store
        .remove_member(conversation_id, joiner.user_id)
        .await
        .unwrap());
    assert_eq!(
        store.member(conversation_id, joiner.user_id).await.unwrap(),
        None
    );
    assert_eq!(store.members(conversation_id).await.unwrap().len(), 2);
    assert!(store.inbox(joiner.user_id).await.unwrap().is_empty());

    let error = expect_error(
        store
            .add_member(MISSING_ID, joiner.user_id, Role::Member)
            .await,
        "add_member to a missing conversation",
    );
    assert!(
        matches!(error, StoreError::ConversationNotFound(MISSING_ID)),
        "{error:?}"
    );
    let error = expect_error(
        store
            .add_member(conversation_id, MISSING_ID, Role::Member)
            .await,
        "add_member of a missing user",
    );
    assert!(
        matches!(error, StoreError::UserNotFound(MISSING_ID)),
        "{error:?}"
    );
    assert_eq!(store.members(conversation_id).await.unwrap().len(), 2);
}

/// Checks forward and backward reads, paged and from cursors on both sides of bucket
/// boundaries, for a backend whose buckets hold `bucket_size` messages.
pub async fn check_messages_page_across_buckets(store: &dyn Store, bucket_size: u64) {
    let sender = new_user(store, "sender").await;
    let group = new_group(store, sender.user_id, &[]).await;
    let conversation_id = group.conversation_id;
    let total = 3 * bucket_size + 2;
    let created_at_ms = now_ms();

    let mut written = Vec::new();
    let mut first = 1;
    while first <= total {
        let last = (first + bucket_size).min(total);
        written.extend(
            append_seqs(
                store,
                conversation_id,
                sender.user_id,
                first,
                last,
                created_at_ms,
            )
            .await,
        );
        first = last + 1;
    }
    let ascending: Vec<Seq> = (1..=total).collect();
    let descending: Vec<Seq> = (1..=total).rev().collect();
    let max_pages = usize::try_from(total).unwrap() + 2;

    for page in [bucket_size - 1, bucket_size, bucket_size + 1] {
        let page = usize::try_from(page.max(1)).unwrap();
        let forward =
            read_all_pages(store, conversation_id, page, Direction::Forward, max_pages).await;
        assert_eq!(seqs(&forward), ascending, "forward pages of {page}");
        assert_eq!(forward, written, "forward pages of {page}");
        let backward =
            read_all_pages(store, conversation_id, page, Direction::Backward, max_pages).await;
        assert_eq!(seqs(&backward), descending, "backward pages of {page}");
    }

    let read = |cursor: Seq, limit: usize, direction: Direction| async move {
        let messages = store
            .messages(conversation_id, cursor, limit, direction)
            .await
            .unwrap();
        seqs(&messages)
    };
    let b = bucket_size;
    assert_eq!(
        read(b - 1, 3, Direction::Forward).await,
        vec![b, b + 1, b + 2]
    );
    assert_eq!(
        read(2 * b + 1, 3, Direction::Backward).await,
        vec![2 * b, 2 * b - 1, 2 * b - 2]
    );
    assert_eq!(read(b, 1, Direction::Backward).await, vec![b - 1]);
    assert_eq!(read(b - 1, 1, Direction::Forward).await, vec![b]);
    assert_eq!(read(total, 10, Direction::Forward).await, Vec::<Seq>::new());
    assert_eq!(read(1, 10, Direction::Backward).await, Vec::<Seq>::new());
    assert_eq!(read(0, 0, Direction::Forward).await, Vec::<Seq>::new());
    assert_eq!(read(0, 0, Direction::Backward).await, Vec::<Seq>::new());
    assert_eq!(
        read(total + 100, 2, Direction::Backward).await,
        vec![total, total - 1]
    );
    assert_eq!(
        read(u64::MAX, 10, Direction::Forward).await,
        Vec::<Seq>::new()
    );

    let neighbour = new_group(store, sender.user_id, &[]).await;
    let neighbour_batch = append_seqs(
        store,
        neighbour.conversation_id,
        sender.user_id,
        1,
        1,
        created_at_ms,
    )
    .await;
    let neighbour_read = store
        .messages(neighbour.conversation_id, 0, 100, Direction::Backward)
        .await
        .unwrap();
    assert_eq!(neighbour_read, neighbour_batch);
    assert_eq!(
        seqs(
            &store
                .messages(conversation_id, 0, 1, Direction::Backward)
                .await
                .unwrap()
        ),
        vec![total]
    );
}

/// Checks that a batch with a gap, a repeated seq or an unknown conversation is rejected and
/// leaves no trace, even for its valid messages of other conversations.
pub async fn check_seq_conflict_writes_nothing(store: &dyn Store) {
    let sender = new_user(store, "sender").await;
    let group = new_group(store, sender.user_id, &[]).await;
    let other = new_group(store, sender.user_id, &[]).await;
    let id = group.conversation_id;
    let sent = sender.user_id;
    let created_at_ms = now_ms();
    let stored = append_seqs(store, id, sent, 1, 3, created_at_ms).await;

    let gap = vec![
        message(id, 4, sent, created_at_ms),
        message(id, 6, sent, created_at_ms),
    ];
    let error = expect_error(store.append_messages(&gap).await, "append with a gap");
    assert!(
        matches!(error, StoreError::SeqConflict { conversation_id, seq: 6, last_seq: 4 } if conversation_id == id),
        "{error:?}"
    );

    let repeated = vec![message(id, 3, sent, created_at_ms)];
    let error = expect_error(
        store.append_messages(&repeated).await,
        "append of a stored seq",
    );
    assert!(
        matches!(error, StoreError::SeqConflict { conversation_id, seq: 3, last_seq: 3 } if conversation_id == id),
        "{error:?}"
    );

    let repeated_in_batch = vec![
        message(id, 4, sent, created_at_ms),
        message(id, 4, sent, created_at_ms),
    ];
    let error = expect_error(
        store.append_messages(&repeated_in_batch).await,
        "append of one seq twice",
    );
    assert!(
        matches!(error, StoreError::SeqConflict { conversation_id, seq: 4, last_seq: 4 } if conversation_id == id),
        "{error:?}"
    );

    let zero = vec![message(other.conversation_id, 0, sent, created_at_ms)];
    let error = expect_error(store.append_messages(&zero).await, "append of seq 0");
    assert!(
        matches!(
            error,
            StoreError::SeqConflict {
                seq: 0,
                last_seq: 0,
                ..
            }
        ),
        "{error:?}"
    );

    let mixed = vec![
        message(other.conversation_id, 1, sent, created_at_ms),
        message(id, 5, sent, created_at_ms),
    ];
    let error = expect_error(
        store.append_messages(&mixed).await,
        "append with one bad conversation",
    );
    assert!(
        matches!(error, StoreError::SeqConflict { conversation_id, seq: 5, last_seq: 3 } if conversation_id == id),
        "{error:?}"
    );

    let unknown = vec![
        message(other.conversation_id, 1, sent, created_at_ms),
        message(MISSING_ID, 1, sent, created_at_ms),
    ];
    let error = expect_error(
        store.append_messages(&unknown).await,
        "append to a missing conversation",
    );
    assert!(
        matches!(error, StoreError::ConversationNotFound(MISSING_ID)),
        "{error:?}"
    );

    let rejected = gap
        .iter()
        .chain(&repeated)
        .chain(&repeated_in_batch)
        .chain(&zero)
        .chain(&mixed)
        .chain(&unknown);
    for message in rejected {
        assert_eq!(
            store.message_by_id(&message.message_id).await.unwrap(),
            None,
            "index row of rejected message {}",
            message.message_id
        );
    }
    let row = store.conversation(id).await.unwrap().unwrap();
    assert_eq!(row.last_seq, 3);
    assert_eq!(row.last_message.as_ref(), stored.last());
    let other_row = store
        .conversation(other.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other_row, other);
    let messages = store
        .messages(id, 0, 100, Direction::Forward)
        .await
        .unwrap();
    assert_eq!(messages, stored);
    let other_messages = store
        .messages(other.conversation_id, 0, 100, Direction::Forward)
        .await
        .unwrap();
    assert!(other_messages.is_empty(), "{other_messages:?}");

    let next = vec![message(id, 4, sent, created_at_ms)];
    store.append_messages(&next).await.unwrap();
    assert_eq!(store.conversation(id).await.unwrap().unwrap().last_seq, 4);
}

/// Checks that the message-id index finds each appended message.
pub async fn check_message_id_index(store: &dyn Store) {
    let sender = new_user(store, "sender").await;
    let group = new_group(store, sender.user_id, &[]).await;
    let first = message(group.conversation_id, 1, sender.user_id, 1_000);
    let second = message(group.conversation_id, 2, sender.user_id, 2_000);
    store
        .append_messages(&[first.clone(), second.clone()])
        .await
        .unwrap();

    for expected in [&first, &second] {
        let found = store.message_by_id(&expected.message_id).await.unwrap();
        let expected_ref = MessageRef {
            conversation_id: group.conversation_id,
            seq: expected.seq,
            created_at_ms: expected.created_at_ms,
        };
        assert_eq!(found, Some(expected_ref), "{}", expected.message_id);
    }
    assert_eq!(
        store
            .message_by_id(&unique_name("never-sent"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.message_by_id("").await.unwrap(), None);
}

/// Checks that one batch over several conversations leaves each conversation row at its own
/// newest message.
pub async fn check_conversation_row_tracks_newest_message(store: &dyn Store) {
    let sender = new_user(store, "sender").await;
    let first = new_group(store, sender.user_id, &[]).await;
    let second = new_group(store, sender.user_id, &[]).await;
    let base = now_ms() + 60_000;
    let batch = vec![
        message(first.conversation_id, 1, sender.user_id, base + 1),
        message(second.conversation_id, 1, sender.user_id, base + 2),
        message(first.conversation_id, 2, sender.user_id, base + 3),
    ];
    store.append_messages(&batch).await.unwrap();

    let first_row = store
        .conversation(first.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first_row.last_seq, 2);
    assert_eq!(first_row.last_activity_ms, base + 3);
    assert_eq!(first_row.last_message.as_ref(), Some(&batch[2]));
    assert_eq!(first_row.title, first.title);
    assert_eq!(first_row.created_at_ms, first.created_at_ms);

    let second_row = store
        .conversation(second.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second_row.last_seq, 1);
    assert_eq!(second_row.last_activity_ms, base + 2);
    assert_eq!(second_row.last_message.as_ref(), Some(&batch[1]));
}

/// Checks inbox order (activity descending, then conversation id descending), unread counts
/// per member and their change after `mark_read`.
pub async fn check_own_messages_read(store: &dyn Store) {
    let author = new_user(store, "author").await;
    let reader = new_user(store, "listener").await;
    let group = new_group(store, author.user_id, &[reader.user_id]).await;
    let id = group.conversation_id;

    append_seqs(store, id, author.user_id, 1, 4, now_ms()).await;
    let author_member = store.member(id, author.user_id).await.unwrap().unwrap();
    let reader_member = store.member(id, reader.user_id).await.unwrap().unwrap();
    assert_eq!(
        author_member.last_read_seq, 4,
        "the sender has read its own messages"
    );
    assert_eq!(reader_member.last_read_seq, 0, "other members have not");

    append_seqs(store, id, reader.user_id, 5, 5, now_ms()).await;
    let author_member = store.member(id, author.user_id).await.unwrap().unwrap();
    let reader_member = store.member(id, reader.user_id).await.unwrap().unwrap();
    assert_eq!(author_member.last_read_seq, 4);
    assert_eq!(
        reader_member.last_read_seq, 5,
        "a reply marks everything before it read"
    );
}

pub async fn check_inbox_order_and_unread(store: &dyn Store) {
    let user = new_user(store, "reader").await;
    let peer = new_user(store, "peer").await;
    let stranger = new_user(store, "stranger").await;
    let members = [peer.user_id];
    let older = new_group(store, user.user_id, &members).await;
    let newer = new_group(store, user.user_id, &members).await;
    let quiet = new_group(store, user.user_id, &members).await;
    let tied = new_group(store, user.user_id, &members).await;
    new_group(store, peer.user_id, &[stranger.user_id]).await;
    let base = now_ms() + 60_000;
    let peer_id = peer.user_id;

    append_seqs(store, older.conversation_id, peer_id, 1, 3, base + 100).await;
    append_seqs(store, newer.conversation_id, peer_id, 1, 1, base + 300).await;
    append_seqs(store, tied.conversation_id, peer_id, 1, 2, base + 300).await;

    let tied_high = newer.conversation_id.max(tied.conversation_id);
    let tied_low = newer.conversation_id.min(tied.conversation_id);
    let expected_order = vec![
        tied_high,
        tied_low,
        older.conversation_id,
        quiet.conversation_id,
    ];
    assert_eq!(inbox_ids(store, user.user_id).await, expected_order);

    let unread = |inbox: &[switchboard_router::store::InboxEntry], id: ConversationId| {
        let entry = inbox
            .iter()
            .find(|entry| entry.conversation.conversation_id == id)
            .unwrap_or_else(|| panic!("conversation {id} missing from inbox"));
        (entry.last_read_seq, entry.unread)
    };
    let inbox = store.inbox(user.user_id).await.unwrap();
    assert_eq!(unread(&inbox, older.conversation_id), (0, 3));
    assert_eq!(unread(&inbox, newer.conversation_id), (0, 1));
    assert_eq!(unread(&inbox, tied.conversation_id), (0, 2));
    assert_eq!(unread(&inbox, quiet.conversation_id), (0, 0));
    let older_entry = inbox
        .iter()
        .find(|entry| entry.conversation.conversation_id == older.conversation_id)
        .unwrap();
    assert_eq!(older_entry.conversation.last_seq, 3);
    assert_eq!(older_entry.conversation.last_activity_ms, base + 100);

    store
        .mark_read(older.conversation_id, user.user_id, 2)
        .await
        .unwrap();
    store
        .mark_read(newer.conversation_id, user.user_id, 1)
        .await
        .unwrap();

    let inbox = store.inbox(user.user_id).await.unwrap();
    assert_eq!(unread(&inbox, older.conversation_id), (2, 1));
    assert_eq!(unread(&inbox, newer.conversation_id), (1, 0));
    assert_eq!(unread(&inbox, tied.conversation_id), (0, 2));
    assert_eq!(
        inbox_ids(store, user.user_id).await,
        expected_order,
        "reading does not reorder the inbox"
    );

    let peer_inbox = store.inbox(peer.user_id).await.unwrap();
    assert_eq!(peer_inbox.len(), 5);
    assert_eq!(
        unread(&peer_inbox, older.conversation_id),
        (3, 0),
        "the peer sent those messages, so it has read them"
    );
    assert!(store.inbox(MISSING_ID).await.unwrap().is_empty());
}

/// Checks that `mark_read` clamps to the last seq, never lowers the read position, and
/// rejects non-members and missing conversations.
pub async fn check_mark_read_clamps_and_never_lowers(store: &dyn Store) {
    let user = new_user(store, "reader").await;
    let outsider = new_user(store, "outsider").await;
    let writer = new_user(store, "writer").await;
    let group = new_group(store, user.user_id, &[writer.user_id]).await;
    let id = group.conversation_id;
    let empty = new_group(store, user.user_id, &[]).await;
    append_seqs(store, id, writer.user_id, 1, 5, now_ms()).await;

    let member = store.mark_read(id, user.user_id, 100).await.unwrap();
    assert_eq!(member.last_read_seq, 5, "clamped to the last seq");
    let stored = store.member(id, user.user_id).await.unwrap().unwrap();
    assert_eq!(stored.last_read_seq, 5);

    let member = store.mark_read(id, user.user_id, 2).await.unwrap();
    assert_eq!(member.last_read_seq, 5, "a lower seq changes nothing");

    append_seqs(store, id, writer.user_id, 6, 7, now_ms()).await;
    let member = store.mark_read(id, user.user_id, 3).await.unwrap();
    assert_eq!(member.last_read_seq, 5);
    let member = store.mark_read(id, user.user_id, 6).await.unwrap();
    assert_eq!(member.last_read_seq, 6);
    assert_eq!(
        store
            .member(id, user.user_id)
            .await
            .unwrap()
            .unwrap()
            .last_read_seq,
        6
    );
    let inbox = store.inbox(user.user_id).await.unwrap();
    let entry = inbox
        .iter()
        .find(|entry| entry.conversation.conversation_id == id)
        .unwrap();
    assert_eq!(entry.unread, 1);

    let member = store
        .mark_read(empty.conversation_id, user.user_id, 10)
        .await
        .unwrap();
    assert_eq!(member.last_read_seq, 0, "clamped to an empty conversation");

    let error = expect_error(
        store.mark_read(id, outsider.user_id, 1).await,
        "mark_read by a non-member",
    );
    assert!(
        matches!(error, StoreError::UserNotFound(user_id) if user_id == outsider.user_id),
        "{error:?}"
    );
    let error = expect_error(
        store.mark_read(MISSING_ID, user.user_id, 1).await,
        "mark_read in a missing conversation",
    );
    assert!(
        matches!(error, StoreError::ConversationNotFound(MISSING_ID)),
        "{error:?}"
    );
}

/// Checks that everything written through one store handle is read back through a new one
/// returned by `open`, and that new ids do not collide with old ones. `open` is called again
/// only after the previous handle is dropped.
pub async fn check_data_survives_reopen<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let store = open().await;
    let owner = new_user(store.as_ref(), "owner").await;
    let reader = new_user(store.as_ref(), "reader").await;
    let leaver = new_user(store.as_ref(), "leaver").await;
    let members = [reader.user_id, leaver.user_id];
    let group = new_group(store.as_ref(), owner.user_id, &members).await;
    let id = group.conversation_id;
    let written = append_seqs(store.as_ref(), id, owner.user_id, 1, 6, now_ms()).await;
    store.mark_read(id, reader.user_id, 4).await.unwrap();
    assert!(store.remove_member(id, leaver.user_id).await.unwrap());
    let conversation = store.conversation(id).await.unwrap().unwrap();
    let members = store.members(id).await.unwrap();
    let reader_inbox = store.inbox(reader.user_id).await.unwrap();
    drop(store);

    let store = open().await;
    for user in [&owner, &reader, &leaver] {
        assert_eq!(store.user(user.user_id).await.unwrap().as_ref(), Some(user));
        assert_eq!(
            store.user_by_name(&user.username).await.unwrap().as_ref(),
            Some(user)
        );
    }
    assert_eq!(store.conversation(id).await.unwrap(), Some(conversation));
    assert_eq!(store.members(id).await.unwrap(), members);
    assert_eq!(store.member(id, leaver.user_id).await.unwrap(), None);
    assert_eq!(store.inbox(reader.user_id).await.unwrap(), reader_inbox);
    assert_eq!(reader_inbox[0].unread, 2);
    assert!(store.inbox(leaver.user_id).await.unwrap().is_empty());
    let messages = store
        .messages(id, 0, 100, Direction::Forward)
        .await
        .unwrap();
    assert_eq!(messages, written);
    for message in &written {
        let found = store.message_by_id(&message.message_id).await.unwrap();
        assert_eq!(found.map(|found| found.seq), Some(message.seq));
    }

    let error = expect_error(
        store.create_user(&owner.username, "again").await,
        "create_user with a name taken before the reopen",
    );
    assert!(matches!(error, StoreError::UsernameTaken(_)), "{error:?}");
    let newcomer = new_user(store.as_ref(), "newcomer").await;
    let old_user_ids = [owner.user_id, reader.user_id, leaver.user_id];
    assert!(
        !old_user_ids.contains(&newcomer.user_id),
        "{newcomer:?} reuses an id"
    );
    let new_group_row = new_group(store.as_ref(), newcomer.user_id, &[]).await;
    assert_ne!(new_group_row.conversation_id, id);
    let next = vec![message(id, 7, owner.user_id, now_ms())];
    store.append_messages(&next).await.unwrap();
}

/// Checks that concurrent `create_user` calls with one name yield exactly one user, and that
/// concurrent calls with distinct names yield distinct ids.
pub async fn check_concurrent_create_user_same_name(store: Arc<dyn Store>) {
    let name = unique_name("contested");
    let mut tasks = Vec::new();
    for task in 0..RACING_TASKS {
        let store = Arc::clone(&store);
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            store.create_user(&name, &format!("hash-{task}")).await
        }));
    }

    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(user) => winners.push(user),
            Err(StoreError::UsernameTaken(taken)) => assert_eq!(taken, name),
            Err(error) => panic!("create_user failed with an unexpected error: {error:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        store.user_by_name(&name).await.unwrap().as_ref(),
        winners.first()
    );

    let mut tasks = Vec::new();
    for _ in 0..RACING_TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let name = unique_name("distinct");
            store.create_user(&name, "hash").await
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        let user = task.await.unwrap().unwrap();
        assert!(ids.insert(user.user_id), "user id {} twice", user.user_id);
    }
}

// ---------------------------------------------------------------------------------------------
// The checks run against the embedded store
// ---------------------------------------------------------------------------------------------

fn open_fjall(dir: &TempDir, message_bucket_size: u64) -> FjallStore {
    let options = FjallStoreOptions {
        message_bucket_size,
    };
    FjallStore::open_with_options(dir.path(), options).unwrap()
}

fn open_small(dir: &TempDir) -> FjallStore {
    open_fjall(dir, SMALL_BUCKET_SIZE)
}

#[tokio::test]
async fn fjall_own_messages_read() {
    let dir = TempDir::new().unwrap();
    check_own_messages_read(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_user_create_and_lookup() {
    let dir = TempDir::new().unwrap();
    check_user_create_and_lookup(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_duplicate_username_rejected() {
    let dir = TempDir::new().unwrap();
    check_duplicate_username_rejected(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_conversation_create_and_lookup() {
    let dir = TempDir::new().unwrap();
    check_conversation_create_and_lookup(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_member_add_remove() {
    let dir = TempDir::new().unwrap();
    check_member_add_remove(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_messages_page_across_small_buckets() {
    let dir = TempDir::new().unwrap();
    check_messages_page_across_buckets(&open_small(&dir), SMALL_BUCKET_SIZE).await;
}

#[tokio::test]
async fn fjall_messages_page_across_default_buckets() {
    let dir = TempDir::new().unwrap();
    let store = FjallStore::open(dir.path()).unwrap();
    check_messages_page_across_buckets(&store, MESSAGE_BUCKET_SIZE).await;
}

#[tokio::test]
async fn fjall_seq_conflict_writes_nothing() {
    let dir = TempDir::new().unwrap();
    check_seq_conflict_writes_nothing(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_message_id_index() {
    let dir = TempDir::new().unwrap();
    check_message_id_index(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_conversation_row_tracks_newest() {
    let dir = TempDir::new().unwrap();
    check_conversation_row_tracks_newest_message(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_inbox_order_and_unread() {
    let dir = TempDir::new().unwrap();
    check_inbox_order_and_unread(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_mark_read_clamps() {
    let dir = TempDir::new().unwrap();
    check_mark_read_clamps_and_never_lowers(&open_small(&dir)).await;
}

#[tokio::test]
async fn fjall_data_survives_reopen() {
    let dir = TempDir::new().unwrap();
    check_data_survives_reopen(|| {
        let store: Arc<dyn Store> = Arc::new(open_small(&dir));
        async move { store }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fjall_concurrent_create_user() {
    let dir = TempDir::new().unwrap();
    check_concurrent_create_user_same_name(Arc::new(open_small(&dir))).await;
}

// ---------------------------------------------------------------------------------------------
// Behaviour of the embedded store beyond the trait contract
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn fjall_ids_continue_after_reopen() {
    let dir = TempDir::new().unwrap();
    let store = open_small(&dir);
    let first = new_user(&store, "first").await;
    let second = new_user(&store, "second").await;
    let group = new_group(&store, first.user_id, &[second.user_id]).await;
    assert_eq!(first.user_id, 1);
    assert_eq!(second.user_id, 2);
    assert_eq!(group.conversation_id, 1);
    drop(store);

    let store = open_small(&dir);
    let third = new_user(&store, "third").await;
    let next_group = new_group(&store, third.user_id, &[]).await;
    assert_eq!(third.user_id, 3);
    assert_eq!(next_group.conversation_id, 2);
}

#[tokio::test]
async fn fjall_rejected_create_allocates_no_id() {
    let dir = TempDir::new().unwrap();
    let store = open_small(&dir);
    let first = new_user(&store, "first").await;
    expect_error(
        store.create_user(&first.username, "hash").await,
        "create_user with a taken name",
    );
    let new = NewConversation {
        kind: ConversationKind::Group,
        title: "rejected".into(),
        created_by: first.user_id,
        members: vec![MISSING_ID],
    };
    expect_error(
        store.create_conversation(new).await,
        "create_conversation with a missing member",
    );

    let second = new_user(&store, "second").await;
    let group = new_group(&store, first.user_id, &[]).await;
    assert_eq!(second.user_id, first.user_id + 1);
    assert_eq!(group.conversation_id, 1);
}

#[test]
fn fjall_bucket_size_change_rejected() {
    let dir = TempDir::new().unwrap();
    drop(open_fjall(&dir, SMALL_BUCKET_SIZE));

    let result = FjallStore::open(dir.path());

    let error = expect_error(result.map(|_| ()), "open with another bucket size");
    assert!(
        matches!(&error, StoreError::Backend(text) if text.contains("message_bucket_size 4")),
        "{error:?}"
    );
    drop(open_fjall(&dir, SMALL_BUCKET_SIZE));
}

#[test]
fn fjall_zero_bucket_size_fails() {
    let dir = TempDir::new().unwrap();
    let options = FjallStoreOptions {
        message_bucket_size: 0,
    };

    let result = FjallStore::open_with_options(dir.path(), options);

    let error = expect_error(result.map(|_| ()), "open with bucket size 0");
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
}

#[test]
fn fjall_second_open_rejected() {
    let dir = TempDir::new().unwrap();
    let _first = open_small(&dir);

    let second = FjallStore::open_with_options(
        dir.path(),
        FjallStoreOptions {
            message_bucket_size: SMALL_BUCKET_SIZE,
        },
    );

    let error = expect_error(second.map(|_| ()), "second open of one directory");
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
}

#[tokio::test]
async fn fjall_rejects_unstorable_keys() {
    let dir = TempDir::new().unwrap();
    let store = open_small(&dir);
    let sender = new_user(&store, "sender").await;
    let group = new_group(&store, sender.user_id, &[]).await;

    for username in [String::new(), "u".repeat(65_536)] {
        let error = expect_error(
            store.create_user(&username, "hash").await,
            "create_user with an unstorable name",
        );
        assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    }

    let mut unnamed = message(group.conversation_id, 1, sender.user_id, now_ms());
    unnamed.message_id = String::new();
    let error = expect_error(
        store.append_messages(&[unnamed]).await,
        "append with an empty message id",
    );
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    let row = store
        .conversation(group.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.last_seq, 0);
}

/// Runs the test binary again as a child that writes through the store and aborts without
/// running destructors, then checks that every write that returned before the abort is read
/// back.
#[tokio::test]
async fn fjall_writes_survive_process_abort() {
    let dir = TempDir::new().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["abort_child_writes_then_aborts", "--exact", "--ignored"])
        .env(ABORT_CHILD_DIR, dir.path())
        .spawn()
        .unwrap();

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > ABORT_CHILD_TIMEOUT {
            child.kill().unwrap();
            panic!("the abort child ran longer than {ABORT_CHILD_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!status.success(), "the child exited normally: {status}");

    let store = open_small(&dir);
    let user = store.user_by_name("survivor").await.unwrap().unwrap();
    assert_eq!(user.user_id, 1);
    let conversation = store.conversation(1).await.unwrap().unwrap();
    assert_eq!(conversation.last_seq, 3);
    let messages = store.messages(1, 0, 10, Direction::Forward).await.unwrap();
    assert_eq!(seqs(&messages), vec![1, 2, 3]);
    let member = store.member(1, user.user_id).await.unwrap().unwrap();
    assert_eq!(member.last_read_seq, 2);
}

/// Writes through the store and aborts, as the child process of
/// `fjall_writes_survive_process_abort`. Fails when run on its own.
#[tokio::test]
#[ignore = "run as a child process by fjall_writes_survive_process_abort"]
async fn abort_child_writes_then_aborts() {
    let path = std::env::var_os(ABORT_CHILD_DIR).unwrap_or_else(|| {
        panic!("{ABORT_CHILD_DIR} is not set. Run fjall_writes_survive_process_abort instead.")
    });
    let options = FjallStoreOptions {
        message_bucket_size: SMALL_BUCKET_SIZE,
    };
    let store = FjallStore::open_with_options(std::path::Path::new(&path), options).unwrap();

    let user = store.create_user("survivor", "hash").await.unwrap();
    let writer = store.create_user("writer", "hash").await.unwrap();
    let group = new_group(&store, user.user_id, &[writer.user_id]).await;
    append_seqs(
        &store,
        group.conversation_id,
        writer.user_id,
        1,
        3,
        now_ms(),
    )
    .await;
    store
        .mark_read(group.conversation_id, user.user_id, 2)
        .await
        .unwrap();

    std::process::abort();
}
