//! What every server subcommand shares: bind, announce, handle signals,
//! serve on the chosen runtime, stop gracefully.
//!
//! [`serve`] is the one place that knows the three transports; everything
//! else in the CLI is runtime-agnostic.

use std::io::{self, Write};
use std::thread;

use anyhow::Context;
use sansnet_net::{Endpoint, Listener, ServerConfig, Shutdown};
use sansnet_proto::{App, Instant, Session};
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
    let shutdown = Shutdown::new();
    // Before the announcement: a signal sent as soon as the line is read
    // must already find its handler.
    stop_on_signals(&shutdown)?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {addr}").and_then(|()| out.flush()).context("stdout")?;
    }
    tracing::info!(runtime = ?plan.runtime, "listening on {addr}");
    serve(plan.runtime, listener, &plan.config, &shutdown, factory)
        .with_context(|| format!("serving on {addr}"))?;
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
