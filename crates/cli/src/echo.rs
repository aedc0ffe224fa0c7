//! `sansnet echo`: TCP echo (RFC 862) over IPv4, IPv6 or a Unix socket,
//! or UDP echo with `--udp` (PROTOCOLS.md §4).
//!
//! Both are `sansnet_apps::echo` hosts on the chosen runtime's `serve` /
//! `serve_datagrams`; this file only maps flags.

use bytes::Bytes;
use clap::Args;
use sansnet_apps::echo;
use sansnet_proto::echo::Echo;

use crate::cli::{Cli, parse_size};
use crate::server::{self, Plan};
use sansnet_net::Transport;

/// Where TCP echo listens by default.
const TCP_DEFAULT: &str = "127.0.0.1:8888";
/// Where UDP echo listens by default.
const UDP_DEFAULT: &str = "127.0.0.1:8889";

/// `sansnet echo` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct EchoArgs {
    /// Address to listen on (`HOST:PORT`, `[::1]:8888` for IPv6, port 0
    /// for any free port) [default: 127.0.0.1:8888, with --udp
    /// 127.0.0.1:8889].
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<String>,

    /// UDP echo: one reply per datagram, to its sender.
    #[arg(long)]
    pub(crate) udp: bool,

    /// Text written before each reply (the reference servers use
    /// `Echo: `). TCP writes it before each chunk read from the peer.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub(crate) prefix: String,

    /// UDP: also answer source ports below 1024 (the well-known services;
    /// echo 7, daytime 13, qotd 17 and chargen 19 are never answered, nor
    /// the server's own address) [default: dropped].
    #[arg(long)]
    pub(crate) allow_low_ports: bool,

    /// TCP: stop reading from a peer while this many bytes of its echo
    /// wait unwritten (a peer that sends but never reads gets TCP
    /// back-pressure, not server memory).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value_t = Echo::DEFAULT_MAX_UNSENT)]
    pub(crate) max_unsent: usize,
}

/// Runs `sansnet echo` until SIGINT or SIGTERM.
pub(crate) fn run<R: Transport>(cli: &Cli, args: &EchoArgs) -> anyhow::Result<()> {
    let default = if args.udp { UDP_DEFAULT } else { TCP_DEFAULT };
    if args.udp {
        cli.tls.options().refuse("echo --udp")?;
    }
    let plan = Plan::new(cli, args.bind.as_deref(), default, (&[], Default::default()))?;
    let prefix = Bytes::from(args.prefix.clone().into_bytes());
    let idle = cli.socket.idle_timeout.unwrap_or(echo::DEFAULT_IDLE);
    if args.udp {
        if plan.verbose {
            eprintln!(
                "udp echo: prefix={:?} allow_low_ports={}",
                args.prefix, args.allow_low_ports
            );
        }
        return server::run_datagrams::<R, _>(plan, echo::udp(prefix, args.allow_low_ports));
    }
    if plan.verbose {
        let (p, max) = (&args.prefix, args.max_unsent);
        eprintln!("echo: prefix={p:?} max_unsent={max} idle_timeout={idle:?}");
    }
    server::run::<R, _>(plan, echo::tcp(prefix, args.max_unsent, idle), sansnet_apps::tls::anyone)
}
