//! Peers that read a few bytes now and then, on every runtime: the write
//! timeout bounds how long each chunk may take to be written, so a trickle
//! cannot hold a connection past it (a partial write at the deadline is a
//! stall, on std as on the async runtimes).

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{IO_TIMEOUT, Server, per_runtime, run_bounded, sansnet_bin};

per_runtime!(
    http_write_timeout_drops_a_trickling_reader,
    file_send_honours_write_timeout,
    chat_write_timeout_drops_a_trickling_member,
);

/// What a trickling peer reads at a time, and how often: about 20 KB/s,
/// through a receive buffer of a few KiB.
const SIP: usize = 1024;
const EVERY: Duration = Duration::from_millis(50);
const RCVBUF: usize = 2048;

/// A socket with a small receive buffer, set before it connects or
/// listens (so the window stays small).
fn small_rcvbuf(addr: SocketAddr) -> socket2::Socket {
    use socket2::{Domain, Protocol, Socket, Type};
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.set_recv_buffer_size(RCVBUF).expect("SO_RCVBUF");
    s
}

/// Reads `SIP` bytes every `EVERY` until the peer ends the stream (or
/// resets it); panics if that takes longer than `bound`. How long it took.
fn trickle_until_dropped(s: &mut TcpStream, bound: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; SIP];
    let mut total = 0usize;
    loop {
        assert!(started.elapsed() < bound, "still sending after {bound:?} ({total} bytes read)");
        match s.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("reading after {total} bytes: {e}"),
        }
        thread::sleep(EVERY);
    }
}

/// `http --write-timeout 1`: a client that reads 1 KiB every 50 ms from a
/// large file (each read lets the server's socket take a little more) is
/// dropped about a second after the server's write began, not served for
/// as long as it keeps trickling.
fn http_write_timeout_drops_a_trickling_reader(rt: &'static str) {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::File::create(dir.path().join("big.bin"))
        .and_then(|f| f.set_len(64 << 20))
        .expect("sparse file");
    let root = dir.path().to_str().expect("UTF-8 path");
    // A small send buffer too: what is queued when the server gives up
    // reaches us within a second.
    let args = ["http", "--root", root, "--write-timeout", "1", "--send-buffer", "4K"];
    let server = Server::start(rt, &args);
    let addr = server.tcp_addr();
    let s = small_rcvbuf(addr);
    s.connect_timeout(&addr.into(), IO_TIMEOUT).expect("connect");
    let mut s = TcpStream::from(s);
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n").expect("request");
    let took = trickle_until_dropped(&mut s, Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "dropped after {took:?} with --write-timeout 1");
    server.stop();
}

/// `file send --write-timeout 1` (and `--timeout 30`): a receiver that
/// acknowledges the offer and then reads 1 KiB every 50 ms is given up on
/// after about a second, not after `--timeout`.
fn file_send_honours_write_timeout(rt: &'static str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data.bin");
    fs::File::create(&path).and_then(|f| f.set_len(64 << 20)).expect("sparse file");
    let any: SocketAddr = ([127, 0, 0, 1], 0).into();
    let listener = small_rcvbuf(any);
    listener.bind(&any.into()).expect("bind");
    listener.listen(1).expect("listen");
    let listener = TcpListener::from(listener);
    let addr = listener.local_addr().expect("address");
    thread::scope(|scope| {
        let receiver = scope.spawn(|| {
            let (mut s, _) = listener.accept().expect("accept");
            s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
            let mut header = Vec::new();
            let mut byte = [0u8; 1];
            while !header.ends_with(b"\n") {
                assert!(header.len() < 4096, "no header line: {header:?}");
                s.read_exact(&mut byte).expect("the header");
                header.push(byte[0]);
            }
            s.write_all(b"OK 0\n").expect("the ack");
            trickle_until_dropped(&mut s, Duration::from_secs(15))
        });
        let started = Instant::now();
        let mut cmd = Command::new(sansnet_bin());
        cmd.args(["--runtime", rt, "file", "send", "--quiet", "--timeout", "30"])
            .args(["--write-timeout", "1", "--send-buffer", "4K"])
            .arg(&path)
            .arg(addr.to_string());
        let out = run_bounded(&mut cmd, b"", Duration::from_secs(15));
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "sent 64 MiB to a trickle? {stderr}");
        assert!(took < Duration::from_secs(5), "gave up after {took:?}: {stderr}");
        receiver.join().expect("the receiver");
    });
}

/// `chat serve --write-timeout 1` (and an outbound budget too large to
/// matter): a member that reads 1 KiB every 50 ms while another talks fast
/// is dropped by its writer about a second into a batch it cannot take.
fn chat_write_timeout_drops_a_trickling_member(rt: &'static str) {
    let args = ["chat", "serve", "--write-timeout", "1", "--outbound-budget", "64M"];
    let server = Server::start(rt, &[&args[..], &["--send-buffer", "4K"]].concat());
    let addr = server.tcp_addr();
    let s = small_rcvbuf(addr);
    s.connect_timeout(&addr.into(), IO_TIMEOUT).expect("connect");
    let mut slow = TcpStream::from(s);
    slow.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    slow.write_all(br#"{"username":"slow"}"#).expect("join");
    let mut talker = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    talker.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    talker.write_all(br#"{"username":"talker"}"#).expect("join");
    let line = format!(r#"{{"content":"{}"}}"#, "x".repeat(2000));
    thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..1000 {
                if talker.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        });
        let took = trickle_until_dropped(&mut slow, Duration::from_secs(10));
        assert!(took < Duration::from_secs(5), "dropped after {took:?} with --write-timeout 1");
    });
    server.stop();
}
