//! `sansnet resolve [HOST]`: this machine's host name, HOST's IPv4 and IPv6
//! addresses (getaddrinfo) and the reverse name of each (getnameinfo), as
//! `sansnet_apps::lookup` finds them (PROTOCOLS.md §4).
//!
//! Without HOST it looks up this machine's own name. The text and JSON
//! forms are [`Found`](sansnet_apps::lookup::Found)'s. The lookups are blocking calls: `--runtime` changes nothing here.

use std::io::{self, Write};

use anyhow::Context;
use clap::Args;
use sansnet_apps::lookup::lookup;

use crate::cli::Cli;

/// `sansnet resolve` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct ResolveArgs {
    /// The name to look up [default: this machine's host name].
    #[arg(value_name = "HOST")]
    pub(crate) host: Option<String>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `sansnet resolve`.
pub(crate) fn run(_cli: &Cli, args: &ResolveArgs) -> anyhow::Result<()> {
    let found = lookup(args.host.as_deref())?;
    let text = if args.json { found.to_json() + "\n" } else { found.to_string() };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("stdout")
}
