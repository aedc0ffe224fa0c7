//! `sansnet file recv` and `sansnet file send` (PROTOCOLS.md §3): the
//! file transfer of `sansnet_apps::transfer` on the chosen runtime, with
//! progress bars (on a terminal, unless `--quiet`) and the summary lines.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sansnet_apps::transfer::{
    self, Inbox, InboxLimits, Once, Progress, READ_BUFFER, ReceiveApp, ReceiveError, ReceiveEvents,
    Received,
};
use sansnet_net::{Shutdown, Transport};
use sansnet_proto::file::Limits;
use sansnet_proto::text::escape;

use crate::cli::{Cli, parse_secs, parse_size_u64, parse_timeout};
use crate::process;
use crate::server::{self, Plan};
use sansnet_apps::units::parse_nonzero_size;

/// Where `file recv` listens by default.
const DEFAULT_BIND: &str = "127.0.0.1:9000";

/// `sansnet file` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct FileArgs {
    #[command(subcommand)]
    pub(crate) command: FileCommand,
}

/// `file recv` or `file send`.
#[derive(Subcommand, Debug, Clone)]
pub(crate) enum FileCommand {
    /// Receive files into DIR.
    Recv(RecvArgs),
    /// Send the file at PATH to a receiver at ADDR.
    Send(SendArgs),
}

/// `sansnet file recv` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct RecvArgs {
    /// The directory files are written to.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: PathBuf,

    /// Address to listen on (`HOST:PORT`, `[::1]:9000` for IPv6, port 0
    /// for any free port) [default: 127.0.0.1:9000].
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<String>,

    /// Handle one connection, then exit: status 0 if a file was received,
    /// 1 otherwise.
    #[arg(long)]
    pub(crate) once: bool,

    /// Replace an existing file of the same name (instead of `ERR exists`).
    #[arg(long)]
    pub(crate) overwrite: bool,

    /// No progress bars and no `received ...` lines.
    #[arg(long, short)]
    pub(crate) quiet: bool,

    /// The largest file accepted (K, M, G suffixes); over it `ERR
    /// too_large`.
    #[arg(long, value_name = "BYTES", value_parser = parse_size_u64, default_value_t = Limits::default().max_size)]
    pub(crate) max_size: u64,

    /// Bytes of a transfer received and not yet written to the disk (K, M
    /// suffixes): past it, the receiver stops reading until the disk
    /// catches up. With the 1 MiB read buffer, the memory one transfer may
    /// hold.
    #[arg(long, value_name = "BYTES", value_parser = parse_nonzero_size, default_value = "4M")]
    pub(crate) max_buffered: usize,

    /// Transfers in progress at once, past it `ERR no_space busy: ...`
    /// (their disk work: a pool of 500 threads, BLOCKING_MAX_THREADS).
    #[arg(long, value_name = "N", default_value_t = InboxLimits::default().max_transfers)]
    pub(crate) max_transfers: usize,

    /// Transfers in progress at once from one address (IPv6: a /64); past it, the same.
    #[arg(long, value_name = "N", default_value_t = InboxLimits::default().max_transfers_per_peer)]
    pub(crate) max_transfers_per_peer: usize,

    /// Seconds a partial file is kept for a resume after its last write;
    /// older ones are deleted (at start, hourly, and when offered again).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "86400")]
    pub(crate) part_ttl: Duration,
}

/// The receiver's limits from the command line.
fn recv_limits(cli: &Cli, args: &RecvArgs) -> Limits {
    let limits =
        Limits::default().with_max_size(args.max_size).with_max_buffered(args.max_buffered);
    match cli.socket.idle_timeout {
        Some(idle) => limits.with_idle_timeout(idle),
        None => limits,
    }
}

/// `sansnet file send` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct SendArgs {
    /// The file to send; the receiver stores it under its last path
    /// component.
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,

    /// The receiver: `HOST:PORT` (`[::1]:9000` for IPv6) or `unix:PATH`
    /// (omitted with --unix PATH).
    #[arg(value_name = "ADDR", required_unless_present = "unix")]
    pub(crate) addr: Option<String>,

    /// No progress bar and no summary line.
    #[arg(long, short)]
    pub(crate) quiet: bool,

    /// Seconds to wait for the connection and for each answer (a stalled
    /// write gives up after --write-timeout).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, default_value = "30")]
    pub(crate) timeout: Duration,
}

/// Runs `sansnet file ...`.
pub(crate) fn run<R: Transport>(cli: &Cli, args: &FileArgs) -> anyhow::Result<()> {
    match &args.command {
        FileCommand::Recv(a) => recv::<R>(cli, a),
        FileCommand::Send(a) => send::<R>(cli, a),
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Progress bars go to stderr, and only when stdout is a terminal and
/// `--quiet` is off.
fn bars_enabled(quiet: bool) -> bool {
    !quiet && io::stdout().is_terminal()
}

/// A transfer's progress bar, if bars are on.
struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn at(&mut self, pos: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(pos);
        }
    }

    fn ended(&mut self, ok: bool) {
        match &self.0 {
            Some(bar) if ok => bar.finish_and_clear(),
            Some(bar) => bar.abandon(),
            None => {}
        }
    }
}

/// What `file recv` does with the receiver's news.
struct Report {
    dir: PathBuf,
    quiet: bool,
    bars: Option<MultiProgress>,
}

impl ReceiveEvents for Report {
    type Progress = Bar;

    fn offered(&self, _peer: &str, name: &str, size: u64) -> Bar {
        Bar(self.bars.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(size).with_style(bar_style()));
            bar.set_message(escape(name).to_string());
            bar
        }))
    }

    fn outcome(&self, peer: &str, outcome: &Result<Received, ReceiveError>) {
        if let (Ok(r), false) = (outcome, self.quiet) {
            eprintln!("{}", r.summary(peer, &self.dir));
        }
    }
}

fn recv<R: Transport>(cli: &Cli, args: &RecvArgs) -> anyhow::Result<()> {
    sansnet_apps::host::keep_freed_memory();
    process::ignore_sigxfsz()?;
    let inbox = Inbox::open(&args.dir, args.overwrite)
        .with_context(|| format!("cannot open the directory {}", args.dir.display()))?
        .with_limits(InboxLimits {
            max_transfers: args.max_transfers,
            max_transfers_per_peer: args.max_transfers_per_peer,
            part_ttl: args.part_ttl,
        });
    inbox.expire_parts(std::time::SystemTime::now()).context("cannot sweep the directory")?;
    let tls = transfer::tls_limits();
    let mut plan = Plan::new(cli, args.bind.as_deref(), DEFAULT_BIND, (&[], tls))?;
    plan.config.read_buffer = READ_BUFFER;
    if args.once {
        plan.config.max_connections = 1;
    }
    let report = Report {
        dir: args.dir.clone(),
        quiet: args.quiet,
        bars: bars_enabled(args.quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
    };
    let (inbox, limits, io) = (Arc::new(inbox), recv_limits(cli, args), R::BLOCKING);
    if !args.once {
        let factory = transfer::receiver(inbox, limits, Arc::new(report), io);
        return server::run::<R, _>(plan, factory, ReceiveApp::identified);
    }
    let shutdown = Shutdown::new();
    let once = Arc::new(Once::new(report, shutdown.clone()));
    let factory = transfer::receiver(inbox, limits, once.clone(), io);
    let tls = plan.tls.clone();
    server::run_with::<R>(plan, shutdown, |l, c, s| {
        sansnet_apps::tls::serve::<R, _>(l, c, s, tls.as_ref(), factory, ReceiveApp::identified)
    })?;
    once.finish()?;
    Ok(())
}

fn send<R: Transport>(cli: &Cli, args: &SendArgs) -> anyhow::Result<()> {
    sansnet_apps::host::keep_freed_memory();
    // ADDR is required without --unix: the default is never used.
    let endpoint = cli.socket.endpoint(args.addr.as_deref(), DEFAULT_BIND)?;
    let bar = |name: &str, size| {
        Bar(bars_enabled(args.quiet).then(|| {
            let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr())
                .with_style(bar_style());
            bar.set_message(escape(name).to_string());
            bar
        }))
    };
    let started = std::time::Instant::now();
    // The socket options and --write-timeout.
    let config = cli.socket.server_config();
    let tls = cli.tls.options().client(args.addr.as_deref(), transfer::tls_limits())?;
    let (path, tls) = (&args.path, tls.as_ref());
    let sent = transfer::send_file::<R, _>(path, &endpoint, &config, args.timeout, bar, tls);
    let sent = match sent {
        Ok(sent) => sent,
        Err(e) if e.before_connection() => return Err(e.into()),
        Err(e) => {
            let name = args.path.file_name().unwrap_or_default().to_string_lossy();
            return Err(e).with_context(|| format!("sending {name} to {endpoint}"));
        }
    };
    if !sent.verified {
        eprintln!("warning: the receiver answered a bare OK: the file was sent but not verified");
    }
    if !args.quiet {
        let mut out = io::stdout().lock();
        let line = sent.summary(&endpoint, started.elapsed());
        writeln!(out, "{line}").and_then(|()| out.flush()).context("stdout")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The receiver's limits `file recv --dir in EXTRA` asks for.
    fn limits(extra: &[&str]) -> Limits {
        let argv = ["sansnet", "file", "recv", "--dir", "in"].iter().chain(extra);
        let cli = Cli::try_parse_from(argv).expect("parses");
        let crate::cli::Command::File(FileArgs { command: FileCommand::Recv(args) }) = &cli.command
        else {
            panic!("not file recv")
        };
        recv_limits(&cli, args)
    }

    #[test]
    fn receiver_limits_come_from_the_flags() {
        let l = limits(&[]);
        assert_eq!((l.max_size, l.max_buffered), (1 << 40, 4 << 20));
        assert_eq!(l.idle_timeout, Duration::from_secs(60));
        let l = limits(&["--max-size", "1G", "--max-buffered", "64K", "--idle-timeout", "5"]);
        assert_eq!((l.max_size, l.max_buffered), (1 << 30, 64 << 10));
        assert_eq!(l.idle_timeout, Duration::from_secs(5));
        let argv = ["sansnet", "file", "recv", "--dir", "in", "--max-buffered", "0"];
        assert!(Cli::try_parse_from(argv).is_err(), "no room at all is refused");
    }
}
