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
mod http;
mod resolve;
mod scan;
mod send;
mod server;

use cli::{Cli, Command};

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
    init_logging(cli.verbose);
    match run(cli) {
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Http(args) => http::run(&cli, args),
        Command::Chat(args) => chat::run(&cli, args),
        Command::Echo(args) => echo::run(&cli, args),
        Command::Send(args) => send::run(&cli, args),
        Command::Scan(args) => scan::run(&cli, args),
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
