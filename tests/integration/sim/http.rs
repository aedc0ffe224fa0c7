//! HTTP/1.1: a test client (valid requests, pipelined, `Content-Length` and
//! chunked bodies, `Expect: 100-continue`, HTTP/1.0, now and then a
//! malformed head) against a [`ServerConn`] whose application echoes each
//! request, over a simulated link with random splits, delays, a half-close,
//! a stall or a reset.
//!
//! Checked on every step: the server's events follow the client's plan
//! (each head, the exact body bytes, `End` exactly at the request's last
//! byte, nothing read past a request before it is answered); each
//! rejection is the one the plan calls for (its status, or 408 only at a
//! deadline, 400 `Truncated` only after the client ended mid-request); each
//! timer fires at the deadline the oracle computes (header timeout from the
//! first byte of a head, idle timeout mid-body or between requests, body
//! timeout from the end of a head), never later than the deadline plus
//! [`GRANULARITY`]; the client's responses match
//! its requests in order (status, `X-Req`, echoed body, `100 Continue`
//! only where asked, `Connection: close` where due), and an error
//! response is the last thing on the connection. At the end: the server is
//! closed, the client has read the end of the stream with no partial
//! response left, and every request the server completed was answered.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sansnet_proto::http::{Error, Event, Limits, ResponseBody, ServerConn};
use sansnet_proto::{Instant, Session};

use super::{Driven, GRANULARITY, Pipe, Rng, advance, for_seeds};

const T0: Instant = Instant::from_nanos(1_000_000_000);

#[derive(Clone, Debug)]
enum Kind {
    Valid {
        method: &'static str,
        target: String,
        body: Vec<u8>,
        /// `Connection: close` or HTTP/1.0: the server closes after it.
        closes: bool,
        /// Sends `Expect: 100-continue`.
        expect: bool,
        /// And waits for `100 Continue` before sending the body (else it
        /// sends the body at once, as a client whose wait ran out).
        wait: bool,
    },
    /// Malformed: the server answers `status` and closes; with `head_ok`
    /// the head is fine and the body is not (a `Request` event comes first).
    Bad { status: u16, head_ok: bool },
}

#[derive(Clone, Debug)]
struct Req {
    kind: Kind,
    start: usize,
    head_end: usize,
    end: usize,
}

impl Req {
    fn is_head(&self) -> bool {
        matches!(&self.kind, Kind::Valid { method: "HEAD", .. })
    }

    fn expected_body(&self) -> Vec<u8> {
        match &self.kind {
            Kind::Valid { method, target, body, .. } if *method != "HEAD" => {
                let mut out = format!("{method} {target} {}\n", body.len()).into_bytes();
                out.extend_from_slice(body);
                out
            }
            _ => Vec::new(),
        }
    }

    /// The request may get `100 Continue`.
    fn expects(&self) -> bool {
        matches!(&self.kind, Kind::Valid { expect: true, .. }) && self.end > self.head_end
    }

    /// The client holds the body back until `100 Continue` (or a final
    /// response) arrives.
    fn gated(&self) -> bool {
        self.expects() && matches!(&self.kind, Kind::Valid { wait: true, .. })
    }
}

fn token(rng: &mut Rng, max: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-._~";
    (0..rng.range(0, max)).map(|_| *rng.pick(CHARS) as char).collect()
}

fn body(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(8) {
        0 | 1 => 0,
        2..=4 => rng.range(1, 100),
        5 | 6 => rng.range(100, 5000),
        _ => rng.range(5000, 60_000),
    };
    (0..len).map(|_| rng.below(256) as u8).collect()
}

fn chunked(rng: &mut Rng, body: &[u8], out: &mut Vec<u8>) {
    let mut rest = body;
    while !rest.is_empty() {
        let n = rng.split(rest.len());
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if rng.one_in(5) {
            out.extend_from_slice(b";ext=\"v\"");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n");
    if rng.one_in(4) {
        out.extend_from_slice(b"X-Trailer: t\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A malformed request: its bytes, the status it gets, whether its head
/// is fine.
fn bad(rng: &mut Rng) -> (Vec<u8>, u16, bool) {
    let (text, status, head_ok): (String, u16, bool) = match rng.below(12) {
        9 => (format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(70_000)), 431, false),
        10 => {
            let fields: String = (0..120).map(|i| format!("X-F{i}: v\r\n")).collect();
            (format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n"), 431, false)
        }
        11 => ("GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n".into(), 400, false),
        0 => ("GET / HTTP/1.1\r\nHost: x\r\nNo Colon Here\r\n\r\n".into(), 400, false),
        1 => ("GET /nohost HTTP/1.1\r\nUser-Agent: sim\r\n\r\n".into(), 400, false),
        2 => ("GET / HTTP/2.0\r\nHost: x\r\n\r\n".into(), 505, false),
        3 => ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".into(), 501, false),
        4 => (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\nExpect: 100-continue\r\n\r\n"
                .into(),
            413,
            false,
        ),
        5 => (
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"
                .into(),
            400,
            false,
        ),
        6 => ("GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n".into(), 400, false),
        7 => (format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000)), 414, false),
        _ => (
            "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"
                .into(),
            400,
            true,
        ),
    };
    (text.into_bytes(), status, head_ok)
}

fn plan(rng: &mut Rng) -> (Vec<u8>, Vec<Req>) {
    let mut stream = Vec::new();
    let mut reqs = Vec::new();
    let n = rng.range(1, 8);
    let mut i = 0;
    while i < n {
        let start = stream.len();
        let last = i + 1 == n;
        if rng.one_in(10) {
            let (bytes, status, head_ok) = bad(rng);
            stream.extend_from_slice(&bytes);
            let end = stream.len();
            reqs.push(Req { kind: Kind::Bad { status, head_ok }, start, head_end: end, end });
            i += 1;
            continue;
        }
        let method = *rng.pick(&["GET", "POST", "PUT", "HEAD", "DELETE", "POST"]);
        let target = format!("/r{i}/{}", token(rng, 20));
        // HTTP/1.0: the last request, or one asking for keep-alive.
        let keep_alive = rng.one_in(12);
        let http10 = last && rng.one_in(6) || keep_alive;
        let body = if matches!(method, "POST" | "PUT") || rng.one_in(8) && method != "HEAD" {
            body(rng)
        } else {
            Vec::new()
        };
        let use_chunked = !http10 && rng.pct(40);
        let expect = !http10 && !body.is_empty() && rng.one_in(4);
        let close = !http10 && last && rng.one_in(3);
        let wait = rng.pct(75);
        let mut head = format!("{method} {target} HTTP/1.{}\r\n", if http10 { 0 } else { 1 });
        if !http10 || rng.pct(50) {
            head.push_str("Host: sim.test\r\n");
        }
        if rng.pct(30) {
            head.push_str(&format!("X-Fill: {}\r\n", token(rng, 200)));
        }
        if use_chunked {
            head.push_str("Transfer-Encoding: chunked\r\n");
        } else if !body.is_empty() || rng.pct(30) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        if expect {
            head.push_str("Expect: 100-continue\r\n");
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        if keep_alive {
            head.push_str("Connection: keep-alive\r\n");
        }
        head.push_str("\r\n");
        stream.extend_from_slice(head.as_bytes());
        let head_end = stream.len();
        if use_chunked {
            chunked(rng, &body, &mut stream);
        } else {
            stream.extend_from_slice(&body);
        }
        let end = stream.len();
        let closes = close || http10 && !keep_alive;
        let kind = Kind::Valid { method, target, body, closes, expect, wait };
        reqs.push(Req { kind, start, head_end, end });
        if closes {
            break;
        }
        i += 1;
    }
    (stream, reqs)
}

/// One response as the client read it.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses one response off the front of `buf`: `None` if incomplete.
/// `head_req`: the request was HEAD (a 2xx then has no body); `fin`: the
/// server closed (a body without length ends there).
fn parse_response(buf: &[u8], head_req: bool, fin: bool) -> Option<(Response, usize)> {
    let head_len = find(buf, b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&buf[..head_len - 4]).expect("response head is UTF-8");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().expect("status line");
    assert!(status_line.starts_with("HTTP/1.1 "), "bad status line {status_line:?}");
    let status: u16 = status_line[9..12].parse().expect("status code");
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap_or_else(|| panic!("bad field line {l:?}"));
            (n.to_ascii_lowercase(), v.to_owned())
        })
        .collect();
    let mut resp = Response { status, headers, body: Vec::new() };
    let rest = &buf[head_len..];
    if status < 200 || status == 204 || status == 304 || (head_req && status < 300) {
        return Some((resp, head_len));
    }
    if resp.header("transfer-encoding") == Some("chunked") {
        let mut at = 0;
        loop {
            let line_end = find(&rest[at..], b"\r\n")?;
            let size_text = std::str::from_utf8(&rest[at..at + line_end]).expect("chunk size");
            let size = usize::from_str_radix(size_text, 16).expect("hex chunk size");
            at += line_end + 2;
            if size == 0 {
                if rest.len() < at + 2 {
                    return None;
                }
                assert_eq!(&rest[at..at + 2], b"\r\n", "no trailers from the server");
                return Some((resp, head_len + at + 2));
            }
            assert!(size > 0);
            if rest.len() < at + size + 2 {
                return None;
            }
            resp.body.extend_from_slice(&rest[at..at + size]);
            assert_eq!(&rest[at + size..at + size + 2], b"\r\n", "chunk data then CRLF");
            at += size + 2;
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().expect("content-length");
        if rest.len() < len {
            return None;
        }
        resp.body = rest[..len].to_vec();
        Some((resp, head_len + len))
    } else {
        assert_eq!(resp.header("connection"), Some("close"), "a body to the close needs close");
        if !fin {
            return None;
        }
        resp.body = rest.to_vec();
        Some((resp, buf.len()))
    }
}

struct Client {
    stream: Vec<u8>,
    reqs: Vec<Req>,
    written: usize,
    /// `released[i]`: the body of a gated request may go.
    released: Vec<bool>,
    /// The client half-closes after this many bytes.
    eof_at: Option<usize>,
    half_closed: bool,
    /// The client writes nothing past this offset (and does not close).
    stall_at: Option<usize>,
    rx: BytesMut,
    finals: Vec<Response>,
    fin: bool,
    /// A final response said `Connection: close` (or was an error).
    closing: Option<usize>,
}

impl Client {
    /// How far the client may write now.
    fn limit(&self) -> usize {
        let mut limit = self.stream.len();
        for (i, r) in self.reqs.iter().enumerate() {
            if r.gated() && !self.released[i] && r.head_end >= self.written {
                limit = limit.min(r.head_end);
            }
        }
        if let Some(e) = self.eof_at {
            limit = limit.min(e);
        }
        if let Some(s) = self.stall_at {
            limit = limit.min(s);
        }
        limit
    }

    fn write(&mut self, rng: &mut Rng, pipe: &mut Pipe) -> bool {
        if self.half_closed {
            return false;
        }
        let limit = self.limit();
        let mut wrote = false;
        if self.written < limit {
            let n = rng.split(limit - self.written);
            let n = pipe.write(&self.stream[self.written..self.written + n]);
            self.written += n;
            wrote = n > 0;
        }
        if self.eof_at == Some(self.written) {
            pipe.close();
            self.half_closed = true;
            wrote = true;
        }
        wrote
    }

    fn read(&mut self, max: usize, pipe: &mut Pipe) -> bool {
        let n = pipe.read_into(max, &mut self.rx);
        if pipe.at_eof() && !self.fin {
            self.fin = true;
            self.parse();
            return true;
        }
        if n > 0 {
            self.parse();
        }
        n > 0
    }

    fn parse(&mut self) {
        loop {
            let k = self.finals.len();
            let head_req = self.reqs.get(k).is_some_and(Req::is_head);
            let Some((resp, used)) = parse_response(&self.rx, head_req, self.fin) else { return };
            let _ = self.rx.split_to(used);
            if let Some(c) = self.closing {
                panic!("a response after the one that closed the connection (#{c}): {resp:?}");
            }
            let req = self.reqs.get(k).unwrap_or_else(|| panic!("response #{k} to no request"));
            if resp.status == 100 {
                assert!(req.expects(), "100 Continue to request #{k}, which did not ask: {req:?}");
                self.released[k] = true;
                continue;
            }
            // A final response also releases a held-back body (the client
            // would stop waiting); but that only happens with an error.
            self.released[k] = true;
            let close = resp.header("connection") == Some("close");
            if resp.status == 200 {
                let Kind::Valid { closes, .. } = req.kind else {
                    panic!("200 to the malformed request #{k}: {req:?}")
                };
                assert_eq!(resp.header("x-req"), Some(k.to_string().as_str()), "response order");
                assert!(
                    resp.body == req.expected_body(),
                    "response #{k}: the body is not the request echoed ({} vs {} bytes)",
                    resp.body.len(),
                    req.expected_body().len()
                );
                assert!(!closes || close, "request #{k} closes the connection: {resp:?}");
            } else {
                assert!(close, "the error response #{k} must close: {resp:?}");
            }
            if close {
                self.closing = Some(k);
            }
            self.finals.push(resp);
        }
    }
}

/// What the server's application saw and did, and the oracle's clock.
struct ServerApp {
    reqs: Vec<Req>,
    /// `Request` events.
    started: usize,
    /// `End` events (each answered at once).
    ended: usize,
    body: Vec<u8>,
    rejected: Option<(Error, usize)>,
    rng: Rng,
    limits: Limits,
    /// When the first byte of the current head was fed.
    head_from: Option<Instant>,
    /// When the current body last made progress (`Request` or `Data`).
    body_from: Instant,
    /// When the current request's head ended (`Request`): the body
    /// timeout counts from there.
    body_began: Instant,
    /// The idle timer's base: the latest time the machine was given when
    /// the response finished (commands arm timers from it), or the last
    /// write while idle (`handle_sent`).
    idle_base: Instant,
    /// When `idle_base` was last set.
    idle_armed_at: Instant,
    /// The latest `now` the machine was given (any `handle_*`).
    clock_seen: Instant,
    /// The client ended its stream mid-request, or reset.
    truncated_ok: bool,
    owed: Option<Owed>,
}

/// A response the application has not finished.
struct Owed {
    k: usize,
    reply: Vec<u8>,
    sent: usize,
    chunked: bool,
    head: bool,
}

impl ServerApp {
    /// Moves the owed response on: its head, a piece of its body, or its
    /// end (with `all`, to the end). Whether there was one.
    fn work(&mut self, now: Instant, conn: &mut ServerConn, all: bool) -> bool {
        let Some(mut o) = self.owed.take() else { return false };
        assert!(conn.awaiting_response(), "a response owed, the connection does not wait");
        assert_eq!(conn.poll_timeout(), None, "a timer armed while the application works");
        loop {
            if !o.head {
                let id = o.k.to_string();
                let fields: &[(&str, &[u8])] = &[("X-Req", id.as_bytes())];
                let framing = if o.chunked {
                    ResponseBody::Chunked
                } else {
                    ResponseBody::Length(o.reply.len() as u64)
                };
                conn.send_response(200, fields, framing).expect("head");
                o.head = true;
            } else if o.sent < o.reply.len() {
                let n = self.rng.split(o.reply.len() - o.sent);
                conn.send_data(Bytes::copy_from_slice(&o.reply[o.sent..o.sent + n])).expect("data");
                o.sent += n;
            } else {
                conn.finish().expect("finish");
                // Commands arm timers from the latest time the machine was
                // given: answered outside any input, the idle time may
                // have run out already (then it closes at once).
                self.idle_base = self.clock_seen;
                self.idle_armed_at = now;
                return true;
            }
            if !all {
                self.owed = Some(o);
                return true;
            }
        }
    }

    /// The oracle's deadline for the server in its current state.
    fn deadline(&self) -> Option<Instant> {
        if self.owed.is_some() {
            None
        } else if self.started > self.ended {
            let stalled = self.body_from + self.limits.idle_timeout;
            Some(stalled.min(self.body_began + self.limits.body_timeout))
        } else if let Some(t) = self.head_from {
            Some(t + self.limits.header_timeout)
        } else {
            Some((self.idle_base + self.limits.idle_timeout).max(self.idle_armed_at))
        }
    }

    fn on_event(&mut self, now: Instant, consumed: u64, conn: &mut ServerConn, ev: Event) {
        assert!(self.rejected.is_none(), "event after Rejected: {ev:?}");
        match ev {
            Event::Request(head) => {
                let i = self.started;
                assert_eq!(i, self.ended, "Request inside a request");
                let req = self.reqs.get(i).unwrap_or_else(|| panic!("request #{i} never sent"));
                match &req.kind {
                    Kind::Valid { method, target, .. } => {
                        assert_eq!(head.method(), *method);
                        assert_eq!(head.target(), target);
                    }
                    Kind::Bad { head_ok, .. } => {
                        assert!(*head_ok, "the malformed head #{i} was accepted: {head:?}")
                    }
                }
                let (from, to) = (req.head_end as u64, req.end as u64);
                assert!(
                    req.start as u64 <= consumed && consumed <= to,
                    "Request #{i} with {consumed} bytes consumed, head ends at {from}"
                );
                if let Kind::Valid { .. } = req.kind {
                    assert!(consumed >= from, "Request #{i} before its head ended at {from}");
                }
                self.started += 1;
                self.body.clear();
                self.head_from = None;
                self.body_from = now;
                self.body_began = now;
            }
            Event::Data(d) => {
                assert!(self.started > self.ended, "Data outside a request");
                assert!(!d.is_empty(), "empty Data");
                self.body.extend_from_slice(&d);
                self.body_from = now;
            }
            Event::End => {
                assert!(self.started > self.ended, "End outside a request");
                let k = self.ended;
                let req = &self.reqs[k];
                let Kind::Valid { body, .. } = &req.kind else {
                    panic!("End of the malformed request #{k}")
                };
                assert!(self.body == *body, "request #{k}: the body arrived altered");
                assert_eq!(consumed, req.end as u64, "End of #{k} not at its last byte");
                let id = k.to_string();
                let fields: &[(&str, &[u8])] = &[("X-Req", id.as_bytes())];
                let reply = req.expected_body();
                if self.rng.pct(40) {
                    // Answered later, maybe piece by piece.
                    let chunked = self.rng.pct(50);
                    self.owed = Some(Owed { k, reply, sent: 0, chunked, head: false });
                    self.ended += 1;
                    return;
                }
                if self.rng.pct(40) {
                    conn.send_response(200, fields, ResponseBody::Chunked).expect("head");
                    let mut rest = &reply[..];
                    while !rest.is_empty() {
                        let n = self.rng.split(rest.len());
                        conn.send_data(Bytes::copy_from_slice(&rest[..n])).expect("data");
                        rest = &rest[n..];
                    }
                    conn.finish().expect("finish");
                } else {
                    conn.respond(200, fields, Bytes::from(reply)).expect("respond");
                }
                self.ended += 1;
                self.idle_base = now;
                self.idle_armed_at = now;
            }
            Event::Rejected(e) => {
                let k = self.ended;
                match (e, self.reqs.get(k).map(|r| &r.kind)) {
                    (Error::Timeout, _) => {
                        let due = self.deadline().expect("a deadline");
                        assert!(
                            now >= due && now <= due + GRANULARITY,
                            "408 at {now:?}, the deadline is {due:?}"
                        );
                    }
                    (Error::Truncated, _) => {
                        assert!(self.truncated_ok, "Truncated, but the client did not end early")
                    }
                    (e, Some(Kind::Bad { status, .. })) => {
                        assert_eq!(e.status(), *status, "request #{k} rejected with {e:?}")
                    }
                    (e, kind) => panic!("request #{k} ({kind:?}) rejected with {e:?}"),
                }
                self.rejected = Some((e, k));
            }
        }
    }
}

fn pump(server: &mut Driven<ServerConn>, app: &mut ServerApp, now: Instant, to_client: &mut Pipe) {
    let app = RefCell::new(app);
    let consumed = Cell::new(server.c.consumed());
    loop {
        let before = server.c.consumed();
        server.pump_with(
            now,
            &mut |conn: &mut ServerConn, ev| {
                app.borrow_mut().on_event(now, consumed.get(), conn, ev)
            },
            // The header timer starts at the first byte of a head fed to
            // the machine: the oracle notes when that happens.
            &mut |_| {
                let mut a = app.borrow_mut();
                a.clock_seen = now;
                if a.started == a.ended && a.head_from.is_none() {
                    a.head_from = Some(now);
                }
            },
            &consumed,
        );
        let wrote = server.flush(now, to_client);
        if wrote {
            // `handle_sent(now)`: idle time counts from the last write.
            let mut a = app.borrow_mut();
            a.clock_seen = now;
            if a.owed.is_none() && a.started == a.ended && a.head_from.is_none() {
                a.idle_base = now;
                a.idle_armed_at = now;
            }
        }
        if !wrote && server.c.consumed() == before {
            break;
        }
    }
}

/// The clock reached `now`: fire the server's timers, drain, and check a
/// silent close against the oracle's idle deadline.
fn fire(server: &mut Driven<ServerConn>, app: &mut ServerApp, now: Instant, s2c: &mut Pipe) {
    let was_finished = !server.active() || server.c.session.is_finished();
    if server.timeout(now) {
        app.clock_seen = now;
    }
    pump(server, app, now, s2c);
    if !was_finished && server.c.session.is_finished() && app.rejected.is_none() {
        // A silent close: only the idle timer between requests does that.
        assert!(app.started == app.ended && app.head_from.is_none(), "closed mid-request");
        let due = app.idle_base + app.limits.idle_timeout;
        let latest = due.max(app.idle_armed_at) + GRANULARITY;
        assert!(now >= due && now <= latest, "idle close at {now:?}, due {due:?}");
    }
}

fn run(seed: u64) {
    let mut rng = Rng::new(seed);
    let limits = Limits::default()
        .with_max_body(64 * 1024)
        .with_header_timeout(Duration::from_secs(rng.range(1, 20) as u64))
        // From the seed, not the generator: the seeds' runs stay as they were.
        .with_body_timeout(Duration::from_secs(20 + seed % 100));
    let (stream, reqs) = plan(&mut rng);
    let total = stream.len();
    let mut c2s = Pipe::new(rng.range(16, 128 * 1024));
    let mut s2c = Pipe::new(rng.range(16, 128 * 1024));
    let mut now = T0;
    let server = Driven::new(ServerConn::new(limits, now), "http server", now);
    let mut server = server.with_bound(limits.max_head);
    let mut app = ServerApp {
        reqs: reqs.clone(),
        started: 0,
        ended: 0,
        body: Vec::new(),
        rejected: None,
        rng: Rng::new(seed.wrapping_mul(31).wrapping_add(7)),
        limits,
        head_from: None,
        body_from: now,
        body_began: now,
        idle_base: now,
        idle_armed_at: now,
        clock_seen: now,
        truncated_ok: false,
        owed: None,
    };
    let (mut eof_at, mut stall_at, mut reset_at) = (None, None, None);
    match rng.below(10) {
        0 | 1 => eof_at = Some(rng.range(0, total)),
        2 => stall_at = Some(rng.range(0, total)),
        3 => reset_at = Some(rng.range(0, 80)),
        _ => {}
    }
    let n = reqs.len();
    let mut client = Client {
        stream,
        reqs,
        written: 0,
        released: vec![false; n],
        eof_at,
        half_closed: false,
        stall_at,
        rx: BytesMut::new(),
        finals: Vec::new(),
        fin: false,
        closing: None,
    };
    if let Some(e) = eof_at {
        // Ending inside a request truncates it.
        app.truncated_ok = client.reqs.iter().any(|r| r.start < e && e < r.end);
    }
    let mut reset = false;
    let longest = limits.idle_timeout.max(limits.header_timeout);
    for step in 0..600 {
        if reset_at == Some(step) {
            app.truncated_ok = true;
            server
                .reset(now, &mut |conn: &mut ServerConn, ev| app.on_event(now, u64::MAX, conn, ev));
            // The application finishes what it owes (to nobody): then the
            // connection, which saw the end of the stream, is over.
            app.work(now, &mut server.c.session, true);
            assert!(server.c.session.is_finished(), "after a reset the server is not finished");
            c2s.reset();
            s2c.reset();
            reset = true;
            break;
        }
        match rng.below(11) {
            10 => {
                let all = rng.pct(30);
                app.work(now, &mut server.c.session, all);
            }
            0..=2 => {
                client.write(&mut rng, &mut c2s);
            }
            3..=5 => {
                let max = rng.split(c2s.pending().max(1));
                if server.read(now, &mut c2s, max) {
                    app.clock_seen = now;
                }
            }
            6 | 7 => {
                let max = rng.split(s2c.pending().max(1));
                client.read(max, &mut s2c);
            }
            _ => {
                let target = now + rng.delay(longest);
                while advance(&mut rng, &mut now, target, server.deadline()) {
                    fire(&mut server, &mut app, now, &mut s2c);
                }
            }
        }
        pump(&mut server, &mut app, now, &mut s2c);
        check_deadline(&server, &app, now);
        if client.fin && server.closed {
            break;
        }
    }
    if !reset {
        quiesce(&mut rng, &mut now, &mut client, &mut server, &mut app, &mut c2s, &mut s2c);
        final_checks(&client, &server, &app, &c2s);
    }
    if super::verbose() {
        let statuses: Vec<u16> = client.finals.iter().map(|r| r.status).collect();
        eprintln!(
            "http seed {seed}: {} requests, {} bytes, statuses {statuses:?}, rejected {:?}, \
             reset {reset}, eof_at {eof_at:?}, stall_at {stall_at:?}, t = {:?}",
            client.reqs.len(),
            client.stream.len(),
            app.rejected,
            now - T0
        );
    }
}

/// The oracle's deadline passed (plus the granularity) and the server has
/// not acted.
fn check_deadline(server: &Driven<ServerConn>, app: &ServerApp, now: Instant) {
    if !server.active() || server.c.session.is_finished() || app.rejected.is_some() {
        return;
    }
    if let Some(due) = app.deadline() {
        assert!(
            now <= due + GRANULARITY,
            "the deadline {due:?} passed unnoticed (now {now:?}; the machine's {:?}; \
             {} requests started, {} ended, head from {:?}, body from {:?}, idle from {:?})",
            server.c.session.poll_timeout(),
            app.started,
            app.ended,
            app.head_from,
            app.body_from,
            app.idle_base
        );
    }
}

/// No more faults: everyone delivers everything; the client closes or
/// waits for the server's timers; runs until the server closed and the
/// client read the end of the stream.
fn quiesce(
    rng: &mut Rng,
    now: &mut Instant,
    client: &mut Client,
    server: &mut Driven<ServerConn>,
    app: &mut ServerApp,
    c2s: &mut Pipe,
    s2c: &mut Pipe,
) {
    let close_at_end = rng.pct(50);
    for round in 0.. {
        assert!(round < 100_000, "the quiesce phase does not end");
        let mut progressed = client.write(rng, c2s);
        if server.active() {
            progressed |= app.work(*now, &mut server.c.session, true);
        }
        if server.read(*now, c2s, usize::MAX) {
            app.clock_seen = *now;
            progressed = true;
        }
        pump(server, app, *now, s2c);
        progressed |= client.read(usize::MAX, s2c);
        check_deadline(server, app, *now);
        if client.fin && !server.active() {
            return;
        }
        if progressed {
            continue;
        }
        if close_at_end && !client.half_closed && client.written == client.stream.len() {
            c2s.close();
            client.half_closed = true;
            continue;
        }
        let Some(deadline) = server.deadline() else {
            panic!(
                "stuck: nothing in flight, no timer, server not finished \
                 (client wrote {} of {}, {} final responses)",
                client.written,
                client.stream.len(),
                client.finals.len()
            );
        };
        while advance(rng, now, deadline + GRANULARITY, server.deadline()) {
            fire(server, app, *now, s2c);
        }
    }
}

fn final_checks(client: &Client, server: &Driven<ServerConn>, app: &ServerApp, c2s: &Pipe) {
    assert!(server.closed, "the server did not close");
    assert!(client.fin, "the client did not see the end of the stream");
    assert!(client.rx.is_empty(), "a partial response is left: {:?}", client.rx);
    let with_error = match app.rejected {
        Some((e, k)) => {
            assert_eq!(k, app.ended);
            if e == Error::Truncated {
                // Answered only when part of a request had arrived.
                usize::from(client.finals.len() > app.ended)
            } else {
                let last = client.finals.last().expect("the error response");
                assert_eq!(last.status, e.status(), "the error response");
                1
            }
        }
        None => 0,
    };
    assert_eq!(
        client.finals.len(),
        app.ended + with_error,
        "every completed request is answered, once"
    );
    if let Some((Error::Truncated, _)) = app.rejected
        && with_error == 1
    {
        assert_eq!(client.finals.last().map(|r| r.status), Some(400));
    }
    // Requests that reached the server in full before a clean end are all
    // answered.
    if app.rejected.is_none() && client.closing.is_none() {
        let complete = client.reqs.iter().filter(|r| r.end as u64 <= c2s.read).count();
        assert_eq!(client.finals.len(), complete, "requests sent in full but not answered");
    }
}

#[test]
fn http_over_a_simulated_network() {
    for_seeds("http", 1000, run);
}
