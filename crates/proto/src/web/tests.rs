//! The web port over the chat room, on the simulated clock: pages, the
//! upgrade, browser and TCP members in one room, bad handshakes and bad
//! frames, budgets and the close handshake.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};

use super::{WebConfig, WebEvent, WebHub};
use crate::chat::{self, Event, Room};
use crate::testing::{Conns, HubConns};
use crate::ws::{self, Frame, FrameDecoder, Opcode, Role, encode_frame};
use crate::{ConnId, Hub, Instant, http};

const PAGE: &[u8] = b"<!DOCTYPE html><p>the page</p>";
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

type Ev = WebEvent<Event>;
type Web = HubConns<WebHub<Room>>;

fn hub_with(limits: chat::Limits, ws: ws::Limits) -> Web {
    let config =
        WebConfig { port: 1, page: Bytes::from_static(PAGE), http: http::Limits::default(), ws };
    HubConns::new(WebHub::new(config, Room::new(limits)), Instant::ZERO)
}

fn hub() -> Web {
    hub_with(chat::Limits::default(), ws::Limits::default())
}

fn upgrade(extra: &str) -> Vec<u8> {
    alloc::format!(
        "GET /ws HTTP/1.1\r\nHost: chat.test:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// A client's frame (masked).
fn frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(&mut out, true, opcode, payload, Some([7, 1, 200, 33]));
    out.to_vec()
}

fn text(payload: &str) -> Vec<u8> {
    frame(Opcode::Text, payload.as_bytes())
}

/// What a peer of the web port reads: the HTTP answers, then frames.
#[derive(Default)]
struct Peer {
    wire: BytesMut,
    head: Option<String>,
    decoder: Option<FrameDecoder>,
}

impl Peer {
    /// Takes what the hub wrote to `conn` since the last call: the HTTP
    /// head (once) and the frames.
    fn take(&mut self, h: &mut Web, conn: ConnId) -> Vec<Frame> {
        for b in h.take_sent(conn) {
            self.wire.extend_from_slice(&b);
        }
        if self.head.is_none() {
            let Some(end) = self.wire.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Vec::new();
            };
            let head = self.wire.split_to(end + 4);
            self.head = Some(String::from_utf8(head.to_vec()).expect("an ASCII head"));
            self.decoder = Some(FrameDecoder::new(Role::Client, &ws::Limits::default()));
        }
        let mut frames = Vec::new();
        let decoder = self.decoder.as_mut().expect("after the head");
        while let Some(f) = decoder.decode(&mut self.wire).expect("the server's frames are valid") {
            frames.push(f);
        }
        frames
    }

    fn texts(&mut self, h: &mut Web, conn: ConnId) -> Vec<String> {
        self.take(h, conn)
            .into_iter()
            .filter(|f| f.opcode == Opcode::Text)
            .map(|f| String::from_utf8(f.payload.to_vec()).expect("UTF-8"))
            .collect()
    }

    fn head(&self) -> &str {
        self.head.as_deref().unwrap_or("")
    }
}

/// The close frame among `frames`: its code.
fn close_code(frames: &[Frame]) -> Option<u16> {
    let f = frames.iter().find(|f| f.opcode == Opcode::Close)?;
    Some(u16::from_be_bytes([f.payload[0], f.payload[1]]))
}

/// Opens `conn` on the web port, upgrades it and joins as `name`.
fn join_web(h: &mut Web, conn: ConnId, name: &str, events: &mut Vec<Ev>) -> Peer {
    let mut app = |_: &Conns, e: Ev| events.push(e);
    h.open_on(conn, "10.0.0.9:5000", 1, &mut app);
    let mut bytes = upgrade("");
    bytes.extend(text(&alloc::format!(r#"{{"username":"{name}"}}"#)));
    h.read(conn, &bytes, &mut app);
    let mut peer = Peer::default();
    let got = peer.texts(h, conn);
    assert!(peer.head().starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{}", peer.head());
    assert!(
        peer.head().contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{}",
        peer.head()
    );
    assert!(got.contains(&alloc::format!(r#"{{"type":"joined","username":"{name}"}}"#)), "{got:?}");
    peer
}

/// Opens `conn` on the TCP port and joins as `name`.
fn join_tcp(h: &mut Web, conn: ConnId, name: &str) {
    let mut app = |_: &Conns, _: Ev| {};
    h.open(conn, "10.0.0.1:4000", &mut app);
    h.read(conn, alloc::format!(r#"{{"username":"{name}"}}"#).as_bytes(), &mut app);
    h.take_sent(conn);
}

fn lines(h: &mut Web, conn: ConnId) -> Vec<String> {
    let all: Vec<u8> = h.take_sent(conn).iter().flat_map(|b| b.to_vec()).collect();
    String::from_utf8(all).expect("UTF-8").lines().map(String::from).collect()
}

/// Sends `request` on a fresh web connection: the response head and body.
fn get(request: &str) -> (String, Vec<u8>, bool) {
    let mut h = hub();
    let mut app = |_: &Conns, _: Ev| {};
    let c = ConnId(1);
    h.open_on(c, "10.0.0.9:5000", 1, &mut app);
    h.read(c, request.as_bytes(), &mut app);
    let all: Vec<u8> = h.take_sent(c).iter().flat_map(|b| b.to_vec()).collect();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8(all[..end].to_vec()).expect("ASCII");
    (head, all[end..].to_vec(), h.is_closing(c))
}

#[test]
fn the_page_and_what_is_not_it() {
    let (head, body, _) = get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/html; charset=utf-8\r\n"));
    assert!(head.contains("Content-Security-Policy: default-src 'none';"));
    assert_eq!(body, PAGE);
    let (head, body, _) = get("GET /?name=alice HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && body == PAGE, "{head}");
    let (head, body, _) = get("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && body.is_empty(), "{head}");
    let (head, body, _) = get("GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    assert!(String::from_utf8(body).unwrap().contains("<h1>404 Not Found</h1>"));
    let (head, _, _) = get("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    assert!(head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{head}");
    assert!(head.contains("Allow: GET, HEAD\r\n"));
    // Malformed HTTP gets the HTTP machine's answer.
    let (head, _, closing) = get("GET / HTTP/1.1\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(closing);
}

#[test]
fn keep_alive_pages_then_an_upgrade_on_the_same_connection() {
    let mut h = hub();
    let mut app = |_: &Conns, _: Ev| {};
    let c = ConnId(1);
    h.open_on(c, "p", 1, &mut app);
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    bytes.extend(upgrade(""));
    bytes.extend(text(r#"{"username":"ann"}"#));
    h.read(c, &bytes, &mut app);
    h.offer(c, &mut app);
    let all: Vec<u8> = h.take_sent(c).iter().flat_map(|b| b.to_vec()).collect();
    let s = String::from_utf8_lossy(&all);
    assert!(s.starts_with("HTTP/1.1 200 OK\r\n"), "{s}");
    assert!(s.contains("HTTP/1.1 101 Switching Protocols\r\n"), "{s}");
    assert!(s.ends_with(r#"{"type":"joined","username":"ann"}"#), "{s}");
}

#[test]
fn browser_and_tcp_members_share_the_room() {
    let mut h = hub();
    let mut events = Vec::new();
    let (web, tcp) = (ConnId(1), ConnId(2));
    let mut peer = join_web(&mut h, web, "alice", &mut events);
    join_tcp(&mut h, tcp, "bob");
    assert_eq!(peer.texts(&mut h, web), [r#"{"type":"joined","username":"bob"}"#]);
    let mut app = |_: &Conns, e: Ev| events.push(e);
    h.read(web, &text(r#"{"content":"hi bob"}"#), &mut app);
    assert_eq!(lines(&mut h, tcp), [r#"{"type":"message","from":"alice","content":"hi bob"}"#]);
    h.read(tcp, br#"{"content":"hi alice"}{"list":true}"#, &mut app);
    let _ = lines(&mut h, tcp);
    assert_eq!(
        peer.texts(&mut h, web),
        [r#"{"type":"message","from":"bob","content":"hi alice"}"#]
    );
    // Fragmented, with a ping between the fragments: one message, one pong.
    let mut bytes = BytesMut::new();
    encode_frame(&mut bytes, false, Opcode::Text, br#"{"content":"#, Some([1, 2, 3, 4]));
    encode_frame(&mut bytes, true, Opcode::Ping, b"are you there", Some([5, 6, 7, 8]));
    encode_frame(&mut bytes, true, Opcode::Continuation, br#""in parts"}"#, Some([9, 9, 9, 9]));
    h.read(web, &bytes, &mut app);
    let frames = peer.take(&mut h, web);
    assert!(frames.iter().any(|f| f.opcode == Opcode::Pong && &f.payload[..] == b"are you there"));
    assert_eq!(lines(&mut h, tcp), [r#"{"type":"message","from":"alice","content":"in parts"}"#]);
    // The close handshake: the room hears alice left.
    h.read(web, &frame(Opcode::Close, &1000u16.to_be_bytes()), &mut app);
    assert_eq!(close_code(&peer.take(&mut h, web)), Some(1000));
    assert!(h.is_closing(web));
    assert_eq!(lines(&mut h, tcp), [r#"{"type":"left","username":"alice"}"#]);
    h.gone(web, &mut app);
    assert!(events.iter().any(|e| matches!(e, WebEvent::Closed { code: Some(1000), .. })));
}

#[test]
fn a_broadcast_is_framed_once_for_every_browser() {
    let mut h = hub();
    let mut events = Vec::new();
    let (a, b, tcp) = (ConnId(1), ConnId(2), ConnId(3));
    let mut pa = join_web(&mut h, a, "ann", &mut events);
    let mut pb = join_web(&mut h, b, "bea", &mut events);
    join_tcp(&mut h, tcp, "cid");
    let _ = (pa.take(&mut h, a), pb.take(&mut h, b));
    let mut app = |_: &Conns, _: Ev| {};
    h.read(tcp, br#"{"content":"to all"}"#, &mut app);
    let (sa, sb) = (h.take_sent(a), h.take_sent(b));
    assert_eq!(sa.len(), 1);
    assert_eq!(sa[0].as_ptr(), sb[0].as_ptr(), "one framing shared");
}

#[test]
fn bad_handshakes() {
    let cases: [(String, &str); 6] = [
        (
            String::from_utf8(upgrade(""))
                .unwrap()
                .replace(&alloc::format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
            "HTTP/1.1 400 ",
        ),
        (
            String::from_utf8(upgrade("")).unwrap().replace("Version: 13", "Version: 8"),
            "HTTP/1.1 426 ",
        ),
        (String::from_utf8(upgrade("")).unwrap().replace("GET /ws", "POST /ws"), "HTTP/1.1 400 "),
        (String::from_utf8(upgrade("Origin: http://evil.test\r\n")).unwrap(), "HTTP/1.1 403 "),
        (String::from_utf8(upgrade("Origin: null\r\n")).unwrap(), "HTTP/1.1 403 "),
        (String::from_utf8(upgrade("Origin: http://Chat.test:8080\r\n")).unwrap(), "HTTP/1.1 101 "),
    ];
    for (request, want) in cases {
        let (head, _, closing) = get(&request);
        assert!(head.starts_with(want), "{request}\n->\n{head}");
        if want.contains("426") {
            assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
        }
        assert_eq!(closing, !want.contains("101"), "{head}");
    }
}

#[test]
fn bad_frames_close_with_their_codes_and_the_room_goes_on() {
    let unmasked = {
        let mut b = BytesMut::new();
        encode_frame(&mut b, true, Opcode::Text, br#"{"content":"x"}"#, None);
        b.to_vec()
    };
    let reserved = alloc::vec![0x83, 0x80, 0, 0, 0, 0];
    let bad_utf8 = frame(Opcode::Text, &[b'"', 0xff, 0xfe]);
    let big = text(&alloc::format!(r#"{{"content":"{}"}}"#, "x".repeat(70_000)));
    let binary = frame(Opcode::Binary, b"\x00\x01");
    for (bytes, code) in
        [(unmasked, 1002), (reserved, 1002), (bad_utf8, 1007), (big, 1009), (binary, 1003)]
    {
        let mut h = hub();
        let mut events = Vec::new();
        let (web, tcp) = (ConnId(1), ConnId(2));
        let mut peer = join_web(&mut h, web, "eve", &mut events);
        join_tcp(&mut h, tcp, "bob");
        let _ = peer.take(&mut h, web);
        let mut app = |_: &Conns, _: Ev| {};
        h.read(web, &bytes, &mut app);
        assert_eq!(close_code(&peer.take(&mut h, web)), Some(code));
        assert_eq!(lines(&mut h, tcp), [r#"{"type":"left","username":"eve"}"#], "code {code}");
        // The peer's close completes the handshake.
        h.read(web, &frame(Opcode::Close, &code.to_be_bytes()), &mut app);
        let t = h.now + Duration::from_secs(5);
        h.timeout(t, &mut app);
        assert!(h.is_closing(web), "code {code}");
        h.read(tcp, br#"{"list":true}"#, &mut app);
        assert_eq!(lines(&mut h, tcp), [r#"{"type":"users","users":["bob"]}"#]);
    }
}

#[test]
fn a_peer_that_never_answers_the_close_is_closed_after_the_timeout() {
    let ws = ws::Limits::default().with_close_timeout(Duration::from_secs(2));
    let mut h = hub_with(chat::Limits::default(), ws);
    let mut events = Vec::new();
    let web = ConnId(1);
    let mut peer = join_web(&mut h, web, "sam", &mut events);
    let mut app = |_: &Conns, _: Ev| {};
    // Not JSON: the room answers bad_json and closes the member.
    h.read(web, &text("not json"), &mut app);
    let frames = peer.take(&mut h, web);
    assert!(frames.iter().any(|f| f.payload.starts_with(br#"{"type":"error","code":"bad_json""#)));
    assert_eq!(close_code(&frames), Some(1000));
    assert!(!h.is_closing(web), "waiting for the peer's close");
    h.timeout(Instant::ZERO + Duration::from_millis(1999), &mut app);
    assert!(!h.is_closing(web));
    h.timeout(Instant::ZERO + Duration::from_secs(2), &mut app);
    assert!(h.is_closing(web));
}

#[test]
fn a_slow_handshake_gets_408() {
    let mut h = hub();
    let mut app = |_: &Conns, _: Ev| {};
    let c = ConnId(1);
    h.open_on(c, "p", 1, &mut app);
    h.read(c, b"GET /ws HTTP/1.1\r\nHost: x\r\n", &mut app);
    let t = h.hub.poll_timeout().expect("a header deadline");
    h.timeout(t, &mut app);
    let all: Vec<u8> = h.take_sent(c).iter().flat_map(|b| b.to_vec()).collect();
    assert!(all.starts_with(b"HTTP/1.1 408 "), "{}", String::from_utf8_lossy(&all));
    assert!(h.is_closing(c));
}

#[test]
fn the_rooms_budget_counts_a_browsers_bytes() {
    let limits = chat::Limits::default().with_outbound_budget(4096);
    let mut h = hub_with(limits, ws::Limits::default());
    let mut events = Vec::new();
    let (reader, staller, tcp) = (ConnId(1), ConnId(2), ConnId(3));
    let mut pr = join_web(&mut h, reader, "rita", &mut events);
    let _ps = join_web(&mut h, staller, "stan", &mut events);
    join_tcp(&mut h, tcp, "tom");
    h.conn(staller).stalled = true;
    let mut app = |_: &Conns, e: Ev| events.push(e);
    let mut all = String::new();
    for i in 0..200 {
        all.push_str(&alloc::format!(r#"{{"content":"line {i:04} {}"}}"#, "y".repeat(64)));
    }
    h.read(tcp, all.as_bytes(), &mut app);
    // The room holds the sender back while the staller is over half its
    // budget, then gives up on the staller.
    for _ in 0..10 {
        let t = h.now + Duration::from_secs(1);
        h.timeout(t, &mut app);
        h.offer(tcp, &mut app);
        h.offer_resumed(&mut app);
    }
    assert!(h.conn(tcp).inbox.is_empty());
    // The reader got every line (its bytes were credited as written); the
    // staller was evicted.
    let got = pr.texts(&mut h, reader);
    assert_eq!(got.iter().filter(|l| l.contains(r#""from":"tom""#)).count(), 200);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, WebEvent::Inner(Event::Evicted { conn, .. }) if *conn == staller))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, WebEvent::Inner(Event::Evicted { conn, .. }) if *conn == reader))
    );
}

#[test]
fn arbitrary_bytes_on_the_web_port_never_panic() {
    use proptest::prelude::*;
    proptest!(|(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8), after in any::<bool>())| {
        let mut h = hub();
        let mut app = |_: &Conns, _: Ev| {};
        let c = ConnId(1);
        h.open_on(c, "p", 1, &mut app);
        if after {
            h.read(c, &upgrade(""), &mut app);
        }
        for chunk in &chunks {
            if h.is_closing(c) {
                break;
            }
            h.read(c, chunk, &mut app);
        }
        let t = h.now + Duration::from_secs(60);
        h.timeout(t, &mut app);
    });
}

#[test]
fn a_peer_that_never_reads_our_answers_is_not_read_either() {
    // Pongs: each ping asks for one; a peer that sends pings and never
    // reads stops being read once the pongs waiting pass the bound.
    let ws = ws::Limits::default().with_max_message(4096);
    let mut h = hub_with(chat::Limits::default(), ws);
    let mut events = Vec::new();
    let web = ConnId(1);
    let _peer = join_web(&mut h, web, "pat", &mut events);
    h.conn(web).stalled = true;
    let mut app = |_: &Conns, _: Ev| {};
    let mut pings = Vec::new();
    for _ in 0..1000 {
        pings.extend(frame(Opcode::Ping, &[b'p'; 100]));
    }
    h.read(web, &pings, &mut app);
    let queued: usize = h.conn(web).outq.iter().map(Bytes::len).sum();
    assert!(queued < 4096 + 2 * 1024, "{queued} bytes of pongs queued");
    assert!(h.conn(web).inbox.len() > 50_000, "the pings stay unread");
    // Once the peer reads, the rest is served.
    h.conn(web).stalled = false;
    for _ in 0..1000 {
        h.drain(&mut app);
        if !h.offer(web, &mut app) {
            break;
        }
    }
    assert!(h.conn(web).inbox.is_empty());
    // Pages: pipelined requests are not read past the bound either.
    let mut h = hub_with(chat::Limits::default(), ws);
    let c = ConnId(2);
    h.open_on(c, "p", 1, &mut app);
    h.conn(c).stalled = true;
    let requests = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    h.read(c, &requests, &mut app);
    let queued: usize = h.conn(c).outq.iter().map(Bytes::len).sum();
    assert!(queued < 4096 + 1024, "{queued} bytes of pages queued");
}

#[test]
fn a_name_proved_below_reaches_the_room_at_the_upgrade() {
    // TLS with client certificates tells the hub who a connection is
    // before any byte: the room learns it when the browser joins it.
    let mut h = hub();
    let mut app = |_: &Conns, _: Ev| {};
    let c = ConnId(1);
    h.open_on(c, "p", 1, &mut app);
    h.input(crate::Input::Identified { conn: c, name: "carol" }, &mut app);
    let mut bytes = upgrade("");
    bytes.extend(text(r#"{"username":"mallory"}"#));
    bytes.extend(text(r#"{"username":"carol"}"#));
    h.read(c, &bytes, &mut app);
    let mut peer = Peer::default();
    let got = peer.texts(&mut h, c);
    assert!(got[0].starts_with(r#"{"type":"error","code":"forbidden""#), "{got:?}");
    assert_eq!(got[1], r#"{"type":"joined","username":"carol"}"#);
}

#[test]
fn a_stopping_server_says_going_away() {
    let mut h = hub();
    let mut events = Vec::new();
    let (web, tcp) = (ConnId(1), ConnId(2));
    let mut peer = join_web(&mut h, web, "gus", &mut events);
    join_tcp(&mut h, tcp, "tim");
    let mut app = |_: &Conns, _: Ev| {};
    let _ = peer.take(&mut h, web);
    // What a driver does on a graceful stop: the hook, then every end of
    // stream.
    h.hub.handle_stop(h.now);
    h.drain(&mut app);
    h.eof(web, &mut app);
    h.eof(tcp, &mut app);
    assert_eq!(close_code(&peer.take(&mut h, web)), Some(1001));
    assert!(h.is_closing(web));
}
