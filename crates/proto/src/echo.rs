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
use core::net::{IpAddr, SocketAddr};
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
/// A datagram's source address is not authenticated, so an echo must not
/// answer where an answer starts a loop ([`UdpEcho::refuses`]): a datagram
/// "from" the server itself would be echoed to itself forever, and one
/// "from" another reflecting service (echo, daytime, qotd, chargen) would
/// bounce between the two. Such datagrams are dropped and counted
/// ([`UdpEcho::refused`]).
///
/// ```
/// use sansnet_proto::echo::UdpEcho;
///
/// let mut udp = UdpEcho::new().with_prefix("Echo: ");
/// let from = "127.0.0.1:5000".parse().unwrap();
/// udp.handle_datagram(from, b"ping");
/// let (to, reply) = udp.poll_transmit().unwrap();
/// assert_eq!((to, &reply[..]), (from, &b"Echo: ping"[..]));
/// // A datagram from the chargen port gets no answer.
/// udp.handle_datagram("127.0.0.1:19".parse().unwrap(), b"!");
/// assert!(udp.poll_transmit().is_none());
/// ```
#[derive(Debug)]
pub struct UdpEcho {
    prefix: Bytes,
    queue: VecDeque<(SocketAddr, Bytes)>,
    max_queued: usize,
    dropped: u64,
    /// The server's own address, once the driver has said it.
    local: Option<SocketAddr>,
    allow_low_ports: bool,
    refused: u64,
}

impl Default for UdpEcho {
    fn default() -> Self {
        UdpEcho::new()
    }
}

impl UdpEcho {
    /// The source ports of the reflecting services (and port 0, which no
    /// real sender has): echo, daytime, qotd, chargen. Datagrams from them
    /// are always dropped.
    pub const REFLECTORS: [u16; 5] = [0, 7, 13, 17, 19];

    /// Source ports below this are dropped unless
    /// [`with_allow_low_ports`](Self::with_allow_low_ports): the
    /// well-known services, several of which answer whatever they receive.
    pub const LOW_PORTS: u16 = 1024;

    /// An echo with no prefix and room for 1024 queued replies.
    pub fn new() -> UdpEcho {
        UdpEcho {
            prefix: Bytes::new(),
            queue: VecDeque::new(),
            max_queued: 1024,
            dropped: 0,
            local: None,
            allow_low_ports: false,
            refused: 0,
        }
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

    /// Answers source ports below [`LOW_PORTS`](Self::LOW_PORTS) too (the
    /// [`REFLECTORS`](Self::REFLECTORS) stay refused).
    pub fn with_allow_low_ports(mut self, allow: bool) -> UdpEcho {
        self.allow_low_ports = allow;
        self
    }

    /// The address the server's socket is bound to (drivers say it through
    /// [`Datagrams::handle_bound`](crate::Datagrams::handle_bound)).
    pub fn with_local(mut self, local: SocketAddr) -> UdpEcho {
        self.local = Some(local);
        self
    }

    /// Whether a datagram from `from` goes unanswered, because answering
    /// it could start a loop:
    ///
    /// - it claims to come from the server itself: its bound address and
    ///   port, or, bound to a wildcard address (`0.0.0.0`, `::`), any
    ///   address with its port (which local addresses the host has is
    ///   not the core's to know; a remote peer on the very port of an
    ///   echo server is most likely another echo server, a loop as well);
    /// - its address cannot be a sender's (unspecified, multicast,
    ///   broadcast);
    /// - its port is a reflecting service's ([`REFLECTORS`](Self::REFLECTORS)),
    ///   or below [`LOW_PORTS`](Self::LOW_PORTS) unless allowed.
    pub fn refuses(&self, from: SocketAddr) -> bool {
        let own = self.local.is_some_and(|l| {
            from.port() == l.port() && (l.ip().is_unspecified() || from.ip() == l.ip())
        });
        let bogus = match from.ip() {
            IpAddr::V4(ip) => ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast(),
            IpAddr::V6(ip) => ip.is_unspecified() || ip.is_multicast(),
        };
        let port = from.port();
        own || bogus
            || Self::REFLECTORS.contains(&port)
            || (port < Self::LOW_PORTS && !self.allow_low_ports)
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, from: SocketAddr, data: &[u8]) {
        if self.refuses(from) {
            self.refused += 1;
            return;
        }
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

    /// Datagrams dropped because answering them could start a loop (see
    /// [`refuses`](Self::refuses)).
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

impl crate::Datagrams for UdpEcho {
    fn handle_bound(&mut self, local: SocketAddr) {
        self.local = Some(local);
    }

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
    use alloc::format;

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
        let a: SocketAddr = "[::1]:9000".parse().unwrap();
        for _ in 0..5 {
            u.handle_datagram(a, b"x");
        }
        assert_eq!(u.dropped(), 3);
        assert!(u.poll_transmit().is_some() && u.poll_transmit().is_some());
        assert!(u.poll_transmit().is_none());
    }

    #[test]
    fn udp_refuses_what_could_loop() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let u = UdpEcho::new().with_local(addr("127.0.0.1:8889"));
        // Itself: the very address, or another loopback one is not it.
        assert!(u.refuses(addr("127.0.0.1:8889")));
        assert!(!u.refuses(addr("127.0.0.2:8889")));
        // The reflecting services and every low port.
        for port in [0, 7, 13, 17, 19, 53, 123, 1023] {
            assert!(u.refuses(addr(&format!("10.0.0.1:{port}"))), "{port}");
        }
        assert!(!u.refuses(addr("10.0.0.1:1024")));
        // Sources no sender has.
        for bogus in [
            "0.0.0.0:5000",
            "224.0.0.1:5000",
            "255.255.255.255:5000",
            "[::]:5000",
            "[ff02::1]:5000",
        ] {
            assert!(u.refuses(addr(bogus)), "{bogus}");
        }
        // Allowing low ports keeps the reflectors refused.
        let u = UdpEcho::new().with_allow_low_ports(true).with_local(addr("[::1]:8889"));
        assert!(!u.refuses(addr("[::1]:53")));
        for port in UdpEcho::REFLECTORS {
            assert!(u.refuses(addr(&format!("[::1]:{port}"))), "{port}");
        }
        assert!(u.refuses(addr("[::1]:8889")), "itself over IPv6");
        // Bound to a wildcard: any address with its port is itself.
        let u = UdpEcho::new().with_local(addr("0.0.0.0:7777"));
        assert!(u.refuses(addr("192.168.1.9:7777")) && u.refuses(addr("127.0.0.1:7777")));
        assert!(!u.refuses(addr("192.168.1.9:7778")));
        // Unbound (an embedder that never said): the port rules still hold.
        assert!(!UdpEcho::new().refuses(addr("127.0.0.1:8889")));
    }

    #[test]
    fn udp_refused_datagrams_get_no_answer_and_are_counted() {
        use crate::Datagrams;
        let mut u = UdpEcho::new();
        let me: SocketAddr = "127.0.0.1:8889".parse().unwrap();
        Datagrams::handle_bound(&mut u, me);
        // One forged datagram "from" the server: no reply, so no loop.
        Datagrams::handle_datagram(&mut u, T0, me, b"loop");
        Datagrams::handle_datagram(&mut u, T0, "127.0.0.1:19".parse().unwrap(), b"chargen");
        assert!(Datagrams::poll_transmit(&mut u).is_none());
        assert_eq!((u.refused(), u.dropped()), (2, 0));
        let honest: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        Datagrams::handle_datagram(&mut u, T0, honest, b"hi");
        assert_eq!(Datagrams::poll_transmit(&mut u).map(|(to, _)| to), Some(honest));
    }
}
