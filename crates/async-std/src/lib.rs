//! # sansnet-async-std: the sansnet machines over async-std
//!
//! async-std is discontinued upstream (its README points to smol; advisory
//! RUSTSEC-2025-0052). It stays because users asked for it, as a shim so
//! thin that dropping it later deletes this one file: the driver is
//! `sansnet-futures` (async-std runs on async-io like smol); this crate adds
//! async-std's spawn and a blocking [`serve`] with the same signature as
//! `sansnet_std::serve` and `sansnet_smol::serve`:
//!
//! ```no_run
//! use sansnet_async_std as rt; // or: use sansnet_smol as rt; / use sansnet_std as rt;
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

/// Serves `listener` on async-std's executor until `shutdown` is
/// triggered; see `sansnet_futures::serve`.
pub fn serve<F: Factory>(
    listener: Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    factory: F,
) -> io::Result<()> {
    let spawn = |task: Task| {
        async_std::task::spawn(task);
    };
    async_std::task::block_on(sansnet_futures::serve(listener, config, shutdown, factory, spawn))
}

/// Serves `listener` with one [`Hub`] machine (the chat room) on
/// async-std's executor until `shutdown` is triggered; see
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
    let spawn = |task: Task| {
        async_std::task::spawn(task);
    };
    async_std::task::block_on(sansnet_futures::serve_hub(
        listener, config, shutdown, hub, on_event, spawn,
    ))
}

/// Serves a datagram machine (UDP echo) until `shutdown` is triggered; see
/// `sansnet_futures::serve_datagrams`.
pub fn serve_datagrams<D: Datagrams>(
    socket: std::net::UdpSocket,
    shutdown: &Shutdown,
    machine: D,
) -> io::Result<()> {
    async_std::task::block_on(sansnet_futures::serve_datagrams(socket, shutdown, machine))
}

/// Runs `future` to completion on the calling thread (async-std's
/// `block_on`).
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    async_std::task::block_on(future)
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
    sansnet_futures::connect_each(host, concurrency, timeout, probes, |task| {
        async_std::task::block_on(task)
    })
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

sansnet_net::transport!("async-std", sansnet_net::Blocking::Pool);
