//! The HTTP/1.1 server connection machine.

use alloc::collections::VecDeque;
use alloc::format;
use bytes::{Bytes, BytesMut};

use super::body::{BodyChunk, BodyDecoder};
use super::head::{BodyKind, HeadParser, RequestHead, Version};
use super::outgoing::Outgoing;
use super::response::{self, Framing, ResponseBody, bodyless_status, check_fields, write_head};
use super::{Error, Limits, Misuse};
use crate::time::{TimerKind, Timers};
use crate::{Instant, Session, Source, Splice, Transmit};

/// What the connection tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A request head arrived. Its body follows as `Data`, then `End`.
    Request(RequestHead),
    /// Body bytes, in order (never empty).
    Data(Bytes),
    /// The request is complete: answer it now with
    /// [`ServerConn::respond`] or [`ServerConn::send_response`].
    End,
    /// The peer broke the protocol or a limit; the machine has queued the
    /// error response (unless [`Error::Truncated`] with nothing to answer)
    /// and the connection closes once it is written.
    Rejected(Error),
}

/// The connection's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Waiting for a request (closes silently) or for body bytes (408).
    Idle,
    /// From the first byte of a head to its end (408).
    Header,
    /// From the end of a head to the end of its body (408).
    Body,
}

impl TimerKind for Timer {
    const COUNT: usize = 3;
    const ALL: &'static [Timer] = &[Timer::Idle, Timer::Header, Timer::Body];
    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sending {
    /// The head is written; this many body bytes are still owed.
    Fixed(u64),
    /// Chunked framing.
    Chunked,
    /// HTTP/1.0 with unknown length: raw bytes, end of body = close.
    UntilClose,
    /// HEAD request: the body is not sent.
    Discard,
}

/// What the current request says about its response and the connection,
/// from its head until its response is finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Exchange {
    /// A HEAD request: the response's body is not sent.
    head: bool,
    /// The connection stays open after this exchange: what the request
    /// asked for, until the response head decides (then what it says).
    keep_alive: bool,
    /// The request's version, which decides the response's framing.
    version: Version,
    /// The peer ended its side while the response was owed.
    peer_eof: bool,
}

#[derive(Debug)]
enum State {
    /// Reading (or waiting for) a request head.
    Head,
    /// Reading a request body.
    Body { decoder: BodyDecoder, exchange: Exchange },
    /// The request is complete; the application owes a response.
    Await(Exchange),
    /// A response body is being sent.
    Sending { sending: Sending, exchange: Exchange },
    /// Nothing more will be read or written; flush and close.
    Closed,
}

/// One HTTP/1.1 server connection (RFC 9112), as a [`Session`].
///
/// It parses requests ([`Event::Request`], [`Event::Data`], [`Event::End`]),
/// one at a time: while a response is owed it stops reading
/// ([`Session::wants_read`] is false), so pipelined requests wait in the
/// driver's buffer and are answered in order. It decides every rejection
/// itself (400, 408, 413, 414, 431, 501, 505: see [`Error::status`]),
/// answers it with `Connection: close`, and closes. It sends `100 Continue`
/// to a request that expects it, writes `Content-Length` or chunked framing,
/// omits the body of a HEAD response, and adds `Connection: close` when the
/// exchange ends the connection.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use sansnet_proto::http::{Event, Limits, ServerConn};
/// use sansnet_proto::{Instant, Session};
///
/// let now = Instant::ZERO;
/// let mut conn = ServerConn::new(Limits::default(), now);
/// let mut buf = BytesMut::from(&b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"[..]);
/// conn.handle_read(now, &mut buf);
/// assert!(matches!(conn.poll_event(), Some(Event::Request(r)) if r.target() == "/up"));
/// assert_eq!(conn.poll_event(), Some(Event::Data(Bytes::from("abc"))));
/// assert_eq!(conn.poll_event(), Some(Event::End));
/// conn.respond(201, &[("Content-Type", b"text/plain")], Bytes::from("ok")).unwrap();
/// let mut wire = Vec::new();
/// while let Some(b) = conn.poll_transmit() { wire.extend_from_slice(&b); }
/// assert_eq!(
///     wire,
///     b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
/// );
/// ```
///
/// **Bodies from a file.** Where the driver copies from files to the
/// socket itself ([`can_splice`](ServerConn::can_splice)), a body (or part
/// of one) can be queued as a [`Splice`] of a [`Source`] the application
/// opened, with [`send_splice`](ServerConn::send_splice), instead of as
/// bytes: the same framing, `Content-Length` or chunked, the same HEAD
/// rule; the machine never sees the bytes.
#[derive(Debug)]
pub struct ServerConn {
    limits: Limits,
    parser: HeadParser,
    state: State,
    timers: Timers<Timer, 3>,
    events: VecDeque<Event>,
    out: Outgoing,
    /// The driver performs splices ([`Session::enable_splice`]).
    splice: bool,
    /// The latest `now` passed in; commands arm timers from it.
    now: Instant,
    /// The application asked to close after the current or next response.
    close_requested: bool,
    requests: u64,
}

impl ServerConn {
    /// A connection opened at `now`, waiting for its first request.
    pub fn new(limits: Limits, now: Instant) -> ServerConn {
        let mut timers = Timers::new();
        timers.set(Timer::Idle, now + limits.idle_timeout);
        ServerConn {
            parser: HeadParser::new(&limits),
            limits,
            state: State::Head,
            timers,
            events: VecDeque::new(),
            out: Outgoing::default(),
            splice: false,
            now,
            close_requested: false,
            requests: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many requests were delivered ([`Event::Request`]) on this
    /// connection.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Bytes queued for [`Session::poll_transmit`] and not yet polled. An
    /// application streaming a large body pauses while this is high.
    /// Queued splices do not count: they hold no bytes.
    pub fn transmit_queued(&self) -> usize {
        self.out.queued()
    }

    /// Whether the driver performs splices, so that
    /// [`send_splice`](Self::send_splice) may be used (see
    /// [`Session::enable_splice`]). A driver behind a wrapper that needs the
    /// bytes (TLS) never enables them.
    pub fn can_splice(&self) -> bool {
        self.splice
    }

    /// Whether a response is owed ([`Event::End`] was delivered and the
    /// response is not finished).
    pub fn awaiting_response(&self) -> bool {
        matches!(self.state, State::Await(_) | State::Sending { .. })
    }

    /// Closes the connection after the current (or next) response, adding
    /// `Connection: close` to it.
    pub fn close_after_response(&mut self) {
        self.close_requested = true;
    }

    /// Sends a whole response: head, `body`, end.
    pub fn respond(
        &mut self,
        status: u16,
        fields: &[(&str, &[u8])],
        body: Bytes,
    ) -> Result<(), Misuse> {
        let framing = if body.is_empty() {
            ResponseBody::Empty
        } else {
            ResponseBody::Length(body.len() as u64)
        };
        self.send_response(status, fields, framing)?;
        if !body.is_empty() {
            self.send_data(body)?;
        }
        self.finish()
    }

    /// Sends a response head with the application's `fields`; the machine
    /// adds the framing field (`Content-Length` or `Transfer-Encoding`)
    /// and `Connection` as needed. Follow with [`send_data`](Self::send_data)
    /// and [`finish`](Self::finish).
    pub fn send_response(
        &mut self,
        status: u16,
        fields: &[(&str, &[u8])],
        body: ResponseBody,
    ) -> Result<(), Misuse> {
        let mut exchange = match self.state {
            State::Await(exchange) => exchange,
            State::Sending { .. } => return Err(Misuse::WrongState),
            State::Head | State::Body { .. } | State::Closed => return Err(Misuse::NotReady),
        };
        if !(200..=999).contains(&status) {
            return Err(Misuse::BadStatus);
        }
        check_fields(fields)?;
        let no_body = bodyless_status(status);
        if no_body && !matches!(body, ResponseBody::Empty) {
            return Err(Misuse::BodyNotAllowed);
        }
        let mut close = self.close_requested || exchange.peer_eof || !exchange.keep_alive;
        let (framing, sending) = match body {
            _ if no_body => (Framing::None, Sending::Fixed(0)),
            ResponseBody::Empty => (Framing::Length(0), Sending::Fixed(0)),
            ResponseBody::Length(n) => (Framing::Length(n), Sending::Fixed(n)),
            ResponseBody::Chunked if exchange.version == Version::Http10 => {
                close = true;
                (Framing::None, Sending::UntilClose)
            }
            ResponseBody::Chunked => (Framing::Chunked, Sending::Chunked),
        };
        let connection = match (close, exchange.version) {
            (true, _) => Some("close"),
            (false, Version::Http10) => Some("keep-alive"),
            (false, Version::Http11) => None,
        };
        self.write_head(status, fields, framing, connection);
        exchange.keep_alive = !close;
        let sending = if exchange.head { Sending::Discard } else { sending };
        self.state = State::Sending { sending, exchange };
        Ok(())
    }

    /// Sends body bytes of the response started by
    /// [`send_response`](Self::send_response). On a HEAD request they are
    /// dropped.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), Misuse> {
        let n = data.len() as u64;
        self.send_body(Transmit::Bytes(data), n)
    }

    /// Sends `len` body bytes of `source` from `offset`, which the driver
    /// copies from the source itself (a [`Splice`]), as
    /// [`send_data`](Self::send_data) sends bytes: the same framing, and
    /// nothing on a HEAD request. Only where [`can_splice`](Self::can_splice)
    /// (else [`Misuse::NoSplice`]). If the source turns out shorter, the
    /// driver closes the connection after what it had.
    pub fn send_splice(&mut self, source: Source, offset: u64, len: u64) -> Result<(), Misuse> {
        if !self.splice {
            return Err(Misuse::NoSplice);
        }
        self.send_body(Transmit::Splice(Splice { source, offset, len }), len)
    }

    /// Sends `n` body bytes, `piece`, framed as the response says.
    fn send_body(&mut self, piece: Transmit, n: u64) -> Result<(), Misuse> {
        let State::Sending { sending, exchange } = self.state else {
            return Err(Misuse::WrongState);
        };
        if n == 0 {
            return Ok(());
        }
        match sending {
            Sending::Fixed(left) => {
                if n > left {
                    return Err(Misuse::BodyTooLong);
                }
                self.state = State::Sending { sending: Sending::Fixed(left - n), exchange };
                self.out.push(piece);
            }
            Sending::Chunked => {
                self.out.write(18, |buf| {
                    response::put_hex(buf, n);
                    buf.extend_from_slice(b"\r\n");
                });
                self.out.push(piece);
                self.out.push_bytes(Bytes::from_static(b"\r\n"));
            }
            Sending::UntilClose => self.out.push(piece),
            Sending::Discard => {}
        }
        Ok(())
    }

    /// Ends the response. The connection then reads the next request, or
    /// closes if this exchange ends it.
    pub fn finish(&mut self) -> Result<(), Misuse> {
        let State::Sending { sending, exchange } = self.state else {
            return Err(Misuse::WrongState);
        };
        match sending {
            Sending::Fixed(0) | Sending::UntilClose | Sending::Discard => {}
            Sending::Fixed(_) => return Err(Misuse::BodyIncomplete),
            Sending::Chunked => self.out.push_bytes(Bytes::from_static(b"0\r\n\r\n")),
        }
        if !exchange.keep_alive || exchange.peer_eof {
            self.close();
        } else {
            self.state = State::Head;
            self.timers.set(Timer::Idle, self.now + self.limits.idle_timeout);
        }
        Ok(())
    }

    /// Gives up on the response being sent (its source failed midway):
    /// what is queued is still written, then the connection closes, so the
    /// client sees a body shorter than announced rather than a hang.
    pub fn abort(&mut self) {
        self.close();
    }

    /// Writes a response head at the end of what is queued.
    fn write_head(
        &mut self,
        status: u16,
        fields: &[(&str, &[u8])],
        framing: Framing,
        connection: Option<&str>,
    ) {
        let max = response::head_len(status, fields, connection);
        self.out.write(max, |buf| write_head(buf, status, fields, framing, connection));
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.timers.clear_all();
    }

    /// Answers `e` with its status and `Connection: close`, then closes.
    fn reject(&mut self, e: Error) {
        if e != Error::Truncated
            || self.parser.has_partial()
            || matches!(self.state, State::Body { .. })
        {
            let status = e.status();
            let text = format!("{} {}: {}\n", status, response::reason(status), e);
            self.write_head(
                status,
                &[("Content-Type", b"text/plain; charset=utf-8")],
                Framing::Length(text.len() as u64),
                Some("close"),
            );
            self.out.push_bytes(Bytes::from(text));
        }
        self.events.push_back(Event::Rejected(e));
        self.close();
    }

    /// A complete head: set up the body and tell the application.
    fn start_request(&mut self, head: RequestHead) {
        self.timers.clear(Timer::Header);
        let exchange = Exchange {
            head: head.is_head(),
            keep_alive: head.keep_alive(),
            version: head.version(),
            peer_eof: false,
        };
        match BodyDecoder::new(head.body_kind(), &self.limits) {
            Ok(decoder) => {
                let has_body = head.body_kind() != BodyKind::Length(0);
                if head.expects_continue() && has_body {
                    self.out.push_bytes(Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"));
                }
                if has_body {
                    self.timers.set(Timer::Idle, self.now + self.limits.idle_timeout);
                    self.timers.set(Timer::Body, self.now + self.limits.body_timeout);
                }
                self.requests += 1;
                self.state = State::Body { decoder, exchange };
                self.events.push_back(Event::Request(head));
            }
            Err(e) => self.reject(e),
        }
    }
}

impl Session for ServerConn {
    type Event = Event;

    fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
        self.now = now;
        loop {
            match &mut self.state {
                State::Head => {
                    if buf.is_empty() {
                        return;
                    }
                    if !self.parser.has_partial() {
                        self.timers.clear(Timer::Idle);
                        self.timers.set(Timer::Header, now + self.limits.header_timeout);
                    }
                    match self.parser.parse(buf) {
                        Ok(None) => return,
                        Ok(Some(n)) => {
                            let head = self.parser.take(buf.split_to(n).freeze());
                            self.start_request(head);
                        }
                        Err(e) => return self.reject(e),
                    }
                }
                State::Body { decoder, exchange } => match decoder.decode(buf) {
                    Ok(None) => return,
                    Ok(Some(BodyChunk::Data(data))) => {
                        self.timers.set(Timer::Idle, now + self.limits.idle_timeout);
                        self.events.push_back(Event::Data(data));
                    }
                    Ok(Some(BodyChunk::End)) => {
                        self.state = State::Await(*exchange);
                        self.timers.clear_all();
                        self.events.push_back(Event::End);
                    }
                    Err(e) => return self.reject(e),
                },
                State::Await(_) | State::Sending { .. } | State::Closed => return,
            }
        }
    }

    fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        match &mut self.state {
            State::Head if self.parser.has_partial() => self.reject(Error::Truncated),
            State::Head => self.close(),
            State::Body { .. } => self.reject(Error::Truncated),
            State::Await(exchange) | State::Sending { exchange, .. } => exchange.peer_eof = true,
            State::Closed => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some(timer) = self.timers.expired(now) {
            match (timer, &self.state) {
                (Timer::Header, State::Head) | (Timer::Idle | Timer::Body, State::Body { .. }) => {
                    self.reject(Error::Timeout)
                }
                (Timer::Idle, State::Head) if !self.parser.has_partial() => self.close(),
                _ => {}
            }
        }
    }

    /// Keeps the clock current for commands (a response finished from
    /// [`App::on_drained`](crate::App::on_drained) arms the idle timer
    /// from it), and counts the idle time between requests from the last
    /// byte written: without this, a response streamed for longer than the
    /// idle timeout was followed by an immediate idle close, its timer
    /// armed from the time of the request.
    fn handle_sent(&mut self, now: Instant, _n: usize) {
        self.now = self.now.max(now);
        if matches!(self.state, State::Head)
            && !self.parser.has_partial()
            && self.timers.get(Timer::Idle).is_some()
        {
            self.timers.set(Timer::Idle, self.now + self.limits.idle_timeout);
        }
    }

    /// The next bytes; `None` while a splice is next (queued only after
    /// [`enable_splice`](Session::enable_splice), which obliges the driver
    /// to drain [`poll_transmit_or_splice`](Session::poll_transmit_or_splice)).
    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.pop_bytes()
    }

    fn enable_splice(&mut self) {
        self.splice = true;
    }

    fn poll_transmit_or_splice(&mut self) -> Option<Transmit> {
        self.out.pop()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(_, at)| at)
    }

    fn wants_read(&self) -> bool {
        matches!(self.state, State::Head | State::Body { .. })
    }

    fn is_finished(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    fn is_idle(&self) -> bool {
        matches!(self.state, State::Head) && !self.parser.has_partial() && self.out.is_empty()
    }
}
