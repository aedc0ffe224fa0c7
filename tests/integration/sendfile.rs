//! `http --root` bodies sent from the file by the driver (`sendfile(2)` on
//! Linux; issue 17 item 2), on every runtime: a file of several MiB whole,
//! a range from its middle, HEAD, keep-alive after them; a file truncated
//! while it is sent ends that response (short body, closed connection);
//! over TLS, where the bytes must be encrypted, the same answers.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::pki::Pki;
use crate::support::{IO_TIMEOUT, Server, have_program, per_runtime, run_bounded};

per_runtime!(
    a_big_file_whole_in_ranges_and_head,
    a_file_truncated_while_sent_ends_the_response,
    tls_root_serves_a_big_file,
);

/// Bytes that say where they are: byte `i` is `i % 251`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn root_with(name: &str, data: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join(name), data).expect("write the file");
    dir
}

fn root_arg(dir: &Path) -> &str {
    dir.to_str().expect("UTF-8 path")
}

const BIG: usize = 6 * 1024 * 1024 + 12_345;

fn a_big_file_whole_in_ranges_and_head(rt: &'static str) {
    let data = pattern(BIG);
    let dir = root_with("big.bin", &data);
    let server = Server::start(rt, &["http", "--root", root_arg(dir.path())]);
    let mut conn = server.connect();
    let get =
        |target: &str, extra: &str| format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
    conn.send(get("/big.bin", ""));
    let r = conn.read_response();
    assert_eq!((r.status, r.content_length()), (200, Some(BIG as u64)));
    assert!(r.body == data, "the whole file differs");
    // From the middle, on the same connection.
    conn.send(get("/big.bin", "Range: bytes=3000000-4999999\r\n"));
    let r = conn.read_response();
    assert_eq!(r.status, 206, "{:?}", r.fields);
    assert_eq!(r.field("Content-Range"), Some(format!("bytes 3000000-4999999/{BIG}").as_str()));
    assert!(r.body == data[3_000_000..5_000_000], "the range differs");
    // HEAD: the length, no body; the connection goes on.
    conn.send("HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = conn.read_head_response();
    assert_eq!((r.status, r.content_length()), (200, Some(BIG as u64)));
    // Pipelined: a suffix range, then the whole file again.
    conn.send(get("/big.bin", "Range: bytes=-10\r\n") + &get("/big.bin", ""));
    let r = conn.read_response();
    assert_eq!((r.status, r.body.as_slice()), (206, &data[BIG - 10..]));
    let r = conn.read_response();
    assert!(r.status == 200 && r.body == data, "the second whole file differs");
    // curl, which the benchmark uses, gets the same bytes.
    if have_program("curl") {
        let url = format!("http://{}/big.bin", server.tcp_addr());
        let out = run_bounded(
            Command::new("curl").args(["-sS", "--max-time", "20", &url]),
            b"",
            Duration::from_secs(25),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout == data, "curl's copy differs");
    }
    server.stop();
}

/// The file shrinks to `CUT` bytes while a client with a small window
/// reads it slowly: the body stops at exactly `CUT` bytes (the bytes the
/// file had, nothing from elsewhere) and the connection ends, well within
/// a bound, though the head announced the whole file.
fn a_file_truncated_while_sent_ends_the_response(rt: &'static str) {
    const LEN: usize = 16 << 20;
    const READ_FIRST: usize = 1 << 20;
    const CUT: usize = 4 << 20;
    let data = pattern(LEN);
    let dir = root_with("shrinks.bin", &data);
    // A small send buffer: far less than CUT - READ_FIRST is in flight
    // when the file is cut.
    let args = ["http", "--root", root_arg(dir.path()), "--send-buffer", "64K"];
    let server = Server::start(rt, &args);
    let addr = server.tcp_addr();
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(64 * 1024).expect("SO_RCVBUF");
    sock.connect_timeout(&addr.into(), IO_TIMEOUT).expect("connect");
    let mut s = TcpStream::from(sock);
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.write_all(b"GET /shrinks.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("request");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut cut = false;
    let started = Instant::now();
    let closed = loop {
        assert!(started.elapsed() < Duration::from_secs(20), "no end after {} bytes", got.len());
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("after {} bytes: {e}", got.len()),
        }
        if !cut && got.len() >= READ_FIRST {
            fs::OpenOptions::new()
                .write(true)
                .open(dir.path().join("shrinks.bin"))
                .and_then(|f| f.set_len(CUT as u64))
                .expect("truncate");
            cut = true;
        }
    };
    assert!(closed);
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("Content-Length: {LEN}\r\n")), "{head}");
    let body = &got[head_end..];
    assert_eq!(body.len(), CUT, "the body ends where the file does");
    assert!(body == &data[..CUT], "bytes from elsewhere");
    server.stop();
}

/// `http --root --tls-cert`: TLS needs the plaintext, so the body is read
/// and encrypted, not sent from the file; curl gets the same bytes.
fn tls_root_serves_a_big_file(rt: &'static str) {
    assert!(have_program("curl"), "curl is needed for the TLS tests (.ci/run installs it)");
    let data = pattern(3 << 20);
    let dir = root_with("big.bin", &data);
    let pki = Pki::new(&[]);
    let (cert, key) = (pki.server(), pki.server_key());
    let args = [
        "http",
        "--root",
        root_arg(dir.path()),
        "--tls-cert",
        cert.to_str().expect("UTF-8"),
        "--tls-key",
        key.to_str().expect("UTF-8"),
    ];
    let server = Server::start(rt, &args);
    let url = format!("https://localhost:{}/big.bin", server.tcp_addr().port());
    let ca = pki.ca();
    let curl = |extra: &[&str]| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20", "--cacert", ca.to_str().expect("UTF-8")]);
        cmd.args(extra).arg(&url);
        let out = run_bounded(&mut cmd, b"", Duration::from_secs(25));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    assert!(curl(&[]) == data, "the whole file differs over TLS");
    assert!(curl(&["-r", "1000000-1999999"]) == data[1_000_000..2_000_000], "the range differs");
    let head = String::from_utf8(curl(&["-I"])).expect("text");
    assert!(
        head.contains(&format!("content-length: {}", data.len()))
            || head.contains(&format!("Content-Length: {}", data.len())),
        "{head}"
    );
    server.stop();
}
