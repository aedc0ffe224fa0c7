//! `file_core`: the file-transfer machines alone, no socket and no disk. A
//! [`Sender`] and a [`Receiver`] wired back to back in memory move a
//! 64 MiB file: header, `OK 0`, the data, the trailer, `DONE`. Both sides
//! hash every byte with BLAKE3, as over the wire.
//!
//! - `pair`: the whole exchange, wired by the core's test harness
//!   (`sansnet_proto::testing::Pair`). The sender's reads are answered with
//!   slices of one `Bytes` (no copy, like a buffer the disk filled); the
//!   bytes it transmits are copied into the receiver's `BytesMut`, as a
//!   driver's read does; the receiver's writes are reported done at once.
//! - `blake3_x2`: `blake3::hash` of the file twice, what the two sides'
//!   hashing costs at the least.
//! - `copy`: one copy of the file into a buffer allocated beforehand, the
//!   pair's own copy.
//!
//! So `pair` against `blake3_x2` plus `copy` is what the machines add: the
//! framing, the splitting into batches, the events. (The pair's hashing
//! works on 256 KiB pieces that stay in cache between the copy and the
//! receiver's hash, while `blake3_x2` streams 64 MiB from memory twice.)

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansnet_proto::Instant;
use sansnet_proto::file::{Hash, Limits, Receiver, Sender, receiver, sender};
use sansnet_proto::testing::Pair;

/// The file's length.
const FILE_BYTES: usize = 64 << 20;

/// The file: deterministic bytes (xorshift64).
fn file() -> Bytes {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut data = Vec::with_capacity(FILE_BYTES);
    while data.len() < FILE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    Bytes::from(data)
}

/// One whole transfer of `file`; the hash `DONE` confirmed.
fn transfer(file: &Bytes) -> Hash {
    let now = Instant::ZERO;
    let limits = Limits::default();
    let tx = Sender::new("bench.bin", file.len() as u64, limits, now).expect("a plain name");
    let mut pair = Pair::new(tx, Receiver::new(limits, now), now);
    let (stored, done) = (Cell::new(0usize), Cell::new(None));
    let mut tx_app = |tx: &mut Sender, ev| match ev {
        sender::Event::Read { offset, len } => {
            let at = offset as usize;
            tx.supply(now, file.slice(at..at + len)).expect("supply");
        }
        sender::Event::Done { hash } => done.set(Some(hash)),
        sender::Event::Accepted { .. } => {}
        other => panic!("sender: {other:?}"),
    };
    let mut rx_app = |rx: &mut Receiver, ev| match ev {
        receiver::Event::Offer { .. } => rx.accept(now, 0).expect("accept"),
        receiver::Event::Write { data, .. } => {
            let n = data.iter().map(Bytes::len).sum();
            stored.set(stored.get() + black_box(n));
            rx.written(now, n);
        }
        receiver::Event::Commit { .. } => rx.committed().expect("commit"),
        other => panic!("receiver: {other:?}"),
    };
    // Bounded: each step moves something, or the exchange is stuck.
    for _ in 0..1_000_000 {
        let moved = pair.step(&mut tx_app, &mut rx_app);
        if let Some(hash) = done.get() {
            assert_eq!(stored.get(), file.len());
            return hash;
        }
        assert!(moved, "the exchange is stuck");
    }
    panic!("the exchange did not end");
}

fn bench(c: &mut Criterion) {
    let file = file();
    assert_eq!(transfer(&file), blake3::hash(&file));
    let mut g = c.benchmark_group("file_core");
    g.throughput(Throughput::Bytes(FILE_BYTES as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("pair", |b| b.iter(|| transfer(black_box(&file))));
    g.bench_function("blake3_x2", |b| {
        b.iter(|| (blake3::hash(black_box(&file)), blake3::hash(black_box(&file))))
    });
    let mut buf = vec![0u8; FILE_BYTES];
    g.bench_function("copy", |b| {
        b.iter(|| {
            buf.copy_from_slice(black_box(&file));
            black_box(&buf);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
