//! One room across nodes: several [`Sim`]s (one clustered [`Room`] each)
//! joined by a model of the broker ([`Broker`]): a channel that delivers
//! every publish to every node in order, and name keys that a claim takes
//! all or none of. The clock is simulated; links go down and up at will;
//! the broker can hold, repeat or drop deliveries to one node.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use core::time::Duration;

use bytes::Bytes;

use super::super::cluster::{Cluster, Notice, ToCluster, from_channel};
use super::{Sim, code_of, joined, left, msg};
use crate::chat::{ClientMessage, ErrorCode, Event, Limits, Room, ServerEvent};
use crate::testing::Conns;
use crate::{ConnId, Input, Instant};

const TTL: Duration = Duration::from_secs(3);

/// The broker and the nodes on it.
struct Broker {
    nodes: Vec<Sim>,
    /// Name key -> node index.
    keys: BTreeMap<String, usize>,
    /// Names each node holds: name -> its keys.
    held: Vec<BTreeMap<String, Vec<String>>>,
    /// Whether each node's link is up.
    up: Vec<bool>,
    /// Deliveries waiting, per node.
    inbox: Vec<VecDeque<Bytes>>,
    /// Every payload published, per node (to replay late or twice).
    published: Vec<Vec<Bytes>>,
    /// Nodes whose deliveries are held (a slow subscriber).
    paused: Vec<bool>,
    /// Every release asked for: (node, name).
    released: Vec<(usize, String)>,
}

impl Broker {
    /// `n` nodes `n0..`, links up.
    fn new(n: usize) -> Broker {
        let mut b = Broker {
            nodes: Vec::new(),
            keys: BTreeMap::new(),
            held: vec![BTreeMap::new(); n],
            up: vec![false; n],
            inbox: vec![VecDeque::new(); n],
            published: vec![Vec::new(); n],
            paused: vec![false; n],
            released: Vec::new(),
        };
        for i in 0..n {
            let cluster = Cluster::new(format!("n{i}"), 100 + i as u64).with_ttl(TTL);
            b.nodes.push(Sim::with_room(Room::clustered(Limits::default(), cluster)));
        }
        for i in 0..n {
            b.link(i, true);
        }
        b
    }

    /// Restarts node `i` as a new incarnation: its connections are gone.
    fn restart(&mut self, i: usize) {
        let cluster = Cluster::new(format!("n{i}"), 900 + i as u64).with_ttl(TTL);
        let now = self.nodes[i].h.now;
        self.nodes[i] = Sim::with_room(Room::clustered(Limits::default(), cluster));
        self.nodes[i].h.now = now;
        for keys in core::mem::take(&mut self.held[i]).into_values() {
            for k in keys {
                self.keys.remove(&k);
            }
        }
        self.up[i] = false;
        self.link(i, true);
    }

    fn notice(&mut self, i: usize, notice: Notice) {
        let data = notice.encode();
        self.nodes[i].input(Input::Message { data: &data });
    }

    /// Takes node `i`'s link up or down.
    fn link(&mut self, i: usize, up: bool) {
        if self.up[i] == up {
            return;
        }
        self.up[i] = up;
        if !up {
            self.inbox[i].clear();
        }
        self.notice(i, if up { Notice::Up } else { Notice::Down });
        self.settle();
    }

    /// Carries out what the nodes ask and delivers what is published until
    /// nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                let asks: Vec<ToCluster> = self.nodes[i]
                    .events
                    .iter()
                    .filter_map(|e| match e {
                        Event::Cluster(c) => Some(c.clone()),
                        _ => None,
                    })
                    .collect();
                self.nodes[i].events.retain(|e| !matches!(e, Event::Cluster(_)));
                for ask in asks {
                    moved = true;
                    self.carry_out(i, ask);
                }
                if !self.paused[i]
                    && let Some(data) = self.inbox[i].pop_front()
                {
                    moved = true;
                    self.nodes[i].input(Input::Message { data: &data });
                    self.nodes[i].offer_resumed();
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the cluster never settles");
    }

    fn carry_out(&mut self, i: usize, ask: ToCluster) {
        // Asks made while the link is down fail with it (unanswered).
        if !self.up[i] {
            return;
        }
        match ask {
            ToCluster::Publish(payload) => {
                self.published[i].push(payload.clone());
                let data = from_channel(&payload);
                for (j, inbox) in self.inbox.iter_mut().enumerate() {
                    if self.up[j] {
                        inbox.push_back(data.clone());
                    }
                }
            }
            ToCluster::Claim { conn, name, keys } => {
                let ok = keys.iter().all(|k| self.keys.get(k).is_none_or(|&o| o == i));
                if ok {
                    for k in &keys {
                        self.keys.insert(k.clone(), i);
                    }
                    self.held[i].insert(name.clone(), keys);
                }
                self.notice(i, Notice::Claimed { conn: conn.0, name, ok });
                self.nodes[i].offer_resumed();
            }
            ToCluster::Release { name } => {
                self.released.push((i, name.clone()));
                for k in self.held[i].remove(&name).unwrap_or_default() {
                    if self.keys.get(&k) == Some(&i) {
                        self.keys.remove(&k);
                    }
                }
            }
        }
    }

    /// Moves every node's clock to `at`, firing timers, and settles.
    fn advance_to(&mut self, at: Instant) {
        loop {
            let next = self.nodes.iter().filter_map(|n| n.h.hub_deadline()).min();
            let Some(next) = next.filter(|&t| t <= at) else { break };
            for n in &mut self.nodes {
                if n.h.hub_deadline().is_some_and(|t| t <= next) {
                    let events = &mut n.events;
                    n.h.timeout(next, &mut |_: &Conns, ev: Event| events.push(ev));
                    n.record();
                } else {
                    n.h.now = n.h.now.max(next);
                }
            }
            self.settle();
        }
        for n in &mut self.nodes {
            n.h.now = n.h.now.max(at);
        }
    }

    fn now(&self) -> Instant {
        self.nodes[0].h.now
    }

    /// Opens connection `id` on node `i` and joins as `name`.
    fn join(&mut self, i: usize, id: u64, name: &str) -> ConnId {
        let conn = self.nodes[i].join(id, name);
        self.settle();
        conn
    }

    fn send(&mut self, i: usize, conn: ConnId, m: &ClientMessage) {
        self.nodes[i].send_msg(conn, m);
        self.settle();
    }

    fn take(&mut self, i: usize, conn: ConnId) -> Vec<ServerEvent> {
        self.nodes[i].take(conn)
    }

    fn users(&mut self, i: usize, conn: ConnId) -> Vec<String> {
        self.send(i, conn, &ClientMessage::List);
        match self.take(i, conn).pop() {
            Some(ServerEvent::Users { users }) => users,
            other => panic!("no users answer: {other:?}"),
        }
    }
}

impl crate::testing::HubConns<Room> {
    fn hub_deadline(&self) -> Option<Instant> {
        crate::Hub::poll_timeout(&self.hub)
    }
}

fn say(content: &str) -> ClientMessage {
    ClientMessage::Say { content: content.into(), to: None }
}

fn say_to(content: &str, to: &[&str]) -> ClientMessage {
    ClientMessage::Say {
        content: content.into(),
        to: Some(to.iter().map(|s| s.to_string()).collect()),
    }
}

#[test]
fn two_nodes_are_one_room() {
    let mut b = Broker::new(2);
    let alice = b.join(0, 1, "alice");
    let bob = b.join(1, 1, "bob");
    assert_eq!(b.take(0, alice), [joined("alice"), joined("bob")]);
    assert_eq!(b.take(1, bob), [joined("bob")]);
    let carol = b.join(1, 2, "carol");
    assert_eq!(b.take(0, alice), [joined("carol")]);
    assert_eq!(b.take(1, bob), [joined("carol")]);
    b.take(1, carol);

    // Broadcast: everyone but the sender, on both nodes.
    b.send(0, alice, &say("hi all"));
    assert_eq!(b.take(1, bob), [msg("alice", "hi all", None)]);
    assert_eq!(b.take(1, carol), [msg("alice", "hi all", None)]);
    assert_eq!(b.take(0, alice), []);

    // Directed: only the named, wherever they are; `to` lists them all.
    b.send(1, bob, &say_to("psst", &["alice", "nobody"]));
    assert_eq!(b.take(0, alice), [msg("bob", "psst", Some(&["alice"]))]);
    assert_eq!(code_of(&b.take(1, bob)), [ErrorCode::UnknownUser]);
    assert_eq!(b.take(1, carol), []);
    b.send(0, alice, &say_to("both", &["carol", "bob"]));
    assert_eq!(b.take(1, bob), [msg("alice", "both", Some(&["carol", "bob"]))]);
    assert_eq!(b.take(1, carol), [msg("alice", "both", Some(&["carol", "bob"]))]);

    // The list is the whole room, sorted, from either node.
    assert_eq!(b.users(0, alice), ["alice", "bob", "carol"]);
    assert_eq!(b.users(1, carol), ["alice", "bob", "carol"]);

    // Leaving is announced everywhere, and frees the name room-wide.
    b.nodes[1].input(Input::Eof { conn: bob });
    b.settle();
    assert_eq!(b.take(0, alice), [left("bob")]);
    assert_eq!(b.take(1, carol), [left("bob")]);
    let bob2 = b.join(0, 2, "bob");
    assert_eq!(b.take(0, bob2), [joined("bob")]);
    assert_eq!(b.take(1, carol), [joined("bob")]);
}

#[test]
fn names_are_unique_across_nodes() {
    let mut b = Broker::new(2);
    let alice = b.join(0, 1, "alice");
    // The same name, and a look-alike, on the other node.
    for (id, name) in [(1, "alice"), (2, "Alice")] {
        let c = b.join(1, id, name);
        assert_eq!(code_of(&b.take(1, c)), [ErrorCode::NameTaken], "{name}");
    }
    // Both nodes claim one name at once: the broker decides, one wins.
    let x = b.nodes[0].join(5, "zed");
    let y = b.nodes[1].join(5, "zed");
    b.settle();
    let (gx, gy) = (b.take(0, x), b.take(1, y));
    let won = [&gx, &gy].iter().filter(|g| g.first() == Some(&joined("zed"))).count();
    assert_eq!(won, 1, "{gx:?} {gy:?}");
    assert!(
        code_of(&gx).contains(&ErrorCode::NameTaken)
            || code_of(&gy).contains(&ErrorCode::NameTaken)
    );
    assert_eq!(b.users(0, alice), ["alice", "zed"]);
}

#[test]
fn a_joining_member_waits_for_its_claim() {
    let mut b = Broker::new(2);
    let bob = b.join(1, 1, "bob");
    // Name and first message in one read: the message waits for the claim
    // (the connection is not read meanwhile), then goes out.
    let alice = b.nodes[0].open(1);
    let mut bytes = ClientMessage::Join { username: "alice".into() }.encode().to_vec();
    bytes.extend_from_slice(&say("first").encode());
    b.nodes[0].send(alice, &bytes);
    assert!(!crate::Hub::wants_read(&b.nodes[0].h.hub, alice));
    assert!(!b.nodes[0].buf(alice).is_empty());
    b.settle();
    assert_eq!(b.take(1, bob), [joined("bob"), joined("alice"), msg("alice", "first", None)]);
    // Without a name: the message waits while the peer address is claimed.
    let anon = b.nodes[0].open(2);
    b.nodes[0].send_msg(anon, &say("who am i"));
    b.settle();
    assert_eq!(b.take(1, bob), [joined("10.0.0.2:40002"), msg("10.0.0.2:40002", "who am i", None)]);
}

#[test]
fn one_senders_messages_arrive_in_order() {
    let mut b = Broker::new(3);
    let alice = b.join(0, 1, "alice");
    let bob = b.join(1, 1, "bob");
    let carol = b.join(2, 1, "carol");
    for (i, c) in [(0, alice), (1, bob), (2, carol)] {
        b.take(i, c);
    }
    // Deliveries to bob's node lag: they still come in order, once.
    b.paused[1] = true;
    for k in 0..300 {
        b.nodes[0].send_msg(alice, &say(&format!("m{k}")));
        if k % 7 == 0 {
            b.settle();
        }
    }
    b.paused[1] = false;
    b.settle();
    let want: Vec<ServerEvent> = (0..300).map(|k| msg("alice", &format!("m{k}"), None)).collect();
    assert_eq!(b.take(1, bob), want);
    assert_eq!(b.take(2, carol), want);
}

#[test]
fn nothing_is_delivered_twice() {
    let mut b = Broker::new(2);
    let alice = b.join(0, 1, "alice");
    let bob = b.join(1, 1, "bob");
    b.take(1, bob);
    b.send(0, alice, &say("once"));
    assert_eq!(b.take(1, bob), [msg("alice", "once", None)]);
    // The broker repeats everything node 0 ever published.
    for p in b.published[0].clone() {
        b.inbox[1].push_back(from_channel(&p));
    }
    b.settle();
    assert_eq!(b.take(1, bob), []);
    // Garbage on the channel changes nothing.
    for junk in [&b"{}"[..], b"not json", b"{\"node\":\"n9\",\"inc\":1,\"seq\":1,\"kind\":\"zap\"}"]
    {
        b.inbox[1].push_back(from_channel(junk));
    }
    b.inbox[1].push_back(Bytes::from_static(b"\xff\x00"));
    // A well-formed envelope from a member, larger than any node makes.
    let huge = format!(
        "{{\"node\":\"n0\",\"inc\":100,\"seq\":1000,\"kind\":\"message\",\"from\":\"alice\",\"content\":\"{}\"}}",
        "x".repeat(Limits::default().max_frame * 6 + 4096)
    );
    b.inbox[1].push_back(from_channel(huge.as_bytes()));
    b.settle();
    assert_eq!(b.take(1, bob), []);
    assert_eq!(b.users(1, bob), ["alice", "bob"]);
}

#[test]
fn a_silent_node_is_dead_after_the_ttl() {
    let mut b = Broker::new(2);
    let alice = b.join(0, 1, "alice");
    let bob = b.join(1, 1, "bob");
    b.join(1, 2, "bill");
    b.take(0, alice);
    // Heartbeats keep both alive well past the ttl.
    b.advance_to(Instant::ZERO + TTL * 4);
    assert_eq!(b.take(0, alice), []);
    // Node 1 dies silently (its deliveries and publishes stop).
    let last = b.published[1].len();
    b.up[1] = false;
    let died = b.now();
    b.advance_to(died + TTL + Duration::from_millis(1));
    let mut got = b.take(0, alice);
    got.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(got, [left("bill"), left("bob")]);
    assert!(b.nodes[0].take_events().iter().any(|e| matches!(e,
        Event::NodeGone { node, members: 2 } if node == "n1")));
    assert_eq!(b.users(0, alice), ["alice"]);
    // A message of the dead node arriving late delivers nothing.
    let _ = bob;
    let late = Bytes::from(format!(
        "{{\"node\":\"n1\",\"inc\":101,\"seq\":{},\"kind\":\"message\",\"from\":\"bob\",\"content\":\"late\"}}",
        last + 100
    ));
    b.inbox[0].push_back(from_channel(&late));
    b.settle();
    assert_eq!(b.take(0, alice), []);
}

#[test]
fn a_restarted_node_replaces_its_old_self() {
    let mut b = Broker::new(2);
    let alice = b.join(0, 1, "alice");
    b.join(1, 1, "bob");
    b.take(0, alice);
    b.restart(1);
    // The new incarnation's hello says it has nobody: bob left.
    assert_eq!(b.take(0, alice), [left("bob")]);
    let bob = b.join(1, 1, "bob");
    assert_eq!(b.take(0, alice), [joined("bob")]);
    assert_eq!(b.take(1, bob), [joined("bob")]);
    assert_eq!(b.users(1, bob), ["alice", "bob"]);
}

#[test]
fn a_lost_link_keeps_local_chat_and_resynchronises() {
    let mut b = Broker::new(2);
    let alice = b.join(0, 1, "alice");
    let bob = b.join(1, 1, "bob");
    let ann = b.join(0, 2, "ann");
    for (i, c) in [(0, alice), (1, bob), (0, ann)] {
        b.take(i, c);
    }
    b.link(0, false);
    // Local chat goes on; nothing crosses; no node is declared dead,
    // however long the outage.
    b.send(0, alice, &say("local"));
    assert_eq!(b.take(0, ann), [msg("alice", "local", None)]);
    assert_eq!(b.take(1, bob), []);
    // A join during the outage is local until the link is back.
    let amy = b.join(0, 3, "amy");
    assert_eq!(b.take(0, amy), [joined("amy")]);
    b.advance_to(b.now() + TTL * 3);
    assert_eq!(b.take(0, alice), [joined("amy")]);
    // Meanwhile bob left on the other node, and cid joined there.
    b.nodes[1].input(Input::Eof { conn: bob });
    b.settle();
    let cid = b.join(1, 2, "cid");
    b.take(1, cid);

    b.link(0, true);
    assert!(b.nodes[0].take_events().iter().any(|e| matches!(e, Event::Dropped { messages: 1 })));
    let mut got = b.take(0, alice);
    got.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(got, [joined("cid"), left("bob")]);
    // Node 1 had given node 0 up for dead (it was silent for the ttl):
    // its members come back with its hello, amy once her name is claimed.
    assert_eq!(b.take(1, cid), [joined("alice"), joined("ann"), joined("amy")]);
    let mut got = b.take(0, ann);
    got.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(got, [joined("amy"), joined("cid"), left("bob")]);
    b.take(0, amy);
    assert_eq!(b.users(0, amy), ["alice", "amy", "ann", "cid"]);
    assert_eq!(b.users(1, cid), ["alice", "amy", "ann", "cid"]);
    b.send(1, cid, &say("back"));
    for c in [alice, ann, amy] {
        assert_eq!(b.take(0, c), [msg("cid", "back", None)]);
    }
}

#[test]
fn a_name_taken_elsewhere_during_an_outage_loses() {
    let mut b = Broker::new(2);
    let watcher = b.join(1, 9, "watcher");
    b.link(0, false);
    let local = b.join(0, 1, "dup");
    let remote = b.join(1, 1, "dup");
    assert_eq!(b.take(1, remote), [joined("dup")]);
    b.take(1, watcher);
    b.link(0, true);
    // The broker gave it to node 1: node 0's member is told and closed.
    assert_eq!(code_of(&b.take(0, local)), [ErrorCode::NameTaken]);
    assert!(b.nodes[0].closed().contains(&local));
    assert_eq!(b.users(1, remote), ["dup", "watcher"]);
    assert_eq!(b.take(1, watcher), []);
}

/// One step of a random cluster script.
#[derive(Clone, Debug)]
enum Op {
    /// A new connection on `node` joins as `u{name}`.
    Join { node: usize, name: u8 },
    /// The `pick`-th open connection of `node` ends its stream.
    Leave { node: usize, pick: usize },
    /// The `pick`-th open connection of `node` says something to all.
    Say { node: usize, pick: usize },
    /// The same, to `u{to}` only.
    SayTo { node: usize, pick: usize, to: u8 },
    /// `node`'s link goes down or up.
    Link { node: usize, up: bool },
    /// Deliveries to `node` are held or released.
    Pause { node: usize, paused: bool },
    /// Time passes.
    Wait { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let node = 0..3usize;
    prop_oneof![
        4 => (node.clone(), 0..6u8).prop_map(|(node, name)| Op::Join { node, name }),
        1 => (node.clone(), 0..8usize).prop_map(|(node, pick)| Op::Leave { node, pick }),
        6 => (node.clone(), 0..8usize).prop_map(|(node, pick)| Op::Say { node, pick }),
        2 => (node.clone(), 0..8usize, 0..6u8).prop_map(|(node, pick, to)| Op::SayTo { node, pick, to }),
        1 => (node.clone(), any::<bool>()).prop_map(|(node, up)| Op::Link { node, up }),
        1 => (node.clone(), any::<bool>()).prop_map(|(node, paused)| Op::Pause { node, paused }),
        1 => (0..8000u64).prop_map(|ms| Op::Wait { ms }),
    ]
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whatever happens (joins, leaves, messages, outages, slow nodes, time
    /// passing), once every link is up and every node has been heard: all
    /// nodes list the same members, no name is a member on two nodes, and
    /// every member got each sender's messages in order, none twice.
    #[test]
    fn nodes_agree_and_keep_order(ops in prop::collection::vec(op(), 1..60)) {
        let mut b = Broker::new(3);
        let mut next_id = [0u64; 3];
        let mut counter = 0u64;
        for op in ops {
            let open = |b: &Broker, node: usize| -> Vec<ConnId> {
                b.nodes[node].h.conns.iter().filter(|(_, c)| !c.closing && !c.eof).map(|(&id, _)| id).collect()
            };
            match op {
                Op::Join { node, name } => {
                    next_id[node] += 1;
                    b.join(node, next_id[node], &format!("u{name}"));
                }
                Op::Leave { node, pick } => {
                    let conns = open(&b, node);
                    if let Some(&c) = conns.get(pick % conns.len().max(1)) {
                        b.nodes[node].input(Input::Eof { conn: c });
                        b.settle();
                    }
                }
                Op::Say { node, pick } | Op::SayTo { node, pick, .. } => {
                    let conns = open(&b, node);
                    if let Some(&c) = conns.get(pick % conns.len().max(1)) {
                        counter += 1;
                        let content = format!("{counter}");
                        let m = match op {
                            Op::SayTo { to, .. } => say_to(&content, &[&format!("u{to}")]),
                            _ => say(&content),
                        };
                        b.send(node, c, &m);
                    }
                }
                Op::Link { node, up } => b.link(node, up),
                Op::Pause { node, paused } => {
                    b.paused[node] = paused;
                    b.settle();
                }
                Op::Wait { ms } => {
                    let at = b.now() + Duration::from_millis(ms);
                    b.advance_to(at);
                }
            }
        }
        for node in 0..3 {
            b.paused[node] = false;
            b.link(node, true);
        }
        b.settle();
        let at = b.now() + TTL;
        b.advance_to(at);

        // One room.
        let views: Vec<Vec<String>> = (0..3)
            .map(|i| {
                let room = &b.nodes[i].h.hub;
                let mut all: Vec<String> = room.members().map(|(n, _)| n.into()).collect();
                all.extend(room.remote_members().map(|(n, _)| String::from(n)));
                all.sort();
                all
            })
            .collect();
        prop_assert_eq!(&views[0], &views[1]);
        prop_assert_eq!(&views[1], &views[2]);
        let mut local: Vec<String> = (0..3)
            .flat_map(|i| b.nodes[i].h.hub.members().map(|(n, _)| String::from(n)).collect::<Vec<_>>())
            .collect();
        local.sort();
        let n = local.len();
        local.dedup();
        prop_assert_eq!(local.len(), n, "a name is a member on two nodes");
        prop_assert_eq!(&local, &views[0]);

        // Order, once each.
        for i in 0..3 {
            for (conn, events) in b.nodes[i].take_all() {
                let mut last: BTreeMap<String, u64> = BTreeMap::new();
                for e in events {
                    if let ServerEvent::Message { from, content, .. } = e {
                        let k: u64 = content.parse().unwrap();
                        let prev = last.insert(from.clone(), k).unwrap_or(0);
                        prop_assert!(k > prev, "node {} {:?}: {} after {} from {}", i, conn, k, prev, from);
                    }
                }
            }
        }
    }
}

#[test]
fn a_lost_name_leaves_everywhere_and_is_not_released() {
    let mut b = Broker::new(2);
    let alice = b.join(0, 1, "alice");
    let bob = b.join(1, 1, "bob");
    b.take(0, alice);
    b.take(1, bob);
    // Someone else holds alice's keys now (they expired, were taken).
    for k in b.held[0].remove("alice").expect("held") {
        b.keys.insert(k, 7);
    }
    b.notice(0, Notice::Lost { name: "alice".into() });
    b.settle();
    assert_eq!(code_of(&b.take(0, alice)), [ErrorCode::NameTaken]);
    assert!(b.nodes[0].closed().contains(&alice));
    // The other node drops its member at once (no ghost until the ttl)...
    assert_eq!(b.take(1, bob), [left("alice")]);
    assert_eq!(b.users(1, bob), ["bob"]);
    // ...and does not release what is not its own.
    assert!(b.released.is_empty(), "{:?}", b.released);
    // Leaving normally releases.
    b.nodes[1].input(Input::Eof { conn: bob });
    b.settle();
    assert_eq!(b.released, [(1, "bob".to_string())]);
}
