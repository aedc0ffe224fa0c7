//! `sansnet send ADDR MESSAGE`: the reference TCP and UDP clients
//! (PROTOCOLS.md §4), from `sansnet_apps::oneshot`, which says when a
//! reply is complete. A reply (any byte) is success, exit 0. Nothing at all
//! before the timeout, or a connect that takes longer than it, prints
//! `timed out after SECS s` on stderr and exits 2. This is one blocking
//! connection: `--runtime` changes nothing here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use sansnet_apps::oneshot;
use sansnet_net::Endpoint;

use crate::cli::{Cli, parse_endpoint, parse_timeout};

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

/// Runs `sansnet send`.
pub(crate) fn run(cli: &Cli, args: &SendArgs) -> anyhow::Result<()> {
    let (endpoint, message) = target(cli.socket.unix.as_ref(), args)?;
    let (opts, out) = (cli.socket.options(), &mut std::io::stdout().lock());
    let tls = if args.udp {
        cli.tls.refuse("send --udp")?;
        None
    } else {
        cli.tls.client(&args.addr, Default::default())?
    };
    let got = if args.udp {
        let Endpoint::Tcp(addr) = endpoint else {
            bail!("--udp sends to an IP address (HOST:PORT), not a Unix socket");
        };
        oneshot::send_udp(addr, message.as_bytes(), &opts, args.timeout, out)
    } else {
        let quiet = Duration::from_millis(args.quiet_ms.max(1));
        oneshot::send_tcp(
            &endpoint,
            message.as_bytes(),
            &opts,
            args.timeout,
            quiet,
            out,
            tls.as_ref(),
        )
    };
    let got = got?;
    tracing::debug!("received {got} bytes");
    Ok(())
}

/// Where to send and what, from ADDR, MESSAGE and `--unix`.
fn target<'a>(unix: Option<&PathBuf>, args: &'a SendArgs) -> anyhow::Result<(Endpoint, &'a str)> {
    match (unix, &args.message) {
        (Some(path), None) => Ok((Endpoint::Unix(path.clone()), &args.addr)),
        (Some(_), Some(_)) => bail!("with --unix PATH, give MESSAGE alone (no ADDR)"),
        (None, None) => bail!("missing MESSAGE: sansnet send ADDR MESSAGE"),
        (None, Some(message)) => {
            let a = args.addr.as_str();
            let path = a.contains('/') && !a.starts_with("unix:");
            let endpoint =
                if path { Endpoint::Unix(a.into()) } else { parse_endpoint(a, "address")? };
            Ok((endpoint, message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("0.3"), Ok(Duration::from_millis(300)));
        assert!(parse_timeout("0").is_err());
    }
}
