//! `sansnet scan HOST`: a TCP connect scan (PROTOCOLS.md §4).
//!
//! The core's [`Scan`] hands out ports and keeps the outcomes; the chosen
//! runtime's `scan` connects. Open ports go to stdout, ascending, one per
//! line (or one JSON array with `--json`); the summary, which tells refused
//! (closed) from filtered (no answer in time), goes to stderr.
//!
//! Socket-option flags do not apply: a probe connects and closes at once,
//! so buffers, Nagle and keepalive never come into play.

use std::io::{self, Write};
use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use sansnet_net::{Probes, Transport};
use sansnet_proto::scan::{Outcome, PortSet, Scan};

use crate::cli::Cli;

/// Descriptors kept free for everything but the probes (stdio, the
/// reactor, logging).
const RESERVED_FDS: u64 = 64;

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
}

fn parse_spec(s: &str) -> Result<PortSet, String> {
    s.parse().map_err(|e: sansnet_proto::scan::SpecError| e.to_string())
}

/// Runs `sansnet scan`.
pub(crate) fn run<R: Transport>(cli: &Cli, args: &ScanArgs) -> anyhow::Result<()> {
    let host = resolve(&args.host)?;
    let limit = raise_fd_limit();
    let mut concurrency = u64::from(args.concurrency);
    if let Some(limit) = limit {
        let fit = limit.saturating_sub(RESERVED_FDS).max(1);
        if concurrency > fit {
            tracing::warn!(
                "--concurrency {concurrency} lowered to {fit} (file-descriptor limit {limit})"
            );
            concurrency = fit;
        }
    }
    let concurrency = usize::try_from(concurrency).unwrap_or(usize::MAX);
    let timeout = Duration::from_millis(args.timeout_ms);
    if cli.verbose > 0 {
        eprintln!(
            "scanning {host} ({} ports: {}) on {}: concurrency {concurrency}, timeout {} ms, \
             file-descriptor limit {}",
            args.ports.len(),
            args.ports,
            R::NAME,
            args.timeout_ms,
            limit.map_or_else(|| "unknown".into(), |l| l.to_string())
        );
    }
    let mut plan = Scan::new(args.ports.clone());
    let started = Instant::now();
    R::connect_each(host, concurrency, timeout, &Probing(std::sync::Mutex::new(&mut plan)))
        .with_context(|| format!("scanning {host}"))?;
    let took = started.elapsed();
    let mut out = io::stdout().lock();
    if args.json {
        let list: Vec<String> = plan.open_ports().map(|p| p.to_string()).collect();
        writeln!(out, "[{}]", list.join(","))
    } else {
        plan.open_ports().try_for_each(|p| writeln!(out, "{p}"))
    }
    .and_then(|()| out.flush())
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

/// A scan plan shared by the transport's connecting threads.
struct Probing<'a>(std::sync::Mutex<&'a mut Scan>);

impl Probes for Probing<'_> {
    fn next_port(&self) -> Option<u16> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).next_port()
    }

    fn record(&self, port: u16, result: io::Result<(std::net::SocketAddr, std::net::SocketAddr)>) {
        let outcome = match result {
            Ok((local, peer)) => Outcome::connected(local, peer),
            Err(e) => connect_failure(&e),
        };
        let recorded = self.0.lock().unwrap_or_else(|e| e.into_inner()).record(port, outcome);
        debug_assert!(recorded.is_ok(), "{recorded:?}");
    }
}

/// How a failed connect counts in a scan, on every runtime: refused is a
/// reset; timed out or unreachable is filtered.
fn connect_failure(e: &io::Error) -> Outcome {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused | K::ConnectionReset | K::NotConnected => Outcome::Refused,
        K::TimedOut | K::WouldBlock | K::HostUnreachable | K::NetworkUnreachable => {
            Outcome::Filtered
        }
        _ => {
            tracing::debug!("scan connect: {e}");
            Outcome::Error
        }
    }
}

/// An IP literal, or a name's first IPv4 address (else its first IPv6 one).
fn resolve(host: &str) -> anyhow::Result<IpAddr> {
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = (host, 0)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host:?}"))?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .with_context(|| format!("no address for {host:?}"))
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now
/// in force (`None` if it cannot be read).
pub(crate) fn raise_fd_limit() -> Option<u64> {
    // Linux refuses an unlimited soft limit (fs.nr_open caps it): ask for
    // that cap's default then.
    let hard = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(_, hard)| hard);
    let want = if hard == rlimit::INFINITY { 1 << 20 } else { hard };
    match rlimit::increase_nofile_limit(want) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!("cannot raise the file-descriptor limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(resolve("127.0.0.1").unwrap(), IpAddr::from([127, 0, 0, 1]));
        assert_eq!(resolve("::1").unwrap(), "::1".parse::<IpAddr>().unwrap());
        assert_eq!(resolve("[::1]").unwrap(), "::1".parse::<IpAddr>().unwrap());
        assert!(resolve("localhost").unwrap().is_loopback());
    }

    #[test]
    fn specs_from_the_command_line() {
        assert_eq!(parse_spec("1-3,80").unwrap().len(), 4);
        assert_eq!(parse_spec("0").unwrap_err(), "port 0 is out of range (1-65535)");
    }
}
