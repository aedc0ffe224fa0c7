//! `sansnet chat serve --web ADDR` (PROTOCOLS.md §7): the chat page and
//! its WebSocket, browser members in the room with TCP members, on every
//! runtime.
//!
//! The real client is Python's `websockets` library (.ci/run installs
//! it); bad frames, which no library sends, come from [`Ws`], a raw
//! client built on the core's own frame codec.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sansnet_proto::ws::{self, Frame, FrameDecoder, Opcode, Role, encode_frame, handshake};

use crate::chat::{Client, joined, left, message, users};
use crate::cluster::{Redis, until_users};
use crate::pki::Pki;
use crate::support::{IO_TIMEOUT, Server, per_runtime, run_bounded, tcp_connect};

per_runtime!(
    python_websockets_client,
    the_page_and_other_paths,
    bad_handshakes_are_refused,
    bad_frames_close_with_their_codes,
    a_peer_that_never_answers_the_close,
    wss_with_tls,
    a_browser_member_in_a_cluster_room,
    a_stopping_server_says_going_away,
);

/// The Python `websockets` client, as a browser member named `py`: it
/// joins, talks with `bob` (a TCP member), sends a fragmented message,
/// asks for the list, pings, and closes with 1000. Prints `ok`.
const PY_CLIENT: &str = r#"
import asyncio, json, sys
import websockets

async def main():
    uri = sys.argv[1]
    async with websockets.connect(uri, open_timeout=10, close_timeout=5) as ws:
        async def event():
            return json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"username": "py"}))
        e = await event()
        assert e == {"type": "joined", "username": "py"}, e
        await ws.send(json.dumps({"content": "h\u00e9llo \U0001f389 from py"}))
        e = await event()
        assert e == {"type": "message", "from": "bob", "content": "hi py"}, e
        await ws.send(iter(['{"content":', ' "in parts"}']))
        await ws.send(json.dumps({"list": True}))
        e = await event()
        assert e == {"type": "users", "users": ["bob", "py"]}, e
        pong = await ws.ping(b"still there?")
        await asyncio.wait_for(pong, 10)
    assert ws.close_code == 1000, ws.close_code
    print("ok")

asyncio.run(main())
"#;

/// Whether Python's `websockets` can be imported (CI installs it).
fn need_websockets() {
    let out = run_bounded(
        Command::new("python3").args(["-c", "import websockets"]),
        b"",
        Duration::from_secs(20),
    );
    assert!(
        out.status.success(),
        "python3 with the websockets library is needed (.ci/run installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `chat serve --web 127.0.0.1:0` with `extra` flags: the server and its
/// web address.
fn start(rt: &'static str, extra: &[&str]) -> (Server, SocketAddr) {
    let mut args = vec!["chat", "serve", "--web", "127.0.0.1:0"];
    args.extend(extra);
    let mut server = Server::start(rt, &args);
    let web = server.second_addr();
    (server, web)
}

/// Runs [`PY_CLIENT`] against `uri` while `bob` plays his part.
fn python_member(rt: &str, uri: String, bob: &mut Client) {
    need_websockets();
    let python = std::thread::spawn(move || {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", PY_CLIENT, &uri]);
        run_bounded(&mut cmd, b"", Duration::from_secs(30))
    });
    bob.expect(&joined("py"));
    bob.expect(&message("py", "héllo 🎉 from py"));
    bob.say("hi py");
    bob.expect(&message("py", "in parts"));
    bob.expect(&left("py"));
    let out = python.join().expect("python thread");
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "websockets client on {rt}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python_websockets_client(rt: &'static str) {
    let (server, web) = start(rt, &[]);
    let mut bob = Client::join(&server, "bob");
    python_member(rt, format!("ws://{web}/ws"), &mut bob);
    bob.send(r#"{"list":true}"#);
    bob.expect(&users(&["bob"]));
    server.stop();
}

/// One HTTP request on a new connection: the whole answer (the server
/// closes after it: `Connection: close`).
fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = tcp_connect(addr);
    s.write_all(request.as_bytes()).expect("write");
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

fn the_page_and_other_paths(rt: &'static str) {
    let (server, web) = start(rt, &[]);
    let page = http(web, "GET /?name=ann HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html; charset=utf-8\r\n"), "{page}");
    assert!(page.contains("Content-Security-Policy: default-src 'none'"), "{page}");
    let body = &page[page.find("\r\n\r\n").expect("a head") + 4..];
    assert_eq!(body, sansnet_apps::chat::PAGE);
    let head = http(web, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "{head}");
    let missing = http(web, "GET /page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404 Not Found\r\n"), "{missing}");
    let post =
        http(web, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD\r\n"), "{post}");
    // The TCP port still speaks §2 only.
    let mut bob = Client::join(&server, "bob");
    bob.send(r#"{"list":true}"#);
    bob.expect(&users(&["bob"]));
    server.stop();
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn upgrade(web: SocketAddr, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {web}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn bad_handshakes_are_refused(rt: &'static str) {
    let (server, web) = start(rt, &[]);
    let good = upgrade(web, "");
    let cases = [
        (good.replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""), "HTTP/1.1 400 "),
        (good.replace("Sec-WebSocket-Key: dGhl", "Sec-WebSocket-Key: !!"), "HTTP/1.1 400 "),
        (good.replace("Version: 13", "Version: 8"), "HTTP/1.1 426 "),
        (good.replace("GET /ws", "POST /ws"), "HTTP/1.1 400 "),
        (good.replace("Upgrade: websocket\r\n", ""), "HTTP/1.1 400 "),
        (upgrade(web, "Origin: http://evil.example\r\n"), "HTTP/1.1 403 "),
    ];
    for (request, want) in cases {
        let answer = http(web, &request);
        assert!(answer.starts_with(want), "{rt}: {request}\n->\n{answer}");
        if want.contains("426") {
            assert!(answer.contains("Sec-WebSocket-Version: 13\r\n"), "{answer}");
        }
    }
    // The page's own origin is welcome.
    let (_ws, head) = Ws::open(web, &format!("Origin: http://{web}\r\n"));
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    server.stop();
}

fn bad_frames_close_with_their_codes(rt: &'static str) {
    let (server, web) = start(rt, &["--max-frame", "1024"]);
    let mut bob = Client::join(&server, "bob");
    let masked = |opcode, payload: &[u8]| {
        let mut b = BytesMut::new();
        encode_frame(&mut b, true, opcode, payload, Some([9, 8, 7, 6]));
        b.to_vec()
    };
    let unmasked = {
        let mut b = BytesMut::new();
        encode_frame(&mut b, true, Opcode::Text, br#"{"content":"x"}"#, None);
        b.to_vec()
    };
    let big = format!(r#"{{"content":"{}"}}"#, "x".repeat(2000));
    let cases: [(Vec<u8>, u16); 5] = [
        (unmasked, 1002),
        (vec![0x83, 0x80, 1, 2, 3, 4], 1002),
        (masked(Opcode::Text, &[b'"', 0xc3, 0x28]), 1007),
        (masked(Opcode::Text, big.as_bytes()), 1009),
        (masked(Opcode::Binary, b"\x01"), 1003),
    ];
    for (i, (bytes, code)) in cases.into_iter().enumerate() {
        let name = format!("eve{i}");
        let mut eve = Ws::join(web, &name);
        bob.expect(&joined(&name));
        eve.send_raw(&bytes);
        assert_eq!(eve.close_code(), Some(code), "{rt}: case {i}");
        eve.answer_close(code);
        assert!(eve.ends(), "{rt}: case {i}: the server closes once the handshake is done");
        bob.expect(&left(&name));
    }
    // A ping is answered, between the fragments of a message too.
    let mut ann = Ws::join(web, "ann");
    bob.expect(&joined("ann"));
    let mut b = BytesMut::new();
    encode_frame(&mut b, false, Opcode::Text, br#"{"content":"#, Some([1, 2, 3, 4]));
    encode_frame(&mut b, true, Opcode::Ping, b"ping!", Some([1, 2, 3, 4]));
    encode_frame(&mut b, true, Opcode::Continuation, br#""frag"}"#, Some([1, 2, 3, 4]));
    ann.send_raw(&b);
    let pong = ann.next().expect("a pong");
    assert_eq!((pong.opcode, &pong.payload[..]), (Opcode::Pong, &b"ping!"[..]));
    bob.expect(&message("ann", "frag"));
    bob.send(r#"{"list":true}"#);
    bob.expect(&users(&["ann", "bob"]));
    server.stop();
}

fn a_peer_that_never_answers_the_close(rt: &'static str) {
    let (server, web) = start(rt, &["--ws-close-timeout", "0.3"]);
    let mut bob = Client::join(&server, "bob");
    let mut sam = Ws::join(web, "sam");
    bob.expect(&joined("sam"));
    let start = Instant::now();
    // Not JSON: the room answers bad_json and closes the member.
    sam.send(Opcode::Text, b"not json");
    let error = sam.next().expect("the error event");
    assert!(error.payload.starts_with(br#"{"type":"error","code":"bad_json""#), "{error:?}");
    assert_eq!(sam.close_code(), Some(1000));
    bob.expect(&left("sam"));
    // We never answer: the server closes the connection after the timeout.
    assert!(sam.ends(), "{rt}: still open");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250), "{rt}: closed after {waited:?}");
    server.stop();
}

fn wss_with_tls(rt: &'static str) {
    let pki = Pki::new(&[]);
    let (cert, key) = (pki.server().display().to_string(), pki.server_key().display().to_string());
    let (server, web) = start(rt, &["--tls-cert", &cert, "--tls-key", &key]);
    let ca = pki.ca().display().to_string();
    let url = format!("https://127.0.0.1:{}/", web.port());
    let out = run_bounded(
        Command::new("curl").args(["-sS", "--max-time", "10", "--cacert", &ca, &url]),
        b"",
        Duration::from_secs(15),
    );
    assert!(out.status.success(), "curl on {rt}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), sansnet_apps::chat::PAGE);
    need_websockets();
    let uri = format!("wss://127.0.0.1:{}/ws", web.port());
    let out = run_bounded(
        Command::new("python3").args(["-c", PY_WSS, &uri, &ca]),
        b"",
        Duration::from_secs(30),
    );
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "wss on {rt}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Plaintext on the TLS web port gets nothing but an alert.
    let answer = http(web, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(!answer.contains("HTTP/1.1"), "{answer}");
    server.stop();
}

/// Two members over `wss://` with Python's `ssl` and `websockets`.
const PY_WSS: &str = r#"
import asyncio, json, ssl, sys
import websockets

async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[2])
    async with websockets.connect(sys.argv[1], ssl=ctx, open_timeout=10) as bob:
        async with websockets.connect(sys.argv[1], ssl=ctx, open_timeout=10) as py:
            async def event(ws):
                return json.loads(await asyncio.wait_for(ws.recv(), 10))
            await bob.send(json.dumps({"username": "bob"}))
            assert await event(bob) == {"type": "joined", "username": "bob"}
            await py.send(json.dumps({"username": "py"}))
            assert await event(py) == {"type": "joined", "username": "py"}
            assert await event(bob) == {"type": "joined", "username": "py"}
            await py.send(json.dumps({"content": "over wss"}))
            e = await event(bob)
            assert e == {"type": "message", "from": "py", "content": "over wss"}, e
    print("ok")

asyncio.run(main())
"#;

fn a_browser_member_in_a_cluster_room(rt: &'static str) {
    let redis = Redis::start();
    let cluster = ["--redis", &redis.url(), "--node-ttl", "1"];
    let (a, web) = start(rt, &cluster);
    let b = Server::start(rt, &[&["chat", "serve"][..], &cluster[..]].concat());
    let mut wendy = Ws::join(web, "wendy");
    let mut bob = Client::join(&b, "bob");
    until_users(&mut bob, &["bob", "wendy"]);
    wendy.send(Opcode::Text, br#"{"content":"hi from the browser"}"#);
    bob.expect(&message("wendy", "hi from the browser"));
    bob.say("hi wendy");
    let want = message("bob", "hi wendy");
    wendy.until_text(&want);
    wendy.send(Opcode::Close, &1000u16.to_be_bytes());
    bob.expect(&left("wendy"));
    a.stop();
    b.stop();
}

fn a_stopping_server_says_going_away(rt: &'static str) {
    let (server, web) = start(rt, &[]);
    let mut gus = Ws::join(web, "gus");
    // SIGTERM, and the server exits 0 within its grace period.
    server.stop();
    assert_eq!(gus.close_code(), Some(1001), "{rt}");
}

/// A raw WebSocket client on the core's frame codec: masked frames out,
/// the server's frames in, reads bounded by [`IO_TIMEOUT`].
struct Ws {
    stream: TcpStream,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl Ws {
    /// Connects and sends the handshake (with `extra` fields): the client
    /// and the response head.
    fn open(web: SocketAddr, extra: &str) -> (Ws, String) {
        let mut stream = tcp_connect(web);
        stream.write_all(upgrade(web, extra).as_bytes()).expect("handshake");
        let limits = ws::Limits::default().with_max_frame(1 << 20).with_max_message(1 << 20);
        let mut ws =
            Ws { stream, buf: BytesMut::new(), decoder: FrameDecoder::new(Role::Client, &limits) };
        let end = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(ws.fill() > 0, "closed during the handshake: {:?}", ws.buf);
        };
        let head = String::from_utf8_lossy(&ws.buf.split_to(end)).into_owned();
        if head.starts_with("HTTP/1.1 101 ") {
            let accept = handshake::accept_key(KEY.as_bytes());
            assert!(head.contains(&format!("Sec-WebSocket-Accept: {accept}\r\n")), "{head}");
        }
        (ws, head)
    }

    /// Connects, upgrades and joins as `name`.
    fn join(web: SocketAddr, name: &str) -> Ws {
        let (mut ws, head) = Ws::open(web, "");
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        ws.send(Opcode::Text, format!(r#"{{"username":"{name}"}}"#).as_bytes());
        ws.until_text(&joined(name));
        ws
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn send(&mut self, opcode: Opcode, payload: &[u8]) {
        let mut b = BytesMut::new();
        encode_frame(&mut b, true, opcode, payload, Some([0x5a, 0x17, 0xc3, 0x01]));
        self.send_raw(&b);
    }

    /// The next frame; `None` at the end of the stream.
    fn next(&mut self) -> Option<Frame> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(f) = self.decoder.decode(&mut self.buf).expect("a valid server frame") {
                return Some(f);
            }
            assert!(Instant::now() < deadline, "no frame in time");
            if self.fill() == 0 {
                return None;
            }
        }
    }

    /// Reads text messages until one is `want`.
    fn until_text(&mut self, want: &str) {
        loop {
            let f = self.next().unwrap_or_else(|| panic!("closed before {want}"));
            if f.opcode == Opcode::Text && f.payload == want.as_bytes() {
                return;
            }
        }
    }

    /// Reads until the server's Close: its code.
    fn close_code(&mut self) -> Option<u16> {
        while let Some(f) = self.next() {
            if f.opcode == Opcode::Close {
                return f.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            }
        }
        None
    }

    fn answer_close(&mut self, code: u16) {
        // The server may have closed already: a failed write is fine.
        let mut b = BytesMut::new();
        encode_frame(&mut b, true, Opcode::Close, &code.to_be_bytes(), Some([1, 1, 1, 1]));
        let _ = self.stream.write_all(&b);
    }

    /// Whether the server ends the stream (within the read timeout).
    fn ends(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}
