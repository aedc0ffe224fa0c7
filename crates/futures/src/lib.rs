//! # sansnet-futures: one async driver for every sansnet machine
//!
//! The async half of sansnet, written once over a small runtime trait
//! ([`Reactor`]: sockets registered with a reactor, readiness, non-blocking
//! reads and writes retried on readiness, timers, a yield) and shared by
//! `sansnet-smol` and `sansnet-async-std` (async-io, [`AsyncIo`], here) and
//! `sansnet-tokio` (tokio's own reactor). Those crates only add their
//! executor ([`Executor`]); their blocking functions and `Runtime` are
//! `sansnet_net::transport!`'s.
//!
//! [`drive`] runs one [`Session`] over one socket, performing the steps of
//! the connection engine in `sansnet-net` ([`sansnet_net::Engine`], shared
//! with the std driver: the engine decides everything the core's drain
//! contract asks); [`serve`] accepts connections under [`sansnet_net::Admission`]
//! and hands each to `drive` through the runtime's `spawn`. This crate only
//! waits (readiness, timers, the application's work) and makes the system
//! calls.
//!
//! Memory per idle connection stays small: a connection owns no read buffer
//! while it waits. It waits for readability first, then reads into a
//! per-thread scratch buffer and keeps only the bytes the machine has not
//! consumed yet.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future;
use sansnet_net::{
    Admission, Admit, ConnSlot, Engine, EngineError, Factory, Gate, HubHost, HubStep, HubWriter,
    Linger, Probes, ReaderNews, Step, ToHub, TryWrite, WriterStep, connection_ended, datagram_in,
    datagram_out, datagram_start, reader_news, writer_channel,
};
pub use sansnet_net::{
    Clock, Endpoint, Listener, Listeners, Mail, Mailbox, ServerConfig, Shutdown, SocketOptions,
    Stream, mailbox,
};
use sansnet_proto::{App, ConnId, Datagrams, Hub, Session};

mod reactor;
pub use reactor::{AsyncIo, Reactor, Socket, Source, Timer};
use reactor::{Deadline, fired, sleep};

/// A boxed task, as handed to the runtime's `spawn`.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A boxed future that may borrow (a server, run by [`Spawner::run`]).
pub type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What a runtime shim (`sansnet-smol`, `sansnet-async-std`,
/// `sansnet-tokio`) adds to this driver: its reactor, an executor to spawn
/// connections on, `block_on`, and where blocking work runs. The shim's
/// blocking functions and `Runtime` come from
/// `sansnet_net::transport!(name, sansnet_futures, TheExecutor)`.
pub trait Executor {
    /// The reactor the driver waits on under this executor.
    type Reactor: Reactor;
    /// Where applications run blocking work (`Transport::BLOCKING`).
    const BLOCKING: sansnet_net::Blocking = sansnet_net::Blocking::Pool;

    /// Calls `main` with a [`Spawner`] that lives while it runs.
    fn serve(main: impl FnOnce(&dyn Spawner) -> io::Result<()>) -> io::Result<()>;

    /// Runs `future` to completion on the calling thread.
    fn block_on<T>(future: impl Future<Output = T>) -> T;
}

/// A running executor, as [`Executor::serve`] lends it.
pub trait Spawner {
    /// Runs `task` beside the server.
    fn spawn(&self, task: Task);

    /// Runs the `server` future to completion, blocking the calling thread,
    /// while the executor runs the spawned tasks.
    fn run(&self, server: LocalFuture<'_, io::Result<()>>) -> io::Result<()>;
}

/// How many threads an executor runs connections on: one fewer than the
/// cores, at least one (the load, a client or a load generator, often
/// shares the machine, and a single thread needs no cross-thread wakeups);
/// the `SANSNET_THREADS` environment variable overrides it. The shims'
/// docs give each runtime's figures.
pub fn executor_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let env = std::env::var("SANSNET_THREADS").ok().and_then(|v| v.parse().ok());
    env.unwrap_or(cores.saturating_sub(1)).max(1)
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
}

/// Serves `listener` until `shutdown` is triggered, spawning one task per
/// connection with `spawn`. Mirrors `sansnet_std::serve`: the same cap on
/// connections, the same graceful stop (idle connections close at once,
/// the others get [`ServerConfig::grace`]).
pub async fn serve<R: Reactor, F: Factory>(
    listener: Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    factory: F,
    spawn: impl Fn(Task),
) -> io::Result<()> {
    let clock = Clock::new();
    let factory = Arc::new(factory);
    let admission = Admission::new(config.max_connections);
    let listener = R::register(listener)?;
    loop {
        let accepted =
            future::or(async { Some(accept::<R>(&listener, config, &admission).await) }, async {
                shutdown.wait().await;
                None
            });
        let Some((stream, slot)) = accepted.await else { break };
        let peer = sansnet_net::peer_label(&stream);
        let io = match R::register(stream) {
            Ok(io) => io,
            Err(e) => {
                tracing::warn!("register: {e}");
                continue;
            }
        };
        let (factory, ctl) =
            (factory.clone(), Control::with(clock, shutdown.clone(), config.clone()));
        spawn(Box::pin(async move {
            let _slot = slot;
            let (mut session, mut app) = factory.make(ctl.clock.now(), &peer);
            connection_ended(&peer, drive::<R, _, _>(&io, &mut session, &mut app, &ctl).await);
        }));
    }
    // Stop accepting: close the listening socket (and remove a Unix socket's
    // file) now, so that new clients are refused rather than left waiting.
    drop(listener);
    let deadline = std::time::Instant::now() + config.grace;
    while admission.open() > 0 && std::time::Instant::now() < deadline {
        sleep::<R>(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The next accepted connection under the connection cap, with its slot
/// (see [`Admission`]).
async fn accept<R: Reactor>(
    listener: &R::Io<Listener>,
    config: &ServerConfig,
    admission: &Admission,
) -> (Stream, ConnSlot) {
    loop {
        let accepted = listener.read_with(|l| l.accept(&config.socket)).await;
        if accepted.is_ok() && admission.open() >= config.max_connections {
            // At the cap: the connections ending in this same reactor round
            // (their peers' end of stream came with this connect) free
            // their slots first. tokio runs the server before the tasks
            // its reactor woke, and would refuse this one for nothing.
            R::yield_now().await;
        }
        match admission.admit(accepted) {
            Admit::Serve(stream, slot) => return (stream, slot),
            Admit::BackOff(pause) => sleep::<R>(pause).await,
            Admit::Refused => {}
        }
    }
}

/// The next connection any of `listeners` accepts, with the listener's
/// index; never, when there are none (after shutdown).
async fn accept_any<R: Reactor>(
    listeners: &[R::Io<Listener>],
    config: &ServerConfig,
    admission: &Admission,
) -> (usize, Stream, ConnSlot) {
    match listeners {
        [] => future::pending().await,
        [one] => {
            let (stream, slot) = accept::<R>(one, config, admission).await;
            (0, stream, slot)
        }
        many => {
            let mut each: Vec<_> = many
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    Box::pin(async move {
                        let (stream, slot) = accept::<R>(l, config, admission).await;
                        (i, stream, slot)
                    })
                })
                .collect();
            future::poll_fn(|cx| {
                for f in &mut each {
                    if let std::task::Poll::Ready(got) = f.as_mut().poll(cx) {
                        return std::task::Poll::Ready(got);
                    }
                }
                std::task::Poll::Pending
            })
            .await
        }
    }
}

/// What [`drive`] needs besides the connection.
#[derive(Clone, Debug)]
pub struct Control {
    /// The clock the session's deadlines are on.
    pub clock: Clock,
    /// Stops the connection once it is idle.
    pub shutdown: Shutdown,
    /// Buffer sizes and timeouts.
    pub config: ServerConfig,
}

impl Control {
    /// Defaults, with a fresh clock and a shutdown nobody triggers.
    pub fn new(config: ServerConfig) -> Control {
        Control::with(Clock::new(), Shutdown::new(), config)
    }

    /// On `clock`, stopped by `shutdown`, with `config`.
    pub fn with(clock: Clock, shutdown: Shutdown, config: ServerConfig) -> Control {
        Control { clock, shutdown, config }
    }
}

enum Wake {
    Read(io::Result<usize>),
    Timer,
    Shutdown,
    Work,
}

/// Completes when the application's work in flight ([`App::poll_work`])
/// has finished some of it; never, when it has none.
async fn work<S: Session, A: App<S>>(working: bool, app: &mut A, session: &mut S) -> Wake {
    if !working {
        return future::pending().await;
    }
    future::poll_fn(|cx| app.poll_work(session, cx)).await;
    Wake::Work
}

/// The generic driver: runs one session over one socket until it finishes,
/// performing the steps of the connection engine ([`sansnet_net::Engine`]):
/// every protocol runs through this one loop.
pub async fn drive<R: Reactor, S: Session, A: App<S>>(
    io: &R::Io<Stream>,
    session: &mut S,
    app: &mut A,
    ctl: &Control,
) -> io::Result<()> {
    let cap = Engine::read_cap(ctl.config.read_buffer);
    let mut engine = Engine::new(cap).with_write_timeout(ctl.config.write_timeout).splicing();
    let mut timer = Deadline::<R::Timer>::new();
    let mut stop_listener = ctl.shutdown.listener();
    let mut read_was_full = true;
    let (mut hits, mut probe_in) = (0u8, 4u8);
    // A connection whose reads keep filling the shared 64 KiB scratch, and
    // that may buffer more (`read_buffer`, as a file receiver does), reads
    // into a buffer of its own that grows toward `read_buffer` (as the std
    // driver's does): fewer, larger reads.
    let mut big: Vec<u8> = Vec::new();
    loop {
        let step = engine.step(session, app, ctl.clock.now(), ctl.shutdown.is_triggered());
        // What to wait for: the deadline, shutdown while idle, the
        // application's work, the socket.
        let (deadline, idle, working, reading) = match step {
            // By the engine's deadline for the chunk, which a partial write
            // does not move (a trickle cannot outlast the write timeout).
            Step::Write(chunk, until) => {
                let write = io.write_with(|s| (&*s).write(chunk));
                let n = timer.within(write, ctl.clock.to_std(until)).await?;
                engine.written(session, ctl.clock.now(), n)?;
                continue;
            }
            // A piece of a file: `sendfile` on the non-blocking socket,
            // retried on writability (its `WouldBlock`), reported like a
            // write (0: the file came up short).
            Step::Splice(piece, until) => {
                let send = io.write_with(|s| piece.send_to(s));
                let n = timer.within(send, ctl.clock.to_std(until)).await?;
                engine.written(session, ctl.clock.now(), n)?;
                continue;
            }
            Step::Read { until, idle, work } => (until, idle, work, true),
            Step::Work { until } => (until, false, true, false),
            Step::Sleep { until } => (Some(until), false, false, false),
            Step::Linger => return linger_close::<R>(io).await,
            Step::Done => return Ok(()),
            Step::Fail(e) => return Err(e.into()),
        };
        // One timer per connection, moved only when it must (see Deadline).
        timer.arm(deadline.map(|at| ctl.clock.to_std(at)));
        let timer = async {
            timer.fired().await;
            Wake::Timer
        };
        let stop = async {
            if idle {
                (&mut stop_listener).await;
                Wake::Shutdown
            } else {
                future::pending().await
            }
        };
        // Work the application runs beside us (file I/O on a blocking
        // pool): waited for with the socket and the timer.
        if !reading {
            future::or(work(working, app, session), timer).await;
            continue;
        }
        let read = async {
            // After a read that did not fill the buffer the socket is most
            // likely drained (a request answered, the peer waiting for us):
            // wait for readiness first instead of paying for a read that
            // would only say EWOULDBLOCK. After a full read, read at once.
            //
            // Under load the other way wins: after a yield to the tasks
            // queued before us, the peer's next bytes are usually there, and
            // a plain read takes them without arming readiness (one
            // `epoll_ctl` and a reactor round trip saved). `hits` says how
            // well that guess has done lately (a miss costs one read that
            // finds nothing); once it has failed often enough the guess is
            // left alone for a few waits, then tried again. Only where the
            // reactor asks for it (`Reactor::SPECULATE`: async-io's).
            let mut speculated = false;
            if !read_was_full {
                if hits > 0 && R::SPECULATE {
                    R::yield_now().await;
                    speculated = true;
                } else {
                    probe_in = probe_in.saturating_sub(1);
                    if probe_in == 0 {
                        hits = 1;
                    }
                    if let Err(e) = io.readable().await {
                        return Wake::Read(Err(e));
                    }
                }
            }
            let mut tries = 0u32;
            let r = io
                .read_stream_with(|s| {
                    tries += 1;
                    if !big.is_empty() {
                        let n = (&*s).read(&mut big[..])?;
                        engine.read(&big[..n]);
                        read_was_full = n == big.len();
                        if read_was_full && big.len() < cap {
                            big.resize((big.len() * 2).min(cap), 0);
                        }
                        return Ok((n, n > 0 && !read_was_full));
                    }
                    SCRATCH.with(|scratch| {
                        let mut scratch = scratch.borrow_mut();
                        let n = (&*s).read(&mut scratch[..])?;
                        engine.read(&scratch[..n]);
                        read_was_full = n == scratch.len();
                        if read_was_full && cap > scratch.len() {
                            big = vec![0; (scratch.len() * 2).min(cap)];
                        }
                        Ok((n, n > 0 && !read_was_full))
                    })
                })
                .await;
            if speculated {
                if tries == 1 {
                    hits = (hits + 1).min(4);
                } else {
                    hits -= 1;
                    probe_in = 4;
                }
            }
            Wake::Read(r)
        };
        let work = work(working, app, session);
        match future::or(work, future::or(read, future::or(timer, stop))).await {
            Wake::Read(Ok(0)) => engine.eof(session, ctl.clock.now()),
            Wake::Read(Ok(_)) | Wake::Work => {}
            Wake::Timer => {}
            Wake::Read(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Wake::Read(Err(e)) => return Err(e),
            Wake::Shutdown => return Ok(()),
        }
    }
}

/// Runs one client session over a connected `stream` until it finishes,
/// under `ctl`; see `sansnet_net::Transport::run_client`.
pub async fn run_client<R: Reactor, S: Session, A: App<S>>(
    stream: Stream,
    ctl: &Control,
    session: &mut S,
    app: &mut A,
) -> io::Result<()> {
    drive::<R, S, A>(&R::register(stream)?, session, app, ctl).await
}

/// Closes without losing the last response: shuts the write side and
/// drains what the peer still sends (see [`Linger`]) for at most
/// [`Linger::TIME`] in all.
async fn linger_close<R: Reactor>(io: &R::Io<Stream>) -> io::Result<()> {
    let _ = io.get_ref().shutdown(std::net::Shutdown::Write);
    let drain = async {
        let mut linger = Linger::new();
        let mut buf = [0u8; 4096];
        while linger.drained(io.read_with(|s| (&*s).read(&mut buf)).await) {}
    };
    future::or(drain, sleep::<R>(Linger::TIME)).await;
    Ok(())
}

/// Serves `listener` with one [`Hub`] machine (the chat room) for every
/// connection until `shutdown` is triggered. The hub lives in this future
/// alone and is fed through a channel, so it needs no lock; each connection
/// gets a reader task and a writer task, spawned with `spawn`. Hub events go
/// to `on_event`. On shutdown every connection is ended through the hub (so
/// it can say goodbye) and given [`ServerConfig::grace`] to flush.
pub async fn serve_hub<R: Reactor, H, E>(
    listeners: impl Into<Listeners>,
    config: &ServerConfig,
    shutdown: &Shutdown,
    hub: H,
    mut on_event: E,
    mail: Mail,
    spawn: impl Fn(Task),
) -> io::Result<()>
where
    H: Hub,
    E: FnMut(&mut H, H::Event),
{
    let clock = Clock::new();
    let admission = Admission::new(config.max_connections);
    let mut listeners =
        listeners.into().0.into_iter().map(R::register).collect::<Result<Vec<_>, _>>()?;
    let (to_hub, inbox) = async_channel::unbounded::<ToHub>();
    // Mail joins the connections' messages, in the order it came.
    let tx = to_hub.clone();
    spawn(Box::pin(async move {
        while let Some(m) = mail.recv().await {
            if tx.send(ToHub::Message(m)).await.is_err() {
                break;
            }
        }
    }));
    let mut host = HubHost::new(hub);
    let mut next = 0u64;
    let mut timer = Deadline::<R::Timer>::new();
    enum Wait {
        Accepted(usize, Stream, ConnSlot),
        Msg(ToHub),
        Timer,
        Stop,
    }
    loop {
        let until = match host.step(clock.now(), &mut on_event) {
            HubStep::Stop => return Ok(()),
            HubStep::Wait { until } => until,
        };
        let accept = async {
            let (index, stream, slot) = accept_any::<R>(&listeners, config, &admission).await;
            Wait::Accepted(index, stream, slot)
        };
        let msg = async {
            match inbox.recv().await {
                Ok(m) => Wait::Msg(m),
                Err(_) => future::pending().await,
            }
        };
        timer.arm(until.map(|at| clock.to_std(at)));
        let timer = async {
            timer.fired().await;
            Wait::Timer
        };
        let stopping = host.is_stopping();
        let stop = async {
            if stopping {
                future::pending().await
            } else {
                shutdown.wait().await;
                Wait::Stop
            }
        };
        // Shutdown first: while readers keep the inbox full, a message is
        // always ready and the later branches would never be polled.
        match future::or(stop, future::or(msg, future::or(accept, timer))).await {
            Wait::Msg(m) => {
                // What is already queued goes in before the next flush, so
                // that a burst (mail from other nodes, say) costs each
                // member one write, not one per message.
                let now = clock.now();
                host.handle(now, m);
                for _ in 1..HubHost::<H>::BURST {
                    let Ok(m) = inbox.try_recv() else { break };
                    host.handle(now, m);
                }
            }
            Wait::Timer => {}
            Wait::Stop => {
                listeners.clear(); // stop accepting: new clients are refused
                host.stop(clock.now(), config.grace);
            }
            Wait::Accepted(listener, stream, slot) => {
                let peer = sansnet_net::peer_label(&stream);
                let Ok(io) = R::register(stream) else { continue };
                next += 1;
                let conn = ConnId(next);
                let io = Arc::new(io);
                let (writer, queue) = writer_channel(Some(Arc::new(Direct::<R>(io.clone()))));
                let gate = Gate::new();
                host.handle(
                    clock.now(),
                    ToHub::Opened { conn, peer, listener, writer, gate: gate.clone() },
                );
                let (io2, tx2) = (io.clone(), to_hub.clone());
                spawn(Box::pin(read_half::<R>(io, conn, gate, to_hub.clone())));
                let w = HubWriter::new(conn, queue).with_write_timeout(config.write_timeout);
                spawn(Box::pin(async move {
                    let _slot = slot;
                    write_half::<R>(&io2, w, &tx2, clock).await;
                }));
            }
        }
    }
}

/// A hub connection's reader: bytes to the hub while its gate is open.
async fn read_half<R: Reactor>(
    io: Arc<R::Io<Stream>>,
    conn: ConnId,
    gate: Gate,
    to_hub: async_channel::Sender<ToHub>,
) {
    loop {
        gate.wait_open().await;
        let read = io
            .read_stream_with(|s| {
                SCRATCH.with(|scratch| {
                    let mut scratch = scratch.borrow_mut();
                    let n = (&*s).read(&mut scratch[..])?;
                    Ok((Bytes::copy_from_slice(&scratch[..n]), n > 0 && n < scratch.len()))
                })
            })
            .await;
        let (news, last) = match reader_news(conn, read) {
            ReaderNews::Again => continue,
            ReaderNews::Send(m) => (m, false),
            ReaderNews::Last(m) => (m, true),
        };
        if to_hub.send(news).await.is_err() || last {
            return;
        }
        // Let the hub see these bytes (and shut the gate if it must) before
        // reading more: on one executor thread a flooding peer would
        // otherwise be read ahead of the hub without bound.
        future::yield_now().await;
    }
}

/// The hub's direct path to an idle connection's non-blocking socket.
struct Direct<R: Reactor>(Arc<R::Io<Stream>>);

impl<R: Reactor> TryWrite for Direct<R> {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_ref().write(buf)
    }
}

/// A hub connection's writer task: performs the [`HubWriter`]'s steps, each
/// write by the writer's deadline (on `clock`).
async fn write_half<R: Reactor>(
    io: &R::Io<Stream>,
    mut w: HubWriter,
    to_hub: &async_channel::Sender<ToHub>,
    clock: Clock,
) {
    let mut timer = Deadline::<R::Timer>::new();
    loop {
        let sent = match w.step(clock.now()) {
            WriterStep::Recv(queue) => {
                let msg = queue.recv().await;
                w.received(msg);
                continue;
            }
            WriterStep::Write(chunk, until) => {
                let write = io.write_with(|s| (&*s).write(chunk));
                let r = timer.within(write, clock.to_std(until)).await;
                w.written(clock.now(), r)
            }
            WriterStep::Linger => {
                let _ = linger_close::<R>(io).await;
                continue;
            }
            WriterStep::Close(gone) => {
                let _ = io.get_ref().shutdown(std::net::Shutdown::Both);
                let _ = to_hub.send(gone).await;
                return;
            }
        };
        if let Some(m) = sent
            && to_hub.send(m).await.is_err()
        {
            w.failed();
        }
    }
}

/// Serves a datagram machine (UDP echo) on `socket` until `shutdown` is
/// triggered: each datagram in, each reply out. Datagrams up to 64 KiB.
pub async fn serve_datagrams<R: Reactor, D: Datagrams>(
    socket: std::net::UdpSocket,
    shutdown: &Shutdown,
    mut machine: D,
) -> io::Result<()> {
    let (clock, mut buf) = datagram_start(&mut machine, &socket)?;
    let socket = R::register(socket)?;
    loop {
        // Shutdown first: `or` polls its first future first, and under a
        // flood of datagrams the receive is always ready.
        let recv = async { Some(socket.read_with(|s| s.recv_from(&mut buf)).await) };
        let got = future::or(
            async {
                shutdown.wait().await;
                None
            },
            recv,
        );
        let Some(received) = got.await else { return Ok(()) };
        datagram_in(&mut machine, clock.now(), received, &buf);
        while let Some((to, data)) = machine.poll_transmit() {
            datagram_out(to, socket.write_with(|s| s.send_to(&data, to)).await);
        }
    }
}

/// A future that [`connect_each`] hands to a runtime's `block_on`.
pub type LocalTask<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Connects to `host` on every port `probes` hands out, at most
/// `concurrency` at once, each given `timeout`, and records each raw result
/// in `probes` (see `sansnet_net::Transport::connect_each`). It runs on one
/// thread per core (the caller's included), each thread driving its share
/// of the workers on a local executor (async-executor's, which has no
/// reactor of its own: the workers wait on `R`'s) under `block_on` (the
/// runtime's): probes are mostly system calls, so this is how a scan uses
/// more than one core.
///
/// Each worker starts a non-blocking connect and looks at the socket's
/// error at once: on loopback the answer (a reset, mostly) is already
/// there, and the port is settled without touching the reactor. Only
/// connects still in progress are registered with the reactor and raced
/// against the worker's one reusable timer.
pub fn connect_each<R: Reactor>(
    host: std::net::IpAddr,
    concurrency: usize,
    timeout: Duration,
    probes: &dyn Probes,
    block_on: impl Fn(LocalTask<'_>) + Sync,
) -> io::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.clamp(1, concurrency.max(1));
    let block_on = &block_on;
    let share = |i: usize| concurrency / threads + usize::from(i < concurrency % threads);
    std::thread::scope(|scope| {
        for i in 1..threads {
            let spawned = std::thread::Builder::new()
                .name("sansnet-scan".into())
                .spawn_scoped(scope, move || {
                    block_on(Box::pin(connect_shared::<R>(host, probes, share(i), timeout)))
                });
            if let Err(e) = spawned {
                // The threads already running (this one at least) finish it.
                tracing::warn!("scan: {i} threads instead of {threads}: {e}");
                break;
            }
        }
        block_on(Box::pin(connect_shared::<R>(host, probes, share(0), timeout)));
    });
    Ok(())
}

/// `concurrency` workers on a local executor, taking ports from `probes`
/// (which other threads share) until there are none left.
async fn connect_shared<R: Reactor>(
    host: std::net::IpAddr,
    probes: &dyn Probes,
    concurrency: usize,
    timeout: Duration,
) {
    let ex = async_executor::LocalExecutor::new();
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| ex.spawn(connect_worker::<R>(host, probes, timeout)))
        .collect();
    ex.run(async {
        for task in tasks {
            task.await;
        }
    })
    .await;
}

/// One scan worker: takes ports until there are none left.
async fn connect_worker<R: Reactor>(
    host: std::net::IpAddr,
    probes: &dyn Probes,
    timeout: Duration,
) {
    let mut timer = R::Timer::never();
    let mut settled_at_once = 0u32;
    while let Some(port) = probes.next_port() {
        let (result, waited) = probe::<R>((host, port).into(), timeout, &mut timer).await;
        probes.record(port, result);
        // A worker whose ports all settle at once never yields by itself:
        // let the others (and the executor around us) run now and then.
        settled_at_once = if waited { 0 } else { settled_at_once + 1 };
        if settled_at_once >= 256 {
            settled_at_once = 0;
            R::yield_now().await;
        }
    }
}

/// Connects to `addr` once; the raw result, and whether it had to wait.
async fn probe<R: Reactor>(
    addr: std::net::SocketAddr,
    timeout: Duration,
    timer: &mut R::Timer,
) -> (io::Result<(std::net::SocketAddr, std::net::SocketAddr)>, bool) {
    use socket2::Domain;
    let started = nonblocking_tcp_socket(Domain::for_address(addr)).and_then(|s| {
        match s.connect(&addr.into()) {
            Ok(()) => Ok(s),
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                // Settled already (on loopback, mostly)?
                match s.take_error()? {
                    Some(e) => Err(e),
                    None => Ok(s),
                }
            }
            Err(e) => Err(e),
        }
    });
    let io = match started.and_then(|s| R::register(std::net::TcpStream::from(s))) {
        Ok(io) => io,
        Err(e) => return (Err(e), false),
    };
    timer.set_at(std::time::Instant::now() + timeout);
    let wait = async {
        io.writable().await?;
        match io.get_ref().take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        }
    };
    let done = future::or(async { Some(wait.await) }, async {
        fired(timer).await;
        None
    })
    .await;
    let addresses = || Ok((io.get_ref().local_addr()?, io.get_ref().peer_addr()?));
    let result = match done {
        // The timer won, but the connect may have finished while this
        // thread was busy (a loaded machine: the reactor had not reported
        // it yet). Ask the socket before calling the port filtered.
        None => match io.get_ref().take_error() {
            Ok(None) if io.get_ref().peer_addr().is_ok() => addresses(),
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => Err(EngineError::ConnectTimedOut.into()),
        },
        Some(Err(e)) => Err(e),
        Some(Ok(())) => addresses(),
    };
    (result, true)
}

/// A non-blocking TCP socket: one system call where the kernel allows it.
fn nonblocking_tcp_socket(domain: socket2::Domain) -> io::Result<socket2::Socket> {
    use socket2::{Protocol, Socket, Type};
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    return Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP));
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).and_then(|s| {
        s.set_nonblocking(true)?;
        Ok(s)
    })
}
