//! A test driver for [`ServerConn`] that follows the drain contract of
//! `sansnet_proto::machine` and checks it as it goes, plus helpers to split
//! inputs, normalise events and read responses back with httparse.

use bytes::{Bytes, BytesMut};
use sansnet_proto::http::{Error, Event, Limits, RequestHead, ServerConn};
use sansnet_proto::{Instant, Session};

/// An event with consecutive `Data` merged, so that event sequences can be
/// compared across splits of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Norm {
    Request(RequestHead),
    Data(Vec<u8>),
    End,
    Rejected(Error),
}

pub(crate) fn normalize(events: &[Event]) -> Vec<Norm> {
    let mut out: Vec<Norm> = Vec::new();
    for ev in events {
        match ev {
            Event::Request(h) => out.push(Norm::Request(h.clone())),
            Event::Data(d) => match out.last_mut() {
                Some(Norm::Data(acc)) => acc.extend_from_slice(d),
                _ => out.push(Norm::Data(d.to_vec())),
            },
            Event::End => out.push(Norm::End),
            Event::Rejected(e) => out.push(Norm::Rejected(*e)),
        }
    }
    out
}

/// Asserts the event grammar: `(Request Data* End)* [Request Data*] [Rejected]`,
/// nothing after `Rejected`.
pub(crate) fn check_grammar(events: &[Norm]) {
    let mut in_request = false;
    for (i, ev) in events.iter().enumerate() {
        match ev {
            Norm::Request(_) => {
                assert!(!in_request, "Request inside a request at {i}: {events:?}");
                in_request = true;
            }
            Norm::Data(d) => {
                assert!(in_request, "Data outside a request at {i}");
                assert!(!d.is_empty(), "empty Data at {i}");
            }
            Norm::End => {
                assert!(in_request, "End outside a request at {i}");
                in_request = false;
            }
            Norm::Rejected(_) => {
                assert_eq!(i + 1, events.len(), "events after Rejected: {events:?}")
            }
        }
    }
}

/// Drives one [`ServerConn`] like a real driver would, with a simulated
/// clock, answering every request as soon as its `End` arrives with a body
/// that depends only on the request (`METHOD TARGET BODYLEN`).
pub(crate) struct Driver {
    pub(crate) conn: ServerConn,
    pub(crate) inbox: BytesMut,
    pub(crate) now: Instant,
    pub(crate) events: Vec<Event>,
    pub(crate) wire: Vec<u8>,
    max_head: usize,
    /// The largest inbox left behind by a `handle_read` after which the
    /// machine still wanted to read.
    pub(crate) max_inbox_reading: usize,
    /// The most bytes the machine had queued for transmission at once.
    pub(crate) max_queued: usize,
    eof: bool,
    current: Option<(String, String)>,
    body_len: usize,
}

impl Driver {
    pub(crate) fn new(limits: Limits, now: Instant) -> Driver {
        Driver {
            conn: ServerConn::new(limits, now),
            inbox: BytesMut::new(),
            now,
            events: Vec::new(),
            wire: Vec::new(),
            max_head: limits.max_head,
            max_inbox_reading: 0,
            max_queued: 0,
            eof: false,
            current: None,
            body_len: 0,
        }
    }

    /// Feeds `pieces` in order to a fresh driver at time zero.
    pub(crate) fn run(limits: Limits, pieces: &[&[u8]]) -> Driver {
        let mut d = Driver::new(limits, Instant::ZERO);
        for p in pieces {
            d.feed(p);
        }
        d
    }

    /// Bytes arrived from the socket.
    pub(crate) fn feed(&mut self, piece: &[u8]) {
        assert!(!self.eof, "read after EOF");
        // A real driver closes once the machine is finished; here the bytes
        // still land in the buffer (unread) so that runs can be compared.
        self.inbox.extend_from_slice(piece);
        if !self.conn.is_finished() {
            self.pump();
        }
    }

    /// The peer closed its side.
    pub(crate) fn eof(&mut self) {
        self.eof = true;
        self.conn.handle_eof(self.now);
        self.pump();
    }

    /// The clock moved to `now`: fire what is due.
    pub(crate) fn tick(&mut self, now: Instant) {
        assert!(now >= self.now, "time went backwards");
        self.now = now;
        self.conn.handle_timeout(now);
        self.pump();
    }

    /// The drain contract: feed while `wants_read` and the buffer is not
    /// empty, drain events (answering requests), drain transmits; repeat
    /// until a round changes nothing. The last round proves the machine is
    /// at rest: feeding it again the same buffer consumes nothing.
    fn pump(&mut self) {
        loop {
            let before = self.inbox.len();
            if !self.eof && self.conn.wants_read() && !self.inbox.is_empty() {
                self.conn.handle_read(self.now, &mut self.inbox);
                if self.conn.wants_read() {
                    self.max_inbox_reading = self.max_inbox_reading.max(self.inbox.len());
                    assert!(
                        self.inbox.len() <= self.max_head,
                        "the machine wants more bytes but leaves {} (> max_head {}) unconsumed",
                        self.inbox.len(),
                        self.max_head
                    );
                }
            }
            let progressed = self.drain() | (self.inbox.len() != before);
            if !progressed {
                break;
            }
        }
    }

    /// Drains events, then transmits. Returns whether anything came out.
    fn drain(&mut self) -> bool {
        let mut any = false;
        let mut rejected = None;
        while let Some(ev) = self.conn.poll_event() {
            any = true;
            assert!(rejected.is_none(), "event after Rejected: {ev:?}");
            match &ev {
                Event::Request(h) => {
                    self.current = Some((h.method().to_owned(), h.target().to_owned()));
                    self.body_len = 0;
                }
                Event::Data(d) => {
                    assert!(!d.is_empty(), "empty Data event");
                    self.body_len += d.len();
                }
                Event::End => {
                    let (m, t) = self.current.take().expect("End without Request");
                    let body = format!("{m} {t} {}", self.body_len);
                    self.conn
                        .respond(200, &[("X-Method", m.as_bytes())], Bytes::from(body))
                        .expect("respond after End");
                }
                Event::Rejected(e) => rejected = Some(*e),
            }
            self.events.push(ev);
        }
        self.max_queued = self.max_queued.max(self.conn.transmit_queued());
        let mut last: Option<Bytes> = None;
        while let Some(b) = self.conn.poll_transmit() {
            any = true;
            self.wire.extend_from_slice(&b);
            last = Some(b);
        }
        // Small pieces queued together leave together: the rejection response
        // is the end of the last transmit, from its status line on.
        let last = last.zip(rejected).map(|(b, e)| {
            let line = format!("HTTP/1.1 {} ", e.status());
            let at = b.windows(line.len()).rposition(|w| w == line.as_bytes()).unwrap_or(0);
            b.slice(at..)
        });
        assert_eq!(self.conn.transmit_queued(), 0, "transmit_queued after draining");
        if let Some(e) = rejected {
            assert!(self.conn.is_finished(), "not finished after Rejected({e:?})");
            assert!(!self.conn.wants_read(), "wants_read after Rejected({e:?})");
            assert_eq!(self.conn.poll_timeout(), None, "a timer armed after Rejected({e:?})");
            // The rejection response is the last thing queued.
            match last {
                Some(resp) => check_rejection_response(&resp, e),
                None => assert_eq!(e, Error::Truncated, "Rejected({e:?}) without a response"),
            }
        }
        any
    }

    pub(crate) fn norm(&self) -> Vec<Norm> {
        normalize(&self.events)
    }
}

/// Everything observable about a finished run.
pub(crate) fn assert_same_run(label: &str, a: &Driver, b: &Driver) {
    assert_eq!(a.norm(), b.norm(), "{label}: events differ");
    assert_eq!(
        String::from_utf8_lossy(&a.wire),
        String::from_utf8_lossy(&b.wire),
        "{label}: transmitted bytes differ"
    );
    assert_eq!(a.wire, b.wire, "{label}: transmitted bytes differ");
    assert_eq!(a.conn.is_finished(), b.conn.is_finished(), "{label}: is_finished differs");
    assert_eq!(a.conn.wants_read(), b.conn.wants_read(), "{label}: wants_read differs");
    assert_eq!(a.inbox, b.inbox, "{label}: bytes left in the driver's buffer differ");
    assert_eq!(a.conn.requests(), b.conn.requests(), "{label}: request count differs");
}

/// A rejection response: status line `HTTP/1.1 <e.status()> <reason>`,
/// `Connection: close`, a `Content-Length` that matches its body.
pub(crate) fn check_rejection_response(resp: &[u8], e: Error) {
    let status_line = format!("HTTP/1.1 {} ", e.status());
    assert!(
        resp.starts_with(status_line.as_bytes()),
        "Rejected({e:?}) answered with {:?}",
        String::from_utf8_lossy(resp)
    );
    let parsed = parse_responses(resp);
    assert_eq!(parsed.len(), 1, "one response for Rejected({e:?})");
    let r = &parsed[0];
    assert_eq!(r.status, e.status());
    assert_eq!(r.header("connection"), Some(&b"close"[..]));
}

/// A response read back by a client (httparse).
#[derive(Clone, Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &v[..])
    }
}

/// Splits a server's output into responses with httparse. Bodies are
/// delimited by `Content-Length` (what sansnet writes for everything these
/// tests send); `head_requests` lists, in order, which responses answer a
/// HEAD and so carry no body. Panics on anything malformed.
pub(crate) fn parse_responses_with(mut wire: &[u8], head_requests: &[bool]) -> Vec<Response> {
    let mut out = Vec::new();
    let mut final_index = 0;
    while !wire.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        let n = match r.parse(wire) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("bad response {other:?}: {:?}", String::from_utf8_lossy(wire)),
        };
        let status = r.code.expect("status code");
        let resp_headers: Vec<(String, Vec<u8>)> =
            r.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect();
        let reason = r.reason.unwrap_or("").to_owned();
        let mut resp = Response { status, reason, headers: resp_headers, body: Vec::new() };
        wire = &wire[n..];
        if status >= 200 {
            let is_head = head_requests.get(final_index).copied().unwrap_or(false);
            final_index += 1;
            let len: usize = match resp.header("content-length") {
                Some(v) => std::str::from_utf8(v).expect("ascii").parse().expect("digits"),
                None => 0,
            };
            if !is_head {
                assert!(wire.len() >= len, "response body cut short");
                resp.body = wire[..len].to_vec();
                wire = &wire[len..];
            }
        }
        out.push(resp);
    }
    out
}

pub(crate) fn parse_responses(wire: &[u8]) -> Vec<Response> {
    parse_responses_with(wire, &[])
}

/// A small deterministic PRNG (xorshift64*) for splits outside proptest.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Cuts `input` at the given offsets (any order, duplicates and out of
/// range values allowed).
pub(crate) fn cut_at(input: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
    cuts.retain(|&c| c > 0 && c < input.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for c in cuts {
        pieces.push(&input[at..c]);
        at = c;
    }
    pieces.push(&input[at..]);
    pieces
}

/// One byte per piece.
pub(crate) fn bytewise(input: &[u8]) -> Vec<&[u8]> {
    input.chunks(1).collect()
}

/// Random pieces of 1..=`max` bytes.
pub(crate) fn random_pieces<'a>(input: &'a [u8], rng: &mut Rng, max: usize) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = (1 + rng.below(max)).min(rest.len());
        let (a, b) = rest.split_at(n);
        pieces.push(a);
        rest = b;
    }
    pieces
}

/// The proptest configuration of this module: a fixed seed (the suite is
/// deterministic), no regression files written into the source tree.
/// `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override both for a longer or
/// different exploration (`PROPTEST_CASES=20000 cargo test ...`).
pub(crate) fn config(cases: u32) -> proptest::test_runner::Config {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    proptest::test_runner::Config {
        cases: env("PROPTEST_CASES").map_or(cases, |n| n as u32),
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(
            env("PROPTEST_RNG_SEED").unwrap_or(0x5a45_5e70_0001),
        ),
        ..proptest::test_runner::Config::default()
    }
}
