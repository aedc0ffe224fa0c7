//! # sansnet-net: what every sansnet transport shares
//!
//! Addresses ([`Endpoint`]: TCP over IPv4 or IPv6, or a Unix domain socket),
//! socket options applied through socket2 ([`SocketOptions`]), listeners
//! bound with them ([`Listener`]), the wall clock mapped onto the core's
//! [`Instant`] ([`Clock`]), a shutdown signal that both threads and tasks can
//! wait on ([`Shutdown`]), and the server settings ([`ServerConfig`]).
//!
//! And the **connection engine**: every decision a driver makes about a
//! connection, written once and without I/O, so that the transports
//! (`sansnet-std` with threads, `sansnet-futures` under `sansnet-smol` and
//! `sansnet-async-std`) only wait and make system calls:
//!
//! - [`Engine`]: one connection's steps ([`Step`]: write, read until a
//!   deadline, wait for the application's work, sleep, linger, stop, fail)
//!   over the core's drain contract, with its input buffer and [`Outbox`];
//! - [`Admission`]: accepting under the connection cap, backing off after
//!   an accept error; [`Linger`]: the drain of a lingering close;
//! - [`HubHost`], [`HubWriter`] and [`reader_news`]: hosting a [`Hub`]
//!   (the chat room), its per-connection writers and readers;
//! - [`datagram_start`] / [`datagram_in`] / [`datagram_out`]: the datagram loop;
//! - [`EngineError`]: every error text the drivers produce;
//! - [`Transport`] and [`transport!`]: the runtime-generic entry points and
//!   the one implementation of them every transport crate expands.
//!
//! Nothing here knows a protocol: that is the core's job (`sansnet-proto`).
//!
//! [`Hub`]: sansnet_proto::Hub

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sansnet_proto::Instant;
mod engine;
mod hub;
mod pump;
mod splice;
mod transport;
pub use engine::{
    Admission, Admit, Engine, EngineError, Linger, Step, connection_ended, datagram_in,
    datagram_out, datagram_start, is_quiet,
};
pub use hub::{
    Gate, HubHost, HubStep, HubWriter, Mail, Mailbox, ReaderNews, ToHub, ToWriter, TryWrite,
    Writer, WriterQueue, WriterStep, mailbox, reader_news, writer_channel,
};
pub use pump::{Front, Outbox, fire_timers, pump};
#[doc(hidden)]
pub use sansnet_proto as __proto;
pub use splice::{BLOCKING_CALL, FilePiece, SPLICE_PIECE};
pub use transport::{Blocking, Factory, Job, Probes, Transport};

use event_listener::Listener as _;
use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};

/// Where a server listens or a client connects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP over IPv4 or IPv6.
    Tcp(SocketAddr),
    /// A Unix domain stream socket at this path.
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    /// `127.0.0.1:8080`, `[::1]:8080`, or the socket's path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "{a}"),
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

impl FromStr for Endpoint {
    type Err = io::Error;

    /// `HOST:PORT` (`[::1]:8080` for IPv6, names resolved), or `unix:PATH`.
    fn from_str(s: &str) -> io::Result<Endpoint> {
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let addr = s.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("no address for {s}"))
        })?;
        Ok(Endpoint::Tcp(addr))
    }
}

/// Socket options (PROTOCOLS.md §4). `None` leaves the system default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// SO_REUSEADDR on listening sockets (default on).
    pub reuse_address: bool,
    /// TCP_NODELAY on connections (default on: request/response protocols
    /// should not wait for Nagle).
    pub nodelay: bool,
    /// SO_RCVBUF in bytes.
    pub recv_buffer: Option<usize>,
    /// SO_SNDBUF in bytes.
    pub send_buffer: Option<usize>,
    /// TCP keepalive: idle time before the first probe.
    pub keepalive: Option<Duration>,
    /// Listen backlog (default 1024).
    pub backlog: i32,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            reuse_address: true,
            nodelay: true,
            recv_buffer: None,
            send_buffer: None,
            keepalive: None,
            backlog: 1024,
        }
    }
}

impl SocketOptions {
    /// Applies the per-connection options to a TCP socket.
    pub fn apply(&self, sock: &Socket) -> io::Result<()> {
        if self.nodelay {
            sock.set_tcp_nodelay(true)?;
        }
        self.apply_buffers(sock)?;
        if let Some(idle) = self.keepalive {
            sock.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle))?;
        }
        Ok(())
    }

    fn apply_buffers(&self, sock: &Socket) -> io::Result<()> {
        if let Some(n) = self.recv_buffer {
            sock.set_recv_buffer_size(n)?;
        }
        if let Some(n) = self.send_buffer {
            sock.set_send_buffer_size(n)?;
        }
        Ok(())
    }

    /// The options as the kernel reports them on `sock` (for `-v`).
    pub fn effective(sock: &Socket) -> String {
        let show = |r: io::Result<String>| r.unwrap_or_else(|e| format!("? ({e})"));
        format!(
            "{} nodelay={} keepalive={}",
            SocketOptions::effective_udp(sock),
            show(sock.tcp_nodelay().map(|v| v.to_string())),
            show(sock.keepalive().map(|v| v.to_string())),
        )
    }

    /// The options of a socket that apply to UDP too, for `-v`.
    pub fn effective_udp(sock: &Socket) -> String {
        let show = |r: io::Result<String>| r.unwrap_or_else(|e| format!("? ({e})"));
        format!(
            "reuse_address={} recv_buffer={} send_buffer={}",
            show(sock.reuse_address().map(|v| v.to_string())),
            show(sock.recv_buffer_size().map(|v| v.to_string())),
            show(sock.send_buffer_size().map(|v| v.to_string())),
        )
    }

    /// Connects to `endpoint` with these options and a connect timeout.
    pub fn connect(&self, endpoint: &Endpoint, timeout: Option<Duration>) -> io::Result<Stream> {
        match endpoint {
            Endpoint::Tcp(addr) => {
                let sock = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
                self.apply_buffers(&sock)?;
                match timeout {
                    Some(t) => sock.connect_timeout(&(*addr).into(), t)?,
                    None => sock.connect(&(*addr).into())?,
                }
                let stream: TcpStream = sock.into();
                self.apply(&SockRef::from(&stream))?;
                Ok(Stream::Tcp(stream))
            }
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
        }
    }
}

/// A connected stream: TCP or Unix.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket.
    Unix(UnixStream),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Stream::Tcp($s) => $e,
            Stream::Unix($s) => $e,
        }
    };
}

impl Stream {
    /// See [`TcpStream::set_read_timeout`].
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_read_timeout(t))
    }
    /// See [`TcpStream::set_write_timeout`].
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_write_timeout(t))
    }
    /// See [`TcpStream::shutdown`].
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        each!(self, s => s.shutdown(how))
    }
    /// See [`TcpStream::try_clone`].
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
    /// See [`TcpStream::set_nonblocking`].
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        each!(self, s => s.set_nonblocking(on))
    }
}

/// A blocking stream written without blocking (`MSG_DONTWAIT`): how the
/// std transport's hub thread writes to an idle chat member directly.
impl hub::TryWrite for Stream {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        socket2::SockRef::from(self).send_with_flags(buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    }
}

impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        each!(self, s => s.as_fd())
    }
}

impl std::os::fd::AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
        }
    }
}

impl io::Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, s => (&*s).read(buf))
    }
}

impl io::Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(self, s => (&*s).write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, s => s.read(buf))
    }
}

impl io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(self, s => s.write(buf))
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        each!(self, s => s.write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix; the path is removed when the listener is dropped.
    Unix(UnixListener, UnixPath),
}

/// The path of a Unix listener, removed on drop.
#[derive(Debug)]
pub struct UnixPath(PathBuf);

impl Drop for UnixPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Listener {
    /// Binds `endpoint` with `opts` (SO_REUSEADDR, buffer sizes, backlog).
    /// A Unix path that holds a stale socket (nobody accepting) is replaced.
    pub fn bind(endpoint: &Endpoint, opts: &SocketOptions) -> io::Result<Listener> {
        match endpoint {
            Endpoint::Tcp(addr) => {
                let sock = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
                sock.set_reuse_address(opts.reuse_address)?;
                if addr.is_ipv6() {
                    sock.set_only_v6(true)?;
                }
                opts.apply_buffers(&sock)?;
                sock.bind(&(*addr).into())?;
                sock.listen(opts.backlog)?;
                Ok(Listener::Tcp(sock.into()))
            }
            Endpoint::Unix(path) => {
                remove_stale_socket(path);
                let l = UnixListener::bind(path)?;
                Ok(Listener::Unix(l, UnixPath(path.clone())))
            }
        }
    }

    /// The bound address (with the port the system picked for port 0).
    pub fn local_addr(&self) -> io::Result<Endpoint> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(Endpoint::Tcp),
            Listener::Unix(_, p) => Ok(Endpoint::Unix(p.0.clone())),
        }
    }

    /// The effective socket options, for `-v`.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => SocketOptions::effective(&SockRef::from(l)),
            Listener::Unix(l, _) => SocketOptions::effective(&SockRef::from(l)),
        }
    }

    /// Accepts one connection (blocking unless non-blocking was set) and
    /// applies the per-connection options of `opts` to TCP ones.
    pub fn accept(&self, opts: &SocketOptions) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                opts.apply(&SockRef::from(&s))?;
                Ok(Stream::Tcp(s))
            }
            Listener::Unix(l, _) => Ok(Stream::Unix(l.accept()?.0)),
        }
    }

    /// Puts the listener in non-blocking mode (for the async transports).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(on),
            Listener::Unix(l, _) => l.set_nonblocking(on),
        }
    }

    /// Connects to this listener once, to wake a thread blocked in
    /// `accept` (the std transport's shutdown uses it).
    pub fn poke(&self) {
        let Ok(addr) = self.local_addr() else { return };
        let target = match addr {
            Endpoint::Tcp(mut a) => {
                if a.ip().is_unspecified() {
                    a.set_ip(if a.is_ipv4() {
                        std::net::Ipv4Addr::LOCALHOST.into()
                    } else {
                        std::net::Ipv6Addr::LOCALHOST.into()
                    });
                }
                Endpoint::Tcp(a)
            }
            unix => unix,
        };
        let _ = SocketOptions::default().connect(&target, Some(Duration::from_secs(1)));
    }
}

/// The listeners one hub serves (`Transport::serve_hub`): one, or several
/// that feed the same hub (a chat room's TCP port and its web port). The
/// hub learns which one accepted a connection from
/// [`Input::Opened`](sansnet_proto::Input::Opened)'s `listener`: the index
/// in this list. A single [`Listener`] converts into it.
#[derive(Debug)]
pub struct Listeners(pub Vec<Listener>);

impl From<Listener> for Listeners {
    fn from(listener: Listener) -> Listeners {
        Listeners(vec![listener])
    }
}

impl From<Vec<Listener>> for Listeners {
    fn from(listeners: Vec<Listener>) -> Listeners {
        Listeners(listeners)
    }
}

/// Binds a UDP socket with `opts` (SO_REUSEADDR, buffer sizes).
pub fn bind_udp(addr: SocketAddr, opts: &SocketOptions) -> io::Result<std::net::UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
    sock.set_reuse_address(opts.reuse_address)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    opts.apply_buffers(&sock)?;
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// Removes `path` if it is a Unix socket nobody is accepting on.
fn remove_stale_socket(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    if meta.file_type().is_socket() && UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
}

/// The wall clock, as the core's [`Instant`] (nanoseconds since the clock
/// was made).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn new() -> Clock {
        Clock { epoch: std::time::Instant::now() }
    }

    /// Now, for the core.
    pub fn now(&self) -> Instant {
        self.from_std(std::time::Instant::now())
    }

    /// A std instant as the core's.
    pub fn from_std(&self, t: std::time::Instant) -> Instant {
        let nanos = t.saturating_duration_since(self.epoch).as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The core's instant as a std one (far future for [`Instant::MAX`]).
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.epoch
            .checked_add(t.since_epoch())
            .unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(86_400 * 365))
    }
}

/// A one-way shutdown signal, cheap to clone, that threads can block on
/// and tasks can await.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<ShutdownInner>,
}

#[derive(Debug, Default)]
struct ShutdownInner {
    flag: AtomicBool,
    event: event_listener::Event,
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Triggers it: servers stop accepting and finish what is in flight.
    pub fn trigger(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        self.inner.event.notify(usize::MAX);
    }

    /// Whether it was triggered.
    pub fn is_triggered(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// A listener that completes when the signal is triggered after this
    /// call (check [`is_triggered`](Self::is_triggered) too). Made once and
    /// kept, it lets a connection wait for shutdown without registering
    /// anew on every wait.
    pub fn listener(&self) -> event_listener::EventListener {
        self.inner.event.listen()
    }

    /// Blocks the thread until triggered.
    pub fn wait_blocking(&self) {
        loop {
            if self.is_triggered() {
                return;
            }
            let listener = self.inner.event.listen();
            if self.is_triggered() {
                return;
            }
            listener.wait();
        }
    }

    /// Completes when triggered.
    pub async fn wait(&self) {
        loop {
            if self.is_triggered() {
                return;
            }
            let listener = self.inner.event.listen();
            if self.is_triggered() {
                return;
            }
            listener.await;
        }
    }
}

/// The per-connection settings, as `-v` prints them.
impl std::fmt::Display for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.socket;
        write!(
            f,
            "nodelay={} recv_buffer={:?} send_buffer={:?} keepalive={:?} backlog={} \
             max_connections={}",
            o.nodelay, o.recv_buffer, o.send_buffer, o.keepalive, o.backlog, self.max_connections
        )
    }
}

/// Server settings every transport honours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Connections served at once; past it new ones are closed at once.
    /// Default 10,000 (the std transport spends a thread on each).
    pub max_connections: usize,
    /// Bytes read per read call, and the most a connection buffers while
    /// its machine wants input. Default 64 KiB.
    pub read_buffer: usize,
    /// How long a write may stall before the connection is dropped (a peer
    /// that never reads). Default 30 s.
    pub write_timeout: Duration,
    /// After shutdown, how long in-flight exchanges may take. Default 5 s.
    pub grace: Duration,
    /// Options for accepted connections.
    pub socket: SocketOptions,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 10_000,
            read_buffer: 64 * 1024,
            write_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(5),
            socket: SocketOptions::default(),
        }
    }
}

/// Counts open connections against [`ServerConfig::max_connections`].
#[derive(Clone, Debug, Default)]
pub struct ConnCounter(Arc<AtomicUsize>);

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnSlot(Arc<AtomicUsize>);

impl ConnCounter {
    /// A slot, unless `max` are taken.
    pub fn try_acquire(&self, max: usize) -> Option<ConnSlot> {
        let mut n = self.0.load(Ordering::Relaxed);
        loop {
            if n >= max {
                return None;
            }
            match self.0.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(ConnSlot(self.0.clone())),
                Err(now) => n = now,
            }
        }
    }

    /// Open connections now.
    pub fn current(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A printable peer address of an accepted connection.
pub fn peer_label(stream: &Stream) -> String {
    match stream {
        Stream::Tcp(s) => s.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into()),
        Stream::Unix(_) => "unix".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print() {
        let e: Endpoint = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(e.to_string(), "127.0.0.1:8080");
        let e: Endpoint = "[::1]:8080".parse().unwrap();
        assert_eq!(e.to_string(), "[::1]:8080");
        let e: Endpoint = "unix:/tmp/x.sock".parse().unwrap();
        assert_eq!(e, Endpoint::Unix("/tmp/x.sock".into()));
    }

    #[test]
    fn clock_round_trips() {
        let c = Clock::new();
        let t = std::time::Instant::now() + Duration::from_millis(5);
        let back = c.to_std(c.from_std(t));
        assert!(back.max(t) - back.min(t) < Duration::from_micros(1));
    }

    #[test]
    fn counter_caps() {
        let c = ConnCounter::default();
        let a = c.try_acquire(2).unwrap();
        let _b = c.try_acquire(2).unwrap();
        assert!(c.try_acquire(2).is_none());
        drop(a);
        assert!(c.try_acquire(2).is_some());
    }

    #[test]
    fn shutdown_wakes_a_blocked_thread() {
        let s = Shutdown::new();
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.wait_blocking());
        s.trigger();
        t.join().unwrap();
        assert!(s.is_triggered());
    }

    #[test]
    fn binds_port_zero_and_reports_it() {
        let l = Listener::bind(&"127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let Endpoint::Tcp(a) = l.local_addr().unwrap() else { panic!() };
        assert_ne!(a.port(), 0);
        assert!(l.describe().contains("reuse_address=true"));
    }
}
