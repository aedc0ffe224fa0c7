//! Which reactor a runtime waits on, and in what order it runs what its
//! reactor woke. tokio runs the one async driver on its own reactor, so a
//! tokio program starts no async-io reactor thread (a thread named
//! `async-io`), while smol's (async-io) does: the check below sees it, and
//! would see it under tokio too if the driver still used async-io there.
//! And tokio polls the server before the tasks its reactor woke: at the
//! connection cap, a connect that came with the end of other connections
//! was refused for nothing until the accept loop let those finish first.

use std::fs;
use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{IO_TIMEOUT, Server, exchange, per_runtime};

per_runtime!(slots_freed_with_a_connect_serve_it);

/// The names of `pid`'s threads.
fn threads(pid: u32) -> Vec<String> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    tasks
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// Serves one HTTP request on `rt`; whether an `async-io` thread shows
/// within `wait` (a new thread names itself once it runs).
fn http_has_async_io(rt: &'static str, wait: Duration) -> bool {
    let server = Server::start(rt, &["http"]);
    let r = exchange(&server, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{rt}");
    let deadline = Instant::now() + wait;
    let seen = loop {
        let names = threads(server.pid());
        if names.iter().any(|t| t == "async-io") || Instant::now() >= deadline {
            break names.iter().any(|t| t == "async-io");
        }
        thread::sleep(Duration::from_millis(20));
    };
    server.stop();
    seen
}

#[test]
fn tokio_runs_no_async_io_thread() {
    assert!(http_has_async_io("smol", Duration::from_secs(5)), "the check sees async-io");
    assert!(!http_has_async_io("tokio", Duration::from_millis(200)), "http on tokio");

    // The hub (chat), and the TCP and UDP echo servers, exercised once each.
    let chat = Server::start("tokio", &["chat", "serve"]);
    let mut member = chat.connect_tcp();
    member.send(b"{\"username\":\"a\"}\n");
    assert_eq!(member.read_line(), "{\"type\":\"joined\",\"username\":\"a\"}\n");
    let names = threads(chat.pid());
    assert!(!names.iter().any(|t| t == "async-io"), "chat on tokio: {names:?}");
    chat.stop();

    // A chat server in a room across servers: its bridge to Redis runs
    // on tokio too.
    let redis = crate::cluster::Redis::start();
    let chat = Server::start("tokio", &["chat", "serve", "--redis", &redis.url()]);
    let mut member = chat.connect_tcp();
    member.send(b"{\"username\":\"a\"}\n");
    assert_eq!(member.read_line(), "{\"type\":\"joined\",\"username\":\"a\"}\n");
    let names = threads(chat.pid());
    assert!(names.iter().any(|t| t == "sansnet-redis"), "{names:?}");
    assert!(!names.iter().any(|t| t == "async-io"), "chat --redis on tokio: {names:?}");
    chat.stop();

    let echo = Server::start("tokio", &["echo"]);
    let mut conn = echo.connect_tcp();
    conn.send(b"ping\n");
    assert_eq!(conn.read_exact_bytes(5), b"ping\n");
    let names = threads(echo.pid());
    assert!(!names.iter().any(|t| t == "async-io"), "echo on tokio: {names:?}");
    echo.stop();

    let udp = Server::start("tokio", &["echo", "--udp"]);
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    client.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    client.send_to(b"ping", udp.tcp_addr()).expect("send_to");
    let mut buf = [0u8; 16];
    assert_eq!(client.recv_from(&mut buf).expect("the echo").0, 4);
    let names = threads(udp.pid());
    assert!(!names.iter().any(|t| t == "async-io"), "udp echo on tokio: {names:?}");
    udp.stop();
}

/// Every slot of `--max-connections` held, then all closed, the last with a
/// new client right behind it: it is served, not refused.
fn slots_freed_with_a_connect_serve_it(rt: &'static str) {
    const CAP: usize = 50;
    let server = Server::start(rt, &["http", "--max-connections", &CAP.to_string()]);
    let mut held: Vec<_> = (0..CAP).map(|_| server.connect_tcp()).collect();
    for conn in &mut held {
        conn.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(conn.read_response().status, 200, "{rt}");
    }
    let last = held.pop();
    drop(held);
    thread::sleep(Duration::from_millis(200)); // the server has seen those go
    // The last one goes with the next client right behind it: both news
    // reach the server in one round of its reactor.
    drop(last);
    let r = exchange(&server, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{rt}");
    server.stop();
}
