//! The protocol-free half of every driver: feeding a session, draining its
//! outputs into an [`Outbox`], and the outbox itself. The std and async
//! drivers differ only in how they wait and do I/O; this is written once.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use sansnet_proto::{App, Instant, Session, Splice, Transmit};

/// Transmits up to this size are copied into one buffer so that a response
/// head and a small body go out in one write; larger ones are written as
/// they are (no copy).
const COALESCE: usize = 4096;

/// Bytes (and [`Splice`]s) waiting to be written, in order: `lone`, then
/// `big`, then `small`.
#[derive(Debug, Default)]
pub struct Outbox {
    /// A chunk pushed into an empty outbox, kept as it is (no copy, and no
    /// queue allocated for it): the usual case, one response or one echo
    /// at a time. It goes into `small` or `big` when more follows.
    lone: Option<Bytes>,
    big: VecDeque<Transmit>,
    small: BytesMut,
    len: usize,
    /// Splices queued (in `big`).
    splices: usize,
}

/// The front of an [`Outbox`]: bytes, or a splice.
#[derive(Debug, PartialEq, Eq)]
pub enum Front<'a> {
    /// Write (a prefix of) these bytes.
    Bytes(&'a [u8]),
    /// Send (a prefix of) this splice.
    Splice(&'a Splice),
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Queues `b` after everything queued before.
    pub fn push(&mut self, b: Bytes) {
        if b.is_empty() {
            return; // nothing to write (and a zero-length write is an error)
        }
        let empty = self.is_empty();
        self.len += b.len();
        if empty {
            // Nothing to gather with: keep it as it is. The gathering that
            // pays is the session's own, e.g. the responses to one read's
            // pipelined requests, polled as one transmit.
            self.lone = Some(b);
        } else if b.len() <= COALESCE {
            match self.lone.take() {
                // A second small piece: gather the lone one too.
                Some(lone) if lone.len() <= COALESCE => self.small.extend_from_slice(&lone),
                Some(lone) => self.big.push_back(Transmit::Bytes(lone)),
                None => {}
            }
            self.small.extend_from_slice(&b);
        } else {
            self.push_big(Transmit::Bytes(b));
        }
    }

    /// Queues a session's transmit, bytes or splice, after everything
    /// queued before.
    pub fn push_transmit(&mut self, t: Transmit) {
        match t {
            Transmit::Bytes(b) => self.push(b),
            Transmit::Splice(sp) if sp.len == 0 => {}
            Transmit::Splice(sp) => {
                self.splices += 1;
                self.push_big(Transmit::Splice(sp));
            }
        }
    }

    fn push_big(&mut self, t: Transmit) {
        if let Some(lone) = self.lone.take() {
            self.big.push_back(Transmit::Bytes(lone));
        }
        if !self.small.is_empty() {
            self.big.push_back(Transmit::Bytes(self.small.split().freeze()));
        }
        self.big.push_back(t);
    }

    /// The next bytes to write; `None` when empty or when a splice is next
    /// (see [`front_any`](Self::front_any)).
    pub fn front(&self) -> Option<&[u8]> {
        match self.front_any()? {
            Front::Bytes(b) => Some(b),
            Front::Splice(_) => None,
        }
    }

    /// What to write next: bytes or a splice.
    pub fn front_any(&self) -> Option<Front<'_>> {
        if let Some(lone) = &self.lone {
            return Some(Front::Bytes(lone));
        }
        match self.big.front() {
            Some(Transmit::Bytes(b)) => Some(Front::Bytes(b)),
            Some(Transmit::Splice(sp)) => Some(Front::Splice(sp)),
            None if !self.small.is_empty() => Some(Front::Bytes(&self.small)),
            None => None,
        }
    }

    /// `n` bytes of [`front_any`](Self::front_any) were written (of a
    /// splice: its first `n` bytes were sent).
    pub fn advance(&mut self, n: usize) {
        if let Some(lone) = &mut self.lone {
            self.len -= n;
            lone.advance(n);
            if lone.is_empty() {
                self.lone = None;
            }
            return;
        }
        match self.big.front_mut() {
            Some(Transmit::Splice(sp)) => {
                let n = n as u64;
                sp.offset += n;
                sp.len = sp.len.saturating_sub(n);
                if sp.len == 0 {
                    self.big.pop_front();
                    self.splices -= 1;
                }
            }
            Some(Transmit::Bytes(b)) => {
                self.len -= n;
                b.advance(n);
                if b.is_empty() {
                    self.big.pop_front();
                }
            }
            None => {
                self.len -= n;
                self.small.advance(n);
                if self.small.is_empty() && self.small.capacity() > 64 * 1024 {
                    // Do not keep a burst's buffer around on an idle connection.
                    self.small = BytesMut::new();
                }
            }
        }
    }

    /// Takes the next queued bytes whole (`None` when a splice is next).
    pub fn take_front(&mut self) -> Option<Bytes> {
        let b = if let Some(lone) = self.lone.take() {
            lone
        } else {
            match self.big.front() {
                Some(Transmit::Splice(_)) => return None,
                Some(Transmit::Bytes(_)) => match self.big.pop_front() {
                    Some(Transmit::Bytes(b)) => b,
                    _ => return None,
                },
                None if !self.small.is_empty() => self.small.split().freeze(),
                None => return None,
            }
        };
        self.len -= b.len();
        Some(b)
    }

    /// Bytes queued (splices not counted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued, bytes or splices.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.splices == 0
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        *self = Outbox::new();
    }
}

/// Runs steps 1–3 of the core's drain contract until nothing moves: feeds
/// `inbuf` while the session wants input, hands events to `app`, moves
/// transmits into `out`. Returns whether anything happened.
///
/// Transmits are polled once input and events stop moving, not after every
/// `handle_read`: a read that brought 16 pipelined requests is answered by
/// whatever the session gathered for all 16 (one transmit for the HTTP
/// server), not by 16 polls. Output never waits on more than the input
/// already buffered; a session that holds input back until its output is
/// written (`wants_read` false, or consuming nothing) gets it drained on
/// the next turn.
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
        if moved {
            any = true;
            continue;
        }
        while let Some(t) = session.poll_transmit_or_splice() {
            moved = true;
            out.push_transmit(t);
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
    use sansnet_proto::http::{Event, Limits, ServerConn};

    /// A session that counts the transmits polled from it.
    struct Counted(ServerConn, usize);

    impl Session for Counted {
        type Event = Event;
        fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
            self.0.handle_read(now, buf)
        }
        fn handle_eof(&mut self, now: Instant) {
            self.0.handle_eof(now)
        }
        fn handle_timeout(&mut self, now: Instant) {
            self.0.handle_timeout(now)
        }
        fn poll_transmit(&mut self) -> Option<Bytes> {
            let t = self.0.poll_transmit();
            self.1 += usize::from(t.is_some());
            t
        }
        fn poll_event(&mut self) -> Option<Event> {
            self.0.poll_event()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.0.poll_timeout()
        }
        fn wants_read(&self) -> bool {
            self.0.wants_read()
        }
        fn is_finished(&self) -> bool {
            self.0.is_finished()
        }
    }

    #[test]
    fn the_requests_of_one_read_are_answered_by_one_transmit_not_copied() {
        let mut conn = Counted(ServerConn::new(Limits::default(), Instant::ZERO), 0);
        let mut app = |conn: &mut Counted, ev: Event| {
            if let Event::End = ev {
                conn.0.respond(200, &[], Bytes::from_static(b"hello\n")).unwrap();
            }
        };
        let mut inbuf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(16)[..]);
        let mut out = Outbox::new();
        assert!(pump(&mut conn, &mut app, &mut inbuf, Instant::ZERO, &mut out));
        assert!(inbuf.is_empty());
        assert_eq!(conn.1, 1, "one transmit for the 16 answers");
        let wire = out.take_front().unwrap();
        assert_eq!(wire.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count(), 16);
        assert!(out.is_empty(), "all of it in that one chunk, as the session gave it");
    }

    #[test]
    fn a_lone_chunk_is_written_from_where_it_is_and_a_second_gathers_it() {
        let mut o = Outbox::new();
        let lone = Bytes::from(b"all answers".to_vec());
        o.push(lone.clone());
        assert_eq!(o.front().map(<[u8]>::as_ptr), Some(lone.as_ptr()), "not copied");
        o.push(Bytes::from_static(b"; more"));
        assert_eq!(o.front(), Some(&b"all answers; more"[..]), "one write for both");
        let mut o = Outbox::new();
        o.push(Bytes::new());
        assert!(o.is_empty() && o.front().is_none(), "an empty chunk is not a write");
    }

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
