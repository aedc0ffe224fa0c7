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
mod http;
mod server;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
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
