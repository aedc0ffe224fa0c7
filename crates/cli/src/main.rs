//! `sansnet`: the classic socket programs — an HTTP server today; echo,
//! chat, file transfer, a port scanner and name lookup as they land — each
//! a pure protocol machine from `sansnet-proto`, driven over std threads,
//! async-std or smol (`--runtime`).
//!
//! The command-line contract (output lines, exit codes, flags) is in
//! PROTOCOLS.md; `sansnet help` and `sansnet help http` explain the rest.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

mod chat;
mod cli;
mod echo;
mod file;
mod http;
mod resolve;
mod scan;
mod send;
mod server;

use cli::{Cli, Command, Runtime};
use sansnet_net::Transport;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap prints them as usual.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // A usage error: one line, as every other error (PROTOCOLS.md).
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see --help)");
            return ExitCode::from(2);
        }
    };
    if cli.runtime == cli::Runtime::AsyncStd {
        size_async_std_pool();
    }
    init_logging(cli.verbose);
    // The one place that names a runtime: everything below is generic.
    let result = match cli.runtime {
        Runtime::Std => run::<sansnet_std::Runtime>(cli),
        Runtime::AsyncStd => run::<sansnet_async_std::Runtime>(cli),
        Runtime::Smol => run::<sansnet_smol::Runtime>(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(timed_out) = e.downcast_ref::<send::TimedOut>() {
                // `send`'s timeout: its own text and exit status (PROTOCOLS.md §4).
                eprintln!("{timed_out}");
                return ExitCode::from(2);
            }
            // One line: the error and its causes, `a: b: c`.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run<R: Transport>(cli: Cli) -> anyhow::Result<()> {
    // Every program may hold many sockets (servers up to --max-connections,
    // the scanner its --concurrency): take all the descriptors allowed.
    scan::raise_fd_limit();
    match &cli.command {
        Command::Http(args) => http::run::<R>(&cli, args),
        Command::Chat(args) => chat::run::<R>(&cli, args),
        Command::Echo(args) => echo::run::<R>(&cli, args),
        Command::File(args) => file::run::<R>(&cli, args),
        Command::Send(args) => send::run(&cli, args),
        Command::Scan(args) => scan::run::<R>(&cli, args),
        Command::Resolve(args) => resolve::run(&cli, args),
    }
}

/// Logs go to stderr. `-v` (info), `-vv` (debug), `-vvv` (trace) decide the
/// level; without `-v`, `RUST_LOG` does, and the default is `warn`.
fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// async-std sizes its executor from `ASYNC_STD_THREAD_COUNT` when it
/// starts. Unless the user set it, use one thread fewer than the cores (at
/// least one), as the smol transport does: with async-io's single reactor,
/// extra executor threads mostly wake each other (on 2 cores: 201k req/s
/// with one thread, 168k with two).
#[allow(unsafe_code)]
fn size_async_std_pool() {
    const VAR: &str = "ASYNC_STD_THREAD_COUNT";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.saturating_sub(1).max(1);
    // SAFETY: called at the top of `main`, before any thread is spawned
    // (logging, signals and runtimes start later), so nothing can read the
    // environment concurrently.
    unsafe { std::env::set_var(VAR, threads.to_string()) };
}
