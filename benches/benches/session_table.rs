//! `SessionTable` insert, lookup and remove on a shard that already contains 10,000 or 100,000
//! sessions. Throughput is in operations.
//!
//! Insert and remove are timed in chunks of [`CHUNK`] operations, so the table stays within
//! [`CHUNK`] entries of its starting size: each chunk of timed inserts is removed untimed
//! afterwards, and each chunk of timed removes takes back entries inserted untimed just before.
//! Creating and dropping the entries is not timed.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use switchboard_gateway::session::{Outbound, QueueLimits, SessionEntry, SessionTable, Signal};

const TABLE_SIZES: [usize; 2] = [10_000, 100_000];
/// Operations timed in a row before the table is restored to its starting size.
const CHUNK: u64 = 1_000;

fn entry() -> Rc<SessionEntry> {
    Rc::new(SessionEntry {
        user_id: Cell::new(Some(1)),
        outbound: Outbound::new(QueueLimits {
            max_messages: 1_024,
            max_bytes: 4 * 1024 * 1024,
        }),
        kill: Signal::default(),
    })
}

fn filled_table(size: usize) -> (SessionTable, Vec<u64>) {
    let table = SessionTable::new(0);
    let ids = (0..size).map(|_| table.insert(entry())).collect();
    (table, ids)
}

/// Shuffles `ids` with a fixed xorshift sequence, so lookups do not walk insertion order.
fn shuffle(ids: &mut [u64]) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..ids.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ids.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// Times `iters` inserts, [`CHUNK`] at a time, removing each chunk untimed afterwards.
fn time_inserts(table: &SessionTable, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let count = CHUNK.min(iters - done);
        let entries: Vec<_> = (0..count).map(|_| entry()).collect();
        let mut inserted = Vec::with_capacity(entries.len());
        let started = Instant::now();
        for entry in entries {
            inserted.push(table.insert(entry));
        }
        total += started.elapsed();
        for id in inserted {
            table.remove(id);
        }
        done += count;
    }
    total
}

/// Times `iters` removes, [`CHUNK`] at a time, of entries inserted untimed just before.
fn time_removes(table: &SessionTable, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let count = CHUNK.min(iters - done);
        let mut ids: Vec<u64> = (0..count).map(|_| table.insert(entry())).collect();
        shuffle(&mut ids);
        let mut removed = Vec::with_capacity(ids.len());
        let started = Instant::now();
        for id in ids {
            removed.push(table.remove(id));
        }
        total += started.elapsed();
        drop(removed);
        done += count;
    }
    total
}

fn insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_table_insert");
    group.throughput(Throughput::Elements(1));
    for size in TABLE_SIZES {
        let (table, _) = filled_table(size);
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_custom(|iters| time_inserts(&table, iters))
        });
    }
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_table_lookup");
    group.throughput(Throughput::Elements(1));
    for size in TABLE_SIZES {
        let (table, mut ids) = filled_table(size);
        shuffle(&mut ids);
        let mut next = ids.iter().cycle();
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                let id = *next.next().expect("cycle never ends");
                black_box(table.get(black_box(id)))
            })
        });
    }
    group.finish();
}

fn remove(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_table_remove");
    group.throughput(Throughput::Elements(1));
    for size in TABLE_SIZES {
        let (table, _) = filled_table(size);
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_custom(|iters| time_removes(&table, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, insert, lookup, remove);
criterion_main!(benches);
