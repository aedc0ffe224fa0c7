//! `sansnet scan HOST`: a TCP connect scan (PROTOCOLS.md §4).
//!
//! `sansnet_apps::scan` runs it on the chosen runtime. Open ports go to
//! stdout, ascending, one per line (or one JSON array with `--json`); the
//! summary, which tells refused (closed) from filtered (no answer in
//! time), goes to stderr.
//!
//! Socket-option flags do not apply: a probe connects and closes at once,
//! so buffers, Nagle and keepalive never come into play.

use std::io;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use sansnet_apps::{describe_scan, host};
use sansnet_net::Transport;
use sansnet_proto::scan::{PortSet, Scan};

use crate::cli::Cli;

/// `sansnet scan` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct ScanArgs {
    /// The host to scan: an IP address or a name (a name's first IPv4
    /// address, else its first IPv6 one).
    #[arg(value_name = "HOST")]
    pub(crate) host: String,

    /// Ports to try: `1-1024,8080`; ranges may leave out an end (`-1024`,
    /// `60000-`, `-` for all 65535).
    #[arg(long, value_name = "SPEC", default_value = PortSet::DEFAULT_SPEC, value_parser = parse_spec)]
    pub(crate) ports: PortSet,

    /// Connection attempts in flight at once (lowered to fit the
    /// file-descriptor limit, which the scan raises as far as allowed).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) concurrency: u32,

    /// Milliseconds to wait for an answer before counting a port as
    /// filtered.
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout_ms: u64,

    /// Print the open ports as one JSON array (`[22,80]`).
    #[arg(long)]
    pub(crate) json: bool,

    /// Print every port as `PORT open|closed|filtered` (with `--json`:
    /// `[{"port":P,"state":"open"},...]`).
    #[arg(long)]
    pub(crate) all: bool,
}

fn parse_spec(s: &str) -> Result<PortSet, String> {
    s.parse().map_err(|e: sansnet_proto::scan::SpecError| e.to_string())
}

/// Runs `sansnet scan`.
/// `fd_limit` is the descriptor limit the program raised itself to at start.
pub(crate) fn run<R: Transport>(
    cli: &Cli,
    args: &ScanArgs,
    fd_limit: Option<u64>,
) -> anyhow::Result<()> {
    let host = sansnet_apps::scan_address(&args.host)
        .with_context(|| format!("cannot resolve {:?}", args.host))?;
    let (limit, asked) = (fd_limit, args.concurrency as usize);
    let concurrency = host::fit_concurrency(asked, limit);
    let timeout = Duration::from_millis(args.timeout_ms);
    if cli.verbose > 0 {
        let ports = &args.ports;
        eprintln!("{}", describe_scan(host, ports, R::NAME, concurrency, timeout, limit));
    }
    let mut plan = Scan::new(args.ports.clone());
    let started = Instant::now();
    sansnet_apps::scan::<R>(host, &mut plan, concurrency, timeout)
        .with_context(|| format!("scanning {host}"))?;
    let took = started.elapsed();
    sansnet_apps::scan_report(&plan, args.all, args.json, &mut io::stdout().lock())
        .context("stdout")?;
    let s = plan.summary();
    eprintln!("scanned {host} in {:.2} s: {s}", took.as_secs_f64());
    if s.filtered > 0 {
        eprintln!("(filtered: no answer within {} ms, or unreachable)", args.timeout_ms);
    }
    if !plan.is_done() {
        bail!("the scan stopped before every port was tried");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_from_the_command_line() {
        assert_eq!(parse_spec("1-3,80").unwrap().len(), 4);
        assert_eq!(parse_spec("0").unwrap_err(), "port 0 is out of range (1-65535)");
    }
}
