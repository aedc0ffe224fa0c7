//! # sansnet-smol: the sansnet machines over smol
//!
//! A shim: the driver is `sansnet-futures`; this crate adds smol's executor
//! (one thread per core) and a blocking [`serve`] with the same signature
//! as `sansnet_std::serve`, so a program changes runtime by changing one
//! `use` line:
//!
//! ```no_run
//! use sansnet_smol as rt; // or: use sansnet_std as rt; / use sansnet_async_std as rt;
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

use std::io;

pub use sansnet_futures::{Control, Task, drive};
pub use sansnet_net::{
    Clock, Endpoint, Listener, ServerConfig, Shutdown, SocketOptions, Stream, bind_udp,
};
use sansnet_net::{Factory, Probes};
pub use sansnet_proto as proto;
use sansnet_proto::{App, Datagrams, Hub, Session};

/// Serves `listener` on a smol executor with one thread per core until
/// `shutdown` is triggered; see `sansnet_futures::serve`.
pub fn serve<F: Factory>(
    listener: Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    factory: F,
) -> io::Result<()> {
    on_executor(|ex| {
        let spawn = |task: Task| ex.spawn(task).detach();
        smol::block_on(ex.run(sansnet_futures::serve(listener, config, shutdown, factory, spawn)))
    })
}

/// Serves `listener` with one [`Hub`] machine (the chat room) on a smol
/// executor until `shutdown` is triggered; see
/// `sansnet_futures::serve_hub`.
pub fn serve_hub<H, E>(
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
    on_executor(|ex| {
        let spawn = |task: Task| ex.spawn(task).detach();
        smol::block_on(
            ex.run(sansnet_futures::serve_hub(listener, config, shutdown, hub, on_event, spawn)),
        )
    })
}

/// Executor threads: one fewer than the cores, at least one; the
/// `SANSNET_THREADS` environment variable overrides it. async-io has one
/// reactor, polled by whichever thread blocks in it, and every extra
/// executor thread is woken from there: on the 2-core machine where the
/// figures in the README were taken, one thread served 190k HTTP req/s and
/// two 150k (the load generator shares those cores).
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1)
}

/// Runs `main` with an executor that [`default_threads`] threads (the
/// caller's included) keep running until `main` returns.
fn on_executor<T>(main: impl FnOnce(&smol::Executor<'_>) -> T) -> T {
    let ex = smol::Executor::new();
    let threads = std::env::var("SANSNET_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(default_threads)
        .max(1);
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    std::thread::scope(|scope| {
        for _ in 1..threads {
            let (ex, stopped) = (&ex, stopped.clone());
            scope.spawn(move || smol::block_on(ex.run(stopped.recv())));
        }
        let r = main(&ex);
        drop(stop);
        r
    })
}

/// Serves a datagram machine (UDP echo) until `shutdown` is triggered; see
/// `sansnet_futures::serve_datagrams`.
pub fn serve_datagrams<D: Datagrams>(
    socket: std::net::UdpSocket,
    shutdown: &Shutdown,
    machine: D,
) -> io::Result<()> {
    smol::block_on(sansnet_futures::serve_datagrams(socket, shutdown, machine))
}

/// Runs `future` to completion on the calling thread (smol's `block_on`).
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    smol::block_on(future)
}

/// Connects to `host` on every port `probes` hands out, at most
/// `concurrency` at once, each given `timeout`, on one thread per core; see
/// `sansnet_futures::connect_each`.
pub fn connect_each(
    host: std::net::IpAddr,
    concurrency: usize,
    timeout: std::time::Duration,
    probes: &dyn Probes,
) -> io::Result<()> {
    sansnet_futures::connect_each(host, concurrency, timeout, probes, |task| smol::block_on(task))
}

/// Runs one client session over a connected `stream` until it finishes,
/// blocking the calling thread; see `sansnet_futures::run_client`.
pub fn run_client<S: Session, A: App<S>>(
    stream: Stream,
    config: &ServerConfig,
    clock: Clock,
    session: &mut S,
    app: &mut A,
) -> io::Result<()> {
    block_on(sansnet_futures::run_client(stream, config, clock, session, app))
}

sansnet_net::transport!("smol", sansnet_net::Blocking::Pool);
