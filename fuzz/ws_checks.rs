//! The invariants of the WebSocket fuzz target, in one place.
//!
//! Included by path from `fuzz/fuzz_targets/ws_frame.rs` and from the
//! replay test `tests/integration/fuzz_replay.rs`, which runs every file of
//! `fuzz/corpus/ws_frame/` and `fuzz/regressions/ws_frame/` through the
//! same function on stable. Only `sansnet_proto` and `bytes` are used, so
//! the file compiles in both packages.
//!
//! Input layout: one seed byte for the split pattern, then the bytes a
//! client sends a server after the handshake (frames, masked or not, or
//! garbage). Seeds: `fuzz/gen_ws_seeds.py`.
#![allow(dead_code)] // each fuzz target uses one check

use sansnet_proto::testing::{Conn, Step};
use sansnet_proto::ws::{self, Event, Limits, Role};
use sansnet_proto::{Instant, Session};

/// The connection's frame limit in the target: small, so short inputs
/// reach it (125 is the least a connection accepts).
pub(crate) const MAX_FRAME: usize = 200;
/// The connection's message limit in the target.
pub(crate) const MAX_MESSAGE: usize = 300;
/// The longest frame header: 2 bytes, 8 of length, 4 of mask key.
const MAX_HEADER: usize = 14;

/// Piece sizes (1 to 40 bytes) from a seed byte (xorshift32).
fn sizes(seed: u8) -> Vec<usize> {
    let mut rng = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    (0..64)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            (rng % 40) as usize + 1
        })
        .collect()
}

/// What a server connection did with a stream.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    events: Vec<Event>,
    wire: Vec<u8>,
}

/// Feeds `stream` to a server connection in pieces of `sizes` (one piece
/// if empty), then the end of the stream. The harness asserts the drain
/// contract after every step, and that a connection still reading leaves
/// at most one frame (header and `MAX_FRAME`) unread; the watcher that
/// what it queued stays within what it read (a pong is no bigger than
/// its masked ping, a Close reply at most 127 bytes).
fn run(stream: &[u8], sizes: &[usize]) -> Run {
    let limits = Limits::default().with_max_frame(MAX_FRAME).with_max_message(MAX_MESSAGE);
    let server = ws::Conn::new(Role::Server, limits, Instant::ZERO);
    let mut conn = Conn::new(server, Instant::ZERO).with_bound(MAX_FRAME + MAX_HEADER);
    let mut events = Vec::new();
    let mut app = |_: &mut ws::Conn, ev: Event| events.push(ev);
    let split = sansnet_proto::testing::Split::Sizes(sizes);
    for piece in sansnet_proto::testing::pieces(stream, split) {
        conn.feed(piece);
        let before = conn.consumed();
        conn.drain_with(&mut app, |s, step| {
            if let Step::Read { consumed } = step {
                let read = (consumed - before) as usize;
                assert!(s.queued() <= read + 127, "queued {} after reading {read}", s.queued());
            }
        });
    }
    conn.eof(&mut app);
    assert!(conn.session.is_finished(), "finished after the end of the stream");
    assert_eq!(conn.session.queued(), 0);
    Run { events, wire: conn.take_wire() }
}

/// Feeds the stream whole and in pieces whose sizes follow the seed byte:
/// never a panic, the same events and the same bytes back both ways,
/// every message within `MAX_MESSAGE` (text valid UTF-8), exactly one end
/// (`Closed` or `Failed`, last), and what the server wrote is frames a
/// client decodes: unmasked, control frames well formed, the last a Close
/// unless the stream simply ended.
pub(crate) fn ws_frame(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else { return };
    let whole = run(stream, &[]);
    let split = run(stream, &sizes(seed));
    assert_eq!(whole, split, "feeding in pieces (seed {seed}) changed the outcome");
    let (last, messages) = whole.events.split_last().expect("an end event");
    assert!(matches!(last, Event::Closed { .. } | Event::Failed(_)), "ends with {last:?}");
    for ev in messages {
        match ev {
            Event::Text(b) => {
                assert!(b.len() <= MAX_MESSAGE);
                assert!(core::str::from_utf8(b).is_ok(), "a text message is UTF-8");
            }
            Event::Binary(b) => assert!(b.len() <= MAX_MESSAGE),
            other => panic!("{other:?} before the end"),
        }
    }
    let limits = Limits::default().with_max_frame(1 << 20).with_max_message(1 << 20);
    let mut decoder = ws::FrameDecoder::new(Role::Client, &limits);
    let mut wire = bytes::BytesMut::from(&whole.wire[..]);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut wire).expect("the server's frames decode") {
        frames.push(frame);
    }
    assert!(wire.is_empty(), "a partial frame written");
    let closes = frames.iter().filter(|f| f.opcode == ws::Opcode::Close).count();
    assert!(closes <= 1, "at most one Close");
    match last {
        Event::Failed(e) => {
            let close = frames.last().expect("a Close after a failure");
            assert_eq!(close.opcode, ws::Opcode::Close);
            assert_eq!(close.payload[..2], e.close_code().0.to_be_bytes());
        }
        Event::Closed { code: Some(ws::CloseCode::ABNORMAL), .. } => assert_eq!(closes, 0),
        _ => assert_eq!(frames.last().map(|f| f.opcode), Some(ws::Opcode::Close)),
    }
}
