//! `http_parse`: sansnet's [`HeadParser`] against httparse on httparse's own
//! bench inputs ([`REQ`], [`REQ_SHORT`]).
//!
//! - `req/*`, `req_short/*`: one-shot parse of a whole head. sansnet parses
//!   with full validation and framing semantics (it has no other mode) into
//!   one parser that is `reset()` after each head; httparse parses into 16
//!   header slots made outside the timed loop, as in its `benches/parse.rs`.
//! - `bytewise_req/*`: the head arrives one byte per call. sansnet feeds the
//!   growing buffer `&REQ[..i]`, i = 1..=720, to one incremental parser;
//!   httparse, being stateless, re-parses `&REQ[..i]` from scratch each time.
//!
//! Throughput is the head's length in bytes, so GB/s compare across ids.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use httparse::{EMPTY_HEADER, Header, Request, Status};
use sansnet_benches::{REQ, REQ_SHORT};
use sansnet_proto::http::{HeadParser, Limits};

fn slots() -> [Header<'static>; 16] {
    [EMPTY_HEADER; 16]
}

fn http_parse(c: &mut Criterion) {
    assert_eq!(REQ.len(), 720, "httparse's REQ");
    assert_eq!(REQ_SHORT.len(), 68, "httparse's REQ_SHORT");

    let mut g = c.benchmark_group("http_parse");
    g.sample_size(200)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    for (name, input) in [("req", REQ), ("req_short", REQ_SHORT)] {
        g.throughput(Throughput::Bytes(input.len() as u64));

        let mut parser = HeadParser::new(&Limits::default());
        g.bench_function(format!("{name}/sansnet"), |b| {
            b.iter(|| {
                let done = parser.parse(black_box(input));
                parser.reset();
                assert_eq!(done, Ok(Some(input.len())));
            })
        });

        g.bench_function(format!("{name}/httparse"), |b| {
            b.iter_batched_ref(
                slots,
                |headers| {
                    let mut req = Request::new(headers);
                    assert_eq!(req.parse(black_box(input)), Ok(Status::Complete(input.len())));
                },
                BatchSize::SmallInput,
            )
        });
    }

    g.throughput(Throughput::Bytes(REQ.len() as u64));

    let mut parser = HeadParser::new(&Limits::default());
    g.bench_function("bytewise_req/sansnet", |b| {
        b.iter(|| {
            for i in 1..REQ.len() {
                assert_eq!(parser.parse(black_box(&REQ[..i])), Ok(None));
            }
            let done = parser.parse(black_box(REQ));
            parser.reset();
            assert_eq!(done, Ok(Some(REQ.len())));
        })
    });

    g.bench_function("bytewise_req/httparse", |b| {
        b.iter_batched_ref(
            slots,
            |headers| {
                for i in 1..REQ.len() {
                    let mut req = Request::new(&mut headers[..]);
                    assert_eq!(req.parse(black_box(&REQ[..i])), Ok(Status::Partial));
                }
                let mut req = Request::new(&mut headers[..]);
                assert_eq!(req.parse(black_box(REQ)), Ok(Status::Complete(REQ.len())));
            },
            BatchSize::SmallInput,
        )
    });

    g.finish();
}

/// The floor under `bytewise_req`: handing the 720 growing slices through
/// `black_box` and looking at one byte of each, with no parser at all. No
/// byte-at-a-time parser can beat it, so it shows how much of
/// `bytewise_req/sansnet` is the parser's own work.
fn bytewise_floor(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_parse_floor");
    g.sample_size(200)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Bytes(REQ.len() as u64));
    g.bench_function("bytewise_req/slices_only", |b| {
        b.iter(|| {
            let mut lines = 0;
            for i in 1..=REQ.len() {
                let s = black_box(&REQ[..i]);
                lines += usize::from(s[i - 1] == b'\n');
            }
            assert_eq!(lines, 11);
        })
    });
    g.finish();
}

criterion_group!(benches, http_parse, bytewise_floor);
criterion_main!(benches);
