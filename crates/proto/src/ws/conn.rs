//! The connection machine: messages, control frames and the close
//! handshake over the frame codec.

use alloc::collections::VecDeque;
use alloc::string::String;

use bytes::{Bytes, BytesMut};

use super::frame::{Frame, FrameDecoder, Opcode, Role, encode_frame, frame_len};
use super::utf8::Utf8;
use super::{CloseCode, Error, Limits, Misuse};
use crate::time::{TimerKind, Timers};
use crate::{Instant, Session};

/// What a WebSocket connection tells the application.
///
/// Every connection ends with exactly one [`Closed`](Event::Closed) or
/// [`Failed`](Event::Failed), after which no event follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole text message, valid UTF-8 (fragments assembled).
    Text(Bytes),
    /// A whole binary message (fragments assembled).
    Binary(Bytes),
    /// The connection is closing: the peer's Close arrived (`code` is
    /// `None` if it carried none; our reply is queued, or was sent first
    /// if we started the handshake), or it ended without one: the stream
    /// ended, or the peer did not answer our Close within
    /// [`Limits::close_timeout`]. Those two carry
    /// [`CloseCode::ABNORMAL`] (1006), which no Close frame may carry, so
    /// they cannot be mistaken for a Close.
    Closed {
        /// The peer's code, or 1006 when no Close came.
        code: Option<CloseCode>,
        /// The peer's reason (UTF-8, at most 123 bytes), or empty.
        reason: String,
    },
    /// The peer broke the protocol: our Close with
    /// [`error.close_code()`](Error::close_code) is queued (unless we had
    /// sent one already), then the connection is finished.
    Failed(Error),
}

impl Event {
    /// Payload bytes the event holds, for the backpressure bound.
    fn size(&self) -> usize {
        match self {
            Event::Text(b) | Event::Binary(b) => b.len(),
            Event::Closed { .. } | Event::Failed(_) => 0,
        }
    }
}

/// The connection's one timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// We sent a Close and wait for the peer's.
    Close,
}

impl TimerKind for Timer {
    const COUNT: usize = 1;
    const ALL: &'static [Timer] = &[Timer::Close];
    fn index(self) -> usize {
        0
    }
}

/// Where the close handshake is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a Close: incoming data is ignored until the peer's Close,
    /// the end of the stream or the close timer.
    CloseSent,
    /// Nothing more is read or accepted; finished once the transmit queue
    /// is polled empty.
    Ending,
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Message {
    text: bool,
    data: BytesMut,
    utf8: Utf8,
}

/// The largest pre-encoded frame [`Conn::send_encoded`] copies into the
/// batch instead of queueing it apart.
const COALESCE: usize = 512;

/// One WebSocket connection, either end, after the opening handshake.
/// See the [module docs](super) for what it models.
#[derive(Debug)]
pub struct Conn {
    role: Role,
    limits: Limits,
    decoder: FrameDecoder,
    state: State,
    message: Option<Message>,
    events: VecDeque<Event>,
    /// Payload bytes held by `events`.
    undelivered: usize,
    /// Batches ready to transmit; `tail` goes after them.
    out: VecDeque<Bytes>,
    /// Frames encoded since the last batch was cut.
    tail: BytesMut,
    /// Bytes in `out` and `tail`.
    queued: usize,
    timers: Timers<Timer, 1>,
    /// The mask generator's state (clients only).
    rng: u64,
}

impl Conn {
    /// A connection whose opening handshake completed at `now`. A client
    /// masks its frames with keys from a generator seeded by
    /// [`set_mask_seed`](Conn::set_mask_seed).
    pub fn new(role: Role, limits: Limits, now: Instant) -> Conn {
        let _ = now;
        Conn {
            role,
            limits,
            decoder: FrameDecoder::new(role, &limits),
            state: State::Open,
            message: None,
            events: VecDeque::new(),
            undelivered: 0,
            out: VecDeque::new(),
            tail: BytesMut::new(),
            queued: 0,
            timers: Timers::new(),
            rng: 0,
        }
    }

    /// Seeds the generator of a client's mask keys.
    ///
    /// The core has no entropy source, so the caller brings it: RFC 6455
    /// §10.3 wants keys a script in the page cannot predict (they defend
    /// intermediaries against cache poisoning), so a client facing real
    /// proxies seeds this from the operating system's random source. The
    /// generator (SplitMix64) is not cryptographic; unseeded, the keys are
    /// the same on every run, which tests like.
    pub fn set_mask_seed(&mut self, seed: u64) {
        self.rng = seed;
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Queues a text message, one frame. `text` must be UTF-8 (the
    /// caller's duty, checked in debug builds).
    pub fn send_text(&mut self, text: &[u8]) -> Result<(), Misuse> {
        debug_assert!(core::str::from_utf8(text).is_ok(), "send_text with invalid UTF-8");
        self.send(Opcode::Text, text)
    }

    /// Queues a binary message, one frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Misuse> {
        self.send(Opcode::Binary, data)
    }

    /// Queues a ping (at most 125 bytes of payload). Pongs are not
    /// reported: a ping only proves the connection alive by the bytes
    /// that come back.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Misuse> {
        if payload.len() > 125 {
            return Err(Misuse::ControlTooLong);
        }
        self.send(Opcode::Ping, payload)
    }

    /// Queues a frame encoded by [`encode_frame`] (unmasked), as is: a
    /// server sending the same message to many connections encodes it once
    /// and queues clones of one `Bytes` (small ones are copied into the
    /// batch). The caller vouches that it is one whole, valid,
    /// unmasked frame.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sansnet_proto::ws::{encode_frame, frame_len, Conn, Limits, Opcode, Role};
    /// use sansnet_proto::Instant;
    ///
    /// let text = vec![b'x'; 1000];
    /// let mut frame = BytesMut::with_capacity(frame_len(text.len(), false));
    /// encode_frame(&mut frame, true, Opcode::Text, &text, None);
    /// let frame = frame.freeze();
    /// let mut members: Vec<Conn> = (0..3).map(|_| Conn::new(Role::Server, Limits::default(), Instant::ZERO)).collect();
    /// for m in &mut members {
    ///     m.send_encoded(frame.clone()).unwrap(); // no copy: a shared allocation
    /// }
    /// assert_eq!(members[2].queued(), frame.len());
    /// ```
    pub fn send_encoded(&mut self, frame: Bytes) -> Result<(), Misuse> {
        if self.role != Role::Server {
            return Err(Misuse::NotServer);
        }
        if self.state != State::Open {
            return Err(Misuse::Closed);
        }
        self.queued += frame.len();
        if frame.len() <= COALESCE {
            self.tail.extend_from_slice(&frame);
        } else {
            if !self.tail.is_empty() {
                self.out.push_back(self.tail.split().freeze());
            }
            self.out.push_back(frame);
        }
        Ok(())
    }

    /// Starts the close handshake at `now`: queues a Close with `code` and
    /// `reason` (cut to 123 bytes, on a character boundary) and arms the
    /// close timer ([`Limits::close_timeout`]). Data from the peer is
    /// ignored from here on; the connection finishes when the peer's Close
    /// arrives, the stream ends or the timer fires. Does nothing if a
    /// Close was already sent or received.
    ///
    /// `code` must be one a Close frame may carry ([`CloseCode::is_valid`];
    /// checked in debug builds).
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) {
        debug_assert!(code.is_valid(), "close with code {}", code.0);
        if self.state != State::Open {
            return;
        }
        self.queue_close(code, reason);
        self.state = State::CloseSent;
        self.message = None;
        self.timers.set(Timer::Close, now + self.limits.close_timeout);
    }

    /// Whether messages may still be sent: no Close sent or received, no
    /// failure, no end of stream.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Bytes queued for transmission and not yet polled.
    pub fn queued(&self) -> usize {
        self.queued
    }

    fn send(&mut self, opcode: Opcode, payload: &[u8]) -> Result<(), Misuse> {
        if self.state != State::Open {
            return Err(Misuse::Closed);
        }
        self.queue(opcode, payload);
        Ok(())
    }

    /// Encodes one final frame onto the batch, masked if we are a client.
    fn queue(&mut self, opcode: Opcode, payload: &[u8]) {
        let mask = match self.role {
            Role::Client => Some(self.next_mask()),
            Role::Server => None,
        };
        self.queued += frame_len(payload.len(), mask.is_some());
        encode_frame(&mut self.tail, true, opcode, payload, mask);
    }

    fn queue_close(&mut self, code: CloseCode, reason: &str) {
        let mut cut = reason.len().min(123);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut payload = [0u8; 125];
        payload[..2].copy_from_slice(&code.0.to_be_bytes());
        payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
        self.queue(Opcode::Close, &payload[..2 + cut]);
    }

    /// SplitMix64.
    fn next_mask(&mut self) -> [u8; 4] {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let [a, b, c, d, ..] = z.to_le_bytes();
        [a, b, c, d]
    }

    fn push_event(&mut self, event: Event) {
        self.undelivered += event.size();
        self.events.push_back(event);
    }

    /// Nothing more is read: pending input and timers are dropped.
    fn end(&mut self, event: Event) {
        self.push_event(event);
        self.state = State::Ending;
        self.message = None;
        self.timers.clear_all();
    }

    /// The peer broke the protocol.
    fn fail(&mut self, e: Error) {
        if self.state == State::Open {
            let mut reason = String::new();
            // Writing to a String cannot fail.
            let _ = core::fmt::write(&mut reason, format_args!("{e}"));
            self.queue_close(e.close_code(), &reason);
        }
        self.end(Event::Failed(e));
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), Error> {
        match frame.opcode {
            Opcode::Text | Opcode::Binary | Opcode::Continuation => self.on_data(frame),
            Opcode::Ping => {
                if self.state == State::Open {
                    self.queue(Opcode::Pong, &frame.payload);
                }
                Ok(())
            }
            Opcode::Pong => Ok(()),
            Opcode::Close => self.on_close(&frame.payload),
        }
    }

    fn on_data(&mut self, frame: Frame) -> Result<(), Error> {
        if self.state != State::Open {
            // After our Close: ignored (the decoder still checks it).
            return Ok(());
        }
        let Frame { fin, opcode, payload } = frame;
        match opcode {
            Opcode::Continuation => {
                // The decoder lets a continuation through only inside a
                // message, which `message` holds while Open.
                let Some(m) = self.message.as_mut() else { return Ok(()) };
                if m.text {
                    m.utf8.feed(&payload)?;
                }
                m.data.extend_from_slice(&payload);
                if fin {
                    let Some(mut m) = self.message.take() else { return Ok(()) };
                    let data = m.data.freeze();
                    if m.text {
                        m.utf8.finish()?;
                        self.push_event(Event::Text(data));
                    } else {
                        self.push_event(Event::Binary(data));
                    }
                }
            }
            _ => {
                let text = opcode == Opcode::Text;
                if fin {
                    if text {
                        core::str::from_utf8(&payload).map_err(|_| Error::InvalidUtf8)?;
                        self.push_event(Event::Text(payload));
                    } else {
                        self.push_event(Event::Binary(payload));
                    }
                } else {
                    let mut utf8 = Utf8::default();
                    if text {
                        utf8.feed(&payload)?;
                    }
                    let data = BytesMut::from(&payload[..]);
                    self.message = Some(Message { text, data, utf8 });
                }
            }
        }
        Ok(())
    }

    fn on_close(&mut self, payload: &[u8]) -> Result<(), Error> {
        let (code, reason) = match payload {
            [] => (None, ""),
            [_] => return Err(Error::BadClosePayload),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid() {
                    return Err(Error::BadCloseCode(code.0));
                }
                let reason = core::str::from_utf8(reason).map_err(|_| Error::BadCloseReason)?;
                (Some(code), reason)
            }
        };
        if self.state == State::Open {
            self.queue_close(code.unwrap_or(CloseCode::NORMAL), "");
        }
        self.end(Event::Closed { code, reason: reason.into() });
        Ok(())
    }
}

impl Session for Conn {
    type Event = Event;

    /// Decodes frames while [`wants_read`](Session::wants_read): a
    /// partial frame's payload stays in `buf` until whole. After the end
    /// (the peer's Close, a failure) what comes is discarded unread.
    fn handle_read(&mut self, _now: Instant, buf: &mut BytesMut) {
        if self.state == State::Ending {
            buf.clear();
            return;
        }
        while self.wants_read() {
            let result = match self.decoder.decode(buf) {
                Ok(Some(frame)) => self.on_frame(frame),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                self.fail(e);
                buf.clear();
                return;
            }
        }
    }

    /// The stream ended: [`Event::Closed`] with code 1006 unless the
    /// connection had already ended; finished once the queue is polled.
    fn handle_eof(&mut self, _now: Instant) {
        if self.state != State::Ending {
            self.end(Event::Closed { code: Some(CloseCode::ABNORMAL), reason: String::new() });
        }
    }

    /// The close timer: the peer never answered our Close,
    /// [`Event::Closed`] with code 1006.
    fn handle_timeout(&mut self, now: Instant) {
        if self.timers.expired(now) == Some(Timer::Close) && self.state == State::CloseSent {
            self.end(Event::Closed { code: Some(CloseCode::ABNORMAL), reason: String::new() });
        }
    }

    /// Queued frames in order, in as few `Bytes` as is cheap: frames
    /// encoded in a row come out as one.
    fn poll_transmit(&mut self) -> Option<Bytes> {
        let batch = match self.out.pop_front() {
            Some(batch) => batch,
            None if self.tail.is_empty() => return None,
            None => self.tail.split().freeze(),
        };
        self.queued -= batch.len();
        Some(batch)
    }

    fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        self.undelivered -= event.size();
        Some(event)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(_, at)| at)
    }

    /// False once a Close was received, the peer failed, the stream ended
    /// or the close timer fired, and while the events not yet polled hold
    /// more than [`Limits::max_message`] bytes.
    fn wants_read(&self) -> bool {
        // Answers (pongs) the driver has not taken count too: a flood of
        // pings in one buffer stops being read once they pass the bound.
        self.state != State::Ending
            && self.undelivered <= self.limits.max_message
            && self.queued <= self.limits.max_message
    }

    /// Ended, and every queued byte polled (the last a Close, unless the
    /// stream ended first).
    fn is_finished(&self) -> bool {
        self.state == State::Ending && self.queued == 0
    }

    /// Open, nothing half-received, owed or queued. A driver shutting down
    /// closes idle connections without a Close frame; an application that
    /// wants a clean 1001 calls [`close`](Conn::close) first.
    fn is_idle(&self) -> bool {
        self.state == State::Open
            && !self.decoder.in_message()
            && !self.decoder.has_partial()
            && self.events.is_empty()
            && self.queued == 0
    }
}
