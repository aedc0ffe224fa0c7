//! The command line: global flags, socket options, subcommands.
//!
//! Socket options and `--runtime`/`-v` are global (`global = true`): they are
//! accepted before or after the subcommand, and every server subcommand
//! shows them in its `--help`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
pub(crate) use sansnet_apps::units::{parse_secs, parse_size, parse_size_u64, parse_timeout};
use sansnet_net::{Endpoint, ServerConfig, SocketOptions};
use sansnet_proto::http::Limits;

/// `sansnet`: the classic socket programs, built sans-IO.
#[derive(Parser, Debug)]
#[command(
    name = "sansnet",
    version,
    about = "The classic socket programs (HTTP server, echo, chat, file transfer, ...) \
             built sans-IO, over std threads, async-std, smol or tokio",
    long_about = None,
    propagate_version = true,
    after_long_help = include_str!("../help/sansnet.examples.txt")
)]
pub(crate) struct Cli {
    /// Which I/O runtime drives the protocol machines (the protocol behaves
    /// identically on all four).
    #[arg(long, global = true, value_enum, default_value_t = Runtime::Smol)]
    pub(crate) runtime: Runtime,

    /// More logging on stderr: -v info (and the effective socket options at
    /// startup), -vv debug, -vvv trace. Without -v, RUST_LOG is honoured
    /// (default: warn).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(flatten)]
    pub(crate) socket: SocketArgs,

    #[command(flatten)]
    pub(crate) tls: crate::tls::TlsArgs,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The I/O runtimes a protocol machine can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Runtime {
    /// std blocking sockets, a thread per connection.
    Std,
    /// async-std (discontinued upstream; kept as a thin shim).
    AsyncStd,
    /// smol (the default).
    Smol,
    /// tokio, on its own reactor (the same async driver as smol's).
    Tokio,
}

/// The programs (PROTOCOLS.md §1-4).
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// HTTP/1.1 server: a hello page, or static files with --root.
    #[command(
        long_about = include_str!("../help/http.about.txt"),
        after_long_help = include_str!("../help/http.examples.txt")
    )]
    Http(HttpArgs),
    /// JSON chat: `chat serve` runs the server, `chat join` a client.
    Chat(crate::chat::ChatArgs),

    /// File transfer: `file recv --dir DIR` receives, `file send PATH ADDR`
    /// sends.
    #[command(
        long_about = include_str!("../help/file.about.txt"),
        after_long_help = include_str!("../help/file.examples.txt")
    )]
    File(crate::transfer::FileArgs),

    /// Echo server (RFC 862): every byte back, over TCP or (--udp) UDP.
    #[command(
        long_about = include_str!("../help/echo.about.txt"),
        after_long_help = include_str!("../help/echo.examples.txt")
    )]
    Echo(crate::echo::EchoArgs),

    /// Send MESSAGE to ADDR (TCP, or --udp) and print the reply.
    #[command(
        override_usage = "sansnet send [OPTIONS] ADDR MESSAGE\n       \
                          sansnet send [OPTIONS] --unix PATH MESSAGE",
        long_about = include_str!("../help/send.about.txt"),
        after_long_help = include_str!("../help/send.examples.txt")
    )]
    Send(crate::oneshot::SendArgs),

    /// TCP connect scan of HOST's ports.
    #[command(
        long_about = include_str!("../help/scan.about.txt"),
        after_long_help = include_str!("../help/scan.examples.txt")
    )]
    Scan(crate::scan::ScanArgs),

    /// This machine's host name, and HOST's addresses and their names.
    #[command(
        long_about = include_str!("../help/resolve.about.txt"),
        after_long_help = include_str!("../help/resolve.examples.txt")
    )]
    Resolve(crate::resolve::ResolveArgs),

    /// Write a new CA, a server certificate for localhost and client
    /// certificates into DIR, for the --tls-* options (keys: mode 0600).
    #[command(after_long_help = include_str!("../help/cert.examples.txt"))]
    Cert(CertArgs),
}

/// `sansnet cert` arguments.
#[derive(Args, Debug, Clone)]
pub(crate) struct CertArgs {
    /// Directory to write into (created if missing); no file in it is
    /// overwritten.
    pub(crate) dir: PathBuf,

    /// Also a client certificate whose common name is NAME (its chat
    /// name), as NAME.pem and NAME-key.pem; repeatable.
    #[arg(long = "client", value_name = "NAME")]
    pub(crate) clients: Vec<String>,
}

/// Socket options (PROTOCOLS.md §4), global to every subcommand.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Socket options")]
pub(crate) struct SocketArgs {
    /// Listen on this Unix domain socket path instead of --bind (`send`:
    /// connect to it instead of ADDR).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) unix: Option<PathBuf>,

    /// Set SO_REUSEADDR on the listening socket (on by default).
    #[arg(long, global = true, overrides_with = "no_reuse_address")]
    pub(crate) reuse_address: bool,

    /// Do not set SO_REUSEADDR.
    #[arg(long, global = true, overrides_with = "reuse_address")]
    pub(crate) no_reuse_address: bool,

    /// Set TCP_NODELAY on connections (on by default).
    #[arg(long, global = true, overrides_with = "no_nodelay")]
    pub(crate) nodelay: bool,

    /// Leave Nagle's algorithm on (no TCP_NODELAY).
    #[arg(long, global = true, overrides_with = "nodelay")]
    pub(crate) no_nodelay: bool,

    /// SO_RCVBUF in bytes (K, M suffixes accepted) [default: the system's].
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_size)]
    pub(crate) recv_buffer: Option<usize>,

    /// SO_SNDBUF in bytes (K, M suffixes accepted) [default: the system's].
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_size)]
    pub(crate) send_buffer: Option<usize>,

    /// TCP keepalive: idle seconds before the first probe [default: off].
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) keepalive: Option<Duration>,

    /// Listen backlog.
    #[arg(long, global = true, value_name = "N", default_value_t = 1024)]
    pub(crate) backlog: i32,

    /// Close a connection idle this long, in seconds (for HTTP: between
    /// requests, or stalled mid-body) [default: 60; echo: 300].
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) idle_timeout: Option<Duration>,

    /// Connections served at once; more are closed on accept (on std,
    /// each connection is a thread: this bounds the threads too).
    #[arg(long, global = true, value_name = "N", default_value_t = ServerConfig::default().max_connections)]
    pub(crate) max_connections: usize,

    /// Seconds each chunk written to a peer may take (a peer that never
    /// reads, or reads a few bytes now and then) before the connection is
    /// dropped; `file send` too.
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_secs, default_value = "30")]
    pub(crate) write_timeout: Duration,

    /// Seconds in-flight exchanges get to finish after SIGINT or SIGTERM.
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_secs, default_value = "5")]
    pub(crate) grace: Duration,
}

impl SocketArgs {
    /// The socket options these flags ask for.
    pub(crate) fn options(&self) -> SocketOptions {
        SocketOptions {
            reuse_address: !self.no_reuse_address,
            nodelay: !self.no_nodelay,
            recv_buffer: self.recv_buffer,
            send_buffer: self.send_buffer,
            keepalive: self.keepalive,
            backlog: self.backlog,
        }
    }

    /// The server settings these flags ask for.
    pub(crate) fn server_config(&self) -> ServerConfig {
        ServerConfig {
            max_connections: self.max_connections,
            write_timeout: self.write_timeout,
            grace: self.grace,
            socket: self.options(),
            ..ServerConfig::default()
        }
    }

    /// Where a server listens or a client connects: `--unix PATH`, else
    /// `addr` (`--bind ADDR`, a client's ADDR), else `default`.
    pub(crate) fn endpoint(&self, bind: Option<&str>, default: &str) -> anyhow::Result<Endpoint> {
        match (&self.unix, bind) {
            (Some(_), Some(_)) => bail!("--unix PATH and an address cannot be used together"),
            (Some(path), None) => Ok(Endpoint::Unix(path.clone())),
            (None, addr) => {
                let text = addr.unwrap_or(default);
                let want = "want HOST:PORT or unix:PATH";
                text.parse().with_context(|| format!("invalid address {text:?} ({want})"))
            }
        }
    }
}

/// `sansnet http` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct HttpArgs {
    /// Address to listen on (`HOST:PORT`; `[::1]:8080` for IPv6; port 0
    /// lets the system pick) [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<String>,

    /// Serve the files under DIR instead of the hello page.
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,

    /// Largest request head (request-line and fields), in bytes; over it: 431.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value_t = Limits::default().max_head)]
    pub(crate) max_head: usize,

    /// Longest request target, in bytes; over it: 414.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value_t = Limits::default().max_target)]
    pub(crate) max_target: usize,

    /// Most header fields per request; over it: 431.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_fields)]
    pub(crate) max_fields: usize,

    /// Largest request body, in bytes; over it: 413.
    #[arg(long, value_name = "BYTES", value_parser = parse_size_u64, default_value_t = Limits::default().max_body)]
    pub(crate) max_body: u64,

    /// Chunk-extension bytes per request (summed over its chunks); over
    /// it: 400.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value_t = Limits::default().max_chunk_ext)]
    pub(crate) max_chunk_ext: usize,

    /// Seconds a client has to send a whole request head; over it: 408.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "10")]
    pub(crate) header_timeout: Duration,

    /// Seconds a client has to send a whole request body, from the end of
    /// its head, however its bytes trickle in; over it: 408.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "60")]
    pub(crate) body_timeout: Duration,
}

impl HttpArgs {
    /// The connection limits these flags (and `--idle-timeout`) ask for.
    pub(crate) fn limits(&self, socket: &SocketArgs) -> Limits {
        let mut limits = Limits::default()
            .with_max_head(self.max_head)
            .with_max_target(self.max_target)
            .with_max_fields(self.max_fields)
            .with_max_body(self.max_body)
            .with_max_chunk_ext(self.max_chunk_ext)
            .with_header_timeout(self.header_timeout)
            .with_body_timeout(self.body_timeout);
        if let Some(idle) = socket.idle_timeout {
            limits = limits.with_idle_timeout(idle);
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn socket_flags_anywhere_and_negations() {
        let cli = Cli::try_parse_from(["sansnet", "--no-reuse-address", "http", "--nodelay"])
            .expect("parses");
        let o = cli.socket.options();
        assert!(!o.reuse_address);
        assert!(o.nodelay);
        let args = "sansnet http --no-reuse-address --reuse-address --no-nodelay --recv-buffer 128K \
                    --keepalive 30 --backlog 16 --max-connections 5 --idle-timeout 2.5 --runtime async-std";
        let cli = Cli::try_parse_from(args.split_whitespace()).expect("parses");
        let o = cli.socket.options();
        assert!(o.reuse_address);
        assert!(!o.nodelay);
        assert_eq!(o.recv_buffer, Some(128 * 1024));
        assert_eq!(o.keepalive, Some(Duration::from_secs(30)));
        assert_eq!(o.backlog, 16);
        assert_eq!(cli.socket.server_config().max_connections, 5);
        assert_eq!(cli.runtime, Runtime::AsyncStd);
        let Command::Http(http) = &cli.command else { panic!("not http") };
        let limits = http.limits(&cli.socket);
        assert_eq!(limits.idle_timeout, Duration::from_millis(2500));
        assert_eq!(limits.max_head, Limits::default().max_head);
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["sansnet", "http"]).expect("parses");
        assert_eq!(cli.runtime, Runtime::Smol);
        assert_eq!(cli.socket.options(), SocketOptions::default());
        let Command::Http(http) = &cli.command else { panic!("not http") };
        assert_eq!(http.limits(&cli.socket), Limits::default());
        let ep = cli.socket.endpoint(http.bind.as_deref(), "127.0.0.1:8080").expect("endpoint");
        assert_eq!(ep.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn endpoints() {
        let cli =
            Cli::try_parse_from(["sansnet", "http", "--unix", "/tmp/x.sock"]).expect("parses");
        let ep = cli.socket.endpoint(None, "127.0.0.1:8080").expect("endpoint");
        assert_eq!(ep, Endpoint::Unix("/tmp/x.sock".into()));
        assert!(cli.socket.endpoint(Some("127.0.0.1:1"), "127.0.0.1:8080").is_err());
        let cli = Cli::try_parse_from(["sansnet", "http"]).expect("parses");
        let ep = cli.socket.endpoint(Some("[::1]:0"), "127.0.0.1:8080").expect("endpoint");
        assert_eq!(ep.to_string(), "[::1]:0");
        assert!(cli.socket.endpoint(Some("no port"), "x").is_err());
    }
}
