//! The invariants of the chat fuzz targets, in one place.
//!
//! Included by path from `fuzz/fuzz_targets/chat_frames.rs` and
//! `fuzz/fuzz_targets/chat_message.rs`, and from the replay test
//! `tests/integration/fuzz_replay.rs`, which runs every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through the same
//! function on stable. Each check takes one raw fuzz input and panics when
//! an invariant breaks. Only `sansnet_proto` and `bytes` are used, so the
//! file compiles in both packages.
//!
//! Input layouts (seeds in `fuzz/corpus/` follow them):
//! - `chat_frames`: one seed byte for the split pattern, then the byte
//!   stream a chat client sends.
//! - `chat_message`: the bytes as is: one frame for `ClientMessage::parse`,
//!   and the stream one room member sends.
#![allow(dead_code)] // each fuzz target uses one check

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use sansnet_proto::chat::{ClientMessage, Event, FrameError, Limits, Room, ServerEvent, Splitter};
use sansnet_proto::testing::{Conns, HubApp, HubConns};
use sansnet_proto::{ConnId, Instant};

/// The splitter's frame limit in `chat_frames`: small, so short inputs
/// reach it.
pub(crate) const MAX_FRAME: usize = 256;
/// The splitter's depth limit in `chat_frames`.
pub(crate) const MAX_DEPTH: u32 = 8;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

// ---------------------------------------------------------------------------
// chat_frames: the Splitter

/// Splits the stream whole and in pieces whose sizes (0 to 40 bytes) follow
/// the seed byte: never a panic, the same frames and the same verdict both
/// ways, every frame a `{`...`}` of at most [`MAX_FRAME`] bytes found in the
/// stream after whitespace only, never more than [`MAX_FRAME`] bytes kept in
/// the buffer, and each byte examined at most once.
pub(crate) fn chat_frames(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else { return };
    let whole = split_stream(stream, core::iter::empty());
    let mut rng = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    let sizes = core::iter::from_fn(move || {
        // xorshift32
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        Some((rng % 41) as usize)
    });
    let split = split_stream(stream, sizes);
    assert_eq!(whole, split, "feeding in pieces (seed {seed}) changed the outcome");
    check_frames_in_stream(stream, &whole);
}

#[derive(Debug, PartialEq, Eq)]
struct Split {
    frames: Vec<Bytes>,
    /// `Ok(rest)`: the stream ended without an error and `rest` (a partial
    /// frame) was left in the buffer.
    verdict: Result<Vec<u8>, FrameError>,
    mid_frame: bool,
}

/// Feeds `stream` in pieces of the given sizes (the rest at once when the
/// sizes run out), taking every frame after each piece.
fn split_stream(stream: &[u8], mut sizes: impl Iterator<Item = usize>) -> Split {
    let mut s = Splitter::new().with_max_frame(MAX_FRAME).with_max_depth(MAX_DEPTH);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut fed = 0usize;
    loop {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        fed += n;
        loop {
            match s.next_frame(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.len() >= 2, "frame {frame:?} shorter than {{}}");
                    assert_eq!(
                        frame.first(),
                        Some(&b'{'),
                        "frame {frame:?} does not start with {{"
                    );
                    assert_eq!(frame.last(), Some(&b'}'), "frame {frame:?} does not end with }}");
                    assert!(frame.len() <= MAX_FRAME, "frame of {} bytes", frame.len());
                    assert!(s.error().is_none());
                    frames.push(frame);
                }
                Ok(None) => {
                    assert!(buf.len() <= MAX_FRAME, "{} bytes kept in the buffer", buf.len());
                    assert_eq!(s.is_mid_frame(), !buf.is_empty(), "mid-frame vs buffer");
                    break;
                }
                Err(e) => {
                    assert_eq!(s.error(), Some(e), "error() after {e:?}");
                    assert_eq!(s.next_frame(&mut buf), Err(e), "the error is not sticky");
                    assert!(s.bytes_inspected() <= fed as u64, "bytes examined twice");
                    return Split { frames, verdict: Err(e), mid_frame: s.is_mid_frame() };
                }
            }
        }
        assert!(s.bytes_inspected() <= fed as u64, "bytes examined twice");
        if rest.is_empty() {
            return Split { frames, verdict: Ok(buf.to_vec()), mid_frame: s.is_mid_frame() };
        }
    }
}

/// The frames are the stream's bytes in order, with only whitespace between
/// them, and what is left is the rest of the stream after whitespace.
fn check_frames_in_stream(stream: &[u8], split: &Split) {
    let mut pos = 0;
    for frame in &split.frames {
        while pos < stream.len() && is_ws(stream[pos]) {
            pos += 1;
        }
        assert!(
            stream[pos..].starts_with(frame),
            "frame {frame:?} is not the next object at {pos}"
        );
        pos += frame.len();
    }
    while pos < stream.len() && is_ws(stream[pos]) {
        pos += 1;
    }
    match &split.verdict {
        Ok(rest) => {
            assert_eq!(&rest[..], &stream[pos..], "bytes left in the buffer");
            if !rest.is_empty() {
                assert_eq!(rest[0], b'{', "a partial frame starts with {{");
            }
        }
        Err(FrameError::UnexpectedByte(b)) => {
            assert_eq!(stream.get(pos), Some(b), "UnexpectedByte is not the next byte");
            assert_ne!(*b, b'{');
        }
        Err(FrameError::TooLarge) => {
            assert_eq!(stream.get(pos), Some(&b'{'));
            assert!(stream.len() - pos > MAX_FRAME, "TooLarge with {} bytes", stream.len() - pos);
        }
        Err(FrameError::TooDeep) => assert_eq!(stream.get(pos), Some(&b'{')),
        Err(e) => panic!("unknown frame error {e:?}"),
    }
}

// ---------------------------------------------------------------------------
// chat_message: ClientMessage::parse, and a Room fed by one member

/// `ClientMessage::parse` never panics and a parsed message survives
/// `encode()` then `parse()`; then a room of three connections (one member
/// that keeps up, one that never reads, and the one sending `data`) is
/// driven by the drain contract: every transmitted `Bytes` is one valid
/// NDJSON `ServerEvent` line, nothing goes to a closed connection, the
/// stalled member never holds more than the budget, and every member that
/// joined leaves once.
pub(crate) fn chat_message(data: &[u8]) {
    if let Ok(msg) = ClientMessage::parse(data) {
        let line = msg.encode();
        assert_eq!(line.last(), Some(&b'\n'), "encode() without the newline");
        assert_eq!(ClientMessage::parse(&line), Ok(msg.clone()), "encode() then parse()");
        // The encoded line is exactly one frame.
        let mut buf = BytesMut::from(&line[..]);
        let mut s = Splitter::new();
        let frame = s.next_frame(&mut buf).expect("encoded message splits");
        assert_eq!(frame.as_deref(), Some(&line[..line.len() - 1]));
        assert_eq!(s.next_frame(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }
    drive_room(data);
}

/// Unsent budget of the room in `chat_message`: small, so evictions happen.
pub(crate) const BUDGET: usize = 2048;

const KEEPS_UP: ConnId = ConnId(1);
const STALLED: ConnId = ConnId(2);
const SENDER: ConnId = ConnId(3);

/// What the room's events say, checked as they come.
#[derive(Default)]
struct Oracle {
    members: BTreeMap<ConnId, String>,
    left: BTreeSet<ConnId>,
    /// Connections sent an error that closes.
    fatal: BTreeSet<ConnId>,
}

impl HubApp<Room> for Oracle {
    fn on_event(&mut self, conns: &Conns, ev: Event) {
        match ev {
            Event::Joined { conn, name } => {
                assert!(!conns[&conn].closing, "{conn:?} joined after its Close");
                assert!(!self.members.values().any(|n| *n == name), "name {name} twice");
                assert!(self.members.insert(conn, name).is_none(), "{conn:?} joined twice");
            }
            Event::Left { conn, name, .. } => {
                assert_eq!(self.members.remove(&conn), Some(name), "Left without Joined");
                assert!(self.left.insert(conn), "{conn:?} left twice");
            }
            Event::Error { conn, code, .. } => {
                if code.closes() {
                    self.fatal.insert(conn);
                }
            }
            Event::Evicted { conn, unsent } => {
                assert!(unsent <= BUDGET || conn == STALLED, "{conn:?} evicted at {unsent}");
            }
            other => panic!("a lone room said {other:?}"),
        }
    }

    /// Every line is one canonical NDJSON event; no connection holds more
    /// unsent bytes than the budget, but for one event when nothing else
    /// was pending; a fatal error comes with its Close.
    fn on_polled(&mut self, conns: &Conns, sent: &[(ConnId, Bytes)]) {
        for (_, data) in sent {
            assert_eq!(data.last(), Some(&b'\n'), "line without a newline: {data:?}");
            let lines = data.iter().filter(|&&b| b == b'\n').count();
            assert_eq!(lines, 1, "not one NDJSON line: {data:?}");
            let ev = ServerEvent::decode(data)
                .unwrap_or_else(|e| panic!("invalid event line {data:?}: {e}"));
            assert_eq!(&ev.encode()[..], &data[..], "event line is not canonical");
        }
        for (conn, c) in conns {
            let pending: usize = c.outq.iter().map(Bytes::len).sum();
            assert!(
                pending <= BUDGET || c.outq.len() == 1,
                "{conn:?} holds {pending} unsent bytes (budget {BUDGET})"
            );
        }
        for conn in &self.fatal {
            assert!(conns[conn].closing, "fatal error without Close for {conn:?}");
        }
    }
}

/// The room on the harness: every connection but the stalled one has its
/// bytes written (and `Sent` reported, which must produce no output) after
/// every drain.
fn drive_room(data: &[u8]) {
    let limits = Limits::default().with_max_frame(1024).with_outbound_budget(BUDGET);
    let mut h = HubConns::new(Room::new(limits), Instant::ZERO);
    h.quiet_sent = true;
    let mut o = Oracle::default();
    for (conn, peer) in [(KEEPS_UP, "10.0.0.1:4001"), (STALLED, "10.0.0.2:4002"), (SENDER, "")] {
        h.open(conn, peer, &mut o);
    }
    h.conn(STALLED).stalled = true;
    let script: [(ConnId, &[u8]); 3] = [
        (KEEPS_UP, br#"{"username":"alice"}"#),
        (STALLED, b"{\"username\":\"bob\"}\n"),
        (SENDER, data),
    ];
    for (conn, bytes) in script {
        h.read(conn, bytes, &mut o);
    }
    // Everyone ends its stream, then the driver forgets the closed ones.
    for conn in [SENDER, KEEPS_UP, STALLED] {
        h.offer(conn, &mut o);
        if !h.is_closing(conn) {
            h.eof(conn, &mut o);
        }
        assert!(h.is_closing(conn), "{conn:?} not closed after Eof");
    }
    for conn in [KEEPS_UP, STALLED, SENDER] {
        h.gone(conn, &mut o);
    }
    assert!(o.members.is_empty(), "members never left: {:?}", o.members);
    assert_eq!(h.hub.len(), 0);
    assert_eq!(h.hub.connections(), 0);
}
