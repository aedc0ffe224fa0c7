//! `sansnet chat serve` and `chat join` on every runtime over loopback.
//!
//! Black-box, like the HTTP tests: each test starts the built `sansnet`
//! binary (`sansnet --runtime R chat serve ... --bind 127.0.0.1:0`), talks
//! to it with raw sockets ([`Client`]), Python's `json` + `socket` or
//! `sansnet chat join`, and stops it with SIGTERM (exit status 0). Every
//! check but the 1,000-member one runs on std, async-std, smol and tokio:
//! the `per_runtime!` list below makes one test per runtime
//! (`chat::NAME::std`, `::async_std`, `::smol`, `::tokio`).
//!
//! Expected events are written out byte for byte (the key order of
//! PROTOCOLS.md §2), with a JSON string escaper of our own ([`json_str`],
//! serde_json's rules: `"`, `\` and control characters escaped, the rest
//! raw UTF-8), so the server's serialiser is checked, not reused.
//!
//! Bugs these tests found, both fixed in `HubHost::flush`: a frame split
//! across reads made the hub host spin forever, hanging the whole server;
//! and it walked every member on each hub input, so a room of 1,000 took
//! seconds per broadcast (`thousand_members_on_smol`).
//!
//! Every wait is bounded: socket reads time out after
//! [`IO_TIMEOUT`](support::IO_TIMEOUT), "nothing arrives" is a short read
//! that must time out ([`Client::expect_quiet`]), and loops have deadlines.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use sansnet_proto::chat::ServerEvent;

use crate::support::{self, IO_TIMEOUT, Server, cpu_ticks, per_runtime, run_bounded, sansnet_bin};

per_runtime!(
    python_style_client,
    coalesced_and_whitespace_separated_frames,
    frames_split_across_writes,
    frames_split_at_awkward_places,
    joined_to_all_broadcast_to_others,
    no_username_joins_under_the_peer_address,
    name_taken_then_retry,
    bad_json_is_isolated,
    end_of_stream_inside_a_frame,
    oversized_frame_closes,
    directed_messages_stay_private,
    slow_member_is_evicted,
    chat_join_client,
    chat_join_escapes_peer_text,
    names_that_impersonate_are_refused,
    join_storm_then_list,
    a_flooder_does_not_evict_a_fair_reader,
);

/// How long [`Client::expect_quiet`] waits for nothing to arrive.
const QUIET: Duration = Duration::from_millis(120);

// -- the wire, written out -------------------------------------------------------

/// `s` as a JSON string, escaped as serde_json does: `"`, `\` and the C0
/// controls (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00XX`); everything else,
/// non-ASCII included, as is.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `["a","b"]`.
pub(crate) fn json_list(names: &[&str]) -> String {
    let items: Vec<String> = names.iter().map(|n| json_str(n)).collect();
    format!("[{}]", items.join(","))
}

/// The `joined` event line (without its `\n`).
pub(crate) fn joined(name: &str) -> String {
    format!(r#"{{"type":"joined","username":{}}}"#, json_str(name))
}

/// The `left` event line.
pub(crate) fn left(name: &str) -> String {
    format!(r#"{{"type":"left","username":{}}}"#, json_str(name))
}

/// The `message` event line of a broadcast.
pub(crate) fn message(from: &str, content: &str) -> String {
    format!(r#"{{"type":"message","from":{},"content":{}}}"#, json_str(from), json_str(content))
}

/// The `message` event line of a directed message.
pub(crate) fn directed(from: &str, content: &str, to: &[&str]) -> String {
    format!(
        r#"{{"type":"message","from":{},"content":{},"to":{}}}"#,
        json_str(from),
        json_str(content),
        json_list(to)
    )
}

/// The `users` event line.
pub(crate) fn users(names: &[&str]) -> String {
    format!(r#"{{"type":"users","users":{}}}"#, json_list(names))
}

/// A compact `{"username":...}` frame.
pub(crate) fn join_frame(name: &str) -> String {
    format!(r#"{{"username":{}}}"#, json_str(name))
}

/// A compact `{"content":...}` frame.
pub(crate) fn say_frame(content: &str) -> String {
    format!(r#"{{"content":{}}}"#, json_str(content))
}

#[test]
fn the_expected_lines_are_the_contract() {
    // The helpers above against PROTOCOLS.md §2, literally.
    assert_eq!(joined("alice"), r#"{"type":"joined","username":"alice"}"#);
    assert_eq!(left("alice"), r#"{"type":"left","username":"alice"}"#);
    assert_eq!(message("alice", "hi"), r#"{"type":"message","from":"alice","content":"hi"}"#);
    assert_eq!(
        directed("alice", "hi", &["bob"]),
        r#"{"type":"message","from":"alice","content":"hi","to":["bob"]}"#
    );
    assert_eq!(users(&["alice", "bob"]), r#"{"type":"users","users":["alice","bob"]}"#);
    assert_eq!(json_str("a\"\\\n\u{1}é🎉"), r#""a\"\\\n\u0001é🎉""#);
}

// -- a raw client ------------------------------------------------------------------

/// A raw chat client over TCP: writes bytes, reads NDJSON event lines.
/// Reads are bounded by the socket's timeout ([`IO_TIMEOUT`]); the buffer
/// is consumed from an offset, so reading many short lines stays linear.
pub(crate) struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`.
    pos: usize,
    /// Who this is, for failure messages.
    name: String,
}

impl Client {
    /// Wraps a connected stream (timeouts already set), with TCP_NODELAY
    /// so that separate writes tend to leave as separate segments.
    fn new(stream: TcpStream, name: &str) -> Client {
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Client { stream, buf: Vec::new(), pos: 0, name: name.to_owned() }
    }

    /// A new connection to `server` that has not joined.
    pub(crate) fn connect(server: &Server, name: &str) -> Client {
        Client::connect_to(server.tcp_addr(), name)
    }

    /// A new connection to `addr` (loopback) that has not joined.
    pub(crate) fn connect_to(addr: SocketAddr, name: &str) -> Client {
        Client::new(support::tcp_connect(addr), name)
    }

    /// Connects and joins as `name` (compact frame, no newline), checking
    /// the first event is its own `joined`.
    pub(crate) fn join(server: &Server, name: &str) -> Client {
        let mut c = Client::connect(server, name);
        c.send(join_frame(name));
        c.expect(&joined(name));
        c
    }

    /// Writes `bytes` in one `write_all`.
    #[track_caller]
    pub(crate) fn send(&mut self, bytes: impl AsRef<[u8]>) {
        if let Err(e) = self.stream.write_all(bytes.as_ref()) {
            panic!("{}: send: {e}", self.name);
        }
    }

    /// Broadcasts `content`.
    #[track_caller]
    pub(crate) fn say(&mut self, content: &str) {
        self.send(say_frame(content));
    }

    /// Writes `bytes` cut at each of `cuts` (sorted offsets), one write per
    /// piece, pausing between them so that they arrive apart.
    #[track_caller]
    fn send_cut(&mut self, bytes: &[u8], cuts: &[usize]) {
        let mut at = 0;
        for &cut in cuts.iter().chain([&bytes.len()]) {
            assert!(at <= cut && cut <= bytes.len(), "bad cut {cut} in {cuts:?}");
            if cut > at {
                self.send(&bytes[at..cut]);
                thread::sleep(Duration::from_millis(3));
            }
            at = cut;
        }
    }

    /// Ends our side (the server sees end of stream).
    pub(crate) fn shutdown_write(&self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown");
    }

    /// One read into the buffer (0 at the end of stream).
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos >= 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 16 * 1024, 0);
        let r = loop {
            match self.stream.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r,
            }
        };
        self.buf.truncate(old + *r.as_ref().unwrap_or(&0));
        r
    }

    /// The unread bytes, for failure messages.
    fn unread(&self) -> String {
        String::from_utf8_lossy(&self.buf[self.pos..]).into_owned()
    }

    /// The next event line, without its `\n`; panics on a timeout, the
    /// end of the stream, a `\r` or non-UTF-8.
    #[track_caller]
    pub(crate) fn line(&mut self) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        let mut scanned = 0; // bytes after `pos` known to hold no newline
        loop {
            if let Some(i) = self.buf[self.pos + scanned..].iter().position(|&b| b == b'\n') {
                let end = self.pos + scanned + i;
                let bytes = self.buf[self.pos..end].to_vec();
                self.pos = end + 1;
                let line = String::from_utf8(bytes)
                    .unwrap_or_else(|e| panic!("{}: a line not UTF-8: {e}", self.name));
                assert!(!line.ends_with('\r'), "{}: CRLF line {line:?}", self.name);
                return line;
            }
            scanned = self.buf.len() - self.pos;
            match self.fill() {
                Ok(0) => panic!(
                    "{}: closed while waiting for a line; have {:?}",
                    self.name,
                    self.unread()
                ),
                Ok(_) => {}
                Err(e) => {
                    panic!("{}: waiting for a line: {e}; have {:?}", self.name, self.unread())
                }
            }
            assert!(Instant::now() < deadline, "{}: no whole line in {IO_TIMEOUT:?}", self.name);
        }
    }

    /// Asserts the next line is exactly `want`.
    #[track_caller]
    pub(crate) fn expect(&mut self, want: &str) {
        let got = self.line();
        assert_eq!(got, want, "{}: unexpected event", self.name);
    }

    /// Asserts the next line is an `error` event with `code`, keys in the
    /// contract's order; returns its message.
    #[track_caller]
    pub(crate) fn expect_error(&mut self, code: &str) -> String {
        let line = self.line();
        let prefix = format!(r#"{{"type":"error","code":"{code}","message":""#);
        assert!(
            line.starts_with(&prefix) && line.ends_with("\"}"),
            "{}: wanted a {code} error, got {line:?}",
            self.name
        );
        match ServerEvent::decode(line.as_bytes()) {
            Ok(ServerEvent::Error { code: c, message }) if c.as_str() == code => {
                assert!(!message.is_empty(), "{}: empty message in {line:?}", self.name);
                message
            }
            other => panic!("{}: {line:?} decodes as {other:?}", self.name),
        }
    }

    /// The next event line if one starts arriving within `wait`.
    #[track_caller]
    pub(crate) fn line_within(&mut self, wait: Duration) -> Option<String> {
        if !self.buf[self.pos..].contains(&b'\n') {
            self.stream.set_read_timeout(Some(wait)).expect("read timeout");
            let r = self.fill();
            self.stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
            match r {
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    return None;
                }
                Ok(0) => panic!("{}: closed while waiting for a line", self.name),
                Ok(_) => {}
                Err(e) => panic!("{}: waiting for a line: {e}", self.name),
            }
        }
        Some(self.line())
    }

    /// Asserts nothing arrives (nothing buffered, and a short read times
    /// out): the connection is open and quiet.
    #[track_caller]
    pub(crate) fn expect_quiet(&mut self) {
        assert_eq!(self.unread(), "", "{}: unexpected bytes", self.name);
        self.stream.set_read_timeout(Some(QUIET)).expect("read timeout");
        let r = self.fill();
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        match r {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Ok(0) => panic!("{}: closed, expected it open and quiet", self.name),
            Ok(_) => panic!("{}: expected nothing, got {:?}", self.name, self.unread()),
            Err(e) => panic!("{}: expected nothing, got {e}", self.name),
        }
    }

    /// Asserts the server closes the connection with nothing more to say.
    #[track_caller]
    pub(crate) fn expect_closed(&mut self) {
        assert_eq!(self.unread(), "", "{}: unread bytes before the close", self.name);
        match self.fill() {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Ok(_) => panic!("{}: expected the close, got {:?}", self.name, self.unread()),
            Err(e) => panic!("{}: expected the close, got {e}", self.name),
        }
    }

    /// Every line until the server closes (at most a few MiB).
    #[track_caller]
    fn lines_to_close(&mut self) -> Vec<String> {
        let deadline = Instant::now() + IO_TIMEOUT * 2;
        loop {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => panic!("{}: reading to the close: {e}", self.name),
            }
            assert!(self.buf.len() - self.pos < 64 << 20, "{}: too much data", self.name);
            assert!(Instant::now() < deadline, "{}: never closed", self.name);
        }
        let rest = self.unread();
        self.pos = self.buf.len();
        if rest.is_empty() {
            return Vec::new();
        }
        let body = rest
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("{}: a partial last line in {rest:?}", self.name));
        body.split('\n').map(str::to_owned).collect()
    }
}

/// Joins `names` in order; each earlier member sees each later `joined`.
fn join_all(server: &Server, names: &[&str]) -> Vec<Client> {
    let mut all: Vec<Client> = Vec::new();
    for name in names {
        let c = Client::join(server, name);
        for earlier in &mut all {
            earlier.expect(&joined(name));
        }
        all.push(c);
    }
    all
}

// -- the tests -------------------------------------------------------------------------

/// A client that writes like the reference Python one: `json.dumps(msg)`
/// then `send`, no newline, so `", "` and `": "` separators and
/// `ensure_ascii` escapes (surrogate pairs for emoji); each frame in its own
/// write. Then the real thing with python3, when it is installed.
fn python_style_client(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut bob = Client::join(&server, "bob");
    let mut alice = Client::connect(&server, "alice");
    alice.send(br#"{"username": "alice"}"#);
    alice.expect(&joined("alice"));
    bob.expect(&joined("alice"));
    alice.send(br#"{"content": "hi"}"#);
    bob.expect(&message("alice", "hi"));
    // json.dumps({"content": 'héllo 🎉 {x} "q" \\'}).
    alice.send(br#"{"content": "h\u00e9llo \ud83c\udf89 {x} \"q\" \\"}"#);
    bob.expect(&message("alice", "héllo 🎉 {x} \"q\" \\"));
    // A loop of sends with nothing between the objects.
    alice.send(br#"{"content": "one"}"#);
    alice.send(br#"{"content": "two", "to": ["bob"]}"#);
    alice.send(br#"{"list": true}"#);
    bob.expect(&message("alice", "one"));
    bob.expect(&directed("alice", "two", &["bob"]));
    alice.expect(&users(&["alice", "bob"]));
    alice.expect_quiet();
    drop(alice);
    bob.expect(&left("alice"));

    if !support::have_program("python3") {
        eprintln!("note: python3 is not installed; skipping the real Python client on {rt}");
        server.stop();
        return;
    }
    const SCRIPT: &str = r#"
import json, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
buf = b""
def event():
    global buf
    while b"\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection closed; have %r" % buf)
        buf += chunk
    line, _, buf = buf.partition(b"\n")
    return json.loads(line)
s.send(json.dumps({"username": "py"}).encode())
e = event()
assert e == {"type": "joined", "username": "py"}, e
s.send(json.dumps({"content": "h\u00e9llo \U0001f389 {x}"}).encode())
e = event()
assert e == {"type": "message", "from": "bob", "content": "hi py \u00e9"}, e
s.close()
print("ok")
"#;
    let addr = server.tcp_addr();
    let python = thread::spawn(move || {
        run_bounded(
            Command::new("python3").args([
                "-c",
                SCRIPT,
                &addr.ip().to_string(),
                &addr.port().to_string(),
            ]),
            b"",
            Duration::from_secs(15),
        )
    });
    bob.expect(&joined("py"));
    bob.expect(&message("py", "héllo 🎉 {x}"));
    bob.say("hi py é");
    bob.expect(&left("py"));
    let out = python.join().expect("python thread");
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "python client on {rt}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
}

/// Several frames in one write (`{"username":"a"}{"content":"hi"}`), with
/// whitespace and newlines between objects or none.
fn coalesced_and_whitespace_separated_frames(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut bob = Client::join(&server, "bob");
    let mut a = Client::connect(&server, "a");
    a.send(br#"{"username":"a"}{"content":"hi"}"#);
    a.expect(&joined("a"));
    bob.expect(&joined("a"));
    bob.expect(&message("a", "hi"));

    a.send(b"\r\n {\"content\":\"one\"}\n\n\t{ \"content\" : \"two\" }  {\"list\":true}{\"content\":\"3\"}\n");
    a.expect(&users(&["a", "bob"]));
    bob.expect(&message("a", "one"));
    bob.expect(&message("a", "two"));
    bob.expect(&message("a", "3"));

    // Newline-delimited, many in one write, braces and quotes inside.
    let batch: String = (0..50).map(|i| say_frame(&format!("{{{i}}} \"}}\"")) + "\n").collect();
    a.send(&batch);
    for i in 0..50 {
        bob.expect(&message("a", &format!("{{{i}}} \"}}\"")));
    }
    a.expect_quiet();
    bob.expect_quiet();
    server.stop();
}

/// Frames split across writes: a write that ends inside a frame (the
/// rest in the next one), newline-delimited objects cut anywhere, a frame
/// written one byte at a time.
fn frames_split_across_writes(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut clients = join_all(&server, &["a", "bob"]);
    let [a, bob] = &mut clients[..] else { unreachable!() };
    a.send(br#"{"content":"one"}{"content":"thr"#);
    bob.expect(&message("a", "one"));
    bob.expect_quiet(); // `{"content":"thr` is not a frame yet
    a.send(b"ee\"}\n");
    bob.expect(&message("a", "three"));

    // Newline-delimited, cut inside each object.
    a.send_cut(b"{\"content\":\"nd1\"}\n{\"content\":\"nd2\"}\n", &[5, 22, 30]);
    bob.expect(&message("a", "nd1"));
    bob.expect(&message("a", "nd2"));

    // One byte per write.
    let content = "byte by byte: {é} \"🎉\" \\";
    for &b in say_frame(content).as_bytes() {
        a.send([b]);
    }
    bob.expect(&message("a", content));
    a.expect_quiet();
    bob.expect_quiet();
    server.stop();
}

/// Frames split across writes where a naive splitter would go wrong:
/// between a backslash and the quote it escapes, inside `\\`, inside
/// braces and quotes within strings, inside multibyte UTF-8 sequences and
/// `\u` escapes. Every receiver gets exactly the content.
fn frames_split_at_awkward_places(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut clients = join_all(&server, &["alice", "bob", "carol"]);
    let [alice, bob, carol] = &mut clients[..] else { unreachable!() };

    let content = "say \"hi\" {x} \\ }{ héllo 🎉 \"}\" \\\"{ end";
    let frame = say_frame(content);
    let bytes = frame.as_bytes();
    let at = |pat: &str, plus: usize| {
        frame.find(pat).unwrap_or_else(|| panic!("{pat:?} not in {frame}")) + plus
    };
    let mut cuts = vec![
        1,               // after the opening brace
        at("\\\"hi", 1), // between a backslash and the quote it escapes
        at("{x}", 1),    // inside braces in a string
        at("\\\\ ", 1),  // between the two backslashes of `\\`
        at("}{", 1),     // between a closing and an opening brace in a string
        at("é", 1),      // inside a 2-byte sequence
        at("🎉", 1),     // inside a 4-byte sequence, three times
        at("🎉", 2),
        at("🎉", 3),
        at("\"}\\\"", 2),  // after a `}` just after an escaped quote
        at("\\\\\\\"", 2), // `\\` then `\"`: between the two escapes
        at("\\\\\\\"", 3), // and between that backslash and its quote
        bytes.len() - 1,   // before the final brace
    ];
    cuts.sort_unstable();
    cuts.dedup();
    alice.send_cut(bytes, &cuts);
    bob.expect(&message("alice", content));
    carol.expect(&message("alice", content));

    // The same one byte per write, then with `\u` escapes split inside.
    for &b in bytes {
        alice.send([b]);
    }
    bob.expect(&message("alice", content));
    carol.expect(&message("alice", content));
    let escaped = br#"{"content":"\u00e9\ud83c\udf89\u007b\"}"}"#;
    alice.send_cut(escaped, &[14, 17, 20, 21, 27, 33, 37, 38, 40]);
    bob.expect(&message("alice", "é🎉{\"}"));
    carol.expect(&message("alice", "é🎉{\"}"));

    // Two frames, the cut in the middle of the second's UTF-8.
    let two = format!("{}{}", say_frame("ünïcödé"), say_frame("{{}}"));
    let cut = two.find('ï').expect("ï") + 1;
    alice.send_cut(two.as_bytes(), &[cut]);
    for c in [&mut *bob, &mut *carol] {
        c.expect(&message("alice", "ünïcödé"));
        c.expect(&message("alice", "{{}}"));
    }
    alice.expect_quiet();
    server.stop();
}

/// `joined` reaches everyone, the newcomer included; a broadcast reaches
/// everyone but the sender; events are NDJSON with the contract's key
/// order; a client that ends its stream still gets its answers, then the
/// close, and `left` goes to everyone remaining.
fn joined_to_all_broadcast_to_others(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut alice = Client::join(&server, "alice");
    let mut bob = Client::join(&server, "bob");
    alice.expect(r#"{"type":"joined","username":"bob"}"#);
    let mut carol = Client::join(&server, "carol");
    alice.expect(r#"{"type":"joined","username":"carol"}"#);
    bob.expect(r#"{"type":"joined","username":"carol"}"#);

    alice.say("hi");
    bob.expect(r#"{"type":"message","from":"alice","content":"hi"}"#);
    carol.expect(r#"{"type":"message","from":"alice","content":"hi"}"#);
    alice.expect_quiet();

    // Raw bytes: exactly one `\n`-terminated line per event.
    carol.say("x");
    let mut raw = Vec::new();
    let want = b"{\"type\":\"message\",\"from\":\"carol\",\"content\":\"x\"}\n";
    while raw.len() < want.len() {
        let mut byte = [0u8];
        match bob.stream.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            other => panic!("reading bob's raw line: {other:?}, have {raw:?}"),
        }
    }
    assert_eq!(String::from_utf8_lossy(&raw), String::from_utf8_lossy(want));
    alice.expect(&message("carol", "x"));

    // Bob asks for the list and ends his side at once: the answer, then the
    // close; the others see him leave.
    bob.send(br#"{"list":true}"#);
    bob.shutdown_write();
    bob.expect(&users(&["alice", "bob", "carol"]));
    bob.expect_closed();
    alice.expect(&left("bob"));
    carol.expect(&left("bob"));

    // Carol just goes away.
    drop(carol);
    alice.expect(&left("carol"));
    alice.send(br#"{"list":true}"#);
    alice.expect(&users(&["alice"]));
    alice.expect_quiet();
    server.stop();
}

/// A connection that sends a message without a `username` joins under its
/// peer address (IPv4, and IPv6 on `::1` when available).
fn no_username_joins_under_the_peer_address(rt: &'static str) {
    let mut binds = vec!["127.0.0.1:0"];
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        binds.push("[::1]:0");
    } else {
        eprintln!("note: no IPv6 loopback; checking the IPv4 one only on {rt}");
    }
    for bind in binds {
        let server = Server::spawn(rt, &["chat", "serve", "--bind", bind]);
        let addr = server.tcp_addr();
        let mut alice = Client::join(&server, "alice");
        let mut anon = Client::connect_to(addr, "anonymous");
        let me = anon.stream.local_addr().expect("local_addr").to_string();
        anon.say("who am I?");
        anon.expect(&joined(&me));
        alice.expect(&joined(&me));
        alice.expect(&message(&me, "who am I?"));
        // Now a member: a `username` is a rename, refused.
        anon.send(join_frame("later"));
        anon.expect_error("bad_message");
        anon.send(br#"{"list":true}"#);
        let mut names = vec!["alice", me.as_str()];
        names.sort_unstable();
        anon.expect(&users(&names));
        drop(anon);
        alice.expect(&left(&me));
        server.stop();
    }
}

/// `name_taken` leaves the connection open for another try; the failed
/// attempt is invisible to the room. Invalid names and renames are
/// `bad_message`, also not fatal.
fn name_taken_then_retry(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut alice = Client::join(&server, "alice");
    let mut second = Client::connect(&server, "second");
    second.send(join_frame("alice"));
    let why = second.expect_error("name_taken");
    assert!(why.contains("alice"), "{why:?}");
    // Not a member: a broadcast does not reach it.
    alice.say("anyone?");
    second.expect_quiet();
    second.send(join_frame("alice"));
    second.expect_error("name_taken");
    second.send(join_frame("alice2"));
    second.expect(&joined("alice2"));
    alice.expect(&joined("alice2")); // nothing before: the failures were private
    second.say("hello");
    alice.expect(&message("alice2", "hello"));
    second.send(join_frame("bob"));
    second.expect_error("bad_message");

    // Names: 1 to 32 characters (not bytes), no control characters.
    let mut third = Client::connect(&server, "third");
    for bad in
        [String::new(), "x".repeat(33), "tab\tname".into(), "nl\n".into(), "del\u{7f}".into()]
    {
        third.send(join_frame(&bad));
        third.expect_error("bad_message");
    }
    let long = "é".repeat(32);
    third.send(join_frame(&long));
    third.expect(&joined(&long));
    alice.expect(&joined(&long));
    second.expect(&joined(&long));
    // Names that differ only in case are one name.
    let mut upper = Client::connect(&server, "upper");
    upper.send(join_frame("ALICE"));
    upper.expect_error("name_taken");
    upper.send(join_frame("Carol"));
    upper.expect(&joined("Carol"));
    for c in [&mut alice, &mut second, &mut third] {
        c.expect(&joined("Carol"));
    }
    upper.send(br#"{"list":true}"#);
    upper.expect(&users(&["Carol", "alice", "alice2", &long]));
    alice.expect_quiet();
    server.stop();
}

/// Bad JSON from one client: that client gets `bad_json` and is closed;
/// the others keep chatting and see its `left` if it had joined.
/// `bad_message` is not fatal.
fn bad_json_is_isolated(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut clients = join_all(&server, &["alice", "bob", "mallory"]);
    let mut mallory = clients.pop().expect("mallory");
    let [alice, bob] = &mut clients[..] else { unreachable!() };
    let mut eve = Client::connect(&server, "eve"); // never joins

    mallory.send(br#"{"content": nope}"#);
    mallory.expect_error("bad_json");
    mallory.expect_closed();
    alice.expect(&left("mallory"));
    bob.expect(&left("mallory"));

    // Not an object at all, from a connection that never joined: no `left`.
    eve.send(b"hello\n");
    eve.expect_error("bad_json");
    eve.expect_closed();

    // Invalid UTF-8 in a string, from a member.
    let mut trudy = Client::join(&server, "trudy");
    alice.expect(&joined("trudy"));
    bob.expect(&joined("trudy"));
    trudy.send(b"{\"content\":\"\xff\xfe\"}");
    trudy.expect_error("bad_json");
    trudy.expect_closed();
    alice.expect(&left("trudy"));
    bob.expect(&left("trudy"));

    // Valid JSON that is no message: an error, the connection stays.
    let not_messages: [&[u8]; 5] = [
        br#"{"content": 5}"#,
        br#"{"list": false}"#,
        br#"{"content": "x", "extra": 1}"#,
        br#"{"content": "x", "to": []}"#,
        br#"{}"#,
    ];
    for frame in not_messages {
        bob.send(frame);
        bob.expect_error("bad_message");
    }

    // The others were unaffected throughout.
    alice.say("still here");
    bob.expect(&message("alice", "still here"));
    bob.say("me too");
    alice.expect(&message("bob", "me too"));
    alice.send(br#"{"list":true}"#);
    alice.expect(&users(&["alice", "bob"]));
    alice.expect_quiet();
    bob.expect_quiet();
    server.stop();
}

/// A client that ends its stream inside a frame gets `bad_json`, the
/// close, and the others see it leave.
fn end_of_stream_inside_a_frame(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut clients = join_all(&server, &["alice", "oscar"]);
    let mut oscar = clients.pop().expect("oscar");
    let alice = &mut clients[0];
    oscar.send(br#"{"content":"unfinis"#);
    oscar.shutdown_write();
    oscar.expect_error("bad_json");
    oscar.expect_closed();
    alice.expect(&left("oscar"));
    alice.expect_quiet();
    server.stop();
}

/// `--max-frame 1K`: a frame of 1,024 bytes passes; 1,025 bytes, or an
/// unfinished frame past the limit, get `frame_too_large` and the close.
fn oversized_frame_closes(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve", "--max-frame", "1K"]);
    let mut clients = join_all(&server, &["alice", "bob", "carol"]);
    let mut carol = clients.pop().expect("carol");
    let [alice, bob] = &mut clients[..] else { unreachable!() };
    let overhead = say_frame("").len();

    let fits = "a".repeat(1024 - overhead);
    assert_eq!(say_frame(&fits).len(), 1024);
    alice.say(&fits);
    bob.expect(&message("alice", &fits));
    carol.expect(&message("alice", &fits));

    let over = "b".repeat(1025 - overhead);
    alice.say(&over);
    let why = alice.expect_error("frame_too_large");
    assert!(why.contains("1024"), "{why:?}");
    alice.expect_closed();
    bob.expect(&left("alice"));
    carol.expect(&left("alice"));

    // Past the limit without an end: answered without waiting for one.
    carol.send(format!(r#"{{"content":"{}"#, "c".repeat(3000)));
    carol.expect_error("frame_too_large");
    carol.expect_closed();
    bob.expect(&left("carol"));

    // Whitespace between frames does not count towards the limit.
    bob.send(" \n".repeat(1000));
    bob.send(br#"{"list":true}"#);
    bob.expect(&users(&["bob"]));
    bob.expect_quiet();
    server.stop();
}

/// Directed messages reach only the named members (carol sees nothing:
/// checked by a quiet read, then a broadcast that must be her next line);
/// unknown names come back as `unknown_user`; `list` answers the sender
/// alone with the names sorted.
fn directed_messages_stay_private(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut clients = join_all(&server, &["carol", "alice", "bob"]);
    let [carol, alice, bob] = &mut clients[..] else { unreachable!() };

    alice.send(br#"{"content":"psst","to":["bob"]}"#);
    bob.expect(r#"{"type":"message","from":"alice","content":"psst","to":["bob"]}"#);
    carol.expect_quiet();
    alice.expect_quiet();

    // Unknown names: the known ones still get it (once), the sender gets
    // one error naming the unknown ones.
    alice.send(br#"{"content":"two","to":["nobody","bob","bob","ghost"]}"#);
    bob.expect(&directed("alice", "two", &["bob"]));
    let why = alice.expect_error("unknown_user");
    assert!(why.contains("nobody") && why.contains("ghost"), "{why:?}");
    alice.send(br#"{"content":"three","to":["ghost"]}"#);
    alice.expect_error("unknown_user");
    bob.expect_quiet();
    carol.expect_quiet();

    // To two of three: the third (the sender excepted) sees nothing.
    alice.send(br#"{"content":"both","to":["carol","bob"]}"#);
    for c in [&mut *bob, &mut *carol] {
        let line = c.line();
        assert!(
            line.starts_with(r#"{"type":"message","from":"alice","content":"both","to":["#),
            "{line:?}"
        );
        match ServerEvent::decode(line.as_bytes()) {
            Ok(ServerEvent::Message { to: Some(mut to), .. }) => {
                to.sort_unstable();
                assert_eq!(to, ["bob", "carol"], "{line:?}");
            }
            other => panic!("{line:?} decodes as {other:?}"),
        }
    }
    bob.send(br#"{"content":"to carol","to":["carol"]}"#);
    carol.expect(&directed("bob", "to carol", &["carol"]));
    alice.expect_quiet();

    // In sync: the next thing everyone sees is this broadcast.
    bob.say("sync");
    alice.expect(&message("bob", "sync"));
    carol.expect(&message("bob", "sync"));

    carol.send(br#"{"list":true}"#);
    carol.expect(r#"{"type":"users","users":["alice","bob","carol"]}"#);
    alice.expect_quiet();
    bob.expect_quiet();
    server.stop();
}

/// The server's resident set size, from `/proc/PID/status`.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The CPU time a process has used (user and system), from
/// `/proc/PID/stat` (in clock ticks, taken as 100 a second).
fn cpu_time(pid: u32) -> Option<Duration> {
    cpu_ticks(pid).map(|ticks| Duration::from_millis(ticks * 10))
}

/// A TCP connection with a small receive buffer (set before the connect,
/// so the window stays small): a peer that never reads fills up fast.
fn connect_small_rcvbuf(addr: SocketAddr, bytes: usize) -> TcpStream {
    use socket2::{Domain, Protocol, Socket, Type};
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
    s.connect_timeout(&addr.into(), IO_TIMEOUT).expect("connect");
    let s = TcpStream::from(s);
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    s
}

/// The flood's `i`th message: 1,000 bytes, numbered.
fn flood_content(i: usize) -> String {
    let mut s = format!("{i:04} ");
    s.extend(std::iter::repeat_n('x', 1000 - s.len()));
    s
}

/// A member that never reads while 4,000 messages of 1 KB flow: the
/// members that keep up get all of them in order; the stalled one is
/// disconnected (its `left` announced) once its unsent bytes pass the
/// outbound budget (64 KiB here), after exactly a prefix of the flow;
/// the server's memory stays bounded.
fn slow_member_is_evicted(rt: &'static str) {
    const N: usize = 4000;
    /// Messages in flight (sent, not yet read by every fast member). The
    /// room's count of a member's unsent bytes lags by up to one write (a
    /// writer reports `Sent` after writing, and its write can hold the whole
    /// window), so a member WINDOW messages behind can count as twice that:
    /// 2 x 24 KiB stays under the 64 KiB budget, and the members that keep up
    /// are never at risk. 24 KiB is also more than the server reads at once,
    /// so its reads end inside frames.
    const WINDOW: usize = 24;
    const RSS_LIMIT: u64 = 64 << 20;
    // The kernel absorbs a stalled reader's data before the room sees any
    // backlog: its receive buffer (kept small with SO_RCVBUF) and the
    // server's send buffer, which Linux grows to megabytes unless fixed
    // (`--send-buffer`); without it the 4,000 messages can all fit.
    let server =
        Server::start(rt, &["chat", "serve", "--outbound-budget", "64K", "--send-buffer", "64K"]);
    let mut clients = join_all(&server, &["alice", "bob", "carol"]);
    let mut dave = Client::new(connect_small_rcvbuf(server.tcp_addr(), 4096), "dave");
    dave.send(join_frame("dave"));
    dave.expect(&joined("dave"));
    for c in &mut clients {
        c.expect(&joined("dave"));
    }
    // From here on dave reads nothing.
    let [alice, rest @ ..] = &mut clients[..] else { unreachable!() };
    let counts = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let started = Instant::now();
    let mut max_rss = 0;
    let lefts: Vec<usize> = thread::scope(|s| {
        let receivers: Vec<_> = rest
            .iter_mut()
            .zip(&counts)
            .map(|(c, count)| {
                s.spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let (mut i, mut left_at) = (0, None);
                    while i < N || left_at.is_none() {
                        assert!(Instant::now() < deadline, "{}: flood too slow at {i}", c.name);
                        let line = c.line();
                        if line == left("dave") {
                            assert_eq!(left_at, None, "{}: two `left`", c.name);
                            left_at = Some(i);
                            continue;
                        }
                        if line != message("alice", &flood_content(i)) {
                            panic!("{}: message {i} is {:.80}...", c.name, line);
                        }
                        i += 1;
                        count.store(i, Ordering::Release);
                    }
                    left_at.unwrap_or(N)
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        'send: for i in 0..N {
            // Keep at most WINDOW messages ahead of the slowest fast reader.
            while counts.iter().map(|c| c.load(Ordering::Acquire)).min().unwrap_or(0) + WINDOW <= i
            {
                if receivers.iter().any(|h| h.is_finished()) {
                    break 'send; // one failed: its panic is raised below
                }
                assert!(Instant::now() < deadline, "the fast members stalled at {i}");
                thread::sleep(Duration::from_micros(200));
            }
            alice.say(&flood_content(i));
            if i % 200 == 0 {
                max_rss = max_rss.max(rss_bytes(server.pid()).unwrap_or(0));
            }
        }
        receivers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    max_rss = max_rss.max(rss_bytes(server.pid()).unwrap_or(0));
    let took = started.elapsed();
    // The fan-out goes in join order and dave joined last: the `left` comes
    // right after the message that broke his budget, at the same place for
    // every fast member.
    assert!(lefts[0] < N, "dave was never evicted");
    assert_eq!(lefts[0], lefts[1], "bob and carol saw dave leave at different places");
    alice.expect(&left("dave"));
    // Dave got a prefix of the flow, in order, then the close: nothing lost
    // in the middle, nothing after the message that evicted him.
    let got = dave.lines_to_close();
    assert_eq!(got.len() + 1, lefts[0], "dave's share vs the place of his `left`");
    for (i, line) in got.iter().enumerate() {
        assert!(*line == message("alice", &flood_content(i)), "dave's message {i}: {line:.80}");
    }
    assert!(max_rss > 0, "cannot read the server's RSS");
    assert!(max_rss < RSS_LIMIT, "server RSS {} MiB", max_rss >> 20);
    eprintln!(
        "note: {rt}: {N} messages of 1 KB to 2 members in {took:?}; the stalled one evicted \
         after {} messages; server RSS at most {} MiB",
        got.len(),
        max_rss >> 20
    );
    // The room goes on.
    rest[0].say("after");
    alice.expect(&message("bob", "after"));
    rest[1].expect(&message("bob", "after"));
    server.stop();
}

/// A running `sansnet chat join`: stdin piped, stdout lines on a channel
/// with the time each came.
pub(crate) struct Joiner {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<(Instant, String)>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Joiner {
    fn spawn(addr: SocketAddr, name: &str) -> Joiner {
        Joiner::spawn_in(&[], addr, name)
    }

    /// `chat join` run by `wrapper` (`ip netns exec NS`: on a test host).
    pub(crate) fn spawn_in(wrapper: &[&str], addr: SocketAddr, name: &str) -> Joiner {
        let mut child = crate::support::sansnet_under(wrapper)
            .args(["chat", "join", &addr.to_string(), "--name", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sansnet chat join");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let mut pipe = child.stderr.take().expect("stderr");
        thread::spawn(move || {
            let mut all = Vec::new();
            let _ = pipe.read_to_end(&mut all);
            sink.lock().unwrap_or_else(|e| e.into_inner()).extend(all);
        });
        let stdin = child.stdin.take();
        Joiner { child, stdin, lines, stderr }
    }

    #[track_caller]
    fn expect_line(&mut self, want: &str) {
        match self.lines.recv_timeout(IO_TIMEOUT) {
            Ok((_, line)) => assert_eq!(line, want, "chat join printed"),
            Err(e) => panic!("chat join: no line {want:?} ({e}); stderr: {}", self.stderr()),
        }
    }

    /// Waits (at most `within`) for the line `want`, skipping others;
    /// when it came.
    #[track_caller]
    pub(crate) fn wait_for(&self, want: &str, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if line == want => return at,
                Ok(_) => {}
                Err(e) => panic!("chat join: no line {want:?} within {within:?} ({e})"),
            }
        }
    }

    #[track_caller]
    pub(crate) fn type_line(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).and_then(|()| stdin.flush()).expect("write to stdin");
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn stderr(&self) -> String {
        thread::sleep(Duration::from_millis(20)); // let the reader catch up
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Waits (bounded) for the exit; then stdout must end with no more lines.
    #[track_caller]
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "chat join still running");
            thread::sleep(Duration::from_millis(5));
        };
        match self.lines.recv_timeout(IO_TIMEOUT) {
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
            other => panic!("chat join: stdout after the expected lines: {other:?}"),
        }
        status
    }
}

impl Drop for Joiner {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `sansnet chat join` as a real client: its stdin lines become messages,
/// what arrives is printed, end of input (or `/quit`) leaves and exits 0;
/// a taken name is a one-line error and a non-zero exit.
fn chat_join_client(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let addr = server.tcp_addr();
    let mut bob = Joiner::spawn(addr, "bob");
    bob.expect_line("* bob joined");
    let mut alice = Client::join(&server, "alice");
    bob.expect_line("* alice joined");
    alice.say("text {with} \"braces\" é 🎉");
    bob.expect_line("[alice] text {with} \"braces\" é 🎉");

    bob.type_line("hello alice\n");
    alice.expect(&message("bob", "hello alice"));
    bob.type_line("{\"not\": \"json to the client\"} é\r\n");
    alice.expect(&message("bob", "{\"not\": \"json to the client\"} é"));
    bob.type_line("/msg alice just you\n");
    alice.expect(&directed("bob", "just you", &["alice"]));
    bob.type_line("/list\n");
    bob.expect_line("* here: alice, bob");
    bob.type_line("last words");
    bob.close_stdin();
    alice.expect(&message("bob", "last words"));
    alice.expect(&left("bob"));
    let status = bob.wait();
    assert!(status.success(), "chat join exited {status}; stderr: {}", bob.stderr());

    // `/quit` leaves while stdin stays open.
    let mut carol = Joiner::spawn(addr, "carol");
    alice.expect(&joined("carol"));
    carol.expect_line("* carol joined");
    carol.type_line("/quit\n");
    alice.expect(&left("carol"));
    let status = carol.wait();
    assert!(status.success(), "chat join exited {status}; stderr: {}", carol.stderr());

    // A taken name: an error, not a hang.
    let out = run_bounded(
        Command::new(sansnet_bin()).args(["chat", "join", &addr.to_string(), "--name", "alice"]),
        b"",
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "chat join as a taken name succeeded");
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("name_taken")
            && stderr.lines().count() == 1,
        "stderr: {stderr:?}"
    );
    alice.expect_quiet();
    server.stop();
}

/// The limits of issue 13 are listed in `chat serve --help` with their
/// defaults.
#[test]
fn chat_serve_help_lists_the_fairness_limits() {
    let out = run_bounded(
        Command::new(sansnet_bin()).args(["chat", "serve", "--help"]),
        b"",
        Duration::from_secs(10),
    );
    let help =
        String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    for (flag, default) in [("--announce-every", "0.05"), ("--sender-hold", "1")] {
        let at = help.find(flag).unwrap_or_else(|| panic!("{flag} not in --help: {help}"));
        let rest = &help[at..];
        let next = rest[2..].find(" --").map_or(rest.len(), |i| i + 2);
        assert!(rest[..next].contains(&format!("[default: {default}]")), "{}", &rest[..next]);
    }
}

/// Connects one client per name from `threads` threads and sends each
/// its `username` without waiting for an answer.
fn join_at_once(addr: SocketAddr, names: Vec<String>, threads: usize) -> Vec<Client> {
    let names = &names;
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mine = names.iter().skip(t).step_by(threads);
                    mine.map(|name| {
                        let mut c = Client::connect_to(addr, name);
                        c.send(join_frame(name));
                        c
                    })
                    .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("connecting thread")).collect()
    })
}

/// The limit on open files after raising the soft limit to the hard one,
/// as every `sansnet` program does (`None`: unknown).
fn open_files_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// 1,000 members on smol: all join, one broadcast reaches every one of
/// them. A few threads, each with its share of blocking sockets.
#[test]
fn thousand_members_on_smol() {
    const N: usize = 1000;
    const THREADS: usize = 4;
    if let Some(limit) = open_files_limit()
        && limit < N as u64 + 200
    {
        eprintln!("note: the open files limit is {limit}; skipping the 1,000 members test");
        return;
    }
    let started = Instant::now();
    let server = Server::start("smol", &["chat", "serve"]);
    let addr = server.tcp_addr();
    let name = |i: usize| format!("m{i:04}");
    let mut host = Client::join(&server, &name(0));
    let mut members = join_at_once(addr, (1..N).map(name).collect(), THREADS);
    // The first member sees every other one join, each once.
    let mut seen = BTreeSet::new();
    while seen.len() < N - 1 {
        let line = host.line();
        let who = line
            .strip_prefix(r#"{"type":"joined","username":""#)
            .and_then(|l| l.strip_suffix("\"}"))
            .unwrap_or_else(|| panic!("expected a `joined`, got {line:?}"));
        assert!(seen.insert(who.to_owned()), "{who} joined twice");
    }
    host.say("hello, all 1000");
    let want = message(&name(0), "hello, all 1000");
    let reached = AtomicUsize::new(0);
    thread::scope(|s| {
        for chunk in members.chunks_mut(N.div_ceil(THREADS)) {
            let (want, reached) = (&want, &reached);
            s.spawn(move || {
                for c in chunk {
                    // Its own `joined` first, then later ones, then the message.
                    let own = joined(&c.name);
                    c.expect(&own);
                    loop {
                        let line = c.line();
                        if line == *want {
                            break;
                        }
                        assert!(line.starts_with(r#"{"type":"joined","#), "{}: {line:?}", c.name);
                    }
                    reached.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(reached.load(Ordering::Relaxed), N - 1);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "1,000 members took {took:?}");
    host.expect_quiet();
    drop(members);
    drop(host);
    server.stop();
    eprintln!("note: 1,000 members joined and got a broadcast in {took:?}");
}

// -- issue 13: what a hostile member could do ----------------------------------

/// `chat join` prints other members' text escaped: escape sequences, BEL,
/// CR and a newline that would fake `* admin joined` stay on one line.
fn chat_join_escapes_peer_text(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut bob = Joiner::spawn(server.tcp_addr(), "bob");
    bob.expect_line("* bob joined");
    let mut mallory = Client::join(&server, "mallory");
    bob.expect_line("* mallory joined");
    mallory.say("\u{1b}[2J\u{1b}]0;title\u{7}bell\rcr\n* admin joined\u{202e}dlrow");
    bob.expect_line(r"[mallory] \u{1b}[2J\u{1b}]0;title\u{7}bell\rcr\n* admin joined\u{202e}dlrow");
    mallory.say("after");
    bob.expect_line("[mallory] after");
    drop(mallory);
    bob.expect_line("* mallory left");
    server.stop();
}

/// Beside `victim`: look-alikes are `name_taken`; invisible, bidi,
/// separator and edge-whitespace characters and peer-address shapes are
/// `bad_message`; the connection stays open for another try.
fn names_that_impersonate_are_refused(rt: &'static str) {
    let server = Server::start(rt, &["chat", "serve"]);
    let mut victim = Client::join(&server, "victim");
    let mut other = Client::connect(&server, "other");
    for (name, code) in [
        ("Victim", "name_taken"),
        ("v\u{456}ctim", "name_taken"),
        ("vic\u{200b}tim", "bad_message"),
        ("\u{202e}mitciv", "bad_message"),
        ("victim ", "bad_message"),
        ("a\u{2028}b", "bad_message"),
        ("127.0.0.1:1234", "bad_message"),
        ("[::1]:5", "bad_message"),
    ] {
        other.send(join_frame(name));
        let message = other.expect_error(code);
        assert!(!message.is_empty(), "{name:?}");
    }
    other.send(join_frame("other"));
    other.expect(&joined("other"));
    victim.expect(&joined("other"));
    victim.expect_quiet();
    server.stop();
}

/// 3,000 connections join at once and never read; a member's `list` is
/// answered within 10 s of the storm's start. Before join announcements
/// were coalesced, each join cost a write to every member: 4.5 million
/// writes, 7 to 30 s of the server's CPU in a debug build.
fn join_storm_then_list(rt: &'static str) {
    const N: usize = 3000;
    const THREADS: usize = 3;
    if let Some(limit) = open_files_limit()
        && limit < 4 * (N as u64 + 200)
    {
        eprintln!("note: the open files limit is {limit}; skipping the join storm on {rt}");
        return;
    }
    let server = Server::start(rt, &["chat", "serve", "--announce-every", "0.05"]);
    let addr = server.tcp_addr();
    let mut host = Client::join(&server, "host");
    let started = Instant::now();
    let storm = join_at_once(addr, (0..N).map(|i| format!("s{i:04}")).collect(), THREADS);
    let joined_in = started.elapsed();
    host.send(br#"{"list":true}"#);
    let deadline = started + Duration::from_secs(10);
    let users = loop {
        assert!(Instant::now() < deadline, "{rt}: no answer to `list` 10 s after the storm began");
        let line = host.line();
        if line.starts_with(r#"{"type":"users""#) {
            break line;
        }
        assert!(line.starts_with(r#"{"type":"joined""#), "{line:.80}");
    };
    let answered = started.elapsed();
    assert!(users.contains(r#""host""#), "{users:.80}");
    let cpu = cpu_time(server.pid()).unwrap_or_default();
    eprintln!(
        "note: {rt}: {N} joins sent in {joined_in:?}, `list` answered {:?} later; \
         server CPU so far {cpu:?}",
        answered - joined_in
    );
    drop(storm);
    server.stop();
}

/// A member flooding 60 KB messages as fast as the server reads them does
/// not get a member that reads 1.5 MB/s disconnected: the flooder is slowed
/// to what the reader takes, the reader stays for 6 s and still hears a
/// third member.
fn a_flooder_does_not_evict_a_fair_reader(rt: &'static str) {
    const RATE: f64 = 1.5e6; // bytes per second
    const STAY: Duration = Duration::from_secs(6);
    // A small send buffer so that the room, not the kernel, holds the
    // backlog (as in slow_member_is_evicted).
    let args = ["chat", "serve", "--send-buffer", "64K", "--sender-hold", "1"];
    let server = Server::start(rt, &args);
    let addr = server.tcp_addr();
    let mut flood = Client::join(&server, "flood");
    let mut reader = Client::new(connect_small_rcvbuf(addr, 64 * 1024), "reader");
    reader.send(join_frame("reader"));
    reader.expect(&joined("reader"));
    flood.expect(&joined("reader"));
    let started = Instant::now();
    let stop = std::sync::atomic::AtomicBool::new(false);
    /// Stops the flood however the reader's loop ends (a panic included),
    /// unblocking a write the server does not take.
    struct Stop<'a>(&'a std::sync::atomic::AtomicBool, TcpStream);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
            let _ = self.1.shutdown(Shutdown::Both);
        }
    }
    let big = say_frame(&"f".repeat(60_000));
    thread::scope(|s| {
        let _stop = Stop(&stop, flood.stream.try_clone().expect("clone"));
        let (stop, big) = (&stop, &big);
        let mut stream = flood.stream.try_clone().expect("clone");
        stream.set_write_timeout(Some(Duration::from_secs(30))).expect("write timeout");
        s.spawn(move || {
            while !stop.load(Ordering::Relaxed) && started.elapsed() < STAY * 3 {
                if stream.write_all(big.as_bytes()).is_err() {
                    break;
                }
            }
        });
        // The third member joins at 3 s, says one line and leaves.
        s.spawn(move || {
            thread::sleep(Duration::from_secs(3));
            let mut talker = Client::connect_to(addr, "talker");
            talker.send(format!("{}{}", join_frame("talker"), say_frame("still here")));
            talker.shutdown_write();
            let _ = talker.lines_to_close();
        });
        // The reader: about RATE bytes per second, until it has stayed
        // STAY and heard the talker.
        let want = message("talker", "still here");
        let mut heard = false;
        let mut total = 0usize;
        let mut chunk = vec![0u8; 16 * 1024];
        let mut tail = String::new();
        while !(heard && started.elapsed() >= STAY) {
            assert!(started.elapsed() < STAY * 3, "{rt}: the talker was never heard");
            let n = match reader.stream.read(&mut chunk) {
                Ok(0) => panic!("{rt}: the reader was disconnected after {:?}", started.elapsed()),
                Ok(n) => n,
                Err(e) => panic!("{rt}: reading: {e} after {:?}", started.elapsed()),
            };
            total += n;
            // Look for the talker's line across chunk boundaries.
            tail.push_str(&String::from_utf8_lossy(&chunk[..n]));
            heard |= tail.contains(&want);
            if tail.len() > want.len() {
                let mut cut = tail.len() - want.len();
                while !tail.is_char_boundary(cut) {
                    cut -= 1;
                }
                tail.drain(..cut);
            }
            let ahead = Duration::from_secs_f64(total as f64 / RATE);
            if let Some(wait) = ahead.checked_sub(started.elapsed()) {
                thread::sleep(wait);
            }
        }
        eprintln!(
            "note: {rt}: a reader at 1.5 MB/s stayed {:?} beside a flooder, {} MB read",
            started.elapsed(),
            total / 1_000_000
        );
    });
    drop(flood);
    drop(reader);
    server.stop();
}
