//! The protocol-free half of hosting a [`Hub`] (the chat room): one owner
//! feeds it messages from per-connection readers and writers and routes
//! its outputs back to them. The std and async transports run the same
//! host loop, writers ([`HubWriter`]) and readers ([`reader_news`]); they
//! differ only in how they wait.
//!
//! Per connection there is a reader (socket -> [`ToHub::Read`]), a writer
//! ([`ToWriter`] -> socket, reporting [`ToHub::Sent`]), and a [`Gate`] the
//! host closes while the hub does not want that connection's input, so a
//! reader never runs ahead of the hub. Writers take their queue from an
//! unbounded channel: the hub itself bounds what it queues per connection
//! (the chat room's outbound budget counts `Sent`), so one slow reader is
//! evicted by the protocol, never by blocking the host.
//!
//! A writer with nothing queued or in flight is skipped: where the
//! transport gives a non-blocking [`TryWrite`], the host writes to the
//! socket itself and only what the socket does not take goes to the
//! writer. A broadcast to n idle members is then n writes from one task,
//! not n wake-ups of n writer tasks.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use event_listener::{Event, Listener as _};
use sansnet_proto::{ConnId, Hub, Input, Instant, Output};

use crate::Outbox;
use crate::engine::WriteDeadline;

/// A message from a connection's reader or writer to the host.
#[derive(Debug)]
pub enum ToHub {
    /// A connection was accepted.
    Opened {
        /// Its id.
        conn: ConnId,
        /// Its peer address, printable.
        peer: String,
        /// Which listener accepted it (see [`Input::Opened`]).
        listener: usize,
        /// Its writer.
        writer: Writer,
        /// Its reader's gate.
        gate: Gate,
    },
    /// Bytes read.
    Read {
        /// From.
        conn: ConnId,
        /// The bytes.
        data: Bytes,
    },
    /// The peer ended its side (or the read failed).
    Eof {
        /// Which.
        conn: ConnId,
    },
    /// The writer wrote `n` bytes.
    Sent {
        /// Which.
        conn: ConnId,
        /// How many.
        n: usize,
    },
    /// The writer is done and the socket closed.
    Gone {
        /// Which.
        conn: ConnId,
    },
    /// A message from outside the connections (see [`Mailbox`]).
    Message(Letter),
}

/// The sending end of a hub's mail: messages from outside its connections
/// (what the other nodes of a chat room publish, a bridge's news), handed
/// to the hub as [`Input::Message`] in the order sent. What is sent and
/// not yet handled by the hub is bounded ([`mailbox`]: messages and bytes,
/// counted until the hub has handled each one, not merely until the driver
/// took it): a sender waits while it is full, so a flood from outside is
/// held where it comes from (for Redis, in the broker, which drops a
/// subscriber that falls too far behind) instead of growing here.
#[derive(Clone, Debug)]
pub struct Mailbox {
    tx: async_channel::Sender<Letter>,
    quota: Arc<Quota>,
}

/// The receiving end of a hub's mail: given to `serve_hub`. Dropping it
/// (the hub is gone) wakes the senders that wait, to give up.
#[derive(Debug)]
pub struct Mail(async_channel::Receiver<Letter>, Arc<Quota>);

impl Drop for Mail {
    fn drop(&mut self) {
        self.0.close();
        self.1.room.notify(usize::MAX);
    }
}

/// One message of a hub's mail; dropping it (once the hub has handled it)
/// makes room in the mailbox.
#[derive(Debug)]
pub struct Letter {
    data: Bytes,
    quota: Arc<Quota>,
}

impl std::ops::Deref for Letter {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Letter {
    fn drop(&mut self) {
        self.quota.release(self.data.len());
    }
}

/// What [`Mailbox::make_room`] found.
enum Room {
    Taken,
    Closed,
    Wait(event_listener::EventListener),
}

/// What a mailbox holds: messages and bytes not yet handled.
#[derive(Debug)]
struct Quota {
    /// `(messages, bytes)` held.
    held: std::sync::Mutex<(usize, usize)>,
    max: (usize, usize),
    room: Event,
}

impl Quota {
    /// Takes room for a message of `len` bytes if there is some (a message
    /// larger than the byte bound goes alone).
    fn take(&self, len: usize) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let (n, b) = *held;
        if n < self.max.0 && (b == 0 || b + len <= self.max.1) {
            *held = (n + 1, b + len);
            return true;
        }
        false
    }

    fn release(&self, len: usize) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.0 = held.0.saturating_sub(1);
        held.1 = held.1.saturating_sub(len);
        drop(held);
        self.room.notify(usize::MAX);
    }
}

/// A mailbox for a hub, holding at most `messages` messages and `bytes`
/// bytes not yet handled (at least one message, whatever its size).
pub fn mailbox(messages: usize, bytes: usize) -> (Mailbox, Mail) {
    let (tx, rx) = async_channel::unbounded();
    let quota = Quota {
        held: std::sync::Mutex::new((0, 0)),
        max: (messages.max(1), bytes),
        room: Event::new(),
    };
    let quota = Arc::new(quota);
    (Mailbox { tx, quota: quota.clone() }, Mail(rx, quota))
}

impl Mailbox {
    /// The default bound of a hub's mailbox, in messages.
    pub const CAPACITY: usize = 4096;
    /// The default bound of a hub's mailbox, in bytes.
    pub const BYTES: usize = 16 << 20;

    /// Sends `msg`, waiting while the mailbox is full; `false` once the
    /// hub is gone.
    pub async fn send(&self, msg: Bytes) -> bool {
        loop {
            match self.make_room(msg.len()) {
                Room::Taken => return self.post(msg),
                Room::Closed => return false,
                Room::Wait(listener) => listener.await,
            }
        }
    }

    /// Sends `msg`, blocking the thread while the mailbox is full; `false`
    /// once the hub is gone.
    pub fn send_blocking(&self, msg: Bytes) -> bool {
        loop {
            match self.make_room(msg.len()) {
                Room::Taken => return self.post(msg),
                Room::Closed => return false,
                Room::Wait(listener) => listener.wait(),
            }
        }
    }

    /// Takes room for `len` bytes, or says what to wait for. It listens
    /// before looking again, so a release or the hub's end in between is
    /// not missed.
    fn make_room(&self, len: usize) -> Room {
        let mut listener = None;
        loop {
            if self.is_closed() {
                return Room::Closed;
            }
            if self.quota.take(len) {
                return Room::Taken;
            }
            match listener {
                Some(l) => return Room::Wait(l),
                None => listener = Some(self.quota.room.listen()),
            }
        }
    }

    /// Hands over a message room was taken for.
    fn post(&self, data: Bytes) -> bool {
        let letter = Letter { data, quota: self.quota.clone() };
        self.tx.try_send(letter).is_ok()
    }

    /// Whether the hub is gone (nothing sent reaches it any more).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl Mail {
    /// Mail that never comes: for a hub that needs none.
    pub fn none() -> Mail {
        mailbox(1, 0).1
    }

    /// The next message; `None` when every [`Mailbox`] is gone.
    pub async fn recv(&self) -> Option<Letter> {
        self.0.recv().await.ok()
    }

    /// The next message, blocking the thread; `None` when every
    /// [`Mailbox`] is gone.
    pub fn recv_blocking(&self) -> Option<Letter> {
        self.0.recv_blocking().ok()
    }
}

/// What a connection's writer is told.
#[derive(Debug, PartialEq, Eq)]
pub enum ToWriter {
    /// Write these bytes.
    Data(Bytes),
    /// Write what came before, then close.
    Close,
}

/// A socket write that never blocks: `WouldBlock` when the socket is full.
pub trait TryWrite: Send + Sync {
    /// Writes a prefix of `buf`, or fails with `WouldBlock`.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

/// The host's end of a connection's writer: a queue, a count of messages
/// queued or being written, and an optional direct path to the socket,
/// used only while that count is zero (so bytes never overtake each other).
pub struct Writer {
    queue: async_channel::Sender<ToWriter>,
    queued: Arc<AtomicUsize>,
    direct: Option<Arc<dyn TryWrite>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("queued", &self.queued).finish_non_exhaustive()
    }
}

/// The writer task's or thread's end: messages to write, in order.
#[derive(Debug)]
pub struct WriterQueue {
    rx: async_channel::Receiver<ToWriter>,
    queued: Arc<AtomicUsize>,
    taken: usize,
}

/// A connection's writer channel; `direct` lets the host write to an idle
/// socket itself (see [`HubHost`]).
pub fn writer_channel(direct: Option<Arc<dyn TryWrite>>) -> (Writer, WriterQueue) {
    let (queue, rx) = async_channel::unbounded();
    let queued = Arc::new(AtomicUsize::new(0));
    (Writer { queue, queued: queued.clone(), direct }, WriterQueue { rx, queued, taken: 0 })
}

impl Writer {
    fn send(&self, msg: ToWriter) {
        self.queued.fetch_add(1, Ordering::AcqRel);
        let _ = self.queue.try_send(msg);
    }

    /// Whether the host may write to the socket itself now.
    fn is_direct(&self) -> bool {
        self.direct.is_some() && self.queued.load(Ordering::Acquire) == 0
    }

    /// Writes what the socket takes of `data` at once, if nothing is
    /// queued before it; returns how many bytes.
    fn write_direct(&self, data: &[u8]) -> usize {
        match &self.direct {
            Some(d) if self.queued.load(Ordering::Acquire) == 0 => d.try_write(data).unwrap_or(0),
            _ => 0,
        }
    }
}

impl Member {
    /// Hands what is still staged to the writer, in order.
    fn unstage(&mut self) {
        while let Some(b) = self.stage.take_front() {
            self.writer.send(ToWriter::Data(b));
        }
        self.stage = Outbox::new(); // an idle member keeps no buffer
    }
}

impl WriterQueue {
    /// The next message, blocking the thread.
    pub fn recv_blocking(&mut self) -> Option<ToWriter> {
        let m = self.rx.recv_blocking().ok()?;
        self.taken += 1;
        Some(m)
    }

    /// The next message.
    pub async fn recv(&mut self) -> Option<ToWriter> {
        let m = self.rx.recv().await.ok()?;
        self.taken += 1;
        Some(m)
    }

    /// A writer's batching step: moves `first` and whatever else is already
    /// queued (until `out` holds `max` bytes) into `out`, so that one write
    /// carries many small events. Returns true if a [`ToWriter::Close`]
    /// came: the writer then writes `out` and closes.
    pub fn gather(&mut self, first: ToWriter, out: &mut Outbox, max: usize) -> bool {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                ToWriter::Data(b) => out.push(b),
                ToWriter::Close => return true,
            }
            if out.len() < max {
                next = self.rx.try_recv().ok();
                self.taken += usize::from(next.is_some());
            }
        }
        false
    }

    /// Everything taken so far is written: the host may write directly
    /// again once nothing else is queued.
    pub fn written(&mut self) {
        self.queued.fetch_sub(std::mem::take(&mut self.taken), Ordering::AcqRel);
    }
}

/// What a hub connection's reader does after one read; see [`reader_news`].
#[derive(Debug)]
pub enum ReaderNews {
    /// Send this ([`ToHub::Read`]) to the host, then read again.
    Send(ToHub),
    /// Interrupted: read again.
    Again,
    /// Send this ([`ToHub::Eof`]) to the host and stop reading: the peer
    /// ended its side, or the read failed.
    Last(ToHub),
}

/// The hub reader's step after one read of `conn`'s socket (wait for the
/// [`Gate`] to open before each read).
pub fn reader_news(conn: ConnId, read: io::Result<Bytes>) -> ReaderNews {
    match read {
        Ok(data) if !data.is_empty() => ReaderNews::Send(ToHub::Read { conn, data }),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => ReaderNews::Again,
        Ok(_) | Err(_) => ReaderNews::Last(ToHub::Eof { conn }),
    }
}

/// A hub connection's writer, without I/O: takes what the host routes to
/// the connection from its [`WriterQueue`], batches it, asks for it to be
/// written, reports [`ToHub::Sent`], lingers and closes after
/// [`ToWriter::Close`], and ends with [`ToHub::Gone`]. A failed write (or a
/// host that stopped listening, see [`failed`](Self::failed)) closes at once,
/// and so does a chunk not written whole by its deadline, as for a
/// connection's [`Engine`](crate::Engine) (see [`crate::Step::Write`]).
#[derive(Debug)]
pub struct HubWriter {
    conn: ConnId,
    queue: WriterQueue,
    out: Outbox,
    state: WriterState,
    deadline: WriteDeadline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriterState {
    /// Waiting for the host.
    Idle,
    /// Writing a batch; then close if `close`.
    Writing { close: bool },
    /// The batch before a close is written: linger.
    Linger,
    /// Shut the socket and say goodbye.
    Closing,
}

/// What a hub connection's writer does next; see [`HubWriter::step`].
#[derive(Debug)]
pub enum WriterStep<'a> {
    /// Wait for the next message on this queue and hand it (or `None`
    /// when the host dropped the connection's [`Writer`]) to
    /// [`HubWriter::received`].
    Recv(&'a mut WriterQueue),
    /// Write (a prefix of) these bytes, giving up at the deadline (the
    /// second field, which a partial write does not move), and report the
    /// result with [`HubWriter::written`].
    Write(&'a [u8], Instant),
    /// Close with a [`crate::Linger`], then step again.
    Linger,
    /// Shut the socket both ways, send this ([`ToHub::Gone`]) to the host
    /// and stop.
    Close(ToHub),
}

impl HubWriter {
    /// The most one batch gathers before it is written.
    pub const BATCH: usize = 64 * 1024;

    /// The writer of `conn`, fed by `queue`, with the default write
    /// timeout ([`ServerConfig::write_timeout`](crate::ServerConfig::write_timeout)'s).
    pub fn new(conn: ConnId, queue: WriterQueue) -> HubWriter {
        HubWriter {
            conn,
            queue,
            out: Outbox::new(),
            state: WriterState::Idle,
            deadline: WriteDeadline::new(crate::ServerConfig::default().write_timeout),
        }
    }

    /// Gives each chunk `timeout` to be written whole.
    pub fn with_write_timeout(mut self, timeout: Duration) -> HubWriter {
        self.deadline = WriteDeadline::new(timeout);
        self
    }

    /// The next step; `now` starts a new chunk's deadline.
    pub fn step(&mut self, now: Instant) -> WriterStep<'_> {
        if let WriterState::Writing { close } = self.state
            && self.out.is_empty()
        {
            self.queue.written();
            self.state = if close { WriterState::Linger } else { WriterState::Idle };
        }
        match self.state {
            WriterState::Idle => WriterStep::Recv(&mut self.queue),
            WriterState::Writing { .. } => match self.out.front() {
                Some(chunk) => WriterStep::Write(chunk, self.deadline.ask(now, chunk.len())),
                None => WriterStep::Linger, // not reached: the outbox is not empty
            },
            WriterState::Linger => {
                self.state = WriterState::Closing;
                WriterStep::Linger
            }
            WriterState::Closing => WriterStep::Close(ToHub::Gone { conn: self.conn }),
        }
    }

    /// The message a [`WriterStep::Recv`] waited for: it and whatever else
    /// is queued already go out in one batch.
    pub fn received(&mut self, msg: Option<ToWriter>) {
        self.state = match msg {
            None => WriterState::Closing,
            Some(first) => {
                let close = self.queue.gather(first, &mut self.out, HubWriter::BATCH);
                WriterState::Writing { close }
            }
        };
    }

    /// The result of a [`WriterStep::Write`], at `now`: the [`ToHub::Sent`]
    /// to send to the host, if any bytes went out. A failed, stalled or
    /// empty write closes the connection, and so does part of a chunk at or
    /// after its deadline; an interrupted write is tried again.
    pub fn written(&mut self, now: Instant, result: io::Result<usize>) -> Option<ToHub> {
        if let Ok(&n) = result.as_ref()
            && n > 0
            && self.deadline.written(now, n).is_err()
        {
            self.failed();
            return None;
        }
        match result {
            Ok(n) if n > 0 => {
                let n = n.min(self.out.front().map_or(0, <[u8]>::len));
                self.out.advance(n);
                Some(ToHub::Sent { conn: self.conn, n })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Ok(_) | Err(_) => {
                self.failed();
                None
            }
        }
    }

    /// The host is gone (a send to it failed): close without lingering.
    pub fn failed(&mut self) {
        self.deadline.clear();
        self.out = Outbox::new();
        self.state = WriterState::Closing;
    }
}

/// Open or shut; readers wait while it is shut. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    inner: Arc<(AtomicBool, Event)>,
}

impl Gate {
    /// An open gate.
    pub fn new() -> Gate {
        Gate::default()
    }

    fn set_shut(&self, shut: bool) {
        let was = self.inner.0.swap(shut, Ordering::SeqCst);
        if was && !shut {
            self.inner.1.notify(usize::MAX);
        }
    }

    fn is_shut(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Blocks the thread while the gate is shut.
    pub fn wait_open_blocking(&self) {
        while self.is_shut() {
            let l = self.inner.1.listen();
            if !self.is_shut() {
                return;
            }
            l.wait();
        }
    }

    /// Completes once the gate is open.
    pub async fn wait_open(&self) {
        while self.is_shut() {
            let l = self.inner.1.listen();
            if !self.is_shut() {
                return;
            }
            l.await;
        }
    }
}

struct Member {
    writer: Writer,
    /// Bytes for an idle writer, written by the host itself at the end of
    /// the flush.
    stage: Outbox,
    gate: Gate,
    inbuf: BytesMut,
}

/// Owns a [`Hub`] (the chat room) and its connections' channels: one owner
/// feeds it messages from per-connection readers and writers and routes
/// its outputs back to them. The std and async transports run the same
/// host loop ([`step`](Self::step)), writers ([`HubWriter`]) and readers
/// ([`reader_news`]); they differ only in how they wait.
///
/// Per connection there is a reader (socket -> [`ToHub::Read`]), a writer
/// ([`ToWriter`] -> socket, reporting [`ToHub::Sent`]), and a [`Gate`] the
/// host closes while the hub does not want that connection's input, so a
/// reader never runs ahead of the hub. Writers take their queue from an
/// unbounded channel: the hub itself bounds what it queues per connection
/// (the chat room's outbound budget counts `Sent`), so one slow reader is
/// evicted by the protocol, never by blocking the host.
///
/// A writer with nothing queued or in flight is skipped: where the
/// transport gives a non-blocking [`TryWrite`], the host writes to the
/// socket itself and only what the socket does not take goes to the
/// writer. A broadcast to n idle members is then n writes from one task,
/// not n wake-ups of n writer tasks.
pub struct HubHost<H: Hub> {
    hub: H,
    members: BTreeMap<ConnId, Member>,
    /// Connections whose input or output moved since the last flush: only
    /// their gates and buffers can need attention, so a broadcast to n
    /// members costs O(n), not O(n) per input.
    touched: BTreeSet<ConnId>,
    /// Connections with bytes in their `stage`.
    staged: Vec<ConnId>,
    /// After shutdown: when the grace period ends.
    stopping: Option<Instant>,
}

/// What a hub's host does next; see [`HubHost::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubStep {
    /// Every connection is gone after shutdown, or the grace period ended:
    /// return.
    Stop,
    /// Wait for the next message, at most until `until`.
    Wait {
        /// The hub's next deadline (while stopping, a short poll).
        until: Option<Instant>,
    },
}

impl<H: Hub> HubHost<H> {
    /// Hosts `hub`.
    pub fn new(hub: H) -> HubHost<H> {
        HubHost {
            hub,
            members: BTreeMap::new(),
            touched: BTreeSet::new(),
            staged: Vec::new(),
            stopping: None,
        }
    }

    /// How many queued messages a driver feeds in a row before the next
    /// [`step`](Self::step) (which flushes): a burst of n messages to m
    /// members then costs m writes, not n x m, while timers and accepts
    /// still get their turn.
    pub const BURST: usize = 256;

    /// How often a stopping host with no deadline looks whether its grace
    /// period is over.
    pub const STOP_POLL: Duration = Duration::from_millis(20);

    /// One round of the host's loop: fires due timers, routes every output
    /// ([`flush`](Self::flush)), and says whether to stop or how long to
    /// wait for the next message (fed with [`handle`](Self::handle)).
    pub fn step(&mut self, now: Instant, on_event: &mut impl FnMut(&mut H, H::Event)) -> HubStep {
        self.handle_timeout(now);
        self.flush(now, on_event);
        match (self.stopping, self.hub.poll_timeout()) {
            (Some(end), _) if self.is_empty() || now >= end => HubStep::Stop,
            // A hub deadline past the end of the grace period must not
            // keep a stopping host waiting beyond it.
            (Some(end), Some(at)) => HubStep::Wait { until: Some(at.min(end)) },
            (None, Some(at)) => HubStep::Wait { until: Some(at) },
            (Some(_), None) => HubStep::Wait { until: Some(now + HubHost::<H>::STOP_POLL) },
            (None, None) => HubStep::Wait { until: None },
        }
    }

    /// Shutdown came: every connection is ended through the hub (so it can
    /// say goodbye) and has `grace` to flush. Later calls change nothing.
    pub fn stop(&mut self, now: Instant, grace: Duration) {
        if self.stopping.is_none() {
            self.stopping = Some(now + grace);
            self.hub.handle_stop(now);
            self.end_all(now);
        }
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_some()
    }

    /// The hub.
    pub fn hub(&mut self) -> &mut H {
        &mut self.hub
    }

    /// Connections not yet gone.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether every connection is gone.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The hub's next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.hub.poll_timeout()
    }

    /// Fires the hub's timers if due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.hub.poll_timeout().is_some_and(|at| at <= now) {
            self.hub.handle_timeout(now);
        }
    }

    /// Feeds one message to the hub.
    pub fn handle(&mut self, now: Instant, msg: ToHub) {
        match &msg {
            ToHub::Opened { conn, .. }
            | ToHub::Read { conn, .. }
            | ToHub::Eof { conn }
            | ToHub::Sent { conn, .. } => {
                self.touched.insert(*conn);
            }
            ToHub::Gone { conn } => {
                self.touched.remove(conn);
            }
            ToHub::Message(_) => {}
        }
        match msg {
            ToHub::Opened { conn, peer, listener, writer, gate } => {
                self.members.insert(
                    conn,
                    Member { writer, stage: Outbox::new(), gate, inbuf: BytesMut::new() },
                );
                self.hub.handle(now, Input::Opened { conn, peer, listener });
            }
            ToHub::Read { conn, data } => {
                if let Some(m) = self.members.get_mut(&conn) {
                    m.inbuf.extend_from_slice(&data);
                    let _ = self.feed(now, conn);
                }
            }
            ToHub::Eof { conn } => {
                if self.members.contains_key(&conn) {
                    let _ = self.feed(now, conn);
                    self.hub.handle(now, Input::Eof { conn });
                }
            }
            ToHub::Sent { conn, n } => {
                if self.members.contains_key(&conn) {
                    self.hub.handle(now, Input::Sent { conn, n });
                }
            }
            ToHub::Gone { conn } => {
                if let Some(m) = self.members.remove(&conn) {
                    m.gate.set_shut(false); // let a waiting reader see its socket closed
                    self.hub.handle(now, Input::Gone { conn });
                }
            }
            ToHub::Message(data) => self.hub.handle(now, Input::Message { data: &data }),
        }
    }

    /// Feeds `conn`'s buffered bytes while the hub wants them, and shuts
    /// or opens its reader's gate to match.
    /// Returns whether the hub consumed anything.
    fn feed(&mut self, now: Instant, conn: ConnId) -> bool {
        let Some(m) = self.members.get_mut(&conn) else { return false };
        let start = m.inbuf.len();
        while !m.inbuf.is_empty() && self.hub.wants_read(conn) {
            let before = m.inbuf.len();
            self.hub.handle(now, Input::Read { conn, buf: &mut m.inbuf });
            if m.inbuf.len() == before {
                break; // a partial frame: wait for more bytes
            }
        }
        m.gate.set_shut(!self.hub.wants_read(conn));
        m.inbuf.len() != start
    }

    /// Routes every pending output: bytes and closes to the writers, events
    /// to `on_event`. Then feeds connections the hub wants input from again.
    pub fn flush(&mut self, now: Instant, on_event: &mut impl FnMut(&mut H, H::Event)) {
        loop {
            while let Some(out) = self.hub.poll_output() {
                match out {
                    Output::Transmit { conn, data } => {
                        if let Some(m) = self.members.get_mut(&conn) {
                            // An idle writer's bytes wait in `stage` for one
                            // direct write per connection per flush.
                            if !m.stage.is_empty() || m.writer.is_direct() {
                                if m.stage.is_empty() {
                                    self.staged.push(conn);
                                }
                                m.stage.push(data);
                            } else {
                                m.writer.send(ToWriter::Data(data));
                            }
                            self.touched.insert(conn);
                        }
                    }
                    Output::Close { conn } => {
                        if let Some(m) = self.members.get_mut(&conn) {
                            m.unstage();
                            m.writer.send(ToWriter::Close);
                            self.touched.insert(conn);
                        }
                    }
                    Output::Event(e) => on_event(&mut self.hub, e),
                }
            }
            // Released by another connection's progress or a timer: their
            // gates open and their buffered bytes are fed below.
            while let Some(conn) = self.hub.poll_resumed() {
                self.touched.insert(conn);
            }
            let waiting: Vec<ConnId> = self
                .touched
                .iter()
                .filter(|c| {
                    self.members.get(c).is_some_and(|m| !m.inbuf.is_empty())
                        && self.hub.wants_read(**c)
                })
                .copied()
                .collect();
            let mut progress = self.write_staged(now);
            for conn in waiting {
                progress |= self.feed(now, conn);
            }
            // Nothing written or consumed: what is left are partial frames.
            if !progress {
                break;
            }
        }
        for c in std::mem::take(&mut self.touched) {
            if let Some(m) = self.members.get(&c) {
                m.gate.set_shut(!self.hub.wants_read(c));
            }
        }
    }

    /// Writes each staged connection's bytes to its socket directly, as far
    /// as the socket takes them, and queues the rest for its writer.
    /// Returns whether anything was staged.
    fn write_staged(&mut self, now: Instant) -> bool {
        if self.staged.is_empty() {
            return false;
        }
        for conn in std::mem::take(&mut self.staged) {
            let Some(m) = self.members.get_mut(&conn) else { continue };
            let mut sent = 0;
            while let Some(chunk) = m.stage.front() {
                match m.writer.write_direct(chunk) {
                    0 => break,
                    n => {
                        m.stage.advance(n);
                        sent += n;
                    }
                }
            }
            m.unstage();
            if sent > 0 {
                self.hub.handle(now, Input::Sent { conn, n: sent });
            }
        }
        true
    }

    /// Shutdown: tells the hub every connection ended, so it says goodbye
    /// and closes them.
    pub fn end_all(&mut self, now: Instant) {
        let conns: Vec<ConnId> = self.members.keys().copied().collect();
        for conn in conns {
            self.hub.handle(now, Input::Eof { conn });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansnet_proto::chat::Room;

    /// A mailbox holds what the hub has not handled yet, in messages and in
    /// bytes: taking a letter out of it is not enough, handling (dropping)
    /// it makes room; a sender waits meanwhile, and learns when the hub is
    /// gone.
    #[test]
    fn mail_is_bounded_until_the_hub_handled_it() {
        let (mailbox, mail) = mailbox(3, 10);
        assert!(mailbox.send_blocking(Bytes::from_static(b"12345678")));
        let (tx, rx) = std::sync::mpsc::channel();
        let sender = mailbox.clone();
        let t = std::thread::spawn(move || {
            for m in [&b"abcd"[..], b"e", b"f", b"g"] {
                let sent = sender.send_blocking(Bytes::from_static(m));
                tx.send(sent).expect("test alive");
            }
        });
        // 8 + 4 bytes would pass 10: the second waits.
        let held = rx.recv_timeout(Duration::from_millis(200));
        assert!(held.is_err(), "sent past the byte bound");
        let first = mail.recv_blocking().expect("a letter");
        assert_eq!(&first[..], b"12345678");
        let taken = rx.recv_timeout(Duration::from_millis(200));
        assert!(taken.is_err(), "room made before the hub handled the letter");
        drop(first); // handled
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
        // Now "abcd", "e", "f" are held: three messages, the fourth waits.
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "sent past the count");
        // The hub goes away: the waiting sender gives up.
        drop(mail);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(false));
        t.join().expect("sender thread");
        // One message larger than the byte bound still goes, alone.
        let (big, mail) = super::mailbox(3, 10);
        assert!(big.send_blocking(Bytes::from(vec![0u8; 100])));
        assert_eq!(mail.recv_blocking().map(|l| l.len()), Some(100));
    }

    /// A partial frame left in a member's buffer must not make `flush` spin
    /// (it did: the hub wanted input but could consume none of it).
    #[test]
    fn a_partial_frame_does_not_spin_flush() {
        let mut host = HubHost::new(Room::default());
        let (writer, mut queue) = writer_channel(None);
        let conn = ConnId(1);
        let now = Instant::ZERO;
        host.handle(
            now,
            ToHub::Opened { conn, peer: "p".into(), listener: 0, writer, gate: Gate::new() },
        );
        let data = Bytes::from_static(b"{\"username\":\"a\"}{\"content\":\"par");
        host.handle(now, ToHub::Read { conn, data });
        host.flush(now, &mut |_, _| {});
        assert!(matches!(queue.rx.try_recv(), Ok(ToWriter::Data(_))), "joined was routed");
        queue.taken += 1;
        queue.written();
        host.handle(now, ToHub::Read { conn, data: Bytes::from_static(b"tial\"}") });
        host.flush(now, &mut |_, _| {});
    }

    /// A sender held by the room (it fills a reader over half its budget)
    /// is fed again when the reader catches up: another connection's
    /// `Sent` resumes it (`Hub::poll_resumed`), which the host must notice.
    #[test]
    fn a_held_sender_is_fed_again_when_its_reader_catches_up() {
        use sansnet_proto::chat::{ClientMessage, Limits};
        let mut host = HubHost::new(Room::new(Limits::default().with_outbound_budget(4096)));
        let now = Instant::ZERO;
        let (flood, reader) = (ConnId(1), ConnId(2));
        let (wf, _qf) = writer_channel(None);
        let (wr, qr) = writer_channel(None);
        let gate = Gate::new();
        let (g, peer) = (gate.clone(), "p".to_owned());
        host.handle(
            now,
            ToHub::Opened { conn: flood, peer: peer.clone(), listener: 0, writer: wf, gate: g },
        );
        host.handle(
            now,
            ToHub::Opened { conn: reader, peer, listener: 0, writer: wr, gate: Gate::new() },
        );
        let written = |host: &mut HubHost<Room>| {
            let mut n = 0;
            while let Ok(ToWriter::Data(b)) = qr.rx.try_recv() {
                n += b.len();
            }
            host.handle(now, ToHub::Sent { conn: reader, n });
            host.flush(now, &mut |_, _| {});
            n
        };
        for (conn, name) in [(flood, "flood"), (reader, "reader")] {
            let data = ClientMessage::Join { username: name.into() }.encode();
            host.handle(now, ToHub::Read { conn, data });
            host.flush(now, &mut |_, _| {});
        }
        written(&mut host);
        let say = ClientMessage::Say { content: "x".repeat(1000), to: None }.encode();
        let data: Vec<u8> = say.iter().copied().cycle().take(say.len() * 10).collect();
        host.handle(now, ToHub::Read { conn: flood, data: data.into() });
        host.flush(now, &mut |_, _| {});
        assert!(host.hub().is_held(flood) && gate.is_shut(), "the flood is held");
        let first = written(&mut host);
        assert!(first > 2000 && first < 4096, "{first}");
        // The reader caught up: the flood was fed again (and held again).
        let second = written(&mut host);
        assert!(second > 2000, "the held flood was not fed again: {second}");
    }

    /// A socket that takes `room` more bytes, then would block.
    struct Tight {
        room: std::sync::Mutex<usize>,
        got: std::sync::Mutex<Vec<u8>>,
    }

    impl TryWrite for Tight {
        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            let n = buf.len().min(*room);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *room -= n;
            self.got.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }

    /// What conn 2 receives when conn 1 and conn 2 join and conn 1 talks:
    /// the bytes written directly, then those its writer was handed.
    fn second_members_bytes(direct_room: Option<usize>) -> Vec<u8> {
        let mut host = HubHost::new(Room::default());
        let now = Instant::ZERO;
        let (w1, _q1) = writer_channel(None);
        let tight = Arc::new(Tight {
            room: std::sync::Mutex::new(direct_room.unwrap_or(0)),
            got: Default::default(),
        });
        let direct = direct_room.map(|_| tight.clone() as Arc<dyn TryWrite>);
        let (w2, q2) = writer_channel(direct);
        for (conn, writer) in [(ConnId(1), w1), (ConnId(2), w2)] {
            host.handle(
                now,
                ToHub::Opened { conn, peer: "p".into(), listener: 0, writer, gate: Gate::new() },
            );
        }
        let say = |host: &mut HubHost<Room>, conn, text: &'static [u8]| {
            host.handle(now, ToHub::Read { conn, data: Bytes::from_static(text) });
            host.flush(now, &mut |_, _| {});
        };
        say(&mut host, ConnId(1), b"{\"username\":\"a\"}");
        say(&mut host, ConnId(2), b"{\"username\":\"b\"}");
        say(&mut host, ConnId(1), b"{\"content\":\"one\"}{\"content\":\"two\"}");
        let mut all = tight.got.lock().unwrap().clone();
        while let Ok(ToWriter::Data(b)) = q2.rx.try_recv() {
            all.extend_from_slice(&b);
        }
        all
    }

    /// Direct writes, whole or cut short by a full socket, deliver the same
    /// bytes in the same order as the writer alone.
    #[test]
    fn direct_writes_keep_order_when_the_socket_fills() {
        let reference = second_members_bytes(None);
        assert!(reference.windows(3).any(|w| w == b"two"), "{reference:?}");
        for room in [0, 1, 10, 40, 1 << 20] {
            assert_eq!(second_members_bytes(Some(room)), reference, "room {room}");
        }
    }

    const T0: Instant = Instant::ZERO;

    fn data(b: &'static [u8]) -> ToWriter {
        ToWriter::Data(Bytes::from_static(b))
    }

    /// Writes what the writer asks for, `max` bytes a call; returns the
    /// bytes, the `Sent` counts and the step it ended on.
    fn perform(w: &mut HubWriter, max: usize) -> (Vec<u8>, Vec<usize>, &'static str) {
        let (mut wire, mut sent) = (Vec::new(), Vec::new());
        loop {
            let n = match w.step(T0) {
                WriterStep::Write(chunk, _) => {
                    let n = chunk.len().min(max);
                    wire.extend_from_slice(&chunk[..n]);
                    n
                }
                WriterStep::Recv(_) => return (wire, sent, "recv"),
                WriterStep::Linger => return (wire, sent, "linger"),
                WriterStep::Close(_) => return (wire, sent, "close"),
            };
            match w.written(T0, Ok(n)) {
                Some(ToHub::Sent { n, .. }) => sent.push(n),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_writer_batches_reports_sent_and_frees_the_direct_path() {
        let (writer, queue) = writer_channel(Some(Arc::new(Tight {
            room: Default::default(),
            got: Default::default(),
        })));
        let mut w = HubWriter::new(ConnId(3), queue);
        assert!(matches!(w.step(T0), WriterStep::Recv(_)));
        writer.send(data(b"ab"));
        writer.send(data(b"cd"));
        assert!(!writer.is_direct(), "queued: the host must not write itself");
        let first = w.queue.rx.try_recv().ok();
        w.queue.taken += 1;
        w.received(first);
        assert_eq!(perform(&mut w, 3), (b"abcd".to_vec(), vec![3, 1], "recv"));
        assert!(writer.is_direct(), "all written: the host may write directly again");
        // An interrupted write is tried again.
        w.received(Some(data(b"ef")));
        assert!(w.written(T0, Err(io::ErrorKind::Interrupted.into())).is_none());
        assert!(matches!(w.step(T0), WriterStep::Write(b"ef", _)));
    }

    #[test]
    fn the_writer_lingers_after_close_and_says_gone() {
        let (writer, mut queue) = writer_channel(None);
        writer.send(data(b"bye"));
        writer.send(ToWriter::Close);
        let first = queue.recv_blocking();
        let mut w = HubWriter::new(ConnId(4), queue);
        w.received(first);
        assert_eq!(perform(&mut w, 100), (b"bye".to_vec(), vec![3], "linger"));
        assert!(matches!(w.step(T0), WriterStep::Close(ToHub::Gone { conn: ConnId(4) })));
    }

    #[test]
    fn a_failed_write_or_a_dropped_writer_closes_at_once() {
        let (_writer, queue) = writer_channel(None);
        let mut w = HubWriter::new(ConnId(5), queue);
        w.received(Some(data(b"lost")));
        assert!(w.written(T0, Err(io::ErrorKind::BrokenPipe.into())).is_none());
        assert!(matches!(w.step(T0), WriterStep::Close(ToHub::Gone { .. })));
        let (_writer, queue) = writer_channel(None);
        let mut w = HubWriter::new(ConnId(6), queue);
        w.received(Some(data(b"x")));
        assert!(w.written(T0, Ok(0)).is_none(), "a zero write is a failure");
        assert!(matches!(w.step(T0), WriterStep::Close(_)));
        let (_writer, queue) = writer_channel(None);
        let mut w = HubWriter::new(ConnId(7), queue);
        w.received(None);
        assert!(matches!(w.step(T0), WriterStep::Close(_)));
    }

    #[test]
    fn a_trickled_member_write_stalls_at_its_deadline() {
        let ms = |n| T0 + Duration::from_millis(n);
        let (_writer, queue) = writer_channel(None);
        let mut w = HubWriter::new(ConnId(9), queue).with_write_timeout(Duration::from_secs(1));
        w.received(Some(data(b"0123456789")));
        assert!(matches!(w.step(ms(0)), WriterStep::Write(_, t) if t == ms(1000)));
        // A byte now and then: the deadline stays where it was.
        assert!(matches!(w.written(ms(400), Ok(1)), Some(ToHub::Sent { n: 1, .. })));
        assert!(matches!(w.step(ms(400)), WriterStep::Write(b"123456789", t) if t == ms(1000)));
        assert!(matches!(w.written(ms(800), Ok(1)), Some(ToHub::Sent { .. })));
        assert!(matches!(w.step(ms(1000)), WriterStep::Write(_, t) if t == ms(1000)));
        // At the deadline with part of the chunk written: closed.
        assert!(w.written(ms(1000), Ok(1)).is_none());
        assert!(matches!(w.step(ms(1000)), WriterStep::Close(ToHub::Gone { .. })));
        // A chunk written whole, even late, is no stall; the next one has
        // a deadline of its own.
        let (_writer, queue) = writer_channel(None);
        let mut w = HubWriter::new(ConnId(10), queue).with_write_timeout(Duration::from_secs(1));
        w.received(Some(data(b"ab")));
        assert!(matches!(w.step(ms(0)), WriterStep::Write(_, _)));
        assert!(w.written(ms(1500), Ok(2)).is_some());
        assert!(matches!(w.step(ms(1500)), WriterStep::Recv(_)));
        w.received(Some(data(b"c")));
        assert!(matches!(w.step(ms(2000)), WriterStep::Write(b"c", t) if t == ms(3000)));
    }

    #[test]
    fn reader_news_sends_reads_and_ends_on_eof_or_error() {
        let conn = ConnId(8);
        let read = reader_news(conn, Ok(Bytes::from_static(b"hi")));
        assert!(matches!(read, ReaderNews::Send(ToHub::Read { .. })));
        assert!(matches!(reader_news(conn, Ok(Bytes::new())), ReaderNews::Last(ToHub::Eof { .. })));
        let reset = Err(io::ErrorKind::ConnectionReset.into());
        assert!(matches!(reader_news(conn, reset), ReaderNews::Last(ToHub::Eof { .. })));
        let again = Err(io::ErrorKind::Interrupted.into());
        assert!(matches!(reader_news(conn, again), ReaderNews::Again));
    }

    #[test]
    fn a_stopping_host_waits_for_its_members_or_the_grace_period() {
        let ms = |n| Instant::ZERO + Duration::from_millis(n);
        let mut host = HubHost::new(Room::default());
        assert_eq!(host.step(ms(0), &mut |_, _| {}), HubStep::Wait { until: None });
        let (writer, _queue) = writer_channel(None);
        let conn = ConnId(1);
        host.handle(
            ms(0),
            ToHub::Opened { conn, peer: "p".into(), listener: 0, writer, gate: Gate::new() },
        );
        host.stop(ms(0), Duration::from_millis(100));
        host.stop(ms(50), Duration::from_secs(100)); // a second stop changes nothing
        assert!(host.is_stopping());
        assert_eq!(host.step(ms(10), &mut |_, _| {}), HubStep::Wait { until: Some(ms(30)) });
        assert_eq!(host.step(ms(100), &mut |_, _| {}), HubStep::Stop);
        // Every member gone: stop before the grace period ends.
        let mut host = HubHost::new(Room::default());
        let (writer, _queue) = writer_channel(None);
        host.handle(
            ms(0),
            ToHub::Opened { conn, peer: "p".into(), listener: 0, writer, gate: Gate::new() },
        );
        host.stop(ms(0), Duration::from_secs(5));
        host.handle(ms(1), ToHub::Gone { conn });
        assert_eq!(host.step(ms(1), &mut |_, _| {}), HubStep::Stop);
    }

    /// A hub whose only timer is an hour away.
    struct Late;

    impl Hub for Late {
        type Event = ();
        fn handle(&mut self, _: Instant, _: Input<'_>) {}
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_output(&mut self) -> Option<Output<()>> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            Some(Instant::ZERO + Duration::from_secs(3600))
        }
        fn wants_read(&self, _: ConnId) -> bool {
            true
        }
    }

    #[test]
    fn a_hub_deadline_does_not_outlast_the_grace_period() {
        let ms = |n| Instant::ZERO + Duration::from_millis(n);
        let mut host = HubHost::new(Late);
        assert_eq!(
            host.step(ms(0), &mut |_, _| {}),
            HubStep::Wait { until: Some(Instant::ZERO + Duration::from_secs(3600)) }
        );
        let (writer, _queue) = writer_channel(None);
        let conn = ConnId(1);
        host.handle(
            ms(0),
            ToHub::Opened { conn, peer: "p".into(), listener: 0, writer, gate: Gate::new() },
        );
        host.stop(ms(0), Duration::from_millis(100));
        assert_eq!(host.step(ms(10), &mut |_, _| {}), HubStep::Wait { until: Some(ms(100)) });
        assert_eq!(host.step(ms(100), &mut |_, _| {}), HubStep::Stop);
    }
}
