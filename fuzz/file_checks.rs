//! The invariants of the file-transfer fuzz targets, in one place.
//!
//! Included by path from `fuzz/fuzz_targets/file_{header,ack,trailer}.rs`
//! and from the replay test `tests/integration/fuzz_replay.rs`, which runs
//! every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
//! through the same function on stable. Only `sansnet_proto` and `bytes`
//! are used, so the file compiles in both packages.
//!
//! Input layout, every target: one seed byte for the split pattern, then
//! the bytes as they come off the wire:
//! - `file_header`: what a sender sends a [`Receiver`] (header, data,
//!   trailer, or garbage);
//! - `file_ack`: what a receiver answers a [`Sender`] of a 10-byte file
//!   (`OK OFFSET`, a bare `OK`, `ERR ...`, then `DONE ...`);
//! - `file_trailer`: what follows `t|5\nhello` to a receiver (the trailer).
#![allow(dead_code)] // each fuzz target uses one check

use bytes::Bytes;
use sansnet_proto::file::{
    Ack, ErrorCode, Header, Limits, Receiver, Refusal, Sender, decode_done, decode_trailer,
    receiver, sender,
};
use sansnet_proto::testing::{Conn, Writes};
use sansnet_proto::{App, Instant, Session};

/// The receiver's header cap in the targets: small, so short inputs reach it.
pub(crate) const HEADER_CAP: usize = 256;
/// The receiver's buffer bound in the targets.
pub(crate) const MAX_BUFFERED: usize = 64;

/// Piece sizes (1 to 40 bytes) from a seed byte (xorshift32).
fn sizes(seed: u8) -> impl Iterator<Item = usize> {
    let mut rng = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    core::iter::from_fn(move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        Some((rng % 40) as usize + 1)
    })
}

/// What a receiver did with a stream.
#[derive(Debug, PartialEq, Eq)]
struct RxRun {
    wire: Vec<u8>,
    offers: Vec<(String, u64)>,
    position: u64,
    written: Vec<u8>,
    committed: bool,
    failures: Vec<(ErrorCode, bool)>,
    finished: bool,
}

/// The receiver's application: offers accepted at 0, writes done at once.
impl App<Receiver> for RxRun {
    fn on_event(&mut self, rx: &mut Receiver, ev: receiver::Event) {
        let now = Instant::ZERO;
        match ev {
            receiver::Event::Offer { name, size } => {
                assert!(sansnet_proto::file::check_name(name.as_bytes()).is_ok(), "{name:?}");
                assert!(size <= 1 << 20);
                self.offers.push((name, size));
                rx.accept(now, 0).expect("accept an offer");
            }
            receiver::Event::Read { .. } => panic!("no prefix to read at offset 0"),
            receiver::Event::Write { offset, data } => {
                assert_eq!(offset as usize, self.written.len(), "writes in order, no gap");
                for piece in data {
                    self.written.extend_from_slice(&piece);
                    rx.written(now, piece.len());
                }
            }
            receiver::Event::Commit { .. } => {
                self.committed = true;
                rx.committed().expect("committed answers Commit");
            }
            receiver::Event::Failed { refusal, discard } => {
                self.failures.push((refusal.code, discard));
            }
        }
    }
}

/// Feeds `stream` to a receiver in pieces, whole when `pieces` is `None`,
/// then the end of the stream; checks the bounds after every step.
fn receive(stream: &[u8], pieces: Option<u8>) -> RxRun {
    let now = Instant::ZERO;
    let limits = Limits::default()
        .with_header_cap(HEADER_CAP)
        .with_max_buffered(MAX_BUFFERED)
        .with_write_batch(16)
        .with_max_size(1 << 20);
    let mut rx = Conn::new(Receiver::new(limits, now), now);
    let mut run = RxRun {
        wire: Vec::new(),
        offers: Vec::new(),
        position: 0,
        written: Vec::new(),
        committed: false,
        failures: Vec::new(),
        finished: false,
    };
    let mut rest = stream;
    let mut sizes = pieces.map(sizes);
    while !rest.is_empty() && !rx.session.is_finished() {
        let n = sizes.as_mut().and_then(Iterator::next).unwrap_or(rest.len()).min(rest.len());
        rx.read(&rest[..n], &mut run);
        rest = &rest[n..];
        // A machine that wants no more input is not fed (a driver stops
        // reading), so only one that wants it must keep its buffer small.
        assert!(
            !rx.session.wants_read() || rx.inbox().len() <= HEADER_CAP + MAX_BUFFERED + 40,
            "{} bytes left buffered while the machine wants input: {}",
            rx.inbox().len(),
            rx.session.wants_read()
        );
    }
    if rx.session.wants_read() {
        rx.eof(&mut run);
    }
    run.wire = rx.take_wire();
    run.position = rx.session.position();
    run.finished = rx.session.is_finished();
    run
}

/// The wire output is a sequence of whole protocol lines.
fn check_receiver_wire(run: &RxRun) {
    let text = String::from_utf8(run.wire.clone()).expect("the receiver writes UTF-8");
    for line in text.split_inclusive('\n') {
        assert!(line.ends_with('\n'), "an unterminated line {line:?}");
        let line = &line[..line.len() - 1];
        let ok = line.starts_with("OK ")
            || decode_done(line.as_bytes()).is_some()
            || Refusal::decode(line.as_bytes()).is_some();
        assert!(ok, "not a receiver line: {line:?}");
    }
    if run.committed {
        assert!(text.contains("DONE "), "committed without DONE");
    }
    assert!(run.failures.len() <= 1, "{:?}", run.failures);
}

/// `file_header`: any stream, whole and in pieces: the same outcome, never
/// a panic, bounded buffering, and a committed file is exactly the bytes
/// announced, hashed right.
pub(crate) fn file_header(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else { return };
    let whole = receive(stream, None);
    let split = receive(stream, Some(seed));
    assert_eq!(whole.offers, split.offers);
    assert_eq!(whole.wire, split.wire, "answers differ by split (seed {seed})");
    assert_eq!(whole.failures, split.failures);
    assert_eq!(whole.committed, split.committed);
    assert_eq!(whole.position, split.position);
    check_receiver_wire(&whole);
    if whole.committed {
        assert_eq!(whole.written, split.written);
        let (_, size) = &whole.offers[0];
        assert_eq!(whole.written.len() as u64, *size);
        let done = format!("DONE {}\n", blake3_hex(&whole.written));
        assert!(String::from_utf8_lossy(&whole.wire).ends_with(&done));
    }
    // The header codec alone: never a panic; what it accepts round-trips.
    let line_end = stream.iter().position(|&b| b == b'\n').unwrap_or(stream.len());
    let line = &stream[..line_end.min(HEADER_CAP)];
    if let Ok(h) = Header::decode(line, u64::MAX) {
        let again = h.encode();
        assert_eq!(Header::decode(&again[..again.len() - 1], u64::MAX), Ok(h));
    }
}

fn blake3_hex(data: &[u8]) -> String {
    // Through the sender: the core's own hashing, no extra dependency here.
    let tx = Sender::new("h", data.len() as u64, Limits::default(), Instant::ZERO)
        .expect("a valid name");
    let mut tx = Conn::new(tx, Instant::ZERO);
    let mut app =
        TxApp { file: Bytes::copy_from_slice(data), events: Vec::new(), now: Instant::ZERO };
    tx.read(b"OK 0\n", &mut app);
    let wire = tx.take_wire();
    // The trailer is the last line: `BLAKE3 ` and 64 hex digits.
    let hash = decode_trailer(&wire[wire.len() - 72..wire.len() - 1]).expect("a trailer last");
    hash.to_hex().to_string()
}

/// A sender's application: answers reads from `file`, records the rest.
struct TxApp {
    file: Bytes,
    events: Vec<String>,
    now: Instant,
}

impl App<Sender> for TxApp {
    fn on_event(&mut self, tx: &mut Sender, ev: sender::Event) {
        match ev {
            sender::Event::Read { offset, len } => {
                let at = offset as usize;
                assert!(at + len <= self.file.len(), "a read past the end");
                tx.supply(self.now, self.file.slice(at..at + len)).expect("supply answers Read");
            }
            sender::Event::Failed(sender::Error::BadAnswer(_)) => {
                self.events.push("BadAnswer".to_owned());
            }
            other => self.events.push(format!("{other:?}")),
        }
    }
}

/// Events of a sender of `0123456789` given `answers`; the clock moves to
/// each deadline once the answers are in.
fn send(answers: &[u8], pieces: Option<u8>) -> (Vec<String>, bool, Vec<u8>) {
    let limits = Limits::default().with_chunk(3).with_max_buffered(8);
    let now = Instant::ZERO;
    let tx = Sender::new("f", 10, limits, now).expect("a valid name");
    let mut tx = Conn::new(tx, now).with_writes(Writes::Report);
    let file = Bytes::from_static(b"0123456789");
    let mut app = TxApp { file, events: Vec::new(), now };
    let mut rest = answers;
    let mut sizes = pieces.map(sizes);
    tx.drain(&mut app);
    while !rest.is_empty() && !tx.session.is_finished() {
        let n = sizes.as_mut().and_then(Iterator::next).unwrap_or(rest.len()).min(rest.len());
        tx.read(&rest[..n], &mut app);
        rest = &rest[n..];
        assert!(tx.inbox().len() <= 4096 + 40, "{} bytes of answers buffered", tx.inbox().len());
    }
    for _ in 0..4 {
        let Some(at) = tx.session.poll_timeout() else { break };
        assert!(at >= tx.now, "a deadline in the past");
        app.now = at;
        tx.timeout(at, &mut app);
    }
    (app.events, tx.session.is_finished(), tx.take_wire())
}

/// `file_ack`: any answers, whole and in pieces: the same events, never a
/// panic; at most one outcome; the ack codec alone never panics and never
/// uses more bytes than it has.
pub(crate) fn file_ack(data: &[u8]) {
    let Some((&seed, answers)) = data.split_first() else { return };
    let (whole, done_whole, wire) = send(answers, None);
    let (split, done_split, _) = send(answers, Some(seed));
    assert_eq!(whole, split, "events differ by split (seed {seed})");
    assert_eq!(done_whole, done_split);
    let outcomes = whole.iter().filter(|e| !e.starts_with("Accepted")).count();
    assert!(outcomes <= 1, "{whole:?}");
    assert!(wire.starts_with(b"f|10\n"), "the header first");
    if whole.iter().any(|e| e.starts_with("Done")) {
        let trailer = format!("BLAKE3 {}\n", blake3_hex(b"0123456789"));
        assert!(wire.ends_with(trailer.as_bytes()), "Done without the trailer sent");
    }
    if let Ok(Some((_, used))) = Ack::decode(answers) {
        assert!(used <= answers.len());
    }
}

/// `file_trailer`: `t|5\nhello` and then anything: DONE only for the right
/// trailer, whole and in pieces alike; the trailer and DONE codecs never
/// panic, and what they accept is 64 hex digits of the right hash.
pub(crate) fn file_trailer(data: &[u8]) {
    let Some((&seed, tail)) = data.split_first() else { return };
    let mut stream = b"t|5\nhello".to_vec();
    stream.extend_from_slice(tail);
    let whole = receive(&stream, None);
    let split = receive(&stream, Some(seed));
    assert_eq!(whole.wire, split.wire, "answers differ by split (seed {seed})");
    check_receiver_wire(&whole);
    let right = format!("BLAKE3 {}", blake3_hex(b"hello"));
    let line_end = tail.iter().position(|&b| b == b'\n');
    let good = line_end.is_some_and(|i| {
        let line = &tail[..i];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.eq_ignore_ascii_case(right.as_bytes()) && line.starts_with(b"BLAKE3 ")
    });
    assert_eq!(whole.committed, good, "{:?}", String::from_utf8_lossy(tail));
    for codec in [decode_trailer, decode_done] {
        let line = &tail[..line_end.unwrap_or(tail.len())];
        if let Some(h) = codec(line) {
            assert_eq!(line.len(), 7 - usize::from(line.starts_with(b"DONE ")) * 2 + 64);
            assert!(h.to_hex().eq_ignore_ascii_case(
                core::str::from_utf8(&line[line.len() - 64..]).expect("hex")
            ));
        }
    }
}
