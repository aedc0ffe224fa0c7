//! The WebSocket machine's tests: RFC 6455 examples, every rule of the
//! connection, the handshake, and properties over random streams.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::handshake::{self, Rejection};
use super::utf8::Utf8;
use super::*;
use crate::http::{self, HeadParser};
use crate::testing::{self as t, Split};
use crate::{Instant, Session};

const T0: Instant = Instant::ZERO;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// RFC 6455 §5.7: a single-frame masked text message "Hello".
const MASKED_HELLO: [u8; 11] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

/// One frame as a client sends it (masked with `KEY`).
fn cf(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(&mut out, fin, opcode, payload, Some(KEY));
    out.to_vec()
}

/// One final frame as a client sends it.
fn c(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    cf(true, opcode, payload)
}

/// One frame as a server sends it (unmasked).
fn sf(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(&mut out, fin, opcode, payload, None);
    out.to_vec()
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A harnessed connection, its events collected.
struct Run {
    conn: t::Conn<Conn>,
    events: Vec<Event>,
}

impl Run {
    fn new(role: Role, limits: Limits) -> Run {
        let bound = limits.max_frame + 14;
        Run {
            conn: t::Conn::new(Conn::new(role, limits, T0), T0).with_bound(bound),
            events: Vec::new(),
        }
    }
    fn server() -> Run {
        Run::new(Role::Server, Limits::default())
    }
    fn read(&mut self, bytes: &[u8]) -> &mut Run {
        self.read_split(bytes, Split::Whole)
    }
    fn read_split(&mut self, bytes: &[u8], split: Split<'_>) -> &mut Run {
        let events = &mut self.events;
        self.conn.read_split(bytes, split, &mut |_: &mut Conn, ev| events.push(ev));
        self
    }
    fn eof(&mut self) {
        let events = &mut self.events;
        self.conn.eof(&mut |_: &mut Conn, ev| events.push(ev));
    }
    fn advance(&mut self) -> Option<Instant> {
        let events = &mut self.events;
        self.conn.advance(&mut |_: &mut Conn, ev| events.push(ev))
    }
    fn drain(&mut self) {
        let events = &mut self.events;
        self.conn.drain(&mut |_: &mut Conn, ev| events.push(ev));
    }
    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }
    /// The frames written, decoded as the peer (of the other role) would.
    fn take_frames(&mut self) -> Vec<Frame> {
        let wire = self.conn.take_wire();
        let peer = match self.conn.session.role() {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        decode_all(peer, &wire)
    }
    fn finished(&self) -> bool {
        self.conn.session.is_finished()
    }
}

fn decode_all(role: Role, wire: &[u8]) -> Vec<Frame> {
    let limits = Limits::default().with_max_frame(1 << 20).with_max_message(1 << 20);
    let mut d = FrameDecoder::new(role, &limits);
    let mut buf = BytesMut::from(wire);
    let mut frames = Vec::new();
    while let Some(f) = d.decode(&mut buf).unwrap() {
        frames.push(f);
    }
    assert!(buf.is_empty() && !d.has_partial(), "a partial frame on the wire");
    frames
}

fn text(s: &str) -> Event {
    Event::Text(Bytes::copy_from_slice(s.as_bytes()))
}

fn frame(opcode: Opcode, payload: &[u8]) -> Frame {
    Frame { fin: true, opcode, payload: Bytes::copy_from_slice(payload) }
}

fn close_frame(code: u16, reason: &[u8]) -> Frame {
    frame(Opcode::Close, &close_payload(code, reason))
}

// ---------------------------------------------------------------------------
// RFC 6455 §5.7 examples, whole, byte by byte, with trailing bytes

#[test]
fn rfc_masked_hello_three_ways() {
    for split in [Split::Whole, Split::Bytewise, Split::Sizes(&[3, 5])] {
        let mut r = Run::server();
        r.read_split(&MASKED_HELLO, split);
        assert_eq!(r.take_events(), [text("Hello")], "{split:?}");
    }
    // Trailing bytes: the start of the next frame stays in the buffer.
    let mut r = Run::server();
    r.read(&cat(&[&MASKED_HELLO, &[0x81, 0x85, 0x37]]));
    assert_eq!(r.take_events(), [text("Hello")]);
    assert_eq!(r.conn.inbox().len(), 3, "the header is consumed once whole, not before");
    r.read(&MASKED_HELLO[3..]);
    assert_eq!(r.take_events(), [text("Hello")]);
    assert!(r.conn.inbox().is_empty());
}

#[test]
fn rfc_unmasked_examples_as_a_client() {
    let mut r = Run::new(Role::Client, Limits::default());
    // A single-frame unmasked text message.
    r.read(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(r.take_events(), [text("Hello")]);
    // A fragmented unmasked text message.
    r.read(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
    assert!(r.take_events().is_empty(), "no event before the last fragment");
    r.read(&[0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(r.take_events(), [text("Hello")]);
    // An unmasked ping: the client's pong is masked, same payload.
    r.read(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    let wire = r.conn.take_wire();
    assert_eq!(wire[0], 0x8a);
    assert_eq!(wire[1], 0x85, "masked, 5 bytes");
    assert_eq!(decode_all(Role::Server, &wire), [frame(Opcode::Pong, b"Hello")]);
}

#[test]
fn rfc_ping_and_masked_pong_as_a_server() {
    let mut r = Run::server();
    // A masked ping "Hello": the server's pong is unmasked, same payload.
    r.read(&c(Opcode::Ping, b"Hello"));
    assert_eq!(r.conn.take_wire(), [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    // The RFC's masked pong "Hello", unsolicited: ignored.
    r.read(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert!(r.take_events().is_empty() && r.conn.take_wire().is_empty());
    assert!(r.conn.session.is_open());
}

#[test]
fn rfc_length_forms() {
    // 256 bytes: the 16-bit form, split, masked and not; 64 KiB: the
    // 64-bit form, whole (kept light for Miri).
    let payload: Vec<u8> = (0..=255u8).collect();
    let wire = sf(true, Opcode::Binary, &payload);
    assert_eq!(wire[..4], [0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(wire.len(), frame_len(256, false));
    let mut r = Run::new(Role::Client, Limits::default());
    r.read_split(&wire, Split::Sizes(&[3, 100]));
    assert_eq!(r.take_events(), [Event::Binary(payload.clone().into())]);
    let mut r = Run::server();
    r.read_split(&cf(true, Opcode::Binary, &payload), Split::Sizes(&[1, 5, 100]));
    assert_eq!(r.take_events(), [Event::Binary(payload.into())]);

    let big = vec![0x5a; 65536];
    let wire = sf(true, Opcode::Binary, &big);
    assert_eq!(wire[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert_eq!(wire.len(), frame_len(65536, false));
    let mut r = Run::new(Role::Client, Limits::default());
    r.read_split(&wire, Split::At(&[5, 30_000]));
    assert_eq!(r.take_events(), [Event::Binary(big.into())]);
    // 125 is the last 7-bit length, 126 the first 16-bit one.
    assert_eq!(sf(true, Opcode::Binary, &[0; 125])[1], 125);
    assert_eq!(sf(true, Opcode::Binary, &[0; 126])[1], 126);
}

// ---------------------------------------------------------------------------
// Messages

#[test]
fn control_frames_between_fragments() {
    let mut r = Run::server();
    let stream = cat(&[
        &cf(false, Opcode::Text, b"Hel"),
        &c(Opcode::Ping, b"p1"),
        &cf(false, Opcode::Continuation, b""),
        &c(Opcode::Pong, b"unsolicited"),
        &cf(true, Opcode::Continuation, b"lo"),
        &cf(false, Opcode::Binary, &[1, 2]),
        &cf(true, Opcode::Continuation, &[3]),
    ]);
    r.read_split(&stream, Split::Bytewise);
    assert_eq!(r.take_events(), [text("Hello"), Event::Binary(Bytes::from_static(&[1, 2, 3]))]);
    assert_eq!(r.take_frames(), [frame(Opcode::Pong, b"p1")]);
}

#[test]
fn pong_keeps_its_place_among_outgoing_frames() {
    let mut r = Run::server();
    r.conn.session.send_text(b"first").unwrap();
    r.read(&c(Opcode::Ping, b"x"));
    r.conn.session.send_binary(b"last").unwrap();
    r.drain();
    assert_eq!(
        r.take_frames(),
        [frame(Opcode::Text, b"first"), frame(Opcode::Pong, b"x"), frame(Opcode::Binary, b"last")]
    );
}

#[test]
fn utf8_fails_fast_in_the_bad_fragment() {
    // The second byte cannot follow 0xF0: the first fragment fails, before
    // the message ends.
    let mut r = Run::server();
    r.read(&cf(false, Opcode::Text, &[b'a', 0xF0, 0x28]));
    assert_eq!(r.take_events(), [Event::Failed(Error::InvalidUtf8)]);
    assert_eq!(r.take_frames()[0].payload[..2], 1007u16.to_be_bytes());
    // A valid prefix at a fragment's end waits; the bad continuation fails
    // in the next fragment (0xE0 0x80 would be overlong).
    let mut r = Run::server();
    r.read(&cf(false, Opcode::Text, &[b'a', 0xE0]));
    assert!(r.take_events().is_empty());
    r.read(&cf(false, Opcode::Continuation, &[0x80]));
    assert_eq!(r.take_events(), [Event::Failed(Error::InvalidUtf8)]);
    // A message that ends inside a sequence.
    let mut r = Run::server();
    r.read(&cat(&[&cf(false, Opcode::Text, &[0xE2, 0x82]), &cf(true, Opcode::Continuation, b"")]));
    assert_eq!(r.take_events(), [Event::Failed(Error::InvalidUtf8)]);
    // The same sequence completed across three fragments is fine.
    let mut r = Run::server();
    r.read(&cat(&[
        &cf(false, Opcode::Text, &[0xE2]),
        &cf(false, Opcode::Continuation, &[0x82]),
        &cf(true, Opcode::Continuation, &[0xAC, b'!']),
    ]));
    assert_eq!(r.take_events(), [text("€!")]);
    // Invalid in one frame; binary is never checked.
    let mut r = Run::server();
    r.read(&cat(&[&c(Opcode::Binary, &[0xFF]), &c(Opcode::Text, &[0xED, 0xA0, 0x80])]));
    assert_eq!(
        r.take_events(),
        [Event::Binary(Bytes::from_static(&[0xFF])), Event::Failed(Error::InvalidUtf8)]
    );
}

#[test]
fn utf8_validator_agrees_with_std_for_every_split() {
    let samples: [&[u8]; 8] = [
        "aé€😀z".as_bytes(),
        &[0xF4, 0x8F, 0xBF, 0xBF], // U+10FFFF
        &[0xF4, 0x90, 0x80, 0x80], // past U+10FFFF
        &[0xED, 0xA0, 0x80],       // a surrogate
        &[0xC0, 0x80],             // overlong
        &[0xE2, 0x82],             // truncated
        &[0x80],                   // a lone continuation
        &[0xF0, 0x9F, 0x98, 0x80, 0xF0],
    ];
    for s in samples {
        let expected = core::str::from_utf8(s).is_ok();
        for i in 0..=s.len() {
            for j in i..=s.len() {
                let mut v = Utf8::default();
                let ok = v.feed(&s[..i]).is_ok()
                    && v.feed(&s[i..j]).is_ok()
                    && v.feed(&s[j..]).is_ok()
                    && v.finish().is_ok();
                assert_eq!(ok, expected, "{s:x?} cut at {i}, {j}");
            }
        }
    }
}

#[test]
fn backpressure_on_undelivered_messages() {
    let mut conn = Conn::new(Role::Server, Limits::default().with_max_message(10), T0);
    let one = c(Opcode::Text, b"12345678");
    let mut buf = BytesMut::from(&cat(&[&one, &one, &one])[..]);
    conn.handle_read(T0, &mut buf);
    // 8 bytes undelivered: still reading; 16: stops, the third frame waits.
    assert!(!conn.wants_read());
    assert_eq!(buf.len(), c(Opcode::Text, b"12345678").len());
    assert!(conn.poll_event().is_some() && conn.poll_event().is_some());
    assert!(conn.wants_read());
    conn.handle_read(T0, &mut buf);
    assert!(buf.is_empty() && conn.poll_event().is_some());
}

#[test]
fn decoder_reserves_room_for_the_payload_once() {
    let mut d = FrameDecoder::new(Role::Server, &Limits::default());
    let wire = cf(true, Opcode::Binary, &[7; 5000]);
    let mut buf = BytesMut::from(&wire[..100]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert!(d.has_partial());
    assert!(buf.capacity() >= 5000, "room for the whole payload");
    buf.extend_from_slice(&wire[100..]);
    let f = d.decode(&mut buf).unwrap().unwrap();
    assert_eq!(&f.payload[..], &[7; 5000][..]);
}

// ---------------------------------------------------------------------------
// Errors: each answered with its code, then finished

/// `input` fails a server with `error`: our Close carries its code, and
/// nothing more is read.
fn fails(limits: Limits, input: &[u8], error: Error, code: u16) {
    let mut r = Run::new(Role::Server, limits);
    r.read(input);
    let events = r.take_events();
    assert_eq!(events.last(), Some(&Event::Failed(error)), "{input:x?}");
    assert_eq!(error.close_code(), CloseCode(code));
    let frames = r.take_frames();
    let close = frames.last().expect("a close frame");
    assert_eq!(close.opcode, Opcode::Close);
    assert_eq!(close.payload[..2], code.to_be_bytes(), "{error:?}");
    assert!(core::str::from_utf8(&close.payload[2..]).is_ok());
    assert!(r.finished() && !r.conn.session.wants_read());
    // Anything more is ignored.
    r.read(&MASKED_HELLO);
    assert!(r.take_events().is_empty() && r.conn.take_wire().is_empty());
}

#[test]
fn every_protocol_error_has_its_close_code() {
    let d = Limits::default();
    let unmasked = sf(true, Opcode::Text, b"hi");
    fails(d, &unmasked, Error::Unmasked, 1002);
    let mut rsv = c(Opcode::Text, b"hi");
    rsv[0] |= 0x40;
    fails(d, &rsv, Error::ReservedBits, 1002);
    for op in [0x3u8, 0x7, 0xB, 0xF] {
        fails(d, &[0x80 | op, 0x80, 0, 0, 0, 0], Error::ReservedOpcode(op), 1002);
    }
    fails(d, &[0x89, 0x80 | 126, 0, 126], Error::ControlTooLong, 1002);
    fails(d, &[0x09, 0x80, 0, 0, 0, 0], Error::FragmentedControl, 1002);
    fails(d, &c(Opcode::Continuation, b"x"), Error::UnexpectedContinuation, 1002);
    let twice = cat(&[&cf(false, Opcode::Text, b"a"), &c(Opcode::Text, b"b")]);
    fails(d, &twice, Error::ExpectedContinuation, 1002);
    fails(d, &c(Opcode::Text, &[0xFF]), Error::InvalidUtf8, 1007);
    fails(d, &c(Opcode::Close, &[3]), Error::BadClosePayload, 1002);
    fails(d, &c(Opcode::Close, &close_payload(1000, &[0xC3])), Error::BadCloseReason, 1007);
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        fails(d, &c(Opcode::Close, &close_payload(code, b"")), Error::BadCloseCode(code), 1002);
    }
}

#[test]
fn a_masked_frame_fails_a_client() {
    let mut r = Run::new(Role::Client, Limits::default());
    r.read(&MASKED_HELLO);
    assert_eq!(r.take_events(), [Event::Failed(Error::Masked)]);
    let close = r.take_frames().pop().unwrap();
    assert_eq!(close.payload[..2], 1002u16.to_be_bytes());
}

#[test]
fn sizes_are_refused_from_the_header() {
    let small = Limits::default().with_max_frame(200).with_max_message(300);
    // One frame over max_frame: only its header is sent.
    let header = &cf(true, Opcode::Binary, &[0; 201])[..8];
    fails(small, header, Error::FrameTooLarge, 1009);
    // 2^63 - 1 bytes announced: an error at once, nothing allocated.
    let huge = [0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4];
    fails(Limits::default(), &huge, Error::FrameTooLarge, 1009);
    let mut d = FrameDecoder::new(Role::Server, &Limits::default());
    let mut buf = BytesMut::from(&huge[..]);
    assert_eq!(d.decode(&mut buf), Err(Error::FrameTooLarge));
    assert!(buf.capacity() < 1024);
    assert_eq!(d.decode(&mut buf), Err(Error::FrameTooLarge), "sticky");
    // Fragments whose sum crosses max_message: the crossing header fails.
    let two = cat(&[
        &cf(false, Opcode::Text, &[b'a'; 200]),
        &cf(true, Opcode::Continuation, &[b'a'; 101])[..8],
    ]);
    fails(small, &two, Error::MessageTooLarge, 1009);
    // Exactly at the limits is fine.
    let mut r = Run::new(Role::Server, small);
    r.read(&cat(&[
        &cf(false, Opcode::Text, &[b'a'; 200]),
        &cf(true, Opcode::Continuation, &[b'a'; 100]),
    ]));
    assert!(matches!(&r.take_events()[..], [Event::Text(t)] if t.len() == 300));
    // A single frame over max_message but within max_frame.
    let limits = Limits::default().with_max_message(10);
    fails(limits, &c(Opcode::Binary, &[0; 11]), Error::MessageTooLarge, 1009);
}

// ---------------------------------------------------------------------------
// The close handshake

#[test]
fn peer_close_is_echoed_then_finished() {
    let mut r = Run::server();
    // Data after the Close is ignored.
    r.read(&cat(&[&c(Opcode::Close, &close_payload(1001, b"bye")), &MASKED_HELLO]));
    assert_eq!(
        r.take_events(),
        [Event::Closed { code: Some(CloseCode::GOING_AWAY), reason: "bye".into() }]
    );
    assert_eq!(r.take_frames(), [close_frame(1001, b"")]);
    assert!(r.finished() && !r.conn.session.wants_read() && !r.conn.session.is_open());
    assert_eq!(r.conn.session.send_text(b"late"), Err(Misuse::Closed));
    // An empty Close: code None, answered with 1000.
    let mut r = Run::server();
    r.read(&c(Opcode::Close, b""));
    assert_eq!(r.take_events(), [Event::Closed { code: None, reason: String::new() }]);
    assert_eq!(r.take_frames(), [close_frame(1000, b"")]);
    // A registered and a private code are accepted.
    for code in [1000, 1003, 1007, 1014, 3000, 4999] {
        let mut r = Run::server();
        r.read(&c(Opcode::Close, &close_payload(code, b"")));
        assert_eq!(r.take_frames(), [close_frame(code, b"")]);
    }
}

#[test]
fn our_close_waits_for_the_peer_and_ignores_data() {
    let mut r = Run::server();
    r.conn.session.close(T0, CloseCode::NORMAL, "bye");
    r.drain();
    assert_eq!(r.take_frames(), [close_frame(1000, b"bye")]);
    assert!(!r.conn.session.is_open() && !r.finished() && r.conn.session.wants_read());
    assert_eq!(r.conn.session.send_binary(b"x"), Err(Misuse::Closed));
    assert_eq!(r.conn.session.ping(b""), Err(Misuse::Closed));
    // Data and pings are ignored (no pong after our Close), but still
    // checked as frames.
    r.read(&cat(&[&MASKED_HELLO, &c(Opcode::Ping, b"p"), &cf(false, Opcode::Text, b"a")]));
    assert!(r.take_events().is_empty() && r.conn.take_wire().is_empty());
    r.read(&c(Opcode::Close, &close_payload(1000, b"")));
    assert_eq!(
        r.take_events(),
        [Event::Closed { code: Some(CloseCode::NORMAL), reason: String::new() }]
    );
    assert!(r.conn.take_wire().is_empty(), "no second Close");
    assert!(r.finished() && r.conn.session.poll_timeout().is_none());
    // A second close() does nothing.
    r.conn.session.close(T0, CloseCode::NORMAL, "");
    assert!(r.conn.session.poll_transmit().is_none());
}

#[test]
fn close_timeout_finishes_a_silent_peer() {
    let limits = Limits::default().with_close_timeout(Duration::from_secs(2));
    let mut r = Run::new(Role::Server, limits);
    r.conn.now = T0 + Duration::from_secs(10);
    r.conn.session.close(r.conn.now, CloseCode::GOING_AWAY, "");
    r.drain();
    assert_eq!(r.advance(), Some(T0 + Duration::from_secs(12)));
    assert_eq!(
        r.take_events(),
        [Event::Closed { code: Some(CloseCode::ABNORMAL), reason: String::new() }]
    );
    assert!(r.finished());
}

#[test]
fn a_protocol_error_after_our_close_sends_no_second_close() {
    let mut r = Run::server();
    r.conn.session.close(T0, CloseCode::NORMAL, "");
    r.drain();
    let _ = r.conn.take_wire();
    r.read(&sf(true, Opcode::Text, b"unmasked"));
    assert_eq!(r.take_events(), [Event::Failed(Error::Unmasked)]);
    assert!(r.conn.take_wire().is_empty() && r.finished());
}

#[test]
fn eof_before_close_is_abnormal() {
    let mut r = Run::server();
    r.read(&cf(false, Opcode::Text, b"half"));
    r.eof();
    assert_eq!(
        r.take_events(),
        [Event::Closed { code: Some(CloseCode::ABNORMAL), reason: String::new() }]
    );
    assert!(r.finished() && r.conn.take_wire().is_empty());
    // After a Close, the end of the stream adds nothing.
    let mut r = Run::server();
    r.read(&c(Opcode::Close, b""));
    r.eof();
    assert_eq!(r.take_events().len(), 1);
}

#[test]
fn close_reason_is_cut_on_a_character_boundary() {
    let mut r = Run::server();
    let long: String = core::iter::repeat_n('é', 100).collect(); // 200 bytes
    r.conn.session.close(T0, CloseCode(4000), &long);
    r.drain();
    let close = r.take_frames().pop().unwrap();
    assert_eq!(close.payload.len(), 2 + 122);
    assert!(core::str::from_utf8(&close.payload[2..]).is_ok());
}

// ---------------------------------------------------------------------------
// Sending

#[test]
fn client_frames_are_masked_from_the_seed() {
    let wire = |seed: u64| {
        let mut conn = Conn::new(Role::Client, Limits::default(), T0);
        conn.set_mask_seed(seed);
        conn.send_text(b"hello").unwrap();
        conn.poll_transmit().unwrap()
    };
    let (a, b) = (wire(1), wire(2));
    assert_eq!(a[1] & 0x80, 0x80, "mask bit");
    assert_ne!(a[2..6], b[2..6], "different seeds, different keys");
    assert_eq!(a, wire(1), "deterministic");
    assert_eq!(decode_all(Role::Server, &a), [frame(Opcode::Text, b"hello")]);
}

#[test]
fn frames_are_batched_and_encoded_frames_shared() {
    let mut conn = Conn::new(Role::Server, Limits::default(), T0);
    conn.send_text(b"a").unwrap();
    conn.ping(b"b").unwrap();
    let small = Bytes::from(sf(true, Opcode::Text, b"c"));
    conn.send_encoded(small).unwrap();
    let big = Bytes::from(sf(true, Opcode::Binary, &[9; 1000]));
    conn.send_encoded(big.clone()).unwrap();
    conn.send_text(b"d").unwrap();
    assert_eq!(conn.queued(), 3 + 3 + 3 + big.len() + 3);
    let first = conn.poll_transmit().unwrap();
    assert_eq!(decode_all(Role::Client, &first).len(), 3, "three small frames in one batch");
    let second = conn.poll_transmit().unwrap();
    assert_eq!(second.as_ptr(), big.as_ptr(), "the big frame is shared, not copied");
    assert_eq!(&conn.poll_transmit().unwrap()[..], sf(true, Opcode::Text, b"d"));
    assert!(conn.poll_transmit().is_none());
    assert_eq!(conn.queued(), 0);
    // Misuse.
    assert_eq!(conn.ping(&[0; 126]), Err(Misuse::ControlTooLong));
    let mut client = Conn::new(Role::Client, Limits::default(), T0);
    assert_eq!(client.send_encoded(Bytes::new()), Err(Misuse::NotServer));
}

#[test]
fn a_client_and_a_server_talk_and_close() {
    let mut client = Conn::new(Role::Client, Limits::default(), T0);
    client.set_mask_seed(7);
    client.send_text(b"hi server").unwrap();
    client.send_binary(&[0; 300]).unwrap();
    let mut pair = t::Pair::new(client, Conn::new(Role::Server, Limits::default(), T0), T0);
    let mut at_client = Vec::new();
    let mut at_server = Vec::new();
    // The server echoes text, then closes after binary.
    pair.run(&mut |_: &mut Conn, ev| at_client.push(ev), &mut |s: &mut Conn, ev: Event| {
        match &ev {
            Event::Text(t) => s.send_text(t).unwrap(),
            Event::Binary(_) => s.close(T0, CloseCode::NORMAL, "done"),
            _ => {}
        }
        at_server.push(ev);
    });
    assert_eq!(
        at_client,
        [text("hi server"), Event::Closed { code: Some(CloseCode::NORMAL), reason: "done".into() }]
    );
    assert_eq!(at_server.len(), 3);
    assert_eq!(
        at_server[2],
        Event::Closed { code: Some(CloseCode::NORMAL), reason: String::new() }
    );
    assert!(pair.a.session.is_finished() && pair.b.session.is_finished());
}

// ---------------------------------------------------------------------------
// The opening handshake

fn head(text: &str) -> http::RequestHead {
    let bytes = Bytes::copy_from_slice(text.as_bytes());
    let mut parser = HeadParser::new(&http::Limits::default());
    let n = parser.parse(&bytes).unwrap().unwrap();
    parser.take(bytes.slice(..n))
}

/// The RFC 6455 §1.2 sample request, with `extra` fields and `method`.
fn request(method: &str, extra: &str) -> String {
    alloc::format!(
        "{method} /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
    )
}

const GOOD: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

#[test]
fn handshake_accepts_the_rfc_request() {
    let accepted = handshake::check(&head(&request("GET", GOOD))).unwrap();
    assert_eq!(accepted.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        &accepted.response()[..],
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    );
    // Tokens in lists, any case, on several lines; subprotocols ignored.
    let browser = "GET /ws HTTP/1.1\r\nHost: x\r\nconnection: keep-alive, UPGRADE\r\nupgrade: h2c\r\nUpgrade: WebSocket\r\nSec-WebSocket-Protocol: chat\r\nsec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nsec-websocket-version: 13\r\n\r\n";
    assert!(handshake::check(&head(browser)).is_ok());
    // The client's own request passes.
    let ours = handshake::request("x:80", "/ws", "AQIDBAUGBwgJCgsMDQ4PEA==");
    assert!(handshake::check(&head(core::str::from_utf8(&ours).unwrap())).is_ok());
}

#[test]
fn handshake_rejections() {
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases: [(String, Rejection); 12] = [
        (request("POST", GOOD), Rejection::NotGet),
        (request("GET", GOOD).replacen("HTTP/1.1", "HTTP/1.0", 1), Rejection::NotHttp11),
        (request("GET", &alloc::format!("{GOOD}Content-Length: 2\r\n")), Rejection::Body),
        (request("GET", GOOD).replace("Upgrade: websocket", "Upgrade: h2c"), Rejection::NotUpgrade),
        (
            request("GET", GOOD).replace("Connection: Upgrade", "Connection: close"),
            Rejection::NotUpgrade,
        ),
        (request("GET", key), Rejection::Version),
        (request("GET", &alloc::format!("{key}Sec-WebSocket-Version: 8\r\n")), Rejection::Version),
        (request("GET", "Sec-WebSocket-Version: 13\r\n"), Rejection::NoKey),
        (
            request("GET", &GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZQ==")),
            Rejection::BadKey,
        ),
        (
            request("GET", &GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ!!")),
            Rejection::BadKey,
        ),
        (
            request("GET", &GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQE=")),
            Rejection::BadKey,
        ),
        (request("GET", &alloc::format!("{GOOD}{key}")), Rejection::BadKey),
    ];
    for (req, expected) in cases {
        assert_eq!(handshake::check(&head(&req)), Err(expected), "{req}");
    }
}

#[test]
fn rejection_responses_are_whole_http_responses() {
    for r in [Rejection::NotGet, Rejection::NoKey, Rejection::Version] {
        let bytes = r.response();
        let text = core::str::from_utf8(&bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with(&alloc::format!("HTTP/1.1 {} ", r.status())));
        assert!(head.contains(&alloc::format!("\r\nContent-Length: {}", body.len())));
        assert!(head.contains("\r\nConnection: close"));
        assert_eq!(head.contains("Sec-WebSocket-Version: 13"), r == Rejection::Version);
        assert!(!body.is_empty());
    }
    assert_eq!((Rejection::Version.status(), Rejection::NoKey.status()), (426, 400));
}

#[test]
fn client_checks_the_servers_answer() {
    let key = "AQIDBAUGBwgJCgsMDQ4PEA==";
    let request = handshake::request("x", "/ws", key);
    let accepted = handshake::check(&head(core::str::from_utf8(&request).unwrap())).unwrap();
    let mut answer = accepted.response().to_vec();
    let n = answer.len();
    answer.extend_from_slice(&[0x81, 0x00]);
    for cut in 0..n {
        assert_eq!(handshake::check_response(&answer[..cut], key), Ok(None), "{cut}");
    }
    assert_eq!(handshake::check_response(&answer, key), Ok(Some(n)));
    use handshake::BadResponse;
    let other = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_eq!(handshake::check_response(&answer, other), Err(BadResponse::Accept));
    let refused = Rejection::Version.response();
    assert_eq!(handshake::check_response(&refused, key), Err(BadResponse::Status(426)));
    assert_eq!(handshake::check_response(b"junk\r\n\r\n", key), Err(BadResponse::Status(0)));
    let missing = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(handshake::check_response(missing, key), Err(BadResponse::Accept));
    let endless = [b'a'; handshake::MAX_RESPONSE_HEAD + 1];
    assert_eq!(handshake::check_response(&endless, key), Err(BadResponse::TooLong));
}

// ---------------------------------------------------------------------------
// Properties

/// A client's message: text or binary, and how its payload is cut into
/// fragments; maybe a ping before it.
/// Text or not, payload, fragment cuts, a ping after the first fragment.
type Msg = (bool, Vec<u8>, Vec<usize>, Option<Vec<u8>>);

fn message() -> impl Strategy<Value = Msg> {
    (
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(0usize..300, 0..4),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
    )
}

/// The frames of `msgs` as a client sends them, and the events a server
/// gives for them.
fn client_stream(msgs: &[Msg]) -> (Vec<u8>, Vec<Event>) {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    for (is_text, payload, cuts, ping) in msgs {
        // Text payloads: valid UTF-8 made from the bytes.
        let payload: Vec<u8> = if *is_text {
            String::from_utf8_lossy(payload).into_owned().into_bytes()
        } else {
            payload.clone()
        };
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (payload.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(payload.len());
        let mut from = 0;
        for (i, &cut) in cuts.iter().enumerate() {
            let opcode = match (i, is_text) {
                (0, true) => Opcode::Text,
                (0, false) => Opcode::Binary,
                _ => Opcode::Continuation,
            };
            wire.extend(cf(i + 1 == cuts.len(), opcode, &payload[from..cut]));
            if let (0, Some(p)) = (i, ping) {
                wire.extend(c(Opcode::Ping, p));
            }
            from = cut;
        }
        let payload = Bytes::from(payload);
        events.push(if *is_text { Event::Text(payload) } else { Event::Binary(payload) });
    }
    (wire, events)
}

proptest! {
    #[test]
    fn any_split_gives_the_same_events(
        msgs in prop::collection::vec(message(), 0..5),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let (wire, expected) = client_stream(&msgs);
        let mut whole = Run::server();
        whole.read(&wire);
        let mut split = Run::server();
        split.read_split(&wire, Split::At(&cuts));
        prop_assert_eq!(&whole.events, &expected);
        prop_assert_eq!(&split.events, &expected);
        prop_assert_eq!(whole.conn.take_wire(), split.conn.take_wire());
        prop_assert!(split.conn.inbox().is_empty());
    }

    #[test]
    fn encode_then_decode_is_identity(
        frames in prop::collection::vec(
            (0usize..6, any::<bool>(), prop::collection::vec(any::<u8>(), 0..400), prop::option::of(any::<[u8; 4]>())),
            0..6,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        // Frames a decoder accepts in a row: fragments in order, control
        // frames short and final; masked or not, decoded by the role that
        // receives them.
        for role in [Role::Server, Role::Client] {
            let mut wire = Vec::new();
            let mut sent = Vec::new();
            let mut in_message = false;
            for (op, fin, payload, mask) in &frames {
                let opcode = [Opcode::Text, Opcode::Binary, Opcode::Continuation, Opcode::Close, Opcode::Ping, Opcode::Pong][*op];
                let (opcode, fin, payload) = match opcode {
                    o if o.is_control() => (o, true, &payload[..payload.len().min(125)]),
                    Opcode::Continuation if !in_message => (Opcode::Binary, *fin, &payload[..]),
                    Opcode::Text | Opcode::Binary if in_message => (Opcode::Continuation, *fin, &payload[..]),
                    o => (o, *fin, &payload[..]),
                };
                if !opcode.is_control() {
                    in_message = !fin;
                }
                let mask = match role {
                    Role::Server => Some(mask.unwrap_or(KEY)),
                    Role::Client => None,
                };
                let mut out = BytesMut::new();
                encode_frame(&mut out, fin, opcode, payload, mask);
                prop_assert_eq!(out.len(), frame_len(payload.len(), mask.is_some()));
                wire.extend_from_slice(&out);
                sent.push(Frame { fin, opcode, payload: Bytes::copy_from_slice(payload) });
            }
            let mut d = FrameDecoder::new(role, &Limits::default());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for piece in t::pieces(&wire, Split::At(&cuts)) {
                buf.extend_from_slice(piece);
                while let Some(f) = d.decode(&mut buf).unwrap() {
                    got.push(f);
                }
            }
            prop_assert_eq!(&got, &sent);
            prop_assert!(buf.is_empty());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_overbuffer(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        client in any::<bool>(),
    ) {
        let limits = Limits::default().with_max_frame(130).with_max_message(200);
        let role = if client { Role::Client } else { Role::Server };
        // The harness checks, after every read, that a connection still
        // reading leaves at most one frame (header and max_frame) unread.
        let mut r = Run::new(role, limits);
        r.read_split(&bytes, Split::At(&cuts));
        r.eof();
        prop_assert!(r.finished());
        for ev in &r.events {
            if let Event::Text(b) | Event::Binary(b) = ev {
                prop_assert!(b.len() <= 200);
            }
        }
        let ends = r.events.iter().filter(|e| matches!(e, Event::Closed { .. } | Event::Failed(_))).count();
        prop_assert_eq!(ends, 1, "exactly one end: {:?}", r.events);
    }
}
