//! A simulated network (issue #7, item 2): client and server machines wired
//! in memory on a virtual clock, with a seeded PRNG deciding every step.
//!
//! - [`Rng`]: splitmix64, so a seed replays a run bit for bit.
//! - [`Pipe`]: one direction of a TCP connection: bytes written and not yet
//!   read, a bounded socket buffer (the writer keeps what does not fit),
//!   the end of the stream (FIN) once the writer closes.
//! - [`Driven`]: a [`Session`] on the core's test harness
//!   (`sansnet_proto::testing::Conn`, which drains by the contract of
//!   `sansnet_proto::machine` and asserts it: buffered bytes bounded,
//!   nothing left to poll, no deadline in the past after `handle_timeout`,
//!   a finished machine stays finished), wired to pipes: it reads from its
//!   pipe only while the machine `wants_read` (so backpressure reaches the
//!   peer), learns the end of the stream only from a read (made only while
//!   the machine wants to read, after every buffered byte was offered),
//!   keeps polled outputs until the pipe takes them (reporting them with
//!   `handle_sent`), and closes once the machine is finished and everything
//!   is written. A reset drops what is in flight both ways; the machine
//!   sees the end of the stream and is dropped, the peer sees nothing more.
//! - [`advance`]: moves the clock, waking each machine at its deadline (plus
//!   a random lag below [`GRANULARITY`], as a real timer would).
//!
//! Each protocol module ([`http`], [`chat`], [`file`]) has a client, the
//! oracle and the invariants, checked on every step. `SANSNET_SIM_SEED=N`
//! runs only seed N; `SANSNET_SIM_SEEDS=K` runs seeds `0..K` (defaults:
//! 1,000 HTTP, 300 chat, 500 file, a few seconds in all, debug or
//! release); `SANSNET_SIM_VERBOSE=1` prints a line per seed. A failure
//! names its seed.

mod chat;
mod file;
mod http;

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use bytes::BytesMut;
use sansnet_proto::testing::{Conn, Step, Writes};
use sansnet_proto::{Instant, Session};

/// How late a simulated driver may wake for a deadline.
pub(crate) const GRANULARITY: Duration = Duration::from_millis(1);

/// Runs `run(seed)` for every seed asked for (see the module docs); a panic
/// names the seed that reproduces it.
pub(crate) fn for_seeds(protocol: &str, default: u64, run: impl Fn(u64)) {
    let seeds: Vec<u64> = match std::env::var("SANSNET_SIM_SEED") {
        Ok(s) => vec![s.trim().parse().expect("SANSNET_SIM_SEED is a number")],
        Err(_) => {
            let n = std::env::var("SANSNET_SIM_SEEDS")
                .map(|s| s.trim().parse().expect("SANSNET_SIM_SEEDS is a number"))
                .unwrap_or(default);
            (0..n).collect()
        }
    };
    for seed in seeds {
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| run(seed))) {
            let msg = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("(non-text panic)");
            panic!(
                "{protocol} simulation failed with seed {seed} \
                 (reproduce: SANSNET_SIM_SEED={seed} cargo test -p sansnet-tests -- sim::{protocol}): {msg}"
            );
        }
    }
}

/// `SANSNET_SIM_VERBOSE` is set: print a line per seed.
pub(crate) fn verbose() -> bool {
    std::env::var_os("SANSNET_SIM_VERBOSE").is_some()
}

/// splitmix64: tiny, fast, and the same everywhere.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_5a45_0000_0007)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub(crate) fn pct(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// True with probability 1 / `n`.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A split size for `len` bytes: 1, a few, some, or everything.
    pub(crate) fn split(&mut self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        match self.below(4) {
            0 => 1,
            1 => self.range(1, len.min(8)),
            2 => self.range(1, len),
            _ => len,
        }
    }

    /// A delay: none, a little, around a second, or long enough for the
    /// timers (up to `longest` and a half).
    pub(crate) fn delay(&mut self, longest: Duration) -> Duration {
        match self.below(100) {
            0..=39 => Duration::ZERO,
            40..=74 => Duration::from_micros(self.below(5_000)),
            75..=96 => Duration::from_millis(self.below(2_000)),
            _ => Duration::from_nanos(self.below(longest.as_nanos() as u64 * 3 / 2 + 1)),
        }
    }

    /// How late a driver wakes for a deadline.
    pub(crate) fn lag(&mut self) -> Duration {
        if self.pct(50) { Duration::ZERO } else { Duration::from_nanos(self.below(1_000_000)) }
    }
}

/// One direction of a TCP connection.
#[derive(Debug)]
pub(crate) struct Pipe {
    flight: VecDeque<u8>,
    /// Socket buffers: bytes written and not read, at most.
    cap: usize,
    fin: bool,
    pub(crate) written: u64,
    pub(crate) read: u64,
}

impl Pipe {
    pub(crate) fn new(cap: usize) -> Pipe {
        Pipe { flight: VecDeque::new(), cap, fin: false, written: 0, read: 0 }
    }

    pub(crate) fn space(&self) -> usize {
        if self.fin { 0 } else { self.cap.saturating_sub(self.flight.len()) }
    }

    /// Writes what fits of `data`; how much.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        assert!(!self.fin, "write after FIN");
        let n = data.len().min(self.space());
        self.flight.extend(&data[..n]);
        self.written += n as u64;
        n
    }

    /// The writer closes its side.
    pub(crate) fn close(&mut self) {
        self.fin = true;
    }

    /// The writer closed its side.
    pub(crate) fn is_closed(&self) -> bool {
        self.fin
    }

    /// Reads up to `max` bytes into `into`; how many.
    pub(crate) fn read_into(&mut self, max: usize, into: &mut BytesMut) -> usize {
        let n = max.min(self.flight.len());
        let (a, b) = self.flight.as_slices();
        let from_a = n.min(a.len());
        into.extend_from_slice(&a[..from_a]);
        into.extend_from_slice(&b[..n - from_a]);
        self.flight.drain(..n);
        self.read += n as u64;
        n
    }

    pub(crate) fn pending(&self) -> usize {
        self.flight.len()
    }

    /// A read would return 0: FIN and nothing left.
    pub(crate) fn at_eof(&self) -> bool {
        self.fin && self.flight.is_empty()
    }

    /// The connection vanished: what was in flight is lost.
    pub(crate) fn reset(&mut self) {
        self.flight.clear();
        self.fin = true;
    }
}

/// A [`Session`] on the core's test harness ([`Conn`], which drains by the
/// contract and asserts it), and the socket's state: this module only
/// moves bytes between the harness and the [`Pipe`]s.
pub(crate) struct Driven<S: Session> {
    pub(crate) c: Conn<S>,
    /// The driver closed the socket (the machine was finished, everything
    /// written): its outgoing pipe has FIN.
    pub(crate) closed: bool,
    /// The connection was reset: the machine is gone.
    pub(crate) gone: bool,
}

impl<S: Session> Driven<S> {
    pub(crate) fn new(m: S, name: &'static str, now: Instant) -> Driven<S> {
        let c = Conn::new(m, now).with_writes(Writes::Hold).named(name);
        Driven { c, closed: false, gone: false }
    }

    /// The most bytes the machine may leave unconsumed while it still
    /// wants to read (its longest head or line): beyond, the driver's
    /// buffer would grow without bound.
    pub(crate) fn with_bound(mut self, bound: usize) -> Driven<S> {
        self.c = self.c.with_bound(bound);
        self
    }

    pub(crate) fn active(&self) -> bool {
        !self.closed && !self.gone
    }

    /// The harness's drain; `app` answers events (and may issue commands).
    pub(crate) fn pump(&mut self, now: Instant, app: &mut impl FnMut(&mut S, S::Event)) {
        self.pump_with(now, app, &mut |_| {}, &Cell::new(0));
    }

    /// [`pump`](Self::pump), calling `on_read` after each `handle_read`
    /// and keeping `consumed` (bytes the machine took from the incoming
    /// stream) current for `app`.
    pub(crate) fn pump_with(
        &mut self,
        now: Instant,
        app: &mut impl FnMut(&mut S, S::Event),
        on_read: &mut impl FnMut(&S),
        consumed: &Cell<u64>,
    ) {
        if !self.active() {
            return;
        }
        self.c.now = now;
        consumed.set(self.c.consumed());
        self.c.drain_with(app, |m, step| {
            if let Step::Read { consumed: n } = step {
                on_read(m);
                consumed.set(n);
            }
        });
    }

    /// Writes what the pipe takes, reporting it with `handle_sent`; closes
    /// (FIN) once the machine is finished and nothing is left (step 4).
    /// Whether anything was written (then pump again).
    pub(crate) fn flush(&mut self, now: Instant, out: &mut Pipe) -> bool {
        if !self.active() {
            return false;
        }
        self.c.now = now;
        let mut taken = BytesMut::new();
        let n = self.c.write_into(&mut taken, out.space(), &mut |_: &mut S, _| {});
        assert_eq!(out.write(&taken), n);
        if self.c.is_done() {
            self.closed = true;
            out.close();
        }
        n > 0
    }

    /// Polled bytes the pipe has not taken yet.
    pub(crate) fn unwritten(&self) -> usize {
        self.c.unwritten()
    }

    /// A socket read of up to `max` bytes (only while the machine wants to
    /// read); a read of 0 at the end of the stream is the EOF. Whether
    /// anything happened.
    pub(crate) fn read(&mut self, now: Instant, input: &mut Pipe, max: usize) -> bool {
        if !self.active() || !self.c.wants_read() {
            return false;
        }
        self.c.now = now;
        if input.at_eof() {
            self.c.feed_eof();
            return true;
        }
        input.read_into(max, self.c.inbox_mut()) > 0
    }

    /// The clock reached `now`: fire what is due (the harness checks that
    /// nothing due is left armed).
    pub(crate) fn timeout(&mut self, now: Instant) -> bool {
        self.active() && self.c.fire(now)
    }

    /// The connection vanished: the machine sees the end of the stream
    /// (its outputs go nowhere), then it is dropped.
    pub(crate) fn reset(&mut self, now: Instant, app: &mut impl FnMut(&mut S, S::Event)) {
        if !self.active() {
            return;
        }
        self.c.now = now;
        if !self.c.eof_seen() {
            self.c.feed_eof();
        }
        self.pump(now, app);
        self.c.drop_unwritten();
        self.gone = true;
    }

    /// The machine's next deadline, while it runs.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.active() { self.c.session.poll_timeout() } else { None }
    }
}

/// Moves `now` towards `target`, stopping at the first deadline (plus a
/// lag) on the way: returns true when it stopped for a deadline, so the
/// caller fires timers and calls again.
pub(crate) fn advance(
    rng: &mut Rng,
    now: &mut Instant,
    target: Instant,
    next_deadline: Option<Instant>,
) -> bool {
    match next_deadline {
        Some(d) if d <= target => {
            let wake = (d + rng.lag()).min(target).max(*now);
            *now = wake;
            true
        }
        _ => {
            *now = target.max(*now);
            false
        }
    }
}
