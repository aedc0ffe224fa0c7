//! # sansnet-std: the sansnet machines over std blocking sockets
//!
//! A thread per connection (the reference programs' design), each running
//! the one generic [`drive`] loop over any [`Session`]: HTTP, echo, file
//! transfer. What keeps a thread from being pinned by a slow or silent
//! peer: reads wait at most until the machine's next deadline (the HTTP
//! header and idle timers), writes give up after
//! [`ServerConfig::write_timeout`], and connections past
//! [`ServerConfig::max_connections`] are closed on accept. Work an
//! application runs beside the connection ([`App::poll_work`]) is picked up
//! before each round and waited for while the session wants no input.
//!
//! The API mirrors `sansnet-smol` and `sansnet-async-std` name for name, so
//! a program changes runtime by changing one `use` line:
//!
//! ```no_run
//! use sansnet_std as rt; // or: use sansnet_smol as rt; / use sansnet_async_std as rt;
//! use sansnet_proto::http::{Event, Limits, ServerConn};
//!
//! let listener = rt::Listener::bind(&"127.0.0.1:8080".parse()?, &rt::SocketOptions::default())?;
//! println!("listening on {}", listener.local_addr()?);
//! rt::serve(listener, &rt::ServerConfig::default(), &rt::Shutdown::new(), |now, _peer: &str| {
//!     let app = |conn: &mut ServerConn, ev: Event| {
//!         if let Event::End = ev {
//!             let _ = conn.respond(200, &[], "hello\n".into());
//!         }
//!     };
//!     (ServerConn::new(Limits::default(), now), app)
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::Shutdown as How;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
pub use sansnet_net::{
    Clock, Endpoint, Listener, ServerConfig, Shutdown, SocketOptions, Stream, bind_udp,
};
use sansnet_net::{
    ConnCounter, Factory, Gate, HubHost, Outbox, Probes, ToHub, fire_timers, pump, writer_channel,
};
pub use sansnet_proto as proto;
use sansnet_proto::{App, ConnId, Datagrams, Hub, Session};

/// Live connections, so that shutdown can wake idle ones. The lock is held
/// only to add, remove or copy entries, never across I/O.
#[derive(Default)]
struct Registry {
    conns: Mutex<BTreeMap<u64, Entry>>,
}

/// A live connection's stream and its idle flag.
type Entry = (Arc<Stream>, Arc<AtomicBool>);

impl Registry {
    fn snapshot(&self, only_idle: bool) -> Vec<Arc<Stream>> {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns
            .values()
            .filter(|(_, idle)| !only_idle || idle.load(Ordering::SeqCst))
            .map(|(s, _)| s.clone())
            .collect()
    }
}

/// Serves `listener` until `shutdown` is triggered: each accepted connection
/// gets a thread running [`drive`] over the session and app that `factory`
/// makes from the current time and the peer's address.
///
/// After the trigger it stops accepting, closes idle connections, lets the
/// others finish for up to [`ServerConfig::grace`], then cuts what is left
/// and returns `Ok(())`.
pub fn serve<F: Factory>(
    listener: Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    factory: F,
) -> io::Result<()> {
    let clock = Clock::new();
    let factory = Arc::new(factory);
    let counter = ConnCounter::default();
    let registry = Arc::new(Registry::default());
    let listener = Arc::new(listener);
    // Wakes the blocking accept below when shutdown comes.
    let waker = {
        let (l, sd) = (listener.clone(), shutdown.clone());
        thread::Builder::new().name("sansnet-waker".into()).spawn(move || {
            sd.wait_blocking();
            l.poke();
        })?
    };
    let mut next_id = 0u64;
    while let Some((stream, slot)) = accept_slot(&listener, config, shutdown, &counter) {
        let peer = sansnet_net::peer_label(&stream);
        let idle = Arc::new(AtomicBool::new(false));
        next_id += 1;
        let id = next_id;
        // Shared, not `try_clone`d: one descriptor per connection.
        let stream = Arc::new(stream);
        registry
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, (stream.clone(), idle.clone()));
        let (factory, reg, sd, cfg) =
            (factory.clone(), registry.clone(), shutdown.clone(), config.clone());
        let spawned = thread::Builder::new().name("sansnet-conn".into()).spawn(move || {
            let _slot = slot;
            let (mut session, mut app) = factory.make(clock.now(), &peer);
            let ctl = Control { clock, shutdown: sd, config: cfg, idle };
            if let Err(e) = drive(&stream, &mut session, &mut app, &ctl) {
                tracing::debug!("connection {peer}: {e}");
            }
            reg.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
        if let Err(e) = spawned {
            tracing::warn!("spawn: {e}");
            registry.conns.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        }
    }
    // Stop accepting: close the listening socket (and remove a Unix socket's
    // file) now, so that new clients are refused rather than left waiting.
    let _ = waker.join();
    drop(listener);
    // Graceful stop: idle connections now, the rest after the grace period.
    for s in registry.snapshot(true) {
        let _ = s.shutdown(How::Read);
    }
    let deadline = std::time::Instant::now() + config.grace;
    while counter.current() > 0 && std::time::Instant::now() < deadline {
        for s in registry.snapshot(true) {
            let _ = s.shutdown(How::Read);
        }
        thread::sleep(Duration::from_millis(5));
    }
    for s in registry.snapshot(false) {
        let _ = s.shutdown(How::Both);
    }
    let cut = std::time::Instant::now() + Duration::from_secs(1);
    while counter.current() > 0 && std::time::Instant::now() < cut {
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Accepts the next connection that fits under the connection cap (others
/// are closed at once); `None` once `shutdown` is triggered.
fn accept_slot(
    listener: &Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    counter: &ConnCounter,
) -> Option<(Stream, sansnet_net::ConnSlot)> {
    loop {
        let accepted = listener.accept(&config.socket);
        if shutdown.is_triggered() {
            return None;
        }
        match accepted {
            Ok(stream) => match counter.try_acquire(config.max_connections) {
                Some(slot) => return Some((stream, slot)),
                None => tracing::debug!("connection cap reached, closing a new connection"),
            },
            Err(e) => {
                tracing::warn!("accept: {e}");
                // Out of descriptors or similar: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// What [`drive`] needs besides the connection: the clock, the shutdown
/// signal, the settings, and a flag it raises while idle so that a
/// shutdown can close the connection.
#[derive(Clone, Debug)]
pub struct Control {
    /// The clock the session's deadlines are on.
    pub clock: Clock,
    /// Stops the connection once it is idle.
    pub shutdown: Shutdown,
    /// Buffer sizes and timeouts.
    pub config: ServerConfig,
    /// Raised while the session is idle and the driver waits for input.
    pub idle: Arc<AtomicBool>,
}

impl Control {
    /// Defaults, with a fresh clock and a shutdown nobody triggers.
    pub fn new(config: ServerConfig) -> Control {
        Control {
            clock: Clock::new(),
            shutdown: Shutdown::new(),
            config,
            idle: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The generic driver: runs one session over one blocking stream until it
/// finishes, following the core's drain contract. Every protocol runs
/// through this one loop.
pub fn drive<S: Session, A: App<S>>(
    stream: &Stream,
    session: &mut S,
    app: &mut A,
    ctl: &Control,
) -> io::Result<()> {
    let cap = ctl.config.read_buffer.max(1024);
    // Small at first (an idle connection's thread blocks reading into it),
    // doubled by full reads up to the configured size.
    let mut scratch = vec![0u8; cap.min(4 * 1024)];
    let mut inbuf = BytesMut::new();
    let mut out = Outbox::new();
    stream.set_write_timeout(Some(ctl.config.write_timeout))?;
    let mut read_timeout = None;
    stream.set_read_timeout(None)?;
    // Wakes this thread when the application's work finishes.
    let mut unpark: Option<Waker> = None;
    loop {
        let now = ctl.clock.now();
        fire_timers(session, now);
        if app.is_working() {
            // Work that finished meanwhile (never waited for here).
            let _ = app.poll_work(session, &mut Context::from_waker(Waker::noop()));
        }
        pump(session, app, &mut inbuf, now, &mut out);
        while let Some(chunk) = out.front() {
            let began = std::time::Instant::now();
            let n = match { stream }.write(chunk) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                // The send timeout ran out with only part written: the peer
                // took next to nothing for that long. (It may still trickle
                // a few KiB a second into a full window, so a partial
                // success is not enough to keep the connection.)
                Ok(n) if n < chunk.len() && began.elapsed() >= ctl.config.write_timeout => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "write stalled"));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.advance(n);
            session.handle_sent(ctl.clock.now(), n);
        }
        if session.is_finished() {
            return linger_close(stream, &mut scratch);
        }
        app.on_drained(session);
        if pump(session, app, &mut inbuf, now, &mut out) {
            continue;
        }
        if ctl.shutdown.is_triggered() && session.is_idle() && inbuf.is_empty() {
            return Ok(());
        }
        let deadline = session.poll_timeout();
        if !session.wants_read() {
            if app.is_working() {
                // The application's work, or the deadline, moves it now.
                let waker = unpark.get_or_insert_with(|| Waker::from(Arc::new(Unpark::current())));
                wait_for_work(session, app, waker, deadline.map(|at| ctl.clock.to_std(at)));
                continue;
            }
            // Only a deadline can move it now.
            let Some(at) = deadline else {
                return Err(io::Error::other("session stalled: no input wanted, no deadline"));
            };
            thread::sleep(
                ctl.clock.to_std(at).saturating_duration_since(std::time::Instant::now()),
            );
            continue;
        }
        if inbuf.len() >= cap {
            return Err(io::Error::other("input buffer full and the session consumed nothing"));
        }
        let wait = deadline.map(|at| {
            let d = ctl.clock.to_std(at).saturating_duration_since(std::time::Instant::now());
            d.max(Duration::from_millis(1))
        });
        if let Some(t) = read_timeout_change(read_timeout, wait) {
            stream.set_read_timeout(t)?;
            read_timeout = t;
        }
        ctl.idle.store(session.is_idle() && inbuf.is_empty(), Ordering::SeqCst);
        if ctl.shutdown.is_triggered() && session.is_idle() && inbuf.is_empty() {
            return Ok(());
        }
        let r = { stream }.read(&mut scratch);
        ctl.idle.store(false, Ordering::SeqCst);
        match r {
            Ok(0) => session.handle_eof(ctl.clock.now()),
            Ok(n) => {
                inbuf.extend_from_slice(&scratch[..n]);
                if n == scratch.len() && scratch.len() < cap {
                    // Full reads: grow toward the configured size.
                    scratch.resize((scratch.len() * 2).min(cap), 0);
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A waker that unparks the thread that made it.
struct Unpark(thread::Thread);

impl Unpark {
    fn current() -> Unpark {
        Unpark(thread::current())
    }
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Blocks until some of the application's work finished
/// ([`App::poll_work`]) or `until` passed.
fn wait_for_work<S: Session, A: App<S>>(
    session: &mut S,
    app: &mut A,
    waker: &Waker,
    until: Option<std::time::Instant>,
) {
    let mut cx = Context::from_waker(waker);
    // A wake-up between the poll and the park leaves the park's token set:
    // the park returns at once.
    while app.poll_work(session, &mut cx).is_pending() {
        match until {
            Some(t) => {
                let left = t.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return;
                }
                thread::park_timeout(left);
            }
            None => thread::park(),
        }
    }
}

/// The socket read timeout to set, if the current one will not do. A read
/// timeout is relative to each read, so one that is already shorter than
/// the wait only wakes the loop early (timers then fire nothing and the
/// loop waits again): it is kept, which spares a `setsockopt` per request
/// when a timer is re-armed to about the same length after each exchange.
/// A new one is set a sixteenth short, so that the next re-arm to the same
/// length finds it short enough.
fn read_timeout_change(
    current: Option<Duration>,
    wanted: Option<Duration>,
) -> Option<Option<Duration>> {
    match (current, wanted) {
        (None, None) => None,
        (Some(_), None) => Some(None),
        (Some(c), Some(w)) if c <= w && c >= w / 2 => None,
        (_, Some(w)) => Some(Some((w - w / 16).max(Duration::from_millis(1)))),
    }
}

/// Closes after a finished exchange without losing the last response: shut
/// the write side, then read (and drop) what the peer still sends for a
/// moment, so the kernel does not answer it with a reset that could
/// destroy the response in flight.
fn linger_close(mut stream: &Stream, scratch: &mut [u8]) -> io::Result<()> {
    let _ = stream.shutdown(How::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut left = 256 * 1024usize;
    while left > 0 {
        match stream.read(scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
    Ok(())
}

/// Serves `listener` with one [`Hub`] machine (the chat room) for every
/// connection until `shutdown` is triggered. The hub lives on the calling
/// thread alone and is fed through a channel, so it needs no lock; each
/// connection gets a reader thread and a writer thread. Hub events go to
/// `on_event`. On shutdown every connection is ended through the hub (so it
/// can say goodbye) and given [`ServerConfig::grace`] to flush.
pub fn serve_hub<H, E>(
    listener: Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    hub: H,
    mut on_event: E,
) -> io::Result<()>
where
    H: Hub,
    E: FnMut(&mut H, H::Event),
{
    let clock = Clock::new();
    let (to_hub, inbox) = mpsc::channel::<Option<ToHub>>();
    let listener = Arc::new(listener);
    let counter = ConnCounter::default();
    let (l, sd, cfg, tx, counter) =
        (listener.clone(), shutdown.clone(), config.clone(), to_hub.clone(), counter.clone());
    let acceptor = thread::Builder::new()
        .name("sansnet-accept".into())
        .spawn(move || accept_hub(&l, &cfg, &sd, &tx, &counter))?;
    // On shutdown: wake the accept thread, and tell the hub thread (None).
    let (l, sd, tx) = (listener, shutdown.clone(), to_hub.clone());
    let waker = thread::Builder::new().name("sansnet-waker".into()).spawn(move || {
        sd.wait_blocking();
        let _ = tx.send(None);
        l.poke();
    })?;
    let mut threads = Some((acceptor, waker));
    drop(to_hub);
    let mut host = HubHost::new(hub);
    let mut stopping: Option<std::time::Instant> = None;
    loop {
        let now = clock.now();
        host.handle_timeout(now);
        host.flush(now, &mut on_event);
        if let Some(since) = stopping
            && (host.is_empty() || since.elapsed() >= config.grace)
        {
            return Ok(());
        }
        let wait = match (host.poll_timeout(), stopping) {
            (Some(at), _) => clock.to_std(at).saturating_duration_since(std::time::Instant::now()),
            (None, Some(_)) => Duration::from_millis(20),
            (None, None) => Duration::from_secs(3600),
        };
        match inbox.recv_timeout(wait) {
            Ok(Some(m)) => host.handle(clock.now(), m),
            Ok(None) => {
                if stopping.is_none() {
                    stopping = Some(std::time::Instant::now());
                    host.end_all(clock.now());
                }
                // Stop accepting: once both threads are done with it, the
                // listening socket closes (and a Unix socket's file goes).
                if let Some((acceptor, waker)) = threads.take() {
                    let _ = waker.join();
                    let _ = acceptor.join();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

fn accept_hub(
    listener: &Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    to_hub: &mpsc::Sender<Option<ToHub>>,
    counter: &ConnCounter,
) {
    let mut next = 0u64;
    while let Some((stream, slot)) = accept_slot(listener, config, shutdown, counter) {
        let (Ok(reader), Ok(writer_stream)) = (stream.try_clone(), stream.try_clone()) else {
            continue;
        };
        next += 1;
        let conn = ConnId(next);
        let peer = sansnet_net::peer_label(&stream);
        // The hub thread writes to an idle member itself, without blocking.
        let (writer, mut queue) = writer_channel(Some(Arc::new(stream)));
        let gate = Gate::new();
        if to_hub.send(Some(ToHub::Opened { conn, peer, writer, gate: gate.clone() })).is_err() {
            return;
        }
        let tx = to_hub.clone();
        let _ = thread::Builder::new().name("sansnet-read".into()).spawn(move || {
            let mut reader = reader;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                gate.wait_open_blocking();
                match reader.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        let data = bytes::Bytes::copy_from_slice(&buf[..n]);
                        if tx.send(Some(ToHub::Read { conn, data })).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    _ => {
                        let _ = tx.send(Some(ToHub::Eof { conn }));
                        return;
                    }
                }
            }
        });
        let (tx, write_timeout) = (to_hub.clone(), config.write_timeout);
        let _ = thread::Builder::new().name("sansnet-write".into()).spawn(move || {
            let _slot = slot;
            let mut w = writer_stream;
            let _ = w.set_write_timeout(Some(write_timeout));
            let mut scratch = [0u8; 4096];
            let mut out = Outbox::new();
            'outer: while let Some(first) = queue.recv_blocking() {
                let close = queue.gather(first, &mut out, 64 * 1024);
                while let Some(chunk) = out.front() {
                    match w.write(chunk) {
                        Ok(n) if n > 0 => {
                            out.advance(n);
                            if tx.send(Some(ToHub::Sent { conn, n })).is_err() {
                                break 'outer;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        _ => break 'outer,
                    }
                }
                queue.written();
                if close {
                    let _ = linger_close(&w, &mut scratch);
                    break;
                }
            }
            let _ = w.shutdown(How::Both);
            let _ = tx.send(Some(ToHub::Gone { conn }));
        });
    }
}

/// Serves a datagram machine (UDP echo) on `socket` until `shutdown` is
/// triggered: each datagram in, each reply out. Datagrams up to 64 KiB.
pub fn serve_datagrams<D: Datagrams>(
    socket: std::net::UdpSocket,
    shutdown: &Shutdown,
    mut machine: D,
) -> io::Result<()> {
    let clock = Clock::new();
    // Wake up now and then to notice a shutdown: one socket, so it is cheap.
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut buf = vec![0u8; 64 * 1024];
    while !shutdown.is_triggered() {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => machine.handle_datagram(clock.now(), from, &buf[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => tracing::debug!("udp recv: {e}"),
        }
        while let Some((to, data)) = machine.poll_transmit() {
            if let Err(e) = socket.send_to(&data, to) {
                tracing::debug!("udp send to {to}: {e}");
            }
        }
    }
    Ok(())
}

/// Connects to `host` on every port `probes` hands out, at most
/// `concurrency` at once (a pool of that many threads, each connecting with
/// `timeout`), and records each raw result in `probes`; see
/// [`Transport::connect_each`](sansnet_net::Transport::connect_each).
pub fn connect_each(
    host: std::net::IpAddr,
    concurrency: usize,
    timeout: Duration,
    probes: &dyn Probes,
) -> io::Result<()> {
    let work = || {
        while let Some(port) = probes.next_port() {
            let addr = std::net::SocketAddr::new(host, port);
            let result = std::net::TcpStream::connect_timeout(&addr, timeout)
                .and_then(|s| Ok((s.local_addr()?, s.peer_addr()?)));
            probes.record(port, result);
        }
    };
    thread::scope(|scope| {
        for started in 0..concurrency.max(1) {
            let spawned = thread::Builder::new()
                .name("sansnet-scan".into())
                .stack_size(64 * 1024)
                .spawn_scoped(scope, work);
            match spawned {
                Ok(_) => {}
                // The threads already running finish the scan.
                Err(e) if started > 0 => {
                    tracing::warn!("scan: {started} threads instead of {concurrency}: {e}");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
}

/// Runs one client session over a connected `stream` until it finishes;
/// see [`Transport::run_client`](sansnet_net::Transport::run_client).
pub fn run_client<S: Session, A: App<S>>(
    stream: Stream,
    config: &ServerConfig,
    clock: Clock,
    session: &mut S,
    app: &mut A,
) -> io::Result<()> {
    let ctl = Control { clock, ..Control::new(config.clone()) };
    drive(&stream, session, app, &ctl)
}

/// The std transport, for code generic over the runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct Runtime;

impl sansnet_net::Transport for Runtime {
    const NAME: &'static str = "std";
    const BLOCKING: sansnet_net::Blocking = sansnet_net::Blocking::Inline;

    fn serve<F: Factory>(
        listener: Listener,
        config: &ServerConfig,
        shutdown: &Shutdown,
        factory: F,
    ) -> io::Result<()> {
        serve(listener, config, shutdown, factory)
    }

    fn serve_hub<H, E>(
        listener: Listener,
        config: &ServerConfig,
        shutdown: &Shutdown,
        hub: H,
        on_event: E,
    ) -> io::Result<()>
    where
        H: Hub,
        E: FnMut(&mut H, H::Event),
    {
        serve_hub(listener, config, shutdown, hub, on_event)
    }

    fn serve_datagrams<D: Datagrams>(
        socket: std::net::UdpSocket,
        shutdown: &Shutdown,
        machine: D,
    ) -> io::Result<()> {
        serve_datagrams(socket, shutdown, machine)
    }

    fn run_client<S: Session, A: App<S>>(
        stream: Stream,
        config: &ServerConfig,
        clock: Clock,
        session: &mut S,
        app: &mut A,
    ) -> io::Result<()> {
        run_client(stream, config, clock, session, app)
    }

    fn connect_each(
        host: std::net::IpAddr,
        concurrency: usize,
        timeout: Duration,
        probes: &dyn Probes,
    ) -> io::Result<()> {
        connect_each(host, concurrency, timeout, probes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_timeout_is_kept_while_it_wakes_early_enough() {
        let s = Duration::from_secs;
        // Nothing set yet: set a little short of the wait.
        assert_eq!(read_timeout_change(None, Some(s(16))), Some(Some(s(15))));
        // The same timer re-armed: 15 s still wakes us in time.
        assert_eq!(read_timeout_change(Some(s(15)), Some(s(16))), None);
        assert_eq!(read_timeout_change(Some(s(15)), Some(s(15))), None);
        // A sooner deadline must shorten it.
        assert_eq!(read_timeout_change(Some(s(15)), Some(s(8))), Some(Some(s(8) - s(8) / 16)));
        // Far too short for a long wait: lengthen, not spin.
        assert_eq!(read_timeout_change(Some(s(1)), Some(s(60))), Some(Some(s(60) - s(60) / 16)));
        // No deadline: block without a timeout.
        assert_eq!(read_timeout_change(Some(s(15)), None), Some(None));
        assert_eq!(read_timeout_change(None, None), None);
        // Never zero (a zero timeout is an error for set_read_timeout).
        assert_eq!(
            read_timeout_change(None, Some(Duration::ZERO)),
            Some(Some(Duration::from_millis(1)))
        );
    }
}
