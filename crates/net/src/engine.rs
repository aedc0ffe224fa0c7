//! The connection engine: the steps every driver takes for one connection,
//! written once and without I/O.
//!
//! An [`Engine`] owns a connection's input buffer and its [`Outbox`]. The
//! driver asks it for the next [`Step`] and performs it: write these bytes,
//! read until a deadline, wait for the application's work, sleep, linger
//! and close, stop. It reports back what the I/O did ([`Engine::written`],
//! [`Engine::read`], [`Engine::eof`]) and asks again. Everything the core's
//! drain contract decides (firing timers, pumping events and transmits,
//! `handle_sent`, `is_finished`, `on_drained`, stopping an idle session on
//! shutdown, the stall and full-buffer errors) happens inside
//! [`Engine::step`], so the std and async drivers differ only in how they
//! wait and which system calls they make.
//!
//! The same holds for the rest of a server's loops: [`Admission`] is the
//! accept policy (the connection cap, the back-off after an accept error),
//! [`Linger`] the drain after a finished exchange, [`datagram_in`] and
//! [`datagram_out`] the datagram loop's bookkeeping, and [`EngineError`]
//! every error text a driver produces. The hub's reader and writer steps are
//! in [`crate::HubWriter`] and [`crate::reader_news`].
//!

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Waker};
use std::time::Duration;

use bytes::BytesMut;
use sansnet_proto::{App, Datagrams, Instant, Session};

use crate::{ConnCounter, ConnSlot, FilePiece, Front, Outbox, SPLICE_PIECE, fire_timers, pump};

/// Every error a driver makes up itself (the others come from the system).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineError {
    /// The session wants no input, has no deadline and the application no
    /// work in flight: nothing can ever move it again.
    Stalled,
    /// The input buffer reached its cap and the session consumed none of it.
    InputFull,
    /// A write did not finish within [`ServerConfig::write_timeout`](crate::ServerConfig::write_timeout)
    /// (the bytes it did take do not count as progress: see [`Step::Write`]).
    WriteStalled,
    /// The socket took zero bytes of a write.
    WriteZero,
    /// A connect (a scan's probe) did not finish within its timeout.
    ConnectTimedOut,
    /// A session asked for a splice from a source the driver cannot send
    /// from (not a `std::fs::File`).
    UnknownSource,
}

impl EngineError {
    /// The error's text.
    pub fn text(self) -> &'static str {
        match self {
            EngineError::Stalled => "session stalled: no input wanted, no deadline",
            EngineError::InputFull => "input buffer full and the session consumed nothing",
            EngineError::WriteStalled => "write stalled",
            EngineError::WriteZero => "write zero",
            EngineError::ConnectTimedOut => "connect timed out",
            EngineError::UnknownSource => "splice from a source that is not a file",
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl std::error::Error for EngineError {}

impl From<EngineError> for io::Error {
    /// `TimedOut` for a stalled write or connect, `WriteZero` for a zero
    /// write, else `Other`.
    fn from(e: EngineError) -> io::Error {
        match e {
            EngineError::WriteStalled | EngineError::ConnectTimedOut => {
                io::Error::new(io::ErrorKind::TimedOut, e.text())
            }
            EngineError::WriteZero => io::ErrorKind::WriteZero.into(),
            EngineError::Stalled | EngineError::InputFull | EngineError::UnknownSource => {
                io::Error::other(e.text())
            }
        }
    }
}

/// What the driver does next for a connection; see [`Engine::step`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Write (a prefix of) these bytes, giving up at the deadline (the
    /// second field), then report with [`Engine::written`]. The deadline is
    /// the write timeout from the moment these bytes were first asked for,
    /// and a partial write does not move it: the chunk must be written
    /// whole by then, else the connection ends with
    /// [`EngineError::WriteStalled`], as a blocking write with a send
    /// timeout gives up after the timeout however much it wrote. (A peer
    /// that reads a few bytes now and then cannot hold a connection past
    /// the write timeout.)
    Write(&'a [u8], Instant),
    /// Send (a prefix of) this piece of a file, giving up at the deadline
    /// ([`FilePiece::send_to`]: `sendfile(2)` where it can), then report
    /// with [`Engine::written`] like a write; 0 bytes means the file has
    /// none left there (it shrank), and the connection is closed after
    /// what was sent. Only from an engine made [`splicing`](Engine::splicing).
    /// The deadline follows the rule of [`Step::Write`], per piece of at
    /// most [`SPLICE_PIECE`] bytes.
    Splice(FilePiece<'a>, Instant),
    /// Read, waiting at most until `until`, and report with
    /// [`Engine::read`] or [`Engine::eof`] (a read that timed out reports
    /// nothing). While `idle`, a shutdown ends the connection instead
    /// (the driver returns as for [`Step::Done`]). While `work`, the
    /// application's work in flight ([`App::poll_work`]) may end the wait
    /// too, where the driver can wait for both.
    Read {
        /// The session's next deadline.
        until: Option<Instant>,
        /// The session is between exchanges and nothing is buffered.
        idle: bool,
        /// The application has work in flight.
        work: bool,
    },
    /// The session wants no input: wait for the application's work in
    /// flight ([`App::poll_work`]) or until `until`, whichever comes first.
    Work {
        /// The session's next deadline.
        until: Option<Instant>,
    },
    /// Only a deadline can move the session: sleep until `until`.
    Sleep {
        /// The session's next deadline.
        until: Instant,
    },
    /// The exchange is over and everything is written: close with a
    /// [`Linger`].
    Linger,
    /// Stop: shutdown came while the session was idle.
    Done,
    /// Stop with this error.
    Fail(EngineError),
}

/// Where the engine is between two calls of [`Engine::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A new round: fire timers, pump, then write.
    Round,
    /// Writing the outbox; then decide what to wait for.
    Flushing,
}

/// One connection's steps, without I/O: it owns the input buffer and the
/// [`Outbox`], decides (in [`Engine::step`]) and hears what the driver's
/// I/O did. See the [crate docs](crate) for where it fits.
///
/// A driver's loop: here over an in-memory peer that sends `hello` and
/// ends its side. A real driver writes to and reads from its socket where
/// this one copies bytes, and waits where the step says so.
///
/// ```
/// use sansnet_net::{Engine, Step};
/// use sansnet_proto::{echo::Echo, Instant};
///
/// let now = Instant::ZERO;
/// let mut session = Echo::new(now);
/// let mut app = |_: &mut Echo, _| {};
/// let mut engine = Engine::new(64 * 1024);
/// let (mut peer_sends, mut wire): (&[u8], Vec<u8>) = (b"hello", Vec::new());
/// loop {
///     match engine.step(&mut session, &mut app, now, false) {
///         Step::Write(chunk, _deadline) => {
///             wire.extend_from_slice(chunk); // the socket took it all
///             let n = chunk.len();
///             engine.written(&mut session, now, n)?;
///         }
///         Step::Read { .. } if peer_sends.is_empty() => engine.eof(&mut session, now),
///         Step::Read { .. } => engine.read(std::mem::take(&mut peer_sends)),
///         Step::Linger => break, // shut the write side, drain, close
///         other => panic!("not in this exchange: {other:?}"),
///     }
/// }
/// assert_eq!(wire, b"hello");
/// # Ok::<(), sansnet_net::EngineError>(())
/// ```
#[derive(Debug)]
pub struct Engine {
    inbuf: BytesMut,
    out: Outbox,
    cap: usize,
    /// Made by [`Engine::blocking`].
    blocking: bool,
    phase: Phase,
    deadline: WriteDeadline,
    /// The driver performs splices ([`Engine::splicing`]), and whether the
    /// session was told.
    splice: bool,
    offered: bool,
    /// A splice found its file short: the response cannot be completed,
    /// the connection closes after what was sent.
    cut: bool,
    /// What is left of the splice's piece being sent (0 between pieces):
    /// the piece, not what is left of the splice, is what must be sent
    /// by its deadline.
    piece_left: usize,
}

/// The write timeout's rule, written once for the [`Engine`] and the
/// [`HubWriter`](crate::HubWriter): a chunk must be written whole by the
/// deadline set when it was first asked for; bytes taken before then do
/// not move it (see [`Step::Write`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriteDeadline {
    timeout: Duration,
    /// The chunk being written: its length, and its deadline (`None`
    /// between chunks).
    writing: Option<(usize, Instant)>,
}

impl WriteDeadline {
    /// `timeout` per chunk.
    pub(crate) fn new(timeout: Duration) -> WriteDeadline {
        WriteDeadline { timeout, writing: None }
    }

    /// A chunk of `len` bytes is asked for at `now` (again, if part of it
    /// was written): its deadline.
    pub(crate) fn ask(&mut self, now: Instant, len: usize) -> Instant {
        let until = self.writing.map_or(now + self.timeout, |(_, until)| until);
        self.writing = Some((len, until));
        until
    }

    /// `n` bytes (more than zero) of the chunk asked for were written at
    /// `now`: a stall if that is not all of it and the deadline has come.
    pub(crate) fn written(&mut self, now: Instant, n: usize) -> Result<(), EngineError> {
        match self.writing {
            Some((len, _)) if n >= len => self.writing = None,
            Some((_, until)) if now >= until => return Err(EngineError::WriteStalled),
            _ => {}
        }
        Ok(())
    }

    /// Nothing is being written any more.
    pub(crate) fn clear(&mut self) {
        self.writing = None;
    }
}

impl Engine {
    /// An engine for an async driver, buffering at most `read_buffer`
    /// bytes of input (at least 1 KiB) that the session has not consumed.
    /// The driver waits for the application's work beside the socket, and
    /// an idle connection holds no input buffer (thousands of idle tasks
    /// cost next to no memory).
    pub fn new(read_buffer: usize) -> Engine {
        Engine {
            inbuf: BytesMut::new(),
            out: Outbox::new(),
            cap: Engine::read_cap(read_buffer),
            blocking: false,
            phase: Phase::Round,
            deadline: WriteDeadline::new(crate::ServerConfig::default().write_timeout),
            splice: false,
            offered: false,
            cut: false,
            piece_left: 0,
        }
    }

    /// The driver performs [`Step::Splice`]: the session is told
    /// ([`Session::enable_splice`]) before its first round, and may then
    /// queue splices of files instead of their bytes.
    pub fn splicing(mut self) -> Engine {
        self.splice = true;
        self
    }

    /// Gives each chunk [`Step::Write`] asks for `timeout` to be written
    /// whole (default: [`ServerConfig::write_timeout`](crate::ServerConfig::write_timeout)'s
    /// default, 30 s).
    pub fn with_write_timeout(mut self, timeout: Duration) -> Engine {
        self.deadline = WriteDeadline::new(timeout);
        self
    }

    /// An engine for a thread-per-connection driver, which cannot wait for
    /// the application's work while it waits in a read: the engine polls
    /// finished work (with a waker that does nothing) at the start of every
    /// round. An idle connection keeps its input buffer for the next
    /// request (its thread's stack and read buffer cost more anyway).
    pub fn blocking(read_buffer: usize) -> Engine {
        Engine { blocking: true, ..Engine::new(read_buffer) }
    }

    /// The input cap for a configured read buffer: the buffer, at least 1 KiB.
    pub fn read_cap(read_buffer: usize) -> usize {
        read_buffer.max(1024)
    }

    /// The next step. `now` is the driver's clock; `shutdown` whether the
    /// server's shutdown was triggered.
    ///
    /// A round fires due timers, pumps the session (input, events to the
    /// application, transmits into the outbox) and asks for every queued
    /// byte to be written ([`Step::Write`], each reported with
    /// [`written`](Self::written)). Then: a finished session lingers; else
    /// the application hears `on_drained`, and if that moved anything the
    /// round starts again; an idle session stops on shutdown; a session
    /// that wants no input waits for work or its deadline (or fails as
    /// stalled); one that wants input reads, unless its buffer is full.
    pub fn step<S: Session, A: App<S>>(
        &mut self,
        session: &mut S,
        app: &mut A,
        now: Instant,
        shutdown: bool,
    ) -> Step<'_> {
        if self.cut {
            return Step::Linger;
        }
        if self.splice && !self.offered {
            self.offered = true;
            session.enable_splice();
        }
        loop {
            if self.phase == Phase::Round {
                fire_timers(session, now);
                if self.blocking && app.is_working() {
                    // Work that finished meanwhile (never waited for here).
                    let _ = app.poll_work(session, &mut Context::from_waker(Waker::noop()));
                }
                pump(session, app, &mut self.inbuf, now, &mut self.out);
                self.phase = Phase::Flushing;
            }
            if !self.out.is_empty() {
                break;
            }
            if session.is_finished() {
                return Step::Linger;
            }
            app.on_drained(session);
            if pump(session, app, &mut self.inbuf, now, &mut self.out) {
                self.phase = Phase::Round;
                continue;
            }
            let idle = session.is_idle() && self.inbuf.is_empty();
            if shutdown && idle {
                return Step::Done;
            }
            if idle && !self.blocking && self.inbuf.capacity() > 0 {
                self.inbuf = BytesMut::new(); // hold no memory while waiting
            }
            self.phase = Phase::Round;
            let until = session.poll_timeout();
            let work = app.is_working();
            if !session.wants_read() {
                return match (work, until) {
                    (true, _) => Step::Work { until },
                    (false, Some(until)) => Step::Sleep { until },
                    (false, None) => Step::Fail(EngineError::Stalled),
                };
            }
            if self.inbuf.len() >= self.cap {
                return Step::Fail(EngineError::InputFull);
            }
            return Step::Read { until, idle, work };
        }
        match self.out.front_any() {
            Some(Front::Bytes(chunk)) => Step::Write(chunk, self.deadline.ask(now, chunk.len())),
            Some(Front::Splice(sp)) => {
                let Some(file) = sp.source.downcast_ref::<std::fs::File>() else {
                    return Step::Fail(EngineError::UnknownSource);
                };
                let left = usize::try_from(sp.len).unwrap_or(usize::MAX);
                if self.piece_left == 0 {
                    self.piece_left = left.min(SPLICE_PIECE);
                }
                let len = self.piece_left.min(left);
                let piece = FilePiece { file, offset: sp.offset, len };
                Step::Splice(piece, self.deadline.ask(now, len))
            }
            None => Step::Fail(EngineError::WriteZero), // not reached: the outbox is not empty
        }
    }

    /// `n` bytes of the last [`Step::Write`] or [`Step::Splice`] were
    /// written at `now`: the outbox moves on and the session hears
    /// `handle_sent`. Zero bytes is [`EngineError::WriteZero`] for a write;
    /// for a splice it means the file came up short: what was sent stays
    /// sent, nothing more is written, and the next step is
    /// [`Step::Linger`] (the peer sees a short body and the end of the
    /// stream). Part of the chunk at or after its deadline is
    /// [`EngineError::WriteStalled`] (see [`Step::Write`]).
    pub fn written<S: Session>(
        &mut self,
        session: &mut S,
        now: Instant,
        n: usize,
    ) -> Result<(), EngineError> {
        let front = match self.out.front_any() {
            Some(Front::Bytes(b)) => b.len(),
            Some(Front::Splice(sp)) if n == 0 => {
                tracing::warn!(
                    "the file ended {} bytes short of its splice; closing after what was sent",
                    sp.len
                );
                self.out.clear();
                self.deadline.clear();
                self.cut = true;
                return Ok(());
            }
            Some(Front::Splice(_)) => {
                let piece = self.piece_left;
                self.piece_left -= n.min(piece);
                piece
            }
            None => 0,
        };
        if n == 0 {
            return Err(EngineError::WriteZero);
        }
        self.deadline.written(now, n)?;
        let n = n.min(front);
        self.out.advance(n);
        session.handle_sent(now, n);
        Ok(())
    }

    /// Bytes read from the peer, for the session to consume.
    pub fn read(&mut self, bytes: &[u8]) {
        self.inbuf.extend_from_slice(bytes);
    }

    /// The peer ended its side of the stream.
    pub fn eof<S: Session>(&mut self, session: &mut S, now: Instant) {
        session.handle_eof(now);
    }

    /// Bytes read but not yet consumed by the session.
    pub fn buffered(&self) -> usize {
        self.inbuf.len()
    }

    /// Bytes queued but not yet written.
    pub fn unsent(&self) -> usize {
        self.out.len()
    }
}

/// Closing after a finished exchange without losing the last response:
/// shut the write side, then read (and drop) what the peer still sends,
/// up to [`Linger::BYTES`] for up to [`Linger::TIME`], so that the kernel
/// does not answer it with a reset that could destroy the response in
/// flight.
#[derive(Debug)]
pub struct Linger {
    left: usize,
}

impl Default for Linger {
    fn default() -> Self {
        Linger::new()
    }
}

impl Linger {
    /// The most a lingering close drains.
    pub const BYTES: usize = 256 * 1024;
    /// How long a lingering close waits for the peer.
    pub const TIME: Duration = Duration::from_millis(100);

    /// A close that has drained nothing yet.
    pub fn new() -> Linger {
        Linger { left: Linger::BYTES }
    }

    /// One drain read's result (after shutting the write side); whether to
    /// read again. The end of the stream, an error or a timeout ends it.
    pub fn drained(&mut self, read: io::Result<usize>) -> bool {
        match read {
            Ok(n) if n > 0 => {
                self.left = self.left.saturating_sub(n);
                self.left > 0
            }
            _ => false,
        }
    }
}

/// The accept policy every server shares: at most
/// [`ServerConfig::max_connections`](crate::ServerConfig::max_connections)
/// connections at once, and a pause after an accept error.
#[derive(Clone, Debug)]
pub struct Admission {
    counter: ConnCounter,
    max: usize,
}

/// What to do with one accept's result; see [`Admission::admit`].
#[derive(Debug)]
pub enum Admit<T> {
    /// Serve the connection; dropping the slot frees it.
    Serve(T, ConnSlot),
    /// The cap is reached: the connection was dropped (closed).
    Refused,
    /// Accept failed (out of descriptors, say): wait this long before the
    /// next accept instead of spinning.
    BackOff(Duration),
}

impl Admission {
    /// How long to pause after an accept error.
    pub const BACK_OFF: Duration = Duration::from_millis(10);

    /// At most `max_connections` at once.
    pub fn new(max_connections: usize) -> Admission {
        Admission { counter: ConnCounter::default(), max: max_connections }
    }

    /// Decides about one accept's result.
    pub fn admit<T>(&self, accepted: io::Result<T>) -> Admit<T> {
        match accepted {
            Ok(conn) => match self.counter.try_acquire(self.max) {
                Some(slot) => Admit::Serve(conn, slot),
                None => {
                    tracing::debug!("connection cap reached, closing a new connection");
                    Admit::Refused
                }
            },
            Err(e) => {
                tracing::warn!("accept: {e}");
                Admit::BackOff(Admission::BACK_OFF)
            }
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counter.current()
    }
}

/// Logs how a served connection ended (at debug level: a peer that resets
/// or stalls is routine for a server).
pub fn connection_ended(peer: &str, result: io::Result<()>) {
    if let Err(e) = result {
        tracing::debug!("connection {peer}: {e}");
    }
}

/// The datagram loop's start: the clock its deadlines are on, `machine`
/// told the address it serves on (its loop protection needs it), and the
/// receive buffer (64 KiB, the largest datagram).
pub fn datagram_start<D: Datagrams>(
    machine: &mut D,
    socket: &std::net::UdpSocket,
) -> io::Result<(crate::Clock, Vec<u8>)> {
    machine.handle_bound(socket.local_addr()?);
    Ok((crate::Clock::new(), vec![0u8; 64 * 1024]))
}

/// The datagram loop's input half: one receive's result, fed to `machine`
/// (a failed receive is logged; a timeout, an interrupt or "would block"
/// is not).
pub fn datagram_in<D: Datagrams>(
    machine: &mut D,
    now: Instant,
    received: io::Result<(usize, SocketAddr)>,
    buf: &[u8],
) {
    match received {
        Ok((n, from)) => machine.handle_datagram(now, from, &buf[..n.min(buf.len())]),
        Err(e) if is_quiet(&e) => {}
        Err(e) => tracing::debug!("udp recv: {e}"),
    }
}

/// The datagram loop's output half: the result of sending one of the
/// machine's datagrams to `to` (a failure is logged and the loop goes on).
pub fn datagram_out(to: SocketAddr, sent: io::Result<usize>) {
    if let Err(e) = sent {
        tracing::debug!("udp send to {to}: {e}");
    }
}

/// Errors of a read or write that only mean "nothing yet" (would block,
/// timed out, interrupted).
pub fn is_quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Buf, Bytes};
    use std::task::Poll;

    /// A scripted session: echoes what it reads, on a simulated clock.
    #[derive(Debug, Default)]
    struct Toy {
        wants: bool,
        finished: bool,
        idle: bool,
        deadline: Option<Instant>,
        fired: Vec<Instant>,
        tx: Vec<Bytes>,
        sent: usize,
        eof: bool,
        /// Consume nothing (a head that never ends).
        stubborn: bool,
    }

    impl Session for Toy {
        type Event = Bytes;
        fn handle_read(&mut self, _now: Instant, buf: &mut BytesMut) {
            if !self.stubborn {
                let b = buf.split().freeze();
                self.tx.push(b);
            }
        }
        fn handle_eof(&mut self, _now: Instant) {
            self.eof = true;
            self.finished = true;
        }
        fn handle_timeout(&mut self, now: Instant) {
            if self.deadline.is_some_and(|d| d <= now) {
                self.fired.push(now);
                self.deadline = None;
            }
        }
        fn handle_sent(&mut self, _now: Instant, n: usize) {
            self.sent += n;
        }
        fn poll_transmit(&mut self) -> Option<Bytes> {
            (!self.tx.is_empty()).then(|| self.tx.remove(0))
        }
        fn poll_event(&mut self) -> Option<Bytes> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.deadline
        }
        fn wants_read(&self) -> bool {
            self.wants
        }
        fn is_finished(&self) -> bool {
            self.finished
        }
        fn is_idle(&self) -> bool {
            self.idle
        }
    }

    fn toy() -> Toy {
        Toy { wants: true, ..Toy::default() }
    }

    /// An application with optional work in flight.
    #[derive(Default)]
    struct Worker {
        working: bool,
        polls: usize,
        drained: usize,
    }

    impl App<Toy> for Worker {
        fn on_event(&mut self, _s: &mut Toy, _e: Bytes) {}
        fn on_drained(&mut self, _s: &mut Toy) {
            self.drained += 1;
        }
        fn is_working(&self) -> bool {
            self.working
        }
        fn poll_work(&mut self, s: &mut Toy, _cx: &mut Context<'_>) -> Poll<()> {
            self.polls += 1;
            self.working = false;
            s.tx.push(Bytes::from_static(b"done"));
            Poll::Ready(())
        }
    }

    const T0: Instant = Instant::ZERO;

    fn ms(n: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(n)
    }

    /// Writes everything the engine asks for, `max` bytes a call; returns
    /// the bytes and the step that followed.
    fn flush(e: &mut Engine, s: &mut Toy, a: &mut Worker, now: Instant, max: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        loop {
            let n = match e.step(s, a, now, false) {
                Step::Write(chunk, _) => {
                    let n = chunk.len().min(max);
                    wire.extend_from_slice(&chunk[..n]);
                    n
                }
                _ => return wire,
            };
            e.written(s, now, n).unwrap();
        }
    }

    #[test]
    fn an_idle_session_reads_without_a_deadline() {
        let (mut e, mut s, mut a) = (Engine::new(4096), toy(), Worker::default());
        s.idle = true;
        assert_eq!(
            e.step(&mut s, &mut a, T0, false),
            Step::Read { until: None, idle: true, work: false }
        );
    }

    #[test]
    fn writes_advance_the_outbox_and_call_handle_sent() {
        let (mut e, mut s, mut a) = (Engine::new(4096), toy(), Worker::default());
        e.read(b"hello world");
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Write(b"hello world", _)));
        e.written(&mut s, T0, 6).unwrap();
        assert_eq!((s.sent, e.unsent()), (6, 5));
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Write(b"world", _)));
        assert_eq!(e.written(&mut s, T0, 0), Err(EngineError::WriteZero));
        e.written(&mut s, T0, 5).unwrap();
        assert_eq!(s.sent, 11);
        // Everything written: the application hears on_drained, then a read.
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Read { .. }));
        assert_eq!(a.drained, 1);
        // Written in small pieces, the bytes arrive whole and in order.
        e.read(b"abcdefghij");
        assert_eq!(flush(&mut e, &mut s, &mut a, T0, 3), b"abcdefghij");
        assert_eq!(s.sent, 21);
    }

    #[test]
    fn a_trickled_write_stalls_at_its_deadline_whatever_it_took() {
        let (mut e, mut s, mut a) = (Engine::new(4096), toy(), Worker::default());
        e = e.with_write_timeout(Duration::from_millis(1000));
        e.read(&[b'x'; 100]);
        // The deadline is set when the chunk is first asked for...
        assert!(
            matches!(e.step(&mut s, &mut a, ms(10), false), Step::Write(_, t) if t == ms(1010))
        );
        // ... and a few bytes taken now and then do not move it.
        e.written(&mut s, ms(500), 10).unwrap();
        assert!(
            matches!(e.step(&mut s, &mut a, ms(500), false), Step::Write(c, t) if c.len() == 90 && t == ms(1010))
        );
        e.written(&mut s, ms(900), 10).unwrap();
        assert!(
            matches!(e.step(&mut s, &mut a, ms(1010), false), Step::Write(_, t) if t == ms(1010))
        );
        assert_eq!(e.written(&mut s, ms(1010), 10), Err(EngineError::WriteStalled));
        // The rest of a chunk written whole, even late, is no stall; the
        // next chunk gets a deadline of its own.
        let (mut e, mut s) =
            (Engine::new(4096).with_write_timeout(Duration::from_millis(1000)), toy());
        e.read(b"abc");
        assert!(matches!(e.step(&mut s, &mut a, ms(0), false), Step::Write(_, t) if t == ms(1000)));
        e.written(&mut s, ms(300), 1).unwrap();
        assert!(matches!(e.step(&mut s, &mut a, ms(300), false), Step::Write(b"bc", _)));
        e.written(&mut s, ms(1200), 2).unwrap();
        assert!(matches!(e.step(&mut s, &mut a, ms(1200), false), Step::Read { .. }));
        e.read(b"d");
        assert!(
            matches!(e.step(&mut s, &mut a, ms(1300), false), Step::Write(b"d", t) if t == ms(2300))
        );
    }

    #[test]
    fn a_finished_session_lingers_after_its_last_bytes() {
        let (mut e, mut s, mut a) = (Engine::new(4096), toy(), Worker::default());
        e.read(b"bye");
        s.finished = true;
        assert_eq!(flush(&mut e, &mut s, &mut a, T0, 100), b"bye");
        assert_eq!(e.step(&mut s, &mut a, T0, false), Step::Linger);
        // The end of the stream finishes a toy: linger too.
        let (mut e, mut s) = (Engine::new(4096), toy());
        e.eof(&mut s, T0);
        assert_eq!(e.step(&mut s, &mut a, T0, false), Step::Linger);
        assert!(s.eof);
    }

    #[test]
    fn a_stalled_session_fails() {
        let (mut e, mut s, mut a) = (Engine::new(4096), toy(), Worker::default());
        s.wants = false;
        assert_eq!(e.step(&mut s, &mut a, T0, false), Step::Fail(EngineError::Stalled));
        let err = io::Error::from(EngineError::Stalled);
        assert_eq!(err.to_string(), "session stalled: no input wanted, no deadline");
    }

    #[test]
    fn a_session_waiting_for_its_deadline_sleeps_then_fires() {
        let (mut e, mut s, mut a) = (Engine::new(4096), toy(), Worker::default());
        s.wants = false;
        s.deadline = Some(ms(50));
        assert_eq!(e.step(&mut s, &mut a, T0, false), Step::Sleep { until: ms(50) });
        // Woken early: nothing fires, sleep again.
        assert_eq!(e.step(&mut s, &mut a, ms(20), false), Step::Sleep { until: ms(50) });
        // On time: the timer fires; no deadline is left and nothing can move it.
        assert_eq!(e.step(&mut s, &mut a, ms(50), false), Step::Fail(EngineError::Stalled));
        assert_eq!(s.fired, [ms(50)]);
        // A reading session carries its deadline in the read step.
        let (mut e, mut s) = (Engine::new(4096), toy());
        s.deadline = Some(ms(7));
        assert_eq!(
            e.step(&mut s, &mut a, T0, false),
            Step::Read { until: Some(ms(7)), idle: false, work: false }
        );
    }

    #[test]
    fn pending_work_is_a_work_step() {
        let (mut e, mut s) = (Engine::new(4096), toy());
        let mut a = Worker { working: true, ..Worker::default() };
        s.wants = false;
        s.deadline = Some(ms(9));
        assert_eq!(e.step(&mut s, &mut a, T0, false), Step::Work { until: Some(ms(9)) });
        assert_eq!(a.polls, 0, "the async driver polls the work while it waits");
        // While reading, the read step says work is in flight.
        s.wants = true;
        assert_eq!(
            e.step(&mut s, &mut a, T0, false),
            Step::Read { until: Some(ms(9)), idle: false, work: true }
        );
        // A driver that cannot wait for both has the engine poll each round.
        let mut e = Engine::blocking(4096);
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Write(b"done", _)));
        assert_eq!(a.polls, 1);
    }

    #[test]
    fn idle_and_shutdown_stops_but_a_busy_session_goes_on() {
        let (mut e, mut s, mut a) = (Engine::new(4096), toy(), Worker::default());
        s.idle = true;
        assert_eq!(e.step(&mut s, &mut a, T0, true), Step::Done);
        s.idle = false;
        assert!(matches!(e.step(&mut s, &mut a, T0, true), Step::Read { idle: false, .. }));
        // Idle, but with unconsumed bytes: not idle to the engine.
        s.idle = true;
        s.stubborn = true;
        e.read(b"GET");
        assert!(matches!(e.step(&mut s, &mut a, T0, true), Step::Read { idle: false, .. }));
    }

    #[test]
    fn an_idle_async_connection_holds_no_input_buffer() {
        for (mut e, kept) in [(Engine::new(4096), false), (Engine::blocking(4096), true)] {
            let (mut s, mut a) = (toy(), Worker::default());
            s.idle = true;
            e.inbuf.reserve(100);
            assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Read { idle: true, .. }));
            assert_eq!(e.inbuf.capacity() > 0, kept);
        }
    }

    #[test]
    fn a_full_input_buffer_fails() {
        let (mut e, mut s, mut a) = (Engine::new(10), toy(), Worker::default());
        s.stubborn = true;
        e.read(&[b'x'; 1023]);
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Read { .. }));
        e.read(b"x");
        assert_eq!(e.buffered(), 1024);
        assert_eq!(e.step(&mut s, &mut a, T0, false), Step::Fail(EngineError::InputFull));
    }

    #[test]
    fn linger_drains_up_to_its_budget() {
        let mut l = Linger::new();
        assert!(l.drained(Ok(4096)));
        assert!(!l.drained(Ok(0)));
        let mut l = Linger::new();
        assert!(!l.drained(Err(io::ErrorKind::WouldBlock.into())));
        let mut l = Linger::new();
        let mut reads = 0;
        while l.drained(Ok(64 * 1024)) {
            reads += 1;
        }
        assert_eq!(reads, 3, "the fourth 64 KiB read spends the 256 KiB");
    }

    #[test]
    fn admission_caps_and_backs_off() {
        let a = Admission::new(1);
        let Admit::Serve(_, slot) = a.admit(Ok(1)) else { panic!("first fits") };
        assert_eq!(a.open(), 1);
        assert!(matches!(a.admit(Ok(2)), Admit::Refused));
        drop(slot);
        assert!(matches!(a.admit(Ok(3)), Admit::Serve(3, _)));
        let err: io::Result<u8> = Err(io::Error::from_raw_os_error(libc::EMFILE));
        assert!(matches!(a.admit(err), Admit::BackOff(d) if d == Duration::from_millis(10)));
    }

    /// An HTTP connection whose application answers every request with a
    /// splice of `len` bytes of `file` (or its bytes, where the engine
    /// does not splice).
    fn spliced_http(
        file: &std::sync::Arc<std::fs::File>,
        len: u64,
    ) -> (sansnet_proto::http::ServerConn, impl App<sansnet_proto::http::ServerConn>) {
        use sansnet_proto::http::{Event, ResponseBody, ServerConn};
        let conn = ServerConn::new(Default::default(), T0);
        let file = file.clone();
        let app = move |c: &mut ServerConn, ev: Event| {
            if ev == Event::End {
                c.send_response(200, &[], ResponseBody::Length(len)).unwrap();
                if c.can_splice() {
                    c.send_splice(sansnet_proto::Source::new(file.clone()), 0, len).unwrap();
                } else {
                    c.send_data(Bytes::from(vec![b'b'; len as usize])).unwrap();
                }
                c.finish().unwrap();
            }
        };
        (conn, app)
    }

    fn temp_file(len: usize) -> std::sync::Arc<std::fs::File> {
        let path =
            std::env::temp_dir().join(format!("sansnet-engine-{}-{len}", std::process::id()));
        std::fs::write(&path, vec![b'f'; len]).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::sync::Arc::new(f)
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";

    /// A splicing engine (write timeout 1 s) over [`spliced_http`], its
    /// request read and its response head written.
    fn past_the_head(
        file: &std::sync::Arc<std::fs::File>,
        len: u64,
    ) -> (Engine, sansnet_proto::http::ServerConn, impl App<sansnet_proto::http::ServerConn>) {
        let (mut s, mut a) = spliced_http(file, len);
        let mut e = Engine::new(4096).splicing().with_write_timeout(Duration::from_millis(1000));
        e.read(GET);
        let Step::Write(head, _) = e.step(&mut s, &mut a, T0, false) else { panic!("the head") };
        let n = head.len();
        e.written(&mut s, T0, n).unwrap();
        (e, s, a)
    }

    #[test]
    fn a_splicing_engine_is_told_to_splice_and_others_get_bytes() {
        let file = temp_file(10);
        let (mut e, mut s, mut a) = past_the_head(&file, 10);
        let step = e.step(&mut s, &mut a, T0, false);
        assert!(
            matches!(step, Step::Splice(p, _) if std::ptr::eq(p.file, &*file) && p.offset == 0 && p.len == 10),
            "{step:?}"
        );
        e.written(&mut s, T0, 4).unwrap();
        let step = e.step(&mut s, &mut a, T0, false);
        assert!(matches!(step, Step::Splice(p, _) if p.offset == 4 && p.len == 6), "{step:?}");
        e.written(&mut s, T0, 6).unwrap();
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Read { .. }), "kept alive");
        // Not splicing: the same application sends bytes.
        let (mut s, mut a) = spliced_http(&file, 10);
        let mut e = Engine::new(4096);
        e.read(GET);
        let Step::Write(all, _) = e.step(&mut s, &mut a, T0, false) else { panic!("bytes") };
        assert!(all.ends_with(b"\r\n\r\nbbbbbbbbbb"));
    }

    #[test]
    fn a_splice_that_finds_its_file_short_closes_after_what_was_sent() {
        let file = temp_file(5);
        let (mut e, mut s, mut a) = past_the_head(&file, 10);
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Splice(..)));
        e.written(&mut s, T0, 5).unwrap();
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Splice(p, _) if p.offset == 5));
        e.written(&mut s, T0, 0).unwrap();
        e.read(GET); // a pipelined request is not answered after a cut body
        assert_eq!(e.step(&mut s, &mut a, T0, false), Step::Linger);
        assert_eq!(e.step(&mut s, &mut a, T0, false), Step::Linger);
    }

    #[test]
    fn a_long_splice_goes_in_pieces_each_with_its_own_deadline() {
        let file = temp_file(1);
        let len = 3 * SPLICE_PIECE as u64;
        let (mut e, mut s, mut a) = past_the_head(&file, len);
        let mut now = T0;
        let mut sent = 0;
        // Half a piece at a time, 600 ms apart: every piece is whole
        // within its second, though the splice takes three.
        while sent < len {
            let Step::Splice(p, until) = e.step(&mut s, &mut a, now, false) else { panic!() };
            assert!(p.len <= SPLICE_PIECE && until > now, "{p:?}");
            let half = (SPLICE_PIECE / 2).min(p.len);
            e.written(&mut s, now, half).unwrap();
            sent += half as u64;
            now += Duration::from_millis(600);
        }
        assert!(matches!(e.step(&mut s, &mut a, now, false), Step::Read { .. }));
        // A piece not whole by its deadline stalls, as a chunk of bytes does.
        let (mut e, mut s, mut a) = past_the_head(&file, len);
        assert!(matches!(e.step(&mut s, &mut a, T0, false), Step::Splice(..)));
        e.written(&mut s, ms(500), 10).unwrap();
        assert!(
            matches!(e.step(&mut s, &mut a, ms(1000), false), Step::Splice(_, t) if t == ms(1000))
        );
        assert_eq!(e.written(&mut s, ms(1000), 10), Err(EngineError::WriteStalled));
    }

    /// Echoes each datagram back to its sender.
    #[derive(Default)]
    struct Mirror(Vec<(SocketAddr, Bytes)>);

    impl Datagrams for Mirror {
        fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, data: &[u8]) {
            self.0.push((from, Bytes::copy_from_slice(data)));
        }
        fn poll_transmit(&mut self) -> Option<(SocketAddr, Bytes)> {
            self.0.pop()
        }
    }

    #[test]
    fn datagrams_in_feed_the_machine_and_errors_do_not() {
        let mut m = Mirror::default();
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        datagram_in(&mut m, T0, Ok((2, from)), b"hi!");
        datagram_in(&mut m, T0, Err(io::ErrorKind::WouldBlock.into()), b"");
        datagram_in(&mut m, T0, Err(io::ErrorKind::ConnectionRefused.into()), b"");
        let (to, mut data) = m.poll_transmit().unwrap();
        assert_eq!((to, data.copy_to_bytes(2)), (from, Bytes::from_static(b"hi")));
        assert!(m.poll_transmit().is_none());
        datagram_out(to, Err(io::ErrorKind::ConnectionRefused.into()));
    }
}
