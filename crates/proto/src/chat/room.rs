//! The chat room: every connection of a chat server in one [`Hub`].

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use super::cluster::{Body, Cluster, Envelope, Inbound, Notice, ToCluster};
use super::message::Wire;
use super::{ClientMessage, ErrorCode, FrameError, Limits, Splitter, check_username};
use crate::text::name_keys;
use crate::{ConnId, Hub, Input, Instant, Output};

/// What the room tells the application (for logging and metrics); it needs
/// no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `conn` joined the room as `name` (every member is sent `joined`, at
    /// once or with the next batch).
    Joined {
        /// The connection.
        conn: ConnId,
        /// Its name.
        name: String,
    },
    /// A member left; every `Joined` is followed by exactly one `Left`.
    Left {
        /// The connection.
        conn: ConnId,
        /// The name it had.
        name: String,
        /// Why.
        reason: LeaveReason,
    },
    /// The room sent `conn` an `error` event (and closes it if
    /// [`code.closes()`](ErrorCode::closes)).
    Error {
        /// The connection.
        conn: ConnId,
        /// The code sent.
        code: ErrorCode,
        /// The message sent.
        message: String,
    },
    /// `conn` fell too far behind (its unsent bytes would pass
    /// [`Limits::outbound_budget`]) and is being closed. A member also gets
    /// [`Event::Left`] with [`LeaveReason::Evicted`].
    Evicted {
        /// The connection.
        conn: ConnId,
        /// Its unsent bytes at that moment.
        unsent: usize,
    },
    /// A clustered room asks its bridge for this (see
    /// [`cluster`](super::cluster)): unlike the other events, it must be
    /// carried out, in order.
    Cluster(ToCluster),
    /// A clustered room heard from a node it did not know (or that
    /// restarted).
    NodeSeen {
        /// Its id.
        node: String,
    },
    /// A node was not heard from for the ttl: its members were announced
    /// `left`.
    NodeGone {
        /// Its id.
        node: String,
        /// How many members it had.
        members: usize,
    },
    /// The link to the other nodes is back; this many messages from this
    /// node's members could not cross to them while it was down.
    Dropped {
        /// How many.
        messages: u64,
    },
}

/// Why a member left the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// The client ended its stream ([`Input::Eof`]).
    Eof,
    /// The connection went away ([`Input::Gone`]) before ending its stream.
    Gone,
    /// The client sent something fatal: `bad_json` or `frame_too_large`.
    Error(ErrorCode),
    /// The client fell too far behind ([`Event::Evicted`]).
    Evicted,
}

/// One connection, member or not yet.
#[derive(Debug)]
struct Conn {
    peer: String,
    /// The name a layer below proved ([`Input::Identified`]): the only
    /// name it may join under.
    verified: Option<String>,
    /// Its name once it joined.
    name: Option<String>,
    splitter: Splitter,
    /// Bytes emitted to it that the driver has not reported written.
    unsent: usize,
    /// Those bytes by origin, oldest first (consecutive ones of one origin
    /// merged): what each [`Input::Sent`] takes off. `None`: the room's own
    /// announcements.
    queued: VecDeque<(Option<ConnId>, usize)>,
    /// Unsent bytes per sending member: who is filling its queue.
    by_origin: BTreeMap<ConnId, usize>,
    /// Where its share of the pending announcements starts (a member that
    /// joined since the last flush is owed only what came after it).
    owed_from: usize,
    /// The senders it holds while it is over half its budget.
    holding: BTreeSet<ConnId>,
    /// When its holds run out, if it holds any.
    hold_until: Option<Instant>,
    /// How many members hold it: it is not read while any does.
    held_by: usize,
    /// Its holds ran out while it stayed over half its budget: it is
    /// treated as stalled (holds no one) until it gets back under half.
    stalled: bool,
    /// `Output::Close` was emitted: nothing more is read or sent.
    closed: bool,
    /// The name being claimed room-wide for it (a clustered room): it is
    /// not read until the answer.
    claiming: Option<String>,
    /// A frame that waits for that answer (it joined by sending something
    /// else than a name).
    waiting: Option<Bytes>,
}

impl Conn {
    fn new(peer: String, splitter: Splitter) -> Conn {
        Conn {
            peer,
            verified: None,
            name: None,
            splitter,
            unsent: 0,
            queued: VecDeque::new(),
            by_origin: BTreeMap::new(),
            owed_from: 0,
            holding: BTreeSet::new(),
            hold_until: None,
            held_by: 0,
            stalled: false,
            closed: false,
            claiming: None,
            waiting: None,
        }
    }

    /// Counts `n` more bytes from `origin` as unsent.
    fn queue(&mut self, origin: Option<ConnId>, n: usize) {
        self.unsent += n;
        match self.queued.back_mut() {
            Some((o, len)) if *o == origin => *len += n,
            _ => self.queued.push_back((origin, n)),
        }
        if let Some(o) = origin {
            *self.by_origin.entry(o).or_default() += n;
        }
    }

    /// The driver wrote `n` more bytes: off the front of the queue.
    fn sent(&mut self, n: usize) {
        let mut n = n.min(self.unsent);
        self.unsent -= n;
        while n > 0 {
            let Some((origin, len)) = self.queued.front_mut() else { break };
            let k = n.min(*len);
            *len -= k;
            n -= k;
            let origin = *origin;
            if *len == 0 {
                self.queued.pop_front();
            }
            if let Some(o) = origin
                && let Some(b) = self.by_origin.get_mut(&o)
            {
                *b -= k.min(*b);
                if *b == 0 {
                    self.by_origin.remove(&o);
                }
            }
        }
    }
}

/// The chat room of PROTOCOLS.md §2, as a [`Hub`]: every connection of a
/// chat server in one machine, fed from one task or thread.
///
/// The driver reports connections ([`Input::Opened`], [`Input::Read`],
/// [`Input::Eof`], [`Input::Sent`], [`Input::Gone`]) and drains
/// [`poll_output`](Hub::poll_output) after each input: bytes addressed to a
/// connection, closes, and [`Event`]s; then
/// [`poll_resumed`](Hub::poll_resumed). Its timers
/// ([`poll_timeout`](Hub::poll_timeout)) flush coalesced announcements and
/// end holds (below); idle timeouts belong to the transport.
///
/// # What it does
///
/// - **Joining.** A connection is not a member until it has a name. Its
///   first valid message should be `{"username": NAME}`: a name that breaks
///   the rules ([`check_username`](super::check_username) with
///   [`Limits::max_name`]: length, the characters of
///   [`crate::text::check_name_chars`], not shaped like a socket address)
///   gets `bad_message`; a name in use, or one that looks like a name in
///   use ([`crate::text::name_keys`]: case, compatibility forms and UTS #39
///   confusables), gets `name_taken`; both leave the connection open for
///   another try. Any other valid message from a connection without a name
///   joins it under its peer address (as the reference server does), then
///   is handled; if the peer address is empty or in use, `PEER#ID` (the
///   [`ConnId`]) is tried, and if that is taken too the message gets
///   `name_taken`. Names from peer addresses are not held to the name
///   rules. A `username` after joining is `bad_message` (no renames).
/// - **Broadcast.** `joined` goes to every member, the newcomer included;
///   `{"content"}` goes to every member but the sender; `left` to every
///   remaining member. Recipients are served in [`ConnId`] order.
/// - **Join storms.** In a room of more than [`Room::BATCH_ABOVE`] members,
///   `joined` and `left` lines are coalesced: at most one batch per
///   [`Limits::announce_every`], each batch one [`Bytes`] of NDJSON lines
///   that every member gets a slice of (a newcomer from its own `joined`
///   on). So n members joining at once cost O(n) writes per batch, not
///   O(n²) in all. Pending lines always go out before anything else is
///   sent to a member (a message, an answer, an error, the close), so each
///   member still sees every event in order.
/// - **Directed messages.** `{"content", "to"}` goes to each named member
///   once (duplicates are dropped; the sender gets it only if it names
///   itself), in the order of `to`; the event's `to` lists those
///   recipients. Names (exact) that are not in the room get one
///   `unknown_user` error listing them, after delivery to the others (as
///   IRC does for `PRIVMSG a,b`); if none is known, nothing is delivered.
/// - **List.** `{"list": true}` answers `users` to the sender: the members'
///   names sorted by code point.
/// - **Errors.** `bad_json` (not UTF-8, not JSON, bytes other than
///   whitespace between objects, nesting over [`Limits::max_depth`], or the
///   end of the stream inside a frame) and `frame_too_large` are fatal: the
///   error event is sent, then [`Output::Close`], and `left` is announced if
///   it was a member. Bytes after a fatal error are discarded. `bad_message`,
///   `name_taken` and `unknown_user` leave the connection as it was.
/// - **Leaving.** On [`Input::Eof`] the room emits [`Output::Close`] (the
///   driver writes what was queued first, so a client that half-closes
///   still gets its answers) and announces `left`; on [`Input::Gone`] it
///   announces `left` and forgets the connection.
/// - **Isolation.** The room never waits for a connection. It counts, per
///   connection, the bytes it emitted minus those the driver reports with
///   [`Input::Sent`]. An event that would take a connection that still has
///   unsent bytes over [`Limits::outbound_budget`] is not emitted: the
///   connection is evicted instead ([`Event::Evicted`], [`Output::Close`],
///   `left` to the others). So the driver never holds more than the budget
///   (or one event, if larger) for any connection, and a stalled client
///   costs the others nothing. Above half the budget the room stops
///   reading from that connection ([`Hub::wants_read`] is false, and it
///   leaves unread frames in the buffer) until the driver reports progress.
/// - **Fair share.** A member over half its budget is being filled faster
///   than it reads. Each sender that then adds to it and has at least a
///   fair share of its unsent bytes (1/(k+1) with k senders in its queue:
///   the heaviest, a flooder, not a member who said one line) is *held*: not read ([`Hub::wants_read`]
///   false) until the reader gets back under half, for at most
///   [`Limits::sender_hold`]. So a flood slows to what the readers take,
///   and a reader that keeps up with its share stays. A reader still over
///   half when the hold runs out is treated as stalled: it holds no one
///   until it gets under half again, and is evicted if its budget runs out.
///   Released senders are reported by [`Hub::poll_resumed`].
///
/// Every event is serialised once into a [`Bytes`]; each recipient gets a
/// clone of it (the same allocation), or a slice of a batch.
///
/// ```
/// use bytes::BytesMut;
/// use sansnet_proto::chat::{Event, Limits, Room};
/// use sansnet_proto::{ConnId, Hub, Input, Instant, Output};
///
/// let mut room = Room::new(Limits::default());
/// let now = Instant::ZERO;
/// let alice = ConnId(1);
/// room.handle(now, Input::Opened { conn: alice, peer: "127.0.0.1:5000".into(), listener: 0 });
/// let mut buf = BytesMut::from(&br#"{"username":"alice"}"#[..]);
/// room.handle(now, Input::Read { conn: alice, buf: &mut buf });
/// assert_eq!(
///     room.poll_output(),
///     Some(Output::Event(Event::Joined { conn: alice, name: "alice".into() }))
/// );
/// assert_eq!(
///     room.poll_output(),
///     Some(Output::Transmit { conn: alice, data: "{\"type\":\"joined\",\"username\":\"alice\"}\n".into() })
/// );
/// assert_eq!(room.poll_output(), None);
/// ```
#[derive(Debug)]
pub struct Room {
    limits: Limits,
    /// The time of the input being handled.
    now: Instant,
    conns: BTreeMap<ConnId, Conn>,
    /// The members by name.
    names: BTreeMap<String, ConnId>,
    /// Every name in use by look-alike key ([`name_keys`]): the members',
    /// the other nodes' members' and the names being claimed.
    keys: BTreeMap<String, String>,
    outputs: VecDeque<Output<Event>>,
    /// Evicted members whose `left` is still to be announced.
    evicted: VecDeque<ConnId>,
    /// `joined` and `left` lines not yet sent (see "Join storms").
    batch: BytesMut,
    /// When the pending batch goes out.
    batch_due: Option<Instant>,
    /// When the last batch went out on its own (not before other output).
    batch_sent: Option<Instant>,
    /// Members holding senders, by when their holds run out.
    holds: BTreeSet<(Instant, ConnId)>,
    /// Connections released from holds, for [`Hub::poll_resumed`].
    resumed: VecDeque<ConnId>,
    /// The other nodes, when the room spans several processes.
    cluster: Option<Nodes>,
}

/// A clustered room's view of the other nodes.
#[derive(Debug)]
struct Nodes {
    config: Cluster,
    /// The bridge is connected.
    up: bool,
    /// The last envelope's sequence number.
    seq: u64,
    /// When to say it is alive next (while up).
    next_alive: Option<Instant>,
    /// The other nodes by id.
    peers: BTreeMap<String, Peer>,
    /// Their members: name -> node.
    remote: BTreeMap<String, String>,
    /// Members that joined while the link was down: their names are to be
    /// claimed when it is back.
    unclaimed: BTreeSet<ConnId>,
    /// Members whose names the broker gave to another node ([`Notice::Lost`]):
    /// they leave without releasing the name.
    lost: BTreeSet<ConnId>,
    /// Messages not published because the link was down.
    dropped: u64,
    /// Nodes given up for dead, newest last (at most [`Nodes::DEAD`]): where
    /// their sequence stood, so that nothing of theirs is taken twice if
    /// they turn out alive.
    dead: VecDeque<(String, u64, u64)>,
}

impl Nodes {
    /// How many dead nodes' sequence numbers are remembered.
    const DEAD: usize = 256;
}

/// Another node of a clustered room.
#[derive(Debug)]
struct Peer {
    inc: u64,
    seq: u64,
    heard: Instant,
    members: BTreeSet<String>,
}

impl Default for Room {
    fn default() -> Self {
        Room::new(Limits::default())
    }
}

impl Room {
    /// Up to this many members, `joined` and `left` go out at once; above,
    /// they are coalesced (see "Join storms" above). Such a room costs at
    /// most 64 writes per join.
    pub const BATCH_ABOVE: usize = 64;

    /// An empty room enforcing `limits`.
    pub fn new(limits: Limits) -> Room {
        Room {
            limits,
            now: Instant::ZERO,
            conns: BTreeMap::new(),
            names: BTreeMap::new(),
            keys: BTreeMap::new(),
            outputs: VecDeque::new(),
            evicted: VecDeque::new(),
            batch: BytesMut::new(),
            batch_due: None,
            batch_sent: None,
            holds: BTreeSet::new(),
            resumed: VecDeque::new(),
            cluster: None,
        }
    }

    /// A room that spans every node of `cluster`'s room (PROTOCOLS.md §6;
    /// see [`cluster`](super::cluster)): it starts with its link down
    /// (members join locally) until the bridge says [`Notice::Up`].
    pub fn clustered(limits: Limits, cluster: Cluster) -> Room {
        let mut room = Room::new(limits);
        room.cluster = Some(Nodes {
            config: cluster,
            up: false,
            seq: 0,
            next_alive: None,
            peers: BTreeMap::new(),
            remote: BTreeMap::new(),
            unclaimed: BTreeSet::new(),
            lost: BTreeSet::new(),
            dropped: 0,
            dead: VecDeque::new(),
        });
        room
    }

    /// This node's id, in a clustered room.
    pub fn node(&self) -> Option<&str> {
        self.cluster.as_ref().map(|n| n.config.node.as_str())
    }

    /// The members on other nodes, sorted by name, with their node.
    pub fn remote_members(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.cluster.iter().flat_map(|n| n.remote.iter().map(|(m, k)| (m.as_str(), k.as_str())))
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many members (connections with a name) there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the room has no member.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// How many connections the room knows (members or not, closing
    /// included until [`Input::Gone`]).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The members, sorted by name.
    pub fn members(&self) -> impl Iterator<Item = (&str, ConnId)> + '_ {
        self.names.iter().map(|(n, &c)| (n.as_str(), c))
    }

    /// The name of `conn`, if it is a member.
    pub fn name(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn)?.name.as_deref()
    }

    /// The bytes emitted to `conn` that the driver has not yet reported
    /// written.
    pub fn unsent(&self, conn: ConnId) -> Option<usize> {
        self.conns.get(&conn).map(|c| c.unsent)
    }

    /// Whether `conn` is held: it sends more than its share to a member
    /// that is behind (see "Fair share" above).
    pub fn is_held(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.held_by > 0)
    }

    /// Above this many unsent bytes a connection is not read, and it holds
    /// the heaviest senders filling it.
    fn half_budget(&self) -> usize {
        self.limits.outbound_budget / 2
    }

    /// Whether `c` may be read now.
    fn readable(&self, c: &Conn) -> bool {
        !c.closed && c.unsent <= self.half_budget() && c.held_by == 0 && c.claiming.is_none()
    }

    // -- inputs --------------------------------------------------------------

    fn on_read(&mut self, conn: ConnId, buf: &mut BytesMut) {
        loop {
            let Some(c) = self.conns.get(&conn) else { return };
            if c.closed {
                // Whatever follows a fatal error or an eviction is dropped.
                buf.clear();
                return;
            }
            if !self.readable(c) {
                // Backpressure: the rest waits in the driver's buffer.
                return;
            }
            let Some(c) = self.conns.get_mut(&conn) else { return };
            match c.splitter.next_frame(buf) {
                Ok(None) => return,
                Ok(Some(frame)) => {
                    self.on_frame(conn, &frame);
                    self.settle();
                }
                Err(e) => {
                    buf.clear();
                    let message = match e {
                        FrameError::TooLarge => {
                            format!("frame larger than {} bytes", self.limits.max_frame)
                        }
                        e => e.to_string(),
                    };
                    self.fatal(conn, e.code(), message);
                    return;
                }
            }
        }
    }

    fn on_frame(&mut self, conn: ConnId, frame: &[u8]) {
        let msg = match ClientMessage::parse(frame) {
            Ok(msg) => msg,
            Err(e) if e.code().closes() => return self.fatal(conn, e.code(), e.to_string()),
            Err(e) => return self.error(conn, e.code(), e.to_string()),
        };
        let Some(c) = self.conns.get(&conn) else { return };
        let (from, msg) = match (c.name.clone(), msg) {
            (None, ClientMessage::Join { username }) => return self.join(conn, username),
            (Some(name), ClientMessage::Join { .. }) => {
                let message = format!("already joined as {name}");
                return self.error(conn, ErrorCode::BadMessage, message);
            }
            (Some(name), msg) => (name, msg),
            (None, msg) => match self.auto_join(conn, frame) {
                Some(name) => (name, msg),
                None => return,
            },
        };
        match msg {
            ClientMessage::Say { content, to: None } => {
                // Everyone hears of the pending joins and leaves first.
                self.flush_batch();
                let data = Wire::Message { from: &from, content: &content, to: None }.encode();
                let others: Vec<ConnId> = self.recipients().filter(|&c| c != conn).collect();
                for to in others {
                    self.transmit(to, data.clone(), Some(conn));
                }
                self.publish(Body::Message { from, content, to: None });
            }
            ClientMessage::Say { content, to: Some(names) } => {
                self.direct(conn, &from, &content, names)
            }
            ClientMessage::List => {
                self.catch_up(conn);
                let mut users: Vec<&str> = self.names.keys().map(String::as_str).collect();
                if let Some(nodes) = &self.cluster {
                    users.extend(nodes.remote.keys().map(String::as_str));
                    users.sort_unstable();
                }
                let data = Wire::Users { users }.encode();
                self.transmit(conn, data, Some(conn));
            }
            // Handled above.
            ClientMessage::Join { .. } => {}
        }
    }

    fn on_eof(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else { return };
        if c.closed {
            return;
        }
        if c.splitter.is_mid_frame() {
            self.error(conn, ErrorCode::BadJson, "end of stream inside a frame".into());
        }
        if self.close(conn) {
            self.leave(conn, LeaveReason::Eof);
        }
    }

    fn on_sent(&mut self, conn: ConnId, n: usize) {
        let half = self.half_budget();
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.sent(n);
        if c.unsent <= half {
            c.stalled = false;
            self.release(conn);
        }
    }

    fn on_gone(&mut self, conn: ConnId) {
        self.release(conn);
        let Some(c) = self.conns.remove(&conn) else { return };
        if let Some(name) = c.claiming {
            // The answer will find nobody: the name is given back then.
            self.unreserve(&name);
        }
        if let Some(name) = c.name {
            self.announce_left(conn, name, LeaveReason::Gone);
        }
    }

    // -- commands of the protocol ----------------------------------------------

    fn join(&mut self, conn: ConnId, name: String) {
        if let Some(verified) = self.conns.get(&conn).and_then(|c| c.verified.as_ref()) {
            if *verified != name {
                let message = format!("your certificate names {verified}: join as {verified}");
                return self.error(conn, ErrorCode::Forbidden, message);
            }
        }
        if let Err(e) = check_username(&name, self.limits.max_name) {
            return self.error(conn, ErrorCode::BadMessage, e.to_string());
        }
        if let Some(taken) = name_keys(&name).iter().find_map(|k| self.keys.get(k)) {
            let message = if *taken == name {
                format!("the name {name} is taken")
            } else {
                format!("the name {name} is too like {taken}, which is taken")
            };
            return self.error(conn, ErrorCode::NameTaken, message);
        }
        self.take_name(conn, name);
    }

    /// Admits `conn` as `name` (free here): at once in a lone room or while
    /// the link is down (claimed when it is back), else once the bridge
    /// has claimed it room-wide.
    fn take_name(&mut self, conn: ConnId, name: String) {
        if self.cluster.as_ref().is_some_and(|n| n.up) {
            let keys = self.reserve(&name);
            let Some(c) = self.conns.get_mut(&conn) else { return };
            c.claiming = Some(name.clone());
            self.outputs.push_back(Output::Event(Event::Cluster(ToCluster::Claim {
                conn,
                name,
                keys,
            })));
            return;
        }
        if let Some(nodes) = &mut self.cluster {
            nodes.unclaimed.insert(conn);
        }
        self.admit(conn, name);
    }

    /// Joins `conn` under its peer address; `None` (after a `name_taken`
    /// error) when no such name is free, or while the name is claimed
    /// room-wide (`frame` then waits for the answer).
    fn auto_join(&mut self, conn: ConnId, frame: &[u8]) -> Option<String> {
        let verified = self.conns.get(&conn)?.verified.clone();
        let joined = match verified {
            Some(verified) => {
                self.join(conn, verified);
                self.conns.get(&conn)?.name.clone()
            }
            None => self.auto_name(conn),
        };
        let c = self.conns.get_mut(&conn)?;
        if joined.is_none() && c.claiming.is_some() {
            c.waiting = Some(Bytes::copy_from_slice(frame));
        }
        joined
    }

    /// Joins `conn` under its peer address, or `PEER#ID` if that is in use.
    fn auto_name(&mut self, conn: ConnId) -> Option<String> {
        let peer = &self.conns.get(&conn)?.peer;
        let free = |room: &Room, name: &str| {
            !room.names.contains_key(name)
                && name_keys(name).iter().all(|k| !room.keys.contains_key(k))
        };
        let mut name = peer.clone();
        if name.is_empty() || !free(self, &name) {
            name = format!("{peer}#{}", conn.0);
        }
        if !free(self, &name) {
            let message = format!("the name {name} is taken; send a username");
            self.error(conn, ErrorCode::NameTaken, message);
            return None;
        }
        self.take_name(conn, name);
        self.conns.get(&conn)?.name.clone()
    }

    fn admit(&mut self, conn: ConnId, name: String) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.name = Some(name.clone());
        c.owed_from = self.batch.len();
        self.names.insert(name.clone(), conn);
        self.reserve(&name);
        let data = Wire::Joined { username: &name }.encode();
        self.outputs.push_back(Output::Event(Event::Joined { conn, name: name.clone() }));
        self.announce(&data);
        if !self.cluster.as_ref().is_some_and(|n| n.unclaimed.contains(&conn)) {
            self.publish(Body::Joined { name });
        }
    }

    /// Marks `name` (and its look-alikes) in use; returns its keys.
    fn reserve(&mut self, name: &str) -> Vec<String> {
        let keys = name_keys(name);
        for key in &keys {
            self.keys.insert(key.clone(), name.into());
        }
        Vec::from(keys)
    }

    /// Frees the keys that `name` holds.
    fn unreserve(&mut self, name: &str) {
        for key in name_keys(name) {
            if self.keys.get(&key).is_some_and(|n| n == name) {
                self.keys.remove(&key);
            }
        }
    }

    fn direct(&mut self, conn: ConnId, from: &str, content: &str, names: Vec<String>) {
        let mut seen = BTreeSet::new();
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        let mut remote = false;
        for name in names {
            if !seen.insert(name.clone()) {
                continue;
            }
            match self.names.get(&name) {
                Some(&to) => known.push((name, Some(to))),
                None if self.cluster.as_ref().is_some_and(|n| n.remote.contains_key(&name)) => {
                    remote = true;
                    known.push((name, None));
                }
                None => unknown.push(name),
            }
        }
        if !known.is_empty() {
            let to: Vec<String> = known.iter().map(|(n, _)| n.clone()).collect();
            let data = Wire::Message { from, content, to: Some(&to) }.encode();
            for to in known.into_iter().filter_map(|(_, c)| c) {
                self.catch_up(to);
                self.transmit(to, data.clone(), Some(conn));
            }
            if remote {
                let body =
                    Body::Message { from: from.into(), content: content.into(), to: Some(to) };
                self.publish(body);
            }
        }
        if !unknown.is_empty() {
            let message = format!("unknown user: {}", unknown.join(", "));
            self.error(conn, ErrorCode::UnknownUser, message);
        }
    }

    // -- announcements ---------------------------------------------------------

    /// Queues a `joined` or `left` line for every member: sent at once in a
    /// small room or when the last batch is old enough, else at the next
    /// batch (see "Join storms").
    fn announce(&mut self, line: &[u8]) {
        self.batch.extend_from_slice(line);
        let every = self.limits.announce_every;
        let next = self.batch_sent.map(|t| t.saturating_add(every));
        if self.names.len() <= Room::BATCH_ABOVE || next.is_none_or(|t| t <= self.now) {
            if self.names.len() > Room::BATCH_ABOVE {
                self.batch_sent = Some(self.now);
            }
            self.flush_batch();
        } else if self.batch_due.is_none() {
            self.batch_due = next;
        }
    }

    /// Sends the pending `joined` and `left` lines: one `Bytes`, a slice of
    /// it per member (from where it is owed).
    fn flush_batch(&mut self) {
        self.batch_due = None;
        if self.batch.is_empty() {
            return;
        }
        let data = self.batch.split().freeze();
        let mut owed = Vec::with_capacity(self.names.len());
        for (&id, c) in self.conns.iter_mut() {
            if c.name.is_some() && !c.closed && c.owed_from < data.len() {
                owed.push((id, c.owed_from));
            }
            c.owed_from = 0;
        }
        for (to, from) in owed {
            let part = if from == 0 { data.clone() } else { data.slice(from..) };
            self.transmit(to, part, None);
        }
    }

    /// Sends `conn` what it is owed of the pending batch (a copy), before
    /// something for it alone, so that it sees events in order.
    fn catch_up(&mut self, conn: ConnId) {
        let len = self.batch.len();
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.name.is_none() || c.closed || c.owed_from >= len {
            return;
        }
        let data = Bytes::copy_from_slice(&self.batch[c.owed_from..]);
        c.owed_from = len;
        self.transmit(conn, data, None);
    }

    // -- plumbing ------------------------------------------------------------

    /// The members that may still be sent to, in `ConnId` order.
    fn recipients(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.conns.iter().filter(|(_, c)| c.name.is_some() && !c.closed).map(|(&id, _)| id)
    }

    /// Emits `data` (from `origin`, a member, or the room) to `conn`, or
    /// evicts `conn` if that would break its budget. A heavy sender that
    /// takes `conn` over half its budget is held.
    fn transmit(&mut self, conn: ConnId, data: Bytes, origin: Option<ConnId>) {
        let budget = self.limits.outbound_budget;
        let half = self.half_budget();
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.closed {
            return;
        }
        if c.unsent > 0 && c.unsent.saturating_add(data.len()) > budget {
            c.closed = true;
            let unsent = c.unsent;
            self.outputs.push_back(Output::Event(Event::Evicted { conn, unsent }));
            self.outputs.push_back(Output::Close { conn });
            self.release(conn);
            // Announcing `left` may evict others in turn: done in `settle`,
            // one at a time, rather than recursively.
            self.evicted.push_back(conn);
            return;
        }
        c.queue(origin, data.len());
        let heavy = match origin {
            Some(o) if o != conn && c.unsent > half && !c.stalled => {
                // At least a fair share of what is unsent, the room's own
                // lines counting as one more sender.
                let share = c.by_origin.get(&o).copied().unwrap_or(0);
                share.saturating_mul(c.by_origin.len() + 1) >= c.unsent
            }
            _ => false,
        };
        self.outputs.push_back(Output::Transmit { conn, data });
        if let Some(o) = origin.filter(|_| heavy) {
            self.hold(conn, o);
        }
    }

    /// `reader` holds `sender` (see "Fair share").
    fn hold(&mut self, reader: ConnId, sender: ConnId) {
        let until = self.now.saturating_add(self.limits.sender_hold);
        let Some(r) = self.conns.get_mut(&reader) else { return };
        if !r.holding.insert(sender) {
            return;
        }
        if r.hold_until.is_none() {
            r.hold_until = Some(until);
            self.holds.insert((until, reader));
        }
        if let Some(s) = self.conns.get_mut(&sender) {
            s.held_by += 1;
        }
    }

    /// `reader` lets go of every sender it holds.
    fn release(&mut self, reader: ConnId) {
        let Some(r) = self.conns.get_mut(&reader) else { return };
        if let Some(until) = r.hold_until.take() {
            self.holds.remove(&(until, reader));
        }
        for sender in core::mem::take(&mut r.holding) {
            let Some(s) = self.conns.get_mut(&sender) else { continue };
            s.held_by = s.held_by.saturating_sub(1);
            if s.held_by == 0 && !s.closed {
                self.resumed.push_back(sender);
            }
        }
    }

    /// Sends an `error` event to `conn`.
    fn error(&mut self, conn: ConnId, code: ErrorCode, message: String) {
        self.catch_up(conn);
        let data = Wire::Error { code, message: &message }.encode();
        self.outputs.push_back(Output::Event(Event::Error { conn, code, message }));
        self.transmit(conn, data, Some(conn));
    }

    /// Sends an `error` event to `conn`, then closes it.
    fn fatal(&mut self, conn: ConnId, code: ErrorCode, message: String) {
        self.error(conn, code, message);
        if self.close(conn) {
            self.leave(conn, LeaveReason::Error(code));
        }
    }

    /// Emits `Close` for `conn` (after what it is owed) unless already
    /// closed; whether it did.
    fn close(&mut self, conn: ConnId) -> bool {
        self.catch_up(conn);
        let Some(c) = self.conns.get_mut(&conn) else { return false };
        if c.closed {
            return false;
        }
        c.closed = true;
        self.outputs.push_back(Output::Close { conn });
        self.release(conn);
        true
    }

    /// Takes `conn` out of the members, announcing `left`, if it was one.
    fn leave(&mut self, conn: ConnId, reason: LeaveReason) {
        let Some(name) = self.conns.get_mut(&conn).and_then(|c| c.name.take()) else { return };
        self.announce_left(conn, name, reason);
    }

    fn announce_left(&mut self, conn: ConnId, name: String, reason: LeaveReason) {
        self.names.remove(&name);
        self.unreserve(&name);
        let data = Wire::Left { username: &name }.encode();
        self.outputs.push_back(Output::Event(Event::Left { conn, name: name.clone(), reason }));
        self.announce(&data);
        if let Some(nodes) = &mut self.cluster {
            // A name never announced is not taken back; a lost one is
            // taken back (the other nodes drop this node's member) but not
            // released (it is another node's now).
            let unclaimed = nodes.unclaimed.remove(&conn);
            let lost = nodes.lost.remove(&conn);
            if !unclaimed && !lost {
                let release = ToCluster::Release { name: name.clone() };
                self.outputs.push_back(Output::Event(Event::Cluster(release)));
            }
            if !unclaimed {
                self.publish(Body::Left { name });
            }
        }
    }

    /// Announces the departure of evicted members (each may evict more).
    fn settle(&mut self) {
        while let Some(conn) = self.evicted.pop_front() {
            self.leave(conn, LeaveReason::Evicted);
        }
    }
}

// -- the other nodes (PROTOCOLS.md §6) --------------------------------------------

impl Room {
    /// Publishes `body` to the other nodes, or counts a message dropped
    /// while the link is down (joins and leaves are told by the `hello`
    /// when it is back).
    fn publish(&mut self, body: Body) {
        let Some(nodes) = &mut self.cluster else { return };
        if !nodes.up {
            if matches!(body, Body::Message { .. }) {
                nodes.dropped += 1;
            }
            return;
        }
        nodes.seq += 1;
        let envelope = Envelope {
            node: nodes.config.node.clone(),
            inc: nodes.config.incarnation,
            seq: nodes.seq,
            body,
        };
        let data = envelope.encode();
        self.outputs.push_back(Output::Event(Event::Cluster(ToCluster::Publish(data))));
    }

    /// The names of this node's members whose claim is settled: what a
    /// `hello` lists.
    fn claimed_members(&self) -> Vec<String> {
        let unclaimed = self.cluster.as_ref().map(|n| &n.unclaimed);
        self.names
            .iter()
            .filter(|(_, c)| !unclaimed.is_some_and(|u| u.contains(c)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn on_notice(&mut self, notice: Notice) {
        let now = self.now;
        let Some(nodes) = &mut self.cluster else { return };
        match notice {
            Notice::Up => {
                if nodes.up {
                    return;
                }
                nodes.up = true;
                nodes.next_alive = Some(now.saturating_add(nodes.config.heartbeat()));
                // Nobody could be heard while down: everyone gets a full
                // ttl to answer the hello.
                for peer in nodes.peers.values_mut() {
                    peer.heard = now;
                }
                let dropped = core::mem::take(&mut nodes.dropped);
                let unclaimed: Vec<ConnId> = nodes.unclaimed.iter().copied().collect();
                if dropped > 0 {
                    self.outputs.push_back(Output::Event(Event::Dropped { messages: dropped }));
                }
                let members = self.claimed_members();
                self.publish(Body::Hello { members, ask: true });
                for conn in unclaimed {
                    let Some(name) = self.name(conn).map(String::from) else { continue };
                    let keys = Vec::from(name_keys(&name));
                    let claim = ToCluster::Claim { conn, name, keys };
                    self.outputs.push_back(Output::Event(Event::Cluster(claim)));
                }
            }
            Notice::Down => {
                nodes.up = false;
                nodes.next_alive = None;
                // Claims in flight will not be answered: those joining are
                // admitted here, and claimed when the link is back.
                let claiming: Vec<(ConnId, String)> = self
                    .conns
                    .iter()
                    .filter_map(|(&id, c)| c.claiming.clone().map(|n| (id, n)))
                    .collect();
                for (conn, name) in claiming {
                    self.claimed(conn, &name, true);
                    if let Some(nodes) = &mut self.cluster {
                        nodes.unclaimed.insert(conn);
                    }
                }
            }
            Notice::Claimed { conn, name, ok } => self.claimed(ConnId(conn), &name, ok),
            Notice::Lost { name } => {
                let Some(&conn) = self.names.get(&name) else { return };
                if let Some(nodes) = &mut self.cluster {
                    nodes.lost.insert(conn);
                }
                let message = format!("the name {name} was taken on another server");
                self.fatal(conn, ErrorCode::NameTaken, message);
            }
        }
    }

    /// The bridge answered the claim of `name` for `conn`.
    fn claimed(&mut self, conn: ConnId, name: &str, ok: bool) {
        let Some(c) = self.conns.get_mut(&conn) else {
            if ok {
                self.give_back(name);
            }
            return;
        };
        if c.claiming.as_deref() == Some(name) {
            c.claiming = None;
            let waiting = c.waiting.take();
            self.resumed.push_back(conn);
            if !ok {
                self.unreserve(name);
                let message = format!("the name {name} is taken");
                return self.error(conn, ErrorCode::NameTaken, message);
            }
            self.admit(conn, name.into());
            if let Some(frame) = waiting {
                self.on_frame(conn, &frame);
            }
            return;
        }
        if c.name.as_deref() != Some(name) {
            if ok {
                self.give_back(name);
            }
            return;
        }
        // A member that joined while the link was down.
        let Some(nodes) = &mut self.cluster else { return };
        if !nodes.unclaimed.remove(&conn) {
            return;
        }
        if ok {
            self.publish(Body::Joined { name: name.into() });
        } else {
            nodes.unclaimed.insert(conn);
            let message = format!("the name {name} was taken on another server");
            self.fatal(conn, ErrorCode::NameTaken, message);
        }
    }

    /// Tells the bridge to release `name`, which nobody here uses.
    fn give_back(&mut self, name: &str) {
        let release = ToCluster::Release { name: name.into() };
        self.outputs.push_back(Output::Event(Event::Cluster(release)));
    }

    fn on_envelope(&mut self, envelope: Envelope) {
        let now = self.now;
        let Some(nodes) = &mut self.cluster else { return };
        if envelope.node == nodes.config.node && envelope.inc == nodes.config.incarnation {
            return; // our own
        }
        let Envelope { node, inc, seq, body } = envelope;
        let restarted = nodes.peers.get(&node).is_some_and(|p| p.inc != inc);
        if restarted {
            self.node_gone(&node);
        }
        let Some(nodes) = &mut self.cluster else { return };
        let fresh = !nodes.peers.contains_key(&node);
        let seen = match nodes.dead.iter().position(|(n, i, _)| *n == node && *i == inc) {
            Some(at) if fresh => nodes.dead.remove(at).map_or(0, |(_, _, s)| s),
            _ => 0,
        };
        let peer = nodes.peers.entry(node.clone()).or_insert_with(|| Peer {
            inc,
            seq: seen,
            heard: now,
            members: BTreeSet::new(),
        });
        if seq <= peer.seq {
            return; // delivered already
        }
        peer.seq = seq;
        peer.heard = now;
        if fresh {
            self.outputs.push_back(Output::Event(Event::NodeSeen { node: node.clone() }));
            if !matches!(body, Body::Hello { .. }) {
                // A node given up for dead (or one whose hello was missed)
                // is alive: who is on it, and it should learn who is here.
                let members = self.claimed_members();
                self.publish(Body::Hello { members, ask: true });
            }
        }
        match body {
            Body::Alive => {}
            Body::Hello { members, ask } => {
                let listed: BTreeSet<String> = members.into_iter().collect();
                let known = self.peer_members(&node);
                for name in known.difference(&listed) {
                    self.remote_left(&node, name);
                }
                for name in listed.difference(&known) {
                    self.remote_joined(&node, name);
                }
                if ask {
                    let members = self.claimed_members();
                    self.publish(Body::Hello { members, ask: false });
                }
            }
            Body::Joined { name } => self.remote_joined(&node, &name),
            Body::Left { name } => self.remote_left(&node, &name),
            Body::Message { from, content, to } => {
                if !self.is_peer_member(&node, &from) {
                    return;
                }
                let data =
                    Wire::Message { from: &from, content: &content, to: to.as_deref() }.encode();
                let recipients: Vec<ConnId> = match &to {
                    None => {
                        self.flush_batch();
                        self.recipients().collect()
                    }
                    Some(names) => {
                        let mut seen = BTreeSet::new();
                        names
                            .iter()
                            .filter(|n| seen.insert(n.as_str()))
                            .filter_map(|n| self.names.get(n).copied())
                            .collect()
                    }
                };
                for to in recipients {
                    self.catch_up(to);
                    self.transmit(to, data.clone(), None);
                }
            }
        }
    }

    /// Whether `name` is a member on `node` (looked up, not copied: this
    /// runs for every message from another node).
    fn is_peer_member(&self, node: &str, name: &str) -> bool {
        let peers = self.cluster.as_ref().map(|n| &n.peers);
        peers.and_then(|p| p.get(node)).is_some_and(|p| p.members.contains(name))
    }

    fn peer_members(&self, node: &str) -> BTreeSet<String> {
        let peers = self.cluster.as_ref().map(|n| &n.peers);
        peers.and_then(|p| p.get(node)).map(|p| p.members.clone()).unwrap_or_default()
    }

    /// `name` joined on `node`: announced here, unless the name is in use
    /// here (possible only after a split; the claims decide it later). The
    /// broker gave it to `node`, so a member of another node holding it
    /// (or a look-alike) is news that was missed: that one left.
    fn remote_joined(&mut self, node: &str, name: &str) {
        for key in name_keys(name) {
            let Some(holder) = self.keys.get(&key).cloned() else { continue };
            let on = self.cluster.as_ref().and_then(|n| n.remote.get(&holder)).cloned();
            match on {
                Some(other) if other != node || holder != name => self.remote_left(&other, &holder),
                _ => return, // a member here, or already known
            }
        }
        let Some(nodes) = &mut self.cluster else { return };
        let Some(peer) = nodes.peers.get_mut(node) else { return };
        peer.members.insert(name.into());
        nodes.remote.insert(name.into(), node.into());
        self.reserve(name);
        let data = Wire::Joined { username: name }.encode();
        self.announce(&data);
    }

    /// `name` left `node`.
    fn remote_left(&mut self, node: &str, name: &str) {
        let Some(nodes) = &mut self.cluster else { return };
        let Some(peer) = nodes.peers.get_mut(node) else { return };
        if !peer.members.remove(name) {
            return;
        }
        nodes.remote.remove(name);
        self.unreserve(name);
        let data = Wire::Left { username: name }.encode();
        self.announce(&data);
    }

    /// `node` died or restarted: its members leave.
    fn node_gone(&mut self, node: &str) {
        let members = self.peer_members(node);
        for name in &members {
            self.remote_left(node, name);
        }
        if let Some(nodes) = &mut self.cluster
            && let Some(peer) = nodes.peers.remove(node)
        {
            if nodes.dead.len() == Nodes::DEAD {
                nodes.dead.pop_front();
            }
            nodes.dead.push_back((node.into(), peer.inc, peer.seq));
        }
        let gone = Event::NodeGone { node: node.into(), members: members.len() };
        self.outputs.push_back(Output::Event(gone));
    }

    /// The next heartbeat or node expiry, while the link is up.
    fn cluster_deadline(&self) -> Option<Instant> {
        let nodes = self.cluster.as_ref().filter(|n| n.up)?;
        let expiry = nodes.peers.values().map(|p| p.heard.saturating_add(nodes.config.ttl)).min();
        [nodes.next_alive, expiry].into_iter().flatten().min()
    }

    fn cluster_timeout(&mut self) {
        let now = self.now;
        let Some(nodes) = self.cluster.as_mut().filter(|n| n.up) else { return };
        if nodes.next_alive.is_some_and(|t| t <= now) {
            nodes.next_alive = Some(now.saturating_add(nodes.config.heartbeat()));
            self.publish(Body::Alive);
        }
        let Some(nodes) = &self.cluster else { return };
        let ttl = nodes.config.ttl;
        let dead: Vec<String> = nodes
            .peers
            .iter()
            .filter(|(_, p)| p.heard.saturating_add(ttl) <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for node in dead {
            self.node_gone(&node);
        }
    }
}

impl Hub for Room {
    type Event = Event;

    fn handle(&mut self, now: Instant, input: Input<'_>) {
        self.now = self.now.max(now);
        match input {
            Input::Opened { conn, peer, .. } => {
                let splitter = self.limits.splitter();
                self.conns.entry(conn).or_insert_with(|| Conn::new(peer, splitter));
            }
            Input::Read { conn, buf } => self.on_read(conn, buf),
            Input::Eof { conn } => self.on_eof(conn),
            Input::Sent { conn, n } => self.on_sent(conn, n),
            Input::Gone { conn } => self.on_gone(conn),
            Input::Identified { conn, name } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.verified = Some(name.into());
                }
            }
            // Larger than any envelope a node makes from a frame within
            // the limit (content escaped at most sixfold): not decoded.
            Input::Message { data }
                if data.len() > self.limits.max_frame.saturating_mul(6) + 4096 => {}
            Input::Message { data } => match Inbound::decode(data) {
                Some(Inbound::Envelope(envelope)) => self.on_envelope(envelope),
                Some(Inbound::Notice(notice)) => self.on_notice(notice),
                None => {}
            },
        }
        self.settle();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.batch_due.is_some_and(|t| t <= now) {
            self.batch_sent = Some(now);
            self.flush_batch();
        }
        self.cluster_timeout();
        while let Some(&(until, reader)) = self.holds.first() {
            if until > now {
                break;
            }
            // Still behind after the hold: stalled, not slow.
            if let Some(r) = self.conns.get_mut(&reader) {
                r.stalled = true;
            }
            self.release(reader);
            self.holds.remove(&(until, reader));
        }
        self.settle();
    }

    fn poll_output(&mut self) -> Option<Output<Event>> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let hold = self.holds.first().map(|&(t, _)| t);
        [self.batch_due, hold, self.cluster_deadline()].into_iter().flatten().min()
    }

    fn wants_read(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| self.readable(c))
    }

    fn poll_resumed(&mut self) -> Option<ConnId> {
        while let Some(conn) = self.resumed.pop_front() {
            if self.wants_read(conn) {
                return Some(conn);
            }
        }
        None
    }
}
