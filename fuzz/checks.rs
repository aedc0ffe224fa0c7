//! The invariants of the fuzz targets, in one place.
//!
//! Included by path from each target in `fuzz/fuzz_targets/` and from the
//! replay test `tests/integration/fuzz_replay.rs`, which runs every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through the same
//! function on stable. Each check takes one raw fuzz input and panics when
//! an invariant breaks. Only `sansnet_proto`, `bytes` and `httparse` are used,
//! so the file compiles in both packages.
//!
//! Input layouts (seeds in `fuzz/corpus/` follow them):
//! - `http_request`: one control byte, then the bytes a client sends. Bit 0
//!   of the control byte picks how the stream ends (0: EOF, 1: the clock
//!   jumps an hour ahead); bits 1..=7 pick where the stream is cut in two.
//! - `http_differential`: a request head, as is.
//! - `http_chunked`: one seed byte for the split pattern, then a chunked body.
#![allow(dead_code)] // each fuzz target uses one check

use core::time::Duration;

use bytes::{Bytes, BytesMut};
use sansnet_proto::http::{
    BodyChunk, BodyDecoder, BodyKind, Error, Event, HeadParser, Limits, RequestHead, ServerConn,
    Version, reason,
};
use sansnet_proto::testing::{Conn, Step};
use sansnet_proto::{App, Instant, Session};

/// Small limits, so that short inputs reach every one of them.
pub(crate) fn small_limits() -> Limits {
    Limits::default()
        .with_max_head(512)
        .with_max_target(64)
        .with_max_fields(8)
        .with_max_body(256)
        .with_max_chunk_ext(32)
}

// ---------------------------------------------------------------------------
// http_request: a ServerConn driven by the drain contract

/// Feeds the stream to a [`ServerConn`] whole and cut in two, answers every
/// request, then ends the stream; checks the drain contract's invariants on
/// both runs and that they produce the same events and the same bytes.
pub(crate) fn http_request(data: &[u8]) {
    let Some((&ctl, stream)) = data.split_first() else { return };
    let cut = stream.len() * usize::from(ctl >> 1) / 127;
    let end = if ctl & 1 == 0 { StreamEnd::Eof } else { StreamEnd::Timeout };
    let whole = drive(&[stream], end);
    let split = drive(&[&stream[..cut], &stream[cut..]], end);
    assert_eq!(whole, split, "splitting the stream at {cut} changed the outcome");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamEnd {
    /// The peer closes its side.
    Eof,
    /// Nothing more arrives; an hour later the timers fire.
    Timeout,
}

/// What the application saw (consecutive `Data` merged: their boundaries
/// depend on how the bytes arrived) and what went on the wire.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    events: Vec<Seen>,
    wire: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Request(RequestHead),
    Data(Vec<u8>),
    End,
    Rejected(Error),
}

/// The application of one connection, checking what it sees.
struct Driver {
    limits: Limits,
    events: Vec<Seen>,
    /// The body framing of the request being read, if one is open.
    open: Option<BodyKind>,
    body_bytes: u64,
    requests: u64,
    rejected: Option<Error>,
}

const BODY: &[u8] = b"ok";

fn drive(pieces: &[&[u8]], end: StreamEnd) -> Outcome {
    let limits = small_limits();
    let now = Instant::ZERO;
    let conn = Conn::new(ServerConn::new(limits, now), now);
    let mut conn = conn.with_bound(limits.max_head).with_watch(transmit_drained);
    let mut d = Driver {
        limits,
        events: Vec::new(),
        open: None,
        body_bytes: 0,
        requests: 0,
        rejected: None,
    };
    for piece in pieces {
        if conn.session.is_finished() {
            break;
        }
        conn.feed(piece);
        d.pump(&mut conn, |conn, d| {
            conn.drain(d);
        });
    }
    if !conn.session.is_finished() {
        let later = now + Duration::from_secs(3600);
        d.pump(&mut conn, |conn, d| match end {
            StreamEnd::Eof => {
                conn.now = later;
                conn.eof(d);
            }
            StreamEnd::Timeout => conn.timeout(later, d),
        });
    }
    let wire = conn.take_wire();
    let conn = &conn.session;
    assert!(conn.is_finished(), "{end:?} did not finish the connection");
    assert!(!conn.wants_read(), "a finished connection wants to read");
    assert_eq!(conn.poll_timeout(), None, "a finished connection keeps a timer");
    assert_eq!(conn.requests(), d.requests, "requests() disagrees with the Request events");
    assert!(d.open.is_none() || d.rejected.is_some(), "request left open without a rejection");
    Outcome { events: d.events, wire }
}

/// At the end of every round of a drain, the transmit queue is empty.
fn transmit_drained(conn: &ServerConn, step: Step) {
    if step == Step::Round {
        assert_eq!(conn.transmit_queued(), 0, "transmit drained but bytes still queued");
    }
}

impl App<ServerConn> for Driver {
    fn on_event(&mut self, conn: &mut ServerConn, event: Event) {
        Driver::on_event(self, conn, event);
    }
}

impl Driver {
    /// One input and the drain after it (the harness asserts the drain
    /// contract), then the checks of a settled connection.
    fn pump(
        &mut self,
        conn: &mut Conn<ServerConn>,
        step: impl FnOnce(&mut Conn<ServerConn>, &mut Self),
    ) {
        let buffered = conn.inbox().len();
        step(conn, self);
        // Every round that makes progress consumes input (a Request event
        // consumes its head), so this bounds a livelock.
        assert!(conn.rounds() <= buffered + 2, "the connection makes no progress");
        if let Some(e) = self.rejected {
            check_rejection(conn, e);
        }
        let left = conn.inbox().len();
        let conn = &conn.session;
        if !conn.is_finished() {
            // The application answered every request, so the machine reads.
            assert!(conn.wants_read(), "settled without reading or finishing");
            assert!(!conn.awaiting_response(), "a response is still owed after respond()");
            // What it leaves in the driver's buffer is a partial head or
            // trailer line: bounded by the head limit, never by the input.
            let max = self.limits.max_head;
            assert!(left <= max, "driver buffer holds {left} bytes (max_head {max})");
        }
    }

    fn on_event(&mut self, conn: &mut ServerConn, event: Event) {
        assert!(self.rejected.is_none(), "event after Rejected: {event:?}");
        match event {
            Event::Request(head) => {
                assert!(self.open.is_none(), "Request while another request is open");
                self.requests += 1;
                let bytes = head.as_bytes();
                assert!(bytes.ends_with(b"\r\n\r\n"), "head does not end in an empty line");
                assert!(
                    bytes.len() <= self.limits.max_head,
                    "head of {} bytes over max_head",
                    bytes.len()
                );
                assert!(!head.method().is_empty() && !head.target().is_empty());
                assert!(head.target().len() <= self.limits.max_target, "target over max_target");
                assert!(head.fields().len() <= self.limits.max_fields, "fields over max_fields");
                if let BodyKind::Length(n) = head.body_kind() {
                    assert!(
                        n <= self.limits.max_body,
                        "Content-Length {n} over max_body was accepted"
                    );
                }
                self.open = Some(head.body_kind());
                self.body_bytes = 0;
                self.events.push(Seen::Request(head));
            }
            Event::Data(data) => {
                let kind = self.open.expect("Data outside a request");
                assert!(!data.is_empty(), "empty Data event");
                self.body_bytes += data.len() as u64;
                assert!(
                    self.body_bytes <= self.limits.max_body,
                    "body of {} bytes over max_body",
                    self.body_bytes
                );
                if let BodyKind::Length(n) = kind {
                    assert!(self.body_bytes <= n, "more body than Content-Length {n}");
                }
                match self.events.last_mut() {
                    Some(Seen::Data(prev)) => prev.extend_from_slice(&data),
                    _ => self.events.push(Seen::Data(data.to_vec())),
                }
            }
            Event::End => {
                let kind = self.open.take().expect("End outside a request");
                if let BodyKind::Length(n) = kind {
                    assert_eq!(self.body_bytes, n, "End before Content-Length bytes");
                }
                assert!(conn.awaiting_response(), "End without a response owed");
                conn.respond(200, &[("Content-Type", b"text/plain")], Bytes::from_static(BODY))
                    .expect("respond() right after End");
                self.events.push(Seen::End);
            }
            Event::Rejected(e) => {
                assert!(conn.is_finished(), "Rejected({e:?}) but the connection is not finished");
                assert!(!conn.wants_read(), "Rejected({e:?}) but the connection still reads");
                self.rejected = Some(e);
                self.events.push(Seen::Rejected(e));
            }
        }
    }
}

/// The last response on the wire is the rejection's: its status line
/// and `Connection: close`.
fn check_rejection(conn: &Conn<ServerConn>, e: Error) {
    assert!(conn.session.is_finished());
    let wire = conn.wire();
    let status = e.status();
    let line = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    // Our own response bodies never contain "HTTP/1.1 ", so the last one
    // starts the last response.
    let last = find_last(wire, b"HTTP/1.1 ")
        .unwrap_or_else(|| panic!("Rejected({e:?}) but no response on the wire"));
    let response = &wire[last..];
    assert!(
        response.starts_with(line.as_bytes()),
        "Rejected({e:?}): last response is {:?}, want {line:?}",
        String::from_utf8_lossy(response)
    );
    let head_end = find(response, b"\r\n\r\n").expect("rejection response head is incomplete");
    assert!(
        find(&response[..head_end + 2], b"\r\nConnection: close\r\n").is_some(),
        "Rejected({e:?}) without Connection: close"
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

// ---------------------------------------------------------------------------
// http_differential: HeadParser against httparse

/// When both sansnet's [`HeadParser`] and httparse parse the input as a
/// complete request head, they must agree on its length, method, target,
/// version and field lines. sansnet must also never accept what httparse
/// rejects, except the versions `HTTP/1.2`..`HTTP/1.9`, which sansnet takes
/// as 1.1 (RFC 9110 §2.5) and httparse refuses.
pub(crate) fn http_differential(data: &[u8]) {
    let mut ours = HeadParser::new(&Limits::default());
    let Ok(Some(n)) = ours.parse(data) else { return };
    let head = ours.take(Bytes::copy_from_slice(&data[..n]));

    // More slots than sansnet's default field limit (100): httparse never
    // runs out of them on a head sansnet accepts.
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut theirs = httparse::Request::new(&mut slots);
    match theirs.parse(data) {
        Ok(httparse::Status::Complete(m)) => assert_eq!(n, m, "head length"),
        Ok(httparse::Status::Partial) => {
            panic!("sansnet completed a head of {n} bytes, httparse wants more")
        }
        Err(httparse::Error::Version) if minor_over_1(&head) => return,
        Err(e) => panic!("sansnet accepted a head httparse rejects with {e:?}: {head:?}"),
    }
    assert_eq!(theirs.method, Some(head.method()), "method");
    assert_eq!(theirs.path, Some(head.target()), "target");
    let version = match head.version() {
        Version::Http10 => 0,
        Version::Http11 => 1,
    };
    assert_eq!(theirs.version, Some(version), "version");
    // httparse trims trailing SP/HTAB from values, as sansnet does, and both
    // keep names as sent: compare as is.
    let ours: Vec<(&[u8], &[u8])> =
        head.fields().map(|(name, value)| (name.as_bytes(), value)).collect();
    let theirs: Vec<(&[u8], &[u8])> =
        theirs.headers.iter().map(|h| (h.name.as_bytes(), h.value)).collect();
    assert_eq!(ours, theirs, "field lines");
}

/// Whether the request-line's version is `HTTP/1.x` with x in 2..=9.
fn minor_over_1(head: &RequestHead) -> bool {
    let bytes = head.as_bytes();
    let start = bytes.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0);
    let line_end = find(&bytes[start..], b"\r\n").map_or(bytes.len(), |i| start + i);
    match &bytes[start..line_end] {
        [.., b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] => {
            (b'2'..=b'9').contains(minor)
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// http_chunked: BodyDecoder on chunked framing

/// Decodes the body whole and in pieces whose sizes (0 to 16 bytes) follow
/// the seed byte: never a panic, never more data than `max_body`, never an
/// empty `Data`, a bounded buffer, and the same data, verdict and leftover
/// bytes both ways.
pub(crate) fn http_chunked(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else { return };
    let whole = decode_chunked(body, core::iter::empty());
    let mut rng = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    let sizes = core::iter::from_fn(move || {
        // xorshift32
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        Some((rng % 17) as usize)
    });
    let split = decode_chunked(body, sizes);
    assert_eq!(whole, split, "feeding in pieces (seed {seed}) changed the outcome");
}

#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    data: Vec<u8>,
    /// `Ok(Some(rest))`: the body ended and `rest` was left in the buffer
    /// (the next request); `Ok(None)`: more input needed.
    verdict: Result<Option<Vec<u8>>, Error>,
}

/// Feeds `input` in pieces of the given sizes (the rest at once when the
/// sizes run out) and decodes after each piece until the decoder waits.
fn decode_chunked(input: &[u8], mut sizes: impl Iterator<Item = usize>) -> Decoded {
    let limits = small_limits();
    let mut decoder =
        BodyDecoder::new(BodyKind::Chunked, &limits).expect("chunked has no length to refuse");
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    let mut rest = input;
    loop {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(BodyChunk::Data(bytes))) => {
                    assert!(!bytes.is_empty(), "empty Data");
                    assert!(!decoder.is_done(), "Data after End");
                    data.extend_from_slice(&bytes);
                    assert!(
                        data.len() as u64 <= limits.max_body,
                        "{} body bytes over max_body",
                        data.len()
                    );
                }
                Ok(Some(BodyChunk::End)) => {
                    assert!(decoder.is_done(), "End but not is_done()");
                    let left = buf.len();
                    assert_eq!(decoder.decode(&mut buf), Ok(None), "decode after End");
                    assert_eq!(buf.len(), left, "decode after End consumed bytes");
                    buf.extend_from_slice(rest);
                    return Decoded { data, verdict: Ok(Some(buf.to_vec())) };
                }
                Ok(None) => {
                    assert!(!decoder.is_done());
                    // Only a partial trailer line may wait in the buffer.
                    assert!(
                        buf.len() <= limits.max_head,
                        "{} bytes left waiting in the buffer",
                        buf.len()
                    );
                    break;
                }
                Err(e) => return Decoded { data, verdict: Err(e) },
            }
        }
        if rest.is_empty() {
            return Decoded { data, verdict: Ok(None) };
        }
    }
}
