//! File transfer (PROTOCOLS.md §3) over real loopback sockets, on every
//! runtime: `sansnet file recv` against `sansnet file send`, raw clients
//! that misbehave, and a receiver written like the tutorial's Python
//! `receive_file`.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{
    Conn, IO_TIMEOUT, Server, noise, per_runtime, run_bounded, sansnet_bin, tcp_connect,
};

/// How long one `file send` may take (24 MiB on a debug build, 2 cores).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

fn hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// A receiver on `runtime` writing into a fresh `DIR` (inside a temporary
/// directory whose other entries must stay untouched).
struct Recv {
    server: Server,
    root: tempfile::TempDir,
}

impl Recv {
    fn start(runtime: &'static str, extra: &[&str]) -> Recv {
        Recv::start_under(&[], runtime, extra)
    }

    /// A receiver run by `wrapper` (see [`Server::start_under`]).
    fn start_under(wrapper: &[&str], runtime: &'static str, extra: &[&str]) -> Recv {
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir(root.path().join("in")).expect("mkdir");
        let dir = root.path().join("in");
        let mut args: Vec<String> =
            vec!["file".into(), "recv".into(), "--dir".into(), dir.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let server = Server::start_under(wrapper, runtime, &args);
        Recv { server, root }
    }

    fn dir(&self) -> PathBuf {
        self.root.path().join("in")
    }

    fn addr(&self) -> SocketAddr {
        self.server.tcp_addr()
    }

    /// The names in DIR, sorted.
    fn listing(&self) -> Vec<String> {
        listing(&self.dir())
    }

    /// Asserts nothing but DIR exists beside DIR, and DIR is empty.
    fn assert_nothing_written(&self, what: &str) {
        assert_eq!(self.listing(), Vec::<String>::new(), "{what}: DIR is not empty");
        assert_eq!(listing(self.root.path()), ["in"], "{what}: something written beside DIR");
    }

    /// A raw client connection.
    fn connect(&self) -> Conn<TcpStream> {
        Conn::new(tcp_connect(self.addr()))
    }

    /// Waits (bounded) until `cond` holds of DIR.
    fn wait_for(&self, what: &str, cond: impl Fn(&Path) -> bool) {
        let deadline = Instant::now() + IO_TIMEOUT * 2;
        while !cond(&self.dir()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.listing()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `sansnet --runtime R file send PATH ADDR [extra]`.
fn send_file(runtime: &str, path: &Path, addr: SocketAddr, extra: &[&str]) -> Output {
    let mut cmd = Command::new(sansnet_bin());
    cmd.args(["--runtime", runtime, "file", "send"]).arg(path).arg(addr.to_string()).args(extra);
    run_bounded(&mut cmd, b"", SEND_TIMEOUT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `data` to a fresh file named `name` in a temporary directory.
fn source(name: &str, data: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    fs::write(&path, data).expect("write the source file");
    (dir, path)
}

fn big_file_intact(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    let data = noise(24 << 20, 1);
    let (_src, path) = source("big.bin", &data);
    let out = send_file(runtime, &path, recv.addr(), &["--quiet"]);
    assert!(out.status.success(), "send failed: {}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "--quiet prints nothing: {}", text(&out.stdout));
    assert_eq!(recv.listing(), ["big.bin"]);
    let got = fs::read(recv.dir().join("big.bin")).expect("the received file");
    assert!(got == data, "24 MiB differ");
    // Without --quiet: one summary line, verified.
    let (_src2, path2) = source("small.txt", b"hello\n");
    let out = send_file(runtime, &path2, recv.addr(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.starts_with("sent small.txt (6 bytes, BLAKE3 ") && line.ends_with("verified\n"),
        "{line}"
    );
    assert!(line.contains(&hex(b"hello\n")), "{line}");
    let stderr = recv.server.stop();
    assert!(stderr.contains("received big.bin (25165824 bytes)"), "{stderr}");
}

fn hostile_names_are_refused(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    let long = "n".repeat(300);
    let hidden = ["vic\u{200b}tim", "\u{202e}mitciv", "victim ", "a\u{2028}b", "\u{feff}x"];
    for name in
        ["../x", "/abs", "a/b", "..", ".", "a\\b", "a\0b", long.as_str()].into_iter().chain(hidden)
    {
        let mut conn = recv.connect();
        conn.send(format!("{name}|5\nhello"));
        let line = conn.read_line();
        assert!(line.starts_with("ERR bad_name "), "{name:?}: {line:?}");
        conn.expect_closed();
        recv.assert_nothing_written(&format!("{name:?}"));
    }
    recv.server.stop();
}

fn bad_sizes_are_refused(runtime: &'static str) {
    let recv = Recv::start(runtime, &["--max-size", "1K"]);
    for (header, code) in [
        ("a|abc\n", "bad_header"),
        ("a|\n", "bad_header"),
        ("a|-5\n", "bad_header"),
        ("no bar\n", "bad_header"),
        ("a|99999999999999999999999\n", "too_large"),
        ("a|1025\n", "too_large"),
    ] {
        let mut conn = recv.connect();
        conn.send(header);
        let line = conn.read_line();
        assert!(line.starts_with(&format!("ERR {code} ")), "{header:?}: {line:?}");
        conn.expect_closed();
        recv.assert_nothing_written(header);
    }
    // A header over 4 KiB without a newline.
    let mut conn = recv.connect();
    conn.send(vec![b'x'; 5000]);
    assert!(conn.read_line().starts_with("ERR bad_header "));
    recv.assert_nothing_written("a long header");
    recv.server.stop();

    // A size no file system here has room for.
    let recv = Recv::start(runtime, &["--max-size", &u64::MAX.to_string()]);
    let mut conn = recv.connect();
    conn.send(format!("huge.bin|{}\n", u64::MAX));
    let line = conn.read_line();
    assert!(line.starts_with("ERR no_space "), "{line:?}");
    conn.expect_closed();
    recv.assert_nothing_written("a file larger than the free space");
    recv.server.stop();
}

fn truncated_then_resumed(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    let data = noise(3 << 20, 2);
    let half = data.len() / 2 + 12345;
    // A raw sender that stops halfway.
    {
        let mut conn = recv.connect();
        conn.send(format!("r.bin|{}\n", data.len()));
        assert_eq!(conn.read_line(), "OK 0\n");
        conn.send(&data[..half]);
        conn.stream().shutdown(std::net::Shutdown::Write).expect("shutdown");
        let line = conn.read_line();
        assert!(line.starts_with("ERR short "), "{line:?}");
    }
    recv.wait_for("the partial file", |d| {
        fs::metadata(d.join(".r.bin.part")).is_ok_and(|m| m.len() == half as u64)
    });
    assert_eq!(recv.listing(), [".r.bin.part", ".r.bin.part.size"], "no file under the final name");
    // The next transfer of the same name and size resumes where it stopped.
    {
        let mut conn = recv.connect();
        conn.send(format!("r.bin|{}\n", data.len()));
        assert_eq!(conn.read_line(), format!("OK {half}\n"));
        conn.send(&data[half..]);
        conn.send(format!("BLAKE3 {}\n", hex(&data)));
        assert_eq!(conn.read_line(), format!("DONE {}\n", hex(&data)));
    }
    assert_eq!(recv.listing(), ["r.bin"]);
    assert!(fs::read(recv.dir().join("r.bin")).expect("r.bin") == data);
    // Our own sender resumes too.
    {
        let mut conn = recv.connect();
        conn.send(format!("s.bin|{}\n", data.len()));
        assert_eq!(conn.read_line(), "OK 0\n");
        conn.send(&data[..1000]);
        // Until its answer, the name is still that connection's.
        conn.stream().shutdown(std::net::Shutdown::Write).expect("shutdown");
        assert!(conn.read_line().starts_with("ERR short "));
    }
    recv.wait_for("the second partial file", |d| {
        fs::metadata(d.join(".s.bin.part")).is_ok_and(|m| m.len() == 1000)
    });
    let (_src, path) = source("s.bin", &data);
    let out = send_file(runtime, &path, recv.addr(), &["-v"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("has 1000 bytes already"), "{}", text(&out.stderr));
    assert_eq!(recv.listing(), ["r.bin", "s.bin"]);
    assert!(fs::read(recv.dir().join("s.bin")).expect("s.bin") == data);
    // A transfer of the same name but another size starts over.
    {
        let mut conn = recv.connect();
        conn.send("t.bin|100\n");
        assert_eq!(conn.read_line(), "OK 0\n");
        conn.send([7u8; 40]);
        conn.stream().shutdown(std::net::Shutdown::Write).expect("shutdown");
        assert!(conn.read_line().starts_with("ERR short "));
    }
    recv.wait_for("t.bin's partial file", |d| {
        fs::metadata(d.join(".t.bin.part")).is_ok_and(|m| m.len() == 40)
    });
    let mut conn = recv.connect();
    conn.send("t.bin|101\n");
    assert_eq!(conn.read_line(), "OK 0\n");
    drop(conn);
    recv.server.stop();
}

/// A write that fails halfway (the receiver may write files of 1 MiB at
/// most: RLIMIT_FSIZE, so the write past it fails with EFBIG) is answered
/// `ERR io`, leaves no file under the name, and the receiver goes on.
fn a_failing_write_is_err_io(runtime: &'static str) {
    assert!(crate::support::have_program("prlimit"), "prlimit (util-linux) is needed");
    let recv = Recv::start_under(&["prlimit", "--fsize=1048576", "--"], runtime, &[]);
    let data = noise(3 << 20, 5);
    let (_src, path) = source("big.bin", &data);
    let out = send_file(runtime, &path, recv.addr(), &["--quiet"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ERR io: ") && stderr.contains("(os error 27)"), "{stderr}"); // EFBIG
    assert!(!recv.dir().join("big.bin").exists(), "a file under the final name");
    // Still serving: a small file goes through.
    let (_small_src, small) = source("small.bin", b"fits");
    let out = send_file(runtime, &small, recv.addr(), &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fs::read(recv.dir().join("small.bin")).expect("small.bin"), b"fits");
    recv.server.stop();
}

/// `--max-buffered 4K`: the receiver stops reading every 4 KiB until its
/// writer catches up (on std, the connection's thread waits on the writer
/// thousands of times); the file still arrives whole.
fn a_tiny_write_buffer_still_delivers(runtime: &'static str) {
    let recv = Recv::start(runtime, &["--max-buffered", "4K"]);
    let data = noise(2 << 20, 6);
    let (_src, path) = source("tiny.bin", &data);
    let out = send_file(runtime, &path, recv.addr(), &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fs::read(recv.dir().join("tiny.bin")).expect("tiny.bin") == data, "2 MiB differ");
    recv.server.stop();
}

fn hash_mismatch_leaves_nothing(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    let mut conn = recv.connect();
    conn.send("h.txt|5\nhello");
    assert_eq!(conn.read_line(), "OK 0\n");
    conn.send(format!("BLAKE3 {}\n", hex(b"world")));
    let line = conn.read_line();
    assert!(line.starts_with("ERR hash_mismatch "), "{line:?}");
    conn.expect_closed();
    recv.wait_for("the partial file gone", |d| listing(d).is_empty());
    recv.assert_nothing_written("after a hash mismatch");
    // More bytes than announced: no valid trailer after SIZE bytes.
    let mut conn = recv.connect();
    conn.send("g.txt|5\nhello, and then some\n");
    assert_eq!(conn.read_line(), "OK 0\n");
    assert!(conn.read_line().starts_with("ERR hash_mismatch "));
    recv.wait_for("the partial file gone", |d| listing(d).is_empty());
    recv.server.stop();
}

fn existing_files(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    fs::write(recv.dir().join("e.txt"), b"old").expect("write");
    let (_src, path) = source("e.txt", b"new contents");
    let out = send_file(runtime, &path, recv.addr(), &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("ERR exists"), "{err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    assert_eq!(fs::read(recv.dir().join("e.txt")).expect("e.txt"), b"old");
    // A symlink under the name counts as existing, and is never followed.
    let outside = recv.root.path().join("outside.txt");
    fs::write(&outside, b"outside").expect("write");
    std::os::unix::fs::symlink(&outside, recv.dir().join("l.txt")).expect("symlink");
    let (_src, lpath) = source("l.txt", b"through the link?");
    let out = send_file(runtime, &lpath, recv.addr(), &["--quiet"]);
    assert!(!out.status.success() && text(&out.stderr).contains("ERR exists"));
    // A name being received now is taken; its partial file's names are
    // never a sender's (`bad_name`).
    let mut first = recv.connect();
    first.send("busy.bin|100\n0123456789");
    assert_eq!(first.read_line(), "OK 0\n");
    for (header, code) in [
        ("busy.bin|100\n", "exists"),
        (".busy.bin.part|5\n", "bad_name"),
        (".busy.bin.part.size|5\n", "bad_name"),
    ] {
        let mut second = recv.connect();
        second.send(header);
        let line = second.read_line();
        assert!(line.starts_with(&format!("ERR {code} ")), "{header:?}: {line:?}");
    }
    drop(first);
    let Recv { server, root } = recv;
    server.stop();
    // With --overwrite: replaced, the link itself and not its target.
    let dir = root.path().join("in");
    let recv2 = Server::start(
        runtime,
        &["file", "recv", "--overwrite", "--dir", &dir.display().to_string()],
    );

    for p in [&path, &lpath] {
        let out = send_file(runtime, p, recv2.tcp_addr(), &["--quiet"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(fs::read(dir.join("e.txt")).expect("e.txt"), b"new contents");
    assert!(!fs::symlink_metadata(dir.join("l.txt")).expect("l.txt").file_type().is_symlink());
    assert_eq!(fs::read(&outside).expect("outside"), b"outside");
    recv2.stop();
}

fn against_the_reference_receiver(runtime: &'static str) {
    // The tutorial's `receive_file`: one recv(1024) for the header, `OK`,
    // then exactly SIZE bytes (in recv(4096) pieces), then close.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let peer = thread::spawn(move || {
        let (mut client, _) = listener.accept().expect("accept");
        client.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut header = [0u8; 1024];
        let n = client.read(&mut header).expect("recv header");
        let header = String::from_utf8_lossy(&header[..n]).into_owned();
        let (name, size) = header.split_once('|').expect("NAME|SIZE");
        let size: usize = size.trim().parse().expect("int(filesize)");
        client.write_all(b"OK").expect("send OK");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < size {
            let want = (size - got.len()).min(4096);
            let n = client.read(&mut buf[..want]).expect("recv");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        (name.to_owned(), got)
    });
    let data = noise(300_000, 3);
    let (_src, path) = source("ref.bin", &data);
    let out = send_file(runtime, &path, addr, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("unverified\n"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("sent but not verified"), "{}", text(&out.stderr));
    let (name, got) = peer.join().expect("the reference receiver");
    assert_eq!(name, "ref.bin");
    assert!(got == data, "the reference receiver got other bytes");
}

/// The tutorial's `receive_file`, as written there (bound to port 0, the
/// port printed, and timeouts added so that a test cannot hang).
const PY_RECEIVE_FILE: &str = r#"
import os, socket, sys
def receive_file(save_dir, port):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('127.0.0.1', port))
    server.listen(1)
    server.settimeout(30)
    print(server.getsockname()[1], flush=True)
    client, address = server.accept()
    client.settimeout(30)
    try:
        header = client.recv(1024).decode()
        filename, filesize = header.split('|')
        filesize = int(filesize)
        client.send(b'OK')
        filepath = os.path.join(save_dir, filename)
        received = 0
        with open(filepath, 'wb') as f:
            while received < filesize:
                data = client.recv(min(4096, filesize - received))
                if not data:
                    break
                f.write(data)
                received += len(data)
    finally:
        client.close()
        server.close()
receive_file(sys.argv[1], 0)
"#;

fn against_the_python_reference_receiver(runtime: &'static str) {
    if !crate::support::have_program("python3") {
        eprintln!("python3 not found: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut py = Command::new("python3")
        .args(["-c", PY_RECEIVE_FILE])
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(py.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("the port");
    let port: u16 = line.trim().parse().expect("a port number");
    let data = noise(1 << 20, 4);
    let (_src, path) = source("py.bin", &data);
    let out = send_file(runtime, &path, SocketAddr::from(([127, 0, 0, 1], port)), &[]);
    let deadline = Instant::now() + SEND_TIMEOUT;
    let status = loop {
        if let Some(s) = py.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = py.kill();
            panic!("the python receiver did not finish");
        }
        thread::sleep(Duration::from_millis(10));
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("unverified\n"), "{}", text(&out.stdout));
    assert!(status.success(), "python3 exited {status}");
    assert!(fs::read(dir.path().join("py.bin")).expect("py.bin") == data);
}

fn once_exits_with_the_outcome(runtime: &'static str) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().display().to_string();
    let mut server = Server::start(runtime, &["file", "recv", "--once", "--dir", &dir]);
    let (_src, path) = source("o.txt", b"once");
    let out = send_file(runtime, &path, server.tcp_addr(), &["--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits after one transfer");
    assert!(status.success(), "{status}");
    assert_eq!(fs::read(root.path().join("o.txt")).expect("o.txt"), b"once");
    // A failed one: non-zero, with the reason.
    let mut server = Server::start(runtime, &["file", "recv", "--once", "--dir", &dir]);
    let mut conn = Conn::new(tcp_connect(server.tcp_addr()));
    conn.send("../o.txt|4\n");
    assert!(conn.read_line().starts_with("ERR bad_name"));
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits after one transfer");
    assert!(!status.success());
    assert!(server.stderr().contains("error: "), "{}", server.stderr());
}

fn sender_errors_are_one_line(runtime: &'static str) {
    // Nobody listening.
    let free = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let (_src, path) = source("x.txt", b"x");
    let out = send_file(runtime, &path, free, &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.starts_with("error: cannot connect") && err.lines().count() == 1, "{err}");
    // No such file.
    let out = send_file(runtime, Path::new("/nonexistent/x"), free, &[]);
    assert!(!out.status.success() && text(&out.stderr).starts_with("error: cannot open"));
}

per_runtime!(
    big_file_intact,
    hostile_names_are_refused,
    bad_sizes_are_refused,
    truncated_then_resumed,
    hash_mismatch_leaves_nothing,
    a_failing_write_is_err_io,
    a_tiny_write_buffer_still_delivers,
    existing_files,
    against_the_reference_receiver,
    against_the_python_reference_receiver,
    once_exits_with_the_outcome,
    sender_errors_are_one_line,
);

// Issue 13, items 1, 7 and 8: attacks on the receiver.
per_runtime!(
    idle_offers_hold_no_thread,
    transfers_in_progress_are_capped,
    bookkeeping_names_are_refused,
    old_partial_files_expire,
    a_fifo_in_dir_is_answered,
);

/// How many idle transfers the thread-exhaustion tests open: 600 (over the
/// blocking pool's 500 threads), fewer only if this process's descriptor
/// limit (`ulimit -n`; three runtimes run at once) cannot hold them.
fn idle_count() -> usize {
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let n = 600.min(soft.saturating_sub(512) / 3);
    assert!(n > 500, "ulimit -n is {soft}: too low to open over 500 connections per runtime");
    n
}

/// A raw connection to the receiver from the loopback address `from`
/// (127.0.0.2 and so on are loopback too: another peer address).
fn connect_from(recv: &Recv, from: [u8; 4]) -> Conn<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.bind(&SocketAddr::from((from, 0)).into()).expect("bind a loopback address");
    socket.connect_timeout(&recv.addr().into(), IO_TIMEOUT).expect("connect");
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    Conn::new(stream)
}

/// An honest `file send` of 256 KiB, which must succeed and arrive whole
/// within a generous bound (a timeout is a failure).
fn honest_send(runtime: &'static str, recv: &Recv, name: &str) {
    let data = noise(256 << 10, 13);
    let (_src, path) = source(name, &data);
    let mut cmd = Command::new(sansnet_bin());
    cmd.args(["--runtime", runtime, "file", "send", "--quiet", "--timeout", "10"])
        .arg(&path)
        .arg(recv.addr().to_string());
    let out = run_bounded(&mut cmd, b"", Duration::from_secs(30));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fs::read(recv.dir().join(name)).expect("stored") == data, "{name} differs");
}

/// Item 1: transfers accepted and then idle (the sender never sends a
/// byte) hold no thread of the blocking pool, so more of them than the
/// pool has threads do not stop an honest transfer beside them.
fn idle_offers_hold_no_thread(runtime: &'static str) {
    let n = idle_count();
    let cap = (n + 1).to_string();
    let recv = Recv::start(runtime, &["--max-transfers", &cap, "--max-transfers-per-peer", &cap]);
    let mut idle: Vec<Conn<TcpStream>> = (0..n).map(|_| recv.connect()).collect();
    for (i, conn) in idle.iter_mut().enumerate() {
        conn.send(format!("hold{i}|100000\n"));
    }
    for (i, conn) in idle.iter_mut().enumerate() {
        assert_eq!(conn.read_line(), "OK 0\n", "hold{i}");
    }
    honest_send(runtime, &recv, "honest.bin");
    drop(idle);
    recv.server.stop();
}

/// Item 1's caps: with the defaults, one address has 8 transfers in
/// progress at most, and another address is still served; in all,
/// `--max-transfers`. Past a cap: `ERR no_space busy: ...`, and the place
/// is free again once a transfer ends.
fn transfers_in_progress_are_capped(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    let mut held = Vec::new();
    for i in 0..20 {
        let mut conn = connect_from(&recv, [127, 0, 0, 2]);
        conn.send(format!("hold{i}|100000\n"));
        let line = conn.read_line();
        if i < 8 {
            assert_eq!(line, "OK 0\n", "hold{i}");
            held.push(conn);
        } else {
            let busy = "ERR no_space busy: 8 transfers from 127.0.0.2 in progress";
            assert!(line.starts_with(busy), "hold{i}: {line:?}");
            conn.expect_closed();
        }
    }
    honest_send(runtime, &recv, "honest.bin");
    drop(held);
    recv.server.stop();

    let recv = Recv::start(runtime, &["--max-transfers", "2"]);
    let mut first = connect_from(&recv, [127, 0, 0, 2]);
    let mut second = connect_from(&recv, [127, 0, 0, 3]);
    first.send("a|10\n");
    second.send("b|10\n");
    assert_eq!((first.read_line(), second.read_line()), ("OK 0\n".into(), "OK 0\n".into()));
    let mut third = connect_from(&recv, [127, 0, 0, 4]);
    third.send("c|10\n");
    let line = third.read_line();
    assert!(line.starts_with("ERR no_space busy: 2 transfers in progress"), "{line:?}");
    // One ends (its sender goes away): its place is free again.
    drop(first);
    let deadline = Instant::now() + IO_TIMEOUT * 2;
    loop {
        let mut conn = connect_from(&recv, [127, 0, 0, 4]);
        conn.send("d|10\n");
        if conn.read_line() == "OK 0\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the ended transfer's place never came free");
        thread::sleep(Duration::from_millis(20));
    }
    drop(second);
    recv.server.stop();
}

/// Item 7: names of the receiver's own partial files are not taken from a
/// sender (anyone could plant a part that spoils another name's resume).
fn bookkeeping_names_are_refused(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    let long_part = format!(".{}~0123456789abcdef.part", "n".repeat(200));
    for name in [".x.part", ".x.part.size", long_part.as_str()] {
        let mut conn = recv.connect();
        conn.send(format!("{name}|5\nhello"));
        let line = conn.read_line();
        assert!(line.starts_with("ERR bad_name "), "{name:?}: {line:?}");
        conn.expect_closed();
        recv.assert_nothing_written(name);
    }
    recv.server.stop();
}

/// Item 7: a partial file last written `--part-ttl` ago (24 h by default)
/// is not resumed but started over, and is deleted at start.
fn old_partial_files_expire(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    let dir = recv.dir();
    let age = |name: &str, ago: Duration| {
        let file = fs::File::options().write(true).open(dir.join(name)).expect(name);
        file.set_modified(std::time::SystemTime::now() - ago).expect("set the mtime");
    };
    // An interrupted transfer keeps 5 bytes: resumed while fresh.
    let mut conn = recv.connect();
    conn.send("f.bin|10\n");
    assert_eq!(conn.read_line(), "OK 0\n");
    conn.send("01234");
    conn.stream().shutdown(std::net::Shutdown::Write).expect("shutdown");
    assert!(conn.read_line().starts_with("ERR short "));
    recv.wait_for("the part", |d| fs::metadata(d.join(".f.bin.part")).is_ok_and(|m| m.len() == 5));
    let offer = |expect: &str| {
        let mut conn = recv.connect();
        conn.send("f.bin|10\n");
        assert_eq!(conn.read_line(), expect);
    };
    offer("OK 5\n");
    // A day and a minute later: started over (once the resumed offer's
    // connection, gone, lets the name go: an offer waits a moment for it).
    age(".f.bin.part", Duration::from_secs(24 * 3600 + 60));
    offer("OK 0\n");
    let Recv { server, root: _root } = recv;
    server.stop();

    // At start, old parts and notes go and fresh ones stay.
    for name in [".old.part", ".old.part.size", ".new.part", ".new.part.size"] {
        fs::write(dir.join(name), b"10\n").expect(name);
    }
    age(".old.part", Duration::from_secs(2 * 24 * 3600));
    age(".old.part.size", Duration::from_secs(2 * 24 * 3600));
    age(".new.part", Duration::from_secs(120));
    age(".new.part.size", Duration::from_secs(120));
    let dir_arg = dir.display().to_string();
    let server = Server::start(runtime, &["file", "recv", "--dir", &dir_arg]);
    let left = listing(&dir);
    assert!(!left.contains(&".old.part".to_owned()), "{left:?}");
    assert!(!left.contains(&".old.part.size".to_owned()), "{left:?}");
    assert!(left.contains(&".new.part".to_owned()), "{left:?}");
    server.stop();
    // `--part-ttl 60`: two minutes is too old.
    let server = Server::start(runtime, &["file", "recv", "--dir", &dir_arg, "--part-ttl", "60"]);
    assert!(!dir.join(".new.part").exists() && !dir.join(".new.part.size").exists());
    server.stop();
}

/// Item 8: a FIFO under a partial file's name is answered (`ERR io`) at
/// once instead of hanging the offer, holds nothing, and the receiver goes
/// on serving.
fn a_fifo_in_dir_is_answered(runtime: &'static str) {
    let recv = Recv::start(runtime, &[]);
    let fifo = recv.dir().join(".fifo.part.size");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let mut conn = recv.connect();
    conn.send("fifo|10\n");
    let line = conn.read_line(); // bounded: IO_TIMEOUT
    assert!(line.starts_with("ERR io ") && line.contains("not a regular file"), "{line:?}");
    conn.expect_closed();
    honest_send(runtime, &recv, "after.bin");
    // The name was not held: without the FIFO it is received.
    fs::remove_file(&fifo).expect("rm the fifo");
    let mut conn = recv.connect();
    conn.send("fifo|10\n");
    assert_eq!(conn.read_line(), "OK 0\n");
    drop(conn);
    recv.server.stop();
}
