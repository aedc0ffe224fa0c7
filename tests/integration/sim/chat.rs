//! Chat: several members talk through one [`Room`] over simulated links:
//! joins (by name or under the peer address), broadcasts, directed
//! messages (to members, to a name nobody has), lists, frames of any size
//! split anywhere, now and then a bad message, bad JSON or an oversize
//! frame; members that end their stream (mid-frame too), reset, stop
//! reading (and fall behind), or arrive late.
//!
//! The room is driven like a hub driver does: reads only while
//! `wants_read(conn)`, leaves unread bytes in each connection's buffer,
//! keeps every polled output until the connection's socket buffer takes
//! it, reports each write with `Input::Sent`, writes what was queued then
//! closes on `Output::Close` (then `Input::Gone`).
//!
//! Checked on every step: every line a client reads is a valid event;
//! broadcasts from each sender arrive in order, exactly once, without
//! gaps, never to the sender; a directed message reaches only the names it
//! listed (its `to` a subset of them, the reader among them); errors match
//! what the client sent (`bad_message`, `unknown_user` for a name nobody
//! has, `bad_json` / `frame_too_large` last before the close); the room's
//! events agree with the clients (one `Left` per `Joined`, with the right
//! reason; an eviction only of a connection with exactly that many bytes
//! unsent). At the end: every client read the end of its stream with no
//! partial line; the room has no connection left; and every member that
//! stayed and was never evicted got every broadcast and directed message
//! sent after it saw its own `joined`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use sansnet_proto::chat::{
    ClientMessage, ErrorCode, Event, LeaveReason, Limits, Room, ServerEvent, looks_like_peer,
};
use sansnet_proto::testing::{Conns, HubApp, HubConns};
use sansnet_proto::{ConnId, Hub, Instant};

use super::{Pipe, Rng, for_seeds};

/// How a client's connection ended (or will).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Ended its stream.
    Eof,
    Reset,
    /// Sent bad JSON or an oversize frame.
    Fatal(ErrorCode),
}

struct Client {
    idx: usize,
    max_frame: usize,
    conn: ConnId,
    /// The name it joins with (its peer address when it joins implicitly).
    name: String,
    peer: String,
    /// Joins by sending a message without a name first.
    auto: bool,
    /// Asked for a name that may be taken; the name to try next.
    retry: Option<String>,
    name_taken: usize,
    c2s: Pipe,
    s2c: Pipe,
    out: Vec<u8>,
    written: usize,
    /// Where frames end in `out`.
    frame_ends: BTreeSet<usize>,
    /// The tick at which each broadcast was sent.
    broadcasts: Vec<u64>,
    /// Each directed message: tick, the names, whether one is unknown.
    directed: Vec<(u64, Vec<String>, bool)>,
    /// Frames that must get `bad_message`.
    bad_messages: usize,
    lists: usize,
    /// The tick at which it read its own `joined`.
    joined_at: Option<u64>,
    joins_sent: usize,
    rx: BytesMut,
    fin: bool,
    /// Per sender: the last broadcast number read.
    last_from: BTreeMap<usize, u64>,
    directed_seen: BTreeSet<(usize, u64)>,
    errors: Vec<ErrorCode>,
    users_seen: usize,
    fault: Option<Fault>,
    eof_mid_frame: bool,
    /// Stops reading (until the end of the run).
    laggard: bool,
    /// The room evicted it.
    evicted: bool,
    /// Ended its stream at the end of the run, once all traffic settled.
    clean: bool,
    /// Per sender: the first broadcast number read.
    first_from: BTreeMap<usize, u64>,
    /// Joined/left seen, per name: whether the name is in the room.
    presence: BTreeMap<String, bool>,
}

impl Client {
    fn new(rng: &mut Rng, idx: usize, max_frame: usize) -> Client {
        let auto = rng.one_in(8);
        let peer = format!("10.0.0.{idx}:4{idx:03}");
        Client {
            idx,
            max_frame,
            conn: ConnId(idx as u64 + 1),
            name: if auto { peer.clone() } else { format!("u{idx}") },
            peer,
            auto,
            retry: None,
            name_taken: 0,
            c2s: Pipe::new(rng.range(16, 8192)),
            s2c: Pipe::new(rng.range(64, 4096)),
            out: Vec::new(),
            written: 0,
            frame_ends: BTreeSet::new(),
            broadcasts: Vec::new(),
            directed: Vec::new(),
            bad_messages: 0,
            lists: 0,
            joined_at: None,
            joins_sent: 0,
            rx: BytesMut::new(),
            fin: false,
            last_from: BTreeMap::new(),
            directed_seen: BTreeSet::new(),
            errors: Vec::new(),
            users_seen: 0,
            fault: None,
            eof_mid_frame: false,
            laggard: rng.one_in(6),
            evicted: false,
            clean: false,
            first_from: BTreeMap::new(),
            presence: BTreeMap::new(),
        }
    }

    /// Still sending: no fault, not closed.
    fn sending(&self) -> bool {
        self.fault.is_none() && !self.c2s.is_closed() && !self.fin
    }

    fn push(&mut self, rng: &mut Rng, frame: &[u8]) {
        let frame = frame.strip_suffix(b"\n").unwrap_or(frame);
        if frame.len() > self.max_frame && self.fault.is_none() {
            // Too big, whatever it says: the room cuts the connection.
            self.fault = Some(Fault::Fatal(ErrorCode::FrameTooLarge));
        }
        self.out.extend_from_slice(frame);
        self.frame_ends.insert(self.out.len());
        self.out.extend_from_slice(rng.pick::<&[u8]>(&[&b""[..], b"\n", b" ", b"\r\n", b"\n\n"]));
    }

    fn write(&mut self, rng: &mut Rng) -> bool {
        if self.written == self.out.len() || self.c2s.is_closed() {
            return false;
        }
        let n = rng.split(self.out.len() - self.written);
        let n = self.c2s.write(&self.out[self.written..self.written + n]);
        self.written += n;
        n > 0
    }

    /// Ends the stream after what was written.
    fn eof(&mut self) {
        // Mid-frame unless what was written ends a frame (or nothing).
        let last_end = self.frame_ends.range(..=self.written).next_back().copied().unwrap_or(0);
        let rest = &self.out[last_end..self.written];
        self.eof_mid_frame = rest.iter().any(|b| !b.is_ascii_whitespace());
        self.c2s.close();
        if self.fault.is_none() {
            self.fault = Some(Fault::Eof);
        }
    }
}

fn pad(rng: &mut Rng, max_frame: usize) -> String {
    let pieces = ["a", "b", " ", "\"", "\\", "\n", "é", "😀", "{", "}", "\t", "z"];
    let n = match rng.below(10) {
        0..=6 => rng.range(0, 20),
        7 | 8 => rng.range(20, 120),
        _ => rng.range(120, 250),
    };
    let n = n.min(max_frame / 8);
    (0..n).map(|_| *rng.pick(&pieces)).collect()
}

/// The room's events, each with what the driver held for its connection
/// when it came (for an eviction), checked once the outputs are taken.
#[derive(Default)]
struct Seen(Vec<(Event, usize)>);

impl HubApp<Room> for Seen {
    fn on_event(&mut self, conns: &Conns, ev: Event) {
        let queued = match &ev {
            Event::Evicted { conn, .. } => conns[conn].outq.iter().map(Bytes::len).sum(),
            _ => 0,
        };
        self.0.push((ev, queued));
    }
}

struct Sim {
    rng: Rng,
    limits: Limits,
    /// The room on the core's harness, which takes its outputs and checks
    /// them (nothing for a closed connection, no second close) and keeps
    /// each connection's buffer and queue; writes are this module's (each
    /// socket buffer takes what fits).
    h: HubConns<Room>,
    tick: u64,
    clients: Vec<Client>,
    /// Names the room announced joined (by the room's events), per conn.
    joined: BTreeMap<ConnId, String>,
    left: BTreeMap<ConnId, LeaveReason>,
    /// The members by name, by the room's own events.
    members: BTreeMap<String, ConnId>,
    evicted: BTreeSet<ConnId>,
}

impl Sim {
    fn client(&mut self, conn: ConnId) -> &mut Client {
        &mut self.clients[conn.0 as usize - 1]
    }

    fn open(&mut self) {
        let idx = self.clients.len();
        let mut c = Client::new(&mut self.rng, idx, self.limits.max_frame);
        // Now and then a newcomer asks for the name of someone who joined
        // (maybe gone since): `name_taken` while that one is in the room,
        // then it tries its own name. (A peer address is not asked for: no
        // name may look like one.)
        let names: Vec<String> =
            self.joined.values().filter(|n| !looks_like_peer(n)).cloned().collect();
        if !c.auto && !names.is_empty() && self.rng.one_in(3) {
            let wanted = self.rng.pick(&names).clone();
            c.retry = Some(std::mem::replace(&mut c.name, wanted));
        }
        let (conn, peer) = (c.conn, c.peer.clone());
        self.clients.push(c);
        let mut seen = Seen::default();
        self.h.open(conn, &peer, &mut seen);
        self.check_events(seen);
        self.drain();
    }

    /// A client composes its next frame.
    fn compose(&mut self, i: usize) {
        let tick = self.tick;
        let names: Vec<String> = self.clients.iter().map(|c| c.name.clone()).collect();
        let rng = &mut self.rng;
        let c = &mut self.clients[i];
        if !c.sending() {
            return;
        }
        if c.joins_sent == 0 && !c.auto {
            c.joins_sent = 1;
            let frame = ClientMessage::Join { username: c.name.clone() }.encode();
            return c.push(rng, &frame);
        }
        if c.retry.is_some() && c.joined_at.is_none() {
            return; // Its name may be taken: it waits for the answer.
        }
        // A client that joins implicitly is joined by its first message.
        match rng.below(100) {
            0..=54 => {
                let seq = c.broadcasts.len();
                let content = format!("b:{}:{seq}:{}", c.idx, pad(rng, c.max_frame));
                c.broadcasts.push(tick);
                c.push(rng, &ClientMessage::Say { content, to: None }.encode());
            }
            55..=74 => {
                let seq = c.directed.len();
                let mut to: Vec<String> =
                    (0..rng.range(1, 3)).map(|_| rng.pick(&names).clone()).collect();
                let ghost = rng.one_in(5);
                if ghost {
                    to.push("ghost".into());
                }
                let content = format!("d:{}:{seq}:{}", c.idx, pad(rng, c.max_frame));
                c.directed.push((tick, to.clone(), ghost));
                c.push(rng, &ClientMessage::Say { content, to: Some(to) }.encode());
            }
            75..=84 => {
                c.lists += 1;
                c.push(rng, &ClientMessage::List.encode());
            }
            85..=89 if c.joins_sent > 0 || !c.auto => {
                // Not a message: bad_message, the connection stays.
                let frame: &[u8] = rng.pick::<&[u8]>(&[
                    &br#"{"content": 5}"#[..],
                    br#"{"list": false}"#,
                    br#"{"to": ["x"]}"#,
                    br#"{"username": "a", "content": "b"}"#,
                    br#"{"username": ""}"#,
                    br#"{}"#,
                ]);
                c.bad_messages += 1;
                c.push(rng, frame);
            }
            90..=92 if c.joins_sent > 0 => {
                // A second username: bad_message (no renames).
                c.bad_messages += 1;
                c.push(rng, &ClientMessage::Join { username: format!("again{}", c.idx) }.encode());
            }
            93 if rng.one_in(4) => {
                c.fault = Some(Fault::Fatal(ErrorCode::BadJson));
                let frame: &[u8] =
                    rng.pick::<&[u8]>(&[&b"nope"[..], b"{\"content\": }", b"[1]", b"\xff{}"]);
                c.push(rng, frame);
            }
            94 if rng.one_in(4) => {
                c.fault = Some(Fault::Fatal(ErrorCode::FrameTooLarge));
                let big = "x".repeat(self.limits.max_frame + rng.range(1, 3000));
                c.push(rng, &ClientMessage::Say { content: big, to: None }.encode());
            }
            _ => {
                let seq = c.broadcasts.len();
                let content = format!("b:{}:{seq}:", c.idx);
                c.broadcasts.push(tick);
                c.push(rng, &ClientMessage::Say { content, to: None }.encode());
            }
        }
    }

    /// The room reads from `conn` (a socket read of a random size, or the
    /// end of the stream).
    fn room_read(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let conn = c.conn;
        let srv = &self.h.conns[&conn];
        if srv.gone || srv.closing || srv.eof || !self.h.hub.wants_read(conn) {
            return;
        }
        let mut seen = Seen::default();
        if c.c2s.at_eof() {
            self.h.eof(conn, &mut seen);
        } else {
            let max = self.rng.split(c.c2s.pending());
            if c.c2s.read_into(max, &mut self.h.conn(conn).inbox) == 0 {
                return;
            }
            self.h.offer(conn, &mut seen);
        }
        self.check_events(seen);
        self.check_bound(i);
        self.drain();
    }

    /// The drain contract for the hub: outputs (taken by the harness),
    /// writes as far as each socket buffer takes them (`Sent`), closes
    /// (`Gone`), and buffered input fed again where the room wants it.
    fn drain(&mut self) {
        for round in 0.. {
            assert!(round < 100_000, "the room's drain never settles");
            let mut progressed = self.poll_all();
            for i in 0..self.clients.len() {
                let conn = self.clients[i].conn;
                if self.h.conns[&conn].gone {
                    continue;
                }
                loop {
                    let s2c = &mut self.clients[i].s2c;
                    let mut taken = BytesMut::new();
                    let n = self.h.write(conn, s2c.space(), &mut taken);
                    if n == 0 {
                        break;
                    }
                    assert_eq!(s2c.write(&taken), n);
                    progressed = true;
                    self.poll_all();
                }
                let mut seen = Seen::default();
                let srv = &self.h.conns[&conn];
                if srv.closing && srv.outq.is_empty() {
                    self.clients[i].s2c.close();
                    self.h.gone(conn, &mut seen);
                    progressed = true;
                } else if !srv.closing && !srv.eof {
                    progressed |= self.h.offer(conn, &mut seen);
                    self.check_bound(i);
                }
                self.check_events(seen);
            }
            if !progressed {
                break;
            }
        }
    }

    /// A connection the room reads from holds at most a frame unconsumed.
    fn check_bound(&self, i: usize) {
        let c = &self.clients[i];
        let srv = &self.h.conns[&c.conn];
        if !srv.closing && !srv.gone && self.h.hub.wants_read(c.conn) {
            let left = srv.inbox.len();
            let max = self.limits.max_frame;
            assert!(left <= max, "client {i}: the room wants more but leaves {left} > {max}");
        }
    }

    /// Takes every output of the room (the harness queues the bytes per
    /// connection and marks closes); events to the oracle.
    fn poll_all(&mut self) -> bool {
        let mut seen = Seen::default();
        let any = self.h.poll_all(&mut seen);
        self.check_events(seen);
        any
    }

    fn check_events(&mut self, seen: Seen) {
        for (e, queued) in seen.0 {
            self.on_event(e, queued);
        }
    }

    /// One event of the room; `queued`: for an eviction, what the driver
    /// held for that connection when it came.
    fn on_event(&mut self, e: Event, queued: usize) {
        match e {
            Event::Joined { conn, name } => {
                let c = self.client(conn);
                assert_eq!(name, c.name, "{conn:?} joined under another name");
                let held = self.members.insert(name.clone(), conn);
                assert!(held.is_none(), "{conn:?} joined as {name}, held by {held:?}");
                assert!(self.joined.insert(conn, name).is_none(), "{conn:?} joined twice");
            }
            Event::Left { conn, name, reason } => {
                assert_eq!(self.joined.get(&conn), Some(&name), "Left without Joined");
                assert_eq!(self.members.remove(&name), Some(conn), "{name} left, not a member");
                assert!(self.left.insert(conn, reason).is_none(), "{conn:?} left twice");
                let fault = self.client(conn).fault;
                match reason {
                    LeaveReason::Eof => assert!(
                        matches!(fault, Some(Fault::Eof | Fault::Fatal(_))),
                        "{conn:?} left by EOF, its fault is {fault:?}"
                    ),
                    LeaveReason::Gone => assert_eq!(fault, Some(Fault::Reset)),
                    LeaveReason::Error(code) => assert!(
                        fault == Some(Fault::Fatal(code)) || (fault == Some(Fault::Eof)),
                        "{conn:?} left with {code:?}, its fault is {fault:?}"
                    ),
                    LeaveReason::Evicted => assert!(self.evicted.contains(&conn)),
                }
            }
            Event::Error { conn, code, .. } => {
                let c = self.client(conn);
                match code {
                    ErrorCode::BadJson => assert!(
                        c.fault == Some(Fault::Fatal(code)) || c.eof_mid_frame,
                        "{conn:?}: bad_json, its fault is {:?}",
                        c.fault
                    ),
                    ErrorCode::FrameTooLarge => assert_eq!(c.fault, Some(Fault::Fatal(code))),
                    ErrorCode::BadMessage => assert!(c.bad_messages > 0),
                    ErrorCode::UnknownUser => assert!(!c.directed.is_empty()),
                    // The simulation verifies no identities.
                    ErrorCode::Forbidden => panic!("{conn:?}: forbidden without an identity"),
                    ErrorCode::NameTaken => {
                        let wanted = c.name.clone();
                        let retry = c.retry.is_some() && c.joined_at.is_none();
                        assert!(retry, "{conn:?}: name_taken, and it asked for no taken name");
                        assert!(
                            self.members.contains_key(&wanted),
                            "{conn:?}: name_taken for {wanted}, which no member holds"
                        );
                    }
                }
            }
            Event::Evicted { conn, unsent } => {
                let c = self.client(conn);
                assert!(unsent > 0, "{conn:?} evicted with nothing unsent");
                assert_eq!(unsent, queued, "{conn:?} evicted: the room's count is off");
                assert!(c.fault != Some(Fault::Reset), "a reset connection evicted");
                c.evicted = true;
                self.evicted.insert(conn);
            }
            other => panic!("a lone room said {other:?}"),
        }
    }

    /// A client reads up to `max` bytes and checks each line.
    fn client_read(&mut self, i: usize, max: usize) -> bool {
        let tick = self.tick;
        let c = &mut self.clients[i];
        if c.fin || c.fault == Some(Fault::Reset) {
            return false;
        }
        let n = c.s2c.read_into(max, &mut c.rx);
        let senders: Vec<(String, usize)> =
            self.clients.iter().map(|c| (c.name.clone(), c.idx)).collect();
        let c = &mut self.clients[i];
        while let Some(at) = c.rx.iter().position(|&b| b == b'\n') {
            let line = c.rx.split_to(at + 1);
            let ev = ServerEvent::decode(&line)
                .unwrap_or_else(|e| panic!("client {i}: a bad line {line:?}: {e}"));
            check_line(c, tick, &senders, ev);
        }
        let c = &mut self.clients[i];
        if c.s2c.at_eof() {
            c.fin = true;
            assert!(c.rx.is_empty(), "client {i}: a partial line before the close: {:?}", c.rx);
            return true;
        }
        n > 0
    }
}

fn check_line(c: &mut Client, tick: u64, senders: &[(String, usize)], ev: ServerEvent) {
    let me = c.idx;
    if let Some(code) = c.errors.last()
        && code.closes()
    {
        panic!("client {me}: {ev:?} after the fatal error {code:?}");
    }
    match ev {
        ServerEvent::Joined { username } => {
            if username == c.name && c.joined_at.is_none() {
                c.joined_at = Some(tick);
            } else {
                assert!(c.joined_at.is_some(), "client {me}: joined of {username} before its own");
            }
            let was = c.presence.insert(username.clone(), true);
            assert_ne!(was, Some(true), "client {me}: {username} joined twice");
        }
        ServerEvent::Left { username } => {
            assert!(c.joined_at.is_some(), "client {me}: left before joining");
            assert_ne!(username, c.name, "client {me}: told that it left");
            let was = c.presence.insert(username.clone(), false);
            assert_ne!(was, Some(false), "client {me}: {username} left twice");
        }
        ServerEvent::Users { users } => {
            assert!(c.users_seen < c.lists, "client {me}: users it did not ask for");
            c.users_seen += 1;
            assert!(users.windows(2).all(|w| w[0] < w[1]), "users not sorted: {users:?}");
            assert!(users.contains(&c.name), "client {me}: not in the users list");
        }
        ServerEvent::Error { code, .. } => {
            c.errors.push(code);
            if code == ErrorCode::NameTaken {
                let name = c.retry.take().expect("name_taken only after asking for a taken name");
                assert!(c.joined_at.is_none(), "client {me}: name_taken after joining");
                c.name_taken += 1;
                c.name = name;
                if c.sending() {
                    c.joins_sent += 1;
                    let frame = ClientMessage::Join { username: c.name.clone() }.encode();
                    c.out.extend_from_slice(&frame);
                    c.frame_ends.insert(c.out.len() - 1);
                }
            }
        }
        ServerEvent::Message { from, content, to } => {
            assert!(c.joined_at.is_some(), "client {me}: a message before joining");
            let mut parts = content.splitn(4, ':');
            let (kind, idx, seq) = (parts.next(), parts.next(), parts.next());
            let idx: usize = idx.and_then(|s| s.parse().ok()).expect("sender index");
            let seq: u64 = seq.and_then(|s| s.parse().ok()).expect("sequence number");
            let sender = senders.iter().find(|(_, i)| *i == idx).expect("sender");
            assert_eq!(from, sender.0, "client {me}: message {content:?} from {from}");
            match (kind, to) {
                (Some("b"), None) => {
                    assert_ne!(idx, me, "client {me}: its own broadcast came back");
                    let expected = c.last_from.get(&idx).map(|l| l + 1);
                    if let Some(e) = expected {
                        assert_eq!(seq, e, "client {me}: broadcast {seq} of {idx}, expected {e}");
                    }
                    c.last_from.insert(idx, seq);
                    c.first_from.entry(idx).or_insert(seq);
                }
                (Some("d"), Some(to)) => {
                    assert!(
                        to.contains(&c.name),
                        "client {me} ({}) got a message directed to {to:?}",
                        c.name
                    );
                    let dedup: BTreeSet<&String> = to.iter().collect();
                    assert_eq!(dedup.len(), to.len(), "duplicate names in to: {to:?}");
                    assert!(
                        c.directed_seen.insert((idx, seq)),
                        "client {me}: directed {idx}/{seq} twice"
                    );
                }
                (kind, to) => panic!("client {me}: {kind:?} message with to = {to:?}"),
            }
        }
    }
}

fn run(seed: u64) {
    let mut rng = Rng::new(seed);
    let limits = Limits::default()
        .with_max_frame(*rng.pick(&[256, 1024, 4096]))
        .with_outbound_budget(*rng.pick(&[1024, 4096, 65536]));
    let mut sim = Sim {
        rng,
        limits,
        h: HubConns::new(Room::new(limits), Instant::ZERO),
        tick: 0,
        clients: Vec::new(),
        joined: BTreeMap::new(),
        left: BTreeMap::new(),
        members: BTreeMap::new(),
        evicted: BTreeSet::new(),
    };
    sim.h.auto_write = false; // each socket buffer takes what fits
    for _ in 0..sim.rng.range(2, 5) {
        sim.open();
    }
    for _ in 0..1500 {
        sim.tick += 1;
        let n = sim.clients.len();
        let i = sim.rng.below(n as u64) as usize;
        match sim.rng.below(100) {
            0..=24 => sim.compose(i),
            25..=49 => {
                let rng = &mut sim.rng;
                sim.clients[i].write(rng);
            }
            50..=69 => sim.room_read(i),
            70..=89 => {
                if !sim.clients[i].laggard {
                    let max = sim.rng.split(sim.clients[i].s2c.pending().max(1));
                    sim.client_read(i, max);
                }
            }
            90 if sim.rng.one_in(8) => {
                if sim.clients[i].sending() {
                    sim.clients[i].eof();
                }
            }
            91 if sim.rng.one_in(8) => {
                let c = &mut sim.clients[i];
                let conn = c.conn;
                if c.fault.is_none() && !sim.h.conns[&conn].gone {
                    c.fault = Some(Fault::Reset);
                    c.c2s.reset();
                    c.s2c.reset();
                    let mut seen = Seen::default();
                    sim.h.gone(conn, &mut seen);
                    sim.check_events(seen);
                }
            }
            92 if n < 8 && sim.rng.one_in(4) => sim.open(),
            _ => sim.h.now += sim.rng.delay(std::time::Duration::from_secs(1)),
        }
        sim.drain();
    }
    quiesce(&mut sim);
    final_checks(&sim);
    if super::verbose() {
        let faults: Vec<_> = sim.clients.iter().map(|c| c.fault).collect();
        let got: usize =
            sim.clients.iter().map(|c| c.last_from.len() + c.directed_seen.len()).sum();
        eprintln!(
            "chat seed {seed}: {} clients, faults {faults:?}, {} evicted, {got} senders/directed seen, \
             {} name_taken",
            sim.clients.len(),
            sim.clients.iter().map(|c| c.name_taken).sum::<usize>(),
            sim.evicted.len()
        );
    }
}

/// No more faults: every client writes what it composed, reads
/// everything, then ends its stream; runs until every connection is gone.
fn quiesce(sim: &mut Sim) {
    for round in 0.. {
        assert!(round < 1_000_000, "the chat quiesce phase does not end");
        sim.tick += 1;
        let mut progressed = false;
        for i in 0..sim.clients.len() {
            let rng = &mut sim.rng;
            progressed |= sim.clients[i].write(rng);
            let state = |sim: &Sim| {
                let (c, srv) = (&sim.clients[i], &sim.h.conns[&sim.clients[i].conn]);
                (srv.inbox.len(), c.c2s.pending(), srv.eof)
            };
            let before = state(sim);
            sim.room_read(i);
            progressed |= before != state(sim);
            progressed |= sim.client_read(i, usize::MAX);
        }
        sim.drain();
        if progressed {
            continue;
        }
        // Close the first client still open whose bytes are all written.
        let next = sim.clients.iter().position(|c| c.sending() && c.written == c.out.len());
        if let Some(i) = next {
            sim.clients[i].eof();
            sim.clients[i].clean = true;
            continue;
        }
        let open: Vec<usize> = sim
            .clients
            .iter()
            .filter(|c| c.fault != Some(Fault::Reset) && !c.fin)
            .map(|c| c.idx)
            .collect();
        assert!(open.is_empty(), "stuck: clients {open:?} never see their stream end");
        return;
    }
}

fn final_checks(sim: &Sim) {
    assert_eq!(sim.h.hub.connections(), 0, "the room still knows connections");
    assert!(sim.h.hub.is_empty(), "members left in the room");
    for c in &sim.clients {
        if c.fault != Some(Fault::Reset) {
            assert!(c.fin && sim.h.conns[&c.conn].gone, "client {} not closed", c.idx);
        }
        if let (Some(Fault::Fatal(code)), false) = (c.fault, c.evicted) {
            assert_eq!(c.errors.last(), Some(&code), "client {}: the fatal error", c.idx);
        }
        if sim.joined.contains_key(&c.conn) {
            assert!(sim.left.contains_key(&c.conn), "client {}: joined, never left", c.idx);
        }
    }
    // Completeness for clients that stayed to the end and were never
    // evicted: all the traffic of others that ran to the end too.
    let clean =
        |c: &Client| c.clean && c.fault == Some(Fault::Eof) && !c.eof_mid_frame && !c.evicted;
    for r in sim.clients.iter().filter(|c| clean(c)) {
        let Some(joined_at) = r.joined_at else { continue };
        let bad = r.errors.iter().filter(|&&e| e == ErrorCode::BadMessage).count();
        assert_eq!(bad, r.bad_messages, "client {}: bad_message errors", r.idx);
        let ghosts = r.directed.iter().filter(|d| d.2).count();
        let unknown = r.errors.iter().filter(|&&e| e == ErrorCode::UnknownUser).count();
        assert!(unknown >= ghosts && unknown <= r.directed.len(), "client {}: unknown_user", r.idx);
        assert_eq!(r.users_seen, r.lists, "client {}: users answers", r.idx);
        for s in sim.clients.iter().filter(|c| clean(c) && c.idx != r.idx) {
            let first_due = s.broadcasts.iter().position(|&t| t > joined_at);
            if let Some(first) = first_due {
                let last = s.broadcasts.len() as u64 - 1;
                let got_first = r.first_from.get(&s.idx).copied().unwrap_or(u64::MAX);
                assert!(
                    got_first <= first as u64,
                    "client {} missed broadcasts {first}..{got_first} of client {}",
                    r.idx,
                    s.idx
                );
                assert_eq!(
                    r.last_from.get(&s.idx),
                    Some(&last),
                    "client {} missed broadcasts {first}..={last} of client {}",
                    r.idx,
                    s.idx
                );
            }
            for (seq, (t, to, _)) in s.directed.iter().enumerate() {
                if *t > joined_at && to.contains(&r.name) {
                    assert!(
                        r.directed_seen.contains(&(s.idx, seq as u64)),
                        "client {} missed directed {seq} of client {}",
                        r.idx,
                        s.idx
                    );
                }
            }
        }
    }
}

#[test]
fn chat_over_a_simulated_network() {
    for_seeds("chat", 300, run);
}
