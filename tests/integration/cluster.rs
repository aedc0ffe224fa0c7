//! `sansnet chat serve --redis URL` (PROTOCOLS.md §6): one room across
//! several server processes, on every runtime.
//!
//! Each test starts its own `redis-server` on a free loopback port with
//! persistence off ([`Redis`], stopped on drop) and two or three chat
//! servers on it with a node ttl of one second; members are raw TCP
//! clients ([`Client`] of the chat tests). A member's `joined` on another
//! server arrives when that server hears of it, so each test first waits
//! until every member's list shows the whole room ([`until_users`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::chat::{Client, directed, join_frame, joined, left, message, say_frame, users};
use crate::support::{IO_TIMEOUT, Server, per_runtime, run_bounded, sansnet_bin};

per_runtime!(
    one_room_across_two_servers,
    names_are_unique_across_servers,
    one_name_claimed_at_once_on_two_servers,
    messages_keep_their_order,
    three_servers,
    a_killed_server_leaves_the_room,
    redis_restarts_mid_chat,
    redis_unreachable_at_start,
    a_stopped_server_says_goodbye,
    a_name_taken_over_in_redis_is_lost,
    a_lost_name_leaves_the_other_servers,
);

/// How long a Redis of ours may take to answer its first PING.
const REDIS_START: Duration = Duration::from_secs(10);

/// A `redis-server` of our own on a loopback port, persistence off;
/// killed on drop.
pub(crate) struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    /// One on a free port.
    pub(crate) fn start() -> Redis {
        Redis::start_on(free_port())
    }

    /// One on `port`, once it answers PING.
    fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package; .ci/run installs it)");
        let redis = Redis { child: Some(child), port };
        let deadline = Instant::now() + REDIS_START;
        while !redis.answers() {
            assert!(Instant::now() < deadline, "redis-server on port {port} did not answer");
            thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// Whether it answers PING.
    fn answers(&self) -> bool {
        let addr = ([127, 0, 0, 1], self.port).into();
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Runs one command (RESP); its one-line answer.
    fn command(&self, args: &[&str]) -> String {
        let addr = ([127, 0, 0, 1], self.port).into();
        let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to redis");
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("write to redis");
        let mut answer = Vec::new();
        let mut byte = [0u8];
        while !answer.ends_with(b"\r\n") {
            s.read_exact(&mut byte).expect("read from redis");
            answer.push(byte[0]);
        }
        String::from_utf8_lossy(&answer).trim_end().to_owned()
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL), as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A new one on the same port (empty: nothing was saved).
    fn restart(&mut self) {
        self.kill();
        *self = Redis::start_on(self.port);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nothing listens on (just now).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local_addr").port()
}

/// `sansnet chat serve --redis URL --node-ttl 1` on `rt`.
fn node(rt: &'static str, redis: &Redis) -> Server {
    Server::start(rt, &["chat", "serve", "--redis", &redis.url(), "--node-ttl", "1"])
}

/// A Redis, `servers` servers on it and `members` (server, name) joined,
/// each one's list showing them all.
fn room<const N: usize>(
    rt: &'static str,
    servers: usize,
    members: [(usize, &str); N],
) -> (Redis, Vec<Server>, [Client; N]) {
    let redis = Redis::start();
    let servers: Vec<Server> = (0..servers).map(|_| node(rt, &redis)).collect();
    let mut clients = members.map(|(i, name)| Client::join(&servers[i], name));
    let mut names: Vec<&str> = members.iter().map(|m| m.1).collect();
    names.sort();
    for c in &mut clients {
        until_users(c, &names);
    }
    (redis, servers, clients)
}

/// Asks `c` for the member list until it is `want` (the room has settled
/// across the servers), within [`IO_TIMEOUT`]; the `joined` lines that
/// come meanwhile are skipped.
#[track_caller]
pub(crate) fn until_users(c: &mut Client, want: &[&str]) {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        c.send(r#"{"list":true}"#);
        let line = loop {
            let line = c.line();
            if !line.starts_with(r#"{"type":"joined""#) {
                break line;
            }
        };
        if line == users(want) {
            return;
        }
        assert!(line.starts_with(r#"{"type":"users""#), "unexpected {line:?}");
        assert!(Instant::now() < deadline, "the room never became {want:?}: {line}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Joins `name` on `server`, trying again while it is `name_taken` (it is
/// being freed), within [`IO_TIMEOUT`].
#[track_caller]
fn join_when_free(server: &Server, name: &str) -> Client {
    let mut c = Client::connect(server, name);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        c.send(join_frame(name));
        let line = c.line();
        if line == joined(name) {
            return c;
        }
        assert!(line.contains(r#""code":"name_taken""#), "{name}: unexpected {line:?}");
        assert!(Instant::now() < deadline, "{name} never became free");
        thread::sleep(Duration::from_millis(50));
    }
}

fn one_room_across_two_servers(rt: &'static str) {
    let members = [(0, "alice"), (1, "bob"), (1, "carol")];
    let (_redis, servers, [mut alice, mut bob, mut carol]) = room(rt, 2, members);
    alice.say("hi all");
    bob.expect(&message("alice", "hi all"));
    carol.expect(&message("alice", "hi all"));
    bob.say("hello");
    alice.expect(&message("bob", "hello"));
    carol.expect(&message("bob", "hello"));

    // Directed: to members on the other server, and to nobody known.
    bob.send(r#"{"content":"psst","to":["alice","nobody"]}"#);
    alice.expect(&directed("bob", "psst", &["alice"]));
    bob.expect_error("unknown_user");
    alice.send(r#"{"content":"you two","to":["carol","bob"]}"#);
    carol.expect(&directed("alice", "you two", &["carol", "bob"]));
    bob.expect(&directed("alice", "you two", &["carol", "bob"]));
    alice.send(r#"{"content":"?","to":["nobody"]}"#);
    alice.expect_error("unknown_user");

    // Leaving is announced everywhere.
    bob.shutdown_write();
    bob.expect_closed();
    alice.expect(&left("bob"));
    carol.expect(&left("bob"));
    until_users(&mut alice, &["alice", "carol"]);
    alice.expect_quiet();
    carol.expect_quiet();
    servers.into_iter().for_each(|s| drop(s.stop()));
}

fn names_are_unique_across_servers(rt: &'static str) {
    let redis = Redis::start();
    let (a, b) = (node(rt, &redis), node(rt, &redis));
    let mut alice = Client::join(&a, "alice");
    // Taken on the other server, exactly or by a look-alike.
    let mut other = Client::connect(&b, "other");
    for name in ["alice", "ALICE"] {
        other.send(join_frame(name));
        other.expect_error("name_taken");
    }
    // Freed when she leaves: then the other server's to give.
    alice.shutdown_write();
    alice.expect_closed();
    let mut alice2 = join_when_free(&b, "alice");
    let mut again = Client::connect(&a, "again");
    again.send(join_frame("Alice"));
    again.expect_error("name_taken");
    alice2.expect_quiet();
    a.stop();
    b.stop();
}

/// The same name (or look-alikes) asked for on two servers at once: one
/// gets it, the other `name_taken` (the claim is one Lua script).
fn one_name_claimed_at_once_on_two_servers(rt: &'static str) {
    let redis = Redis::start();
    let (a, b) = (node(rt, &redis), node(rt, &redis));
    for (i, (x, y)) in [("zed", "zed"), ("Eve", "eve"), ("ann", "ANN")].into_iter().enumerate() {
        let (mut on_a, mut on_b) = (Client::connect(&a, "on a"), Client::connect(&b, "on b"));
        on_a.send(join_frame(x));
        on_b.send(join_frame(y));
        let (got_a, got_b) = (on_a.line(), on_b.line());
        let won = [got_a == joined(x), got_b == joined(y)];
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{i}: {got_a} / {got_b}");
        let lost = if won[0] { got_b } else { got_a };
        assert!(lost.contains(r#""code":"name_taken""#), "{i}: {lost}");
    }
    a.stop();
    b.stop();
}

fn messages_keep_their_order(rt: &'static str) {
    const N: usize = 300;
    let members = [(0, "alice"), (0, "dave"), (1, "bob"), (1, "carol")];
    let (_redis, servers, [mut alice, mut dave, mut bob, mut carol]) = room(rt, 2, members);
    // In bursts of many frames per write, and one by one.
    let frames: Vec<String> = (0..N).map(|i| say_frame(&format!("m{i}"))).collect();
    for chunk in frames[..N / 2].chunks(30) {
        alice.send(chunk.concat());
    }
    for frame in &frames[N / 2..] {
        alice.send(frame);
    }
    for c in [&mut bob, &mut carol, &mut dave] {
        for i in 0..N {
            c.expect(&message("alice", &format!("m{i}")));
        }
    }
    bob.expect_quiet();
    servers.into_iter().for_each(|s| drop(s.stop()));
}

fn three_servers(rt: &'static str) {
    let names = ["a", "b", "c"];
    let (_redis, servers, members) = room(rt, 3, [(0, "a"), (1, "b"), (2, "c")]);
    let mut members = Vec::from(members);
    for (i, from) in names.iter().enumerate() {
        members[i].say(&format!("from {from}"));
        for (j, m) in members.iter_mut().enumerate() {
            if j != i {
                m.expect(&message(from, &format!("from {from}")));
            }
        }
    }
    members[0].send(r#"{"content":"to c","to":["c"]}"#);
    members[2].expect(&directed("a", "to c", &["c"]));
    members[1].expect_quiet();
    let b = members.remove(1);
    b.shutdown_write();
    members[0].expect(&left("b"));
    members[1].expect(&left("b"));
    servers.into_iter().for_each(|s| drop(s.stop()));
}

fn a_killed_server_leaves_the_room(rt: &'static str) {
    let members = [(0, "alice"), (0, "carol"), (1, "bob")];
    let (_redis, mut servers, [_alice, _carol, mut bob]) = room(rt, 2, members);
    let killed = Instant::now();
    drop(servers.remove(0)); // SIGKILL
    let b = servers.remove(0);
    let mut gone = [bob.line(), bob.line()];
    gone.sort();
    assert_eq!(gone, [left("alice"), left("carol")]);
    // Detected within the ttl (1 s), give or take a heartbeat.
    assert!(killed.elapsed() < Duration::from_secs(3), "took {:?}", killed.elapsed());
    // Its names free themselves (they expire in Redis).
    let mut alice2 = join_when_free(&b, "alice");
    bob.expect(&joined("alice"));
    until_users(&mut alice2, &["alice", "bob"]);
    b.stop();
}

/// A server stopped gracefully tells the others its members left at
/// once (not after the ttl, 10 s here) and gives their names back.
fn a_stopped_server_says_goodbye(rt: &'static str) {
    let redis = Redis::start();
    let args = ["chat", "serve", "--redis", &redis.url()];
    let (a, b) = (Server::start(rt, &args), Server::start(rt, &args));
    // Each says its node id (random: 8 hex digits) at start.
    let named = Server::start(rt, &[&args[..], &["--node-id", "n-7", "--room", "r"]].concat());
    let said = named.stop();
    let place = redis.url().replace("redis://", "");
    assert!(said.contains(&format!("node n-7 in room r through redis at {place}")), "{said}");
    // (stderr is read by a thread of its own: wait for the line.)
    let deadline = Instant::now() + Duration::from_secs(5);
    while !a.stderr().contains("node ") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let line = a.stderr();
    let id = line.split("node ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("");
    assert!(id.len() == 8 && id.bytes().all(|c| c.is_ascii_hexdigit()), "{line}");
    let _alice = Client::join(&a, "alice");
    let mut bob = Client::join(&b, "bob");
    until_users(&mut bob, &["alice", "bob"]);
    a.stop();
    bob.expect(&left("alice"));
    let mut alice = Client::connect(&b, "alice");
    alice.send(join_frame("alice"));
    alice.expect(&joined("alice"));
    b.stop();
}

fn redis_restarts_mid_chat(rt: &'static str) {
    let members = [(0, "alice"), (0, "carol"), (1, "bob")];
    let (mut redis, mut servers, [mut alice, mut carol, mut bob]) = room(rt, 2, members);
    let (a, b) = (servers.remove(0), servers.remove(0));
    redis.kill();
    // Local chat goes on.
    alice.say("during");
    carol.expect(&message("alice", "during"));
    redis.restart();

    // Once both servers are back, messages cross again; what was sent
    // while they were not is dropped, and nothing comes twice. A server
    // back more than the ttl (1 s here) after the other has its members
    // announced left, then joined again: the only other lines allowed.
    let churn = [left("alice"), left("carol"), joined("alice"), joined("carol")];
    let churn = [&churn[..], &[left("bob"), joined("bob")]].concat();
    let skip_to = |c: &mut Client, want: &str| loop {
        let line = c.line();
        if line == want {
            break;
        }
        assert!(churn.contains(&line), "waiting for {want}: unexpected {line:?}");
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    for i in 0.. {
        assert!(Instant::now() < deadline, "nothing crossed after the restart: {seen:?}");
        alice.say(&format!("probe {i}"));
        skip_to(&mut carol, &message("alice", &format!("probe {i}")));
        if let Some(line) = bob.line_within(Duration::from_millis(100)) {
            seen.push(line);
            if seen.last().is_some_and(|l| l.contains("probe")) {
                break;
            }
        }
    }
    alice.say("final");
    skip_to(&mut carol, &message("alice", "final"));
    loop {
        let line = bob.line();
        if line == message("alice", "final") {
            break;
        }
        seen.push(line);
    }
    // Only probes (in order, once each), and the members leaving and
    // coming back if one server took longer than the ttl to return.
    let probes: Vec<usize> = seen
        .iter()
        .filter_map(|l| {
            let n = l.strip_prefix(r#"{"type":"message","from":"alice","content":"probe "#)?;
            n.strip_suffix("\"}")?.parse().ok()
        })
        .collect();
    assert!(probes.windows(2).all(|w| w[0] < w[1]), "out of order or twice: {seen:?}");
    let other: Vec<&String> = seen.iter().filter(|l| !l.contains("probe")).collect();
    assert!(other.iter().all(|l| churn.contains(l)), "unexpected: {other:?}");
    bob.say("back");
    for c in [&mut alice, &mut carol] {
        skip_to(c, &message("bob", "back"));
    }
    until_users(&mut bob, &["alice", "bob", "carol"]);
    let log = a.stop();
    assert!(log.contains("redis lost"), "the loss is logged: {log}");
    assert!(log.contains("could not reach"), "the drop is logged: {log}");
    b.stop();
}

fn redis_unreachable_at_start(rt: &'static str) {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let mut cmd = Command::new(sansnet_bin());
    cmd.args(["--runtime", rt, "chat", "serve", "--bind", "127.0.0.1:0", "--redis", &url]);
    let out = run_bounded(&mut cmd, b"", Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: redis "), "{stderr}");
    assert!(out.stdout.is_empty(), "it did not listen: {:?}", out.stdout);
}

#[test]
fn help_lists_the_cluster_flags() {
    let mut cmd = Command::new(sansnet_bin());
    cmd.args(["chat", "serve", "--help"]);
    let out = run_bounded(&mut cmd, b"", Duration::from_secs(20));
    let help = String::from_utf8_lossy(&out.stdout);
    for want in ["--redis <URL>", "--room <NAME>", "[default: lobby]", "--node-id <ID>"] {
        assert!(help.contains(want), "{want} missing from:\n{help}");
    }
    assert!(help.contains("--node-ttl <SECS>"), "{help}");
    // Without --redis they mean nothing: refused.
    let mut cmd = Command::new(sansnet_bin());
    cmd.args(["chat", "serve", "--room", "x"]);
    let out = run_bounded(&mut cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2));
}

/// Another node's now, in Redis, as after a link down for longer than the
/// ttl while that node took the name: `name`'s keys.
fn take_over(redis: &Redis, name: &str) {
    for key in sansnet_proto::text::name_keys(name) {
        let key = format!("sansnet:chat:lobby:name:{key}");
        assert_eq!(redis.command(&["SET", &key, "another-node"]), "+OK");
    }
}

/// A name taken over in Redis: at the next refresh its member is told
/// `name_taken` and closed.
fn a_name_taken_over_in_redis_is_lost(rt: &'static str) {
    let (redis, servers, [mut alice, _bob]) = room(rt, 2, [(0, "alice"), (1, "bob")]);
    take_over(&redis, "alice");
    alice.expect_error("name_taken");
    alice.expect_closed();
    servers.into_iter().for_each(|s| drop(s.stop()));
}

/// The same, seen from another server: the member leaves (it stays there
/// as a ghost: the room does not publish `left` for a lost name).
fn a_lost_name_leaves_the_other_servers(rt: &'static str) {
    let (redis, servers, [mut alice, mut bob]) = room(rt, 2, [(0, "alice"), (1, "bob")]);
    take_over(&redis, "alice");
    alice.expect_error("name_taken");
    bob.expect(&left("alice"));
    servers.into_iter().for_each(|s| drop(s.stop()));
}
