//! The router's commit step before the store write: seq allocation, and `BatchBuilder`
//! assembly of a 1000-message group commit spread over 100 conversations. Throughput is in
//! messages.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use switchboard_router::sequencer::{BatchBuilder, SeqAllocator};
use switchboard_router::store::StoredMessage;

const BATCH_MESSAGES: usize = 1_000;
const CONVERSATIONS: u64 = 100;

/// Creates an allocator with every benchmarked conversation loaded, as after the first commit.
fn loaded_allocator() -> SeqAllocator {
    let mut allocator = SeqAllocator::default();
    for conversation_id in 1..=CONVERSATIONS {
        allocator.load(conversation_id, 0);
    }
    allocator
}

/// Sends in arrival order, round-robin over the conversations, with unique message ids.
fn sends() -> Vec<StoredMessage> {
    (0..BATCH_MESSAGES)
        .map(|index| StoredMessage {
            conversation_id: index as u64 % CONVERSATIONS + 1,
            seq: 0,
            message_id: format!("01HZX3K9P6Q2W8E5R7T4Y1U0IO-{index:04}"),
            sender_id: 7,
            content: "x".repeat(100),
            message_type: 0,
            created_at_ms: 1_767_000_000_000,
        })
        .collect()
}

fn allocate(c: &mut Criterion) {
    let mut allocator = loaded_allocator();
    let mut group = c.benchmark_group("sequencer_allocate");
    group.throughput(Throughput::Elements(BATCH_MESSAGES as u64));
    group.bench_function("1000_over_100_conversations", |b| {
        b.iter(|| {
            for index in 0..BATCH_MESSAGES as u64 {
                black_box(allocator.allocate(index % CONVERSATIONS + 1));
            }
        })
    });
    group.finish();
}

/// Builds one batch from owned sends; cloning the sends happens outside the timing.
fn build_batch(c: &mut Criterion) {
    let sends = sends();
    let mut allocator = loaded_allocator();
    let mut group = c.benchmark_group("sequencer_batch");
    group.throughput(Throughput::Elements(BATCH_MESSAGES as u64));
    group.bench_function("1000_over_100_conversations", |b| {
        b.iter_batched(
            || sends.clone(),
            |sends| {
                let mut batch = BatchBuilder::default();
                for send in sends {
                    batch.push(&mut allocator, send);
                }
                assert_eq!(batch.messages().len(), BATCH_MESSAGES);
                batch
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, allocate, build_batch);
criterion_main!(benches);
