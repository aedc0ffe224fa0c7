//! The receiving side: one incoming transfer per connection.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bytes::{Buf, Bytes, BytesMut};

use super::codec::{
    Ack, ErrorCode, Hash, Header, Line, Refusal, TRAILER_CAP, decode_trailer, encode_done,
    line_from,
};
use super::{Limits, Misuse};
use crate::time::{TimerKind, Timers};
use crate::{Instant, Session};

/// What a [`Receiver`] asks of the application, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A valid header arrived. Decide, and answer with
    /// [`Receiver::accept`] (the offset to resume from: how many bytes of
    /// an earlier transfer of the same name and size are kept, 0 if none)
    /// or [`Receiver::refuse`] (`exists`, `no_space`, ...).
    Offer {
        /// The file name, already checked: a plain name.
        name: String,
        /// Its size in bytes.
        size: u64,
    },
    /// Resuming: read `len` bytes at `offset` of the partial file and hand
    /// them to [`Receiver::supply`], in the order asked (they are hashed,
    /// since the trailer covers the whole file).
    Read {
        /// Where in the file.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
    /// Write `data` (its pieces back to back) at `offset` of the partial
    /// file, then report it with [`Receiver::written`]. Writes may run in
    /// parallel; each covers its own range.
    Write {
        /// Where in the file.
        offset: u64,
        /// The bytes, as they came off the socket (no copy).
        data: Vec<Bytes>,
    },
    /// Every byte arrived and was reported written, and the trailer's hash
    /// matches: move the partial file to its name, then call
    /// [`Receiver::committed`] (or [`Receiver::refuse`] if that fails).
    Commit {
        /// The file's BLAKE3.
        hash: Hash,
    },
    /// The transfer failed because of the peer; the `ERR` line is queued.
    /// With `discard`, the partial data is worthless (a hash mismatch):
    /// delete it. Otherwise keep it: a later transfer of the same name and
    /// size resumes from it.
    Failed {
        /// What the sender is told.
        refusal: Refusal,
        /// Whether to delete the partial file.
        discard: bool,
    },
}

/// The receiver's one timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The sender has been silent for [`Limits::idle_timeout`] while the
    /// header, data or trailer is awaited.
    Idle,
}

impl TimerKind for Timer {
    const COUNT: usize = 1;
    const ALL: &'static [Timer] = &[Timer::Idle];
    fn index(self) -> usize {
        0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading `NAME|SIZE\n`; `scanned` bytes of it searched for its end.
    Header { scanned: usize },
    /// [`Event::Offer`] is out; waiting for accept or refuse.
    Deciding,
    /// Hashing the kept prefix of a resumed transfer: the next prefix byte
    /// to ask for, and the bytes asked for and not yet supplied.
    Prefix { next_read: u64, in_flight: u64 },
    /// Receiving the file's bytes.
    Data,
    /// Reading `BLAKE3 <hex>\n`; `scanned` bytes of it searched.
    Trailer { scanned: usize },
    /// Verified (`hash` is the file's); waiting for the writes, then
    /// (once `asked` with [`Event::Commit`]) for the commit.
    Committing { hash: Hash, asked: bool },
    /// Over.
    Closed,
}

/// One incoming transfer: the receiver side of PROTOCOLS.md §3, as a
/// [`Session`]. See the [module docs](super) for the exchange.
///
/// The machine reads the header (at most [`Limits::header_cap`] bytes),
/// checks the name and size, and asks the application ([`Event::Offer`]);
/// answers `OK OFFSET`; re-hashes a kept prefix when resuming
/// ([`Event::Read`]); hashes the data as it arrives and hands it out in
/// batches to be written ([`Event::Write`]), reading no further while
/// [`Limits::max_buffered`] bytes wait to be written; checks the trailer;
/// and once every write is reported asks for the commit
/// ([`Event::Commit`]) before it answers `DONE`. Peer errors are answered
/// with their `ERR` line and [`Event::Failed`]; no input makes it panic.
#[derive(Debug)]
pub struct Receiver {
    limits: Limits,
    state: State,
    size: u64,
    offset: u64,
    /// Bytes hashed so far: the position of the next byte in the file.
    pos: u64,
    hasher: blake3::Hasher,
    pending: Vec<Bytes>,
    pending_len: usize,
    pending_at: u64,
    unwritten: usize,
    events: VecDeque<Event>,
    out: VecDeque<Bytes>,
    timers: Timers<Timer, 1>,
}

impl Receiver {
    /// A connection opened at `now`, waiting for a header.
    pub fn new(limits: Limits, now: Instant) -> Receiver {
        let mut timers = Timers::new();
        timers.set(Timer::Idle, now + limits.idle_timeout);
        Receiver {
            limits,
            state: State::Header { scanned: 0 },
            size: 0,
            offset: 0,
            pos: 0,
            hasher: blake3::Hasher::new(),
            pending: Vec::new(),
            pending_len: 0,
            pending_at: 0,
            unwritten: 0,
            events: VecDeque::new(),
            out: VecDeque::new(),
            timers,
        }
    }

    /// The announced size, once a header was accepted.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The offset this transfer resumed from.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes of the file received (or kept) and hashed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Answers an [`Event::Offer`]: `OK OFFSET`. `offset` is how many
    /// bytes of the file a partial file already holds (0 for a new
    /// transfer); they are asked for with [`Event::Read`] to be hashed.
    pub fn accept(&mut self, now: Instant, offset: u64) -> Result<(), Misuse> {
        if self.state != State::Deciding {
            return Err(Misuse::State("accept answers an Offer"));
        }
        if offset > self.size {
            return Err(Misuse::Range("the offset is past the announced size"));
        }
        self.offset = offset;
        self.out.push_back(Ack::encode_offset(offset));
        if offset > 0 {
            self.state = State::Prefix { next_read: 0, in_flight: 0 };
            self.request_reads();
        } else {
            self.enter_data(now);
        }
        Ok(())
    }

    /// Refuses the transfer or gives it up, at any point before it is over
    /// (an [`Event::Offer`] answered `exists`, a write that failed with
    /// `no_space`, ...): queues the `ERR` line and finishes. Writes still
    /// in flight are no longer waited for.
    pub fn refuse(&mut self, refusal: &Refusal) -> Result<(), Misuse> {
        if self.state == State::Closed {
            return Err(Misuse::State("the transfer is already over"));
        }
        self.out.push_back(refusal.encode());
        self.close();
        self.unwritten = 0;
        Ok(())
    }

    /// Hands over bytes of the partial file asked for with
    /// [`Event::Read`], in order. Bytes short of what was asked (the
    /// partial file shrank) are a misuse: refuse with `io` instead.
    pub fn supply(&mut self, now: Instant, data: &[u8]) -> Result<(), Misuse> {
        let State::Prefix { next_read, in_flight } = self.state else {
            return Err(Misuse::State("supply answers a Read"));
        };
        let len = data.len() as u64;
        if data.is_empty() || len > in_flight {
            return Err(Misuse::Range("more bytes than asked for, or none"));
        }
        self.hasher.update(data);
        self.pos += len;
        self.state = State::Prefix { next_read, in_flight: in_flight - len };
        if self.pos == self.offset {
            self.enter_data(now);
        } else {
            self.request_reads();
        }
        Ok(())
    }

    /// `n` bytes of [`Event::Write`] data are on disk. (The idle timer
    /// restarts: time spent waiting for the disk is not the sender's.)
    pub fn written(&mut self, now: Instant, n: usize) {
        self.unwritten = self.unwritten.saturating_sub(n);
        if self.state == State::Data {
            self.timers.set(Timer::Idle, now + self.limits.idle_timeout);
        }
        self.maybe_commit();
    }

    /// The commit asked for by [`Event::Commit`] is done: queues `DONE`
    /// and finishes.
    pub fn committed(&mut self) -> Result<(), Misuse> {
        match self.state {
            State::Committing { hash, asked: true } => {
                self.out.push_back(encode_done(&hash));
                self.close();
                Ok(())
            }
            _ => Err(Misuse::State("committed answers a Commit")),
        }
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.timers.clear_all();
        self.pending.clear();
        self.pending_len = 0;
    }

    fn request_reads(&mut self) {
        let State::Prefix { mut next_read, mut in_flight } = self.state else { return };
        let chunk = self.limits.chunk as u64;
        while next_read < self.offset && in_flight < self.limits.max_buffered as u64 {
            let len = chunk.min(self.offset - next_read);
            // `len` is at most `chunk`, a usize.
            self.events.push_back(Event::Read { offset: next_read, len: len as usize });
            next_read += len;
            in_flight += len;
        }
        self.state = State::Prefix { next_read, in_flight };
    }

    fn enter_data(&mut self, now: Instant) {
        self.pending_at = self.pos;
        self.state =
            if self.pos == self.size { State::Trailer { scanned: 0 } } else { State::Data };
        self.timers.set(Timer::Idle, now + self.limits.idle_timeout);
    }

    fn flush(&mut self) {
        if self.pending_len > 0 {
            let data = core::mem::take(&mut self.pending);
            self.events.push_back(Event::Write { offset: self.pending_at, data });
            self.unwritten += self.pending_len;
            self.pending_at += self.pending_len as u64;
            self.pending_len = 0;
        }
    }

    fn room(&self) -> usize {
        self.limits.max_buffered.saturating_sub(self.unwritten + self.pending_len)
    }

    /// The peer did wrong: answer, and tell the application.
    fn fail(&mut self, refusal: Refusal, discard: bool) {
        if !discard {
            self.flush(); // keep what arrived, for a resume
        }
        self.out.push_back(refusal.encode());
        self.events.push_back(Event::Failed { refusal, discard });
        self.close();
    }

    fn maybe_commit(&mut self) {
        if let State::Committing { hash, asked: false } = self.state
            && self.unwritten == 0
        {
            self.state = State::Committing { hash, asked: true };
            self.events.push_back(Event::Commit { hash });
        }
    }

    fn read_header(&mut self, buf: &mut BytesMut, scanned: usize) {
        match line_from(buf, scanned, self.limits.header_cap) {
            Line::More => self.state = State::Header { scanned: buf.len() },
            Line::TooLong => {
                let cap = self.limits.header_cap;
                self.fail(
                    Refusal::new(ErrorCode::BadHeader, format!("no newline within {cap} bytes")),
                    false,
                );
            }
            Line::Found { text, used } => {
                let header = Header::decode(text, self.limits.max_size);
                buf.advance(used);
                match header {
                    Ok(Header { name, size }) => {
                        self.size = size;
                        self.state = State::Deciding;
                        self.timers.clear(Timer::Idle);
                        self.events.push_back(Event::Offer { name, size });
                    }
                    Err(refusal) => self.fail(refusal, false),
                }
            }
        }
    }

    fn read_data(&mut self, buf: &mut BytesMut) {
        let left = self.size - self.pos;
        let take = (buf.len() as u64).min(left).min(self.room() as u64) as usize;
        if take == 0 {
            return;
        }
        let data = buf.split_to(take).freeze();
        self.hasher.update(&data);
        self.pos += take as u64;
        self.pending_len += take;
        self.pending.push(data);
        if self.pending_len >= self.limits.write_batch || self.room() == 0 || self.pos == self.size
        {
            self.flush();
        }
        if self.pos == self.size {
            self.state = State::Trailer { scanned: 0 };
        }
    }

    fn read_trailer(&mut self, buf: &mut BytesMut, scanned: usize) {
        match line_from(buf, scanned, TRAILER_CAP) {
            Line::More => self.state = State::Trailer { scanned: buf.len() },
            Line::TooLong => self.bad_trailer(),
            Line::Found { text, used } => {
                let theirs = decode_trailer(text);
                buf.advance(used);
                let Some(theirs) = theirs else { return self.bad_trailer() };
                let ours = self.hasher.finalize();
                if theirs != ours {
                    let msg = format!("the bytes received hash to {}", ours.to_hex());
                    return self.fail(Refusal::new(ErrorCode::HashMismatch, msg), true);
                }
                self.state = State::Committing { hash: ours, asked: false };
                self.timers.clear_all();
                self.maybe_commit();
            }
        }
    }

    fn bad_trailer(&mut self) {
        let msg = format!("no BLAKE3 trailer after the {} bytes announced", self.size);
        self.fail(Refusal::new(ErrorCode::HashMismatch, msg), true);
    }

    fn short(&mut self, why: &str) {
        let msg = format!("{why} after {} of {} bytes", self.pos, self.size);
        self.fail(Refusal::new(ErrorCode::Short, msg), false);
    }
}

impl Session for Receiver {
    type Event = Event;

    fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
        if buf.is_empty() {
            return;
        }
        if matches!(self.state, State::Header { .. } | State::Data | State::Trailer { .. }) {
            self.timers.set(Timer::Idle, now + self.limits.idle_timeout);
        }
        loop {
            let state = self.state;
            match state {
                State::Header { scanned } => self.read_header(buf, scanned),
                State::Data => self.read_data(buf),
                State::Trailer { scanned } => self.read_trailer(buf, scanned),
                _ => return,
            }
            // Go on only when the data ended with the trailer's bytes after it.
            let to_trailer = state == State::Data && matches!(self.state, State::Trailer { .. });
            if !to_trailer || buf.is_empty() {
                return;
            }
        }
    }

    fn handle_eof(&mut self, _now: Instant) {
        match self.state {
            State::Header { scanned: 1.. } => self.fail(
                Refusal::new(ErrorCode::BadHeader, "the stream ended inside the header"),
                false,
            ),
            State::Header { scanned: 0 } => self.close(),
            State::Data | State::Trailer { .. } => self.short("the stream ended"),
            // Not reading in these states: the end is noticed later, if at all.
            State::Deciding | State::Prefix { .. } | State::Committing { .. } | State::Closed => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.timers.expired(now) != Some(Timer::Idle) {
            return;
        }
        let secs = self.limits.idle_timeout.as_secs_f64();
        match self.state {
            // Not reading: the receiver waits for its own disk, not for
            // the sender (whose bytes wait in the socket). `written`
            // re-arms the timer; keep a deadline until then.
            State::Data if self.room() == 0 => {
                self.timers.set(Timer::Idle, now + self.limits.idle_timeout);
            }
            // Bytes but no newline: likely a sender that, like the
            // tutorial's, sends `NAME|SIZE` unterminated and waits.
            State::Header { scanned: 1.. } => self.fail(
                Refusal::new(
                    ErrorCode::BadHeader,
                    format!("the header line got no newline within {secs} s (NAME|SIZE\\n)"),
                ),
                false,
            ),
            State::Header { scanned: 0 } => self.fail(
                Refusal::new(ErrorCode::BadHeader, format!("no header within {secs} s")),
                false,
            ),
            State::Data | State::Trailer { .. } => {
                self.short(&format!("the sender was silent for {secs} s"));
            }
            _ => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(_, at)| at)
    }

    fn wants_read(&self) -> bool {
        match self.state {
            State::Header { .. } | State::Trailer { .. } => true,
            State::Data => self.room() > 0,
            _ => false,
        }
    }

    fn is_finished(&self) -> bool {
        self.state == State::Closed && self.unwritten == 0
    }

    fn is_idle(&self) -> bool {
        self.state == State::Header { scanned: 0 }
    }
}
