//! The command line: global flags, socket options, subcommands.
//!
//! Socket options and `--runtime`/`-v` are global (`global = true`): they are
//! accepted before or after the subcommand, and every server subcommand
//! shows them in its `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use sansnet_net::{Endpoint, ServerConfig, SocketOptions};
use sansnet_proto::http::Limits;

/// `sansnet`: the classic socket programs, built sans-IO.
#[derive(Parser, Debug)]
#[command(
    name = "sansnet",
    version,
    about = "The classic socket programs (HTTP server, echo, chat, file transfer, ...) \
             built sans-IO, over std threads, async-std or smol",
    long_about = None,
    propagate_version = true,
    after_long_help = "\
Every server prints `listening on ADDR` as its first line on stdout (with
`--bind 127.0.0.1:0` the system picks the port and that line tells it), then
logs to stderr. Ctrl-C or SIGTERM stops it gracefully (exit status 0).

Examples:
  sansnet http                                   # hello page on 127.0.0.1:8080
  sansnet http --root . --bind 127.0.0.1:0       # serve this directory, any free port
  sansnet --runtime std http --unix /tmp/h.sock  # std threads, on a Unix socket
  curl --unix-socket /tmp/h.sock http://x/"
)]
pub(crate) struct Cli {
    /// Which I/O runtime drives the protocol machines (the protocol behaves
    /// identically on all three).
    #[arg(long, global = true, value_enum, default_value_t = Runtime::Smol)]
    pub(crate) runtime: Runtime,

    /// More logging on stderr: -v info (and the effective socket options at
    /// startup), -vv debug, -vvv trace. Without -v, RUST_LOG is honoured
    /// (default: warn).
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(flatten)]
    pub(crate) socket: SocketArgs,

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
}

/// The programs. `echo`, `chat`, `file`, `send`, `scan` and `resolve`
/// (PROTOCOLS.md §2-4) join this enum as they are written.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// HTTP/1.1 server: a hello page, or static files with --root.
    #[command(
        long_about = "\
HTTP/1.1 server (RFC 9112: keep-alive, pipelining, chunked bodies,
Expect: 100-continue; malformed requests get 400/408/413/414/431/501/505).

Without --root, every well-formed request (any method, any target) gets 200
with a small HTML page naming the request target.

With --root DIR, a static file server like `python -m http.server`: files
with a MIME type by extension, directories as index.html or a listing,
If-Modified-Since (304), single byte ranges (206/416), 405 for methods other
than GET and HEAD. Paths can never leave DIR: `..`, `%2e%2e`, backslashes,
NUL and symlinks pointing outside DIR are all answered 404 (400 for a
malformed escape or NUL).",
        after_long_help = "\
Examples:
  sansnet http
      hello page on 127.0.0.1:8080; try `curl -i http://127.0.0.1:8080/hi`
  sansnet http --bind 127.0.0.1:0
      any free port: read it from the `listening on` line
  sansnet http --bind '[::1]:8080' --runtime std
      IPv6 loopback, std threads instead of smol
  sansnet http --root ./public -v
      serve ./public; log requests and the socket options on stderr
  sansnet http --unix /tmp/web.sock
      Unix socket: `curl --unix-socket /tmp/web.sock http://x/`
  sansnet http --max-body 1M --header-timeout 5 --idle-timeout 30
      tighter limits (sizes take K, M, G suffixes; times are seconds)"
    )]
    Http(HttpArgs),
    /// JSON chat: `chat serve` runs the server, `chat join` a client.
    Chat(crate::chat::ChatArgs),

    /// File transfer: `file recv --dir DIR` receives, `file send PATH ADDR`
    /// sends.
    #[command(
        long_about = "\
File transfer (PROTOCOLS.md §3): the sender sends `NAME|SIZE`, the receiver
answers `OK OFFSET` (or `ERR CODE message`), the sender sends the bytes from
OFFSET on and the file's BLAKE3, the receiver answers `DONE <hash>` once the
hash matches and the file is in place.

`file recv` writes each file to `.NAME.part` in DIR and renames it to NAME
only after the hash checks; an interrupted transfer of the same name and size
resumes where it stopped. Names are plain names (no path); nothing is written
outside DIR. `file send` shows a progress bar on a terminal and exits
non-zero with the receiver's ERR code when it refuses. A receiver that
answers a bare `OK` (the tutorial's Python one) gets the bytes alone: sent,
but unverified.",
        after_long_help = "\
Examples:
  sansnet file recv --dir ./inbox                 # on 127.0.0.1:9000
  sansnet file recv --dir ./inbox --bind 127.0.0.1:0 --once --overwrite
  sansnet file send ./big.iso 127.0.0.1:9000
  sansnet --runtime std file send ./big.iso '[::1]:9000' --quiet"
    )]
    File(crate::transfer::FileArgs),

    /// Echo server (RFC 862): every byte back, over TCP or (--udp) UDP.
    #[command(
        long_about = "\
Echo server (RFC 862). TCP: every byte a client sends comes back, many
clients at once, over IPv4, IPv6 or a Unix socket (--unix PATH). With --udp,
each datagram is answered with one datagram to its sender.

--prefix TEXT is written before each reply, as the reference servers do
with `Echo: ` (for TCP, before each chunk read). A TCP connection silent
both ways for --idle-timeout seconds (default 300) is closed.",
        after_long_help = "\
Examples:
  sansnet echo                                   # TCP on 127.0.0.1:8888
  sansnet echo --udp                             # UDP on 127.0.0.1:8889
  sansnet echo --bind '[::1]:0' --prefix 'Echo: '
  sansnet echo --unix /tmp/echo.sock --runtime std
  sansnet send 127.0.0.1:8888 hello              # try it"
    )]
    Echo(crate::echo::EchoArgs),

    /// Send MESSAGE to ADDR (TCP, or --udp) and print the reply.
    #[command(
        override_usage = "sansnet send [OPTIONS] ADDR MESSAGE\n       \
                          sansnet send [OPTIONS] --unix PATH MESSAGE",
        long_about = "\
The reference TCP and UDP clients: connect (or send one datagram), send
MESSAGE as is, print the reply to stdout byte for byte.

TCP: the reply is complete when the server closes, or after --quiet-ms
(200 ms) without a byte once something arrived, or at --timeout. UDP: the
first datagram back from ADDR is the reply.

Exit status: 0 with a reply; 2 with `timed out after SECS s` on stderr when
the connection or the reply does not come within --timeout (default 5 s);
1 on other errors.",
        after_long_help = "\
Examples:
  sansnet send 127.0.0.1:8888 hello
  sansnet send '[::1]:8888' hello --timeout 2
  sansnet send 127.0.0.1:8889 hello --udp
  sansnet send --unix /tmp/echo.sock hello"
    )]
    Send(crate::oneshot::SendArgs),

    /// TCP connect scan of HOST's ports.
    #[command(
        long_about = "\
TCP connect scan: tries every port of --ports on HOST with at most
--concurrency connection attempts in flight, and prints the open ports in
ascending order, one per line (or a JSON array with --json). A summary on
stderr counts open, refused (closed: the host answered with a reset),
filtered (no answer within --timeout-ms, or unreachable) and errors. The
file-descriptor limit is raised as far as allowed first.

Scan only hosts you are allowed to scan.",
        after_long_help = "\
Examples:
  sansnet scan 127.0.0.1                         # ports 1-1024
  sansnet scan 127.0.0.1 --ports - --concurrency 2000
  sansnet scan ::1 --ports 22,80,8000-8100 --json"
    )]
    Scan(crate::scan::ScanArgs),

    /// This machine's host name, and HOST's addresses and their names.
    #[command(
        long_about = "\
Name lookup: prints this machine's host name, HOST's IPv4 and IPv6 addresses
(getaddrinfo, so /etc/hosts and DNS as the system is set up) and the reverse
name of each address (getnameinfo). Without HOST, looks up this machine's
own name. An unknown name is an error (exit status 1).",
        after_long_help = "\
Examples:
  sansnet resolve
  sansnet resolve localhost --json"
    )]
    Resolve(crate::resolve::ResolveArgs),
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

    /// Connections served at once; more are closed on accept.
    #[arg(long, global = true, value_name = "N", default_value_t = ServerConfig::default().max_connections)]
    pub(crate) max_connections: usize,

    /// Seconds a write to a peer may stall (a peer that never reads) before
    /// the connection is dropped.
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

    /// Where a server listens: `--unix PATH`, else `--bind ADDR`, else
    /// `default`.
    pub(crate) fn endpoint(&self, bind: Option<&str>, default: &str) -> anyhow::Result<Endpoint> {
        match (&self.unix, bind) {
            (Some(_), Some(_)) => bail!("--unix and --bind cannot be used together"),
            (Some(path), None) => Ok(Endpoint::Unix(path.clone())),
            (None, bind) => {
                let text = bind.unwrap_or(default);
                // A literal address needs no lookup; anything else
                // (`localhost:80`, `unix:PATH`) goes through Endpoint's parser.
                if let Ok(addr) = text.parse::<SocketAddr>() {
                    return Ok(Endpoint::Tcp(addr));
                }
                text.parse::<Endpoint>()
                    .with_context(|| format!("invalid --bind address {text:?} (want HOST:PORT)"))
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
            .with_header_timeout(self.header_timeout);
        if let Some(idle) = socket.idle_timeout {
            limits = limits.with_idle_timeout(idle);
        }
        limits
    }
}

/// A byte count: digits with an optional binary suffix `K`, `M` or `G`
/// (`KiB`, `KB` and lowercase spellings too): `65536`, `64K`, `16MiB`.
pub(crate) fn parse_size_u64(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    if num.is_empty() {
        return Err(format!("{s:?} is not a size (digits with an optional K, M or G)"));
    }
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is too large"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("{s:?}: unknown size suffix (use K, M or G)")),
    };
    n.checked_mul(1 << shift).ok_or_else(|| format!("{s:?} is too large"))
}

/// [`parse_size_u64`] as a `usize`.
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    parse_size_u64(s).and_then(|n| usize::try_from(n).map_err(|_| format!("{s:?} is too large")))
}

/// Seconds, possibly fractional: `10`, `0.5`.
pub(crate) fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a valid duration"))
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
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(64 * 1024));
        assert_eq!(parse_size("64kib"), Ok(64 * 1024));
        assert_eq!(parse_size_u64("16M"), Ok(16 << 20));
        assert_eq!(parse_size_u64("1G"), Ok(1 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size_u64("99999999999999999999").is_err());
        assert!(parse_size_u64("99999999999G").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
        assert!(parse_secs("inf").is_err());
    }

    #[test]
    fn socket_flags_anywhere_and_negations() {
        let cli = Cli::try_parse_from(["sansnet", "--no-reuse-address", "http", "--nodelay"])
            .expect("parses");
        let o = cli.socket.options();
        assert!(!o.reuse_address);
        assert!(o.nodelay);
        let cli = Cli::try_parse_from([
            "sansnet",
            "http",
            "--no-reuse-address",
            "--reuse-address",
            "--no-nodelay",
            "--recv-buffer",
            "128K",
            "--keepalive",
            "30",
            "--backlog",
            "16",
            "--max-connections",
            "5",
            "--idle-timeout",
            "2.5",
            "--runtime",
            "async-std",
        ])
        .expect("parses");
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
