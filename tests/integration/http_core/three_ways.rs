//! Realistic request vectors run three ways (STYLE.md habit 9, after h11):
//! whole, one byte at a time, and with trailing data after the request.

use sansnet_proto::Session;
use sansnet_proto::http::{Limits, Version};

use super::harness::{
    Driver, Norm, assert_same_run, bytewise, check_grammar, parse_responses_with,
};
use super::vectors::{VECTORS, Vector};

/// A partial next request: stays in the driver's buffer, untouched.
const PARTIAL_NEXT: &[u8] = b"GET /after HTTP/1.1\r\nHos";
/// A complete next request: answered only if the connection stays open.
const NEXT: &[u8] = b"GET /after HTTP/1.1\r\nHost: next.example\r\n\r\n";

/// The vector's own request in a run: head, body, End, and its response.
fn check_vector(v: &Vector, d: &Driver) {
    let name = v.name;
    let events = d.norm();
    check_grammar(&events);
    let Some(Norm::Request(h)) = events.first() else { panic!("{name}: no request: {events:?}") };
    assert_eq!(h.method(), v.method, "{name}");
    assert_eq!(h.target(), v.target, "{name}");
    assert_eq!(h.target_form(), v.form, "{name}");
    assert_eq!(h.version(), v.version, "{name}");
    assert_eq!(h.fields().len(), v.fields, "{name}: {:?}", h.fields().collect::<Vec<_>>());
    assert_eq!(h.field(v.probe.0), Some(v.probe.1), "{name}: field {}", v.probe.0);
    assert_eq!(h.body_kind(), v.body_kind, "{name}");
    assert_eq!(h.keep_alive(), v.keep_alive, "{name}");
    assert_eq!(h.expects_continue(), v.continue_100, "{name}");
    assert_eq!(h.is_head(), v.method == "HEAD", "{name}");
    let mut rest = &events[1..];
    if !v.body.is_empty() {
        assert_eq!(rest.first(), Some(&Norm::Data(v.body.to_vec())), "{name}: body");
        rest = &rest[1..];
    }
    assert_eq!(rest.first(), Some(&Norm::End), "{name}");

    let heads = [v.method == "HEAD", false];
    let responses = parse_responses_with(&d.wire, &heads);
    let mut responses = responses.iter();
    if v.continue_100 {
        let r = responses.next().expect("100 Continue");
        assert_eq!((r.status, &r.reason[..]), (100, "Continue"), "{name}");
        assert!(d.wire.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"), "{name}");
    }
    let r = responses.next().expect("the response");
    assert_eq!(r.status, 200, "{name}");
    assert_eq!(r.header("x-method"), Some(v.method.as_bytes()), "{name}");
    let connection = match (v.keep_alive, v.version) {
        (false, _) => Some(&b"close"[..]),
        (true, Version::Http10) => Some(&b"keep-alive"[..]),
        (true, Version::Http11) => None,
    };
    assert_eq!(r.header("connection"), connection, "{name}");
    let body = format!("{} {} {}", v.method, v.target, v.body.len());
    assert_eq!(r.header("content-length"), Some(body.len().to_string().as_bytes()), "{name}");
    if v.method != "HEAD" {
        assert_eq!(r.body, body.as_bytes(), "{name}");
    }
}

#[test]
fn vectors_whole_bytewise_and_with_trailing_data() {
    assert!(VECTORS.len() >= 12);
    let limits = Limits::default();
    for v in VECTORS {
        let name = v.name;
        // 1. whole
        let whole = Driver::run(limits, &[v.bytes]);
        check_vector(v, &whole);
        assert_eq!(whole.norm().len(), if v.body.is_empty() { 2 } else { 3 }, "{name}");
        assert!(whole.inbox.is_empty(), "{name}");
        assert_eq!(whole.conn.is_finished(), !v.keep_alive, "{name}");
        assert_eq!(whole.conn.wants_read(), v.keep_alive, "{name}");
        assert_eq!(whole.conn.requests(), 1, "{name}");

        // 2. one byte at a time
        let bytes = Driver::run(limits, &bytewise(v.bytes));
        check_vector(v, &bytes);
        assert_same_run(&format!("{name}, byte by byte"), &whole, &bytes);

        // 3. with trailing data: a partial next request is left in the
        // buffer, the run is otherwise the same, whole or byte by byte.
        let input = [v.bytes, PARTIAL_NEXT].concat();
        for (how, d) in [
            ("whole", Driver::run(limits, &[&input])),
            ("byte by byte", Driver::run(limits, &bytewise(&input))),
        ] {
            check_vector(v, &d);
            assert_eq!(d.norm(), whole.norm(), "{name}, trailing data {how}");
            assert_eq!(d.wire, whole.wire, "{name}, trailing data {how}");
            assert_eq!(&d.inbox[..], PARTIAL_NEXT, "{name}, trailing data {how}");
            assert_eq!(d.conn.is_finished(), !v.keep_alive, "{name}, trailing data {how}");
        }

        // ... and a complete pipelined request is answered only when the
        // connection stays open (RFC 9112 §9.3, §9.6).
        let input = [v.bytes, NEXT].concat();
        let piped = Driver::run(limits, &[&input]);
        check_vector(v, &piped);
        assert_same_run(
            &format!("{name}, pipelined byte by byte"),
            &piped,
            &Driver::run(limits, &bytewise(&input)),
        );
        let requests: Vec<&str> = piped
            .norm()
            .iter()
            .filter_map(|e| if let Norm::Request(h) = e { Some(h.target()) } else { None })
            .map(|t| if t == "/after" { "/after" } else { "vector" })
            .collect();
        if v.keep_alive {
            assert_eq!(requests, ["vector", "/after"], "{name}");
            assert!(piped.inbox.is_empty(), "{name}");
            assert!(piped.wire.ends_with(b"GET /after 0"), "{name}");
        } else {
            assert_eq!(requests, ["vector"], "{name}");
            assert_eq!(&piped.inbox[..], NEXT, "{name}: bytes after close must stay unread");
        }
    }
}
