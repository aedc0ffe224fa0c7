//! Unit tests of the HTTP/1.1 server side, driven through [`Session`].
//!
//! Rejection tests are named after the RFC 9112 (or RFC 9110) section whose
//! rule they check. Each one asserts the exact [`Error`], the status line
//! the connection writes (with `Connection: close` and a well-framed body)
//! and that the connection is finished afterwards.
//!
//! Every vector runs several ways: whole, one byte per read, split in two at
//! every offset (short inputs), and with the start of a next request
//! appended (whole and byte by byte). The events must be the same every way
//! (consecutive `Data` payloads are concatenated before comparing), and with
//! data appended an accepted request must leave exactly that data unread.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};
use core::time::Duration;

use bytes::Bytes;

use super::{
    BodyKind, Error, Event, HeadParser, Limits, Misuse, RequestHead, ResponseBody, ServerConn,
    TargetForm, Version, reason,
};
use crate::testing::{Conn, Split};
use crate::{App, Instant, Session};

const T0: Instant = Instant::ZERO;

/// A well-formed next request, appended in the trailing-data modes.
const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: n\r\n\r\n";

const OK_400: &str = "400 Bad Request";

fn at(secs: f64) -> Instant {
    T0 + Duration::from_secs_f64(secs)
}

fn show(b: &[u8]) -> String {
    format!("{}", b.escape_ascii())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Appends `ev`, concatenating it onto a preceding `Data`.
fn push_event(events: &mut Vec<Event>, ev: Event) {
    if let Event::Data(d) = &ev {
        assert!(!d.is_empty(), "Event::Data must never be empty");
        if let Some(Event::Data(prev)) = events.last_mut() {
            let mut joined = Vec::with_capacity(prev.len() + d.len());
            joined.extend_from_slice(prev);
            joined.extend_from_slice(d);
            *prev = Bytes::from(joined);
            return;
        }
    }
    events.push(ev);
}

/// The application of the tests: records the events (see [`push_event`])
/// and answers nothing by itself.
#[derive(Default)]
struct Record(Vec<Event>);

impl App<ServerConn> for Record {
    fn on_event(&mut self, _: &mut ServerConn, ev: Event) {
        push_event(&mut self.0, ev);
    }
}

// ---------------------------------------------------------------------------
// Running a vector many ways
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Whole,
    Bytewise,
    /// `NEXT` appended, all in one read.
    Trailing,
    /// `NEXT` appended, one byte per read.
    BytewiseTrailing,
    /// Two reads, split at this offset.
    Split(usize),
}

/// What a connection did with one vector, without the application answering.
#[derive(Debug)]
struct Outcome {
    events: Vec<Event>,
    wire: Vec<u8>,
    finished: bool,
    wants_read: bool,
    timeout: Option<Instant>,
    /// Bytes the machine left in the driver's buffer.
    left: Vec<u8>,
}

fn drive(limits: Limits, input: &[u8], mode: Mode) -> Outcome {
    let mut data = input.to_vec();
    if matches!(mode, Mode::Trailing | Mode::BytewiseTrailing) {
        data.extend_from_slice(NEXT);
    }
    let split = match mode {
        Mode::Whole | Mode::Trailing => Split::Whole,
        Mode::Bytewise | Mode::BytewiseTrailing => Split::Bytewise,
        Mode::Split(k) => Split::At(&[k]),
    };
    let mut conn = Conn::new(ServerConn::new(limits, T0), T0);
    let mut events = Record::default();
    conn.read_split(&data, split, &mut events);
    Outcome {
        events: events.0,
        wire: conn.take_wire(),
        finished: conn.session.is_finished(),
        wants_read: conn.session.wants_read(),
        timeout: conn.session.poll_timeout(),
        left: conn.inbox().to_vec(),
    }
}

/// Runs `input` every way, checks that the verdicts agree, and returns the
/// outcome of the whole-input run.
#[track_caller]
fn outcomes(limits: Limits, input: &[u8]) -> Outcome {
    let whole = drive(limits, input, Mode::Whole);
    let mut modes = vec![Mode::Bytewise, Mode::Trailing, Mode::BytewiseTrailing];
    if input.len() <= 600 {
        modes.extend((1..input.len()).map(Mode::Split));
    }
    let accepted = matches!(whole.events.last(), Some(Event::End));
    for mode in modes {
        let out = drive(limits, input, mode);
        let ctx = || format!("mode {mode:?}, input {}", show(input));
        assert_eq!(out.events, whole.events, "{}", ctx());
        assert_eq!(out.wire, whole.wire, "{}", ctx());
        assert_eq!(out.finished, whole.finished, "{}", ctx());
        assert_eq!(out.wants_read, whole.wants_read, "{}", ctx());
        if accepted && matches!(mode, Mode::Trailing | Mode::BytewiseTrailing) {
            // The machine consumed exactly the request, not a byte of the next.
            assert_eq!(show(&out.left), show(NEXT), "{}", ctx());
        }
    }
    whole
}

/// `input` is one complete, valid request with body `body`: returns its head.
#[track_caller]
fn accepts_with(limits: Limits, input: &[u8], body: &[u8]) -> RequestHead {
    let out = outcomes(limits, input);
    let ctx = show(input);
    let Some(Event::Request(head)) = out.events.first() else {
        panic!("no request for {ctx}: {:?}", out.events);
    };
    let mut expect = vec![Event::Request(head.clone())];
    if !body.is_empty() {
        expect.push(Event::Data(Bytes::copy_from_slice(body)));
    }
    expect.push(Event::End);
    assert_eq!(out.events, expect, "{ctx}");
    assert!(out.left.is_empty(), "{ctx}: left {}", show(&out.left));
    assert!(!out.finished, "{ctx}");
    assert!(!out.wants_read, "{ctx}: a response is owed, reading must stop");
    assert_eq!(out.timeout, None, "{ctx}: no timer while the application answers");
    head.clone()
}

#[track_caller]
fn accepts(input: &[u8]) -> RequestHead {
    accepts_with(Limits::default(), input, b"")
}

/// The machine rejects `input` with `err`, writing `status` (e.g.
/// `"400 Bad Request"`) with `Connection: close`, and finishes.
#[track_caller]
fn rejects_with(limits: Limits, input: &[u8], err: Error, status: &str) {
    let out = outcomes(limits, input);
    let ctx = show(input);
    assert_eq!(out.events.last(), Some(&Event::Rejected(err)), "{ctx}: {:?}", out.events);
    for ev in &out.events[..out.events.len() - 1] {
        assert!(
            matches!(ev, Event::Request(_) | Event::Data(_)),
            "{ctx}: {ev:?} before the rejection"
        );
    }
    assert!(
        status.starts_with(&format!("{} ", err.status())),
        "{err:?} answers {}, not {status}",
        err.status()
    );
    assert_eq!(status, format!("{} {}", err.status(), reason(err.status())));
    check_rejection_response(&out.wire, status, &ctx);
    assert!(out.finished, "{ctx}: must be finished after a rejection");
    assert!(!out.wants_read, "{ctx}");
    assert_eq!(out.timeout, None, "{ctx}: no timer after close");
}

#[track_caller]
fn rejects(input: &[u8], err: Error, status: &str) {
    rejects_with(Limits::default(), input, err, status);
}

/// The wire holds exactly one error response: `status`, `Connection:
/// close`, and a body as long as its `Content-Length`.
#[track_caller]
fn check_rejection_response(wire: &[u8], status: &str, ctx: &str) {
    let line = format!("HTTP/1.1 {status}\r\n");
    assert!(wire.starts_with(line.as_bytes()), "{ctx}: wire {}", show(wire));
    let end = find(wire, b"\r\n\r\n").expect("response head ends") + 4;
    let head = &wire[..end];
    assert!(find(head, b"\r\nConnection: close\r\n").is_some(), "{ctx}: {}", show(head));
    let cl = find(head, b"\r\nContent-Length: ").expect("error responses carry a length") + 18;
    let cl_end = cl + find(&head[cl..], b"\r\n").unwrap();
    let n: usize = core::str::from_utf8(&head[cl..cl_end]).unwrap().parse().unwrap();
    assert_eq!(wire.len() - end, n, "{ctx}: body length");
}

/// Several rejection vectors of one rule.
#[track_caller]
fn rejects_all(cases: &[(&[u8], Error)], status: &str) {
    for &(input, err) in cases {
        rejects(input, err, status);
    }
}

// ---------------------------------------------------------------------------
// An interactive peer for the positive tests
// ---------------------------------------------------------------------------

/// The harness's connection, its clock moved by the test, and the events
/// recorded.
struct Peer {
    h: Conn<ServerConn>,
    rec: Record,
}

impl Peer {
    fn new() -> Peer {
        Peer::with(Limits::default())
    }

    fn with(limits: Limits) -> Peer {
        Peer { h: Conn::new(ServerConn::new(limits, T0), T0), rec: Record::default() }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.h.read(bytes, &mut self.rec);
    }

    fn pump(&mut self) {
        self.h.drain(&mut self.rec);
    }

    fn respond(&mut self, status: u16, body: &str) {
        self.h.session.respond(status, &[], Bytes::copy_from_slice(body.as_bytes())).unwrap();
        self.pump();
    }

    fn timeout(&mut self, now: Instant) {
        self.h.timeout(now, &mut self.rec);
    }

    fn eof(&mut self) {
        self.h.eof(&mut self.rec);
    }

    fn events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.rec.0)
    }

    fn wire(&mut self) -> String {
        String::from_utf8(self.h.take_wire()).expect("utf-8 wire in tests")
    }

    /// The events of one complete request: its head (checked to target
    /// `target`) and its body.
    #[track_caller]
    fn request(&mut self, target: &str) -> (RequestHead, Vec<u8>) {
        let events = self.events();
        let mut body = Vec::new();
        let mut head = None;
        for (i, ev) in events.iter().enumerate() {
            match ev {
                Event::Request(h) if i == 0 => head = Some(h.clone()),
                Event::Data(d) => body.extend_from_slice(d),
                Event::End if i == events.len() - 1 => {}
                other => panic!("unexpected {other:?} in {events:?}"),
            }
        }
        assert!(matches!(events.last(), Some(Event::End)), "request incomplete: {events:?}");
        let head = head.expect("a request head");
        assert_eq!(head.target(), target);
        (head, body)
    }
}

// ---------------------------------------------------------------------------
// RFC 9112 §2: message format
// ---------------------------------------------------------------------------

#[test]
fn rfc9112_2_2_bare_cr_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\rb\r\n\r\n", Error::BareCr),
            (b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\r\r\n\r\n", Error::BareCr),
            (b"GET / HTTP/1.1\rHost: x\r\n\r\n", Error::BareCr),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\rX\r\n\r\n", Error::BareCr),
            (b"\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BareCr),
            (b"GET / HTTP/1.1\r\nFoo: 1\rBar: 2\r\nHost: x\r\n\r\n", Error::BareCr),
            // Inside a name or the request-line the byte is simply not allowed there.
            (b"GET / HTTP/1.1\r\nContent\rLength: 5\r\nHost: x\r\n\r\n", Error::BadFieldName),
            (b"GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadRequestLine),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_2_2_bare_lf_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\nHost: x\n\n", Error::BareLf),
            (b"GET / HTTP/1.1\r\nHost: x\n\r\n", Error::BareLf),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\n", Error::BareLf),
            (
                b"GET / HTTP/1.1\r\nx:x\nTransfer-Encoding: chunked\r\nHost: x\r\n\r\n",
                Error::BareLf,
            ),
            (b"GET /\n HTTP/1.1\r\nHost: x\r\n\r\n", Error::BareLf),
            (b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BareLf),
            (b"GET / HTTP/1.1\r\nHost\n: x\r\n\r\n", Error::BareLf),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_2_2_bare_lf_in_chunked_body_is_400() {
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (body, err) in [
        (&b"5\nhello\r\n0\r\n\r\n"[..], Error::BadChunkSize),
        (b"5\r\nhello\n0\r\n\r\n", Error::BadChunkEnd),
        (b"5\r\nhello\r\n0\r\nX: y\n\r\n", Error::BareLf),
        (b"5\r\nhello\r\n0\r\n\n", Error::BareLf),
    ] {
        rejects(&[&head[..], body].concat(), err, OK_400);
    }
}

#[test]
fn rfc9112_2_2_whitespace_after_start_line_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", Error::WhitespaceAfterStartLine),
            (b"GET / HTTP/1.1\r\n\tHost: x\r\n\r\n", Error::WhitespaceAfterStartLine),
            (b"GET / HTTP/1.1\r\n \r\nHost: x\r\n\r\n", Error::WhitespaceAfterStartLine),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_2_2_leading_empty_lines_are_ignored() {
    let head = accepts(b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((head.method(), head.target()), ("GET", "/a"));
    let head = accepts(b"\r\n\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((head.method(), head.target()), ("POST", "/b"));
}

#[test]
fn rfc9112_2_2_leading_empty_lines_count_against_the_head_limit() {
    let limits = Limits::default().with_max_head(64);
    let mut input = b"\r\n".repeat(40);
    input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    rejects_with(limits, &input, Error::HeadTooLarge, "431 Request Header Fields Too Large");
}

#[test]
fn rfc9112_2_3_bad_version_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET / http/1.1\r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET / HTTP/1.1x\r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET / HTTP/11.1\r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET / HTTPS/1.1\r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET / HTTP/1,1\r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadVersion),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_2_3_short_version_is_400() {
    // The version is read as 8 bytes plus CRLF; a short one pulls in its
    // CRLF and fails the version grammar.
    rejects_all(
        &[
            (b"GET / ICE/1.1\r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET / HTTP/1\r\nHost: x\r\n\r\n", Error::BadVersion),
            (b"GET / \r\nHost: x\r\n\r\n\r\n", Error::BadVersion),
        ],
        OK_400,
    );
}

#[test]
fn rfc9110_15_6_6_major_version_other_than_1_is_505() {
    rejects_all(
        &[
            (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", Error::VersionNotSupported),
            (b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", Error::VersionNotSupported),
            (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", Error::VersionNotSupported),
            (b"GET / HTTP/5.6\r\n\r\n", Error::VersionNotSupported),
        ],
        "505 HTTP Version Not Supported",
    );
}

#[test]
fn rfc9110_2_5_higher_minor_version_is_handled_as_1_1() {
    let head = accepts(b"GET / HTTP/1.2\r\nHost: x\r\n\r\n");
    assert_eq!(head.version(), Version::Http11);
    assert!(head.keep_alive());
    // ... including the Host requirement.
    rejects(b"GET / HTTP/1.9\r\n\r\n", Error::MissingHost, OK_400);
}

// ---------------------------------------------------------------------------
// RFC 9112 §3: request line
// ---------------------------------------------------------------------------

#[test]
fn rfc9112_3_malformed_request_line_is_400() {
    rejects_all(
        &[
            (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadRequestLine),
            (b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadRequestLine),
            (b"GET\r\n\r\n", Error::BadRequestLine),
            (b"GET /\r\nHost: x\r\n\r\n", Error::BadRequestLine),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_3_http_0_9_request_line_is_400() {
    rejects(b"GET /\r\n\r\n", Error::BadRequestLine, OK_400);
}

#[test]
fn rfc9112_3_1_bad_method_token_is_400() {
    rejects_all(
        &[
            (b" GET / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadMethod),
            (b"(GET) / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadMethod),
            (b"@ / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadMethod),
            (b"\xc3\xa9 / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadMethod),
            // A bad byte after a valid start: the line no longer has the
            // `method SP` shape (variant as implemented; 400 either way).
            (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadRequestLine),
            (b"GET\x01 / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadRequestLine),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_3_1_methods_are_case_sensitive_tokens() {
    for m in ["GET", "get", "PATCH", "M-SEARCH", "w3!rd", "X_Y.Z~1"] {
        let input = format!("{m} / HTTP/1.1\r\nHost: x\r\n\r\n");
        let head = accepts(input.as_bytes());
        assert_eq!(head.method(), m);
        assert_eq!(head.is_head(), m == "HEAD");
    }
    assert!(!accepts(b"head / HTTP/1.1\r\nHost: x\r\n\r\n").is_head());
}

#[test]
fn rfc9112_3_target_over_limit_is_414() {
    // The default (PROTOCOLS.md: 8 KiB) ...
    let target = format!("/{}", "a".repeat(8 * 1024 - 1));
    let ok = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(accepts(ok.as_bytes()).target().len(), 8 * 1024);
    let over = format!("GET {target}b HTTP/1.1\r\nHost: x\r\n\r\n");
    rejects(over.as_bytes(), Error::TargetTooLong, "414 URI Too Long");
    // ... decided as soon as the limit is passed, before the line ends.
    let endless = format!("GET {target}bbbbbbbb");
    rejects(endless.as_bytes(), Error::TargetTooLong, "414 URI Too Long");
    // ... and a configured one.
    let limits = Limits::default().with_max_target(4);
    accepts_with(limits, b"GET /abc HTTP/1.1\r\nHost: x\r\n\r\n", b"");
    rejects_with(
        limits,
        b"GET /abcd HTTP/1.1\r\nHost: x\r\n\r\n",
        Error::TargetTooLong,
        "414 URI Too Long",
    );
}

#[test]
fn rfc9112_3_2_bad_target_byte_is_400() {
    rejects_all(
        &[
            (b"GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_3_2_missing_host_in_1_1_is_400() {
    rejects(b"GET / HTTP/1.1\r\n\r\n", Error::MissingHost, OK_400);
    rejects(b"GET / HTTP/1.1\r\nHostname: x\r\n\r\n", Error::MissingHost, OK_400);
    // Absolute-form does not excuse it.
    rejects(b"GET http://x/ HTTP/1.1\r\n\r\n", Error::MissingHost, OK_400);
    // HTTP/1.0 has no such requirement.
    assert_eq!(accepts(b"GET / HTTP/1.0\r\n\r\n").version(), Version::Http10);
}

#[test]
fn rfc9112_3_2_repeated_host_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Error::DuplicateHost),
            (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", Error::DuplicateHost),
            (b"GET / HTTP/1.0\r\nHOST: a\r\nHost: a\r\n\r\n", Error::DuplicateHost),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_3_2_invalid_host_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\nHost: local host\r\n\r\n", Error::BadHost),
            (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Error::BadHost),
            (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", Error::BadHost),
            (b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", Error::BadHost),
            (b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", Error::BadHost),
        ],
        OK_400,
    );
    // Valid forms, including the empty value RFC 9112 §3.2 allows.
    for host in ["", "example.com", "example.com:8080", "[::1]:80", "127.0.0.1"] {
        let input = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(accepts(input.as_bytes()).field("host"), Some(host.as_bytes()));
    }
}

#[test]
fn rfc9112_3_2_1_origin_form() {
    let head = accepts(b"GET /a/b?c=d&e HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.target_form(), TargetForm::Origin);
    assert_eq!(head.target(), "/a/b?c=d&e");
}

#[test]
fn rfc9112_3_2_2_absolute_form() {
    let head = accepts(b"GET http://example.com:80/x?y HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(head.target_form(), TargetForm::Absolute);
    assert_eq!(head.target(), "http://example.com:80/x?y");
    let head = accepts(b"OPTIONS https://example.com HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.target_form(), TargetForm::Absolute);
}

#[test]
fn rfc9112_3_2_2_target_without_scheme_or_slash_is_400() {
    rejects_all(
        &[
            (b"GET foo HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"GET 1http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"GET :/x HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_3_2_3_authority_form() {
    let head = accepts(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(head.target_form(), TargetForm::Authority);
    assert_eq!(head.target(), "example.com:443");
    let head = accepts(b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.target_form(), TargetForm::Authority);
}

#[test]
fn rfc9112_3_2_3_connect_without_authority_form_is_400() {
    rejects_all(
        &[
            (b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"CONNECT http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"CONNECT example.com HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"CONNECT example.com: HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"CONNECT :443 HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"CONNECT * HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_3_2_4_asterisk_form() {
    let head = accepts(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.target_form(), TargetForm::Asterisk);
    assert_eq!(head.target(), "*");
}

#[test]
fn rfc9112_3_2_4_asterisk_form_with_non_options_is_400() {
    rejects_all(
        &[
            (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"options * HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
            (b"OPTIONS *x HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadTarget),
        ],
        OK_400,
    );
}

// ---------------------------------------------------------------------------
// RFC 9112 §5, RFC 9110 §5: fields
// ---------------------------------------------------------------------------

#[test]
fn rfc9112_5_bad_field_name_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\nHost: x\r\nFo@: 1\r\n\r\n", Error::BadFieldName),
            (b"GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n", Error::BadFieldName),
            (b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", Error::BadFieldName),
            (b"GET / HTTP/1.1\r\nHost: x\r\nF\x01o: 1\r\n\r\n", Error::BadFieldName),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\xc3\xa9: 1\r\n\r\n", Error::BadFieldName),
            (b"GET / HTTP/1.1\r\nHost: x\r\nA\"b: 1\r\n\r\n", Error::BadFieldName),
            (b"GET / HTTP/1.1\r\nHost: x\r\nA/b: 1\r\n\r\n", Error::BadFieldName),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_5_1_space_before_colon_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", Error::SpaceBeforeColon),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 0\r\n\r\n", Error::SpaceBeforeColon),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 34\r\n\r\n", Error::SpaceBeforeColon),
            (b"GET / HTTP/1.1\r\nHost: x\r\nName value\r\n\r\n", Error::SpaceBeforeColon),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_5_2_obs_fold_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\r\n b\r\n\r\n", Error::ObsFold),
            (b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\r\n\tb\r\n\r\n", Error::ObsFold),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n , gzip\r\n\r\n",
                Error::ObsFold,
            ),
            (b"GET / HTTP/1.1\r\nHost: x\r\nname\r\n : value\r\n\r\n", Error::BadFieldName),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_5_field_values_are_trimmed() {
    let head = accepts(b"GET / HTTP/1.1\r\nHost:x\r\nA: \t v a l \t \r\nB:\r\nC:   \r\n\r\n");
    assert_eq!(head.field("a"), Some(&b"v a l"[..]));
    assert_eq!(head.field("B"), Some(&b""[..]));
    assert_eq!(head.field("c"), Some(&b""[..]));
    assert_eq!(head.field("host"), Some(&b"x"[..]));
    let names: Vec<&str> = head.fields().map(|(n, _)| n).collect();
    assert_eq!(names, ["Host", "A", "B", "C"]);
}

#[test]
fn rfc9110_5_5_htab_and_obs_text_in_values_are_accepted() {
    let head = accepts(b"GET / HTTP/1.1\r\nHost: x\r\nA: a\tb\r\nB: caf\xc3\xa9 \xff\r\n\r\n");
    assert_eq!(head.field("a"), Some(&b"a\tb"[..]));
    assert_eq!(head.field("b"), Some(&b"caf\xc3\xa9 \xff"[..]));
}

#[test]
fn rfc9110_5_5_ctl_in_field_value_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\nHost: x\r\nA: a\x01b\r\n\r\n", Error::BadFieldValue),
            (b"GET / HTTP/1.1\r\nHost: x\r\nA: a\x7fb\r\n\r\n", Error::BadFieldValue),
            (b"GET / HTTP/1.1\r\nHost: x\r\nA: \x0b\r\n\r\n", Error::BadFieldValue),
            (b"GET / HTTP/1.1\r\nHost: x\r\nA: \x1b[0m\r\n\r\n", Error::BadFieldValue),
        ],
        OK_400,
    );
}

#[test]
fn rfc9110_5_5_nul_is_400() {
    rejects_all(
        &[
            (b"GET / HTTP/1.1\r\nHost: x\r\nA: a\0b\r\n\r\n", Error::Nul),
            (b"GET / HTTP/1.1\r\nHost: x\r\nA\0: b\r\n\r\n", Error::Nul),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\0A: b\r\n\r\n", Error::Nul),
            (b"GET /a\0 HTTP/1.1\r\nHost: x\r\n\r\n", Error::Nul),
            (b"G\0ET / HTTP/1.1\r\nHost: x\r\n\r\n", Error::Nul),
            (b"\0GET / HTTP/1.1\r\nHost: x\r\n\r\n", Error::Nul),
            (b"GET / HTTP/1.\0\r\nHost: x\r\n\r\n", Error::Nul),
            (b"GET / HTTP/1.1\r\nHost: x\0\r\n\r\n", Error::Nul),
        ],
        OK_400,
    );
}

#[test]
fn rfc9110_5_4_head_over_limit_is_431() {
    let status = "431 Request Header Fields Too Large";
    // The default (PROTOCOLS.md: 64 KiB): a head of exactly 64 KiB passes.
    let base = b"GET / HTTP/1.1\r\nHost: x\r\nX: \r\n\r\n".len();
    let fill = "v".repeat(64 * 1024 - base);
    let ok = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {fill}\r\n\r\n");
    assert_eq!(ok.len(), 64 * 1024);
    accepts(ok.as_bytes());
    let over = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {fill}v\r\n\r\n");
    rejects(over.as_bytes(), Error::HeadTooLarge, status);
    // A head that never ends is refused once it passes the limit.
    let endless = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {fill}{fill}");
    rejects(endless.as_bytes(), Error::HeadTooLarge, status);
    // A configured limit, also on a request-line alone.
    let limits = Limits::default().with_max_head(40).with_max_target(1000);
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(40));
    rejects_with(limits, long_line.as_bytes(), Error::HeadTooLarge, status);
    accepts_with(limits, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"");
}

#[test]
fn rfc9110_5_4_more_than_100_fields_is_431() {
    let mut ok = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 1..100 {
        ok.push_str(&format!("F{i}: v\r\n"));
    }
    let over = format!("{ok}F100: v\r\n\r\n");
    ok.push_str("\r\n");
    assert_eq!(accepts(ok.as_bytes()).fields().len(), 100);
    rejects(over.as_bytes(), Error::TooManyFields, "431 Request Header Fields Too Large");
    let limits = Limits::default().with_max_fields(2);
    accepts_with(limits, b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n", b"");
    rejects_with(
        limits,
        b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\nC: d\r\n\r\n",
        Error::TooManyFields,
        "431 Request Header Fields Too Large",
    );
}

// ---------------------------------------------------------------------------
// RFC 9112 §6: message body framing
// ---------------------------------------------------------------------------

#[test]
fn rfc9112_6_1_cl_and_te_together_is_400() {
    rejects_all(
        &[
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                Error::ContentLengthAndTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
                Error::ContentLengthAndTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\nx",
                Error::ContentLengthAndTransferEncoding,
            ),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_6_1_te_in_http_1_0_is_400() {
    rejects_all(
        &[
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                Error::TransferEncodingInHttp10,
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx",
                Error::TransferEncodingInHttp10,
            ),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_6_1_unknown_transfer_coding_is_501() {
    let mut cases: Vec<(Vec<u8>, Error)> = Vec::new();
    for te in ["gzip", "pigeons", "chunkedchunked", "identity", "gzip, chunked", "deflate,chunked"]
    {
        let input =
            format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
        cases.push((input.into_bytes(), Error::UnknownTransferCoding));
    }
    cases.push((
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        Error::UnknownTransferCoding,
    ));
    for (input, err) in &cases {
        rejects(input, *err, "501 Not Implemented");
    }
}

#[test]
fn rfc9112_6_3_chunked_not_final_is_400() {
    rejects_all(
        &[
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", Error::BadTransferEncoding),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
                Error::BadTransferEncoding,
            ),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, x\r\n\r\n", Error::BadTransferEncoding),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_7_chunked_twice_is_400() {
    rejects_all(
        &[
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
                Error::BadTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                Error::BadTransferEncoding,
            ),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_7_chunked_with_parameters_is_400() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
        Error::BadTransferEncoding,
        OK_400,
    );
}

#[test]
fn rfc9112_6_3_empty_transfer_encoding_is_400() {
    rejects_all(
        &[
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n",
                Error::BadTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , ,\r\n\r\n",
                Error::BadTransferEncoding,
            ),
        ],
        OK_400,
    );
}

#[test]
fn rfc9110_5_6_1_empty_list_elements_in_te_are_ignored() {
    let input =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let head = accepts_with(Limits::default(), input, b"abc");
    assert_eq!(head.body_kind(), BodyKind::Chunked);
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED , \r\n\r\n0\r\n\r\n";
    assert_eq!(accepts(input).body_kind(), BodyKind::Chunked);
}

#[test]
fn rfc9112_6_3_differing_content_length_is_400() {
    rejects_all(
        &[
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", Error::ConflictingContentLength),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", Error::ConflictingContentLength),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 00001\r\n\r\nx", Error::ConflictingContentLength),
        ],
        OK_400,
    );
}

#[test]
fn rfc9112_6_3_malformed_content_length_is_400() {
    for cl in ["+5", "-1", "0x10", "4 2", "", "5,", ",5", "5.0", "1_0", "five", "5;x", "\"5\"", "٥"]
    {
        let input = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\nhello");
        rejects(input.as_bytes(), Error::BadContentLength, OK_400);
    }
}

#[test]
fn rfc9110_8_6_content_length_overflow_is_400() {
    for cl in ["18446744073709551616", "99999999999999999999999", "184467440737095516150"] {
        let input = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\n");
        rejects(input.as_bytes(), Error::BadContentLength, OK_400);
    }
    // u64::MAX itself parses, and is then over the body limit.
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n";
    rejects(input, Error::BodyTooLarge, "413 Content Too Large");
}

#[test]
fn rfc9112_6_3_identical_content_lengths_are_used_as_one() {
    for input in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3,3,003\r\n\r\nabc",
    ] {
        let head = accepts_with(Limits::default(), input, b"abc");
        assert_eq!(head.body_kind(), BodyKind::Length(3));
    }
}

#[test]
fn rfc9112_6_3_bodies_by_length_and_chunked() {
    let head = accepts_with(
        Limits::default(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"hello",
    );
    assert_eq!(head.body_kind(), BodyKind::Length(5));
    let head = accepts_with(
        Limits::default(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
        b"helloabcdefghijklmnopqrstuvwxyz",
    );
    assert_eq!(head.body_kind(), BodyKind::Chunked);
    // Leading zeros in the size, upper-case hex, the `1*"0"` last-chunk.
    accepts_with(
        Limits::default(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n000A\r\n0123456789\r\n000\r\n\r\n",
        b"0123456789",
    );
    // No framing fields: no body, and what follows is the next request.
    assert_eq!(accepts(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n").body_kind(), BodyKind::Length(0));
    accepts(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
}

// ---------------------------------------------------------------------------
// RFC 9112 §7: chunked coding
// ---------------------------------------------------------------------------

const CHUNKED: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunked(body: &[u8]) -> Vec<u8> {
    [CHUNKED, body].concat()
}

#[test]
fn rfc9112_7_1_chunk_size_overflow_is_400() {
    for size in ["10000000000000000", "FFFFFFFFFFFFFFFFF", "1ffffffffffffffff0"] {
        rejects(&chunked(format!("{size}\r\n").as_bytes()), Error::ChunkSizeOverflow, OK_400);
    }
    // 16 hex digits fit in u64, and are then over the body limit.
    rejects(&chunked(b"FFFFFFFFFFFFFFFF\r\n"), Error::BodyTooLarge, "413 Content Too Large");
}

#[test]
fn rfc9112_7_1_chunk_size_junk_is_400() {
    for (body, err) in [
        (&b"2 erfr\r\nab\r\n0\r\n\r\n"[..], Error::BadChunkSize),
        (b"\r\nab\r\n0\r\n\r\n", Error::BadChunkSize),
        (b";a=b\r\nab\r\n0\r\n\r\n", Error::BadChunkSize),
        (b"5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n", Error::BareCr),
        (b"-1\r\n", Error::BadChunkSize),
        (b"+1\r\nx\r\n0\r\n\r\n", Error::BadChunkSize),
        (b"0x5\r\nhello\r\n0\r\n\r\n", Error::BadChunkSize),
        (b"5 \r\nhello\r\n0\r\n\r\n", Error::BadChunkSize),
        (b"5g\r\nhello\r\n0\r\n\r\n", Error::BadChunkSize),
        (b" 5\r\nhello\r\n0\r\n\r\n", Error::BadChunkSize),
        (b"5\r\nhello\r\n\r\n0\r\n\r\n", Error::BadChunkSize),
    ] {
        rejects(&chunked(body), err, OK_400);
    }
    // Endless leading zeros do not make the line endless.
    rejects(&chunked(&b"0".repeat(100)), Error::BadChunkSize, OK_400);
}

#[test]
fn rfc9112_7_1_missing_crlf_after_chunk_data_is_400() {
    for body in [
        &b"5\r\nhelloXX"[..],
        b"5\r\nABCDE0\r\n\r\n",
        b"5\r\nhello\r0\r\n\r\n",
        b"5\r\nhello0\r\n\r\n",
        b"3\r\nhello\r\n0\r\n\r\n",
    ] {
        rejects(&chunked(body), Error::BadChunkEnd, OK_400);
    }
}

#[test]
fn rfc9112_7_1_1_chunk_extensions_are_accepted_and_ignored() {
    accepts_with(
        Limits::default(),
        &chunked(b"5;a\r\nhello\r\n1 ; b = c ;d=\"q \\\" t\"\r\nx\r\n0;last=1\r\n\r\n"),
        b"hellox",
    );
}

#[test]
fn rfc9112_7_1_1_bad_chunk_extension_is_400() {
    for body in [
        &b"2;\r\nab\r\n0\r\n\r\n"[..],
        b"2;a=\"b\r\nab\r\n0\r\n\r\n",
        b"2;a=b\"\r\nab\r\n0\r\n\r\n",
        b"2;=x\r\nab\r\n0\r\n\r\n",
        b"2;a=\r\nab\r\n0\r\n\r\n",
        b"2;a b\r\nab\r\n0\r\n\r\n",
        b"2;a=b c\r\nab\r\n0\r\n\r\n",
        b"2;a@b\r\nab\r\n0\r\n\r\n",
        b"2;a=\"x\0\"\r\nab\r\n0\r\n\r\n",
        b"2;a;\r\nab\r\n0\r\n\r\n",
    ] {
        rejects(&chunked(body), Error::BadChunkExtension, OK_400);
    }
}

#[test]
fn rfc9112_7_1_1_chunk_extensions_over_limit_is_400() {
    let long = format!("1;x={}\r\na\r\n0\r\n\r\n", "v".repeat(5000));
    rejects(&chunked(long.as_bytes()), Error::ChunkExtensionTooLong, OK_400);
    // The limit counts the whole request, not one chunk.
    let limits = Limits::default().with_max_chunk_ext(100);
    let ext = "v".repeat(60);
    let one = format!("1;x={ext}\r\na\r\n0\r\n\r\n");
    accepts_with(limits, &chunked(one.as_bytes()), b"a");
    let two = format!("1;x={ext}\r\na\r\n1;y={ext}\r\nb\r\n0\r\n\r\n");
    rejects_with(limits, &chunked(two.as_bytes()), Error::ChunkExtensionTooLong, OK_400);
}

#[test]
fn rfc9112_7_1_2_trailers_are_accepted_and_discarded() {
    let input = chunked(b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nExpires: never\r\n\r\n");
    let head = accepts_with(Limits::default(), &input, b"hello");
    assert_eq!(head.field("x-checksum"), None, "trailers are not merged into the head");
}

#[test]
fn rfc9112_7_1_2_bad_trailer_field_is_400() {
    for (body, err) in [
        (&b"0\r\nX : y\r\n\r\n"[..], Error::SpaceBeforeColon),
        (b"0\r\nX: y\r\n z\r\n\r\n", Error::ObsFold),
        (b"0\r\nX: a\rb\r\n\r\n", Error::BareCr),
        (b"0\r\nX: a\0b\r\n\r\n", Error::Nul),
        (b"0\r\nX@: y\r\n\r\n", Error::BadFieldName),
        (b"0\r\nX: \x01\r\n\r\n", Error::BadFieldValue),
        (b"0\r\nX: y\n\r\n", Error::BareLf),
    ] {
        rejects(&chunked(body), err, OK_400);
    }
}

#[test]
fn rfc9112_7_1_2_trailer_section_is_bounded() {
    let status = "431 Request Header Fields Too Large";
    let limits = Limits::default().with_max_head(64).with_max_fields(2);
    rejects_with(
        limits,
        &chunked(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
        Error::TooManyFields,
        status,
    );
    let long = format!("0\r\nA: {}\r\n\r\n", "v".repeat(100));
    rejects_with(limits, &chunked(long.as_bytes()), Error::HeadTooLarge, status);
    let endless = format!("0\r\nA: {}", "v".repeat(100));
    rejects_with(limits, &chunked(endless.as_bytes()), Error::HeadTooLarge, status);
}

// ---------------------------------------------------------------------------
// Limits on the body: 413
// ---------------------------------------------------------------------------

#[test]
fn rfc9110_15_5_14_content_length_over_limit_is_413() {
    // The default (PROTOCOLS.md: 16 MiB), refused before any of it is read.
    let input = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 16777217\r\n\r\n";
    rejects(input, Error::BodyTooLarge, "413 Content Too Large");
    let limits = Limits::default().with_max_body(5);
    accepts_with(limits, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", b"hello");
    rejects_with(
        limits,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nhello!",
        Error::BodyTooLarge,
        "413 Content Too Large",
    );
}

#[test]
fn rfc9110_15_5_14_chunked_body_over_limit_is_413() {
    let limits = Limits::default().with_max_body(10);
    accepts_with(limits, &chunked(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), b"helloworld");
    // The sum of the chunks counts, not each one.
    rejects_with(
        limits,
        &chunked(b"5\r\nhello\r\n5\r\nworld\r\n1\r\n!\r\n0\r\n\r\n"),
        Error::BodyTooLarge,
        "413 Content Too Large",
    );
    // One chunk over the limit is refused at its size line.
    rejects_with(limits, &chunked(b"b\r\n"), Error::BodyTooLarge, "413 Content Too Large");
}

#[test]
fn limits_defaults_match_protocols_md() {
    let l = Limits::default();
    assert_eq!(l.max_head, 64 * 1024);
    assert_eq!(l.max_target, 8 * 1024);
    assert_eq!(l.max_fields, 100);
    assert_eq!(l.max_body, 16 * 1024 * 1024);
    assert_eq!(l.max_chunk_ext, 4 * 1024);
    assert_eq!(l.body_timeout, Duration::from_secs(60));
}

// ---------------------------------------------------------------------------
// Timers: 408 and idle close
// ---------------------------------------------------------------------------

#[test]
fn rfc9110_15_5_9_header_timeout_is_408() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(p.h.session.poll_timeout(), Some(at(10.0)));
    p.timeout(at(9.999));
    assert!(p.events().is_empty());
    assert!(!p.h.session.is_finished());
    p.timeout(at(10.0));
    assert_eq!(p.events(), [Event::Rejected(Error::Timeout)]);
    check_rejection_response(p.wire().as_bytes(), "408 Request Timeout", "header timeout");
    assert!(p.h.session.is_finished());
    assert!(!p.h.session.wants_read());
    assert_eq!(p.h.session.poll_timeout(), None);
}

#[test]
fn rfc9110_15_5_9_slowloris_is_408_from_the_first_byte() {
    let limits = Limits::default().with_header_timeout(Duration::from_secs(5));
    let mut p = Peer::with(limits);
    p.h.now = at(1.0);
    p.send(b"G");
    // A byte a second does not push the deadline back.
    for (i, &b) in b"ET / HTTP/1.1\r\n".iter().enumerate() {
        p.h.now = at(1.0 + 0.3 * (i + 1) as f64);
        p.send(&[b]);
        p.timeout(p.h.now);
        if p.h.now < at(6.0) {
            assert!(!p.h.session.is_finished());
        }
    }
    assert_eq!(p.h.session.poll_timeout(), Some(at(6.0)));
    p.timeout(at(6.0));
    assert_eq!(p.events(), [Event::Rejected(Error::Timeout)]);
    check_rejection_response(p.wire().as_bytes(), "408 Request Timeout", "slowloris");
    assert!(p.h.session.is_finished());
}

#[test]
fn rfc9110_15_5_9_stalled_body_is_408() {
    // The idle timer alone: a body timeout longer than this exchange.
    let mut p = Peer::with(Limits::default().with_body_timeout(Duration::from_secs(600)));
    p.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf");
    assert_eq!(p.h.session.poll_timeout(), Some(at(60.0)));
    p.h.now = at(30.0);
    p.send(b"more");
    assert_eq!(p.h.session.poll_timeout(), Some(at(90.0)), "body bytes re-arm the idle timer");
    p.timeout(at(89.0));
    assert!(!p.h.session.is_finished());
    p.timeout(at(90.0));
    let events = p.events();
    assert_eq!(events.last(), Some(&Event::Rejected(Error::Timeout)));
    assert_eq!(events[1], Event::Data(Bytes::from_static(b"halfmore")));
    check_rejection_response(p.wire().as_bytes(), "408 Request Timeout", "stalled body");
    assert!(p.h.session.is_finished());
}

#[test]
fn rfc9110_15_5_9_trickled_body_is_408_at_the_body_timeout() {
    // One byte every 2 s keeps the idle timer (5 s) from ever firing; the
    // body timeout (20 s from the end of the head) ends it all the same.
    let limits = Limits::default()
        .with_idle_timeout(Duration::from_secs(5))
        .with_body_timeout(Duration::from_secs(20));
    let mut p = Peer::with(limits);
    p.h.now = at(1.0);
    p.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    for i in 1..=20 {
        p.h.now = at(1.0 + 2.0 * f64::from(i) - 0.5);
        p.timeout(p.h.now);
        if p.h.now < at(21.0) {
            assert!(!p.h.session.is_finished(), "finished at {:?}", p.h.now);
            p.send(b"x");
        }
    }
    let events = p.events();
    assert_eq!(events.last(), Some(&Event::Rejected(Error::Timeout)));
    check_rejection_response(p.wire().as_bytes(), "408 Request Timeout", "trickled body");
    assert!(p.h.session.is_finished());
    // The deadline is exact, on the simulated clock.
    let mut p = Peer::with(limits);
    p.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n");
    for t in [4.0, 8.0, 12.0, 16.0, 19.9] {
        p.h.now = at(t);
        p.send(b"1\r\nb\r\n");
        p.timeout(p.h.now);
    }
    assert!(!p.h.session.is_finished());
    assert_eq!(p.h.session.poll_timeout(), Some(at(20.0)));
    p.timeout(at(20.0));
    assert_eq!(p.events().last(), Some(&Event::Rejected(Error::Timeout)));
    // A body that ends in time leaves no timer behind.
    let mut p = Peer::with(limits);
    p.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(p.h.session.poll_timeout(), None);
    assert_eq!(p.events().last(), Some(&Event::End));
}

#[test]
fn rfc9112_9_5_idle_timeout_closes_silently() {
    let mut p = Peer::new();
    assert_eq!(p.h.session.poll_timeout(), Some(at(60.0)));
    p.timeout(at(59.0));
    assert!(!p.h.session.is_finished());
    // Early and repeated calls are harmless.
    p.timeout(at(59.0));
    p.timeout(at(60.0));
    assert!(p.h.session.is_finished());
    assert!(p.events().is_empty());
    assert!(p.wire().is_empty());
    assert_eq!(p.h.session.poll_timeout(), None);
}

#[test]
fn rfc9112_9_5_idle_timer_restarts_after_each_response() {
    let mut p = Peer::new();
    p.h.now = at(5.0);
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(p.h.session.poll_timeout(), None, "no timer while the application answers");
    p.h.now = at(7.0);
    p.h.session.handle_timeout(p.h.now);
    p.respond(200, "ok");
    assert_eq!(p.h.session.poll_timeout(), Some(at(67.0)));
    // The next request's head switches to the header timer.
    p.h.now = at(8.0);
    p.send(b"GET /2 HTTP/1.1\r\n");
    assert_eq!(p.h.session.poll_timeout(), Some(at(18.0)));
    p.timeout(at(67.0));
    assert_eq!(p.events().last(), Some(&Event::Rejected(Error::Timeout)));
    assert!(p.wire().contains("HTTP/1.1 408 Request Timeout\r\n"));
}

#[test]
fn rfc9112_9_5_idle_time_runs_from_the_last_byte_written() {
    // Found by the simulated network (tests/integration/sim): a response
    // streamed for longer than the idle timeout, finished from on_drained
    // (no input since the request), armed the idle timer from the time of
    // the request, so the connection closed at once after the response.
    let mut p = Peer::new();
    p.h.now = at(5.0);
    p.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    p.h.session.send_response(200, &[], ResponseBody::Length(4)).unwrap();
    p.h.session.send_data(Bytes::from_static(b"ab")).unwrap();
    p.pump();
    // The driver writes as the client reads: 100 s later the first half
    // is out, and the application finishes the response.
    p.h.session.handle_sent(at(105.0), 2);
    p.h.session.send_data(Bytes::from_static(b"cd")).unwrap();
    p.h.session.finish().unwrap();
    assert_eq!(
        p.h.session.poll_timeout(),
        Some(at(165.0)),
        "idle from the finish, not the request"
    );
    p.timeout(at(105.0));
    assert!(!p.h.session.is_finished(), "closed right after a long response");
    // The last bytes go out later still: the idle time starts there.
    p.pump();
    p.h.session.handle_sent(at(130.0), 2);
    assert_eq!(p.h.session.poll_timeout(), Some(at(190.0)));
    p.timeout(at(189.0));
    assert!(!p.h.session.is_finished());
    p.timeout(at(190.0));
    assert!(p.h.session.is_finished());
    assert!(p.wire().ends_with("\r\n\r\nabcd"));
}

// ---------------------------------------------------------------------------
// End of stream
// ---------------------------------------------------------------------------

#[test]
fn rfc9112_8_eof_between_requests_closes_silently() {
    let mut p = Peer::new();
    p.eof();
    assert!(p.h.session.is_finished());
    assert!(p.events().is_empty());
    assert!(p.wire().is_empty());
}

#[test]
fn rfc9112_8_eof_inside_a_request_is_400() {
    for input in [
        &b"GET / HTTP/1.1\r\nHo"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel",
    ] {
        let mut p = Peer::new();
        p.send(input);
        p.eof();
        assert_eq!(p.events().last(), Some(&Event::Rejected(Error::Truncated)), "{}", show(input));
        check_rejection_response(p.wire().as_bytes(), OK_400, &show(input));
        assert!(p.h.session.is_finished());
    }
}

// ---------------------------------------------------------------------------
// Connections: persistence, pipelining, responses
// ---------------------------------------------------------------------------

#[test]
fn rfc9112_9_3_2_pipelined_requests_are_answered_in_order() {
    let mut p = Peer::new();
    let second = b"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    let third = b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    p.send(&[&b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"[..], second, third].concat());
    p.request("/1");
    // A response is owed: the machine stops reading and leaves the rest.
    assert!(!p.h.session.wants_read());
    assert_eq!(&p.h.inbox()[..], &[&second[..], third].concat()[..]);
    // A driver that feeds anyway changes nothing.
    assert_eq!(p.h.force_read(), 0);
    assert!(p.h.session.poll_event().is_none());
    assert_eq!(p.h.inbox().len(), second.len() + third.len());
    assert!(p.wire().is_empty());

    p.respond(200, "one");
    let (_, body) = p.request("/2");
    assert_eq!(body, b"abc");
    assert!(!p.h.session.wants_read());
    p.respond(201, "two");
    p.request("/3");
    p.respond(202, "three");
    assert_eq!(
        p.wire(),
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none\
         HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\ntwo\
         HTTP/1.1 202 \r\nContent-Length: 5\r\n\r\nthree"
    );
    assert!(p.h.inbox().is_empty());
    assert!(p.h.session.wants_read());
    assert!(!p.h.session.is_finished());
    assert_eq!(p.h.session.requests(), 3);
}

#[test]
fn rfc9112_9_3_2_invalid_pipelined_request_is_rejected_after_the_valid_ones() {
    let mut p = Peer::new();
    p.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost : x\r\n\r\n");
    p.request("/1");
    p.respond(200, "ok");
    assert_eq!(p.events(), [Event::Rejected(Error::SpaceBeforeColon)]);
    let wire = p.wire();
    let (first, second) = wire.split_at(wire.find("HTTP/1.1 400").unwrap());
    assert_eq!(first, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    check_rejection_response(second.as_bytes(), OK_400, "pipelined");
    assert!(p.h.session.is_finished());
}

#[test]
fn rfc9112_9_3_http_1_1_is_persistent_by_default() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let (head, _) = p.request("/");
    assert!(head.keep_alive());
    p.respond(200, "a");
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
    assert!(!p.h.session.is_finished());
    assert!(p.h.session.wants_read());
    p.send(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/again");
}

#[test]
fn rfc9112_9_6_connection_close_ends_the_connection() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: x\r\n\r\n");
    let (head, _) = p.request("/");
    assert!(!head.keep_alive());
    p.respond(200, "a");
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\na");
    // MUST NOT process further requests.
    assert!(p.h.session.is_finished());
    assert!(p.events().is_empty());
    // Connection options are a case-insensitive list.
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, CLOSE\r\n\r\n");
    assert!(!p.request("/").0.keep_alive());
}

#[test]
fn rfc9112_9_3_http_1_0_closes_by_default() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.0\r\n\r\n");
    let (head, _) = p.request("/");
    assert_eq!(head.version(), Version::Http10);
    assert!(!head.keep_alive());
    p.respond(200, "a");
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\na");
    assert!(p.h.session.is_finished());
}

#[test]
fn rfc9112_9_3_http_1_0_keep_alive_stays_open() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(p.request("/").0.keep_alive());
    p.respond(200, "a");
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\na");
    assert!(!p.h.session.is_finished());
    // The next HTTP/1.0 request without keep-alive closes.
    p.send(b"GET /2 HTTP/1.0\r\n\r\n");
    p.request("/2");
    p.respond(200, "b");
    assert!(p.wire().contains("Connection: close\r\n"));
    assert!(p.h.session.is_finished());
}

#[test]
fn close_after_response_adds_connection_close() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    p.h.session.close_after_response();
    p.respond(200, "");
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(p.h.session.is_finished());
}

#[test]
fn rfc9110_10_1_1_expect_100_continue_gets_100_before_the_final_response() {
    let mut p = Peer::new();
    p.send(b"PUT /f HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    // The 100 goes out before any body byte arrives.
    assert_eq!(p.wire(), "HTTP/1.1 100 Continue\r\n\r\n");
    assert!(matches!(&p.events()[..], [Event::Request(h)] if h.expects_continue()));
    p.send(b"hello");
    assert_eq!(p.events(), [Event::Data(Bytes::from_static(b"hello")), Event::End]);
    p.respond(204, "");
    assert_eq!(p.wire(), "HTTP/1.1 204 No Content\r\n\r\n");
    // Also through every split, with the 100 on the wire first.
    let input =
        b"PUT /f HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nhello";
    let out = outcomes(Limits::default(), input);
    assert_eq!(out.wire, b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn rfc9110_10_1_1_no_100_continue_without_a_body_or_in_http_1_0() {
    for input in [
        &b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    ] {
        let out = outcomes(Limits::default(), input);
        assert!(out.wire.is_empty(), "{}: {}", show(input), show(&out.wire));
        assert!(matches!(out.events.last(), Some(Event::End)));
    }
}

#[test]
fn rfc9110_10_1_1_rejected_body_after_100_continue_still_gets_its_error() {
    let mut p = Peer::new();
    p.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(p.wire(), "HTTP/1.1 100 Continue\r\n\r\n");
    p.send(b"zz\r\n");
    assert_eq!(p.events().last(), Some(&Event::Rejected(Error::BadChunkSize)));
    check_rejection_response(p.wire().as_bytes(), OK_400, "after 100");
    assert!(p.h.session.is_finished());
    // A body over the limit is refused at once, without a 100.
    let mut p = Peer::with(Limits::default().with_max_body(4));
    p.send(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(p.events(), [Event::Rejected(Error::BodyTooLarge)]);
    check_rejection_response(p.wire().as_bytes(), "413 Content Too Large", "expect 413");
}

#[test]
fn rfc9110_9_3_2_head_response_has_content_length_but_no_body() {
    let mut p = Peer::new();
    p.send(b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(p.request("/x").0.is_head());
    p.respond(200, "hello");
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    assert!(!p.h.session.is_finished());
    // Streaming: the body the application sends is dropped.
    p.send(b"HEAD /y HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/y");
    p.h.session
        .send_response(200, &[("Content-Type", b"text/plain")], ResponseBody::Length(3))
        .unwrap();
    p.h.session.send_data(Bytes::from_static(b"abc")).unwrap();
    p.h.session.finish().unwrap();
    p.pump();
    assert_eq!(
        p.wire(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n"
    );
    // With unknown length: the framing field, no chunks, no last-chunk.
    p.send(b"HEAD /z HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/z");
    p.h.session.send_response(200, &[], ResponseBody::Chunked).unwrap();
    p.h.session.send_data(Bytes::from_static(b"abc")).unwrap();
    p.h.session.finish().unwrap();
    p.pump();
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(!p.h.session.is_finished());
}

#[test]
fn rfc9112_7_chunked_response_framing() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    p.h.session.send_response(200, &[("X-A", b"1")], ResponseBody::Chunked).unwrap();
    p.h.session.send_data(Bytes::from_static(b"hello")).unwrap();
    p.h.session.send_data(Bytes::new()).unwrap(); // an empty piece is not a last-chunk
    p.h.session.send_data(Bytes::from(vec![b'z'; 26])).unwrap();
    p.h.session.finish().unwrap();
    p.pump();
    assert_eq!(
        p.wire(),
        format!(
            "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1a\r\n{}\r\n0\r\n\r\n",
            "z".repeat(26)
        )
    );
    assert!(!p.h.session.is_finished());
}

#[test]
fn rfc9112_6_3_http_1_0_client_gets_a_close_delimited_body() {
    for req in [&b"GET / HTTP/1.0\r\n\r\n"[..], b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"]
    {
        let mut p = Peer::new();
        p.send(req);
        p.request("/");
        p.h.session.send_response(200, &[], ResponseBody::Chunked).unwrap();
        p.h.session.send_data(Bytes::from_static(b"abc")).unwrap();
        p.h.session.send_data(Bytes::from_static(b"def")).unwrap();
        assert!(!p.h.session.is_finished());
        p.h.session.finish().unwrap();
        p.pump();
        assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcdef");
        assert!(p.h.session.is_finished(), "the end of the body is the close");
    }
}

#[test]
fn rfc9110_15_3_5_no_content_and_not_modified_have_no_length() {
    for (status, line) in
        [(204, "HTTP/1.1 204 No Content\r\n\r\n"), (304, "HTTP/1.1 304 Not Modified\r\n\r\n")]
    {
        let mut p = Peer::new();
        p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        p.request("/");
        p.respond(status, "");
        assert_eq!(p.wire(), line);
        assert!(!p.h.session.is_finished());
        p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        p.request("/");
        assert_eq!(
            p.h.session.respond(status, &[], Bytes::from_static(b"x")),
            Err(Misuse::BodyNotAllowed)
        );
        assert_eq!(
            p.h.session.send_response(status, &[], ResponseBody::Chunked),
            Err(Misuse::BodyNotAllowed)
        );
    }
}

#[test]
fn response_reason_phrases() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    p.respond(404, "no");
    assert!(p.wire().starts_with("HTTP/1.1 404 Not Found\r\n"));
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    p.respond(599, "");
    assert!(
        p.wire().starts_with("HTTP/1.1 599 \r\n"),
        "unknown status: empty reason (RFC 9112 §4)"
    );
}

// ---------------------------------------------------------------------------
// Application API errors
// ---------------------------------------------------------------------------

#[test]
fn api_respond_before_end_is_not_ready() {
    let mut p = Peer::new();
    let ok = || Bytes::from_static(b"x");
    assert_eq!(p.h.session.respond(200, &[], ok()), Err(Misuse::NotReady));
    p.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab");
    assert_eq!(p.h.session.respond(200, &[], ok()), Err(Misuse::NotReady), "body still arriving");
    p.send(b"cd");
    p.request("/");
    p.respond(200, "x");
    assert_eq!(p.h.session.respond(200, &[], ok()), Err(Misuse::NotReady), "already answered");
    assert_eq!(p.h.session.send_data(ok()), Err(Misuse::WrongState));
    assert_eq!(p.h.session.finish(), Err(Misuse::WrongState));
    assert!(p.events().is_empty());
    assert!(!p.h.session.is_finished());
}

#[test]
fn api_response_started_twice_is_wrong_state() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    p.h.session.send_response(200, &[], ResponseBody::Length(1)).unwrap();
    assert_eq!(p.h.session.send_response(200, &[], ResponseBody::Empty), Err(Misuse::WrongState));
    assert_eq!(p.h.session.respond(200, &[], Bytes::new()), Err(Misuse::WrongState));
}

#[test]
fn api_framing_fields_are_rejected() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    for name in ["Content-Length", "transfer-encoding", "CONNECTION"] {
        assert_eq!(
            p.h.session.respond(200, &[(name, b"1")], Bytes::new()),
            Err(Misuse::FramingField),
            "{name}"
        );
    }
    for (name, value) in [
        ("Bad Name", &b"v"[..]),
        ("", b"v"),
        ("X", b"a\r\nInjected: 1"),
        ("X", b"a\nb"),
        ("X", b"\0"),
    ] {
        assert_eq!(
            p.h.session.respond(200, &[(name, value)], Bytes::new()),
            Err(Misuse::BadField),
            "{name}"
        );
    }
    for status in [0, 99, 100, 101, 199, 1000] {
        assert_eq!(
            p.h.session.respond(status, &[], Bytes::new()),
            Err(Misuse::BadStatus),
            "{status}"
        );
    }
    // Nothing was written by the failed calls, and the request still waits.
    assert!(p.wire().is_empty());
    p.respond(200, "ok");
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

#[test]
fn api_body_too_long_or_too_short() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    p.h.session.send_response(200, &[], ResponseBody::Length(3)).unwrap();
    assert_eq!(p.h.session.send_data(Bytes::from_static(b"abcd")), Err(Misuse::BodyTooLong));
    p.h.session.send_data(Bytes::from_static(b"ab")).unwrap();
    assert_eq!(p.h.session.finish(), Err(Misuse::BodyIncomplete));
    assert_eq!(p.h.session.send_data(Bytes::from_static(b"cd")), Err(Misuse::BodyTooLong));
    p.h.session.send_data(Bytes::from_static(b"c")).unwrap();
    p.h.session.finish().unwrap();
    p.pump();
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    // An empty body is fine with Length(0) / Empty.
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    p.h.session.send_response(200, &[], ResponseBody::Empty).unwrap();
    assert_eq!(p.h.session.send_data(Bytes::from_static(b"x")), Err(Misuse::BodyTooLong));
    p.h.session.finish().unwrap();
}

#[test]
fn api_transmit_queued_counts_unpolled_bytes() {
    let mut p = Peer::new();
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/");
    p.h.session.respond(200, &[], Bytes::from_static(b"hello")).unwrap();
    assert!(p.h.session.transmit_queued() > 0);
    p.pump();
    assert_eq!(p.wire(), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(p.h.session.transmit_queued(), 0);
}

// ---------------------------------------------------------------------------
// Table-driven vectors (httparse / llhttp style)
// ---------------------------------------------------------------------------

/// Valid requests and their bodies.
const ACCEPT: &[(&[u8], &[u8])] = &[
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b""),
    (b"GET / HTTP/1.0\r\n\r\n", b""),
    (b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", b""),
    (
        b"GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n\
          Host: www.kittyhell.com\r\n\
          User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n\
          Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
          Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n\
          Accept-Encoding: gzip,deflate\r\n\
          Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n\
          Keep-Alive: 115\r\n\
          Connection: keep-alive\r\n\
          Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral\r\n\r\n",
        b"",
    ),
    (b"GET /\"|#frag HTTP/1.1\r\nHost: x\r\n\r\n", b""),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", b"body"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:4\r\n\r\nbody", b"body"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\t\r\n\r\nbody", b"body"),
    (b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 0004\r\n\r\nbody", b"body"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n", b"body"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\t\r\n\r\n4\r\nbody\r\n0\r\n\r\n", b"body"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b""),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2 ;a=b\r\nhi\r\n0\r\nT: 1\r\n\r\n", b"hi"),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\r\n\r\n0\r\n\r\n", b"\r\n"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n\r\n", b""),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: \"quoted\", (comment)\r\n\r\n", b""),
    (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", b""),
    (b"CONNECT a.b:1 HTTP/1.1\r\nHost: a.b:1\r\n\r\n", b""),
    (b"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", b""),
];

/// Invalid requests and the verdict.
const REJECT: &[(&[u8], Error)] = &[
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5 \x0b\r\n\r\n", Error::BadFieldValue),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Error::ContentLengthAndTransferEncoding),
    (b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", Error::DuplicateHost),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\r\n", Error::BareCr),
    (b"GET / HTTP/1.1\r\r\nHost: x\r\n\r\n", Error::BareCr),
    (b"GET / HTTP/1.1\r\nHost: x\r\nA: \x7f\r\n\r\n", Error::BadFieldValue),
    (b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", Error::BadVersion),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", Error::ConflictingContentLength),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\r\n", Error::BareCr),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nX\r\n", Error::BadChunkSize),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"\\\x01\"\r\n", Error::BadChunkExtension),
];

#[test]
fn table_of_accepted_requests() {
    for &(input, body) in ACCEPT {
        accepts_with(Limits::default(), input, body);
    }
}

#[test]
fn table_of_rejected_requests() {
    for &(input, err) in REJECT {
        let status = format!("{} {}", err.status(), reason(err.status()));
        rejects(input, err, &status);
    }
}

// ---------------------------------------------------------------------------
// The parser's linear bound
// ---------------------------------------------------------------------------

#[test]
fn head_parser_inspects_each_byte_about_once_however_split() {
    let input = ACCEPT[3].0;
    for step in [1, 2, 3, 7, 64, input.len()] {
        let mut p = HeadParser::new(&Limits::default());
        let mut end = 0;
        let mut n = None;
        while n.is_none() {
            end = (end + step).min(input.len());
            n = p.parse(&input[..end]).unwrap();
        }
        assert_eq!(n, Some(input.len()));
        assert!(
            p.bytes_inspected() <= 2 * input.len() as u64,
            "step {step}: {}",
            p.bytes_inspected()
        );
    }
}

/// A parser reset in the middle of a field name (where a byte of the next
/// call only moves it on) starts the next request from its first byte.
#[test]
fn head_parser_reset_mid_request_starts_afresh() {
    let mut p = HeadParser::new(&Limits::default());
    assert_eq!(p.parse(b"GET / HTTP/1.1\r\nHost: h\r\nX-Long"), Ok(None));
    p.reset();
    let input = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(p.parse(&input[..3]), Ok(None));
    assert_eq!(p.parse(input), Ok(Some(input.len())));
}

/// One parser across requests, each taken: the field count and the rule
/// for the first field line start afresh, a head parsed whole or byte by
/// byte.
#[test]
fn head_parser_starts_each_request_afresh() {
    let limits = Limits { max_fields: 3, ..Limits::default() };
    let head = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    let mut p = HeadParser::new(&limits);
    for round in 0..3 {
        for bytewise in [false, true] {
            let ends: Vec<usize> =
                if bytewise { (1..=head.len()).collect() } else { vec![head.len()] };
            let mut r = Ok(None);
            for end in ends {
                r = p.parse(&head[..end]);
                if r != Ok(None) {
                    break;
                }
            }
            assert_eq!(r, Ok(Some(head.len())), "round {round}, byte by byte: {bytewise}");
            p.take(Bytes::copy_from_slice(head));
        }
    }
    assert_eq!(
        p.parse(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
        Err(Error::WhitespaceAfterStartLine)
    );
}

// ---------------------------------------------------------------------------
// Random splits (property test)
// ---------------------------------------------------------------------------

/// Feeds `input` cut at `cuts` and returns the merged events and wire.
fn drive_pieces(input: &[u8], cuts: &[usize]) -> (Vec<Event>, Vec<u8>, bool) {
    let mut conn = Conn::new(ServerConn::new(Limits::default(), T0), T0);
    let mut events = Record::default();
    conn.read_split(input, Split::At(cuts), &mut events);
    (events.0, conn.take_wire(), conn.session.is_finished())
}

proptest::proptest! {
    #[test]
    fn any_split_gives_the_same_events(
        which in 0..ACCEPT.len() + REJECT.len(),
        cuts in proptest::collection::vec(0usize..2000, 0..12),
    ) {
        let input = if which < ACCEPT.len() { ACCEPT[which].0 } else { REJECT[which - ACCEPT.len()].0 };
        let whole = drive_pieces(input, &[]);
        proptest::prop_assert_eq!(drive_pieces(input, &cuts), whole);
    }
}

/// What a head parser says of `input`: the error, or the head's length,
/// fields and framing.
type Verdict = Result<Option<(usize, Vec<(String, Vec<u8>)>, BodyKind, bool)>, Error>;

fn verdict(p: &mut HeadParser, r: Result<Option<usize>, Error>, input: &[u8]) -> Verdict {
    Ok(r?.map(|n| {
        let head = p.take(Bytes::copy_from_slice(&input[..n]));
        let fields = head.fields().map(|(k, v)| (String::from(k), v.to_vec())).collect();
        (n, fields, head.body_kind(), head.keep_alive())
    }))
}

/// `input` fed to one parser in prefixes ending at each of `ends` (then
/// whole), as long as it needs more.
fn parse_in_prefixes(input: &[u8], ends: impl IntoIterator<Item = usize>) -> Verdict {
    parse_in_prefixes_with(&Limits::default(), input, ends)
}

/// [`parse_in_prefixes`] under `limits`.
fn parse_in_prefixes_with(
    limits: &Limits,
    input: &[u8],
    ends: impl IntoIterator<Item = usize>,
) -> Verdict {
    let mut p = HeadParser::new(limits);
    let mut r = Ok(None);
    for end in ends.into_iter().chain([input.len()]) {
        r = p.parse(&input[..end.min(input.len())]);
        if r != Ok(None) {
            break;
        }
    }
    verdict(&mut p, r, input)
}

/// Field sections as a peer may send them: names and values from bytes
/// that stop a scanner (NUL, lone CR, LF, HTAB and SP where they do not
/// belong, obs-fold, DEL, bytes >= 0x80, colons) among plain ones, the
/// framing names, runs long enough for every scanning step.
fn field_lines() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    const SPECIAL: &[u8] =
        &[0, b'\r', b'\n', b'\t', b' ', 0x7f, 0x80, 0xff, b':', b',', b'"', b'@'];
    const NAMES: &[&[u8]] =
        &[b"Host", b"content-length", b"Transfer-Encoding", b"connection", b"X-A"];
    const WS: &[&[u8]] = &[b"", b" ", b"\t", b"  "];
    // Mostly CRLF; a bare LF, a lone CR, obs-fold (CRLF SP) now and then.
    const ENDS: &[&[u8]] = &[b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b"\r\n "];
    let special = prop::sample::select(SPECIAL);
    let byte = prop_oneof![16 => b'a'..=b'z', 2 => b'0'..=b'9', 1 => special, 1 => any::<u8>()];
    let name = prop_oneof![
        prop::sample::select(NAMES).prop_map(<[u8]>::to_vec),
        prop::collection::vec(byte.clone(), 0..12),
    ];
    let value = prop::collection::vec(byte, 0..80);
    let ws = prop::sample::select(WS);
    let end = prop::sample::select(ENDS);
    let line = (name, ws.clone(), value, ws, end)
        .prop_map(|(n, w1, v, w2, e)| [&n[..], b":", w1, &v[..], w2, e].concat());
    prop::collection::vec(line, 0..6).prop_map(|lines| lines.concat())
}

const VERSIONS: &[&[u8]] = &[b"HTTP/1.1", b"HTTP/1.0"];

proptest::proptest! {
    #[test]
    fn whole_field_lines_give_the_verdict_of_the_steps(
        lines in field_lines(),
        version in proptest::sample::select(VERSIONS),
        cuts in proptest::collection::vec(0usize..400, 0..4),
    ) {
        let input = [&b"GET / "[..], version, b"\r\nHost: h\r\n", &lines[..], b"\r\n"].concat();
        // In one call a field line found whole takes the fast path; one
        // byte per call every line goes step by step; cut anywhere, a line
        // is begun by the fast path and finished by the steps.
        let whole = parse_in_prefixes(&input, []);
        let shown = String::from_utf8_lossy(&input);
        proptest::prop_assert_eq!(&parse_in_prefixes(&input, 1..input.len()), &whole, "{:?}", shown);
        let mut cuts = cuts;
        cuts.sort_unstable();
        proptest::prop_assert_eq!(&parse_in_prefixes(&input, cuts), &whole, "{:?}", shown);
    }
}

/// Request-lines as a peer may send them: the common shape (which a whole
/// head takes in one pass) beside every way to leave it: other methods
/// (CONNECT, OPTIONS, a lowercase one, bytes no token holds), targets of
/// every form and of bytes that stop a target (NUL, SP, HTAB, bytes >=
/// 0x80, a lone CR), versions other than 1.1 and 1.0, short ones, bare
/// LF, lone CR, extra SP, leading empty lines.
fn request_lines() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    const METHODS: &[&[u8]] = &[
        b"GET", b"GET", b"POST", b"HEAD", b"OPTIONS", b"CONNECT", b"get", b"GE", b"G\x80T", b"",
        b"PUT\t", b"DELETE",
    ];
    const TARGETS: &[&[u8]] = &[
        b"/",
        b"/a?b=c",
        b"*",
        b"http://h/p",
        b"h:80",
        b"example.com:443",
        b"//x",
        b"/\x80",
        b"/\0",
        b"/a b",
        b"/\t",
        b"",
        b"/\r",
        b"x",
        b"[::1]:8",
    ];
    const VERSIONS: &[&[u8]] = &[
        b"HTTP/1.1\r\n",
        b"HTTP/1.1\r\n",
        b"HTTP/1.0\r\n",
        b"HTTP/1.2\r\n",
        b"HTTP/2.0\r\n",
        b"HTTP/1.1\n",
        b"HTTP/1.1\r",
        b"HTTP/1.1\rx",
        b"HTTP/1.\r\n",
        b"http/1.1\r\n",
        b"HTTP/1.1 \r\n",
        b"HTTP/1.10\r\n",
        b"HTTP/1.1\r\n\r\n",
    ];
    const LEAD: &[&[u8]] = &[b"", b"", b"", b"\r\n", b"\r\n\r\n", b"\n", b"\r"];
    const SEP: &[&[u8]] = &[b" ", b" ", b" ", b"  ", b"\t", b""];
    let pick = |t: &'static [&'static [u8]]| prop::sample::select(t);
    // Mostly the common shape: the other pieces now and then.
    let common = |t: &'static [&'static [u8]]| prop_oneof![3 => Just(t[0]), 1 => pick(t)];
    // Targets short (about the limits) and long (across the 16- and
    // 32-byte steps).
    let filler = prop_oneof![
        prop::collection::vec(b'a'..=b'z', 0..3),
        prop::collection::vec(
            prop_oneof![8 => b'a'..=b'z', 1 => Just(b'/'), 1 => any::<u8>()],
            0..80
        ),
    ];
    (
        common(LEAD),
        common(METHODS),
        common(SEP),
        pick(TARGETS),
        filler,
        common(SEP),
        common(VERSIONS),
    )
        .prop_map(|(lead, m, s1, t, f, s2, v)| [lead, m, s1, t, &f[..], s2, v].concat())
}

/// Field lines in the shape a whole line takes in one pass: token names
/// (the framing ones among them) and values of visible bytes, SP and
/// HTAB, the value's OWS around it.
fn plain_field_lines() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    const NAMES: &[&[u8]] = &[
        b"Accept",
        b"Connection",
        b"content-length",
        b"Transfer-Encoding",
        b"X-1_a",
        b"Cookie",
        b"Expect",
        b"Keep-Alive",
        b"User-Agent",
    ];
    const VALUES: &[&[u8]] = &[
        b"keep-alive",
        b"close",
        b"Close",
        b"KEEP-ALIVE",
        b"keep-alivf",
        b"clos",
        b"upgrade, close",
        b"0",
        b"12",
        b"1, 1",
        b"chunked",
        b"gzip, chunked",
        b"100-continue",
        b"",
    ];
    let value = prop_oneof![
        prop::sample::select(VALUES).prop_map(<[u8]>::to_vec),
        prop::collection::vec(
            prop_oneof![8 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => 0x80u8..],
            0..70
        ),
    ];
    const WS: &[&[u8]] = &[b"", b" ", b"\t ", b"  "];
    let ws = prop::sample::select(WS);
    let line = (prop::sample::select(NAMES), ws.clone(), value, ws)
        .prop_map(|(n, w1, v, w2)| [n, b":", w1, &v[..], w2, b"\r\n"].concat());
    prop::collection::vec(line, 0..5).prop_map(|lines| lines.concat())
}

/// Host lines for [`whole_heads_give_the_verdict_of_the_steps`]: plain
/// ones of every length the 16-byte steps treat apart, others, none.
const HOSTS: &[&[u8]] = &[
    b"Host: h\r\n",
    b"Host: www.example.com\r\n",
    b"host:a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p\r\n",
    b"HOST: abcdefghijklmnop\r\n",
    b"Host: [::1]:80\r\n",
    b"Host: UP\r\n",
    b"Host: a/b\r\n",
    b"Host: a\x80b\r\n",
    b"",
];
const ENDS: &[&[u8]] = &[b"\r\n", b"\r\n", b"\r\n", b"\r\nbody", b"\n", b"\r", b""];

proptest::proptest! {
    #[test]
    fn whole_heads_give_the_verdict_of_the_steps(
        line in request_lines(),
        host in proptest::sample::select(HOSTS),
        lines in proptest::prop_oneof![field_lines(), plain_field_lines()],
        end in proptest::sample::select(ENDS),
        max_head in proptest::sample::select(&[65536usize, 40, 90, 200][..]),
        max_target in proptest::sample::select(&[8192usize, 1, 2, 5, 16, 40][..]),
        // Or the limit about the target's own length: one under, at, over.
        about_target in proptest::sample::select(&[None, Some(0usize), Some(1), Some(2)][..]),
        max_fields in proptest::sample::select(&[100usize, 0, 1, 2][..]),
        cuts in proptest::collection::vec(0usize..400, 0..4),
    ) {
        // The bytes between the first SP and the next.
        let target_len = line.iter().position(|&c| c == b' ').and_then(|s| {
            line[s + 1..].iter().position(|&c| c == b' ')
        });
        let max_target = match (about_target, target_len) {
            (Some(d), Some(n)) => (n + d).saturating_sub(1).max(1),
            _ => max_target,
        };
        let limits = Limits { max_head, max_target, max_fields, ..Limits::default() };
        let input = [&line[..], host, &lines[..], end].concat();
        // Whole in one call, the fast paths take the request-line and the
        // field lines; one byte per call, the steps take every byte; cut
        // anywhere, the fast paths take over at a line start.
        let whole = parse_in_prefixes_with(&limits, &input, []);
        let shown = String::from_utf8_lossy(&input);
        proptest::prop_assert_eq!(
            &parse_in_prefixes_with(&limits, &input, 1..input.len()), &whole, "{:?}", shown);
        let mut cuts = cuts;
        cuts.sort_unstable();
        proptest::prop_assert_eq!(&parse_in_prefixes_with(&limits, &input, cuts), &whole, "{:?}", shown);
    }
}

#[test]
fn abort_writes_what_was_queued_then_closes() {
    let mut p = Peer::new();
    p.send(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n");
    p.request("/f");
    p.h.session.send_response(200, &[], ResponseBody::Length(10)).unwrap();
    p.h.session.send_data(Bytes::from_static(b"four")).unwrap();
    p.h.session.abort();
    assert!(p.h.session.is_finished());
    assert!(!p.h.session.wants_read());
    p.pump();
    let wire = p.wire();
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"));
    assert!(wire.ends_with("\r\n\r\nfour"));
    assert_eq!(p.h.session.send_data(Bytes::from_static(b"more")), Err(Misuse::WrongState));
}

/// A small response (head and body) leaves as one transmit, and once the
/// driver has dropped it the connection writes the next ones into the same
/// memory: keep-alive and pipelined answers cost no allocation.
#[test]
fn a_small_response_is_one_transmit_written_into_reused_memory() {
    let now = Instant::ZERO;
    let mut conn = ServerConn::new(Limits::default(), now);
    let mut first = None;
    for i in 0..20 {
        let mut buf = bytes::BytesMut::from(&b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..]);
        conn.handle_read(now, &mut buf);
        while conn.poll_event().is_some() {}
        conn.respond(200, &[("Content-Type", b"text/plain")], Bytes::from_static(b"hello"))
            .expect("respond");
        let one = conn.poll_transmit().expect("the response");
        assert_eq!(conn.poll_transmit(), None, "head and body in one transmit");
        assert!(one.starts_with(b"HTTP/1.1 200 OK\r\n") && one.ends_with(b"\r\n\r\nhello"));
        let at = one.as_ptr() as usize;
        let start = *first.get_or_insert(at);
        if i >= 10 {
            // Past the first allocation's room, its start was taken back.
            assert!((start..start + super::outgoing::ROOM).contains(&at), "response {i}");
        }
    }
}
