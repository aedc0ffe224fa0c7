//! The chat room: every connection of a chat server in one [`Hub`].

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use super::message::Wire;
use super::{ClientMessage, ErrorCode, FrameError, Limits, Splitter, is_valid_name};
use crate::{ConnId, Hub, Input, Instant, Output};

/// What the room tells the application (for logging and metrics); it needs
/// no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `conn` joined the room as `name` (every member was sent `joined`).
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
    /// Its name once it joined.
    name: Option<String>,
    splitter: Splitter,
    /// Bytes emitted to it that the driver has not reported written.
    unsent: usize,
    /// `Output::Close` was emitted: nothing more is read or sent.
    closed: bool,
}

/// The chat room of PROTOCOLS.md §2, as a [`Hub`]: every connection of a
/// chat server in one machine, fed from one task or thread.
///
/// The driver reports connections ([`Input::Opened`], [`Input::Read`],
/// [`Input::Eof`], [`Input::Sent`], [`Input::Gone`]) and drains
/// [`poll_output`](Hub::poll_output) after each input: bytes addressed to a
/// connection, closes, and [`Event`]s. The room has no timers (idle
/// timeouts belong to the transport).
///
/// # What it does
///
/// - **Joining.** A connection is not a member until it has a name. Its
///   first valid message should be `{"username": NAME}`: a name that breaks
///   the rules ([`is_valid_name`] with [`Limits::max_name`]) gets
///   `bad_message`, a name in use `name_taken` (exact, case-sensitive
///   comparison); both leave the connection open for another try. Any
///   other valid message from a connection without a name joins it under
///   its peer address (as the reference server does), then is handled; if
///   the peer address is empty or in use, `PEER#ID` (the [`ConnId`]) is
///   tried, and if that is taken too the message gets `name_taken`. Names
///   from peer addresses are not held to the name rules. A `username`
///   after joining is `bad_message` (no renames).
/// - **Broadcast.** `joined` goes to every member, the newcomer included;
///   `{"content"}` goes to every member but the sender; `left` to every
///   remaining member. Recipients are served in [`ConnId`] order.
/// - **Directed messages.** `{"content", "to"}` goes to each named member
///   once (duplicates are dropped; the sender gets it only if it names
///   itself), in the order of `to`; the event's `to` lists those
///   recipients. Names that are not in the room get one `unknown_user`
///   error listing them, after delivery to the others (as IRC does for
///   `PRIVMSG a,b`); if none is known, nothing is delivered.
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
///
/// Every event is serialised once into a [`Bytes`]; each recipient gets a
/// clone of it (the same allocation).
///
/// ```
/// use bytes::BytesMut;
/// use sansnet_proto::chat::{Event, Limits, Room};
/// use sansnet_proto::{ConnId, Hub, Input, Instant, Output};
///
/// let mut room = Room::new(Limits::default());
/// let now = Instant::ZERO;
/// let alice = ConnId(1);
/// room.handle(now, Input::Opened { conn: alice, peer: "127.0.0.1:5000".into() });
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
    conns: BTreeMap<ConnId, Conn>,
    /// The members by name.
    names: BTreeMap<String, ConnId>,
    outputs: VecDeque<Output<Event>>,
    /// Evicted members whose `left` is still to be announced.
    evicted: VecDeque<ConnId>,
}

impl Default for Room {
    fn default() -> Self {
        Room::new(Limits::default())
    }
}

impl Room {
    /// An empty room enforcing `limits`.
    pub fn new(limits: Limits) -> Room {
        Room {
            limits,
            conns: BTreeMap::new(),
            names: BTreeMap::new(),
            outputs: VecDeque::new(),
            evicted: VecDeque::new(),
        }
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

    // -- inputs --------------------------------------------------------------

    fn on_read(&mut self, conn: ConnId, buf: &mut BytesMut) {
        let pause_above = self.limits.outbound_budget / 2;
        loop {
            let Some(c) = self.conns.get_mut(&conn) else { return };
            if c.closed {
                // Whatever follows a fatal error or an eviction is dropped.
                buf.clear();
                return;
            }
            if c.unsent > pause_above {
                // Backpressure: the rest waits in the driver's buffer.
                return;
            }
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
            (None, msg) => match self.auto_join(conn) {
                Some(name) => (name, msg),
                None => return,
            },
        };
        match msg {
            ClientMessage::Say { content, to: None } => {
                let data = Wire::Message { from: &from, content: &content, to: None }.encode();
                let others: Vec<ConnId> = self.recipients().filter(|&c| c != conn).collect();
                for to in others {
                    self.transmit(to, data.clone());
                }
            }
            ClientMessage::Say { content, to: Some(names) } => {
                self.direct(conn, &from, &content, names)
            }
            ClientMessage::List => {
                let users = self.names.keys().map(String::as_str).collect();
                let data = Wire::Users { users }.encode();
                self.transmit(conn, data);
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

    fn on_gone(&mut self, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else { return };
        if let Some(name) = c.name {
            self.announce_left(conn, name, LeaveReason::Gone);
        }
    }

    // -- commands of the protocol ----------------------------------------------

    fn join(&mut self, conn: ConnId, name: String) {
        if !is_valid_name(&name, self.limits.max_name) {
            let message = format!(
                "a username is 1 to {} characters, without control characters",
                self.limits.max_name
            );
            return self.error(conn, ErrorCode::BadMessage, message);
        }
        if self.names.contains_key(&name) {
            let message = format!("the name {name} is taken");
            return self.error(conn, ErrorCode::NameTaken, message);
        }
        self.admit(conn, name);
    }

    /// Joins `conn` under its peer address; `None` (after a `name_taken`
    /// error) when no such name is free.
    fn auto_join(&mut self, conn: ConnId) -> Option<String> {
        let peer = &self.conns.get(&conn)?.peer;
        let mut name = peer.clone();
        if name.is_empty() || self.names.contains_key(&name) {
            name = format!("{peer}#{}", conn.0);
        }
        if self.names.contains_key(&name) {
            let message = format!("the name {name} is taken; send a username");
            self.error(conn, ErrorCode::NameTaken, message);
            return None;
        }
        self.admit(conn, name.clone());
        Some(name)
    }

    fn admit(&mut self, conn: ConnId, name: String) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.name = Some(name.clone());
        self.names.insert(name.clone(), conn);
        let data = Wire::Joined { username: &name }.encode();
        self.outputs.push_back(Output::Event(Event::Joined { conn, name }));
        let all: Vec<ConnId> = self.recipients().collect();
        for to in all {
            self.transmit(to, data.clone());
        }
    }

    fn direct(&mut self, conn: ConnId, from: &str, content: &str, names: Vec<String>) {
        let mut seen = BTreeSet::new();
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for name in names {
            if !seen.insert(name.clone()) {
                continue;
            }
            match self.names.get(&name) {
                Some(&to) => known.push((name, to)),
                None => unknown.push(name),
            }
        }
        if !known.is_empty() {
            let to: Vec<String> = known.iter().map(|(n, _)| n.clone()).collect();
            let data = Wire::Message { from, content, to: Some(&to) }.encode();
            for (_, to) in known {
                self.transmit(to, data.clone());
            }
        }
        if !unknown.is_empty() {
            let message = format!("unknown user: {}", unknown.join(", "));
            self.error(conn, ErrorCode::UnknownUser, message);
        }
    }

    // -- plumbing ------------------------------------------------------------

    /// The members that may still be sent to, in `ConnId` order.
    fn recipients(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.conns.iter().filter(|(_, c)| c.name.is_some() && !c.closed).map(|(&id, _)| id)
    }

    /// Emits `data` to `conn`, or evicts `conn` if that would break its
    /// budget.
    fn transmit(&mut self, conn: ConnId, data: Bytes) {
        let budget = self.limits.outbound_budget;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.closed {
            return;
        }
        if c.unsent > 0 && c.unsent.saturating_add(data.len()) > budget {
            c.closed = true;
            let unsent = c.unsent;
            self.outputs.push_back(Output::Event(Event::Evicted { conn, unsent }));
            self.outputs.push_back(Output::Close { conn });
            // Announcing `left` may evict others in turn: done in `settle`,
            // one at a time, rather than recursively.
            self.evicted.push_back(conn);
            return;
        }
        c.unsent += data.len();
        self.outputs.push_back(Output::Transmit { conn, data });
    }

    /// Sends an `error` event to `conn`.
    fn error(&mut self, conn: ConnId, code: ErrorCode, message: String) {
        let data = Wire::Error { code, message: &message }.encode();
        self.outputs.push_back(Output::Event(Event::Error { conn, code, message }));
        self.transmit(conn, data);
    }

    /// Sends an `error` event to `conn`, then closes it.
    fn fatal(&mut self, conn: ConnId, code: ErrorCode, message: String) {
        self.error(conn, code, message);
        if self.close(conn) {
            self.leave(conn, LeaveReason::Error(code));
        }
    }

    /// Emits `Close` for `conn` unless already closed; whether it did.
    fn close(&mut self, conn: ConnId) -> bool {
        let Some(c) = self.conns.get_mut(&conn) else { return false };
        if c.closed {
            return false;
        }
        c.closed = true;
        self.outputs.push_back(Output::Close { conn });
        true
    }

    /// Takes `conn` out of the members, announcing `left`, if it was one.
    fn leave(&mut self, conn: ConnId, reason: LeaveReason) {
        let Some(name) = self.conns.get_mut(&conn).and_then(|c| c.name.take()) else { return };
        self.announce_left(conn, name, reason);
    }

    fn announce_left(&mut self, conn: ConnId, name: String, reason: LeaveReason) {
        self.names.remove(&name);
        let data = Wire::Left { username: &name }.encode();
        self.outputs.push_back(Output::Event(Event::Left { conn, name, reason }));
        let rest: Vec<ConnId> = self.recipients().collect();
        for to in rest {
            self.transmit(to, data.clone());
        }
    }

    /// Announces the departure of evicted members (each may evict more).
    fn settle(&mut self) {
        while let Some(conn) = self.evicted.pop_front() {
            self.leave(conn, LeaveReason::Evicted);
        }
    }
}

impl Hub for Room {
    type Event = Event;

    fn handle(&mut self, _now: Instant, input: Input<'_>) {
        match input {
            Input::Opened { conn, peer } => {
                let splitter = self.limits.splitter();
                self.conns.entry(conn).or_insert(Conn {
                    peer,
                    name: None,
                    splitter,
                    unsent: 0,
                    closed: false,
                });
            }
            Input::Read { conn, buf } => self.on_read(conn, buf),
            Input::Eof { conn } => self.on_eof(conn),
            Input::Sent { conn, n } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.unsent = c.unsent.saturating_sub(n);
                }
            }
            Input::Gone { conn } => self.on_gone(conn),
        }
        self.settle();
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_output(&mut self) -> Option<Output<Event>> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn wants_read(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| !c.closed && c.unsent <= self.limits.outbound_budget / 2)
    }
}
