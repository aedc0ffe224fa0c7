//! What a [`ServerConn`](super::ServerConn) has queued for the driver: the
//! response heads it writes and the body pieces the application hands
//! over, in order.
//!
//! Heads are written straight into one buffer, and small body pieces are
//! copied after them, so that a response to a small request (the hello
//! page, a 1 KiB file) leaves as one transmit and costs no allocation: the
//! buffer's chunks go to the driver as they are polled, and once the
//! driver has dropped them the buffer takes its memory back (`reserve`
//! reclaims an allocation no one else holds). Large pieces and splices are
//! queued as they are, behind whatever was gathered before them.

use alloc::collections::VecDeque;
use bytes::{Bytes, BytesMut};

use crate::Transmit;

/// Body pieces up to this size are copied into the gathering buffer;
/// larger ones are queued as they are (no copy).
const GATHER: usize = 4096;

/// What the gathering buffer asks for when it runs out of room: enough for
/// a few small responses, little enough for an idle connection to keep.
pub(crate) const ROOM: usize = 512;

/// The connection's outgoing queue.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    /// Transmits ready in order, all before `tail`.
    queue: VecDeque<Transmit>,
    /// Bytes gathered after `queue`'s last transmit.
    tail: BytesMut,
    /// Bytes in `queue` and `tail` (splices not counted).
    queued: usize,
}

impl Outgoing {
    /// Lets `write` append at most `max` bytes at the end of the queue
    /// (more would work, but cost a second allocation).
    pub(crate) fn write(&mut self, max: usize, write: impl FnOnce(&mut BytesMut)) {
        if self.tail.capacity() - self.tail.len() < max {
            self.tail.reserve(max.max(ROOM));
        }
        let before = self.tail.len();
        write(&mut self.tail);
        self.queued += self.tail.len() - before;
    }

    /// Queues `t` after everything queued before.
    pub(crate) fn push(&mut self, t: Transmit) {
        match t {
            Transmit::Bytes(b) if b.len() <= GATHER => {
                self.write(b.len(), |buf| buf.extend_from_slice(&b));
            }
            t => {
                if let Transmit::Bytes(b) = &t {
                    self.queued += b.len();
                }
                self.seal();
                self.queue.push_back(t);
            }
        }
    }

    /// Queues `b` after everything queued before.
    pub(crate) fn push_bytes(&mut self, b: Bytes) {
        self.push(Transmit::Bytes(b));
    }

    /// Moves what was gathered into the queue as one transmit.
    fn seal(&mut self) {
        if !self.tail.is_empty() {
            self.queue.push_back(Transmit::Bytes(self.tail.split().freeze()));
        }
    }

    /// The next transmit, in order.
    pub(crate) fn pop(&mut self) -> Option<Transmit> {
        let t = match self.queue.pop_front() {
            Some(t) => t,
            None if !self.tail.is_empty() => Transmit::Bytes(self.tail.split().freeze()),
            None => return None,
        };
        if let Transmit::Bytes(b) = &t {
            self.queued -= b.len();
        }
        Some(t)
    }

    /// The next bytes, in order; `None` when nothing is queued or a splice
    /// is next.
    pub(crate) fn pop_bytes(&mut self) -> Option<Bytes> {
        if matches!(self.queue.front(), Some(Transmit::Splice(_))) {
            return None;
        }
        match self.pop()? {
            Transmit::Bytes(b) => Some(b),
            Transmit::Splice(_) => None, // not next: checked above
        }
    }

    /// Bytes queued (splices not counted).
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.tail.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Source, Splice};
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    fn drain(out: &mut Outgoing) -> Vec<Transmit> {
        core::iter::from_fn(|| out.pop()).collect()
    }

    #[test]
    fn small_pieces_leave_as_one_transmit_and_big_ones_as_they_are() {
        let mut out = Outgoing::default();
        out.write(5, |buf| buf.extend_from_slice(b"head;"));
        out.push_bytes(Bytes::from_static(b"body;"));
        let big = Bytes::from(alloc::vec![b'x'; GATHER + 1]);
        out.push_bytes(big.clone());
        out.push_bytes(Bytes::from_static(b"end"));
        assert_eq!(out.queued(), 13 + big.len());
        let sent = drain(&mut out);
        assert_eq!(
            sent,
            [
                Transmit::Bytes(Bytes::from_static(b"head;body;")),
                Transmit::Bytes(big.clone()),
                Transmit::Bytes(Bytes::from_static(b"end")),
            ]
        );
        // The big piece went out as the very bytes handed in: no copy.
        let Transmit::Bytes(b) = &sent[1] else { unreachable!() };
        assert_eq!(b.as_ptr(), big.as_ptr());
        assert_eq!(out.queued(), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn a_splice_keeps_its_place_between_gathered_bytes() {
        let mut out = Outgoing::default();
        out.push_bytes(Bytes::from_static(b"head"));
        let source = Source::new(Arc::new(()));
        out.push(Transmit::Splice(Splice { source, offset: 0, len: 9 }));
        out.push_bytes(Bytes::from_static(b"tail"));
        assert_eq!(out.queued(), 8, "a splice holds no bytes");
        assert_eq!(out.pop_bytes(), Some(Bytes::from_static(b"head")));
        assert_eq!(out.pop_bytes(), None, "a splice is next");
        assert!(matches!(out.pop(), Some(Transmit::Splice(s)) if s.len == 9));
        assert_eq!(out.pop(), Some(Transmit::Bytes(Bytes::from_static(b"tail"))));
        assert_eq!(out.pop(), None);
    }

    #[test]
    fn the_buffer_is_taken_back_once_the_driver_dropped_its_chunks() {
        let mut out = Outgoing::default();
        out.push_bytes(Bytes::from_static(b"first response"));
        let first = out.pop().expect("queued");
        let Transmit::Bytes(first) = first else { unreachable!() };
        let at = first.as_ptr();
        drop(first);
        // Fill past what is left after the first chunk: the allocation is
        // unique again, so it is reused from its start.
        let n = ROOM;
        out.push_bytes(Bytes::from(alloc::vec![b'y'; n]));
        let Some(Transmit::Bytes(second)) = out.pop() else { panic!("queued") };
        assert_eq!(second.len(), n);
        assert_eq!(second.as_ptr(), at, "the first allocation was reused");
    }
}
