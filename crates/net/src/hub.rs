//! The protocol-free half of hosting a [`Hub`] (the chat room): one owner
//! feeds it messages from per-connection readers and writers and routes
//! its outputs back to them. The std and async transports run the same
//! [`HubHost`]; they differ only in how their reader and writer loops wait.
//!
//! Per connection there is a reader (socket -> [`ToHub::Read`]), a writer
//! ([`ToWriter`] -> socket, reporting [`ToHub::Sent`]), and a [`Gate`] the
//! host closes while the hub does not want that connection's input, so a
//! reader never runs ahead of the hub. Writers take their queue from an
//! unbounded channel: the hub itself bounds what it queues per connection
//! (the chat room's outbound budget counts `Sent`), so one slow reader is
//! evicted by the protocol, never by blocking the host.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use event_listener::{Event, Listener as _};
use sansnet_proto::{ConnId, Hub, Input, Instant, Output};

use crate::Outbox;

/// A message from a connection's reader or writer to the host.
#[derive(Debug)]
pub enum ToHub {
    /// A connection was accepted.
    Opened {
        /// Its id.
        conn: ConnId,
        /// Its peer address, printable.
        peer: String,
        /// Where its writer takes bytes from.
        writer: async_channel::Sender<ToWriter>,
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
}

/// What a connection's writer is told.
#[derive(Debug, PartialEq, Eq)]
pub enum ToWriter {
    /// Write these bytes.
    Data(Bytes),
    /// Write what came before, then close.
    Close,
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
    writer: async_channel::Sender<ToWriter>,
    gate: Gate,
    inbuf: BytesMut,
}

/// Owns a [`Hub`] and its connections' channels; see the [module docs](self).
pub struct HubHost<H: Hub> {
    hub: H,
    members: BTreeMap<ConnId, Member>,
    /// Connections whose input or output moved since the last flush: only
    /// their gates and buffers can need attention, so a broadcast to n
    /// members costs O(n), not O(n) per input.
    touched: BTreeSet<ConnId>,
}

impl<H: Hub> HubHost<H> {
    /// Hosts `hub`.
    pub fn new(hub: H) -> HubHost<H> {
        HubHost { hub, members: BTreeMap::new(), touched: BTreeSet::new() }
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
        }
        match msg {
            ToHub::Opened { conn, peer, writer, gate } => {
                self.members.insert(conn, Member { writer, gate, inbuf: BytesMut::new() });
                self.hub.handle(now, Input::Opened { conn, peer });
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
                        if let Some(m) = self.members.get(&conn) {
                            let _ = m.writer.try_send(ToWriter::Data(data));
                            self.touched.insert(conn);
                        }
                    }
                    Output::Close { conn } => {
                        if let Some(m) = self.members.get(&conn) {
                            let _ = m.writer.try_send(ToWriter::Close);
                            self.touched.insert(conn);
                        }
                    }
                    Output::Event(e) => on_event(&mut self.hub, e),
                }
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
            let mut progress = false;
            for conn in waiting {
                progress |= self.feed(now, conn);
            }
            // Nothing consumed: what is left are partial frames.
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

    /// Shutdown: tells the hub every connection ended, so it says goodbye
    /// and closes them.
    pub fn end_all(&mut self, now: Instant) {
        let conns: Vec<ConnId> = self.members.keys().copied().collect();
        for conn in conns {
            self.hub.handle(now, Input::Eof { conn });
        }
    }
}

/// A writer's batching step: moves `first` and whatever else is already
/// queued (until `out` holds `max` bytes) into `out`, so that one write
/// carries many small events. Returns true if a [`ToWriter::Close`] came:
/// the writer then writes `out` and closes.
pub fn gather(
    first: ToWriter,
    queue: &async_channel::Receiver<ToWriter>,
    out: &mut Outbox,
    max: usize,
) -> bool {
    let mut next = Some(first);
    while let Some(msg) = next.take() {
        match msg {
            ToWriter::Data(b) => out.push(b),
            ToWriter::Close => return true,
        }
        if out.len() < max {
            next = queue.try_recv().ok();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansnet_proto::chat::Room;

    /// A partial frame left in a member's buffer must not make `flush` spin
    /// (it did: the hub wanted input but could consume none of it).
    #[test]
    fn a_partial_frame_does_not_spin_flush() {
        let mut host = HubHost::new(Room::default());
        let (writer, queue) = async_channel::unbounded();
        let conn = ConnId(1);
        let now = Instant::ZERO;
        host.handle(now, ToHub::Opened { conn, peer: "p".into(), writer, gate: Gate::new() });
        let data = Bytes::from_static(b"{\"username\":\"a\"}{\"content\":\"par");
        host.handle(now, ToHub::Read { conn, data });
        host.flush(now, &mut |_, _| {});
        assert!(matches!(queue.try_recv(), Ok(ToWriter::Data(_))), "joined was routed");
        host.handle(now, ToHub::Read { conn, data: Bytes::from_static(b"tial\"}") });
        host.flush(now, &mut |_, _| {});
    }
}
