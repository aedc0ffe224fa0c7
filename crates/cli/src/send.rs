//! `sansnet send ADDR MESSAGE`: the reference TCP and UDP clients
//! (PROTOCOLS.md §4): connect (or send one datagram), send MESSAGE, print
//! the reply.
//!
//! When is a TCP reply complete? The reference client sends, then does one
//! `recv`; that loses the rest of a reply that arrives in pieces. `send`
//! reads until the first of:
//!
//! - the peer closes the connection;
//! - `--quiet-ms` (200 ms) pass without a byte, once at least one byte
//!   arrived;
//! - `--timeout` seconds have passed since the connection was made.
//!
//! A reply (any byte) is success, exit 0. Nothing at all before the
//! timeout, or a connect that takes longer than it, prints
//! `timed out after SECS s` on stderr and exits 2. UDP prints the first
//! datagram that comes back from ADDR, under the same timeout.
//!
//! The reply goes to stdout byte for byte, as it arrives, with nothing
//! added (as `nc` does). This is one blocking connection: `--runtime`
//! changes nothing here.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use sansnet_net::{Endpoint, SocketOptions, Stream};
use socket2::SockRef;

use crate::cli::{Cli, parse_secs};

/// `sansnet send` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct SendArgs {
    /// Where to send: `HOST:PORT` (`[::1]:8888` for IPv6), or a Unix
    /// socket path (`unix:PATH`, or any path with a `/`). With the global
    /// `--unix PATH`, leave ADDR out and give MESSAGE alone.
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,

    /// The text to send, as is (no newline is added).
    #[arg(value_name = "MESSAGE")]
    pub(crate) message: Option<String>,

    /// Send MESSAGE as one UDP datagram and print the datagram that comes
    /// back.
    #[arg(long)]
    pub(crate) udp: bool,

    /// Seconds to wait for the connection and then for the reply; on
    /// timeout: `timed out after SECS s` and exit status 2.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, default_value = "5")]
    pub(crate) timeout: Duration,

    /// TCP: the reply is complete after this many milliseconds without a
    /// byte (once one arrived), or when the peer closes.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub(crate) quiet_ms: u64,
}

/// No reply in time: printed as is (`timed out after 5 s`), exit status 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedOut(pub(crate) Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {} s", self.0.as_secs_f64())
    }
}

impl std::error::Error for TimedOut {}

/// Seconds, more than zero.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_secs(s)?;
    if d.is_zero() {
        return Err("the timeout must be more than 0 seconds".into());
    }
    Ok(d)
}

/// Runs `sansnet send`.
pub(crate) fn run(cli: &Cli, args: &SendArgs) -> anyhow::Result<()> {
    let (endpoint, message) = target(cli.socket.unix.as_ref(), args)?;
    let opts = cli.socket.options();
    if args.udp {
        let Endpoint::Tcp(addr) = endpoint else {
            bail!("--udp sends to an IP address (HOST:PORT), not a Unix socket");
        };
        return send_udp(addr, message.as_bytes(), &opts, args.timeout, cli.verbose > 0);
    }
    let quiet = Duration::from_millis(args.quiet_ms.max(1));
    send_tcp(&endpoint, message, &opts, args.timeout, quiet, cli.verbose > 0)
}

/// Where to send and what, from ADDR, MESSAGE and `--unix`.
fn target<'a>(unix: Option<&PathBuf>, args: &'a SendArgs) -> anyhow::Result<(Endpoint, &'a str)> {
    match (unix, &args.message) {
        (Some(path), None) => Ok((Endpoint::Unix(path.clone()), &args.addr)),
        (Some(_), Some(_)) => bail!("with --unix PATH, give MESSAGE alone (no ADDR)"),
        (None, None) => bail!("missing MESSAGE: sansnet send ADDR MESSAGE"),
        (None, Some(message)) => {
            let a = args.addr.as_str();
            let endpoint = if let Some(path) = a.strip_prefix("unix:") {
                Endpoint::Unix(path.into())
            } else if a.contains('/') {
                Endpoint::Unix(a.into())
            } else if let Ok(addr) = a.parse::<SocketAddr>() {
                Endpoint::Tcp(addr)
            } else {
                a.parse::<Endpoint>()
                    .with_context(|| format!("invalid address {a:?} (want HOST:PORT)"))?
            };
            Ok((endpoint, message))
        }
    }
}

fn send_tcp(
    endpoint: &Endpoint,
    message: &str,
    opts: &SocketOptions,
    timeout: Duration,
    quiet: Duration,
    verbose: bool,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let stream = match opts.connect(endpoint, Some(timeout)) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(TimedOut(timeout).into()),
        Err(e) => return Err(e).with_context(|| format!("cannot connect to {endpoint}")),
    };
    if verbose {
        let options = match &stream {
            Stream::Tcp(s) => SocketOptions::effective(&SockRef::from(s)),
            Stream::Unix(s) => SocketOptions::effective(&SockRef::from(s)),
        };
        eprintln!("socket options on the connection to {endpoint}: {options}");
    }
    let deadline = start + timeout;
    // Write from another thread while this one reads, so that a long
    // message and its echo cannot fill both ways' buffers and stall.
    let writer = {
        let mut w = stream.try_clone().context("socket")?;
        w.set_write_timeout(Some(timeout)).context("socket")?;
        let message = message.as_bytes().to_vec();
        thread::spawn(move || w.write_all(&message))
    };
    let mut reader = &stream;
    let mut out = io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0usize;
    let mut failure: Option<io::Error> = None;
    loop {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        let wait = if received == 0 { left } else { left.min(quiet) };
        if wait.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(wait)).context("socket")?;
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                received += n;
                out.write_all(&buf[..n]).and_then(|()| out.flush()).context("stdout")?;
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if received > 0 {
                    break; // quiet for long enough: the reply is complete
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let written = writer.join().unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
    tracing::debug!("received {received} bytes from {endpoint}");
    if received > 0 {
        return Ok(());
    }
    if let Some(e) = failure {
        return Err(e).with_context(|| format!("reading from {endpoint}"));
    }
    if let Err(e) = written {
        return Err(e).with_context(|| format!("sending to {endpoint}"));
    }
    if Instant::now() >= deadline {
        return Err(TimedOut(timeout).into());
    }
    bail!("{endpoint} closed the connection without a reply")
}

fn send_udp(
    addr: SocketAddr,
    message: &[u8],
    opts: &SocketOptions,
    timeout: Duration,
    verbose: bool,
) -> anyhow::Result<()> {
    let any: IpAddr =
        if addr.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    let socket = sansnet_net::bind_udp(SocketAddr::new(any, 0), opts).context("udp socket")?;
    if verbose {
        let sock = SockRef::from(&socket);
        eprintln!(
            "udp socket options: recv_buffer={:?} send_buffer={:?}",
            sock.recv_buffer_size().ok(),
            sock.send_buffer_size().ok()
        );
    }
    let deadline = Instant::now() + timeout;
    // Unconnected, like the reference client: an ICMP "port unreachable"
    // is not reported, so a port nobody answers on times out.
    socket.send_to(message, addr).with_context(|| format!("sending to udp {addr}"))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(TimedOut(timeout).into());
        }
        socket.set_read_timeout(Some(left)).context("udp socket")?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == addr => {
                let mut out = io::stdout().lock();
                out.write_all(&buf[..n]).and_then(|()| out.flush()).context("stdout")?;
                return Ok(());
            }
            Ok((_, from)) => tracing::debug!("ignoring a datagram from {from}"),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e).with_context(|| format!("receiving from udp {addr}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_out_text() {
        assert_eq!(TimedOut(Duration::from_secs(5)).to_string(), "timed out after 5 s");
        assert_eq!(TimedOut(Duration::from_millis(500)).to_string(), "timed out after 0.5 s");
        assert_eq!(TimedOut(parse_timeout("0.3").unwrap()).to_string(), "timed out after 0.3 s");
        assert!(parse_timeout("0").is_err());
    }
}
