//! `chat_split`: sansnet's chat [`Splitter`] against serde_json's
//! `StreamDeserializer` on one stream of about 4 MiB: newline-delimited
//! `{"content":"..."}` objects of mixed sizes (16 B to 4 KiB of text, mostly
//! short), whose strings hold braces, escaped quotes and backslashes.
//!
//! - `sansnet`: [`Splitter::next_frame`] over a `BytesMut` holding the whole
//!   stream, counting frames (finds object boundaries only, no parsing).
//! - `serde_json`: `Deserializer::from_slice(..).into_iter::<IgnoredAny>()`,
//!   counting values (a full JSON syntax check, nothing built).
//! - `sansnet_parse`: split, then [`ClientMessage::parse`] on each frame
//!   (what the room does per frame).
//! - `serde_json_typed`: the `StreamDeserializer` into a
//!   `struct { content: String }`.
//!
//! Throughput is the stream's length, so GB/s compare across ids. The copy
//! of the stream into a fresh `BytesMut` is made outside the timed routine.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sansnet_proto::chat::{ClientMessage, Splitter};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// Target size of the stream.
const STREAM_BYTES: usize = 4 << 20;

/// The typed form of one object, for `serde_json_typed`.
#[derive(Deserialize)]
struct Say {
    content: String,
}

/// The stream and its number of objects. Deterministic (xorshift32).
fn stream() -> (Vec<u8>, usize) {
    let mut rng = 0x2545_f491_u32;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng
    };
    // One word in eight has braces, escaped quotes or a backslash.
    const WORDS: [&str; 16] = [
        "hello",
        "there",
        "{braces}",
        "world",
        "sans-io",
        "chat",
        "message",
        "network",
        "split",
        "stream",
        r#"\"quoted\""#,
        "frames",
        "object",
        "buffer",
        r"back\\slash",
        "json",
    ];
    let mut out = Vec::with_capacity(STREAM_BYTES + 8192);
    let mut count = 0;
    while out.len() < STREAM_BYTES {
        // Mostly short messages, some medium, a few long.
        let len = match next() % 16 {
            0 => 1024 + next() as usize % 3072,
            1..=4 => 128 + next() as usize % 896,
            _ => 16 + next() as usize % 112,
        };
        out.extend_from_slice(br#"{"content":""#);
        let start = out.len();
        while out.len() - start < len {
            out.extend_from_slice(WORDS[next() as usize % WORDS.len()].as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(b"\"}\n");
        count += 1;
    }
    (out, count)
}

fn chat_split(c: &mut Criterion) {
    let (input, objects) = stream();
    // The stream is what the ids expect: every object a valid message.
    {
        let mut buf = BytesMut::from(&input[..]);
        let mut s = Splitter::new();
        let mut n = 0;
        while let Some(frame) = s.next_frame(&mut buf).unwrap() {
            assert!(matches!(ClientMessage::parse(&frame), Ok(ClientMessage::Say { .. })));
            n += 1;
        }
        assert_eq!(n, objects);
        assert!(buf.is_empty());
    }

    let mut g = c.benchmark_group("chat_split");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .throughput(Throughput::Bytes(input.len() as u64));

    let fresh = || BytesMut::from(&input[..]);

    g.bench_function("sansnet", |b| {
        b.iter_batched(
            fresh,
            |mut buf| {
                assert_eq!(split_all(&mut buf, |frame| black_box(frame.len())), objects);
                buf
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("serde_json", |b| {
        b.iter(|| {
            let mut values = 0usize;
            for v in
                serde_json::Deserializer::from_slice(black_box(&input)).into_iter::<IgnoredAny>()
            {
                v.unwrap();
                values += 1;
            }
            assert_eq!(values, objects);
        })
    });

    g.bench_function("sansnet_parse", |b| {
        b.iter_batched(
            fresh,
            |mut buf| {
                let parse = |frame: &[u8]| black_box(ClientMessage::parse(frame).unwrap());
                assert_eq!(split_all(&mut buf, parse), objects);
                buf
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("serde_json_typed", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for msg in serde_json::Deserializer::from_slice(black_box(&input)).into_iter::<Say>() {
                black_box(&msg.unwrap().content);
                n += 1;
            }
            assert_eq!(n, objects);
        })
    });

    g.finish();
}

criterion_group!(benches, chat_split);
criterion_main!(benches);

/// Splits every frame out of `buf`, handing each to `each`; the count.
fn split_all<T>(buf: &mut BytesMut, mut each: impl FnMut(&[u8]) -> T) -> usize {
    let mut s = Splitter::new();
    let mut n = 0usize;
    while let Some(frame) = s.next_frame(buf).unwrap() {
        each(&frame);
        n += 1;
    }
    n
}
