//! One in-memory test harness for every machine: a [`Session`] wired to an
//! [`App`] ([`Conn`]), two sessions wired to each other ([`Pair`]), or a
//! [`Hub`] wired to many connections ([`HubConns`]), on a simulated clock.
//!
//! Public behind the `testing` cargo feature (and always compiled for the
//! crate's own unit tests). It is the drain contract of the
//! [`machine`](crate::machine) module written once, as a test driver:
//!
//! - input goes in whole, one byte at a time or in given pieces
//!   ([`Split`], [`pieces`]);
//! - each input is followed by a full drain: buffered bytes are offered
//!   while the machine wants them, events go to the application (which may
//!   issue commands), transmitted bytes are collected or kept for a link;
//! - time moves only when the test says so: [`Conn::advance`] jumps to the
//!   next deadline and fires it, [`Conn::timeout`] fires at a given instant,
//!   so timeouts are tested without sleeping;
//! - the contract is **asserted** after every step, so every test that uses
//!   the harness checks it for free: after a drain nothing is left to poll,
//!   the buffer only ever shrinks under `handle_read`, a finished session
//!   stays finished and wants no input, `handle_timeout(now)` leaves no
//!   deadline at or before `now`, a session that wants input keeps at most
//!   [`Conn::with_bound`] bytes unconsumed, and a drain settles.
//!
//! A panic names the broken rule and the connection (see
//! [`Conn::named`]).
//!
//! ```
//! use bytes::Bytes;
//! use core::time::Duration;
//! use sansnet_proto::http::{Event, Limits, ServerConn};
//! use sansnet_proto::testing::{Conn, Split};
//! use sansnet_proto::Instant;
//!
//! // A server connection and an application that answers every request.
//! let mut conn = Conn::new(ServerConn::new(Limits::default(), Instant::ZERO), Instant::ZERO);
//! let mut app = |c: &mut ServerConn, ev: Event| {
//!     if ev == Event::End {
//!         c.respond(200, &[], Bytes::from_static(b"hi")).unwrap();
//!     }
//! };
//! // Two pipelined requests, fed one byte at a time.
//! let input = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
//! conn.read_split(input, Split::Bytewise, &mut app);
//! let wire = conn.take_wire();
//! assert_eq!(wire.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count(), 2);
//!
//! // Then silence: the idle timer closes the connection, a minute later
//! // on the simulated clock.
//! assert_eq!(conn.advance(&mut app), Some(Instant::ZERO + Duration::from_secs(60)));
//! assert!(conn.session.is_finished() && conn.take_wire().is_empty());
//! # use sansnet_proto::Session;
//! ```

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use crate::{App, ConnId, Hub, Input, Instant, Output, Session, Transmit};

/// How many rounds a drain may take before the harness calls it a livelock.
const MAX_ROUNDS: usize = 100_000;

/// How a test cuts its input into reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split<'a> {
    /// One read with everything.
    Whole,
    /// One read per byte.
    Bytewise,
    /// Reads of these sizes, cycled (a size 0 counts as 1); the last read
    /// takes what is left. An empty list is one read.
    Sizes(&'a [usize]),
    /// Cut at these offsets (taken modulo `len + 1`, in any order): the
    /// pieces between consecutive cuts, empty ones included.
    At(&'a [usize]),
}

/// `input` cut as `split` says.
///
/// ```
/// use sansnet_proto::testing::{pieces, Split};
///
/// assert_eq!(pieces(b"abcde", Split::Sizes(&[2])), [&b"ab"[..], b"cd", b"e"]);
/// assert_eq!(pieces(b"abc", Split::At(&[1])), [&b"a"[..], b"bc"]);
/// assert_eq!(pieces(b"ab", Split::Bytewise), [&b"a"[..], b"b"]);
/// ```
pub fn pieces<'a>(input: &'a [u8], split: Split<'_>) -> Vec<&'a [u8]> {
    match split {
        Split::Whole => alloc::vec![input],
        Split::Bytewise => input.chunks(1).collect(),
        Split::Sizes([]) => alloc::vec![input],
        Split::Sizes(sizes) => {
            let mut out = Vec::new();
            let mut rest = input;
            let mut i = 0;
            while !rest.is_empty() {
                let n = sizes[i % sizes.len()].clamp(1, rest.len());
                i += 1;
                out.push(&rest[..n]);
                rest = &rest[n..];
            }
            out
        }
        Split::At(cuts) => {
            let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.push(input.len());
            let mut from = 0;
            cuts.iter()
                .map(|&cut| {
                    let piece = &input[from..cut];
                    from = cut;
                    piece
                })
                .collect()
        }
    }
}

/// Moves up to `max` bytes from the front of `queue` onto `out`; how many.
fn take(queue: &mut VecDeque<Bytes>, out: &mut BytesMut, max: usize) -> usize {
    let mut total = 0;
    while total < max {
        let Some(front) = queue.front_mut() else { break };
        let n = front.len().min(max - total);
        out.extend_from_slice(&front[..n]);
        if n == front.len() {
            queue.pop_front();
        } else {
            let _ = front.split_to(n);
        }
        total += n;
    }
    total
}

/// Where a drain is, for the watcher of [`Conn::drain_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Right after a `handle_read`, before the events it caused:
    /// `consumed` bytes of the stream were consumed so far.
    Read {
        /// Bytes consumed from the stream in all.
        consumed: u64,
    },
    /// After the round's events went to the application, before its
    /// transmitted bytes are taken: what the application queued at once.
    Events,
    /// The end of a round: every event and every transmitted byte so far
    /// was taken.
    Round,
}

/// Where a [`Conn`] puts the bytes its session transmits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// Written at once into the connection's wire ([`Conn::take_wire`]),
    /// without telling the session ([`Session::handle_sent`] is never
    /// called): a driver that does not count.
    Collect,
    /// Written at once into the wire and reported with
    /// [`Session::handle_sent`] at the current time.
    Report,
    /// Kept in order until the test (or a [`Pair`]) writes them with
    /// [`Conn::write_into`] or [`Conn::write`], which report them.
    Hold,
}

/// A [`Session`] driven by the drain contract, with its driver's state: the
/// input buffer, the polled bytes, the end of the stream, and a clock.
pub struct Conn<S: Session> {
    /// The machine. Commands may be issued on it directly; call
    /// [`drain`](Conn::drain) afterwards, as a driver would.
    pub session: S,
    /// The simulated clock: the `now` of every `handle_*` call.
    pub now: Instant,
    inbox: BytesMut,
    outq: VecDeque<Bytes>,
    wire: Vec<u8>,
    writes: Writes,
    eof: bool,
    finished: bool,
    consumed: u64,
    bound: usize,
    rounds: usize,
    watch: fn(&S, Step),
    name: &'static str,
    /// Splices performed (see [`Conn::with_splice`]), and whether one
    /// found its source short.
    splices: usize,
    splice_short: bool,
}

impl<S: Session> Conn<S> {
    /// Wraps `session` (made at `now`) with an empty buffer, writing with
    /// [`Writes::Collect`].
    pub fn new(session: S, now: Instant) -> Conn<S> {
        Conn {
            session,
            now,
            inbox: BytesMut::new(),
            outq: VecDeque::new(),
            wire: Vec::new(),
            writes: Writes::Collect,
            eof: false,
            finished: false,
            consumed: 0,
            bound: usize::MAX,
            rounds: 0,
            watch: |_, _| {},
            name: "session",
            splices: 0,
            splice_short: false,
        }
    }

    /// A driver that performs splices ([`Session::enable_splice`]): it
    /// drains [`Session::poll_transmit_or_splice`] and writes a splice of
    /// a [`Bytes`] source as those bytes (any other source counts as
    /// empty). A source shorter than its splice gives what it has, and the
    /// harness records it ([`splice_short`](Conn::splice_short)), as a real
    /// driver would close the connection after it.
    pub fn with_splice(mut self) -> Conn<S> {
        self.session.enable_splice();
        self.splices = 0;
        self
    }

    /// How many splices were written.
    pub fn splices(&self) -> usize {
        self.splices
    }

    /// Whether a splice found its source shorter than it said.
    pub fn splice_short(&self) -> bool {
        self.splice_short
    }

    /// The next transmit, as bytes (splices resolved).
    fn next_transmit(&mut self) -> Option<Bytes> {
        match self.session.poll_transmit_or_splice()? {
            Transmit::Bytes(b) => Some(b),
            Transmit::Splice(sp) => {
                self.splices += 1;
                let src = sp.source.downcast_ref::<Bytes>().cloned().unwrap_or_default();
                let start = usize::try_from(sp.offset).unwrap_or(usize::MAX).min(src.len());
                let want = usize::try_from(sp.len).unwrap_or(usize::MAX);
                let end = start.saturating_add(want).min(src.len());
                self.splice_short |= end - start < want;
                Some(src.slice(start..end))
            }
        }
    }

    /// Where transmitted bytes go.
    pub fn with_writes(mut self, writes: Writes) -> Conn<S> {
        self.writes = writes;
        self
    }

    /// The most bytes the session may leave in the buffer while it still
    /// wants input (its longest head or line); checked after every drain.
    pub fn with_bound(mut self, bound: usize) -> Conn<S> {
        self.bound = bound;
        self
    }

    /// Calls `watch` at each [`Step`] of every drain, for checks of a
    /// machine's own invariants inside a drain (see also
    /// [`drain_with`](Conn::drain_with)).
    pub fn with_watch(mut self, watch: fn(&S, Step)) -> Conn<S> {
        self.watch = watch;
        self
    }

    /// A name for the assertion messages.
    pub fn named(mut self, name: &'static str) -> Conn<S> {
        self.name = name;
        self
    }

    /// Appends `bytes` to the input buffer without draining.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.inbox.extend_from_slice(bytes);
    }

    /// Bytes arrived: appends them and drains.
    pub fn read(&mut self, bytes: &[u8], app: &mut impl App<S>) {
        self.feed(bytes);
        self.drain(app);
    }

    /// [`read`](Conn::read)s `input` cut as `split` says.
    pub fn read_split(&mut self, input: &[u8], split: Split<'_>, app: &mut impl App<S>) {
        for piece in pieces(input, split) {
            self.read(piece, app);
        }
    }

    /// The peer ended its stream: [`Session::handle_eof`], then a drain.
    /// Buffered bytes are not offered any more.
    ///
    /// # Panics
    ///
    /// If the end was already delivered.
    pub fn eof(&mut self, app: &mut impl App<S>) {
        self.feed_eof();
        self.drain(app);
    }

    /// The end of the stream arrived: [`Session::handle_eof`], without
    /// draining (call [`drain`](Conn::drain) next). Buffered bytes are not
    /// offered any more.
    ///
    /// # Panics
    ///
    /// If the end was already delivered.
    pub fn feed_eof(&mut self) {
        assert!(!self.eof, "{}: handle_eof twice", self.name);
        self.eof = true;
        self.session.handle_eof(self.now);
    }

    /// Moves the clock to `at` (never backwards) and fires the timers if a
    /// deadline is due, without draining (call [`drain`](Conn::drain)
    /// next); whether one was. Checks that no deadline at or before `at` is
    /// left armed.
    pub fn fire(&mut self, at: Instant) -> bool {
        assert!(at >= self.now, "{}: the clock went back to {at:?} from {:?}", self.name, self.now);
        self.now = at;
        if self.session.poll_timeout().is_none_or(|d| d > at) {
            return false;
        }
        self.handle_timeout();
        true
    }

    fn handle_timeout(&mut self) {
        let at = self.now;
        self.session.handle_timeout(at);
        if let Some(left) = self.session.poll_timeout() {
            assert!(
                left > at,
                "{}: a deadline at {left:?} is still armed after handle_timeout({at:?})",
                self.name
            );
        }
    }

    /// Moves the clock to `at` (never backwards), calls
    /// [`Session::handle_timeout`] whether a deadline is due or not (early
    /// calls must be harmless), checks that no deadline at or before `at`
    /// is left armed, and drains.
    ///
    /// # Panics
    ///
    /// If `at` is before [`now`](Conn::now), or the contract breaks.
    pub fn timeout(&mut self, at: Instant, app: &mut impl App<S>) {
        assert!(at >= self.now, "{}: the clock went back to {at:?} from {:?}", self.name, self.now);
        self.now = at;
        self.handle_timeout();
        self.drain(app);
    }

    /// Jumps the clock to the session's next deadline (or stays, if it
    /// passed) and fires it; the instant, or `None` with no timer armed.
    pub fn advance(&mut self, app: &mut impl App<S>) -> Option<Instant> {
        let at = self.session.poll_timeout()?.max(self.now);
        self.timeout(at, app);
        Some(at)
    }

    /// Polls the application's work in flight once ([`App::poll_work`],
    /// with a waker that does nothing) and drains if some finished; whether
    /// it had. The test decides how long to wait between polls.
    pub fn poll_work(&mut self, app: &mut impl App<S>) -> bool {
        let mut cx = core::task::Context::from_waker(core::task::Waker::noop());
        if app.poll_work(&mut self.session, &mut cx).is_pending() {
            return false;
        }
        self.drain(app);
        true
    }

    /// Offers the buffer once even though the session may not want it (a
    /// driver that breaks step 1, to show the machine copes); how many
    /// bytes it took. Does not drain.
    pub fn force_read(&mut self) -> usize {
        let before = self.inbox.len();
        self.session.handle_read(self.now, &mut self.inbox);
        assert!(self.inbox.len() <= before, "{}: handle_read grew the buffer", self.name);
        let used = before - self.inbox.len();
        self.consumed += used as u64;
        used
    }

    /// Steps 1 to 3 of the drain contract until a round changes nothing:
    /// offers buffered bytes while the session wants them, hands every
    /// event to `app`, takes every transmitted `Bytes` (see [`Writes`]),
    /// calls [`App::on_drained`] after writing; then asserts the contract.
    /// Whether anything happened.
    pub fn drain(&mut self, app: &mut impl App<S>) -> bool {
        self.drain_with(app, |_, _| {})
    }

    /// [`drain`](Conn::drain), calling `watch` at each [`Step`] with the
    /// session, for checks of a machine's own invariants inside a drain.
    pub fn drain_with(&mut self, app: &mut impl App<S>, mut watch: impl FnMut(&S, Step)) -> bool {
        let mut any = false;
        for round in 0.. {
            assert!(round < MAX_ROUNDS, "{}: the drain never settles", self.name);
            self.rounds = round + 1;
            let mut progressed = false;
            if !self.eof && self.session.wants_read() && !self.inbox.is_empty() {
                let before = self.inbox.len();
                self.session.handle_read(self.now, &mut self.inbox);
                assert!(self.inbox.len() <= before, "{}: handle_read grew the buffer", self.name);
                let used = before - self.inbox.len();
                self.consumed += used as u64;
                progressed |= used > 0;
                let step = Step::Read { consumed: self.consumed };
                (self.watch)(&self.session, step);
                watch(&self.session, step);
            }
            while let Some(ev) = self.session.poll_event() {
                progressed = true;
                app.on_event(&mut self.session, ev);
            }
            (self.watch)(&self.session, Step::Events);
            watch(&self.session, Step::Events);
            let mut wrote = false;
            while let Some(b) = self.next_transmit() {
                progressed = true;
                match self.writes {
                    Writes::Hold => {
                        if !b.is_empty() {
                            self.outq.push_back(b);
                        }
                    }
                    Writes::Collect => self.wire.extend_from_slice(&b),
                    Writes::Report => {
                        self.wire.extend_from_slice(&b);
                        self.session.handle_sent(self.now, b.len());
                        wrote = true;
                    }
                }
            }
            if wrote {
                app.on_drained(&mut self.session);
            }
            (self.watch)(&self.session, Step::Round);
            watch(&self.session, Step::Round);
            if !progressed {
                break;
            }
            any = true;
        }
        self.check();
        any
    }

    /// The contract's invariants between steps.
    fn check(&mut self) {
        let name = self.name;
        assert!(self.session.poll_event().is_none(), "{name}: an event left after the drain");
        assert!(self.session.poll_transmit().is_none(), "{name}: bytes left after the drain");
        let left = self.session.poll_transmit_or_splice();
        assert!(left.is_none(), "{name}: a splice left after the drain");
        let finished = self.session.is_finished();
        assert!(finished || !self.finished, "{name}: a finished session came back to life");
        self.finished = finished;
        if finished {
            assert!(!self.session.wants_read(), "{name}: a finished session wants input");
        } else if !self.eof && self.session.wants_read() {
            assert!(
                self.inbox.len() <= self.bound,
                "{name}: wants more bytes but leaves {} (> {}) unconsumed",
                self.inbox.len(),
                self.bound
            );
        }
    }

    /// Writes up to `max` held bytes (see [`Writes::Hold`]) onto `out`,
    /// reports them with [`Session::handle_sent`], and calls
    /// [`App::on_drained`] when that empties the queue; how many. Does not
    /// drain: call [`drain`](Conn::drain) next.
    pub fn write_into(&mut self, out: &mut BytesMut, max: usize, app: &mut impl App<S>) -> usize {
        let total = take(&mut self.outq, out, max);
        if total > 0 {
            self.session.handle_sent(self.now, total);
            if self.outq.is_empty() {
                app.on_drained(&mut self.session);
            }
        }
        total
    }

    /// [`write_into`](Conn::write_into) the connection's own wire.
    pub fn write(&mut self, max: usize, app: &mut impl App<S>) -> usize {
        let mut out = BytesMut::new();
        let n = self.write_into(&mut out, max, app);
        self.wire.extend_from_slice(&out);
        n
    }

    /// Held bytes not yet written.
    pub fn unwritten(&self) -> usize {
        self.outq.iter().map(Bytes::len).sum()
    }

    /// Drops the held bytes (a reset: they never reach the peer).
    pub fn drop_unwritten(&mut self) {
        self.outq.clear();
    }

    /// Takes what was written so far.
    pub fn take_wire(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.wire)
    }

    /// What was written so far.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// The bytes the session left in the buffer.
    pub fn inbox(&self) -> &BytesMut {
        &self.inbox
    }

    /// The buffer itself, for a test that fills it in its own way.
    pub fn inbox_mut(&mut self) -> &mut BytesMut {
        &mut self.inbox
    }

    /// How many rounds the last drain took (the last one found nothing to
    /// do): a test can bound it by the input, to rule out busy loops.
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// Bytes the session consumed from the stream in all.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Whether the end of the stream was delivered.
    pub fn eof_seen(&self) -> bool {
        self.eof
    }

    /// Whether a driver would read from the socket now: the session wants
    /// input and the end of the stream was not delivered.
    pub fn wants_read(&self) -> bool {
        !self.eof && self.session.wants_read()
    }

    /// Step 4: the session is finished and every held byte is written, so
    /// a driver closes.
    pub fn is_done(&self) -> bool {
        self.session.is_finished() && self.outq.is_empty()
    }
}

/// Two sessions wired to each other, byte streams both ways, on one
/// clock: a file sender to a receiver, say. Both hold their output
/// ([`Writes::Hold`]); [`step`](Pair::step) moves it across.
///
/// ```
/// use bytes::Bytes;
/// use sansnet_proto::file::{Limits, Receiver, Sender, receiver, sender};
/// use sansnet_proto::testing::Pair;
/// use sansnet_proto::Instant;
///
/// let file = Bytes::from_static(b"hello");
/// let now = Instant::ZERO;
/// let tx = Sender::new("a.txt", 5, Limits::default(), now).unwrap();
/// let mut pair = Pair::new(tx, Receiver::new(Limits::default(), now), now);
/// let mut done = false;
/// let mut tx_app = |tx: &mut Sender, ev: sender::Event| match ev {
///     sender::Event::Read { offset, len } => {
///         let at = offset as usize;
///         tx.supply(now, file.slice(at..at + len)).unwrap();
///     }
///     sender::Event::Done { .. } => done = true,
///     _ => {}
/// };
/// let mut disk = Vec::new();
/// let mut rx_app = |rx: &mut Receiver, ev: receiver::Event| match ev {
///     receiver::Event::Offer { .. } => rx.accept(now, 0).unwrap(),
///     receiver::Event::Write { data, .. } => {
///         for piece in data {
///             disk.extend_from_slice(&piece);
///             rx.written(now, piece.len());
///         }
///     }
///     receiver::Event::Commit { .. } => rx.committed().unwrap(),
///     other => panic!("{other:?}"),
/// };
/// pair.run(&mut tx_app, &mut rx_app);
/// assert!(done);
/// assert_eq!(disk, b"hello");
/// ```
pub struct Pair<A: Session, B: Session> {
    /// The first side.
    pub a: Conn<A>,
    /// The second side.
    pub b: Conn<B>,
}

impl<A: Session, B: Session> Pair<A, B> {
    /// Wires `a` to `b`, both made at `now`.
    pub fn new(a: A, b: B, now: Instant) -> Pair<A, B> {
        Pair {
            a: Conn::new(a, now).with_writes(Writes::Hold).named("a"),
            b: Conn::new(b, now).with_writes(Writes::Hold).named("b"),
        }
    }

    /// The shared clock.
    pub fn now(&self) -> Instant {
        self.a.now
    }

    /// Drains both sides, moves up to `max` held bytes each way (reported
    /// written), and closes a finished side that wrote everything: its peer
    /// reads the end of the stream once it was offered every byte. Whether
    /// anything happened.
    pub fn step_max(
        &mut self,
        max: usize,
        app_a: &mut impl App<A>,
        app_b: &mut impl App<B>,
    ) -> bool {
        let mut moved = self.a.drain(app_a);
        let inbox = &mut self.b.inbox;
        moved |= self.a.write_into(inbox, max, app_a) > 0;
        moved |= self.b.drain(app_b);
        moved |= self.b.write_into(&mut self.a.inbox, max, app_b) > 0;
        moved |= self.a.drain(app_a);
        if self.a.is_done() && self.b.wants_read() && self.b.inbox.is_empty() {
            self.b.eof(app_b);
            moved = true;
        }
        if self.b.is_done() && self.a.wants_read() && self.a.inbox.is_empty() {
            self.a.eof(app_a);
            moved = true;
        }
        moved
    }

    /// [`step_max`](Pair::step_max) with no limit.
    pub fn step(&mut self, app_a: &mut impl App<A>, app_b: &mut impl App<B>) -> bool {
        self.step_max(usize::MAX, app_a, app_b)
    }

    /// Fires both sides' timers at `at`.
    pub fn timeout(&mut self, at: Instant, app_a: &mut impl App<A>, app_b: &mut impl App<B>) {
        self.a.timeout(at, app_a);
        self.b.timeout(at, app_b);
    }

    /// The earlier of the two sides' deadlines.
    pub fn deadline(&self) -> Option<Instant> {
        let (a, b) = (self.a.session.poll_timeout(), self.b.session.poll_timeout());
        a.into_iter().chain(b).min()
    }

    /// Steps until nothing moves, then jumps to the next deadline and
    /// fires it, until both sides are finished or no timer is left.
    pub fn run(&mut self, app_a: &mut impl App<A>, app_b: &mut impl App<B>) {
        for _ in 0..MAX_ROUNDS {
            while self.step(app_a, app_b) {}
            if self.a.session.is_finished() && self.b.session.is_finished() {
                return;
            }
            let Some(at) = self.deadline() else { return };
            self.timeout(at.max(self.now()), app_a, app_b);
        }
        panic!("the pair never settles");
    }
}

/// Every connection of a [`HubConns`], by id: what an application sees
/// with each event.
pub type Conns = BTreeMap<ConnId, HubConn>;

/// The application side of a [`HubConns`]. A closure
/// `FnMut(&Conns, H::Event)` is one.
pub trait HubApp<H: Hub> {
    /// An event from the hub, with the connections' state.
    fn on_event(&mut self, conns: &Conns, event: H::Event);

    /// Every output so far was taken (`sent`: the `Bytes` transmitted since
    /// the last call), before anything is written: a place for checks of
    /// the hub's own invariants. The default does nothing.
    fn on_polled(&mut self, conns: &Conns, sent: &[(ConnId, Bytes)]) {
        let _ = (conns, sent);
    }
}

impl<H: Hub, F: FnMut(&Conns, H::Event)> HubApp<H> for F {
    fn on_event(&mut self, conns: &Conns, event: H::Event) {
        self(conns, event)
    }
}

/// One connection of a [`HubConns`], from the driver's side.
#[derive(Debug, Default)]
pub struct HubConn {
    /// Bytes received and not consumed.
    pub inbox: BytesMut,
    /// Transmitted `Bytes` not yet written, in order.
    pub outq: VecDeque<Bytes>,
    /// The hub asked to close it ([`Output::Close`]).
    pub closing: bool,
    /// The end of its stream was delivered.
    pub eof: bool,
    /// [`Input::Gone`] was delivered.
    pub gone: bool,
    /// Writes to it never complete: its bytes stay unwritten, and no
    /// [`Input::Sent`] is reported.
    pub stalled: bool,
}

/// A [`Hub`] wired to many connections by the drain contract, on a
/// simulated clock.
///
/// Every output is checked: nothing for a connection never opened or
/// already closed, no second `Close`; after a drain, nothing is left to
/// poll. Events go to the application with the connections' state. With
/// [`auto_write`](HubConns::auto_write) (the default) every
/// transmitted byte is written at once and reported with `Sent`, except to
/// stalled connections.
///
/// ```
/// use sansnet_proto::chat::{Event, Limits, Room};
/// use sansnet_proto::testing::{Conns, HubConns};
/// use sansnet_proto::{ConnId, Instant};
///
/// let mut hub = HubConns::new(Room::new(Limits::default()), Instant::ZERO);
/// let mut events = Vec::new();
/// let mut app = |_: &Conns, ev: Event| events.push(ev);
/// let alice = ConnId(1);
/// hub.open(alice, "10.0.0.1:4000", &mut app);
/// hub.read(alice, br#"{"username":"alice"}"#, &mut app);
/// assert_eq!(&hub.take_sent(alice)[0][..], b"{\"type\":\"joined\",\"username\":\"alice\"}\n");
/// assert!(matches!(&events[..], [Event::Joined { .. }]));
/// ```
pub struct HubConns<H: Hub> {
    /// The machine.
    pub hub: H,
    /// The simulated clock.
    pub now: Instant,
    /// Every connection ever opened.
    pub conns: Conns,
    /// Every `Bytes` transmitted, in order, with its connection (taken by
    /// the test, or by [`take_sent`](HubConns::take_sent)).
    pub sent: Vec<(ConnId, Bytes)>,
    /// Write and report every transmitted byte at once (default `true`).
    pub auto_write: bool,
    /// Assert that reporting `Sent` produces no output (default `false`):
    /// for a hub whose only reaction to a write is bookkeeping.
    pub quiet_sent: bool,
    /// Connections the hub said it wants to read again
    /// ([`Hub::poll_resumed`]), in order; [`offer_resumed`](Self::offer_resumed)
    /// offers them their buffers, as a driver does.
    pub resumed: Vec<ConnId>,
}

impl<H: Hub> HubConns<H> {
    /// Wraps `hub` with no connection.
    pub fn new(hub: H, now: Instant) -> HubConns<H> {
        HubConns {
            hub,
            now,
            conns: BTreeMap::new(),
            sent: Vec::new(),
            auto_write: true,
            quiet_sent: false,
            resumed: Vec::new(),
        }
    }

    /// The driver's state of `conn`.
    ///
    /// # Panics
    ///
    /// If `conn` was never opened.
    pub fn conn(&mut self, conn: ConnId) -> &mut HubConn {
        self.conns.get_mut(&conn).unwrap_or_else(|| panic!("{conn:?} was never opened"))
    }

    /// Feeds one input, then drains.
    pub fn input(&mut self, input: Input<'_>, app: &mut impl HubApp<H>) {
        self.hub.handle(self.now, input);
        self.drain(app);
    }

    /// Accepts `conn` from `peer`.
    pub fn open(&mut self, conn: ConnId, peer: &str, app: &mut impl HubApp<H>) {
        self.open_on(conn, peer, 0, app);
    }

    /// Accepts `conn` from `peer` on the driver's listener number
    /// `listener` (see [`Input::Opened`]).
    pub fn open_on(&mut self, conn: ConnId, peer: &str, listener: usize, app: &mut impl HubApp<H>) {
        assert!(!self.conns.contains_key(&conn), "{conn:?} opened twice");
        self.conns.insert(conn, HubConn::default());
        self.input(Input::Opened { conn, peer: String::from(peer), listener }, app);
    }

    /// Bytes arrived on `conn`: appended to its buffer, which is offered
    /// while the hub wants it.
    pub fn read(&mut self, conn: ConnId, bytes: &[u8], app: &mut impl HubApp<H>) {
        self.conn(conn).inbox.extend_from_slice(bytes);
        self.offer(conn, app);
    }

    /// Offers `conn`'s buffer while the hub wants it and takes something
    /// (after backpressure lifts, say), draining after each read.
    pub fn offer(&mut self, conn: ConnId, app: &mut impl HubApp<H>) -> bool {
        let mut any = false;
        loop {
            let c = self.conns.get_mut(&conn).expect("an open connection");
            if c.eof || c.gone || c.inbox.is_empty() || !self.hub.wants_read(conn) {
                return any;
            }
            let before = c.inbox.len();
            self.hub.handle(self.now, Input::Read { conn, buf: &mut c.inbox });
            let after = c.inbox.len();
            assert!(after <= before, "{conn:?}: Read grew the buffer");
            self.drain(app);
            if after == before {
                return any; // a partial frame: wait for more
            }
            any = true;
        }
    }

    /// Offers their buffers to the connections the hub resumed (see
    /// [`resumed`](Self::resumed)), until it resumes no more. Whether any
    /// was consumed.
    pub fn offer_resumed(&mut self, app: &mut impl HubApp<H>) -> bool {
        let mut any = false;
        for _ in 0..MAX_ROUNDS {
            if self.resumed.is_empty() {
                return any;
            }
            for conn in core::mem::take(&mut self.resumed) {
                let c = &self.conns[&conn];
                if !c.gone && !c.closing {
                    any |= self.offer(conn, app);
                }
            }
        }
        panic!("the hub keeps resuming connections");
    }

    /// `conn`'s peer ended its stream.
    pub fn eof(&mut self, conn: ConnId, app: &mut impl HubApp<H>) {
        let c = self.conn(conn);
        assert!(!c.eof, "{conn:?}: Eof twice");
        c.eof = true;
        self.input(Input::Eof { conn }, app);
    }

    /// `conn` is gone.
    pub fn gone(&mut self, conn: ConnId, app: &mut impl HubApp<H>) {
        let c = self.conn(conn);
        assert!(!c.gone, "{conn:?}: Gone twice");
        c.gone = true;
        c.outq.clear();
        self.input(Input::Gone { conn }, app);
    }

    /// Takes every output (checking it), then with
    /// [`auto_write`](HubConns::auto_write) writes what is queued to every
    /// connection that is not stalled and reports it, until nothing is
    /// left to poll. Whether anything happened.
    pub fn drain(&mut self, app: &mut impl HubApp<H>) -> bool {
        let mut any = false;
        for round in 0.. {
            assert!(round < MAX_ROUNDS, "the hub's drain never settles");
            let from = self.sent.len();
            let mut progressed = self.poll_all(app);
            while let Some(conn) = self.hub.poll_resumed() {
                self.resumed.push(conn);
            }
            app.on_polled(&self.conns, &self.sent[from..]);
            if self.auto_write {
                let ready: BTreeSet<ConnId> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| !c.stalled && !c.gone && !c.outq.is_empty())
                    .map(|(&id, _)| id)
                    .collect();
                for conn in ready {
                    progressed |= self.write(conn, usize::MAX, &mut BytesMut::new()) > 0;
                }
            }
            if !progressed {
                break;
            }
            any = true;
        }
        assert!(self.hub.poll_output().is_none(), "an output left after the drain");
        any
    }

    /// Takes every output without writing: bytes into each connection's
    /// queue, closes marked, events to `app`. Whether there was any.
    pub fn poll_all(&mut self, app: &mut impl HubApp<H>) -> bool {
        let mut any = false;
        while let Some(out) = self.hub.poll_output() {
            any = true;
            match out {
                Output::Transmit { conn, data } => {
                    let c = self.conns.get_mut(&conn);
                    let c = c.unwrap_or_else(|| panic!("Transmit to unknown {conn:?}"));
                    assert!(!c.closing && !c.gone, "Transmit to {conn:?} after its Close");
                    assert!(!data.is_empty(), "an empty Transmit to {conn:?}");
                    c.outq.push_back(data.clone());
                    self.sent.push((conn, data));
                }
                Output::Close { conn } => {
                    let c = self.conns.get_mut(&conn);
                    let c = c.unwrap_or_else(|| panic!("Close for unknown {conn:?}"));
                    assert!(!c.closing && !c.gone, "{conn:?} closed twice");
                    c.closing = true;
                }
                Output::Event(ev) => app.on_event(&self.conns, ev),
            }
        }
        any
    }

    /// Writes up to `max` queued bytes of `conn` onto `out` and reports
    /// them with `Sent`; does not drain. How many.
    pub fn write(&mut self, conn: ConnId, max: usize, out: &mut BytesMut) -> usize {
        let total = take(&mut self.conn(conn).outq, out, max);
        if total > 0 {
            self.hub.handle(self.now, Input::Sent { conn, n: total });
            if self.quiet_sent {
                assert!(self.hub.poll_output().is_none(), "Sent to {conn:?} produced output");
            }
        }
        total
    }

    /// Takes the `Bytes` transmitted to `conn` so far.
    pub fn take_sent(&mut self, conn: ConnId) -> Vec<Bytes> {
        let (mine, others) = core::mem::take(&mut self.sent).into_iter().partition(|s| s.0 == conn);
        self.sent = others;
        mine.into_iter().map(|(_, data)| data).collect::<Vec<Bytes>>()
    }

    /// Whether the hub asked to close `conn`.
    pub fn is_closing(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.closing)
    }

    /// Fires the hub's timers at `at` (never backwards) and drains.
    pub fn timeout(&mut self, at: Instant, app: &mut impl HubApp<H>) {
        assert!(at >= self.now, "the clock went back to {at:?} from {:?}", self.now);
        self.now = at;
        self.hub.handle_timeout(at);
        if let Some(left) = self.hub.poll_timeout() {
            assert!(
                left > at,
                "a deadline at {left:?} is still armed after handle_timeout({at:?})"
            );
        }
        self.drain(app);
    }
}
