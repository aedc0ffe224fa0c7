//! One TLS connection's record layer between ciphertext and plaintext: the
//! part the [`Tls`](crate::Tls) session and the [`TlsHub`](crate::TlsHub)
//! share. It owns the rustls connection and the plaintext that has been
//! decrypted but not yet taken by the inner machine, and it does the
//! bookkeeping that maps ciphertext written by the driver back to the
//! plaintext the inner machine handed over.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rustls::Connection;
use sansnet_proto::Instant;

use crate::{Error, Limits, Peer};

/// What the output buffer asks for after each chunk: one record and its
/// overhead at least, so that a small answer fits without growing.
const OUT_RESERVE: usize = 512;

/// The most plaintext one record carries: small pieces of the inner
/// machine's output are gathered up to it.
const RECORD: usize = 16 * 1024;

/// What handing rustls plaintext came to.
enum Sealed {
    /// It took some.
    Took,
    /// It takes no more until its records are written.
    Full,
    /// The inner machine has nothing more for now.
    Drained,
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

/// A TLS connection's record layer (see the [module docs](self)).
pub(crate) struct Channel {
    conn: Connection,
    limits: Limits,
    /// Decrypted bytes the inner machine has not consumed.
    pub(crate) plain_in: BytesMut,
    /// Plaintext from the inner machine that rustls did not take yet.
    leftover: Option<Bytes>,
    /// Small pieces of plaintext gathered into one record, before
    /// `leftover`; empty but for what rustls did not take.
    stage: Vec<u8>,
    /// Plaintext handed to rustls since the last ciphertext chunk.
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
    out: BytesMut,
    /// The size of the last chunk handed out: what `out` asks for next.
    out_hint: usize,
}

impl Channel {
    pub(crate) fn new(conn: Connection, limits: Limits, now: Instant) -> Channel {
        Channel {
            conn,
            limits,
            plain_in: BytesMut::new(),
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
            out: BytesMut::new(),
            out_hint: 0,
        }
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
        self.failure.is_none()
            && self.ending == Ending::Open
            && self.plain_in.len() < self.limits.max_plaintext
            && self.conn.wants_read()
    }

    /// Consumes a prefix of `buf` (ciphertext) until the plaintext waiting
    /// for the inner machine reaches its cap. Returns whether anything was
    /// consumed.
    pub(crate) fn receive(&mut self, buf: &mut BytesMut) -> bool {
        let mut progressed = false;
        while self.wants_read() && !buf.is_empty() {
            // rustls takes at most a few KiB per call (its buffer grows by
            // 4 KiB up to one record): fill it, then decrypt once.
            let mut took = false;
            while !buf.is_empty() {
                match self.conn.read_tls(&mut &buf[..]) {
                    Ok(0) | Err(_) => break, // its buffer is full
                    Ok(n) => {
                        buf.advance(n);
                        took = true;
                    }
                }
            }
            if !took {
                break;
            }
            progressed = true;
            self.process();
        }
        progressed
    }

    /// The peer ended its side of the stream.
    pub(crate) fn receive_eof(&mut self) {
        if self.ending != Ending::Open || self.failure.is_some() {
            return;
        }
        // An empty read tells rustls the stream ended.
        let _ = self.conn.read_tls(&mut io::empty());
        self.process();
        if self.ending == Ending::Open && self.failure.is_none() {
            // No close_notify and no error from rustls: the peer cut the
            // stream (during the handshake, or between records).
            self.fail(Error::Truncated);
        }
    }

    fn process(&mut self) {
        if let Err(e) = self.conn.process_new_packets() {
            self.fail(Error::from_rustls(e, self.established));
            return;
        }
        if !self.established && !self.conn.is_handshaking() {
            self.established = true;
        }
        self.take_plaintext();
    }

    /// Moves decrypted bytes out of rustls, up to the cap (rustls keeps
    /// what did not fit, and reads no more ciphertext until it is taken).
    pub(crate) fn take_plaintext(&mut self) {
        if self.failure.is_some() {
            return;
        }
        while self.plain_in.len() < self.limits.max_plaintext {
            let mut reader = self.conn.reader();
            match reader.fill_buf() {
                Ok([]) => {
                    // close_notify: a clean end.
                    self.ending = Ending::Pending;
                    return;
                }
                Ok(chunk) => {
                    let n = chunk.len().min(self.limits.max_plaintext - self.plain_in.len());
                    self.plain_in.extend_from_slice(&chunk[..n]);
                    reader.consume(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // UnexpectedEof: the transport ended without close_notify.
                    self.fail(Error::Truncated);
                    return;
                }
            }
        }
    }

    /// Whether the inner machine should now be told that the stream ended
    /// (every plaintext byte consumed first). Marks it told.
    pub(crate) fn take_eof(&mut self) -> bool {
        let ended = self.ending == Ending::Pending
            || (self.failure.is_some() && self.ending == Ending::Open);
        if ended && self.plain_in.is_empty() {
            self.ending = Ending::Told;
            return true;
        }
        false
    }

    fn fail(&mut self, error: Error) {
        if self.failure.is_none() {
            self.failure = Some(error);
            self.plain_in.clear();
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
    /// What the inner machine has ready goes out as one chunk: small
    /// pieces (an HTTP head, then its body) are gathered into one record,
    /// and the records of everything rustls took are handed out together,
    /// `close_notify` with them when the inner machine is done. One answer
    /// is one record and one write for the driver.
    pub(crate) fn transmit(
        &mut self,
        mut next: impl FnMut() -> Option<Bytes>,
        finished: impl Fn() -> bool,
    ) -> Option<Bytes> {
        loop {
            if self.failure.is_some() || self.close_sent || !self.established {
                return self.flush();
            }
            match self.seal_next(&mut next) {
                // A hub's connection has no rustls buffer limit: bounded
                // here.
                Sealed::Took if self.plain_unattributed >= self.limits.write_chunk => {
                    return self.flush();
                }
                Sealed::Took => {}
                Sealed::Full => return self.flush(),
                Sealed::Drained => {
                    if self.stage.is_empty()
                        && self.leftover.is_none()
                        && (finished() || self.close_requested)
                    {
                        self.conn.send_close_notify();
                        self.close_sent = true;
                    }
                    return self.flush();
                }
            }
        }
    }

    /// Hands rustls the next plaintext: what it did not take before
    /// first, then the inner machine's pieces, the small ones gathered
    /// up to a record.
    fn seal_next(&mut self, next: &mut impl FnMut() -> Option<Bytes>) -> Sealed {
        if !self.stage.is_empty() {
            let taken = self.write_plain_stage();
            return if taken { Sealed::Took } else { Sealed::Full };
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
                    let room = RECORD - self.stage.len();
                    if more.len() >= room {
                        self.stage.extend_from_slice(&more[..room]);
                        if more.len() > room {
                            self.leftover = Some(more.slice(room..));
                        }
                        break;
                    }
                    self.stage.extend_from_slice(&more);
                    match next() {
                        Some(p) => more = p,
                        None => break,
                    }
                }
                let taken = self.write_plain_stage();
                return if taken { Sealed::Took } else { Sealed::Full };
            }
        }
        let taken = self.conn.writer().write(&piece).unwrap_or(0);
        self.plain_unattributed += taken;
        if taken < piece.len() {
            self.leftover = Some(piece.slice(taken..));
        }
        if taken == 0 { Sealed::Full } else { Sealed::Took }
    }

    /// Seals what is staged (as much as rustls takes); whether it took any.
    fn write_plain_stage(&mut self) -> bool {
        let taken = self.conn.writer().write(&self.stage).unwrap_or(0);
        self.plain_unattributed += taken;
        self.stage.drain(..taken);
        taken > 0
    }

    fn flush(&mut self) -> Option<Bytes> {
        if !self.conn.wants_write() {
            return None;
        }
        // Records go into one buffer that is handed out a chunk at a time
        // and reused once the driver has written (and dropped) the chunk
        // (reserving here, not when the chunk is handed out, lets the
        // buffer be reclaimed): no allocation per record, and no fresh
        // pages for a bulk stream.
        self.out.reserve(self.out_hint.max(OUT_RESERVE));
        let mut out = std::mem::take(&mut self.out).writer();
        while self.conn.wants_write() && out.get_ref().len() < self.limits.write_chunk {
            match self.conn.write_tls(&mut out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.out = out.into_inner();
        if self.out.is_empty() {
            return None;
        }
        let chunk = self.out.split().freeze();
        self.out_hint = chunk.len();
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
        self.in_flight.is_empty() && !self.conn.wants_write()
    }

    /// The connection is over for TLS: failed (its alert handed out), or
    /// `close_notify` handed out after the inner machine's last bytes.
    pub(crate) fn is_closed(&self) -> bool {
        (self.failure.is_some() || self.close_sent) && !self.conn.wants_write()
    }

    /// The handshake's result, once, when it finished.
    pub(crate) fn take_established(&mut self) -> Option<Peer> {
        if self.established && !self.established_reported {
            self.established_reported = true;
            return Some(Peer::of(&self.conn));
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
        self.established.then(|| Peer::of(&self.conn))
    }

    /// Plaintext waiting for the inner machine, or the end of the stream
    /// to tell it about: whether the owner should feed it.
    pub(crate) fn has_input(&mut self) -> bool {
        self.take_plaintext();
        !self.plain_in.is_empty()
            || (self.ending == Ending::Pending
                || (self.failure.is_some() && self.ending == Ending::Open))
    }

    /// Queues `data` (plaintext) whole, for a hub whose machine budgets
    /// what it queues itself (the buffer limit is off for hub
    /// connections). Before the handshake finishes rustls holds it.
    pub(crate) fn seal(&mut self, data: &[u8]) {
        if self.failure.is_none() && !self.close_sent {
            let _ = self.conn.writer().write_all(data);
            self.plain_unattributed += data.len();
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
