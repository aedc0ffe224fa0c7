//! One TLS connection's record layer between ciphertext and plaintext: the
//! part the [`Tls`](crate::Tls) session and the [`TlsHub`](crate::TlsHub)
//! share. It owns the rustls connection and the plaintext that has been
//! decrypted but not yet taken by the inner machine, and it does the
//! bookkeeping that maps ciphertext written by the driver back to the
//! plaintext the inner machine handed over.
//!
//! It drives rustls's unbuffered API: records are decrypted in place in
//! the driver's read buffer (a record cut by the end of a read is staged
//! here until it is whole), and the inner machine's plaintext is sealed
//! into the buffer whose chunks go to the driver. On the way in each byte
//! is copied twice (into rustls's plaintext queue, then into the buffer
//! the inner machine reads) where the buffered API copies it three times
//! (first into rustls's own ciphertext buffer); on the way out twice, as
//! with the buffered API (rustls 0.23 seals into a record of its own, then
//! copies it out) into a buffer that is reused, not zeroed again (see
//! [`Out`]).

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use rustls::client::UnbufferedClientConnection;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use sansnet_proto::Instant;

use crate::{Error, Limits, Peer};

/// What a fresh output buffer holds at least, so that a small answer fits
/// without growing.
const OUT_RESERVE: usize = 512;

/// Chunks from this size on are lent: handed out as a slice of a buffer
/// that comes back, still initialised, once the driver drops the chunk
/// (see [`Out`]); smaller ones are split off.
const LEND: usize = 4096;

/// The most plaintext one record carries: small pieces of the inner
/// machine's output are gathered up to it.
const RECORD: usize = 16 * 1024;

/// Room asked for per record beyond its plaintext (header, explicit
/// nonce, content type, tag: 22 to 29 bytes), generously.
const RECORD_OVERHEAD: usize = 64;

#[cfg(test)]
thread_local! {
    /// Bytes of the output buffer zeroed on this thread, for the tests.
    pub(crate) static ZEROED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The rustls connection, either side.
pub(crate) enum Conn {
    Server(UnbufferedServerConnection),
    Client(UnbufferedClientConnection),
}

impl From<UnbufferedServerConnection> for Conn {
    fn from(c: UnbufferedServerConnection) -> Conn {
        Conn::Server(c)
    }
}

impl From<UnbufferedClientConnection> for Conn {
    fn from(c: UnbufferedClientConnection) -> Conn {
        Conn::Client(c)
    }
}

impl Conn {
    fn common(&self) -> &rustls::CommonState {
        match self {
            Conn::Server(c) => c,
            Conn::Client(c) => c,
        }
    }
}

/// What rustls may be asked to encrypt, when it can.
#[derive(Clone, Copy)]
enum Write<'a> {
    Nothing,
    Seal(&'a [u8]),
    Close,
}

/// What one call of rustls came to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// Something happened (a record read or written): call again.
    Went,
    /// It needs more ciphertext (no whole record left), or is closed.
    Idle,
    /// It encrypted what [`Write`] asked for.
    Wrote,
    /// It decrypted a record of application data.
    Read,
}

/// Where the peer's side of the stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Still open.
    Open,
    /// `close_notify` received, or the stream ended without it; the inner
    /// machine has not been told yet because plaintext is still waiting.
    Pending,
    /// The inner machine was told (`handle_eof`).
    Told,
}

/// What handing rustls plaintext came to.
enum Sealed {
    /// It took some.
    Took,
    /// It takes nothing now (not while the handshake or a failure lasts).
    Full,
    /// The inner machine has nothing more for now.
    Drained,
}

/// A TLS connection's record layer (see the [module docs](self)).
pub(crate) struct Channel {
    conn: Conn,
    limits: Limits,
    /// Decrypted bytes the inner machine has not consumed.
    pub(crate) plain_in: BytesMut,
    /// The part of the last record decrypted that did not fit under
    /// `max_plaintext` (at most one record): moved to `plain_in` as the
    /// inner machine makes room. Nothing more is decrypted meanwhile.
    held: BytesMut,
    /// Ciphertext of a record the driver's read cut, staged until whole.
    cipher_in: BytesMut,
    /// Plaintext from the inner machine that rustls did not take yet.
    leftover: Option<Bytes>,
    /// Small pieces of plaintext gathered into one record, before
    /// `leftover` (a hub's plaintext waits here for the handshake).
    stage: Vec<u8>,
    /// Plaintext sealed since the last ciphertext chunk.
    plain_unattributed: usize,
    /// Per ciphertext chunk given to the driver and not yet written:
    /// `(ciphertext bytes, plaintext bytes it carries)`.
    in_flight: VecDeque<(usize, usize)>,
    /// Ciphertext of the front chunk already written.
    front_written: usize,
    ending: Ending,
    /// The failure that ends the connection, reported once.
    failure: Option<Error>,
    failure_reported: bool,
    /// When the handshake must be over (it runs until established or
    /// failed).
    handshake_deadline: Instant,
    established: bool,
    established_reported: bool,
    close_sent: bool,
    close_requested: bool,
    close_taken: bool,
    /// Ciphertext being gathered for the driver.
    out: Out,
    /// A new chunk waits for the driver to write the last (see
    /// [`Channel::waits_for_driver`]); a hub's connections are not paced.
    paced: bool,
}

impl Channel {
    pub(crate) fn new(conn: Conn, limits: Limits, now: Instant) -> Channel {
        Channel {
            conn,
            limits,
            plain_in: BytesMut::new(),
            held: BytesMut::new(),
            cipher_in: BytesMut::new(),
            leftover: None,
            stage: Vec::new(),
            plain_unattributed: 0,
            in_flight: VecDeque::new(),
            front_written: 0,
            ending: Ending::Open,
            failure: None,
            failure_reported: false,
            handshake_deadline: now + limits.handshake_timeout,
            established: false,
            established_reported: false,
            close_sent: false,
            close_requested: false,
            close_taken: false,
            out: Out::default(),
            paced: false,
        }
    }

    /// The channel of a [`Tls`](crate::Tls) session, whose driver drains
    /// it again after every `handle_sent` (the drain contract): a new
    /// chunk waits for the driver to write the last.
    pub(crate) fn paced(mut self) -> Channel {
        self.paced = true;
        self
    }

    /// One call of rustls over `incoming` (ciphertext, decrypted in place
    /// and consumed from the front), with `write` to encrypt if it may.
    fn step(&mut self, incoming: &mut BytesMut, write: Write<'_>) -> Outcome {
        let mut sink = Sink {
            plain: &mut self.plain_in,
            held: &mut self.held,
            cap: self.limits.max_plaintext,
            out: &mut self.out,
            discard: 0,
            peer_closed: false,
        };
        let result = match &mut self.conn {
            Conn::Server(c) => sink.handle(c.process_tls_records(&mut incoming[..]), write),
            Conn::Client(c) => sink.handle(c.process_tls_records(&mut incoming[..]), write),
        };
        let (discard, peer_closed) = (sink.discard, sink.peer_closed);
        incoming.advance(discard.min(incoming.len()));
        if !self.established && !self.conn.common().is_handshaking() {
            self.established = true;
        }
        if peer_closed && self.ending == Ending::Open {
            self.ending = Ending::Pending;
        }
        match result {
            Ok(outcome) => outcome,
            Err(e) => {
                if self.failure.is_none() {
                    self.fail(Error::from_rustls(e, self.established));
                    // The alert rustls queued, with the same buffer (it
                    // may hold handshake bytes rustls points into), and
                    // only while it has records queued (a call past them
                    // would read the bad bytes again). rustls is not
                    // called after this.
                    for _ in 0..8 {
                        if !self.conn.common().wants_write()
                            || self.step(incoming, Write::Nothing) != Outcome::Went
                        {
                            break;
                        }
                    }
                }
                Outcome::Idle
            }
        }
    }

    /// Whether rustls may decrypt another record now.
    fn can_take(&self) -> bool {
        self.failure.is_none()
            && self.ending == Ending::Open
            && self.held.is_empty()
            && self.plain_in.len() < self.limits.max_plaintext
    }

    /// Processes the whole records at the front of `incoming` while the
    /// plaintext has room. Returns whether rustls stopped for want of
    /// ciphertext (rather than room, a failure or the peer's end).
    fn process(&mut self, incoming: &mut BytesMut) -> bool {
        while self.can_take() {
            match self.step(incoming, Write::Nothing) {
                Outcome::Idle => return self.can_take(),
                // Nothing left to read after a record of data: one call
                // less per read (what rustls may still have queued waits
                // for the next `transmit`; the peer's close comes with the
                // call that reads it).
                Outcome::Read if incoming.is_empty() => return self.can_take(),
                _ => {}
            }
        }
        false
    }

    /// Encodes what rustls has queued without new input (its handshake
    /// flight, session tickets) into `out`.
    fn pending(&mut self) {
        if !self.conn.common().wants_write() {
            return;
        }
        self.with_staged(|ch, incoming| {
            for _ in 0..64 {
                if !matches!(ch.step(incoming, Write::Nothing), Outcome::Went | Outcome::Read) {
                    break;
                }
            }
        });
    }

    /// Asks rustls to encrypt `write` (after what it has queued); whether
    /// it did.
    fn write(&mut self, write: Write<'_>) -> bool {
        let mut wrote = false;
        self.with_staged(|ch, incoming| {
            for _ in 0..64 {
                match ch.step(incoming, write) {
                    Outcome::Went | Outcome::Read => {}
                    Outcome::Wrote => {
                        wrote = true;
                        break;
                    }
                    Outcome::Idle => break,
                }
            }
        });
        wrote
    }

    /// Runs `f` with the staged ciphertext as rustls's input: bytes rustls
    /// left unconsumed (a handshake message that spans records) live
    /// there, and rustls must see them again. Not after a failure: rustls
    /// is done then.
    fn with_staged(&mut self, f: impl FnOnce(&mut Channel, &mut BytesMut)) {
        if self.failure.is_some() {
            return;
        }
        let mut staged = std::mem::take(&mut self.cipher_in);
        f(self, &mut staged);
        if self.failure.is_none() {
            self.cipher_in = staged;
        }
    }

    /// Processes the records staged in `cipher_in`; whether rustls took
    /// any of its bytes.
    fn process_staged(&mut self) -> bool {
        let mut staged = std::mem::take(&mut self.cipher_in);
        let before = staged.len();
        self.process(&mut staged);
        let took = staged.len() < before;
        if self.failure.is_none() {
            self.cipher_in = staged;
        }
        took
    }

    /// Ciphertext staged and plaintext held over the cap.
    #[cfg(test)]
    pub(crate) fn staged(&self) -> (usize, usize) {
        (self.cipher_in.len(), self.held.len())
    }

    /// The capacity of the buffer ciphertext is sealed into.
    #[cfg(test)]
    pub(crate) fn out_capacity(&self) -> usize {
        self.out.capacity()
    }

    /// Whether the handshake finished.
    pub(crate) fn is_established(&self) -> bool {
        self.established
    }

    /// Whether the connection failed (an alert may still be queued).
    pub(crate) fn has_failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Whether the driver should read ciphertext for this connection.
    pub(crate) fn wants_read(&self) -> bool {
        self.can_take()
    }

    /// Consumes a prefix of `buf` (ciphertext) until the plaintext waiting
    /// for the inner machine reaches its cap. Returns whether anything was
    /// consumed.
    pub(crate) fn receive(&mut self, buf: &mut BytesMut) -> bool {
        let mut progressed = false;
        // Whether to stage everything (the records staged did not add up).
        let mut whole = false;
        while self.can_take() && !buf.is_empty() {
            if self.cipher_in.is_empty() {
                let before = buf.len();
                let wants_more = self.process(buf);
                progressed |= buf.len() < before;
                if wants_more && !buf.is_empty() {
                    // A record cut by the read: staged, so that the driver's
                    // buffer is free for the next read whatever its size.
                    self.cipher_in.extend_from_slice(buf);
                    buf.clear();
                    progressed = true;
                }
            } else {
                // Complete the staged record, and no more: the records
                // after it are read in place.
                let take = match self.missing() {
                    Some(n) if !whole => n.min(buf.len()),
                    _ => buf.len(),
                };
                self.cipher_in.extend_from_slice(&buf[..take]);
                buf.advance(take);
                progressed = true;
                whole |= !self.process_staged() && self.can_take();
            }
        }
        progressed
    }

    /// The bytes that would complete the records staged in `cipher_in`,
    /// once the handshake is over (`None`: take everything, as during the
    /// handshake, when rustls joins handshake messages in place).
    fn missing(&self) -> Option<usize> {
        if !self.established {
            return None;
        }
        let staged = &self.cipher_in[..];
        let mut at = 0;
        loop {
            let Some(header) = staged.get(at..at + 5) else {
                return Some(at + 5 - staged.len());
            };
            let end = at + 5 + usize::from(u16::from_be_bytes([header[3], header[4]]));
            if end > staged.len() {
                return Some(end - staged.len());
            }
            if end == staged.len() {
                return None; // whole records rustls did not take: not ours to judge
            }
            at = end;
        }
    }

    /// The peer ended its side of the stream.
    pub(crate) fn receive_eof(&mut self) {
        if self.ending != Ending::Open || self.failure.is_some() {
            return;
        }
        // Whole records staged and not yet read are read first.
        self.process_staged();
        if self.ending == Ending::Open && self.failure.is_none() {
            // No close_notify: the peer cut the stream (during the
            // handshake, between records, or in one).
            self.fail(Error::Truncated);
        }
    }

    /// Moves held plaintext to the inner machine's buffer, up to the cap,
    /// and reads records staged while there was no room.
    pub(crate) fn take_plaintext(&mut self) {
        if self.failure.is_some() {
            return;
        }
        if !self.held.is_empty() {
            let room = self.limits.max_plaintext.saturating_sub(self.plain_in.len());
            let n = room.min(self.held.len());
            if self.plain_in.is_empty() && n == self.held.len() {
                self.plain_in = self.held.split();
            } else {
                self.plain_in.extend_from_slice(&self.held[..n]);
                self.held.advance(n);
            }
        }
        if !self.cipher_in.is_empty() && self.can_take() {
            self.process_staged();
        }
    }

    /// Whether the inner machine should now be told that the stream ended
    /// (every plaintext byte consumed first). Marks it told.
    pub(crate) fn take_eof(&mut self) -> bool {
        let ended = self.ending == Ending::Pending
            || (self.failure.is_some() && self.ending == Ending::Open);
        if ended && self.plain_in.is_empty() && self.held.is_empty() {
            self.ending = Ending::Told;
            return true;
        }
        false
    }

    fn fail(&mut self, error: Error) {
        if self.failure.is_none() {
            self.failure = Some(error);
            self.plain_in.clear();
            self.held = BytesMut::new();
            self.cipher_in = BytesMut::new();
            self.leftover = None;
            self.stage = Vec::new();
        }
    }

    /// Fails the handshake when its deadline passed.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.fail(Error::HandshakeTimeout(self.limits.handshake_timeout));
        }
    }

    /// The handshake's deadline, while it runs (a failed connection only
    /// hands out its alert: no timer left).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let running = !self.established && self.failure.is_none();
        running.then_some(self.handshake_deadline)
    }

    /// The deadline the handshake was given (also once it is over): the
    /// key a hub files the connection under.
    pub(crate) fn handshake_key(&self) -> Instant {
        self.handshake_deadline
    }

    /// The next ciphertext to write. Plaintext is pulled from `next` (the
    /// inner machine's output) only once the handshake is done; `finished`
    /// says the inner machine is done, so that `close_notify` follows its
    /// last bytes.
    ///
    /// What the inner machine has ready goes out as one chunk (up to
    /// [`Limits::write_chunk`]): small pieces (an HTTP head, then its
    /// body) are gathered into one record, and `close_notify` goes with
    /// the last of them when the inner machine is done. One answer is one
    /// record and one write for the driver.
    pub(crate) fn transmit(
        &mut self,
        mut next: impl FnMut() -> Option<Bytes>,
        finished: impl Fn() -> bool,
    ) -> Option<Bytes> {
        loop {
            if self.failure.is_some() || self.close_sent || !self.established {
                self.pending();
                return self.flush();
            }
            if self.plain_unattributed >= self.limits.write_chunk || self.waits_for_driver() {
                return self.flush();
            }
            match self.seal_next(&mut next) {
                Sealed::Took => {}
                Sealed::Full => return self.flush(),
                Sealed::Drained => {
                    self.pending(); // session tickets, a key update
                    if self.stage.is_empty()
                        && self.leftover.is_none()
                        && (finished() || self.close_requested)
                        && self.write(Write::Close)
                    {
                        self.close_sent = true;
                    }
                    return self.flush();
                }
            }
        }
    }

    /// Whether a paced channel waits for the driver before sealing a new
    /// chunk: it still holds the last one and has not written it all. A
    /// driver drains every transmit before it writes; unpaced, a bulk
    /// stream became a round of chunks at once, each in a buffer of its
    /// own (allocated and zeroed); paced, the next chunk goes into the
    /// buffer of the one just written, when the driver drains again after
    /// `handle_sent` (a driver that drops or reports each chunk at once is
    /// never held back).
    fn waits_for_driver(&self) -> bool {
        self.paced && self.plain_unattributed == 0 && !self.in_flight.is_empty() && self.out.lent()
    }

    /// Seals the next plaintext: what is staged first, then the inner
    /// machine's pieces, the small ones gathered up to a record, as much as
    /// the chunk has room for.
    fn seal_next(&mut self, next: &mut impl FnMut() -> Option<Bytes>) -> Sealed {
        let room = self.limits.write_chunk.saturating_sub(self.plain_unattributed).max(1);
        if !self.stage.is_empty() {
            let n = room.min(self.stage.len());
            let stage = std::mem::take(&mut self.stage);
            let sealed = self.seal(&stage[..n]);
            self.stage = stage;
            if !sealed {
                return Sealed::Full;
            }
            self.stage.drain(..n);
            return Sealed::Took;
        }
        let piece = match self.leftover.take() {
            Some(p) => p,
            None => match next() {
                Some(p) => p,
                None => return Sealed::Drained,
            },
        };
        if piece.len() < RECORD {
            if let Some(mut more) = next() {
                self.stage.extend_from_slice(&piece);
                loop {
                    if more.len() >= RECORD {
                        // A large piece is sealed from where it is.
                        self.leftover = Some(more);
                        break;
                    }
                    let fits = RECORD - self.stage.len();
                    if more.len() >= fits {
                        self.stage.extend_from_slice(&more[..fits]);
                        if more.len() > fits {
                            self.leftover = Some(more.slice(fits..));
                        }
                        break;
                    }
                    self.stage.extend_from_slice(&more);
                    match next() {
                        Some(p) => more = p,
                        None => break,
                    }
                }
                return self.seal_next(next);
            }
        }
        let n = room.min(piece.len());
        if !self.seal(&piece[..n]) {
            self.leftover = Some(piece);
            return Sealed::Full;
        }
        if n < piece.len() {
            self.leftover = Some(piece.slice(n..));
        }
        Sealed::Took
    }

    /// Encrypts `plain` into `out`; whether rustls could.
    fn seal(&mut self, plain: &[u8]) -> bool {
        if plain.is_empty() {
            return true;
        }
        let sealed = self.write(Write::Seal(plain));
        if sealed {
            self.plain_unattributed += plain.len();
        }
        sealed
    }

    fn flush(&mut self) -> Option<Bytes> {
        let chunk = self.out.take()?;
        self.in_flight.push_back((chunk.len(), std::mem::take(&mut self.plain_unattributed)));
        Some(chunk)
    }

    /// The driver wrote `n` more ciphertext bytes; returns the plaintext
    /// bytes that are now wholly on the wire.
    pub(crate) fn sent(&mut self, mut n: usize) -> usize {
        let mut plain = 0;
        while n > 0 {
            let Some(&(cipher, p)) = self.in_flight.front() else { break };
            let step = n.min(cipher - self.front_written);
            self.front_written += step;
            n -= step;
            if self.front_written == cipher {
                self.in_flight.pop_front();
                self.front_written = 0;
                plain += p;
            }
        }
        plain
    }

    /// Whether every ciphertext byte handed out was written.
    pub(crate) fn all_sent(&self) -> bool {
        self.in_flight.is_empty() && self.out.is_empty()
    }

    /// The connection is over for TLS: failed (its alert handed out), or
    /// `close_notify` handed out after the inner machine's last bytes.
    pub(crate) fn is_closed(&self) -> bool {
        (self.failure.is_some() || self.close_sent) && self.out.is_empty()
    }

    /// The handshake's result, once, when it finished.
    pub(crate) fn take_established(&mut self) -> Option<Peer> {
        if self.established && !self.established_reported {
            self.established_reported = true;
            return Some(Peer::of(self.conn.common()));
        }
        None
    }

    /// The failure, once.
    pub(crate) fn take_failure(&mut self) -> Option<Error> {
        if self.failure_reported {
            return None;
        }
        let failure = self.failure.clone()?;
        self.failure_reported = true;
        Some(failure)
    }

    /// The peer's identity, once the handshake is done.
    pub(crate) fn peer(&self) -> Option<Peer> {
        self.established.then(|| Peer::of(self.conn.common()))
    }

    /// Plaintext waiting for the inner machine, or the end of the stream
    /// to tell it about: whether the owner should feed it.
    pub(crate) fn has_input(&mut self) -> bool {
        self.take_plaintext();
        !self.plain_in.is_empty()
            || !self.held.is_empty()
            || (self.ending == Ending::Pending
                || (self.failure.is_some() && self.ending == Ending::Open))
    }

    /// Queues `data` (plaintext) whole, for a hub whose machine budgets
    /// what it queues itself; it waits here for the handshake, and is
    /// sealed by the next [`transmit`](Channel::transmit).
    pub(crate) fn queue(&mut self, data: &[u8]) {
        if self.failure.is_none() && !self.close_sent {
            self.stage.extend_from_slice(data);
        }
    }

    /// Asks for `close_notify` after everything sealed so far (and the
    /// plaintext rustls has not taken yet). Reading goes on: the peer
    /// may still send until its own `close_notify`.
    pub(crate) fn close(&mut self) {
        self.close_requested = true;
    }

    /// Whether the connection is over for TLS and the close was not yet
    /// handed out (once).
    pub(crate) fn take_close(&mut self) -> bool {
        if self.is_closed() && !self.close_taken {
            self.close_taken = true;
            return true;
        }
        false
    }
}

/// Where what one call of rustls came to goes: records read to `plain`
/// (up to `cap`, the rest of the record to `held`), records rustls made to
/// `out`.
struct Sink<'a> {
    plain: &'a mut BytesMut,
    held: &'a mut BytesMut,
    cap: usize,
    out: &'a mut Out,
    /// Ciphertext rustls is done with, to drop from the input's front.
    discard: usize,
    /// The peer's close_notify was read.
    peer_closed: bool,
}

impl Sink<'_> {
    /// Handles `status`, and encrypts `write` into `out` if rustls may.
    fn handle<D>(
        &mut self,
        status: UnbufferedStatus<'_, '_, D>,
        write: Write<'_>,
    ) -> Result<Outcome, rustls::Error> {
        self.discard = status.discard;
        match status.state? {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    let record = record?;
                    self.discard += record.discard;
                    let payload = record.payload;
                    // Behind what is held already, to keep the order (a
                    // record read while sealing, with no room).
                    let room = match self.held.is_empty() {
                        true => self.cap.saturating_sub(self.plain.len()),
                        false => 0,
                    };
                    let n = room.min(payload.len());
                    self.plain.extend_from_slice(&payload[..n]);
                    self.held.extend_from_slice(&payload[n..]);
                }
                Ok(Outcome::Read)
            }
            ConnectionState::EncodeTlsData(mut data) => {
                self.out.fill(4096, |buf| match data.encode(buf) {
                    Ok(n) => Ok(n),
                    Err(EncodeError::InsufficientSize(e)) => Err(Some(e.required_size)),
                    Err(EncodeError::AlreadyEncoded) => Ok(0),
                })?;
                Ok(Outcome::Went)
            }
            // What was encoded is in `out`, ours to hand out.
            ConnectionState::TransmitTlsData(data) => {
                data.done();
                Ok(Outcome::Went)
            }
            ConnectionState::PeerClosed => {
                self.peer_closed = true;
                Ok(Outcome::Went)
            }
            ConnectionState::Closed => {
                self.peer_closed = true;
                Ok(Outcome::Idle)
            }
            ConnectionState::WriteTraffic(mut traffic) => match write {
                Write::Nothing => Ok(Outcome::Idle),
                Write::Seal(data) => {
                    let records = data.len().div_ceil(RECORD).max(1);
                    let room = data.len() + records * RECORD_OVERHEAD;
                    self.out.fill(room, |buf| encrypted(traffic.encrypt(data, buf)))?;
                    Ok(Outcome::Wrote)
                }
                Write::Close => {
                    self.out
                        .fill(RECORD_OVERHEAD, |buf| encrypted(traffic.queue_close_notify(buf)))?;
                    Ok(Outcome::Wrote)
                }
            },
            // The handshake waits for the peer; early data is not offered.
            _ => Ok(Outcome::Idle),
        }
    }
}

/// The buffer ciphertext is sealed into, without zeroing it for every
/// record: bytes `..filled` are ciphertext not yet handed out, and the
/// rest up to `buf.len()` stay initialised (zeroed once, then old
/// ciphertext), so rustls writes over them as they are. A chunk of
/// [`LEND`] bytes or more is a slice of the whole buffer, which is kept
/// (`spare`): once the driver has dropped the chunk, the buffer is ours
/// again with every byte still initialised. A driver still holding it (a
/// vectored write of several chunks) gets its next chunk in a fresh
/// buffer.
#[derive(Default)]
struct Out {
    buf: BytesMut,
    filled: usize,
    /// The whole buffer behind the last chunk handed out.
    spare: Option<Bytes>,
    /// The size of the last chunk handed out: what a fresh buffer gets.
    hint: usize,
}

impl Out {
    fn is_empty(&self) -> bool {
        self.filled == 0
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.buf.capacity().max(self.spare.as_ref().map_or(0, Bytes::len))
    }

    /// Runs `f` (an encoding or encryption into a buffer) over `room`
    /// bytes more, more if it asks for them (`Err(Some(bytes))`), and
    /// keeps what it wrote. `Err(None)`: it cannot.
    fn fill(
        &mut self,
        mut room: usize,
        mut f: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
    ) -> Result<(), rustls::Error> {
        if self.buf.capacity() == 0 {
            // The buffer behind the last chunk, if the driver dropped it
            // (no allocation per chunk, no fresh pages for a bulk stream);
            // else a new one, or the room left by a small chunk reclaimed.
            match self.spare.take().map(Bytes::try_into_mut) {
                Some(Ok(buf)) => self.buf = buf,
                _ => self.buf.reserve(self.hint.max(OUT_RESERVE)),
            }
        }
        loop {
            let (start, end) = (self.filled, self.filled + room);
            if self.buf.len() < end {
                if self.buf.capacity() < end {
                    self.buf.truncate(start); // growing carries the ciphertext alone
                }
                #[cfg(test)]
                ZEROED.with(|z| z.set(z.get() + end - self.buf.len()));
                self.buf.resize(end, 0);
            }
            match f(&mut self.buf[start..end]) {
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(Some(required)) if required > room => room = required,
                Err(_) => return Err(rustls::Error::EncryptError),
            }
        }
    }

    /// Whether the driver still holds the last chunk handed out.
    fn lent(&self) -> bool {
        self.spare.as_ref().is_some_and(|whole| !whole.is_unique())
    }

    /// The ciphertext gathered, as one chunk.
    fn take(&mut self) -> Option<Bytes> {
        let filled = std::mem::take(&mut self.filled);
        if filled == 0 {
            return None;
        }
        self.hint = filled;
        if filled < LEND {
            // Split off, and its room zeroed again next time: for a few
            // bytes, cheaper than the handle a lent buffer costs (one
            // allocation per chunk).
            self.buf.truncate(filled);
            return Some(self.buf.split().freeze());
        }
        let whole = std::mem::take(&mut self.buf).freeze();
        let chunk = whole.slice(..filled);
        self.spare = Some(whole);
        Some(chunk)
    }
}

/// An encryption's result for [`Out::fill`].
fn encrypted(result: Result<usize, EncryptError>) -> Result<usize, Option<usize>> {
    result.map_err(|e| match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(required_size)
        }
        EncryptError::EncryptExhausted => None,
    })
}
