//! [`WebHub`]: a web port for any [`Hub`] (the chat room in the browser,
//! PROTOCOLS.md §7).
//!
//! A `WebHub<H>` is itself a `Hub`. Connections accepted on the driver's
//! listener number [`WebConfig::port`] speak HTTP/1.1 first (one
//! [`ServerConn`] each): `GET /` (any query) is answered with the page,
//! `GET /ws` is validated as a WebSocket opening handshake
//! ([`ws::handshake`]) and, once accepted, the connection is handed to a
//! [`ws::Conn`] with the bytes that followed the request (nothing is lost
//! between the two machines) and joins `H` as a connection of its own.
//! Every other connection goes to `H` untouched.
//!
//! Between a WebSocket and `H`:
//!
//! - each text message's payload goes to `H` as bytes read (for the chat
//!   room, one JSON client message); a binary message closes with 1003;
//! - each line `H` writes (one NDJSON event) goes out as one text message.
//!   A broadcast is framed once and the frames are shared by every web
//!   recipient, as `H` shares one buffer between its recipients;
//! - `H`'s budget of unsent bytes stays exact: a write's frames are
//!   credited to `H` as its own bytes once the driver has written them;
//! - the peer's close (or a protocol error, or the end of the stream) is
//!   `H`'s end of stream; `H`'s close is a close handshake (1000).
//!
//! A page opened from another site must not join the room in the name of
//! the browser's user (with client certificates, the browser would present
//! the user's certificate): a handshake whose `Origin` names another host
//! than its `Host` is refused with 403.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::{String, ToString};

use bytes::{Bytes, BytesMut};

use crate::http::html::status_page;
use crate::http::{self, RequestHead, ServerConn};
use crate::ws::{self, CloseCode, Opcode};
use crate::{ConnId, Hub, Input, Instant, Output, Session};

/// What a [`WebHub`] serves and its bounds.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The driver's listener (its index, see [`Input::Opened`]) whose
    /// connections are web connections.
    pub port: usize,
    /// The page served at `/`.
    pub page: Bytes,
    /// The bounds of the HTTP side (head size, header and idle timeouts).
    pub http: http::Limits,
    /// The bounds of the WebSocket side (frame and message size, close
    /// timeout).
    pub ws: ws::Limits,
}

/// What a [`WebHub`] tells its application: the inner hub's events, and
/// what happened on the web port.
#[derive(Debug)]
pub enum WebEvent<E> {
    /// An event of the inner hub.
    Inner(E),
    /// An HTTP request on the web port was answered with `status` (101
    /// for an accepted WebSocket handshake).
    Request {
        /// The connection.
        conn: ConnId,
        /// The request's method.
        method: String,
        /// The request's target.
        target: String,
        /// The answer.
        status: u16,
    },
    /// The HTTP side of `conn` broke the protocol (the machine answered
    /// with its status and closes).
    Rejected {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: http::Error,
    },
    /// The peer closed its WebSocket with `code` (`None`: without a
    /// code, or the stream ended without a close).
    Closed {
        /// The connection.
        conn: ConnId,
        /// The peer's close code.
        code: Option<u16>,
    },
    /// The peer broke RFC 6455: closed with the error's code.
    Failed {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: ws::Error,
    },
}

/// One web connection.
struct WebConn {
    peer: String,
    listener: usize,
    /// A name a layer below proved (TLS client certificate), for `H` once
    /// the connection joins it.
    name: Option<String>,
    phase: Phase,
    /// The deadline this connection has in the hub's timer set.
    deadline: Option<Instant>,
    /// `Output::Close` was handed out.
    closed: bool,
    /// What was handed to the driver and not yet reported written.
    unsent: Unsent,
}

/// A web connection's bytes handed to the driver and not yet written, in
/// order: how many on the wire, and how many of them are `H`'s (the rest
/// are the port's own: pages, handshake answers, control frames).
#[derive(Default)]
struct Unsent {
    pieces: VecDeque<(usize, usize)>,
    /// Unwritten bytes of pieces that carry nothing of `H`'s.
    own: usize,
}

impl Unsent {
    fn push(&mut self, wire: usize, theirs: usize) {
        if theirs == 0 {
            self.own += wire;
        }
        self.pieces.push_back((wire, theirs));
    }

    /// `n` more bytes were written: how many of `H`'s pieces that
    /// completed.
    fn sent(&mut self, mut n: usize) -> usize {
        let mut theirs = 0;
        while n > 0 {
            let Some((wire, of_h)) = self.pieces.front_mut() else { break };
            let step = n.min(*wire);
            *wire -= step;
            n -= step;
            if *of_h == 0 {
                self.own -= step;
            }
            if *wire == 0 {
                theirs += *of_h;
                self.pieces.pop_front();
            }
        }
        theirs
    }
}

// The WebSocket, the long-lived phase, is the large one; the HTTP phase
// is boxed so that a WebSocket does not carry its size.
#[allow(clippy::large_enum_variant)]
enum Phase {
    Http {
        http: Box<ServerConn>,
        head: Option<RequestHead>,
    },
    Ws {
        ws: ws::Conn,
        /// Text messages' payloads that `H` has not taken yet.
        inbox: BytesMut,
        /// `H` was told the stream ended.
        ended: bool,
    },
}

/// A web port for the hub `H`: see the [module docs](self).
pub struct WebHub<H: Hub> {
    config: WebConfig,
    inner: H,
    conns: BTreeMap<ConnId, WebConn>,
    timers: BTreeSet<(Instant, ConnId)>,
    ready: VecDeque<Output<WebEvent<H::Event>>>,
    resumed: VecDeque<ConnId>,
    /// The last write of `H` framed for the web, and its frames: a
    /// broadcast is framed once. Holding the source keeps its buffer (and
    /// so its address) from being reused while it is the key.
    framed: Option<(Bytes, Bytes)>,
    now: Instant,
}

/// The page's security headers: nothing but its own inline code runs, and
/// it may connect only to its own origin.
const PAGE_CSP: &[u8] = b"default-src 'none'; script-src 'unsafe-inline'; \
style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

impl<H: Hub> WebHub<H> {
    /// A web port for `inner`, as `config` says.
    pub fn new(config: WebConfig, inner: H) -> WebHub<H> {
        WebHub {
            config,
            inner,
            conns: BTreeMap::new(),
            timers: BTreeSet::new(),
            ready: VecDeque::new(),
            resumed: VecDeque::new(),
            framed: None,
            now: Instant::ZERO,
        }
    }

    /// The inner hub.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The inner hub, for the application's commands.
    pub fn inner_mut(&mut self) -> &mut H {
        &mut self.inner
    }

    /// Feeds `buf` to `conn`'s machine while it takes bytes, through an
    /// upgrade: what follows the handshake goes to the WebSocket.
    fn read(&mut self, conn: ConnId, buf: &mut BytesMut) {
        while !buf.is_empty() && self.wants_read(conn) {
            let before = buf.len();
            let now = self.now;
            let Some(c) = self.conns.get_mut(&conn) else { return };
            match &mut c.phase {
                Phase::Http { http, .. } => http.handle_read(now, buf),
                Phase::Ws { ws, .. } => ws.handle_read(now, buf),
            }
            let upgraded = self.settle(conn);
            if buf.len() == before && !upgraded {
                break;
            }
        }
    }

    /// After input to `conn`: its events, its output, its deadline.
    /// Returns whether the connection turned into a WebSocket.
    fn settle(&mut self, conn: ConnId) -> bool {
        let mut upgraded = false;
        match self.conns.get(&conn).map(|c| &c.phase) {
            None => return false,
            Some(Phase::Http { .. }) => {
                while let Some(ev) = self.http_event(conn) {
                    match ev {
                        http::Event::Request(h) => {
                            if let Some(Phase::Http { head, .. }) =
                                self.conns.get_mut(&conn).map(|c| &mut c.phase)
                            {
                                *head = Some(h);
                            }
                        }
                        http::Event::Data(_) => {}
                        http::Event::End => upgraded |= self.answer(conn),
                        http::Event::Rejected(error) => {
                            self.ready.push_back(Output::Event(WebEvent::Rejected { conn, error }))
                        }
                    }
                }
            }
            Some(Phase::Ws { .. }) => self.ws_events(conn),
        }
        self.flush(conn);
        upgraded
    }

    fn http_event(&mut self, conn: ConnId) -> Option<http::Event> {
        match &mut self.conns.get_mut(&conn)?.phase {
            Phase::Http { http, .. } => http.poll_event(),
            Phase::Ws { .. } => None,
        }
    }

    /// A whole request arrived on `conn`: the page, the upgrade, or a
    /// refusal. Returns whether it upgraded.
    fn answer(&mut self, conn: ConnId) -> bool {
        let page = self.config.page.clone();
        let Some(c) = self.conns.get_mut(&conn) else { return false };
        let Phase::Http { http, head } = &mut c.phase else { return false };
        let Some(head) = head.take() else { return false };
        let path = head.target().split('?').next().unwrap_or("");
        let status = match path {
            "/ws" if !same_origin(&head) => {
                http.close_after_response();
                respond_page(http, 403, &[], status_page(403))
            }
            "/ws" => match ws::handshake::check(&head) {
                Ok(accepted) => {
                    let response = accepted.response();
                    let ws = ws::Conn::new(ws::Role::Server, self.config.ws, self.now);
                    c.unsent.push(response.len(), 0);
                    self.ready.push_back(Output::Transmit { conn, data: response });
                    c.phase = Phase::Ws { ws, inbox: BytesMut::new(), ended: false };
                    let (peer, listener) = (c.peer.clone(), c.listener);
                    let name = c.name.take();
                    self.inner.handle(self.now, Input::Opened { conn, peer, listener });
                    if let Some(name) = &name {
                        self.inner.handle(self.now, Input::Identified { conn, name });
                    }
                    self.request_event(conn, &head, 101);
                    return true;
                }
                Err(rejection) => {
                    let data = rejection.response();
                    c.unsent.push(data.len(), 0);
                    self.ready.push_back(Output::Transmit { conn, data });
                    self.ready.push_back(Output::Close { conn });
                    c.closed = true;
                    rejection.status()
                }
            },
            "/" => match head.method() {
                "GET" | "HEAD" => respond_page(
                    http,
                    200,
                    &[
                        ("Content-Type", b"text/html; charset=utf-8"),
                        ("Cache-Control", b"no-store"),
                        ("Content-Security-Policy", PAGE_CSP),
                    ],
                    page,
                ),
                _ => respond_page(http, 405, &[("Allow", b"GET, HEAD")], status_page(405)),
            },
            _ => respond_page(http, 404, &[], status_page(404)),
        };
        self.request_event(conn, &head, status);
        false
    }

    fn request_event(&mut self, conn: ConnId, head: &RequestHead, status: u16) {
        let (method, target) = (head.method().to_string(), head.target().to_string());
        self.ready.push_back(Output::Event(WebEvent::Request { conn, method, target, status }));
    }

    /// A WebSocket's events: messages to `H`, closes and failures.
    fn ws_events(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else { return };
            let Phase::Ws { ws, inbox, ended, .. } = &mut c.phase else { return };
            let Some(ev) = ws.poll_event() else { break };
            let end = match ev {
                ws::Event::Text(payload) => {
                    inbox.extend_from_slice(&payload);
                    false
                }
                ws::Event::Binary(_) => {
                    ws.close(self.now, CloseCode::UNSUPPORTED, "text messages only");
                    true
                }
                ws::Event::Closed { code, .. } => {
                    let code = code.map(|c| c.0);
                    self.ready.push_back(Output::Event(WebEvent::Closed { conn, code }));
                    true
                }
                ws::Event::Failed(error) => {
                    self.ready.push_back(Output::Event(WebEvent::Failed { conn, error }));
                    true
                }
            };
            if end && !core::mem::replace(ended, true) {
                // What the peer sent before its end still reaches `H` first.
                self.feed(conn);
                self.inner.handle(self.now, Input::Eof { conn });
            }
        }
        self.feed(conn);
    }

    /// Hands `conn`'s waiting messages to `H` while it takes them.
    fn feed(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let Phase::Ws { inbox, .. } = &mut c.phase else { return };
        while !inbox.is_empty() && self.inner.wants_read(conn) {
            let before = inbox.len();
            self.inner.handle(self.now, Input::Read { conn, buf: inbox });
            if inbox.len() == before {
                break;
            }
        }
    }

    /// Hands out `conn`'s own bytes (responses, control frames), its close
    /// once it is over, and keeps its deadline in the timer set.
    fn flush(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let (finished, deadline) = match &mut c.phase {
            Phase::Http { http, .. } => {
                while let Some(data) = http.poll_transmit() {
                    c.unsent.push(data.len(), 0);
                    self.ready.push_back(Output::Transmit { conn, data });
                }
                (http.is_finished(), http.poll_timeout())
            }
            Phase::Ws { ws, .. } => {
                while let Some(data) = ws.poll_transmit() {
                    c.unsent.push(data.len(), 0);
                    self.ready.push_back(Output::Transmit { conn, data });
                }
                (ws.is_finished(), ws.poll_timeout())
            }
        };
        if finished && !core::mem::replace(&mut c.closed, true) {
            self.ready.push_back(Output::Close { conn });
        }
        if c.deadline != deadline {
            if let Some(old) = c.deadline {
                self.timers.remove(&(old, conn));
            }
            if let Some(new) = deadline {
                self.timers.insert((new, conn));
            }
            c.deadline = deadline;
        }
    }

    /// One write of `H` to `conn`: framed for a WebSocket, as it is for
    /// any other connection.
    fn transmit(&mut self, conn: ConnId, data: Bytes) -> Option<Output<WebEvent<H::Event>>> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Some(Output::Transmit { conn, data });
        };
        let Phase::Ws { ws, .. } = &mut c.phase else { return None };
        if !ws.is_open() {
            // Closing: the bytes are dropped, and `H` counts them as gone.
            let n = data.len();
            self.inner.handle(self.now, Input::Sent { conn, n });
            return None;
        }
        let framed = match &self.framed {
            Some((src, framed)) if src.as_ptr() == data.as_ptr() && src.len() == data.len() => {
                framed.clone()
            }
            _ => {
                let framed = frame_lines(&data);
                self.framed = Some((data.clone(), framed.clone()));
                framed
            }
        };
        c.unsent.push(framed.len(), data.len());
        Some(Output::Transmit { conn, data: framed })
    }

    /// `n` more bytes were written to `conn`: `H`'s share goes to `H`.
    fn sent(&mut self, conn: ConnId, n: usize) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return self.inner.handle(self.now, Input::Sent { conn, n });
        };
        let theirs = c.unsent.sent(n);
        if let Phase::Http { http, .. } = &mut c.phase {
            http.handle_sent(self.now, n);
        }
        if theirs > 0 {
            self.inner.handle(self.now, Input::Sent { conn, n: theirs });
        }
        self.flush(conn);
    }
}

impl<H: Hub> Hub for WebHub<H> {
    type Event = WebEvent<H::Event>;

    fn handle(&mut self, now: Instant, input: Input<'_>) {
        self.now = self.now.max(now);
        match input {
            Input::Opened { conn, peer, listener } if listener == self.config.port => {
                let http = Box::new(ServerConn::new(self.config.http, self.now));
                let phase = Phase::Http { http, head: None };
                let unsent = Unsent::default();
                let c = WebConn {
                    peer,
                    listener,
                    name: None,
                    phase,
                    deadline: None,
                    closed: false,
                    unsent,
                };
                self.conns.insert(conn, c);
                self.flush(conn);
            }
            Input::Read { conn, buf } if self.conns.contains_key(&conn) => self.read(conn, buf),
            Input::Eof { conn } if self.conns.contains_key(&conn) => {
                let now = self.now;
                if let Some(c) = self.conns.get_mut(&conn) {
                    match &mut c.phase {
                        Phase::Http { http, .. } => http.handle_eof(now),
                        Phase::Ws { ws, .. } => ws.handle_eof(now),
                    }
                }
                self.settle(conn);
            }
            Input::Sent { conn, n } => self.sent(conn, n),
            Input::Identified { conn, name } => match self.conns.get_mut(&conn) {
                Some(c) if matches!(c.phase, Phase::Http { .. }) => c.name = Some(name.into()),
                Some(_) => {}
                None => self.inner.handle(now, Input::Identified { conn, name }),
            },
            Input::Gone { conn } => match self.conns.remove(&conn) {
                Some(c) => {
                    if let Some(d) = c.deadline {
                        self.timers.remove(&(d, conn));
                    }
                    if let Phase::Ws { .. } = c.phase {
                        self.inner.handle(now, Input::Gone { conn });
                    }
                }
                None => self.inner.handle(now, Input::Gone { conn }),
            },
            input => self.inner.handle(now, input),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        while let Some(&(deadline, conn)) = self.timers.first() {
            if deadline > now {
                break;
            }
            self.timers.pop_first();
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            c.deadline = None;
            match &mut c.phase {
                Phase::Http { http, .. } => http.handle_timeout(now),
                Phase::Ws { ws, .. } => ws.handle_timeout(now),
            }
            self.settle(conn);
        }
        self.inner.handle_timeout(now);
    }

    /// Every WebSocket gets a Close with 1001 (going away) before the
    /// driver ends the streams.
    fn handle_stop(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let open: alloc::vec::Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in open {
            if let Some(Phase::Ws { ws, .. }) = self.conns.get_mut(&conn).map(|c| &mut c.phase) {
                ws.close(self.now, CloseCode::GOING_AWAY, "server stopping");
                self.flush(conn);
            }
        }
        self.inner.handle_stop(now);
    }

    fn poll_output(&mut self) -> Option<Output<WebEvent<H::Event>>> {
        loop {
            if let Some(out) = self.ready.pop_front() {
                return Some(out);
            }
            let Some(out) = self.inner.poll_output() else {
                let conn = self.inner.poll_resumed()?;
                // Messages waiting for `H` go in first; then the driver
                // offers the connection's buffered bytes again.
                self.feed(conn);
                self.resumed.push_back(conn);
                continue;
            };
            match out {
                Output::Event(e) => return Some(Output::Event(WebEvent::Inner(e))),
                Output::Transmit { conn, data } => {
                    if let Some(out) = self.transmit(conn, data) {
                        return Some(out);
                    }
                }
                Output::Close { conn } => match self.conns.get_mut(&conn) {
                    Some(c) => {
                        if let Phase::Ws { ws, .. } = &mut c.phase {
                            ws.close(self.now, CloseCode::NORMAL, "");
                        }
                        self.flush(conn);
                    }
                    None => return Some(Output::Close { conn }),
                },
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let own = self.timers.first().map(|&(d, _)| d);
        Instant::earliest(own, self.inner.poll_timeout())
    }

    fn wants_read(&self, conn: ConnId) -> bool {
        let Some(c) = self.conns.get(&conn) else { return self.inner.wants_read(conn) };
        // A peer that makes us answer (pages, pongs) and never reads is
        // not read either once its answers pass the bound.
        c.unsent.own < self.config.ws.max_message
            && match &c.phase {
                Phase::Http { http, .. } => http.wants_read(),
                Phase::Ws { ws, inbox, .. } => {
                    ws.wants_read() && inbox.is_empty() && self.inner.wants_read(conn)
                }
            }
    }

    fn poll_resumed(&mut self) -> Option<ConnId> {
        self.resumed.pop_front()
    }
}

/// Answers the request `http` waits on with a whole body.
fn respond_page(http: &mut ServerConn, status: u16, fields: &[(&str, &[u8])], body: Bytes) -> u16 {
    let mut all = alloc::vec::Vec::with_capacity(fields.len() + 1);
    all.extend_from_slice(fields);
    if !fields.iter().any(|(n, _)| *n == "Content-Type") {
        all.push(("Content-Type", b"text/html; charset=utf-8".as_slice()));
    }
    all.push(("X-Content-Type-Options", b"nosniff".as_slice()));
    match http.respond(status, &all, body) {
        Ok(()) => status,
        Err(_) => 500,
    }
}

/// Whether a handshake may join: not from a page of another site, whose
/// `Origin` names another host (and port) than its `Host`. No `Origin` (a
/// program, not a browser) is fine.
fn same_origin(head: &RequestHead) -> bool {
    let Some(origin) = head.field("Origin") else { return true };
    let host = head.field("Host").unwrap_or_default();
    let authority = |scheme_default: &[u8], hostport: &[u8]| -> alloc::vec::Vec<u8> {
        let mut v = hostport.to_ascii_lowercase();
        if v.ends_with(scheme_default) {
            v.truncate(v.len() - scheme_default.len());
        }
        v
    };
    let (default, rest) = if let Some(r) = origin.strip_prefix(b"https://") {
        (b":443".as_slice(), r)
    } else if let Some(r) = origin.strip_prefix(b"http://") {
        (b":80".as_slice(), r)
    } else {
        return false;
    };
    authority(default, rest) == authority(default, host)
}

/// `H`'s lines as text frames, one per line, without their newlines.
fn frame_lines(data: &[u8]) -> Bytes {
    let lines = memchr::memchr_iter(b'\n', data).count().max(1);
    let mut out = BytesMut::with_capacity(data.len() + lines * 4);
    for line in data.split_inclusive(|&b| b == b'\n') {
        let payload = line.strip_suffix(b"\n").unwrap_or(line);
        ws::encode_frame(&mut out, true, Opcode::Text, payload, None);
    }
    out.freeze()
}

#[cfg(test)]
mod tests;
