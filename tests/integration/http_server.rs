//! The `sansnet http` server on every runtime over real loopback sockets.
//!
//! Black-box: each test starts the built `sansnet` binary
//! (`sansnet --runtime R http ... --bind 127.0.0.1:0`), talks to it with
//! curl, Python's `http.client` or raw sockets, and stops it with SIGTERM
//! (exit status 0). Every check runs on std, async-std, smol and tokio:
//! the `per_runtime!` list below makes one test per runtime
//! (`http_server::NAME::std`, `::async_std`, `::smol`, `::tokio`).
//!
//! Bugs these tests found and that were fixed: the Unix socket file left
//! behind by the std runtime, connections accepted and left hanging during
//! the shutdown grace period, and multi-line usage errors.

use std::fs;
use std::net::{Ipv6Addr, TcpListener};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{
    self, Addr, Conn, Req, Response, Server, exchange, parse_response, per_runtime, run_bounded,
};

per_runtime!(
    curl_hello_and_head,
    python_http_client_reuses_the_connection,
    keep_alive_on_one_connection,
    pipelined_requests_answered_in_order,
    chunked_upload_and_expect_continue,
    rejections_answer_then_close,
    slowloris_gets_408,
    many_concurrent_connections,
    ipv6_loopback,
    unix_socket,
    graceful_shutdown_finishes_in_flight,
    static_files,
    half_closed_client_still_answered,
    connection_close_ends_a_pipeline,
    expect_continue_over_the_limit,
    big_bodies_both_ways,
    pipelined_flood_with_backpressure,
    idle_and_stalled_body_timeouts,
    sigint_stops_gracefully,
    startup_errors,
    connection_cap,
    unix_socket_replaces_a_stale_one,
    new_connections_refused_during_shutdown,
    chunk_extension_limit,
    grace_period_bounds_the_stop,
    write_timeout_drops_a_peer_that_never_reads,
    trickled_body_gets_408_at_the_body_timeout,
    static_files_hardening,
);

/// The hello page for an (already escaped) path.
fn page(escaped: &str) -> String {
    format!("<html><body><h1>Hello!</h1><p>Path: {escaped}</p></body></html>")
}

/// `GET target` with a Host.
fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// Asserts `r` is the hello page for `escaped`, keeping the connection.
#[track_caller]
fn assert_hello(r: &Response, escaped: &str) {
    assert_eq!((r.version.as_str(), r.status, r.reason.as_str()), ("HTTP/1.1", 200, "OK"), "{r:?}");
    assert_eq!(r.field("Content-Type"), Some("text/html; charset=utf-8"), "{r:?}");
    let want = page(escaped);
    assert_eq!(r.text(), want);
    assert_eq!(r.content_length(), Some(want.len() as u64), "{r:?}");
    assert!(!r.closes(), "unexpected Connection: close in {r:?}");
}

/// curl: the escaped hello page; HEAD: the same head, no body.
fn curl_hello_and_head(rt: &'static str) {
    if !support::have_program("curl") {
        eprintln!("note: curl is not installed; skipping the curl test on {rt}");
        return;
    }
    let server = Server::start(rt, &["http"]);
    let url = format!("http://{}/a<b>?x=1&y=\"2\"", server.tcp_addr());
    let curl = |extra: &str| {
        let out = run_bounded(
            Command::new("curl").args(["-sS", "--globoff", "--max-time", "5", extra, &url]),
            b"",
            Duration::from_secs(10),
        );
        assert!(
            out.status.success(),
            "curl {extra} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let get = parse_response(&curl("-i"), Req::Get);
    assert_hello(&get, "/a&lt;b&gt;?x=1&amp;y=&quot;2&quot;");
    let head = parse_response(&curl("-I"), Req::Head);
    assert_eq!((head.status, head.reason.as_str()), (200, "OK"), "{head:?}");
    assert_eq!(head.field("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(head.content_length(), Some(get.body.len() as u64));
    assert!(head.body.is_empty());
    server.stop();
}

/// Python's `http.client`: two requests on one `HTTPConnection`, the
/// second on the same socket.
fn python_http_client_reuses_the_connection(rt: &'static str) {
    if !support::have_program("python3") {
        eprintln!("note: python3 is not installed; skipping the http.client test on {rt}");
        return;
    }
    const SCRIPT: &str = r#"
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=5)
c.request("GET", "/one?a=<1>")
r = c.getresponse()
body = r.read()
assert r.status == 200, r.status
assert r.getheader("Content-Type") == "text/html; charset=utf-8", r.getheaders()
assert body == b"<html><body><h1>Hello!</h1><p>Path: /one?a=&lt;1&gt;</p></body></html>", body
sock = c.sock
assert sock is not None, "the server closed the connection after the first response"
name = sock.getsockname()
c.request("POST", "/two", body=b"x" * 1000, headers={"Content-Type": "text/plain"})
r = c.getresponse()
body = r.read()
assert r.status == 200, r.status
assert body == b"<html><body><h1>Hello!</h1><p>Path: /two</p></body></html>", body
assert c.sock is sock and sock.getsockname() == name, "a new connection was opened"
c.close()
print("ok")
"#;
    let server = Server::start(rt, &["http"]);
    let addr = server.tcp_addr();
    let out = run_bounded(
        Command::new("python3").args([
            "-c",
            SCRIPT,
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ]),
        b"",
        Duration::from_secs(10),
    );
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "http.client on {rt}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
}

/// Keep-alive: several requests one after the other on one connection;
/// `Connection: close` and HTTP/1.0 end it.
fn keep_alive_on_one_connection(rt: &'static str) {
    let server = Server::start(rt, &["http"]);
    let mut conn = server.connect_tcp();
    for i in 0..5 {
        conn.send(get(&format!("/k{i}")));
        assert_hello(&conn.read_response(), &format!("/k{i}"));
    }
    conn.send("POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody");
    assert_hello(&conn.read_response(), "/body");
    conn.send("GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let last = conn.read_response();
    assert_eq!(last.status, 200);
    assert_eq!(last.text(), page("/last"));
    assert!(last.closes(), "{last:?}");
    conn.expect_closed();

    // HTTP/1.0: closes after the response unless asked to keep alive.
    let mut conn = server.connect_tcp();
    conn.send("GET /old HTTP/1.0\r\n\r\n");
    let r = conn.read_response();
    assert_eq!((r.status, r.text()), (200, page("/old")));
    conn.expect_closed();
    let mut conn = server.connect_tcp();
    for i in 0..2 {
        conn.send(format!("GET /ka{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        let r = conn.read_response();
        assert_eq!((r.status, r.text()), (200, page(&format!("/ka{i}"))));
        assert_eq!(
            r.field("Connection").map(str::to_ascii_lowercase).as_deref(),
            Some("keep-alive")
        );
    }
    server.stop();
}

/// Pipelining: four requests in one write, answered in order.
fn pipelined_requests_answered_in_order(rt: &'static str) {
    let server = Server::start(rt, &["http"]);
    let mut conn = server.connect_tcp();
    conn.send(
        "GET /p1 HTTP/1.1\r\nHost: t\r\n\r\n\
         POST /p2 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
         HEAD /p3 HTTP/1.1\r\nHost: t\r\n\r\n\
         GET /p4?q=<x> HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_hello(&conn.read_response(), "/p1");
    assert_hello(&conn.read_response(), "/p2");
    let head = conn.read_head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(page("/p3").len() as u64));
    assert_hello(&conn.read_response(), "/p4?q=&lt;x&gt;");
    // Nothing else arrives: in particular, no body after the HEAD response.
    conn.stream().set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    assert!(conn.fill().is_err(), "unexpected bytes: {:?}", conn.buffered());
    conn.stream().set_read_timeout(Some(support::IO_TIMEOUT)).expect("timeout");
    conn.send(get("/p5"));
    assert_hello(&conn.read_response(), "/p5");
    server.stop();
}

/// A chunked upload (extensions, trailers) is read and answered, and the
/// connection stays in sync; `Expect: 100-continue` gets `100 Continue`.
fn chunked_upload_and_expect_continue(rt: &'static str) {
    let server = Server::start(rt, &["http"]);
    let mut conn = server.connect_tcp();
    conn.send(
        "POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;ext=1;name=\"v\"\r\nhello\r\n7\r\n, world\r\n0;last\r\nX-Trailer: yes\r\nX-More: 2\r\n\r\n",
    );
    assert_hello(&conn.read_response(), "/up");
    // Piece by piece, in separate writes.
    for piece in [
        "POST /up2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        "3\r\nabc",
        "\r\n",
        "A\r\n0123456789\r\n",
        "0\r\n",
        "\r\n",
    ] {
        conn.send(piece);
    }
    assert_hello(&conn.read_response(), "/up2");
    conn.send(get("/after"));
    assert_hello(&conn.read_response(), "/after");

    // Expect: 100-continue, Content-Length body.
    conn.send("POST /exp HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(
        String::from_utf8_lossy(&conn.read_exact_bytes(interim.len())),
        String::from_utf8_lossy(interim)
    );
    conn.send("hello");
    assert_hello(&conn.read_response(), "/exp");
    // And with a chunked body.
    conn.send(
        "POST /exp2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    );
    let continued = conn.read_response();
    assert_eq!((continued.status, continued.reason.as_str()), (100, "Continue"));
    conn.send("4\r\nbody\r\n0\r\n\r\n");
    assert_hello(&conn.read_response(), "/exp2");
    conn.send(get("/end"));
    assert_hello(&conn.read_response(), "/end");
    server.stop();
}

/// The reason phrase PROTOCOLS.md's rejections carry.
fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => unreachable!("not a rejection: {status}"),
    }
}

/// Reads a rejection with `status` and `Connection: close`, then the close.
#[track_caller]
fn assert_rejected<S: std::io::Read>(conn: &mut Conn<S>, status: u16) {
    let r = conn.read_response();
    let line = String::from_utf8_lossy(&r.head);
    let line = line.lines().next().unwrap_or_default();
    assert_eq!(line, format!("HTTP/1.1 {status} {}", reason(status)), "{r:?}");
    assert!(r.closes(), "no Connection: close in {r:?}");
    conn.expect_closed();
}

/// Every rejection of PROTOCOLS.md §1 (but 408, below): its status,
/// `Connection: close`, and the server closes.
fn rejections_answer_then_close(rt: &'static str) {
    let big_field = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "b".repeat(1100));
    let many_fields = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        (0..9).map(|i| format!("X-F{i}: {i}\r\n")).collect::<String>()
    );
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(100));
    let chunk_over = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{}\r\n0\r\n\r\n",
        "c".repeat(32)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("request line with two spaces", b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
        ("method not a token", b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
        ("request line without version", b"GET /\r\nHost: t\r\n\r\n".to_vec(), 400),
        ("field name not a token", b"GET / HTTP/1.1\r\nHost: t\r\nBad@Name: x\r\n\r\n".to_vec(), 400),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  b\r\n\r\n".to_vec(), 400),
        ("bare CR in a field", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n".to_vec(), 400),
        ("NUL in a field", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n".to_vec(), 400),
        ("NUL in the target", b"GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), 400),
        (
            "Content-Length and Transfer-Encoding",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "differing Content-Length fields",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
                .to_vec(),
            400,
        ),
        (
            "differing Content-Length list",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd".to_vec(),
            400,
        ),
        (
            "negative Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "non-numeric Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n".to_vec(),
            400,
        ),
        (
            "bad chunk size",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "chunk data without CRLF",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n"
                .to_vec(),
            400,
        ),
        ("missing Host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("repeated Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : t\r\n\r\n".to_vec(), 400),
        (
            "Content-Length over --max-body",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n".to_vec(),
            413,
        ),
        ("chunked body over --max-body", chunk_over.into_bytes(), 413),
        ("target over --max-target", long_target.into_bytes(), 414),
        ("head over --max-head", big_field.into_bytes(), 431),
        ("more fields than --max-fields", many_fields.into_bytes(), 431),
        (
            "unknown transfer coding",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: pigeons\r\n\r\n0\r\n\r\n".to_vec(),
            501,
        ),
        (
            "unknown coding before chunked",
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            501,
        ),
        ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), 505),
        ("HTTP/0.9", b"GET / HTTP/0.9\r\nHost: t\r\n\r\n".to_vec(), 505),
    ];
    let server = Server::start(
        rt,
        &[
            "http",
            "--max-body",
            "16",
            "--max-target",
            "64",
            "--max-head",
            "1024",
            "--max-fields",
            "8",
        ],
    );
    // The limits let an ordinary request through.
    let mut conn = server.connect_tcp();
    conn.send("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\n0123456789abcdef");
    assert_hello(&conn.read_response(), "/ok");

    let mut failed = Vec::new();
    for (name, bytes, status) in &cases {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut conn = server.connect_tcp();
            conn.send(bytes);
            assert_rejected(&mut conn, *status);
        }));
        if outcome.is_err() {
            failed.push(format!("{name} ({:?})", String::from_utf8_lossy(bytes)));
        }
    }
    // A rejection after a good request on the same connection.
    let mut conn = server.connect_tcp();
    conn.send(format!("{}GET / HTTP/2.0\r\nHost: t\r\n\r\n", get("/first")));
    assert_hello(&conn.read_response(), "/first");
    assert_rejected(&mut conn, 505);
    assert!(failed.is_empty(), "on {rt}, these were not rejected as expected: {failed:#?}");
    server.stop();
}

/// Slowloris: a head trickling in a byte every 200 ms gets 408 once the
/// header timeout (1 s) has passed, and the connection closes.
fn slowloris_gets_408(rt: &'static str) {
    let server = Server::start(rt, &["http", "--header-timeout", "1"]);
    let mut conn = server.connect_tcp();
    let head = b"GET /slow HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    conn.stream().set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let started = Instant::now();
    let mut sent = 0;
    // One byte, then wait up to 200 ms for an answer; stop writing as soon
    // as anything arrives (writing after the close could reset it away).
    while conn.buffered().is_empty() {
        assert!(sent < head.len(), "the whole slow head was sent and no 408 came");
        conn.send(&head[sent..=sent]);
        sent += 1;
        match conn.fill() {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    conn.stream().set_read_timeout(Some(support::IO_TIMEOUT)).expect("timeout");
    assert_rejected(&mut conn, 408);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2500),
        "408 after {elapsed:?}, header timeout 1 s"
    );
    // The server is fine afterwards.
    assert_hello(&exchange(&server, get("/next")), "/next");
    server.stop();
}

/// 500 connections open at once, each doing one request: all answered.
fn many_concurrent_connections(rt: &'static str) {
    const THREADS: usize = 10;
    const PER_THREAD: usize = 50;
    let server = Server::start(rt, &["http"]);
    let addr = server.tcp_addr();
    let all_connected = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let all_connected = &all_connected;
            s.spawn(move || {
                let mut conns: Vec<_> =
                    (0..PER_THREAD).map(|_| Conn::new(support::tcp_connect(addr))).collect();
                all_connected.wait();
                for (i, c) in conns.iter_mut().enumerate() {
                    c.send(get(&format!("/c{t}-{i}")));
                }
                for (i, c) in conns.iter_mut().enumerate() {
                    assert_hello(&c.read_response(), &format!("/c{t}-{i}"));
                }
            });
        }
    });
    server.stop();
}

/// IPv6 loopback.
fn ipv6_loopback(rt: &'static str) {
    if TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        eprintln!("note: ::1 is not available here; skipping the IPv6 test on {rt}");
        return;
    }
    let server = Server::spawn(rt, &["http", "--bind", "[::1]:0"]);
    let Addr::Tcp(addr) = server.addr() else { panic!("not a TCP address: {:?}", server.addr()) };
    assert_eq!(addr.ip(), Ipv6Addr::LOCALHOST);
    assert_ne!(addr.port(), 0);
    let mut conn = server.connect_tcp();
    for path in ["/v6", "/again"] {
        conn.send(get(path));
        assert_hello(&conn.read_response(), path);
    }
    server.stop();
}

/// A Unix socket: the `listening on` line names it, requests work, SIGTERM
/// stops it (exit 0).
fn unix_socket(rt: &'static str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("http.sock");
    let server = Server::spawn(rt, &["http".as_ref(), "--unix".as_ref(), path.as_os_str()]);
    assert_eq!(server.addr(), &Addr::Unix(path.clone()));
    assert!(path.exists(), "no socket file at {}", path.display());
    let mut conn = Conn::new(support::unix_connect(&path));
    for target in ["/unix", "/<u>"] {
        conn.send(get(target));
        assert_hello(&conn.read_response(), &target.replace('<', "&lt;").replace('>', "&gt;"));
    }
    drop(conn);
    server.stop();
}

per_runtime!(unix_socket_file_removed_on_stop);

/// SIGTERM removes the Unix socket file, every time (five starts and
/// stops, after a request each).
fn unix_socket_file_removed_on_stop(rt: &'static str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stop.sock");
    for round in 0..5 {
        let server = Server::spawn(rt, &["http".as_ref(), "--unix".as_ref(), path.as_os_str()]);
        assert_hello(&exchange(&server, get("/r")), "/r");
        server.stop();
        assert!(
            !path.exists(),
            "round {round}: socket file {} left after SIGTERM on {rt}",
            path.display()
        );
    }
}

/// SIGTERM with a request in flight: it is still answered and the
/// server exits 0; an idle keep-alive connection is closed.
fn graceful_shutdown_finishes_in_flight(rt: &'static str) {
    let mut server = Server::start(rt, &["http"]);
    let mut idle = server.connect_tcp();
    idle.send(get("/idle"));
    assert_hello(&idle.read_response(), "/idle");
    let mut busy = server.connect_tcp();
    busy.send("POST /busy HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123");
    // Let the server read the partial request before the signal.
    thread::sleep(Duration::from_millis(150));
    server.terminate();
    idle.expect_closed();
    assert!(!server.has_exited(), "exited with a request in flight");
    busy.send("456789");
    let r = busy.read_response();
    assert_eq!((r.status, r.text()), (200, page("/busy")), "{r:?}");
    busy.expect_closed();
    server.expect_exit_ok();
}

/// The tree served by [`static_files`]: `root/` is served, `secret.txt`
/// sits beside it, outside.
const SECRET: &str = "SECRET-OUTSIDE-THE-ROOT-5be1";
const HELLO: &[u8] = b"hello, world\n";
const ODD_NAME: &str = "we<ird> & \"name's\".txt";

fn make_site(top: &Path) -> std::path::PathBuf {
    let root = top.join("root");
    let write = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, data).expect("write");
    };
    fs::write(top.join("secret.txt"), SECRET).expect("write the secret");
    write("hello.txt", HELLO);
    write("style.css", b"body { color: red }\n");
    write("data.bin", b"\x00\x01\x02");
    write("sub/nested.json", b"{\"a\": 1}\n");
    write(&format!("sub/{ODD_NAME}"), b"odd\n");
    fs::create_dir(root.join("sub/inner")).expect("mkdir");
    write("site/index.html", b"<p>the index</p>\n");
    symlink("../secret.txt", root.join("out")).expect("symlink");
    symlink("..", root.join("up")).expect("symlink");
    symlink("hello.txt", root.join("alias.txt")).expect("symlink");
    root
}

/// A GET (or another method) on a fresh connection.
fn fetch(server: &Server, method: &str, target: &str, extra: &str) -> Response {
    let mut conn = server.connect();
    conn.send(format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n"));
    if method == "HEAD" { conn.read_head_response() } else { conn.read_response() }
}

/// `--root`: files, types, index, listing, 404, 405, no way out of the
/// root, ranges, If-Modified-Since.
fn static_files(rt: &'static str) {
    let top = tempfile::tempdir().expect("temp dir");
    let root = make_site(top.path());
    let server = Server::start(rt, &["http".as_ref(), "--root".as_ref(), root.as_os_str()]);

    let r = fetch(&server, "GET", "/hello.txt", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.field("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.body, HELLO);
    assert_eq!(r.content_length(), Some(HELLO.len() as u64));
    let last_modified = r.field("Last-Modified").expect("Last-Modified").to_owned();
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");
    let head = fetch(&server, "HEAD", "/hello.txt", "");
    assert_eq!((head.status, head.content_length()), (200, Some(HELLO.len() as u64)));
    assert_eq!(head.field("Content-Type"), Some("text/plain; charset=utf-8"));
    for (target, ty, body) in [
        ("/style.css", "text/css; charset=utf-8", &b"body { color: red }\n"[..]),
        ("/data.bin", "application/octet-stream", b"\x00\x01\x02"),
        ("/sub/nested.json", "application/json", b"{\"a\": 1}\n"),
        ("/alias.txt", "text/plain; charset=utf-8", HELLO),
        ("/hello.txt?query=1", "text/plain; charset=utf-8", HELLO),
        ("/%68ello.txt", "text/plain; charset=utf-8", HELLO),
        ("/site/", "text/html; charset=utf-8", b"<p>the index</p>\n"),
        ("/site/index.html", "text/html; charset=utf-8", b"<p>the index</p>\n"),
    ] {
        let r = fetch(&server, "GET", target, "");
        assert_eq!((r.status, r.field("Content-Type")), (200, Some(ty)), "{target}: {r:?}");
        assert_eq!(r.body, body, "{target}");
    }

    // A directory without its slash redirects; with it, an escaped listing.
    let r = fetch(&server, "GET", "/site", "");
    assert_eq!((r.status, r.field("Location")), (301, Some("/site/")), "{r:?}");
    let r = fetch(&server, "GET", "/sub/", "");
    assert_eq!((r.status, r.field("Content-Type")), (200, Some("text/html; charset=utf-8")));
    let listing = r.text();
    assert!(listing.contains("nested.json"), "{listing}");
    assert!(listing.contains("inner/"), "{listing}");
    assert!(
        listing.contains(">we&lt;ird&gt; &amp; &quot;name&#x27;s&quot;.txt</a>"),
        "name not escaped: {listing}"
    );
    assert!(
        listing.contains("href=\"we%3Cird%3E%20%26%20%22name%27s%22.txt\""),
        "link not percent-encoded: {listing}"
    );
    assert!(!listing.contains(ODD_NAME), "raw name in the listing: {listing}");
    let r = fetch(&server, "GET", "/sub/we%3Cird%3E%20%26%20%22name%27s%22.txt", "");
    assert_eq!((r.status, r.text().as_str()), (200, "odd\n"));

    // 404, 405.
    for target in ["/missing", "/sub/missing.txt", "/hello.txt/", "/etc/passwd"] {
        let r = fetch(&server, "GET", target, "");
        assert_eq!(r.status, 404, "{target}: {r:?}");
        assert!(!r.closes(), "{target}: an ordinary 404 keeps the connection");
    }
    for method in ["POST", "PUT", "DELETE"] {
        let r = fetch(&server, method, "/hello.txt", "Content-Length: 0\r\n");
        assert_eq!((r.status, r.field("Allow")), (405, Some("GET, HEAD")), "{method}: {r:?}");
    }

    // No way out of the root.
    for target in [
        "/../secret.txt",
        "/../../etc/passwd",
        "/../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/..%2fsecret.txt",
        "/..%2f..%2fetc/passwd",
        "/sub/../../secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/./../secret.txt",
        "//../secret.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/out",
        "/up/secret.txt",
        "/up/",
        "/up",
        "/%00",
        "/hello.txt%00.html",
        "/%2500",
        "http://t/../secret.txt",
    ] {
        let r = fetch(&server, "GET", target, "");
        assert!(matches!(r.status, 400 | 403 | 404), "{target}: {} {r:?}", r.status);
        assert!(!r.text().contains(SECRET), "{target} leaked the secret: {r:?}");
        let h = fetch(&server, "HEAD", target, "");
        assert!(matches!(h.status, 400 | 403 | 404), "HEAD {target}: {h:?}");
    }

    // Ranges.
    let r = fetch(&server, "GET", "/hello.txt", "Range: bytes=0-3\r\n");
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.body, b"hell");
    let size = HELLO.len();
    assert_eq!(r.field("Content-Range"), Some(format!("bytes 0-3/{size}").as_str()));
    let r = fetch(&server, "GET", "/hello.txt", "Range: bytes=-6\r\n");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"world\n"[..]), "{r:?}");
    let r = fetch(&server, "GET", "/hello.txt", "Range: bytes=999999-\r\n");
    assert_eq!(r.status, 416, "{r:?}");
    assert_eq!(r.field("Content-Range"), Some(format!("bytes */{size}").as_str()));

    // If-Modified-Since.
    let r = fetch(&server, "GET", "/hello.txt", &format!("If-Modified-Since: {last_modified}\r\n"));
    assert_eq!(r.status, 304, "{r:?}");
    assert!(r.body.is_empty());
    let r =
        fetch(&server, "GET", "/hello.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
    assert_eq!((r.status, r.body.as_slice()), (200, HELLO), "{r:?}");

    // All of it on one keep-alive connection, too.
    let mut conn = server.connect();
    for target in ["/hello.txt", "/missing", "/../secret.txt", "/sub/", "/hello.txt"] {
        conn.send(get(target));
        let r = conn.read_response();
        assert!(matches!(r.status, 200 | 404), "{target}: {r:?}");
        assert!(!r.text().contains(SECRET));
    }
    server.stop();
}

/// A client that sends its request and shuts its write side (`printf ... |
/// nc`) still gets the answer, then the close.
fn half_closed_client_still_answered(rt: &'static str) {
    let server = Server::start(rt, &["http"]);
    let mut conn = server.connect_tcp();
    conn.send(format!("{}{}", get("/h1"), get("/h2")));
    conn.stream().shutdown(std::net::Shutdown::Write).expect("shutdown");
    assert_hello(&conn.read_response(), "/h1");
    let last = conn.read_response();
    assert_eq!((last.status, last.text()), (200, page("/h2")), "{last:?}");
    conn.expect_closed();
    server.stop();
}

/// `Connection: close` in a pipeline: that request is the last answered.
fn connection_close_ends_a_pipeline(rt: &'static str) {
    let server = Server::start(rt, &["http"]);
    let mut conn = server.connect_tcp();
    conn.send(format!(
        "{}GET /bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n{}",
        get("/a"),
        get("/never")
    ));
    assert_hello(&conn.read_response(), "/a");
    let bye = conn.read_response();
    assert_eq!((bye.status, bye.text()), (200, page("/bye")));
    assert!(bye.closes(), "{bye:?}");
    conn.expect_closed();
    server.stop();
}

/// `Expect: 100-continue` with a body over the limit: 413 at once, no
/// `100 Continue`.
fn expect_continue_over_the_limit(rt: &'static str) {
    let server = Server::start(rt, &["http", "--max-body", "10"]);
    let mut conn = server.connect_tcp();
    conn.send("PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    assert_rejected(&mut conn, 413);
    server.stop();
}

/// A 4 MiB upload (Content-Length and chunked) and a 3 MiB file download
/// (whole, ranged, HEAD) on one connection.
fn big_bodies_both_ways(rt: &'static str) {
    let top = tempfile::tempdir().expect("temp dir");
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    fs::write(top.path().join("big.bin"), &data).expect("write");
    let server = Server::start(rt, &["http".as_ref(), "--root".as_ref(), top.path().as_os_str()]);
    let mut conn = server.connect_tcp();
    for _ in 0..2 {
        conn.send(get("/big.bin"));
        let r = conn.read_response();
        assert_eq!(r.status, 200);
        assert!(r.body == data, "the 3 MiB body differs ({} bytes came)", r.body.len());
    }
    conn.send("GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000000-1999999\r\n\r\n");
    let r = conn.read_response();
    assert_eq!(r.status, 206);
    assert!(r.body == data[1_000_000..2_000_000], "the ranged body differs");
    conn.send("HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = conn.read_head_response();
    assert_eq!((r.status, r.content_length()), (200, Some(data.len() as u64)));
    conn.send(get("/missing"));
    assert_eq!(conn.read_response().status, 404);
    drop(conn);
    server.stop();

    let server = Server::start(rt, &["http"]);
    let mut conn = server.connect_tcp();
    let body = vec![b'u'; 4 << 20];
    conn.send(format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    conn.send(&body);
    assert_hello(&conn.read_response(), "/upload");
    conn.send("POST /chunks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for piece in body.chunks(100_000) {
        conn.send(format!("{:x}\r\n", piece.len()));
        conn.send(piece);
        conn.send("\r\n");
    }
    conn.send("0\r\n\r\n");
    assert_hello(&conn.read_response(), "/chunks");
    server.stop();
}

/// 20,000 pipelined requests written by one thread while another reads:
/// the server reads only as fast as the answers leave, and answers all in
/// order.
fn pipelined_flood_with_backpressure(rt: &'static str) {
    const N: usize = 20_000;
    let server = Server::start(rt, &["http"]);
    let mut conn = server.connect_tcp();
    let mut writer = conn.stream().try_clone().expect("clone");
    thread::scope(|s| {
        s.spawn(move || {
            use std::io::Write;
            let mut batch = String::new();
            for i in 0..N {
                batch.push_str(&get(&format!("/f{i}")));
                if batch.len() > 32 * 1024 || i == N - 1 {
                    writer.write_all(batch.as_bytes()).expect("write the flood");
                    batch.clear();
                }
            }
        });
        for i in 0..N {
            let r = conn.read_response();
            assert_eq!(r.status, 200, "response {i}");
            assert_eq!(r.text(), page(&format!("/f{i}")), "response {i}");
        }
    });
    server.stop();
}

/// `--idle-timeout 1`: an idle keep-alive connection is closed quietly; a
/// body that stalls gets 408.
fn idle_and_stalled_body_timeouts(rt: &'static str) {
    let server = Server::start(rt, &["http", "--idle-timeout", "1"]);
    let mut idle = server.connect_tcp();
    idle.send(get("/x"));
    assert_hello(&idle.read_response(), "/x");
    let mut stalled = server.connect_tcp();
    stalled.send("POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    let started = Instant::now();
    idle.expect_closed();
    assert_rejected(&mut stalled, 408);
    assert_about_a_second(started, "closed, idle timeout 1 s");
    server.stop();
}

/// Asserts that about a second (a timeout of 1 s, give or take the
/// scheduling of a loaded machine) has passed since `started`.
#[track_caller]
fn assert_about_a_second(started: Instant, what: &str) {
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_millis(3000),
        "{what} after {elapsed:?}"
    );
}

/// SIGINT stops the server like SIGTERM (exit 0).
fn sigint_stops_gracefully(rt: &'static str) {
    let mut server = Server::start(rt, &["http"]);
    assert_hello(&exchange(&server, get("/i")), "/i");
    let status = Command::new("kill")
        .args(["-INT", &server.pid().to_string()])
        .status()
        .expect("run kill(1)");
    assert!(status.success());
    let exit = server.wait_exit(support::STOP_TIMEOUT).expect("exits after SIGINT");
    assert!(exit.success(), "exit status {exit} after SIGINT: {}", server.stderr());
}

/// A server that cannot start exits non-zero with one `error: ...` line.
fn startup_errors(rt: &'static str) {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().expect("addr").to_string();
    let missing = tempfile::tempdir().expect("temp dir").path().join("nope");
    let missing = missing.to_str().expect("UTF-8 path");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain-file");
    fs::write(&file, "not a directory, not a socket").expect("write");
    let file = file.to_str().expect("UTF-8 path");
    let sock = dir.path().join("s.sock");
    let sock = sock.to_str().expect("UTF-8 path");
    for args in [
        vec!["http", "--bind", taken.as_str(), "--no-reuse-address"],
        vec!["http", "--bind", "127.0.0.1:0", "--root", missing],
        vec!["http", "--bind", "127.0.0.1:0", "--root", file],
        vec!["http", "--bind", "127.0.0.1:0", "--unix", sock],
        vec!["http", "--unix", file],
        vec!["http", "--bind", "not-an-address"],
    ] {
        let out = run_bounded(
            Command::new(support::sansnet_bin()).arg("--runtime").arg(rt).args(&args),
            b"",
            Duration::from_secs(10),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            out.stdout.is_empty(),
            "{args:?} printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr.starts_with("error: ") && stderr.ends_with('\n') && stderr.lines().count() == 1,
            "{args:?}: stderr is not one `error:` line: {stderr:?}"
        );
    }
}

/// `--max-connections 2`: a third connection is closed at once; when one
/// ends, a new one is served.
fn connection_cap(rt: &'static str) {
    let server = Server::start(rt, &["http", "--max-connections", "2"]);
    let mut a = server.connect_tcp();
    let mut b = server.connect_tcp();
    for (conn, path) in [(&mut a, "/a"), (&mut b, "/b")] {
        conn.send(get(path));
        assert_hello(&conn.read_response(), path);
    }
    let mut third = server.connect_tcp();
    let _ = third.try_send(get("/third").as_bytes()); // may race the close
    third.expect_closed();
    drop(a);
    // The slot frees once the server has seen `a` close: retry, bounded.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut next = server.connect_tcp();
        let _ = next.try_send(get("/next").as_bytes());
        match next.fill() {
            Ok(n) if n > 0 => {
                assert_hello(&next.read_response(), "/next");
                break;
            }
            _ => assert!(Instant::now() < deadline, "no slot freed after a connection closed"),
        }
        thread::sleep(Duration::from_millis(20));
    }
    server.stop();
}

/// A socket file left by a dead server is replaced.
fn unix_socket_replaces_a_stale_one(rt: &'static str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists(), "std leaves the file behind");
    let server = Server::spawn(rt, &["http".as_ref(), "--unix".as_ref(), path.as_os_str()]);
    assert_hello(&exchange(&server, get("/fresh")), "/fresh");
    server.stop();
}

/// Once a shutdown has begun (an idle connection was closed by it), a new
/// client is refused, or at least closed promptly, not left hanging.
fn new_connections_refused_during_shutdown(rt: &'static str) {
    let server = Server::start(rt, &["http"]);
    let addr = server.tcp_addr();
    let mut idle = server.connect_tcp();
    idle.send(get("/idle"));
    assert_hello(&idle.read_response(), "/idle");
    let mut busy = server.connect_tcp();
    busy.send("POST /busy HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    thread::sleep(Duration::from_millis(150));
    server.terminate();
    idle.expect_closed();
    let started = Instant::now();
    match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        // Refused, or reset when the listener closed with the connection
        // still in its accept queue: either way the client knows at once.
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Ok(stream) => {
            stream.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
            stream.set_write_timeout(Some(Duration::from_secs(1))).expect("timeout");
            let mut late = Conn::new(stream);
            let _ = late.try_send(get("/late").as_bytes());
            let outcome = late.fill();
            let closed = matches!(outcome, Ok(0))
                || matches!(&outcome, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset);
            assert!(
                closed,
                "on {rt}, a connection made during shutdown was neither refused nor closed: \
                 {outcome:?} after {:?}, got {:?}",
                started.elapsed(),
                String::from_utf8_lossy(late.buffered())
            );
        }
    }
    busy.send("cd");
    assert_hello(&busy.read_response(), "/busy");
    server.expect_exit_ok();
}

/// A command-line usage error (a bad flag value) exits non-zero and starts
/// its stderr with `error: `.
#[test]
fn usage_error_exits_non_zero() {
    let out = usage_error();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
}

/// PROTOCOLS.md: "non-zero with a one-line `error: ...` on stderr".
#[test]
fn usage_error_is_one_line() {
    let out = usage_error();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: ") && stderr.lines().count() == 1, "{stderr:?}");
}

fn usage_error() -> std::process::Output {
    run_bounded(
        Command::new(support::sansnet_bin()).args([
            "http",
            "--bind",
            "127.0.0.1:0",
            "--max-body",
            "12X",
        ]),
        b"",
        Duration::from_secs(10),
    )
}

/// `--max-chunk-ext`: more chunk-extension bytes than the limit is a 400.
fn chunk_extension_limit(rt: &'static str) {
    let server = Server::start(rt, &["http", "--max-chunk-ext", "16"]);
    let mut ok = server.connect_tcp();
    ok.send(
        "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\nx\r\n0\r\n\r\n",
    );
    assert_hello(&ok.read_response(), "/c");
    let mut long = server.connect_tcp();
    let ext = "e".repeat(40);
    long.send(format!(
        "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;{ext}\r\nx\r\n0\r\n\r\n"
    ));
    assert_rejected(&mut long, 400);
    server.stop();
}

/// `--grace`: after SIGTERM an exchange that never completes is cut when
/// the grace period ends, and the server still exits 0.
fn grace_period_bounds_the_stop(rt: &'static str) {
    let mut server = Server::start(rt, &["http", "--grace", "1"]);
    let mut stuck = server.connect_tcp();
    stuck.send("POST /g HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly part");
    // Let the server take the head in before the signal.
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    server.terminate();
    let exit = server.wait_exit(support::STOP_TIMEOUT).expect("exits after the grace period");
    let took = started.elapsed();
    assert!(exit.success(), "exit status {exit}: {}", server.stderr());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "stopped after {took:?} with --grace 1"
    );
    drop(stuck);
}

/// `--write-timeout`: a client that asks for a large file and never reads
/// is dropped once the server's writes have stalled that long.
fn write_timeout_drops_a_peer_that_never_reads(rt: &'static str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.bin");
    fs::File::create(&big).and_then(|f| f.set_len(256 << 20)).expect("sparse file");
    let root = dir.path().to_str().expect("UTF-8 path");
    let server = Server::start(rt, &["http", "--root", root, "--write-timeout", "1"]);
    let mut conn = server.connect_tcp();
    conn.send(get("/big.bin"));
    // Never read for a while: the server's writes stall, then time out.
    std::thread::sleep(Duration::from_millis(2500));
    // Now drain: the server must have given up, so the stream ends (EOF or
    // reset) well before 256 MiB, instead of our read timing out.
    let mut total = 0usize;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(20), "still streaming after 20 s");
        match conn.fill() {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("expected the server to drop us, got {e} after {total} bytes"),
        }
    }
    assert!(total < 256 << 20, "the whole file arrived: the server never gave up");
    server.stop();
}

// Issue 13, item 8: FIFOs under the root.
per_runtime!(a_fifo_under_the_root_is_answered);

/// A FIFO under `--root` (a file, and a directory's `index.html`) is not a
/// regular file: answered like any other non-file at once, never opened in
/// a way that waits for a writer, and the server goes on serving.
fn a_fifo_under_the_root_is_answered(rt: &'static str) {
    assert!(support::have_program("mkfifo"), "mkfifo (coreutils) is needed");
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("hello.txt"), HELLO).expect("write");
    fs::create_dir(dir.path().join("d")).expect("mkdir");
    for fifo in ["pipe", "d/index.html"] {
        let made = Command::new("mkfifo").arg(dir.path().join(fifo)).status().expect("mkfifo");
        assert!(made.success(), "mkfifo {fifo}");
    }
    let root = dir.path().to_str().expect("UTF-8 path");
    let server = Server::start(rt, &["http", "--root", root]);
    for _ in 0..2 {
        let r = fetch(&server, "GET", "/pipe", "");
        assert_eq!(r.status, 404, "{r:?}");
        let r = fetch(&server, "GET", "/d/", "");
        assert_eq!(r.status, 200, "{r:?}");
        assert!(String::from_utf8_lossy(&r.body).contains("index.html"), "a listing");
        let r = fetch(&server, "GET", "/hello.txt", "");
        assert_eq!((r.status, &r.body[..]), (200, HELLO), "{r:?}");
    }
    server.stop();
}

/// `--body-timeout 1`: a body trickled a byte every 200 ms (each byte
/// restarts the idle timer, so that one never fires) is answered 408 with
/// `Connection: close` once the second is up.
fn trickled_body_gets_408_at_the_body_timeout(rt: &'static str) {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    let server = Server::start(rt, &["http", "--body-timeout", "1"]);
    let mut conn = server.connect_tcp();
    conn.send("POST /t HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    let started = Instant::now();
    let mut trickle = conn.stream().try_clone().expect("clone the stream");
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(10) {
                if trickle.write_all(b"x").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(200));
            }
        });
        assert_rejected(&mut conn, 408);
        stop.store(true, Ordering::Relaxed);
    });
    assert_about_a_second(started, "408, body timeout 1 s");
    server.stop();
}

/// `--root`: `X-Content-Type-Options: nosniff`, no file behind a trailing
/// `.` segment, an `If-Modified-Since` in the future ignored, and no
/// listing of symlinks that leave the root.
fn static_files_hardening(rt: &'static str) {
    let top = tempfile::tempdir().expect("temp dir");
    let root = make_site(top.path());
    let server = Server::start(rt, &["http".as_ref(), "--root".as_ref(), root.as_os_str()]);
    let r = fetch(&server, "GET", "/hello.txt", "");
    assert_eq!((r.status, r.field("X-Content-Type-Options")), (200, Some("nosniff")), "{r:?}");
    for target in ["/hello.txt/.", "/hello.txt/%2e", "/hello.txt/./", "/alias.txt/."] {
        let r = fetch(&server, "GET", target, "");
        assert_eq!(r.status, 404, "{target}: {r:?}");
        assert_eq!(r.field("X-Content-Type-Options"), Some("nosniff"), "{target}");
    }
    let future = "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n";
    let r = fetch(&server, "GET", "/hello.txt", future);
    assert_eq!((r.status, r.body.as_slice()), (200, HELLO), "a date in the future: {r:?}");
    let listing = fetch(&server, "GET", "/", "").text();
    assert!(listing.contains("href=\"alias.txt\""), "{listing}");
    for outside in ["href=\"out\"", "href=\"up/\"", "href=\"up\""] {
        assert!(!listing.contains(outside), "{outside} listed: {listing}");
    }
    server.stop();
}
