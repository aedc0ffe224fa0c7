//! The linear bound of the head parser (HTTP-NOTES §7, G3): however a head
//! is split, `HeadParser::bytes_inspected` stays within 2·n. httparse, being
//! stateless, re-parses from byte 0 after every piece (n²/2 bytes one byte
//! at a time); sansnet resumes where it stopped.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use sansnet_proto::http::{HeadParser, Limits, RequestHead};

use super::harness::{Rng, config, cut_at};
use super::vectors::{REQ, REQ_SHORT, synthetic_head};

/// The heads measured: (name, bytes, limits that admit them).
fn heads() -> Vec<(&'static str, Vec<u8>, Limits)> {
    let many = Limits::default().with_max_fields(400);
    vec![
        ("REQ_SHORT", REQ_SHORT.to_vec(), Limits::default()),
        ("REQ", REQ.to_vec(), Limits::default()),
        ("100 fields", synthetic_head(100, 5857), Limits::default()),
        ("400 fields", synthetic_head(400, 23257), many),
    ]
}

/// Feeds growing prefixes `buf[..end]` for each end in `ends` (the last is
/// `buf.len()`) to one parser; returns the head and the bytes inspected.
fn parse_growing(
    limits: &Limits,
    buf: &[u8],
    ends: impl IntoIterator<Item = usize>,
) -> (RequestHead, u64) {
    let mut p = HeadParser::new(limits);
    let mut done = None;
    for end in ends {
        match p.parse(&buf[..end]) {
            Ok(None) => assert!(done.is_none(), "Partial after Complete"),
            Ok(Some(n)) => {
                assert!(done.is_none_or(|d| d == n), "head length changed");
                done = Some(n);
            }
            Err(e) => panic!("{e:?} at {end}"),
        }
    }
    let n = done.expect("head complete");
    let inspected = p.bytes_inspected();
    (p.take(Bytes::copy_from_slice(&buf[..n])), inspected)
}

/// Where the counter must land: `HeadParser::bytes_inspected` is documented
/// as "each byte of the input once", so for a complete head of n bytes it is
/// n, whatever the split (and bytes after the head are not looked at).
fn exact(head: &[u8]) -> u64 {
    head.len() as u64
}

#[test]
fn bytes_inspected_is_linear_whole_bytewise_and_split() {
    let mut report = Vec::new();
    for (name, head, limits) in heads() {
        let n = head.len();
        let bound = 2 * n as u64 + 16;

        let (reference, once) = parse_growing(&limits, &head, [n]);
        assert_eq!(
            reference.fields().len() + 1,
            head.windows(2).filter(|w| w == b"\r\n").count() - 1
        );
        assert!(once <= 2 * n as u64, "{name}: one-shot inspected {once} > 2·{n}");
        assert_eq!(once, exact(&head), "{name}: one-shot");

        // One byte at a time: a growing slice of the same buffer.
        let (h, bytewise) = parse_growing(&limits, &head, 1..=n);
        assert_eq!(h, reference, "{name}: byte by byte");
        assert!(bytewise <= bound, "{name}: byte by byte inspected {bytewise} > 2·{n} + 16");
        assert_eq!(bytewise, once, "{name}: byte by byte");

        // Random splits (pieces of 1..=64 and 1..=1024 bytes).
        let mut rng = Rng::new(n as u64);
        let mut split_max = 0;
        for max in [2, 64, 1024] {
            for _ in 0..8 {
                let mut ends = Vec::new();
                let mut at = 0;
                while at < n {
                    at = (at + 1 + rng.below(max)).min(n);
                    ends.push(at);
                }
                let (h, inspected) = parse_growing(&limits, &head, ends);
                assert_eq!(h, reference, "{name}: split");
                assert!(inspected <= bound, "{name}: split inspected {inspected} > 2·{n} + 16");
                split_max = split_max.max(inspected);
            }
        }

        // With the body (and a pipelined request) already in the buffer:
        // the search stops at the end of the head.
        let mut with_body = head.clone();
        with_body.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
        let (h, inspected_tail) = parse_growing(&limits, &with_body, [with_body.len()]);
        assert_eq!(h, reference, "{name}: with trailing bytes");
        assert_eq!(inspected_tail, once, "{name}: trailing bytes were inspected");

        // What httparse does with the same byte-at-a-time arrival.
        let reparsed: u64 = (1..=n as u64).sum();
        report.push(format!(
            "{name:>10}: n = {n:>5} B, one-shot {once:>5} ({:.3}·n), byte by byte {bytewise:>5}, \
             random splits max {split_max:>5}, httparse re-parse from 0 ≈ {reparsed} ({:.0}·n)",
            once as f64 / n as f64,
            reparsed as f64 / n as f64,
        ));
    }
    eprintln!("bytes_inspected:\n{}", report.join("\n"));
}

proptest! {
    #![proptest_config(config(64))]

    /// Any split of the benchmark heads: the same head, the same count.
    #[test]
    fn bytes_inspected_is_split_independent(
        which in 0usize..3,
        cuts in vec(any::<Index>(), 0..200),
    ) {
        let (name, head, limits) = heads().swap_remove(which + 1);
        let n = head.len();
        let cuts: Vec<usize> = cuts.iter().map(|i| i.index(n + 1)).collect();
        let pieces = cut_at(&head, cuts);
        let mut ends: Vec<usize> = pieces
            .iter()
            .scan(0, |at, p| {
                *at += p.len();
                Some(*at)
            })
            .collect();
        ends.dedup();
        let (_, inspected) = parse_growing(&limits, &head, ends);
        prop_assert!(inspected <= 2 * n as u64 + 16, "{}: {} > 2·{} + 16", name, inspected, n);
        prop_assert_eq!(inspected, exact(&head), "{}", name);
    }
}

/// Leading empty lines, long lines delivered a byte at a time, a target at
/// the limit: still linear.
#[test]
fn bytes_inspected_is_linear_on_awkward_heads() {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(8000));
    let long_value = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "v".repeat(60_000));
    let leading = format!("{}GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n".repeat(1000));
    for (name, head) in
        [("8000 B target", long_target), ("60 kB value", long_value), ("1000 empty lines", leading)]
    {
        let head = head.into_bytes();
        let n = head.len();
        let (_, once) = parse_growing(&Limits::default(), &head, [n]);
        let (_, bytewise) = parse_growing(&Limits::default(), &head, 1..=n);
        assert!(once <= 2 * n as u64, "{name}: {once}");
        assert!(bytewise <= 2 * n as u64 + 16, "{name}: {bytewise}");
        assert_eq!(bytewise, once, "{name}");
    }
}
