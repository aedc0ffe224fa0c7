//! What every server subcommand shares: bind, announce, handle signals,
//! serve on the chosen runtime, stop gracefully.
//!
//! Everything here is generic over the transport (`R: Transport`); the one
//! place that names a runtime is `main.rs`, which picks `R` from
//! `--runtime`.

use std::io::{self, Write};
use std::thread;

use anyhow::Context;
use sansnet_apps::tls::{self, Limits as TlsLimits, Peer, ServerTls};
use sansnet_net::{Endpoint, Factory, Listener, ServerConfig, Shutdown, SocketOptions, Transport};
use sansnet_proto::Datagrams;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cli::Cli;

/// How to run a server: where, with which settings, on which runtime.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Where to listen.
    pub(crate) endpoint: Endpoint,
    /// Connection cap, socket options, grace period.
    pub(crate) config: ServerConfig,
    /// Print the effective socket options on stderr (`-v`).
    pub(crate) verbose: bool,
    /// TLS on the listener (`--tls-cert`).
    pub(crate) tls: Option<ServerTls>,
}

impl Plan {
    /// Where and how the flags say to serve: `--unix`, else `bind`, else
    /// `default`.
    /// TLS as `--tls-cert` says, offering the ALPN protocols `alpn`, with
    /// the program's own `limits` where no flag sets them.
    pub(crate) fn new(
        cli: &Cli,
        bind: Option<&str>,
        default: &str,
        (alpn, limits): (&[&[u8]], TlsLimits),
    ) -> anyhow::Result<Plan> {
        let (config, verbose) = (cli.socket.server_config(), cli.verbose > 0);
        let tls = cli.tls.options().server(alpn, limits)?;
        Ok(Plan { endpoint: cli.socket.endpoint(bind, default)?, config, verbose, tls })
    }
}

/// Serves `factory`'s sessions as [`run_with`] does, until SIGINT or SIGTERM.
/// With TLS, `identify` tells each application who its client's
/// certificate names.
pub(crate) fn run<R: Transport, F: Factory>(
    plan: Plan,
    factory: F,
    identify: fn(&mut F::App, &Peer),
) -> anyhow::Result<()> {
    let tls = plan.tls.clone();
    run_with::<R>(plan, Shutdown::new(), |l, config, s| {
        tls::serve::<R, F>(l, config, s, tls.as_ref(), factory, identify)
    })
}

/// Binds, prints `listening on ADDR` as the first stdout line, installs the
/// signal handlers (they trigger `shutdown`), then runs `serve` until it
/// returns, once the server has stopped gracefully.
pub(crate) fn run_with<R: Transport>(
    plan: Plan,
    shutdown: Shutdown,
    serve: impl FnOnce(Listener, &ServerConfig, &Shutdown) -> io::Result<()>,
) -> anyhow::Result<()> {
    let listener = Listener::bind(&plan.endpoint, &plan.config.socket)
        .with_context(|| format!("cannot listen on {}", plan.endpoint))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    if plan.verbose {
        eprintln!("socket options on {addr}: {}", listener.describe());
        eprintln!("per connection: {}", plan.config);
    }
    announce::<R>(&addr, &shutdown)?;
    serve(listener, &plan.config, &shutdown).with_context(|| format!("serving on {addr}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Binds the UDP socket, prints `listening on ADDR` as the first stdout
/// line, then serves the datagram `machine` until SIGINT or SIGTERM.
pub(crate) fn run_datagrams<R: Transport, D: Datagrams>(
    plan: Plan,
    machine: D,
) -> anyhow::Result<()> {
    let Endpoint::Tcp(addr) = plan.endpoint else {
        anyhow::bail!("--udp listens on an IP address: --unix is for TCP only")
    };
    let socket = sansnet_net::bind_udp(addr, &plan.config.socket)
        .with_context(|| format!("cannot listen on udp {addr}"))?;
    let addr = socket.local_addr().context("cannot read the bound address")?;
    if plan.verbose {
        let options = SocketOptions::effective_udp(&socket2::SockRef::from(&socket));
        eprintln!("socket options on udp {addr}: {options}");
    }
    let shutdown = Shutdown::new();
    announce::<R>(&addr, &shutdown)?;
    R::serve_datagrams(socket, &shutdown, machine)
        .with_context(|| format!("serving on udp {addr}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Installs the signal handlers, then prints `listening on ADDR` as the
/// first stdout line.
fn announce<R: Transport>(addr: &dyn std::fmt::Display, shutdown: &Shutdown) -> anyhow::Result<()> {
    // Before the announcement: a signal sent as soon as the line is read
    // must already find its handler.
    stop_on_signals(shutdown)?;
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {addr}").and_then(|()| out.flush()).context("stdout")?;
    tracing::info!(runtime = R::NAME, "listening on {addr}");
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
