//! The sending side: one outgoing transfer per connection.

use alloc::collections::VecDeque;
use core::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

use super::codec::{
    ANSWER_CAP, Ack, BadAnswer, Hash, Header, Line, Refusal, decode_done, encode_trailer, line,
};
use super::name::{NameError, check_name};
use super::{Limits, Misuse};
use crate::time::{TimerKind, Timers};
use crate::{Instant, Session};

/// What a [`Sender`] tells the application, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The receiver took the header. `offset` bytes are already there
    /// (they are read and hashed, not sent). `verified` is false for a
    /// bare `OK` (the reference receiver): no trailer, no `DONE`.
    Accepted {
        /// Where the data starts.
        offset: u64,
        /// Whether a `DONE` will confirm the transfer.
        verified: bool,
    },
    /// Read `len` bytes at `offset` of the file and hand them to
    /// [`Sender::supply`], in the order asked.
    Read {
        /// Where in the file.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
    /// The receiver answered `DONE` with the file's hash: the file arrived
    /// intact. The transfer is over.
    Done {
        /// The file's BLAKE3.
        hash: Hash,
    },
    /// After a bare `OK`: every byte is handed to the driver, and nothing
    /// more will come; the transfer is sent but unverified.
    Unverified {
        /// The file's BLAKE3 (the receiver did not check it).
        hash: Hash,
    },
    /// The receiver answered `ERR CODE message`. The transfer is over.
    Refused(Refusal),
    /// The receiver broke the protocol, closed early or went silent. The
    /// transfer is over.
    Failed(Error),
}

/// How a transfer failed on the receiver's side, short of an `ERR` line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An answer that is not `OK OFFSET`, `OK`, `ERR ...` or `DONE <hex>`.
    #[error(transparent)]
    BadAnswer(#[from] BadAnswer),
    /// `OK OFFSET` past the end of the file.
    #[error("the receiver asked to resume at byte {offset}, past the end ({size} bytes)")]
    OffsetPastEnd {
        /// The offset asked for.
        offset: u64,
        /// The file's size.
        size: u64,
    },
    /// `DONE` named another hash.
    #[error("the receiver's DONE names another hash ({theirs}) than the file's ({ours})")]
    DoneMismatch {
        /// Ours.
        ours: Hash,
        /// The receiver's.
        theirs: Hash,
    },
    /// No answer to the header in time.
    #[error("no answer to the header within {0:?}")]
    AckTimeout(Duration),
    /// No `DONE` in time after the trailer.
    #[error("no DONE within {0:?} after the trailer")]
    DoneTimeout(Duration),
    /// The receiver ended the stream too soon.
    #[error("the receiver closed the connection {0}")]
    Closed(&'static str),
}

/// The sender's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Waiting for the ack.
    Ack,
    /// A lone `OK` arrived: if nothing follows, it is a bare ack.
    BareOk,
    /// Waiting for `DONE`.
    Done,
}

impl TimerKind for Timer {
    const COUNT: usize = 3;
    const ALL: &'static [Timer] = &[Timer::Ack, Timer::BareOk, Timer::Done];
    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The header is sent; waiting for the ack. `lone_ok`: what arrived so
    /// far is a lone `OK` (a bare ack if nothing follows).
    AwaitAck { lone_ok: bool },
    /// Reading, hashing and sending the file. `bare`: the ack was a bare
    /// `OK` (no trailer, no `DONE`). `next_read`: the next byte to ask for;
    /// `in_flight`: bytes asked for and not yet supplied.
    Data { bare: bool, next_read: u64, in_flight: u64 },
    /// The trailer is queued; waiting for `DONE` to name `hash`.
    AwaitDone { hash: Hash },
    /// Over.
    Closed,
}

/// One outgoing transfer: the sender side of PROTOCOLS.md §3, as a
/// [`Session`]. See the [module docs](super) for the exchange.
///
/// The machine sends the header, reads the ack (a bare `OK` too, told
/// apart from a split `OK OFFSET` by [`Limits::bare_ok_wait`]), asks the
/// application for the file in order ([`Event::Read`]) while fewer than
/// [`Limits::max_buffered`] bytes are asked for or unsent, hashes every
/// byte and sends those from the offset on (zero-copy: the `Bytes` the
/// application supplies go out as they are), then the trailer, and checks
/// the `DONE` line.
#[derive(Debug)]
pub struct Sender {
    limits: Limits,
    state: State,
    size: u64,
    offset: u64,
    /// The receiver ended its side of the stream.
    eof: bool,
    pos: u64,
    unsent: usize,
    hasher: blake3::Hasher,
    events: VecDeque<Event>,
    out: VecDeque<Bytes>,
    timers: Timers<Timer, 3>,
}

impl Sender {
    /// A transfer of `size` bytes under `name` (a plain name: see
    /// [`check_name`]), starting at `now` with the header.
    pub fn new(name: &str, size: u64, limits: Limits, now: Instant) -> Result<Sender, NameError> {
        check_name(name.as_bytes())?;
        let header = Header { name: name.into(), size }.encode();
        let mut timers = Timers::new();
        timers.set(Timer::Ack, now + limits.ack_timeout);
        let mut out = VecDeque::new();
        let unsent = header.len();
        out.push_back(header);
        Ok(Sender {
            limits,
            state: State::AwaitAck { lone_ok: false },
            size,
            offset: 0,
            eof: false,
            pos: 0,
            unsent,
            hasher: blake3::Hasher::new(),
            events: VecDeque::new(),
            out,
            timers,
        })
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the receiver asked to start (0 until the ack).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes of the file read and hashed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Hands over file bytes asked for with [`Event::Read`], in order.
    /// Bytes from the offset on are queued to be sent as they are.
    ///
    /// The bytes asked for form one stream: they may come in any pieces
    /// (what is not supplied yet is still owed). None, or more than asked,
    /// is a misuse: a file that shrank is the application's to report
    /// ([`Sender::abort`]).
    pub fn supply(&mut self, now: Instant, data: Bytes) -> Result<(), Misuse> {
        let State::Data { bare, next_read, in_flight } = self.state else {
            return Err(Misuse::State("supply answers a Read"));
        };
        let len = data.len() as u64;
        if data.is_empty() || len > in_flight {
            return Err(Misuse::Range("more bytes than asked for, or none"));
        }
        self.hasher.update(&data);
        let start = self.pos;
        self.pos += len;
        self.state = State::Data { bare, next_read, in_flight: in_flight - len };
        if self.pos > self.offset {
            // `skip` < len, a usize.
            let skip = self.offset.saturating_sub(start) as usize;
            let data = data.slice(skip..);
            self.unsent += data.len();
            self.out.push_back(data);
        }
        if self.pos == self.size {
            self.end_data(now);
        } else {
            self.request_reads();
        }
        Ok(())
    }

    /// Gives the transfer up (the file could not be read): nothing more is
    /// sent, and the driver closes the connection.
    pub fn abort(&mut self) {
        self.close();
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.out.clear();
        self.timers.clear_all();
        // Reads asked for and not yet handed out are not wanted any more.
        self.events.retain(|e| !matches!(e, Event::Read { .. }));
    }

    fn fail(&mut self, e: Error) {
        self.close();
        self.events.push_back(Event::Failed(e));
    }

    fn start(&mut self, now: Instant, offset: u64, bare: bool) {
        self.timers.clear(Timer::Ack);
        self.timers.clear(Timer::BareOk);
        if offset > self.size {
            return self.fail(Error::OffsetPastEnd { offset, size: self.size });
        }
        self.offset = offset;
        self.state = State::Data { bare, next_read: 0, in_flight: 0 };
        self.events.push_back(Event::Accepted { offset, verified: !bare });
        if self.size == 0 {
            self.end_data(now);
        } else {
            self.request_reads();
        }
    }

    fn request_reads(&mut self) {
        let State::Data { bare, mut next_read, mut in_flight } = self.state else { return };
        let budget = self.limits.max_buffered as u64;
        let chunk = self.limits.chunk as u64;
        while next_read < self.size && in_flight + (self.unsent as u64) < budget {
            let len = chunk.min(self.size - next_read);
            // `len` is at most `chunk`, a usize.
            self.events.push_back(Event::Read { offset: next_read, len: len as usize });
            next_read += len;
            in_flight += len;
        }
        self.state = State::Data { bare, next_read, in_flight };
    }

    fn end_data(&mut self, now: Instant) {
        let hash = self.hasher.finalize();
        if matches!(self.state, State::Data { bare: true, .. }) {
            self.state = State::Closed;
            self.timers.clear_all();
            self.events.push_back(Event::Unverified { hash });
        } else {
            let trailer = encode_trailer(&hash);
            self.unsent += trailer.len();
            self.out.push_back(trailer);
            self.state = State::AwaitDone { hash };
            self.timers.set(Timer::Done, now + self.limits.done_timeout);
        }
    }

    fn read_ack(&mut self, now: Instant, buf: &mut BytesMut, lone_ok: bool) {
        match Ack::decode(buf) {
            Ok(None) => {
                let lone = buf[..] == *b"OK" || buf[..] == *b"OK\r";
                if lone && !lone_ok {
                    self.timers.set(Timer::BareOk, now + self.limits.bare_ok_wait);
                } else if !lone {
                    // More came after the `OK`: the start of `OK OFFSET`.
                    self.timers.clear(Timer::BareOk);
                }
                self.state = State::AwaitAck { lone_ok: lone };
            }
            Ok(Some((ack, used))) => {
                buf.advance(used);
                match ack {
                    Ack::Offset(offset) => self.start(now, offset, false),
                    Ack::Bare => self.start(now, 0, true),
                    Ack::Refused(r) => {
                        self.close();
                        self.events.push_back(Event::Refused(r));
                    }
                }
            }
            Err(e) => self.fail(e.into()),
        }
    }

    /// After the ack: only `ERR ...` (the receiver gave up) or, after the
    /// trailer, `DONE <hex>` may come (one that comes before the trailer is
    /// sent waits in the buffer).
    fn read_answer(&mut self, buf: &mut BytesMut) {
        if matches!(self.state, State::Data { bare: true, .. }) {
            buf.clear(); // the reference receiver says nothing more
            return;
        }
        let (text, used) = match line(buf, ANSWER_CAP) {
            Line::More => return,
            Line::TooLong => {
                return self.fail(BadAnswer(alloc::format!("{} bytes", buf.len())).into());
            }
            Line::Found { text, used } => (text, used),
        };
        if let Some(r) = Refusal::decode(text) {
            self.close();
            self.events.push_back(Event::Refused(r));
        } else if matches!(self.state, State::Data { .. }) && text.starts_with(b"DONE ") {
            return; // early: it waits for the trailer to go out
        } else if let (State::AwaitDone { hash: ours }, Some(theirs)) =
            (self.state, decode_done(text))
        {
            self.close();
            if theirs == ours {
                self.events.push_back(Event::Done { hash: ours });
            } else {
                self.events.push_back(Event::Failed(Error::DoneMismatch { ours, theirs }));
            }
        } else {
            let shown = &text[..text.len().min(80)];
            let e =
                BadAnswer(alloc::format!("{:?}", alloc::string::String::from_utf8_lossy(shown)));
            return self.fail(e.into());
        }
        buf.advance(used);
    }
}

impl Session for Sender {
    type Event = Event;

    fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
        if buf.is_empty() {
            return;
        }
        if let State::AwaitAck { lone_ok } = self.state {
            self.read_ack(now, buf, lone_ok);
        }
        if matches!(self.state, State::Data { .. } | State::AwaitDone { .. }) && !buf.is_empty() {
            self.read_answer(buf);
        }
    }

    fn handle_eof(&mut self, now: Instant) {
        self.eof = true;
        match self.state {
            State::AwaitAck { lone_ok: true } => self.start(now, 0, true),
            State::AwaitAck { lone_ok: false } => {
                self.fail(Error::Closed("before answering the header"))
            }
            State::Data { bare: true, .. } => {} // a failed write tells, if anything
            State::Data { bare: false, .. } => {
                self.fail(Error::Closed("before the whole file was sent"))
            }
            State::AwaitDone { .. } => {
                self.fail(Error::Closed("without confirming the file (no DONE)"))
            }
            State::Closed => {}
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            match (timer, self.state) {
                (Timer::Ack, State::AwaitAck { .. }) => {
                    self.fail(Error::AckTimeout(self.limits.ack_timeout))
                }
                (Timer::BareOk, State::AwaitAck { .. }) => self.start(now, 0, true),
                (Timer::Done, State::AwaitDone { .. }) => {
                    self.fail(Error::DoneTimeout(self.limits.done_timeout));
                }
                _ => {}
            }
        }
    }

    fn handle_sent(&mut self, now: Instant, n: usize) {
        self.unsent = self.unsent.saturating_sub(n);
        if matches!(self.state, State::AwaitDone { .. }) {
            // DONE is awaited from the last byte written on: on a slow
            // link the trailer may leave long after it was queued.
            self.timers.set(Timer::Done, now + self.limits.done_timeout);
        }
        self.request_reads();
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
        self.state != State::Closed && !self.eof
    }

    fn is_finished(&self) -> bool {
        self.state == State::Closed
    }
}
