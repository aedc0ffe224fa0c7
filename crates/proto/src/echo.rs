//! Echo (RFC 862): every byte back, over TCP as a [`Session`], and one reply
//! per datagram over UDP ([`UdpEcho`]).
//!
//! `prefix` reproduces the reference servers' `Echo: `: it is written before
//! each chunk the machine takes in (for TCP that is each read the driver
//! feeds, as the reference server answers each `recv`).
//!
//! A peer that sends but never reads cannot make the server buffer without
//! bound: once `max_unsent` bytes are queued and not yet written
//! ([`Session::handle_sent`] reports writes), the machine stops taking
//! input ([`Session::wants_read`] turns false) and TCP flow control pushes
//! back on the peer.
//!
//! ```
//! use bytes::BytesMut;
//! use sansnet_proto::{echo::Echo, Instant, Session};
//!
//! let mut echo = Echo::new(Instant::ZERO).with_prefix("Echo: ");
//! let mut buf = BytesMut::from(&b"hi"[..]);
//! echo.handle_read(Instant::ZERO, &mut buf);
//! let mut out = Vec::new();
//! while let Some(b) = echo.poll_transmit() { out.extend_from_slice(&b); }
//! assert_eq!(out, b"Echo: hi");
//! ```

use alloc::collections::VecDeque;
use core::convert::Infallible;
use core::net::SocketAddr;
use core::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::time::{TimerKind, Timers};
use crate::{Instant, Session};

/// The echo machine's one timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// No byte in either direction for `idle_timeout`: close.
    Idle,
}

impl TimerKind for Timer {
    const COUNT: usize = 1;
    const ALL: &'static [Timer] = &[Timer::Idle];
    fn index(self) -> usize {
        0
    }
}

/// One TCP echo connection. See the [module docs](self).
#[derive(Debug)]
pub struct Echo {
    prefix: Bytes,
    out: VecDeque<Bytes>,
    unsent: usize,
    max_unsent: usize,
    idle_timeout: Option<Duration>,
    timers: Timers<Timer, 1>,
    eof: bool,
    closed: bool,
}

impl Echo {
    /// Default unsent-bytes bound: 1 MiB.
    pub const DEFAULT_MAX_UNSENT: usize = 1 << 20;

    /// A connection opened at `now`, no prefix, no idle timeout.
    pub fn new(now: Instant) -> Echo {
        let _ = now;
        Echo {
            prefix: Bytes::new(),
            out: VecDeque::new(),
            unsent: 0,
            max_unsent: Self::DEFAULT_MAX_UNSENT,
            idle_timeout: None,
            timers: Timers::new(),
            eof: false,
            closed: false,
        }
    }

    /// Writes `prefix` before each chunk echoed.
    pub fn with_prefix(mut self, prefix: impl Into<Bytes>) -> Echo {
        self.prefix = prefix.into();
        self
    }

    /// Stops reading while this many bytes are queued but not yet written
    /// (at least 1).
    pub fn with_max_unsent(mut self, bytes: usize) -> Echo {
        self.max_unsent = bytes.max(1);
        self
    }

    /// Closes the connection after `idle` without traffic, counted from `now`.
    pub fn with_idle_timeout(mut self, now: Instant, idle: Duration) -> Echo {
        self.idle_timeout = Some(idle);
        self.timers.set(Timer::Idle, now + idle);
        self
    }

    /// Bytes queued or handed out and not yet reported written.
    pub fn unsent(&self) -> usize {
        self.unsent
    }

    fn touch(&mut self, now: Instant) {
        if let Some(idle) = self.idle_timeout {
            self.timers.set(Timer::Idle, now + idle);
        }
    }
}

impl Session for Echo {
    type Event = Infallible;

    fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
        if self.closed || self.eof || buf.is_empty() || self.unsent >= self.max_unsent {
            return;
        }
        // Take no more than the room left, so the bound holds exactly.
        let room = self.max_unsent - self.unsent;
        let take = buf.len().min(room.saturating_sub(self.prefix.len()).max(1));
        let data = buf.split_to(take).freeze();
        if !self.prefix.is_empty() {
            self.unsent += self.prefix.len();
            self.out.push_back(self.prefix.clone());
        }
        self.unsent += data.len();
        self.out.push_back(data);
        self.touch(now);
    }

    fn handle_eof(&mut self, _now: Instant) {
        self.eof = true;
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.timers.expired(now) == Some(Timer::Idle) {
            self.closed = true;
            self.out.clear();
        }
    }

    fn handle_sent(&mut self, now: Instant, n: usize) {
        self.unsent = self.unsent.saturating_sub(n);
        self.touch(now);
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Infallible> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.closed { None } else { self.timers.next().map(|(_, at)| at) }
    }

    fn wants_read(&self) -> bool {
        !self.closed && !self.eof && self.unsent < self.max_unsent
    }

    fn is_finished(&self) -> bool {
        self.closed || self.eof
    }

    fn is_idle(&self) -> bool {
        self.out.is_empty() && self.unsent == 0
    }
}

/// UDP echo: one reply per datagram, to its sender. Replies wait in a
/// bounded queue (`max_queued` datagrams); past it new datagrams are
/// dropped, as UDP allows, instead of growing memory.
///
/// ```
/// use sansnet_proto::echo::UdpEcho;
///
/// let mut udp = UdpEcho::new().with_prefix("Echo: ");
/// let from = "127.0.0.1:5000".parse().unwrap();
/// udp.handle_datagram(from, b"ping");
/// let (to, reply) = udp.poll_transmit().unwrap();
/// assert_eq!((to, &reply[..]), (from, &b"Echo: ping"[..]));
/// ```
#[derive(Debug)]
pub struct UdpEcho {
    prefix: Bytes,
    queue: VecDeque<(SocketAddr, Bytes)>,
    max_queued: usize,
    dropped: u64,
}

impl Default for UdpEcho {
    fn default() -> Self {
        UdpEcho::new()
    }
}

impl UdpEcho {
    /// An echo with no prefix and room for 1024 queued replies.
    pub fn new() -> UdpEcho {
        UdpEcho { prefix: Bytes::new(), queue: VecDeque::new(), max_queued: 1024, dropped: 0 }
    }

    /// Writes `prefix` before each reply.
    pub fn with_prefix(mut self, prefix: impl Into<Bytes>) -> UdpEcho {
        self.prefix = prefix.into();
        self
    }

    /// Bounds the reply queue (at least 1).
    pub fn with_max_queued(mut self, n: usize) -> UdpEcho {
        self.max_queued = n.max(1);
        self
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, from: SocketAddr, data: &[u8]) {
        if self.queue.len() >= self.max_queued {
            self.dropped += 1;
            return;
        }
        let mut reply = BytesMut::with_capacity(self.prefix.len() + data.len());
        reply.extend_from_slice(&self.prefix);
        reply.extend_from_slice(data);
        self.queue.push_back((from, reply.freeze()));
    }

    /// The next reply and where it goes.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Bytes)> {
        self.queue.pop_front()
    }

    /// Datagrams dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl crate::Datagrams for UdpEcho {
    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, data: &[u8]) {
        UdpEcho::handle_datagram(self, from, data);
    }

    fn poll_transmit(&mut self) -> Option<(SocketAddr, Bytes)> {
        UdpEcho::poll_transmit(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::{Conn, Split, Writes};

    const T0: Instant = Instant::ZERO;

    /// Echo has no events: its application does nothing.
    fn no_app() -> impl FnMut(&mut Echo, Infallible) {
        |_, ev| match ev {}
    }

    #[test]
    fn echoes_every_byte_in_order_for_any_split() {
        let input: alloc::vec::Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        for step in [1usize, 7, 64, 3000] {
            let mut e = Conn::new(Echo::new(T0), T0).with_writes(Writes::Report);
            for piece in crate::testing::pieces(&input, Split::Sizes(&[step])) {
                e.read(piece, &mut no_app());
                assert!(e.inbox().is_empty());
            }
            assert_eq!(e.wire(), input);
        }
    }

    #[test]
    fn a_peer_that_never_reads_is_bounded() {
        let echo = Echo::new(T0).with_max_unsent(1000).with_prefix("> ");
        let mut e = Conn::new(echo, T0).with_writes(Writes::Hold);
        e.read(&[b'x'; 5000], &mut no_app());
        assert!(!e.session.wants_read());
        assert!(e.session.unsent() <= 1000, "{}", e.session.unsent());
        assert!(!e.inbox().is_empty(), "the rest waits in the driver's buffer");
        e.write(usize::MAX, &mut no_app());
        assert!(e.session.wants_read());
    }

    #[test]
    fn eof_finishes_after_the_echo() {
        let mut e = Conn::new(Echo::new(T0), T0);
        e.read(b"bye", &mut no_app());
        e.eof(&mut no_app());
        assert!(e.session.is_finished());
        assert_eq!(e.take_wire(), b"bye");
    }

    #[test]
    fn idle_timeout_closes_on_a_simulated_clock() {
        let echo = Echo::new(T0).with_idle_timeout(T0, Duration::from_secs(5));
        let mut e = Conn::new(echo, T0);
        e.now = T0 + Duration::from_secs(3);
        e.read(b"a", &mut no_app());
        assert_eq!(e.session.poll_timeout(), Some(T0 + Duration::from_secs(8)));
        e.timeout(T0 + Duration::from_secs(7), &mut no_app());
        assert!(!e.session.is_finished());
        assert_eq!(e.advance(&mut no_app()), Some(T0 + Duration::from_secs(8)));
        assert!(e.session.is_finished());
    }

    #[test]
    fn udp_queue_is_bounded() {
        let mut u = UdpEcho::new().with_max_queued(2);
        let a: SocketAddr = "[::1]:9".parse().unwrap();
        for _ in 0..5 {
            u.handle_datagram(a, b"x");
        }
        assert_eq!(u.dropped(), 3);
        assert!(u.poll_transmit().is_some() && u.poll_transmit().is_some());
        assert!(u.poll_transmit().is_none());
    }
}
