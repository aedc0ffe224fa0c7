//! Split invariance and robustness of the server connection (properties 1
//! and 2): any split of a byte stream gives the same events and the same
//! bytes on the wire; hostile bytes give events or a typed rejection, never
//! a panic or an unbounded buffer.

use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use sansnet_proto::Session;
use sansnet_proto::http::{BodyKind, Limits, Version};

use super::harness::{
    Driver, Norm, Rng, assert_same_run, bytewise, check_grammar, config, cut_at, random_pieces,
};
use super::strategies::{GenBody, GenRequest, encode_all, hostile_input, request};

/// The whole-input run against the generator's model of the requests.
fn check_against_model(d: &Driver, reqs: &[GenRequest], input: &[u8]) {
    let events = d.norm();
    check_grammar(&events);
    let mut ev = events.iter();
    let mut wire = Vec::new();
    let mut consumed = Vec::new();
    for r in reqs {
        r.encode(&mut consumed);
        let Some(Norm::Request(h)) = ev.next() else {
            panic!("missing Request for {r:?} in {events:?}")
        };
        assert_eq!(h.method(), r.method);
        assert_eq!(h.target(), r.target);
        assert_eq!(h.version(), Version::Http11);
        let fields: Vec<(&str, &[u8])> = h.fields().collect();
        let expected: Vec<(&str, &[u8])> =
            r.fields.iter().map(|f| (&f.name[..], f.value.as_bytes())).collect();
        assert_eq!(fields, expected);
        assert_eq!(h.keep_alive(), !r.close);
        assert_eq!(h.expects_continue(), r.expect);
        let kind = match &r.body {
            GenBody::None => BodyKind::Length(0),
            GenBody::Length(d) => BodyKind::Length(d.len() as u64),
            GenBody::Chunked(_) => BodyKind::Chunked,
        };
        assert_eq!(h.body_kind(), kind);
        let data = r.body.data();
        if !data.is_empty() {
            assert_eq!(ev.next(), Some(&Norm::Data(data)));
        }
        assert_eq!(ev.next(), Some(&Norm::End));
        wire.extend_from_slice(&r.expected_response());
        if r.close {
            break;
        }
    }
    assert_eq!(ev.next(), None, "unexpected events");
    assert_eq!(String::from_utf8_lossy(&d.wire), String::from_utf8_lossy(&wire));
    let closed = reqs.iter().any(|r| r.close);
    assert_eq!(d.conn.is_finished(), closed);
    // After `Connection: close` the rest stays unread (RFC 9112 §9.6).
    assert_eq!(&d.inbox[..], &input[consumed.len()..]);
    assert_eq!(
        d.conn.requests() as usize,
        events.iter().filter(|e| matches!(e, Norm::Request(_))).count()
    );
}

proptest! {
    #![proptest_config(config(256))]

    /// Property 1: 1..4 valid pipelined requests, cut anywhere, give the
    /// same normalised events and the same response bytes as whole.
    #[test]
    fn any_split_of_valid_requests_gives_the_same_run(
        reqs in vec(request(), 1..=4),
        cuts in vec(any::<Index>(), 0..48),
        seed in any::<u64>(),
    ) {
        let input = encode_all(&reqs);
        let limits = Limits::default();
        let whole = Driver::run(limits, &[&input]);
        check_against_model(&whole, &reqs, &input);

        let bytes = Driver::run(limits, &bytewise(&input));
        assert_same_run("byte by byte", &whole, &bytes);

        let cuts = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        let cut = Driver::run(limits, &cut_at(&input, cuts));
        assert_same_run("random cut points", &whole, &cut);

        let mut rng = Rng::new(seed);
        let small = Driver::run(limits, &random_pieces(&input, &mut rng, 7));
        assert_same_run("random pieces of 1..=7 bytes", &whole, &small);
    }
}

/// Small limits, so that every bound is reachable by a few KiB of input.
fn small_limits() -> Limits {
    Limits::default()
        .with_max_head(512)
        .with_max_target(128)
        .with_max_fields(8)
        .with_max_body(1024)
        .with_max_chunk_ext(32)
}

/// Property 2: hostile input never panics; it gives well-formed events or
/// a rejection answered with its status and `Connection: close` (checked by
/// the driver on every `Rejected`); the driver never holds more than
/// `max_head` unconsumed bytes while the machine reads (so its buffer stays
/// under `max_head` + one read); the verdict does not depend on the split;
/// after EOF the connection is finished. A tally of outcomes shows the
/// input reaches the head, the bodies and most rejections.
#[test]
fn hostile_bytes_are_answered_and_bounded() {
    let tally: RefCell<BTreeMap<String, usize>> = RefCell::new(BTreeMap::new());
    let strategy = (hostile_input(), vec(any::<Index>(), 0..32), any::<u64>());
    let result = TestRunner::new(config(256)).run(&strategy, |(input, cuts, seed)| {
        let limits = small_limits();
        let mut runs = vec![
            ("whole", Driver::run(limits, &[&input])),
            ("byte by byte", Driver::run(limits, &bytewise(&input))),
        ];
        let cuts = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        runs.push(("random cut points", Driver::run(limits, &cut_at(&input, cuts))));
        let mut rng = Rng::new(seed);
        runs.push((
            "random pieces of 1..=64 bytes",
            Driver::run(limits, &random_pieces(&input, &mut rng, 64)),
        ));

        for (label, d) in &mut runs {
            check_grammar(&d.norm());
            prop_assert!(d.max_inbox_reading <= limits.max_head, "{}", label);
            // Queued output per input: at most a 100 Continue and one
            // rejection (or one response of the test driver).
            prop_assert!(d.max_queued <= 512, "{}: {} bytes queued", label, d.max_queued);
            if matches!(d.norm().last(), Some(Norm::Rejected(_))) {
                prop_assert!(d.conn.is_finished(), "{}", label);
            }
            d.eof();
            prop_assert!(d.conn.is_finished(), "{}: not finished after EOF", label);
            check_grammar(&d.norm());
        }
        for (label, d) in &runs[1..] {
            assert_same_run(label, &runs[0].1, d);
        }
        let events = runs[0].1.norm();
        let mut t = tally.borrow_mut();
        let outcome = match events.last() {
            Some(Norm::Rejected(e)) => format!("{e:?}"),
            _ => "no rejection".to_owned(),
        };
        *t.entry(outcome).or_default() += 1;
        let requests = events.iter().filter(|e| matches!(e, Norm::Request(_))).count();
        *t.entry(format!("~ {} request(s) parsed", requests.min(3))).or_default() += 1;
        if events.iter().any(|e| matches!(e, Norm::Data(_))) {
            *t.entry("~ with body data".to_owned()).or_default() += 1;
        }
        Ok(())
    });
    let t = tally.into_inner();
    eprintln!("hostile input outcomes (whole run, incl. EOF): {t:#?}");
    if let Err(e) = result {
        panic!("{e}");
    }
    let rejections = t.keys().filter(|k| !k.starts_with('~') && *k != "no rejection").count();
    assert!(rejections >= 15, "only {rejections} kinds of rejection reached");
    assert!(t.get("~ with body data").copied().unwrap_or(0) >= 25, "bodies rarely reached");
    assert!(t.get("~ 1 request(s) parsed").copied().unwrap_or(0) >= 25, "heads rarely complete");
}
