//! `sansnet send ADDR MESSAGE`: the reference TCP and UDP clients
//! (PROTOCOLS.md §4), from `sansnet_apps::oneshot`, which says when a
//! reply is complete. A reply (any byte) is success, exit 0. Nothing at all
//! before the timeout, or a connect that takes longer than it, prints
//! `timed out after SECS s` on stderr and exits 2. This is one blocking
//! connection: `--runtime` changes nothing here.

use std::time::Duration;

use clap::Args;
use sansnet_apps::oneshot::{self, Via};

use crate::cli::{Cli, parse_timeout};

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
    let unix = cli.socket.unix.as_deref();
    let (endpoint, message) = oneshot::target(unix, &args.addr, args.message.as_deref())?;
    let options = cli.tls.options();
    let tls = match args.udp {
        true => options.refuse("send --udp").map(|()| None)?,
        false => options.client(Some(&args.addr), Default::default())?,
    };
    let quiet = Duration::from_millis(args.quiet_ms.max(1));
    let via = if args.udp { Via::Udp } else { Via::Tcp { quiet, tls: tls.as_ref() } };
    let (opts, out) = (cli.socket.options(), &mut std::io::stdout().lock());
    let got = oneshot::send(&endpoint, message.as_bytes(), &opts, args.timeout, via, out)?;
    tracing::debug!("received {got} bytes");
    Ok(())
}
