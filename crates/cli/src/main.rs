//! `sansnet`: the classic socket programs — an HTTP server (hello page or
//! static files), echo over TCP and UDP, chat, file transfer, a one-shot
//! client, a port scanner and name lookup — over std threads, async-std,
//! smol or tokio (`--runtime`).
//!
//! The programs themselves are the `sansnet-apps` library over the
//! `sansnet-proto` machines; this binary parses arguments, prints, draws
//! progress bars, handles signals and picks the runtime (here, in `main`:
//! the one place that names one). The command-line contract (output
//! lines, exit codes, flags) is in PROTOCOLS.md; `sansnet help` and
//! `sansnet help http` explain the rest.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

mod chat;
mod cli;
mod echo;
mod http;
mod oneshot;
mod process;
mod resolve;
mod scan;
mod server;
mod tls;
mod transfer;

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
        process::size_async_std_pool();
    }
    init_logging(cli.verbose);
    // The one place that names a runtime: everything below is generic.
    let result = match cli.runtime {
        Runtime::Std => run::<sansnet_std::Runtime>(cli),
        Runtime::AsyncStd => run::<sansnet_async_std::Runtime>(cli),
        Runtime::Smol => run::<sansnet_smol::Runtime>(cli),
        Runtime::Tokio => run::<sansnet_tokio::Runtime>(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            use sansnet_apps::oneshot::Error::TimedOut;
            if let Some(timed_out @ TimedOut(_)) = e.downcast_ref::<sansnet_apps::oneshot::Error>()
            {
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
    let fd_limit = sansnet_apps::host::raise_fd_limit();
    let without_tls = match &cli.command {
        Command::Scan(_) => Some("scan"),
        Command::Resolve(_) => Some("resolve"),
        Command::Cert(_) => Some("cert"),
        _ => None,
    };
    if let Some(program) = without_tls {
        cli.tls.options().refuse(program)?;
    }
    match &cli.command {
        Command::Http(args) => http::run::<R>(&cli, args),
        Command::Chat(args) => chat::run::<R>(&cli, args),
        Command::Echo(args) => echo::run::<R>(&cli, args),
        Command::File(args) => transfer::run::<R>(&cli, args),
        Command::Send(args) => oneshot::run(&cli, args),
        Command::Scan(args) => scan::run::<R>(&cli, args, fd_limit),
        Command::Resolve(args) => resolve::run(&cli, args),
        Command::Cert(args) => {
            let clients: Vec<&str> = args.clients.iter().map(String::as_str).collect();
            let paths = sansnet_apps::certs::generate(&args.dir, &clients)?;
            paths.iter().for_each(|p| println!("{}", p.display()));
            Ok(())
        }
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
