//! Embedded store on fjall 3, the single-node backend of [`Store`].
//!
//! Each table of the data model is its own fjall keyspace (module `tables`). Every write method
//! commits one atomic write batch across those keyspaces with `PersistMode::SyncAll`, so fjall
//! fsyncs the journal before the batch becomes visible and before the method returns. Writes
//! are serialized by one mutex, which also guards id allocation and the read-check-write steps
//! (username uniqueness, seq validation). They run on tokio's blocking pool because an fsync
//! takes milliseconds. Reads call fjall directly.

mod conversations;
mod keys;
mod members;
mod messages;
mod tables;
mod users;
mod values;

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use ::fjall::{Database, OwnedWriteBatch, PersistMode};
use async_trait::async_trait;
use tracing::{info, warn};

use self::tables::{Tables, NEXT_CONVERSATION_ID, NEXT_USER_ID};
use super::{
    Conversation, ConversationId, Direction, InboxEntry, Member, MessageRef, NewConversation, Role,
    Seq, Store, StoreError, StoreResult, StoredMessage, User, UserId, MESSAGE_BUCKET_SIZE,
};

/// Settings of a [`FjallStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FjallStoreOptions {
    /// Messages per bucket of the `messages` keys. Fixed for a data directory once written.
    pub message_bucket_size: u64,
}

impl Default for FjallStoreOptions {
    fn default() -> Self {
        FjallStoreOptions {
            message_bucket_size: MESSAGE_BUCKET_SIZE,
        }
    }
}

/// [`Store`] backed by a fjall database in one local directory.
///
/// One process at a time may open a directory. Cloning shares the open database.
#[derive(Clone)]
pub struct FjallStore {
    inner: Arc<Inner>,
}

/// Shared state of a [`FjallStore`], moved into blocking tasks.
struct Inner {
    path: PathBuf,
    db: Database,
    tables: Tables,
    message_bucket_size: u64,
    /// Next ids to allocate, behind the lock that each write method keeps until its commit is
    /// synced.
    writer: Mutex<IdCounters>,
}

/// Next ids to allocate. The batch that uses an id also persists its successor in `meta`.
struct IdCounters {
    next_user_id: UserId,
    next_conversation_id: ConversationId,
}

impl FjallStore {
    /// Opens or creates the store in directory `path` with default options.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when fjall cannot open the directory (for example, because
    /// another process has it open) or the stored data is malformed.
    pub fn open(path: &Path) -> StoreResult<FjallStore> {
        FjallStore::open_with_options(path, FjallStoreOptions::default())
    }

    /// Opens or creates the store in directory `path`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] as for [`FjallStore::open`], when `message_bucket_size` is 0, or
    /// when it differs from the size the directory was written with.
    pub fn open_with_options(path: &Path, options: FjallStoreOptions) -> StoreResult<FjallStore> {
        if options.message_bucket_size == 0 {
            return Err(StoreError::Backend(
                "message_bucket_size is 0. Use a positive number of messages per bucket.".into(),
            ));
        }

        let db = Database::builder(path)
            .open()
            .map_err(|error| backend_error(&format!("opening {}", path.display()), error))?;
        let tables = Tables::open(&db)?;
        let message_bucket_size = tables.settle_bucket_size(&db, options.message_bucket_size)?;
        let counters = IdCounters {
            next_user_id: tables.read_counter(NEXT_USER_ID, 1)?,
            next_conversation_id: tables.read_counter(NEXT_CONVERSATION_ID, 1)?,
        };

        info!(
            path = %path.display(),
            message_bucket_size,
            next_user_id = counters.next_user_id,
            next_conversation_id = counters.next_conversation_id,
            "opened fjall store"
        );
        Ok(FjallStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                db,
                tables,
                message_bucket_size,
                writer: Mutex::new(counters),
            }),
        })
    }

    /// Runs a write on tokio's blocking pool, because it waits for an fsync.
    ///
    /// The write completes even when the returned future is dropped before it resolves.
    async fn write<T, F>(&self, operation: &'static str, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || write(&inner))
            .await
            .map_err(|error| backend_error(&format!("the blocking task of {operation}"), error))?
    }
}

impl Inner {
    /// Takes the write lock.
    ///
    /// A panic in an earlier writer poisons the mutex, but the counters are only advanced after
    /// a successful commit, so they are still valid and the lock is taken anyway.
    fn lock_writer(&self) -> MutexGuard<'_, IdCounters> {
        self.writer.lock().unwrap_or_else(|poisoned| {
            warn!(path = %self.path.display(), "a store writer panicked, continuing with the persisted id counters");
            self.writer.clear_poison();
            poisoned.into_inner()
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        info!(path = %self.path.display(), "closing fjall store");
    }
}

/// Commits `batch` atomically and fsyncs the journal (`PersistMode::SyncAll`) before the batch
/// becomes visible to readers.
///
/// # Errors
/// [`StoreError::Backend`] naming `operation` when the write or the fsync fails. fjall 3.1
/// then rejects further writes until the database is reopened.
fn commit_durably(batch: OwnedWriteBatch, operation: &str) -> StoreResult<()> {
    batch
        .durability(Some(PersistMode::SyncAll))
        .commit()
        .map_err(|error| backend_error(operation, error))
}

/// Wraps a fjall or runtime error as [`StoreError::Backend`], naming the failed operation.
fn backend_error(operation: &str, error: impl Display) -> StoreError {
    StoreError::Backend(format!("{operation} failed: {error}"))
}

/// Returns the wall-clock time in milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for FjallStore {
    async fn create_user(&self, username: &str, password_hash: &str) -> StoreResult<User> {
        let username = username.to_owned();
        let password_hash = password_hash.to_owned();
        self.write("create_user", move |inner| {
            inner.create_user(&username, &password_hash)
        })
        .await
    }

    async fn user(&self, user_id: UserId) -> StoreResult<Option<User>> {
        self.inner.user(user_id)
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_name(username)
    }

    async fn create_conversation(&self, new: NewConversation) -> StoreResult<Conversation> {
        self.write("create_conversation", move |inner| {
            inner.create_conversation(&new)
        })
        .await
    }

    async fn conversation(
        &self,
        conversation_id: ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        self.inner.conversation(conversation_id)
    }

    async fn add_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        role: Role,
    ) -> StoreResult<Member> {
        self.write("add_member", move |inner| {
            inner.add_member(conversation_id, user_id, role)
        })
        .await
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<bool> {
        self.write("remove_member", move |inner| {
            inner.remove_member(conversation_id, user_id)
        })
        .await
    }

    async fn member(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> StoreResult<Option<Member>> {
        self.inner.member(conversation_id, user_id)
    }

    async fn members(&self, conversation_id: ConversationId) -> StoreResult<Vec<Member>> {
        self.inner.members(conversation_id)
    }

    async fn inbox(&self, user_id: UserId) -> StoreResult<Vec<InboxEntry>> {
        self.inner.inbox(user_id)
    }

    async fn append_messages(&self, batch: &[StoredMessage]) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch = batch.to_vec();
        self.write("append_messages", move |inner| {
            inner.append_messages(&batch)
        })
        .await
    }

    async fn message_by_id(&self, message_id: &str) -> StoreResult<Option<MessageRef>> {
        self.inner.message_by_id(message_id)
    }

    async fn messages(
        &self,
        conversation_id: ConversationId,
        cursor: Seq,
        limit: usize,
        direction: Direction,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.inner
            .messages(conversation_id, cursor, limit, direction)
    }

    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        seq: Seq,
    ) -> StoreResult<Member> {
        self.write("mark_read", move |inner| {
            inner.mark_read(conversation_id, user_id, seq)
        })
        .await
    }
}
