//! # sansnet-std: the sansnet machines over std blocking sockets
//!
//! A thread per connection (the reference programs' design), each running
//! the one generic [`drive`] loop over any [`Session`]: HTTP, echo, file
//! transfer. What that loop, the accept loop, the hub's reader and writer
//! threads and the datagram loop decide is decided by the connection
//! engine in `sansnet-net` ([`sansnet_net::Engine`] and its neighbours),
//! shared with the async driver; this crate only performs its steps with
//! blocking system calls. What keeps a thread from being pinned by a slow or silent
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use sansnet_net::{
    Admission, Admit, ConnSlot, Engine, EngineError, Factory, Gate, HubHost, HubStep, HubWriter,
    Linger, Probes, ReaderNews, Step, ToHub, WriterStep, connection_ended, datagram_in,
    datagram_out, datagram_start, is_quiet, reader_news, writer_channel,
};
pub use sansnet_net::{
    Clock, Endpoint, Listener, Listeners, Mail, Mailbox, ServerConfig, Shutdown, SocketOptions,
    Stream, bind_udp, mailbox,
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
    let admission = Admission::new(config.max_connections);
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
    while let Some((stream, slot)) = accept_slot(&listener, config, shutdown, &admission) {
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
            connection_ended(&peer, drive(&stream, &mut session, &mut app, &ctl));
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
    while admission.open() > 0 && std::time::Instant::now() < deadline {
        for s in registry.snapshot(true) {
            let _ = s.shutdown(How::Read);
        }
        thread::sleep(Duration::from_millis(5));
    }
    for s in registry.snapshot(false) {
        let _ = s.shutdown(How::Both);
    }
    let cut = std::time::Instant::now() + Duration::from_secs(1);
    while admission.open() > 0 && std::time::Instant::now() < cut {
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
    admission: &Admission,
) -> Option<(Stream, ConnSlot)> {
    loop {
        let accepted = listener.accept(&config.socket);
        if shutdown.is_triggered() {
            return None;
        }
        match admission.admit(accepted) {
            Admit::Serve(stream, slot) => return Some((stream, slot)),
            Admit::Refused => {}
            Admit::BackOff(pause) => thread::sleep(pause),
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

/// What a blocking write or `sendfile` took: `None` when a signal
/// interrupted it (try again); the send timeout running out with nothing
/// taken is [`EngineError::WriteStalled`], the same error, and text, as on
/// the other runtimes.
fn sent(r: io::Result<usize>) -> io::Result<Option<usize>> {
    match r {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) if is_quiet(&e) => Err(EngineError::WriteStalled.into()),
        Err(e) => Err(e),
    }
}

/// The generic driver: runs one session over one blocking stream until it
/// finishes, performing the steps of the connection engine
/// ([`sansnet_net::Engine`]): every protocol runs through this one loop.
pub fn drive<S: Session, A: App<S>>(
    stream: &Stream,
    session: &mut S,
    app: &mut A,
    ctl: &Control,
) -> io::Result<()> {
    stream.set_write_timeout(Some(ctl.config.write_timeout))?;
    let mut read_timeout = None;
    stream.set_read_timeout(None)?;
    let cap = Engine::read_cap(ctl.config.read_buffer);
    let mut engine = Engine::blocking(cap).with_write_timeout(ctl.config.write_timeout).splicing();
    // Small at first (an idle connection's thread blocks reading into it),
    // doubled by full reads up to the configured size.
    let mut scratch = vec![0u8; cap.min(4 * 1024)];
    // Wakes this thread when the application's work finishes.
    let mut unpark: Option<Waker> = None;
    loop {
        let to_std = |at| ctl.clock.to_std(at);
        match engine.step(session, app, ctl.clock.now(), ctl.shutdown.is_triggered()) {
            // The send timeout (the write timeout) ends a blocking write
            // by the chunk's deadline; the engine decides whether what it
            // took was a stall (a partial write at the deadline is). A
            // piece of a file is a blocking `sendfile` under the same send
            // timeout (64 KiB a call, which it bounds), reported like a
            // write (0: the file came up short).
            Step::Write(chunk, _deadline) => {
                if let Some(n) = sent({ stream }.write(chunk))? {
                    engine.written(session, ctl.clock.now(), n)?;
                }
            }
            Step::Splice(piece, _deadline) => {
                if let Some(n) = sent(piece.send_blocking(stream))? {
                    engine.written(session, ctl.clock.now(), n)?;
                }
            }
            Step::Read { until, idle, work: _ } => {
                let wait = until.map(|at| {
                    let d = to_std(at).saturating_duration_since(std::time::Instant::now());
                    d.max(Duration::from_millis(1))
                });
                if let Some(t) = read_timeout_change(read_timeout, wait) {
                    stream.set_read_timeout(t)?;
                    read_timeout = t;
                }
                // Raised, then the signal looked at again: a shutdown either
                // sees the flag or is seen here.
                ctl.idle.store(idle, Ordering::SeqCst);
                if idle && ctl.shutdown.is_triggered() {
                    return Ok(());
                }
                let r = { stream }.read(&mut scratch);
                ctl.idle.store(false, Ordering::SeqCst);
                match r {
                    Ok(0) => engine.eof(session, ctl.clock.now()),
                    Ok(n) => {
                        engine.read(&scratch[..n]);
                        if n == scratch.len() && scratch.len() < cap {
                            // Full reads: grow toward the configured size.
                            scratch.resize((scratch.len() * 2).min(cap), 0);
                        }
                    }
                    Err(e) if is_quiet(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            Step::Work { until } => {
                let waker = unpark.get_or_insert_with(|| Waker::from(Arc::new(Unpark::current())));
                wait_for_work(session, app, waker, until.map(to_std));
            }
            Step::Sleep { until } => {
                thread::sleep(to_std(until).saturating_duration_since(std::time::Instant::now()));
            }
            Step::Linger => return linger_close(stream, &mut scratch),
            Step::Done => return Ok(()),
            Step::Fail(e) => return Err(e.into()),
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

/// Closes after a finished exchange without losing the last response:
/// shuts the write side and drains what the peer still sends (see
/// [`Linger`]) for at most [`Linger::TIME`] in all.
fn linger_close(mut stream: &Stream, scratch: &mut [u8]) -> io::Result<()> {
    let _ = stream.shutdown(How::Write);
    let end = std::time::Instant::now() + Linger::TIME;
    let mut linger = Linger::new();
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        if !linger.drained(stream.read(scratch)) {
            break;
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
    listeners: impl Into<Listeners>,
    config: &ServerConfig,
    shutdown: &Shutdown,
    hub: H,
    mut on_event: E,
    mail: Mail,
) -> io::Result<()>
where
    H: Hub,
    E: FnMut(&mut H, H::Event),
{
    let clock = Clock::new();
    let (to_hub, inbox) = mpsc::channel::<Option<ToHub>>();
    // Mail joins the connections' messages, in the order it came. The
    // thread ends with the last Mailbox, or at the first message after the
    // hub is gone.
    let tx = to_hub.clone();
    thread::Builder::new().name("sansnet-mail".into()).spawn(move || {
        while let Some(m) = mail.recv_blocking() {
            if tx.send(Some(ToHub::Message(m))).is_err() {
                break;
            }
        }
    })?;
    let listeners: Vec<Arc<Listener>> = listeners.into().0.into_iter().map(Arc::new).collect();
    let admission = Admission::new(config.max_connections);
    // One accept thread per listener; connection ids are unique across them.
    let ids = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for (index, l) in listeners.iter().enumerate() {
        let (l, sd, cfg, tx) = (l.clone(), shutdown.clone(), config.clone(), to_hub.clone());
        let (admission, ids) = (admission.clone(), ids.clone());
        threads.push(
            thread::Builder::new()
                .name("sansnet-accept".into())
                .spawn(move || accept_hub(&l, index, &ids, &cfg, &sd, &tx, &admission, clock))?,
        );
    }
    // On shutdown: wake the accept threads, and tell the hub thread (None).
    let (sd, tx) = (shutdown.clone(), to_hub.clone());
    threads.push(thread::Builder::new().name("sansnet-waker".into()).spawn(move || {
        sd.wait_blocking();
        let _ = tx.send(None);
        for l in &listeners {
            l.poke();
        }
    })?);
    drop(to_hub);
    let mut host = HubHost::new(hub);
    loop {
        let wait = match host.step(clock.now(), &mut on_event) {
            HubStep::Stop => return Ok(()),
            HubStep::Wait { until: Some(at) } => {
                clock.to_std(at).saturating_duration_since(std::time::Instant::now())
            }
            HubStep::Wait { until: None } => Duration::from_secs(3600),
        };
        // A burst of queued messages goes in before the next flush (see
        // HubHost::BURST).
        let mut next = Some(inbox.recv_timeout(wait));
        let mut fed = 0;
        while let Some(got) = next.take() {
            match got {
                Ok(Some(m)) => {
                    host.handle(clock.now(), m);
                    fed += 1;
                    if fed < HubHost::<H>::BURST {
                        next = inbox.try_recv().ok().map(Ok);
                    }
                }
                Ok(None) => {
                    host.stop(clock.now(), config.grace);
                    // Stop accepting: once the threads are done with them,
                    // the listening sockets close (and a Unix socket's file
                    // goes).
                    for t in threads.drain(..) {
                        let _ = t.join();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)] // one accept thread's whole context
fn accept_hub(
    listener: &Listener,
    index: usize,
    ids: &AtomicU64,
    config: &ServerConfig,
    shutdown: &Shutdown,
    to_hub: &mpsc::Sender<Option<ToHub>>,
    admission: &Admission,
    clock: Clock,
) {
    while let Some((stream, slot)) = accept_slot(listener, config, shutdown, admission) {
        let (Ok(reader), Ok(writer_stream)) = (stream.try_clone(), stream.try_clone()) else {
            continue;
        };
        let conn = ConnId(ids.fetch_add(1, Ordering::Relaxed) + 1);
        let peer = sansnet_net::peer_label(&stream);
        // The hub thread writes to an idle member itself, without blocking.
        let (writer, queue) = writer_channel(Some(Arc::new(stream)));
        let gate = Gate::new();
        if to_hub
            .send(Some(ToHub::Opened { conn, peer, listener: index, writer, gate: gate.clone() }))
            .is_err()
        {
            return;
        }
        let tx = to_hub.clone();
        let _ = thread::Builder::new()
            .name("sansnet-read".into())
            .spawn(move || read_half(reader, conn, &gate, &tx));
        let (tx, write_timeout) = (to_hub.clone(), config.write_timeout);
        let _ = thread::Builder::new().name("sansnet-write".into()).spawn(move || {
            let _slot = slot;
            let _ = writer_stream.set_write_timeout(Some(write_timeout));
            let w = HubWriter::new(conn, queue).with_write_timeout(write_timeout);
            write_half(&writer_stream, w, &tx, clock);
        });
    }
}

/// A hub connection's reader thread: bytes to the hub while its gate is open.
fn read_half(mut reader: Stream, conn: ConnId, gate: &Gate, tx: &mpsc::Sender<Option<ToHub>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        gate.wait_open_blocking();
        let read = reader.read(&mut buf).map(|n| Bytes::copy_from_slice(&buf[..n]));
        match reader_news(conn, read) {
            ReaderNews::Send(m) => {
                if tx.send(Some(m)).is_err() {
                    return;
                }
            }
            ReaderNews::Again => {}
            ReaderNews::Last(m) => {
                let _ = tx.send(Some(m));
                return;
            }
        }
    }
}

/// A hub connection's writer thread: performs the [`HubWriter`]'s steps
/// (the send timeout ends each write by its deadline).
fn write_half(stream: &Stream, mut w: HubWriter, tx: &mpsc::Sender<Option<ToHub>>, clock: Clock) {
    let mut scratch = [0u8; 4096];
    loop {
        match w.step(clock.now()) {
            WriterStep::Recv(queue) => {
                let msg = queue.recv_blocking();
                w.received(msg);
            }
            WriterStep::Write(chunk, _deadline) => {
                let result = { stream }.write(chunk);
                let sent = w.written(clock.now(), result);
                if sent.is_some_and(|m| tx.send(Some(m)).is_err()) {
                    w.failed();
                }
            }
            WriterStep::Linger => {
                let _ = linger_close(stream, &mut scratch);
            }
            WriterStep::Close(gone) => {
                let _ = stream.shutdown(How::Both);
                let _ = tx.send(Some(gone));
                return;
            }
        }
    }
}

/// Serves a datagram machine (UDP echo) on `socket` until `shutdown` is
/// triggered: each datagram in, each reply out. Datagrams up to 64 KiB.
pub fn serve_datagrams<D: Datagrams>(
    socket: std::net::UdpSocket,
    shutdown: &Shutdown,
    mut machine: D,
) -> io::Result<()> {
    // Wake up now and then to notice a shutdown: one socket, so it is cheap.
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let (clock, mut buf) = datagram_start(&mut machine, &socket)?;
    while !shutdown.is_triggered() {
        let received = socket.recv_from(&mut buf);
        datagram_in(&mut machine, clock.now(), received, &buf);
        while let Some((to, data)) = machine.poll_transmit() {
            datagram_out(to, socket.send_to(&data, to));
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

sansnet_net::transport!("std", sansnet_net::Blocking::Inline);

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
