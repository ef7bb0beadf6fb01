//! Group commit of the embedded fjall store: `append_messages` of batches of 1, 100 and 1000
//! messages, each batch one atomic write synced to disk (`PersistMode::SyncAll`). Throughput is
//! in messages.
//!
//! The store lives in a temporary folder under Cargo's target directory, so it is on the disk
//! that the build uses. An fsync there decides most of the time of a small batch, so these
//! numbers depend on the disk far more than on the CPU.

use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use switchboard_router::store::fjall::FjallStore;
use switchboard_router::store::{
    ConversationId, ConversationKind, NewConversation, Seq, Store, StoredMessage,
};
use tempfile::TempDir;
use tokio::runtime::Runtime;

const BATCH_SIZES: [usize; 3] = [1, 100, 1_000];
/// Conversations that a batch's messages are spread over, round-robin.
const CONVERSATIONS: usize = 100;
const CONTENT_BYTES: usize = 100;

/// A store with one user and [`CONVERSATIONS`] group conversations, and the next seq of each.
struct Fixture {
    _folder: TempDir,
    store: FjallStore,
    conversations: Vec<(ConversationId, Seq)>,
    next_message: u64,
}

impl Fixture {
    fn open(runtime: &Runtime) -> Fixture {
        let folder = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create a temporary store folder under the target directory");
        let store = FjallStore::open(folder.path()).expect("open the fjall store");
        let conversations = runtime.block_on(async {
            let user = store
                .create_user("bench-sender", "not-a-password-hash")
                .await
                .expect("create the sender");
            let mut conversations = Vec::with_capacity(CONVERSATIONS);
            for index in 0..CONVERSATIONS {
                let new = NewConversation {
                    kind: ConversationKind::Group,
                    title: format!("bench conversation {index}"),
                    created_by: user.user_id,
                    members: vec![user.user_id],
                };
                let conversation = store
                    .create_conversation(new)
                    .await
                    .expect("create a conversation");
                conversations.push((conversation.conversation_id, 1));
            }
            conversations
        });
        Fixture {
            _folder: folder,
            store,
            conversations,
            next_message: 0,
        }
    }

    /// Builds the next batch of `size` messages, continuing every conversation's seqs.
    fn next_batch(&mut self, size: usize) -> Vec<StoredMessage> {
        let mut batch = Vec::with_capacity(size);
        for _ in 0..size {
            let slot = self.next_message as usize % self.conversations.len();
            let (conversation_id, seq) = &mut self.conversations[slot];
            batch.push(StoredMessage {
                conversation_id: *conversation_id,
                seq: *seq,
                message_id: format!("bench-{}", self.next_message),
                sender_id: 1,
                content: "x".repeat(CONTENT_BYTES),
                message_type: 0,
                created_at_ms: 1_767_000_000_000,
            });
            *seq += 1;
            self.next_message += 1;
        }
        batch
    }
}

/// Times `iters` commits of `size` messages; building each batch is not timed.
fn time_commits(fixture: &mut Fixture, runtime: &Runtime, size: usize, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let batch = fixture.next_batch(size);
        let started = Instant::now();
        runtime
            .block_on(fixture.store.append_messages(&batch))
            .expect("append the batch");
        total += started.elapsed();
    }
    total
}

fn append(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    let mut fixture = Fixture::open(&runtime);

    let mut group = c.benchmark_group("store_append_messages");
    // Each commit waits for an fsync, which takes from about 0.1 ms to several ms depending
    // on the disk, so keep the run short.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for size in BATCH_SIZES {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_custom(|iters| time_commits(&mut fixture, &runtime, size, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
