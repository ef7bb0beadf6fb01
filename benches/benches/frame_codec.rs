//! Encode and decode of protocol frames: one envelope, and a batch of 64 in one unit.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use switchboard_protocol::pb::{envelope::Kind, Envelope, Message};
use switchboard_protocol::{encode_frame, FrameDecoder};

fn message_event(seq: u64) -> Envelope {
    Envelope {
        request_id: 0,
        kind: Some(Kind::Message(Message {
            conversation_id: 42,
            seq,
            message_id: format!("0123456789abcdef-{seq}"),
            sender_id: 7,
            content: "x".repeat(120),
            r#type: 0,
            created_at_ms: 1_767_000_000_000,
        })),
    }
}

fn encode(c: &mut Criterion) {
    let envelope = message_event(1);
    let mut group = c.benchmark_group("frame_encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("message_event", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            encode_frame(&envelope, &mut out);
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut unit = BytesMut::new();
    for seq in 0..64 {
        encode_frame(&message_event(seq), &mut unit);
    }
    let decoder = FrameDecoder::default();
    let mut group = c.benchmark_group("frame_decode");
    group.throughput(Throughput::Elements(64));
    group.bench_function("batch_of_64", |b| {
        b.iter_batched(
            || unit.clone(),
            |unit| decoder.decode_all::<Envelope>(&unit).expect("valid frames"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
