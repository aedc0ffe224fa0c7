//! Shared helpers: build and spawn the `sansnet` binary, read its address, stop it.
//!
//! - [`sansnet_bin`] builds `sansnet` once per test process and finds it.
//! - [`Server`] runs `sansnet --runtime R <args>` (any subcommand), reads
//!   and checks its `listening on ADDR` line, stops it with SIGTERM
//!   ([`Server::stop`]) or kills it on drop.
//! - [`RUNTIMES`], [`for_each_runtime`] and the `per_runtime!` macro run a
//!   check on every runtime, naming the runtime when it fails.
//! - [`Conn`] is a raw client socket (TCP or Unix, or any byte source)
//!   with bounded waits, and reads HTTP/1.1 responses byte for byte
//!   ([`Response`]): status line, fields, a body framed by
//!   `Content-Length`, `chunked` or the end of the connection.
//! - [`run_bounded`] runs an external program (curl, python3) with a
//!   deadline.
//!
//! Every wait is bounded, and only loopback addresses are used.

#![allow(dead_code, reason = "helpers shared with the tests of other protocols")]

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// The runtimes every server test runs on (the `--runtime` values).
pub(crate) const RUNTIMES: [&str; 4] = ["std", "async-std", "smol", "tokio"];

/// How long one socket read or write may block.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a server may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to exit after SIGTERM.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response head [`Conn`] accepts.
const MAX_HEAD: usize = 1 << 20;

/// The workspace root (the parent of this package's directory).
pub(crate) fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().expect("tests/ has a parent").to_path_buf()
}

/// The `sansnet` binary, built once per test process with
/// `$CARGO build -p sansnet --bin sansnet` (debug profile).
pub(crate) fn sansnet_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace_root();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(&cargo)
            .args(["build", "-p", "sansnet", "--bin", "sansnet"])
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cargo:?} build: {e}"));
        assert!(
            out.status.success(),
            "cargo build -p sansnet failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir), // `join` keeps an absolute path as is
            None => root.join("target"),
        };
        let bin = target.join("debug").join("sansnet");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// Runs `check` once per runtime, each on its own thread, and then fails
/// naming every runtime whose check panicked.
pub(crate) fn for_each_runtime(check: impl Fn(&'static str) + Sync) {
    let failed: Vec<&str> = thread::scope(|s| {
        let handles: Vec<_> = RUNTIMES
            .iter()
            .map(|&rt| {
                let check = &check;
                let h = thread::Builder::new()
                    .name(format!("runtime-{rt}"))
                    .spawn_scoped(s, move || check(rt))
                    .expect("spawn a test thread");
                (rt, h)
            })
            .collect();
        handles.into_iter().filter_map(|(rt, h)| h.join().is_err().then_some(rt)).collect()
    });
    assert!(failed.is_empty(), "failed on runtime(s) {failed:?} (see the panics above)");
}

/// For each named function `fn name(runtime: &'static str)`, a module
/// `name` with one test per runtime (`name::std`, `name::async_std`,
/// `name::smol`, `name::tokio`), so that a failure names its runtime.
/// Attributes before a name (`#[ignore = "..."]`) apply to its four tests.
macro_rules! per_runtime {
    ($($(#[$attr:meta])* $name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            $(#[$attr])*
            fn std() {
                super::$name("std");
            }

            #[test]
            $(#[$attr])*
            fn async_std() {
                super::$name("async-std");
            }

            #[test]
            $(#[$attr])*
            fn smol() {
                super::$name("smol");
            }

            #[test]
            $(#[$attr])*
            fn tokio() {
                super::$name("tokio");
            }
        }
    )+};
}
pub(crate) use per_runtime;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Addr {
    /// A TCP address (loopback).
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// A running `sansnet` server; killed (SIGKILL) on drop if still running.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    runtime: &'static str,
    addr: Addr,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Disconnected once the stderr thread has read the pipe to its end.
    stderr_eof: Option<mpsc::Receiver<()>>,
    /// Its stdout lines after the first.
    stdout: Option<mpsc::Receiver<io::Result<String>>>,
}

impl Server {
    /// `sansnet --runtime RUNTIME <args> --bind 127.0.0.1:0`.
    pub(crate) fn start<S: AsRef<OsStr>>(runtime: &'static str, args: &[S]) -> Server {
        Server::start_under(&[], runtime, args)
    }

    /// `sansnet --runtime RUNTIME <args>`, the arguments choosing where it
    /// listens (`--bind ADDR` or `--unix PATH`). Waits for the first stdout
    /// line, which must be exactly `listening on ADDR`.
    pub(crate) fn spawn<S: AsRef<OsStr>>(runtime: &'static str, args: &[S]) -> Server {
        Server::spawn_under(&[], runtime, args)
    }

    /// [`Server::start`] run by `wrapper` (a command that execs the rest,
    /// such as `prlimit --fsize=N --`), which keeps the process id.
    pub(crate) fn start_under<S: AsRef<OsStr>>(
        wrapper: &[&str],
        runtime: &'static str,
        args: &[S],
    ) -> Server {
        let mut all: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
        all.extend([OsStr::new("--bind"), OsStr::new("127.0.0.1:0")]);
        Server::spawn_under(wrapper, runtime, &all)
    }

    /// [`Server::spawn`] run by `wrapper` (`ip netns exec NS`: a server
    /// on a test host), its arguments choosing where it listens.
    pub(crate) fn start_in<S: AsRef<OsStr>>(
        wrapper: &[&str],
        runtime: &'static str,
        args: &[S],
    ) -> Server {
        Server::spawn_under(wrapper, runtime, args)
    }

    fn spawn_under<S: AsRef<OsStr>>(wrapper: &[&str], runtime: &'static str, args: &[S]) -> Server {
        let mut child = sansnet_under(wrapper)
            .arg("--runtime")
            .arg(runtime)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sansnet");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (eof_tx, stderr_eof) = mpsc::channel::<()>();
        {
            let mut pipe = child.stderr.take().expect("piped stderr");
            let sink = stderr.clone();
            thread::spawn(move || {
                let _eof = eof_tx;
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buf[..n]);
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        {
            let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
            // Every line goes to the test (the first is `listening on`);
            // the pipe is drained to its end, so the server never blocks
            // on a full pipe.
            thread::spawn(move || {
                loop {
                    let mut line = String::new();
                    match out.read_line(&mut line) {
                        Ok(0) => return,
                        read => {
                            if tx.send(read.map(|_| line)).is_err() {
                                let _ = io::copy(&mut out, &mut io::sink());
                                return;
                            }
                        }
                    }
                }
            });
        }
        let mut server = Server {
            child,
            runtime,
            addr: Addr::Tcp(([127, 0, 0, 1], 0).into()),
            stderr,
            stderr_eof: Some(stderr_eof),
            stdout: None,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => server.fail(&format!("reading stdout: {e}")),
            Err(_) => server.fail("no `listening on` line in time"),
        };
        let Some(addr) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("listening on "))
        else {
            server.fail(&format!("first stdout line is {line:?}, not `listening on ADDR\\n`"))
        };
        server.addr = match addr.parse::<SocketAddr>() {
            Ok(a) => Addr::Tcp(a),
            Err(_) if addr.starts_with('/') => Addr::Unix(PathBuf::from(addr)),
            Err(_) => server.fail(&format!("bad address in {line:?}")),
        };
        server.stdout = Some(rx);
        server
    }

    /// The next line on its stdout (after the first), within
    /// `START_TIMEOUT`.
    pub(crate) fn stdout_line(&mut self) -> String {
        let next = self.stdout.as_ref().map(|rx| rx.recv_timeout(START_TIMEOUT));
        match next {
            Some(Ok(Ok(line))) => line,
            _ => self.fail("no further stdout line in time"),
        }
    }

    /// The address of its second `listening on` line (`chat serve --web`).
    pub(crate) fn second_addr(&mut self) -> SocketAddr {
        let line = self.stdout_line();
        match line.strip_suffix('\n').and_then(|l| l.strip_prefix("listening on ")).map(str::parse)
        {
            Some(Ok(addr)) => addr,
            _ => self.fail(&format!("stdout line {line:?} is not `listening on ADDR`")),
        }
    }

    /// Panics with `why`, the runtime and the server's stderr so far.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.drain_stderr();
        panic!("sansnet --runtime {}: {why}\nstderr:\n{}", self.runtime, self.stderr())
    }

    /// The runtime it runs on.
    pub(crate) fn runtime(&self) -> &'static str {
        self.runtime
    }

    /// Where it listens, as its `listening on` line said.
    pub(crate) fn addr(&self) -> &Addr {
        &self.addr
    }

    /// Its TCP address (panics for a Unix socket).
    pub(crate) fn tcp_addr(&self) -> SocketAddr {
        match &self.addr {
            Addr::Tcp(a) => *a,
            Addr::Unix(p) => panic!("listening on the Unix socket {}", p.display()),
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// A new connection to it (TCP or Unix), with bounded reads and writes.
    pub(crate) fn connect(&self) -> Conn<Socket> {
        match &self.addr {
            Addr::Tcp(a) => Conn::new(Socket::Tcp(tcp_connect(*a))),
            Addr::Unix(p) => Conn::new(Socket::Unix(unix_connect(p))),
        }
    }

    /// A new TCP connection to it.
    pub(crate) fn connect_tcp(&self) -> Conn<TcpStream> {
        Conn::new(tcp_connect(self.tcp_addr()))
    }

    /// Sends SIGTERM (once).
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits up to `timeout` for the process to exit.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.drain_stderr();
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits (boundedly) until the stderr thread has read everything the
    /// exited process wrote, so that [`stderr`](Self::stderr) is complete.
    fn drain_stderr(&mut self) {
        if let Some(eof) = self.stderr_eof.take() {
            let _ = eof.recv_timeout(Duration::from_secs(5));
        }
    }

    /// Whether the process has exited.
    pub(crate) fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Stops it gracefully: SIGTERM, then asserts it exits 0 within
    /// [`STOP_TIMEOUT`]. Returns its stderr.
    pub(crate) fn stop(self) -> String {
        self.terminate();
        self.expect_exit_ok()
    }

    /// Asserts it exits 0 within [`STOP_TIMEOUT`] (after a
    /// [`terminate`](Self::terminate)). Returns its stderr.
    pub(crate) fn expect_exit_ok(mut self) -> String {
        let started = Instant::now();
        match self.wait_exit(STOP_TIMEOUT) {
            Some(status) if status.success() => self.stderr(),
            Some(status) => self.fail(&format!("exited with {status} after SIGTERM")),
            None => self.fail(&format!("still running {:?} after SIGTERM", started.elapsed())),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `sansnet` binary run by `wrapper` (a command that execs the rest:
/// `prlimit --fsize=N --`, `ip netns exec NS`), or directly.
pub(crate) fn sansnet_under(wrapper: &[&str]) -> Command {
    match wrapper.split_first() {
        Some((program, rest)) => {
            let mut cmd = Command::new(program);
            cmd.args(rest).arg(sansnet_bin());
            cmd
        }
        None => Command::new(sansnet_bin()),
    }
}

/// Deterministic bytes that do not compress into patterns (xorshift): a
/// lost, repeated or swapped chunk shows.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// A TCP connection to `addr` with [`IO_TIMEOUT`] on connect, reads and
/// writes.
pub(crate) fn tcp_connect(addr: SocketAddr) -> TcpStream {
    assert!(addr.ip().is_loopback(), "tests only talk to loopback, not {addr}");
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    s
}

/// A Unix connection to `path` with [`IO_TIMEOUT`] on reads and writes.
pub(crate) fn unix_connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    s
}

/// A TCP or Unix client socket.
#[derive(Debug)]
pub(crate) enum Socket {
    /// TCP.
    Tcp(TcpStream),
    /// Unix.
    Unix(UnixStream),
}

impl Socket {
    /// Sets the read timeout.
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_read_timeout(t),
            Socket::Unix(s) => s.set_read_timeout(t),
        }
    }

    /// Shuts down one or both directions.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(how),
            Socket::Unix(s) => s.shutdown(how),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            Socket::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An HTTP response as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    /// The whole head, status line to the empty line included.
    pub(crate) head: Vec<u8>,
    /// `HTTP/1.1`.
    pub(crate) version: String,
    /// The status code.
    pub(crate) status: u16,
    /// The reason phrase.
    pub(crate) reason: String,
    /// The fields in order, names as sent.
    pub(crate) fields: Vec<(String, String)>,
    /// The body, de-chunked.
    pub(crate) body: Vec<u8>,
    /// The trailer fields of a chunked body.
    pub(crate) trailers: Vec<(String, String)>,
}

impl Response {
    /// The value of the first field named `name` (case-insensitive).
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of the fields named `name`.
    pub(crate) fn fields_named(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Content-Length`, parsed.
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.field("Content-Length").map(|v| v.parse().expect("numeric Content-Length"))
    }

    /// Whether the response asks to close (`Connection: close`).
    pub(crate) fn closes(&self) -> bool {
        self.field("Connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// How a response body is delimited, given the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Req {
    /// Anything but HEAD: the body is framed by the response's fields.
    Get,
    /// A HEAD request: no body whatever the fields say.
    Head,
}

/// A client connection (or any byte source) with a read buffer: what was
/// received and not yet consumed stays for the next read.
#[derive(Debug)]
pub(crate) struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
    eof: bool,
}

impl<S> Conn<S> {
    /// Wraps `stream` (already set up with timeouts).
    pub(crate) fn new(stream: S) -> Conn<S> {
        Conn { stream, buf: Vec::new(), eof: false }
    }

    /// The stream.
    pub(crate) fn stream(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably.
    pub(crate) fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Bytes received and not consumed yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf
    }
}

impl<S: Write> Conn<S> {
    /// Writes all of `bytes` (bounded by the write timeout).
    pub(crate) fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.try_send(bytes.as_ref()).unwrap_or_else(|e| panic!("send: {e}"));
    }

    /// Writes all of `bytes`, reporting errors.
    pub(crate) fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }
}

impl<S: Read> Conn<S> {
    /// One read into the buffer: the bytes read (0 at the end). Errors
    /// (a timeout included) are returned.
    pub(crate) fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until the buffer holds `n` bytes; panics on the end, an error
    /// or a timeout.
    fn need(&mut self, n: usize, what: &str) {
        while self.buf.len() < n {
            match self.fill() {
                Ok(0) => panic!(
                    "connection closed in {what}: wanted {n} bytes, have {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(_) => {}
                Err(e) => panic!(
                    "read failed in {what} ({e}); have {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads until `pat` appears at or after `from`; its position. At most
    /// `limit` bytes are buffered.
    fn find(&mut self, pat: &[u8], from: usize, limit: usize, what: &str) -> usize {
        loop {
            if let Some(i) = find(&self.buf[from.min(self.buf.len())..], pat) {
                return from + i;
            }
            assert!(self.buf.len() <= limit, "{what}: over {limit} bytes without {pat:?}");
            let len = self.buf.len();
            self.need(len + 1, what);
        }
    }

    /// Takes the first `n` buffered bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Reads exactly `n` bytes.
    pub(crate) fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        self.need(n, "read_exact_bytes");
        self.take(n)
    }

    /// Reads one line up to and including `\n`.
    pub(crate) fn read_line(&mut self) -> String {
        let end = self.find(b"\n", 0, MAX_HEAD, "read_line");
        String::from_utf8(self.take(end + 1)).expect("a UTF-8 line")
    }

    /// Reads one response to a request that is not HEAD.
    pub(crate) fn read_response(&mut self) -> Response {
        self.read_response_to(Req::Get)
    }

    /// Reads one response to a HEAD request (no body).
    pub(crate) fn read_head_response(&mut self) -> Response {
        self.read_response_to(Req::Head)
    }

    /// Reads one response (an interim `1xx` one included): the status line,
    /// the fields, and the body as the fields frame it (none for HEAD, 1xx,
    /// 204 and 304; else chunked, else `Content-Length`, else to the end).
    pub(crate) fn read_response_to(&mut self, req: Req) -> Response {
        let end = self.find(b"\r\n\r\n", 0, MAX_HEAD, "response head") + 4;
        let head = self.take(end);
        let text = std::str::from_utf8(&head)
            .unwrap_or_else(|_| panic!("non-UTF-8 response head {head:?}"));
        let mut lines = text[..text.len() - 4].split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_owned();
        let status = parts.next().and_then(|s| s.parse::<u16>().ok());
        let reason = parts.next().map(str::to_owned);
        let (Some(status), Some(reason)) = (status, reason) else {
            panic!("bad status line {status_line:?}")
        };
        assert!(version.starts_with("HTTP/1."), "bad status line {status_line:?}");
        let fields = parse_fields(lines);
        let mut response = Response {
            head,
            version,
            status,
            reason,
            fields,
            body: Vec::new(),
            trailers: Vec::new(),
        };
        if req == Req::Head || status < 200 || status == 204 || status == 304 {
            return response;
        }
        let chunked = response.field("Transfer-Encoding").is_some_and(|te| {
            te.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
        });
        if chunked {
            let (body, trailers) = self.read_chunked();
            response.body = body;
            response.trailers = trailers;
        } else if let Some(len) = response.content_length() {
            let len = usize::try_from(len).expect("a body that fits in memory");
            response.body = self.read_exact_bytes(len);
        } else {
            response.body = self.read_to_end();
        }
        response
    }

    fn read_chunked(&mut self) -> (Vec<u8>, Vec<(String, String)>) {
        let mut body = Vec::new();
        loop {
            let eol = self.find(b"\r\n", 0, MAX_HEAD, "chunk size");
            let line = String::from_utf8(self.take(eol + 2)).expect("ASCII chunk size");
            let size = line.trim_end().split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            if size == 0 {
                let end = self.find(b"\r\n", 0, MAX_HEAD, "trailers");
                let trailers = if end == 0 {
                    self.take(2);
                    Vec::new()
                } else {
                    let end = self.find(b"\r\n\r\n", 0, MAX_HEAD, "trailers") + 4;
                    let block = String::from_utf8(self.take(end)).expect("UTF-8 trailers");
                    parse_fields(block[..block.len() - 4].split("\r\n"))
                };
                return (body, trailers);
            }
            self.need(size + 2, "chunk data");
            let data = self.take(size + 2);
            assert_eq!(&data[size..], b"\r\n", "chunk data not followed by CRLF");
            body.extend_from_slice(&data[..size]);
        }
    }

    /// Reads until the peer closes; everything buffered and read. Panics
    /// on a timeout or an error (a reset included).
    pub(crate) fn read_to_end(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + IO_TIMEOUT * 2;
        loop {
            match self.fill() {
                Ok(0) => return self.take(self.buf.len()),
                Ok(_) => {}
                Err(e) => panic!(
                    "reading to the end ({e}); have {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
            assert!(Instant::now() < deadline, "peer never closed");
        }
    }

    /// Asserts the peer closes the connection (an orderly end or a reset)
    /// without sending anything more.
    pub(crate) fn expect_closed(&mut self) {
        match self.fill() {
            Ok(0) => {}
            Ok(_) => panic!(
                "expected the connection closed, got more bytes: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the connection closed, got {e}"),
        }
        assert!(
            self.buf.is_empty(),
            "unread bytes before the close: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
    }
}

/// Parses `Name: value` lines; panics on a malformed one.
fn parse_fields<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    lines
        .map(|line| {
            let (name, value) =
                line.split_once(':').unwrap_or_else(|| panic!("bad field line {line:?}"));
            assert!(!name.is_empty() && !name.contains([' ', '\t']), "bad field name in {line:?}");
            (name.to_owned(), value.trim_matches([' ', '\t']).to_owned())
        })
        .collect()
}

/// The first position of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sends `request` on a new connection and reads one response (to a
/// non-HEAD request).
pub(crate) fn exchange(server: &Server, request: impl AsRef<[u8]>) -> Response {
    let mut conn = server.connect();
    conn.send(request);
    conn.read_response()
}

/// Parses a whole captured response (say, `curl -i` output).
pub(crate) fn parse_response(bytes: &[u8], req: Req) -> Response {
    let mut conn = Conn::new(bytes);
    let r = conn.read_response_to(req);
    assert!(conn.buffered().is_empty(), "bytes after the response: {:?}", conn.buffered());
    r
}

/// Whether `program` can be run (`program --version` succeeds).
pub(crate) fn have_program(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `cmd` to completion with `input` on stdin, killing it after
/// `timeout`; panics if it had to be killed.
pub(crate) fn run_bounded(cmd: &mut Command, input: &[u8], timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let stdin: Option<ChildStdin> = child.stdin.take();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&input);
        }
    });
    let reader = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            out
        })
    };
    let out = reader(Box::new(child.stdout.take().expect("piped stdout")));
    let err = reader(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {timeout:?}; killed");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    Output { status, stdout, stderr }
}

/// The CPU time process `pid` has used (user + system), in clock ticks
/// (10 ms each), from `/proc/PID/stat`.
pub(crate) fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces and is in
    // parentheses); utime and stime are fields 14 and 15, 12 and 13 after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
