//! `sansnet chat serve` and `sansnet chat join` (PROTOCOLS.md §2).
//!
//! The server is `sansnet_apps::chat`'s room on the chosen runtime, the
//! client its blocking terminal member (`chat::converse`).

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use sansnet_apps::chat;
use sansnet_apps::cluster::{Bridge, ClusterOptions};
use sansnet_proto::chat::Limits;

use crate::cli::{Cli, parse_secs, parse_size, parse_timeout};
use crate::server::{self, Plan};
use sansnet_net::Transport;

/// `sansnet chat` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct ChatArgs {
    #[command(subcommand)]
    pub(crate) command: ChatCommand,
}

/// The chat programs.
#[derive(Subcommand, Debug, Clone)]
pub(crate) enum ChatCommand {
    /// Run the chat server.
    #[command(after_long_help = include_str!("../help/chat-serve.examples.txt"))]
    Serve(ServeArgs),
    /// Join a chat server: stdin lines become messages.
    #[command(after_long_help = include_str!("../help/chat-join.examples.txt"))]
    Join(JoinArgs),
}

/// `sansnet chat serve` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8888].
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<String>,

    /// Largest client frame (one JSON object), in bytes; over it the client
    /// gets `frame_too_large` and is disconnected.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value_t = Limits::default().max_frame)]
    pub(crate) max_frame: usize,

    /// Longest user name, in characters.
    #[arg(long, value_name = "CHARS", default_value_t = Limits::default().max_name)]
    pub(crate) max_name: usize,

    /// Bytes queued for a client and not yet written before it is
    /// disconnected as too slow.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value_t = Limits::default().outbound_budget)]
    pub(crate) outbound_budget: usize,

    /// In a room of over 64 members, `joined` and `left` lines go out
    /// coalesced, at most this often (0: each at once).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "0.05")]
    pub(crate) announce_every: Duration,

    /// Longest pause of the heaviest senders while a member they fill is
    /// over half its budget; still behind after it, that member counts as
    /// stalled.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "1")]
    pub(crate) sender_hold: Duration,

    /// Be one room with every server on this Redis (`redis://HOST:PORT`).
    #[arg(long, value_name = "URL")]
    pub(crate) redis: Option<String>,

    /// The room's name on Redis.
    #[arg(long, value_name = "NAME", default_value = ClusterOptions::DEFAULT_ROOM, requires = "redis")]
    pub(crate) room: String,

    /// This server's id in the room [default: random].
    #[arg(long, value_name = "ID", requires = "redis")]
    pub(crate) node_id: Option<String>,

    /// A server not heard from for this long is gone: its members leave.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, default_value = "10", requires = "redis")]
    pub(crate) node_ttl: Duration,

    /// Also serve the chat page and its WebSocket (`/ws`) on this address.
    #[arg(long, value_name = "ADDR")]
    pub(crate) web: Option<String>,

    /// A WebSocket member not answering our close within this long is cut off.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, default_value = "5")]
    pub(crate) ws_close_timeout: Duration,
}

/// `sansnet chat join` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct JoinArgs {
    /// The server: `HOST:PORT` or `unix:PATH` (omitted with --unix PATH).
    #[arg(value_name = "ADDR", required_unless_present = "unix")]
    pub(crate) addr: Option<String>,

    /// The name to join as.
    #[arg(long)]
    pub(crate) name: String,

    /// Seconds to wait for the connection.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, default_value = "10")]
    pub(crate) timeout: Duration,
}

/// Runs `sansnet chat ...`.
pub(crate) fn run<R: Transport>(cli: &Cli, args: &ChatArgs) -> anyhow::Result<()> {
    match &args.command {
        ChatCommand::Serve(a) => serve::<R>(cli, a),
        ChatCommand::Join(a) => join(cli, a),
    }
}

fn serve<R: Transport>(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let plan = Plan::new(cli, args.bind.as_deref(), "127.0.0.1:8888", (&[], Default::default()))?;
    let limits = Limits::default()
        .with_max_frame(args.max_frame)
        .with_max_name(args.max_name)
        .with_outbound_budget(args.outbound_budget)
        .with_announce_every(args.announce_every)
        .with_sender_hold(args.sender_hold);
    let (room, id, ttl) = (&args.room, args.node_id.as_deref(), args.node_ttl);
    let cluster = args.redis.as_ref().map(|url| ClusterOptions::new(url, room, id, ttl));
    let bridge = cluster.as_ref().map(Bridge::start::<R>).transpose()?;
    bridge.iter().for_each(|b| eprintln!("{b}"));
    let tls = plan.tls.clone();
    let at = args.web.as_deref();
    let web = at.map(|a| chat::Web::bind(a, &plan.config.socket, &limits, args.ws_close_timeout));
    let web = web.transpose().context("--web")?;
    server::run_with::<R>(plan, sansnet_net::Shutdown::new(), |l, config, s| {
        if let Some(addr) = web.as_ref().map(chat::Web::local_addr).transpose()? {
            println!("listening on {addr}");
        }
        chat::serve::<R>(l, config, s, limits, tls.as_ref(), bridge, web)
    })
}

fn join(cli: &Cli, args: &JoinArgs) -> anyhow::Result<()> {
    let endpoint = cli.socket.endpoint(args.addr.as_deref(), "127.0.0.1:8888")?;
    let tls = cli.tls.options().client(args.addr.as_deref(), Default::default())?;
    let opts = cli.socket.options();
    Ok(chat::join_terminal(&endpoint, &opts, args.timeout, &args.name, tls.as_ref())?)
}
