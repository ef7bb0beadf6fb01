//! Broadcast fan-out on one shard, as `Shard::deliver` does it: encode the WebSocket frame
//! once, look each recipient up in the shard's `SessionTable` and queue a clone of the one
//! `Bytes` on its `Outbound` queue. Throughput is in recipients, so criterion reports the
//! cost per recipient. The variant that encodes per recipient shows what encoding once saves.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_gateway::config::GatewayConfig;
use switchboard_gateway::session::{Outbound, QueueLimits, SessionEntry, SessionTable, Signal};
use switchboard_gateway::ws;

const RECIPIENTS: usize = 10_000;
/// A protocol frame of a short chat message is about this size.
const PAYLOAD_BYTES: usize = 256;

/// One shard's sessions, with the gateway's default send-queue bounds.
struct Recipients {
    table: SessionTable,
    ids: Vec<u64>,
    batch: Vec<Bytes>,
}

impl Recipients {
    fn new(count: usize) -> Self {
        let config = GatewayConfig::default();
        let limits = QueueLimits {
            max_messages: config.send_queue_messages,
            max_bytes: config.send_queue_bytes,
        };
        let table = SessionTable::new(0);
        let ids = (0..count)
            .map(|_| {
                table.insert(Rc::new(SessionEntry {
                    user_id: Cell::new(Some(1)),
                    outbound: Outbound::new(limits),
                    kill: Signal::default(),
                }))
            })
            .collect();
        Self {
            table,
            ids,
            batch: Vec::new(),
        }
    }

    /// Queues `message` for every recipient.
    fn push_all(&self, message: &Bytes) {
        for id in &self.ids {
            let entry = self.table.get(*id).expect("recipient is in the table");
            entry
                .outbound
                .push(message.clone())
                .expect("queue has room");
        }
    }

    /// Queues a separately encoded copy of `payload` for every recipient.
    fn encode_and_push_each(&self, payload: &[u8]) {
        for id in &self.ids {
            let entry = self.table.get(*id).expect("recipient is in the table");
            let message = ws::encode_binary(payload);
            entry.outbound.push(message).expect("queue has room");
        }
    }

    /// Takes everything queued, as each session's writer task does.
    fn drain_all(&mut self) {
        let mut context = Context::from_waker(Waker::noop());
        for id in &self.ids {
            let entry = self.table.get(*id).expect("recipient is in the table");
            let popped = pin!(entry.outbound.pop_all(&mut self.batch)).poll(&mut context);
            assert_eq!(popped, Poll::Ready(true), "queue {id} had a message");
            self.batch.clear();
        }
    }
}

/// Times `iters` rounds of `fan_out`; the drain after each round is not timed.
fn time_rounds(recipients: &mut Recipients, iters: u64, fan_out: impl Fn(&Recipients)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let started = Instant::now();
        fan_out(recipients);
        total += started.elapsed();
        recipients.drain_all();
    }
    total
}

fn fan_out(c: &mut Criterion) {
    let payload = vec![0x5a_u8; PAYLOAD_BYTES];
    let mut recipients = Recipients::new(RECIPIENTS);
    let mut group = c.benchmark_group("broadcast_10k");
    group.throughput(Throughput::Elements(RECIPIENTS as u64));

    group.bench_function("encode_once_push", |b| {
        b.iter_custom(|iters| {
            time_rounds(&mut recipients, iters, |recipients| {
                recipients.push_all(&ws::encode_binary(&payload));
            })
        })
    });
    group.bench_function("encode_once_push_drain", |b| {
        b.iter(|| {
            recipients.push_all(&ws::encode_binary(&payload));
            recipients.drain_all();
        })
    });
    group.bench_function("encode_each_push", |b| {
        b.iter_custom(|iters| {
            time_rounds(&mut recipients, iters, |recipients| {
                recipients.encode_and_push_each(&payload);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
