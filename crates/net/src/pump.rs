//! The protocol-free half of every driver: feeding a session, draining its
//! outputs into an [`Outbox`], and the outbox itself. The std and async
//! drivers differ only in how they wait and do I/O; this is written once.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use sansnet_proto::{App, Instant, Session};

/// Transmits up to this size are copied into one buffer so that a response
/// head and a small body go out in one write; larger ones are written as
/// they are (no copy).
const COALESCE: usize = 4096;

/// Bytes waiting to be written, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    big: VecDeque<Bytes>,
    small: BytesMut,
    len: usize,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Queues `b` after everything queued before.
    pub fn push(&mut self, b: Bytes) {
        self.len += b.len();
        if b.len() <= COALESCE {
            self.small.extend_from_slice(&b);
        } else {
            if !self.small.is_empty() {
                self.big.push_back(self.small.split().freeze());
            }
            self.big.push_back(b);
        }
    }

    /// The next bytes to write.
    pub fn front(&self) -> Option<&[u8]> {
        match self.big.front() {
            Some(b) => Some(b),
            None if !self.small.is_empty() => Some(&self.small),
            None => None,
        }
    }

    /// `n` bytes of [`front`](Self::front) were written.
    pub fn advance(&mut self, n: usize) {
        self.len -= n;
        match self.big.front_mut() {
            Some(b) => {
                b.advance(n);
                if b.is_empty() {
                    self.big.pop_front();
                }
            }
            None => {
                self.small.advance(n);
                if self.small.is_empty() && self.small.capacity() > 64 * 1024 {
                    // Do not keep a burst's buffer around on an idle connection.
                    self.small = BytesMut::new();
                }
            }
        }
    }

    /// Takes the next queued piece whole.
    pub fn take_front(&mut self) -> Option<Bytes> {
        let b = match self.big.pop_front() {
            Some(b) => b,
            None if !self.small.is_empty() => self.small.split().freeze(),
            None => return None,
        };
        self.len -= b.len();
        Some(b)
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Runs steps 1–3 of the core's drain contract until nothing moves: feeds
/// `inbuf` while the session wants input, hands events to `app`, moves
/// transmits into `out`. Returns whether anything happened.
pub fn pump<S: Session, A: App<S>>(
    session: &mut S,
    app: &mut A,
    inbuf: &mut BytesMut,
    now: Instant,
    out: &mut Outbox,
) -> bool {
    let mut any = false;
    loop {
        let mut moved = false;
        if session.wants_read() && !inbuf.is_empty() {
            let before = inbuf.len();
            session.handle_read(now, inbuf);
            moved |= inbuf.len() != before;
        }
        while let Some(ev) = session.poll_event() {
            moved = true;
            app.on_event(session, ev);
        }
        while let Some(b) = session.poll_transmit() {
            moved = true;
            out.push(b);
        }
        if !moved {
            return any;
        }
        any = true;
    }
}

/// Fires the session's timers if a deadline has passed; true if one had.
pub fn fire_timers<S: Session>(session: &mut S, now: Instant) -> bool {
    match session.poll_timeout() {
        Some(at) if at <= now => {
            session.handle_timeout(now);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_keeps_order_across_small_and_big() {
        let mut o = Outbox::new();
        o.push(Bytes::from_static(b"head"));
        o.push(Bytes::from(vec![b'x'; 5000]));
        o.push(Bytes::from_static(b"tail"));
        let mut all = Vec::new();
        while let Some(f) = o.front() {
            let n = f.len().min(3000);
            all.extend_from_slice(&f[..n]);
            o.advance(n);
        }
        assert_eq!(all.len(), 5008);
        assert!(all.starts_with(b"headx"));
        assert!(all.ends_with(b"xtail"));
        assert!(o.is_empty());
    }
}
