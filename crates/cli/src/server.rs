//! What every server subcommand shares: bind, announce, handle signals,
//! serve on the chosen runtime, stop gracefully.
//!
//! This file is the one place that knows the three transports (one
//! `match` per transport function: [`serve`], [`run_hub`],
//! [`serve_datagrams`], [`scan`]); everything else in the CLI is
//! runtime-agnostic.

use std::io::{self, Write};
use std::net::{IpAddr, UdpSocket};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use sansnet_net::{Endpoint, Listener, ServerConfig, Shutdown};
use sansnet_proto::scan::Scan;
use sansnet_proto::{App, Datagrams, Hub, Instant, Session};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cli::Runtime;

/// Serves `listener` on `runtime` until `shutdown` is triggered and
/// in-flight exchanges have finished (or the grace period ran out).
pub(crate) fn serve<S, A, F>(
    runtime: Runtime,
    listener: Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    factory: F,
) -> io::Result<()>
where
    S: Session + Send + 'static,
    A: App<S> + Send + 'static,
    F: Fn(Instant, &str) -> (S, A) + Send + Sync + 'static,
{
    match runtime {
        Runtime::Std => sansnet_std::serve(listener, config, shutdown, factory),
        Runtime::AsyncStd => sansnet_async_std::serve(listener, config, shutdown, factory),
        Runtime::Smol => sansnet_smol::serve(listener, config, shutdown, factory),
    }
}

/// Serves a datagram machine on `socket` on `runtime` until `shutdown` is
/// triggered.
pub(crate) fn serve_datagrams<D: Datagrams>(
    runtime: Runtime,
    socket: UdpSocket,
    shutdown: &Shutdown,
    machine: D,
) -> io::Result<()> {
    match runtime {
        Runtime::Std => sansnet_std::serve_datagrams(socket, shutdown, machine),
        Runtime::AsyncStd => sansnet_async_std::serve_datagrams(socket, shutdown, machine),
        Runtime::Smol => sansnet_smol::serve_datagrams(socket, shutdown, machine),
    }
}

/// Runs a TCP connect scan of `host` on `runtime`, recording into `plan`.
pub(crate) fn scan(
    runtime: Runtime,
    host: IpAddr,
    plan: &mut Scan,
    concurrency: usize,
    timeout: Duration,
) -> io::Result<()> {
    match runtime {
        Runtime::Std => sansnet_std::scan(host, plan, concurrency, timeout),
        Runtime::AsyncStd => sansnet_async_std::scan(host, plan, concurrency, timeout),
        Runtime::Smol => sansnet_smol::scan(host, plan, concurrency, timeout),
    }
}

/// How to run a server: where, with which settings, on which runtime.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The runtime.
    pub(crate) runtime: Runtime,
    /// Where to listen.
    pub(crate) endpoint: Endpoint,
    /// Connection cap, socket options, grace period.
    pub(crate) config: ServerConfig,
    /// Print the effective socket options on stderr (`-v`).
    pub(crate) verbose: bool,
}

/// Binds, prints `listening on ADDR` as the first stdout line, then serves
/// with `factory` until SIGINT or SIGTERM, and returns once the server has
/// stopped gracefully.
pub(crate) fn run<S, A, F>(plan: Plan, factory: F) -> anyhow::Result<()>
where
    S: Session + Send + 'static,
    A: App<S> + Send + 'static,
    F: Fn(Instant, &str) -> (S, A) + Send + Sync + 'static,
{
    run_until(plan, Shutdown::new(), factory)
}

/// [`run`] with a `shutdown` the caller keeps, so that it can stop the
/// server itself (`file recv --once` does after its one transfer).
pub(crate) fn run_until<S, A, F>(plan: Plan, shutdown: Shutdown, factory: F) -> anyhow::Result<()>
where
    S: Session + Send + 'static,
    A: App<S> + Send + 'static,
    F: Fn(Instant, &str) -> (S, A) + Send + Sync + 'static,
{
    let runtime = plan.runtime;
    run_with(plan, shutdown, |listener, config, shutdown| {
        serve(runtime, listener, config, shutdown, factory)
    })
}

/// [`run`] for a multi-connection machine (the chat room): the chosen
/// runtime's `serve_hub` hosts `hub`, whose events go to `on_event`.
pub(crate) fn run_hub<H, E>(plan: Plan, hub: H, on_event: E) -> anyhow::Result<()>
where
    H: Hub,
    E: FnMut(&mut H, H::Event),
{
    let runtime = plan.runtime;
    run_with(plan, Shutdown::new(), |listener, config, shutdown| match runtime {
        Runtime::Std => sansnet_std::serve_hub(listener, config, shutdown, hub, on_event),
        Runtime::AsyncStd => {
            sansnet_async_std::serve_hub(listener, config, shutdown, hub, on_event)
        }
        Runtime::Smol => sansnet_smol::serve_hub(listener, config, shutdown, hub, on_event),
    })
}

/// Binds, prints `listening on ADDR` as the first stdout line, installs the
/// signal handlers, then runs `serve` until it returns.
fn run_with(
    plan: Plan,
    shutdown: Shutdown,
    serve: impl FnOnce(Listener, &ServerConfig, &Shutdown) -> io::Result<()>,
) -> anyhow::Result<()> {
    let listener = Listener::bind(&plan.endpoint, &plan.config.socket)
        .with_context(|| format!("cannot listen on {}", plan.endpoint))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    if plan.verbose {
        let o = &plan.config.socket;
        eprintln!("socket options on {addr}: {}", listener.describe());
        eprintln!(
            "per connection: nodelay={} recv_buffer={:?} send_buffer={:?} keepalive={:?} \
             backlog={} max_connections={}",
            o.nodelay,
            o.recv_buffer,
            o.send_buffer,
            o.keepalive,
            o.backlog,
            plan.config.max_connections
        );
    }
    // Before the announcement: a signal sent as soon as the line is read
    // must already find its handler.
    stop_on_signals(&shutdown)?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {addr}").and_then(|()| out.flush()).context("stdout")?;
    }
    tracing::info!(runtime = ?plan.runtime, "listening on {addr}");
    serve(listener, &plan.config, &shutdown).with_context(|| format!("serving on {addr}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Binds the UDP socket, prints `listening on ADDR` as the first stdout
/// line, then serves the datagram `machine` until SIGINT or SIGTERM.
pub(crate) fn run_datagrams<D: Datagrams>(plan: Plan, machine: D) -> anyhow::Result<()> {
    let Endpoint::Tcp(addr) = plan.endpoint else {
        anyhow::bail!("a datagram server listens on an IP address, not {}", plan.endpoint)
    };
    let socket = sansnet_net::bind_udp(addr, &plan.config.socket)
        .with_context(|| format!("cannot listen on udp {addr}"))?;
    let addr = socket.local_addr().context("cannot read the bound address")?;
    if plan.verbose {
        let sock = socket2::SockRef::from(&socket);
        let show = |r: io::Result<String>| r.unwrap_or_else(|e| format!("? ({e})"));
        eprintln!(
            "socket options on udp {addr}: reuse_address={} recv_buffer={} send_buffer={}",
            show(sock.reuse_address().map(|v| v.to_string())),
            show(sock.recv_buffer_size().map(|v| v.to_string())),
            show(sock.send_buffer_size().map(|v| v.to_string())),
        );
    }
    let shutdown = Shutdown::new();
    stop_on_signals(&shutdown)?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {addr}").and_then(|()| out.flush()).context("stdout")?;
    }
    tracing::info!(runtime = ?plan.runtime, "listening on udp {addr}");
    serve_datagrams(plan.runtime, socket, &shutdown, machine)
        .with_context(|| format!("serving on udp {addr}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// A thread that triggers `shutdown` on the first SIGINT or SIGTERM; a
/// second one exits at once (status 130), for a stop that hangs.
fn stop_on_signals(shutdown: &Shutdown) -> anyhow::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    let shutdown = shutdown.clone();
    thread::Builder::new()
        .name("sansnet-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                if shutdown.is_triggered() {
                    eprintln!("error: {name} during shutdown, exiting at once");
                    std::process::exit(130);
                }
                tracing::info!("{name}: stopping gracefully (again to force)");
                shutdown.trigger();
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}
