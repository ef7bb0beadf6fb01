//! WebSocket frame decoding on the gateway's read path: header parse and unmask of a masked
//! client binary frame, the whole [`MessageDecoder`] step, and `apply_mask` against a naive
//! byte loop. Sizes are payload bytes; throughput is in payload bytes.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use switchboard_gateway::ws::{
    apply_mask, encode_masked_frame, parse_frame_header, MessageDecoder, OpCode, Role, WsEvent,
};

const PAYLOAD_SIZES: [usize; 3] = [128, 4 * 1024, 64 * 1024];
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Maximum message size given to the parser, above every benchmarked payload.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

fn masked_binary_frame(payload_len: usize) -> BytesMut {
    let payload: Vec<u8> = (0..payload_len).map(|i| (i % 251) as u8).collect();
    let mut frame = BytesMut::with_capacity(payload_len + 14);
    encode_masked_frame(&mut frame, true, OpCode::Binary, &payload, MASK);
    frame
}

/// Header parse plus in-place unmask of the payload. Masking is its own inverse, so every
/// iteration does the same work on the same buffer, which flips between masked and plain.
fn parse_and_unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_frame_parse_unmask");
    for size in PAYLOAD_SIZES {
        let mut frame = masked_binary_frame(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                let header = parse_frame_header(&frame, Role::Server, MAX_MESSAGE_BYTES as u64)
                    .expect("valid frame")
                    .expect("complete header");
                let mask = header.mask.expect("client frames are masked");
                apply_mask(&mut frame[header.header_len..], mask);
                black_box(&frame);
            })
        });
    }
    group.finish();
}

/// The decoder step that the reader loop runs per message: parse, split the payload off the
/// read buffer, unmask and return the event. The buffer copy is made outside the timing.
fn message_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_message_decode");
    for size in PAYLOAD_SIZES {
        let frame = masked_binary_frame(size);
        let mut decoder = MessageDecoder::new(Role::Server, MAX_MESSAGE_BYTES);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_batched(
                || frame.clone(),
                |mut buf| match decoder.decode(&mut buf) {
                    Ok(Some(WsEvent::Binary(payload))) => payload,
                    other => panic!("expected a binary message, got {other:?}"),
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn naive_mask(data: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// `apply_mask` (8 bytes per step) against a loop over single bytes.
fn mask_variants(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_mask");
    for size in PAYLOAD_SIZES {
        let mut data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("apply_mask", size), |b| {
            b.iter(|| apply_mask(black_box(&mut data), black_box(MASK)))
        });
        group.bench_function(BenchmarkId::new("naive_byte_loop", size), |b| {
            b.iter(|| naive_mask(black_box(&mut data), black_box(MASK)))
        });
    }
    group.finish();
}

criterion_group!(benches, parse_and_unmask, message_decode, mask_variants);
criterion_main!(benches);
