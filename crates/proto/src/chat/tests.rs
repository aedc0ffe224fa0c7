//! Unit tests of the chat core: the splitter, the message schema and the
//! room.
//!
//! Splitter vectors run four ways: whole, one byte per read, and both again
//! with the start of a next frame appended (which must stay in the buffer,
//! unreported). Room tests run on the testing harness ([`Sim`] wraps its
//! [`HubConns`]), which follows the drain contract and checks on every
//! output that nothing is sent to a connection after its `Close`; `Sim`
//! adds that every line is a well-formed event.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::{
    ClientMessage, ErrorCode, Event, FrameError, LeaveReason, Limits, MessageError, Room,
    ServerEvent, Splitter, is_valid_name,
};
use crate::testing::{Conns, HubConns};
use crate::{ConnId, Hub, Input, Instant, Output};

mod cluster;

// ---------------------------------------------------------------------------
// Splitter
// ---------------------------------------------------------------------------

/// The start of a next frame, appended in the trailing-data modes.
const PARTIAL: &[u8] = br#" {"c\"}{"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Whole,
    Bytewise,
    Trailing,
    BytewiseTrailing,
}

const MODES: [Mode; 4] = [Mode::Whole, Mode::Bytewise, Mode::Trailing, Mode::BytewiseTrailing];

/// What a splitter made of an input.
#[derive(Debug, PartialEq, Eq)]
struct Split {
    frames: Vec<Vec<u8>>,
    error: Option<FrameError>,
    /// What was left in the buffer after the last call (empty on error).
    left: Vec<u8>,
}

/// Feeds `pieces` to a fresh splitter, calling `next_frame` until it has
/// nothing more after each piece; stops at the first error.
fn split_pieces(s: Splitter, pieces: &[&[u8]]) -> Split {
    let mut s = s;
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut total = 0u64;
    for piece in pieces {
        buf.extend_from_slice(piece);
        total += piece.len() as u64;
        loop {
            match s.next_frame(&mut buf) {
                Ok(Some(f)) => frames.push(f.to_vec()),
                Ok(None) => {
                    assert!(buf.len() <= s.max_frame(), "retained {} bytes", buf.len());
                    break;
                }
                Err(e) => {
                    // Sticky.
                    assert_eq!(s.next_frame(&mut buf), Err(e));
                    // What is left after an error depends on how much had
                    // arrived: not compared.
                    return Split { frames, error: Some(e), left: Vec::new() };
                }
            }
        }
        assert!(s.bytes_inspected() <= total, "{} > {total}", s.bytes_inspected());
    }
    Split { frames, error: None, left: buf.to_vec() }
}

fn split_mode(s: Splitter, input: &[u8], mode: Mode) -> Split {
    let mut data = input.to_vec();
    if matches!(mode, Mode::Trailing | Mode::BytewiseTrailing) {
        data.extend_from_slice(PARTIAL);
    }
    let pieces: Vec<&[u8]> = match mode {
        Mode::Whole | Mode::Trailing => vec![&data[..]],
        Mode::Bytewise | Mode::BytewiseTrailing => data.chunks(1).collect(),
    };
    split_pieces(s, &pieces)
}

/// Runs a vector every way: `frames` come out, then `error` (if any).
fn check_split(s: &Splitter, input: &[u8], frames: &[&[u8]], error: Option<FrameError>) {
    for mode in MODES {
        let got = split_mode(s.clone(), input, mode);
        let want: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        let ctx = format!("{mode:?} on {}", input.escape_ascii());
        assert_eq!(got.frames, want, "{ctx}");
        assert_eq!(got.error, error, "{ctx}");
        if error.is_none() {
            let left: &[u8] = match mode {
                Mode::Whole | Mode::Bytewise => b"",
                // The leading space of PARTIAL was consumed as whitespace.
                Mode::Trailing | Mode::BytewiseTrailing => &PARTIAL[1..],
            };
            // Whitespace after the last frame is consumed too.
            assert_eq!(got.left, left, "{ctx}");
        }
    }
}

#[test]
fn splitter_vectors() {
    let s = Splitter::new();
    let ok: &[(&[u8], &[&[u8]])] = &[
        (b"", &[]),
        (b" \t\r\n  \n", &[]),
        (b"{}", &[b"{}"]),
        (br#"{"username":"a"}"#, &[br#"{"username":"a"}"#]),
        // Coalesced, no whitespace.
        (br#"{"username":"a"}{"content":"hi"}"#, &[br#"{"username":"a"}"#, br#"{"content":"hi"}"#]),
        // Newline-delimited, CRLF, tabs, leading and trailing whitespace.
        (
            b"\r\n{\"username\":\"a\"}\n{\"content\":\"hi\"}\r\n\t {\"list\":true}\n",
            &[br#"{"username":"a"}"#, br#"{"content":"hi"}"#, br#"{"list":true}"#],
        ),
        // Braces and quotes inside strings.
        (br#"{"content":"}}}{{{"}"#, &[br#"{"content":"}}}{{{"}"#]),
        (br#"{"content":"\"}"}"#, &[br#"{"content":"\"}"}"#]),
        // An escaped backslash, then the real end of the string.
        (br#"{"content":"\\"}{}"#, &[br#"{"content":"\\"}"#, b"{}"]),
        (br#"{"content":"\\\"}\\"}"#, &[br#"{"content":"\\\"}\\"}"#]),
        (br#"{"content":"\u007d\n"}"#, &[br#"{"content":"\u007d\n"}"#]),
        // Keys with braces, nested objects and arrays.
        (br#"{"{":{"}":[{},{"a":"}"}]}}"#, &[br#"{"{":{"}":[{},{"a":"}"}]}}"#]),
        // Multibyte UTF-8 (split across reads in the bytewise modes).
        (
            "{\"content\":\"zoë 日本 🎉 }\"}".as_bytes(),
            &["{\"content\":\"zoë 日本 🎉 }\"}".as_bytes()],
        ),
        // Not JSON inside, but framed: the decoder says bad_json later.
        (b"{nope}", &[b"{nope}"]),
        (b"{\xff\xfe}", &[b"{\xff\xfe}"]),
        (b"{]}", &[b"{]}"]),
    ];
    for (input, frames) in ok {
        check_split(&s, input, frames, None);
    }
}

#[test]
fn splitter_garbage_at_top_level() {
    let s = Splitter::new();
    type Vector = (&'static [u8], &'static [&'static [u8]], u8);
    let bad: &[Vector] = &[
        (b"x", &[], b'x'),
        (b"[1]", &[], b'['),
        (b"\"str\"", &[], b'"'),
        (b"}", &[], b'}'),
        (b"42", &[], b'4'),
        (b"null", &[], b'n'),
        (b"\x0b{}", &[], 0x0b),         // VT is not JSON whitespace
        (b"\xef\xbb\xbf{}", &[], 0xef), // a byte-order mark
        (br#"{"username":"a"}, {"content":"b"}"#, &[br#"{"username":"a"}"#], b','),
        (b"{}\n{}}", &[b"{}", b"{}"], b'}'),
        (b"{} \x00", &[b"{}"], 0),
    ];
    for (input, frames, byte) in bad {
        check_split(&s, input, frames, Some(FrameError::UnexpectedByte(*byte)));
    }
}

#[test]
fn splitter_depth_limit() {
    let s = Splitter::new().with_max_depth(3);
    check_split(&s, br#"{"a":{"b":{}}}"#, &[br#"{"a":{"b":{}}}"#], None);
    check_split(&s, br#"{"a":{"b":{"c":{}}}}"#, &[], Some(FrameError::TooDeep));
    // Braces in strings do not count.
    check_split(&s, br#"{"a":{"b":{"c":"{{{{"}}}"#, &[br#"{"a":{"b":{"c":"{{{{"}}}"#], None);
    // The default: 64 levels pass, 65 do not.
    let deep = |n: usize| {
        let mut v = "{\"a\":".repeat(n - 1).into_bytes();
        v.extend_from_slice(b"{}");
        v.extend(core::iter::repeat_n(b'}', n - 1));
        v
    };
    let d64 = deep(64);
    check_split(&Splitter::new(), &d64, &[&d64], None);
    check_split(&Splitter::new(), &deep(65), &[], Some(FrameError::TooDeep));
}

#[test]
fn splitter_frame_limit_is_exact_and_early() {
    let s = Splitter::new().with_max_frame(16);
    let exact = br#"{"content":"ab"}"#; // 16 bytes
    assert_eq!(exact.len(), 16);
    check_split(&s, exact, &[exact], None);
    check_split(&s, br#"{"content":"abc"}"#, &[], Some(FrameError::TooLarge));
    // Detected at the 17th byte of the frame, long before its end, whatever
    // the split; whitespace before the frame does not count.
    let mut long = b"\n\n  ".to_vec();
    long.extend_from_slice(br#"{"content":""#);
    long.extend(core::iter::repeat_n(b'x', 10_000));
    let mut s2 = s.clone();
    let mut buf = BytesMut::new();
    for (i, &b) in long.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        match s2.next_frame(&mut buf) {
            Ok(None) => assert!(i < 4 + 16, "no error at byte {i}"),
            Err(FrameError::TooLarge) => {
                assert_eq!(i, 4 + 16, "error at byte {i}");
                break;
            }
            other => panic!("{other:?} at byte {i}"),
        }
    }
    assert_eq!(split_pieces(s.clone(), &[&long]).error, Some(FrameError::TooLarge));
    // The default is 64 KiB.
    let mut big = br#"{"content":""#.to_vec();
    big.extend(core::iter::repeat_n(b'y', 64 * 1024 - big.len() - 2));
    big.extend_from_slice(b"\"}");
    assert_eq!(big.len(), 64 * 1024);
    let got = split_pieces(Splitter::new(), &[&big[..1000], &big[1000..]]);
    assert_eq!((got.frames.len(), got.error), (1, None));
    big.insert(20, b'y');
    let got = split_pieces(Splitter::new(), &[&big[..1000], &big[1000..]]);
    assert_eq!(got.error, Some(FrameError::TooLarge));
}

#[test]
fn splitter_frames_share_the_buffer() {
    let mut s = Splitter::new();
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(br#"{"a":1}{"b":2}"#);
    let start = buf.as_ptr();
    let f1 = s.next_frame(&mut buf).unwrap().unwrap();
    let f2 = s.next_frame(&mut buf).unwrap().unwrap();
    assert_eq!(f1.as_ptr(), start, "split_to, no copy");
    assert_eq!(f2.as_ptr(), start.wrapping_add(7));
}

#[test]
fn splitter_scans_each_byte_once() {
    // A long frame arriving a byte at a time must not be rescanned.
    let mut input = br#"{"content":""#.to_vec();
    input.extend(core::iter::repeat_n(b'z', 50_000));
    input.extend_from_slice(b"\"}");
    let mut s = Splitter::new();
    let mut buf = BytesMut::new();
    let mut frames = 0;
    for &b in &input {
        buf.extend_from_slice(&[b]);
        while let Some(_f) = s.next_frame(&mut buf).unwrap() {
            frames += 1;
        }
    }
    assert_eq!(frames, 1);
    assert_eq!(s.bytes_inspected(), input.len() as u64);
    assert!(!s.is_mid_frame());
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

fn say(content: &str, to: &[&str]) -> ClientMessage {
    let to = if to.is_empty() { None } else { Some(to.iter().map(|s| s.to_string()).collect()) };
    ClientMessage::Say { content: content.into(), to }
}

#[test]
fn message_shapes() {
    let ok: &[(&str, ClientMessage)] = &[
        (r#"{"username": "alice"}"#, ClientMessage::Join { username: "alice".into() }),
        (r#"{"username":""}"#, ClientMessage::Join { username: "".into() }),
        (r#"{"content": "hi"}"#, say("hi", &[])),
        (r#"{ "content" : "a\"}\\" }"#, say("a\"}\\", &[])),
        (r#"{"content": "hi", "to": ["bob"]}"#, say("hi", &["bob"])),
        (r#"{"to": ["bob", "carol"], "content": ""}"#, say("", &["bob", "carol"])),
        (r#"{"list": true}"#, ClientMessage::List),
        (r#"{"content":"\u00e9\ud83c\udf89"}"#, say("é🎉", &[])),
    ];
    for (text, want) in ok {
        assert_eq!(ClientMessage::parse(text.as_bytes()).as_ref(), Ok(want), "{text}");
    }
    let bad_message = [
        r#"{}"#,
        r#"{"username": 5}"#,
        r#"{"username": null}"#,
        r#"{"content": null}"#,
        r#"{"content": ["hi"]}"#,
        r#"{"content": "hi", "to": "bob"}"#,
        r#"{"content": "hi", "to": []}"#,
        r#"{"content": "hi", "to": [1]}"#,
        r#"{"content": "hi", "to": null}"#,
        r#"{"to": ["bob"]}"#,
        r#"{"list": false}"#,
        r#"{"list": 1}"#,
        r#"{"list": "true"}"#,
        r#"{"username": "a", "content": "b"}"#,
        r#"{"username": "a", "list": true}"#,
        r#"{"content": "b", "list": true}"#,
        r#"{"content": "b", "extra": 1}"#,
        r#"{"type": "message"}"#,
        r#"{"content": "a", "content": "b"}"#,
        r#"{"content": 1, "x": {"y": [1, 2, {"z": null}]}}"#,
    ];
    for text in bad_message {
        let e = ClientMessage::parse(text.as_bytes()).unwrap_err();
        assert!(matches!(e, MessageError::Shape(_)), "{text}: {e:?}");
        assert_eq!(e.code(), ErrorCode::BadMessage, "{text}");
    }
    let bad_json: &[&[u8]] = &[
        b"{nope}",
        b"{\"content\" \"x\"}",
        b"{\"content\":\"x\",}",
        b"{]}",
        // A data error first, then broken JSON further on: still bad_json.
        b"{\"content\": 1, \"x\": tru}",
        b"{\"content\": \"x\", \"extra\": [}",
        b"{\"content\": \"\xff\"}",
        b"{\"content\": \"\xc3\"}",
        b"{\"content\": \"\\ud800\"}",
        b"{\"content\": \"a\x01b\"}", // raw control character in a string
        b"{\"content\": \"\\q\"}",
    ];
    for text in bad_json {
        let e = ClientMessage::parse(text).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadJson, "{}: {e:?}", text.escape_ascii());
    }
    assert_eq!(ClientMessage::parse(b"{\"content\": \"\xff\"}"), Err(MessageError::NotUtf8));
}

#[test]
fn message_encode_decode() {
    let msgs = [
        ClientMessage::Join { username: "zoë".into() },
        say("a \"quoted\" {brace} \\ \n\t\u{1}", &[]),
        say("to you", &["bob", "b\"o}b"]),
        ClientMessage::List,
    ];
    for m in &msgs {
        let line = m.encode();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(&ClientMessage::parse(&line[..line.len() - 1]), &Ok(m.clone()));
    }
    assert_eq!(&msgs[3].encode()[..], b"{\"list\":true}\n");
    assert_eq!(&msgs[2].encode()[..], b"{\"content\":\"to you\",\"to\":[\"bob\",\"b\\\"o}b\"]}\n");
}

#[test]
fn server_events_exact_bytes() {
    let s = |v: &str| v.to_string();
    let cases: &[(ServerEvent, &str)] = &[
        (ServerEvent::Joined { username: s("alice") }, r#"{"type":"joined","username":"alice"}"#),
        (
            ServerEvent::Message { from: s("alice"), content: s("hi"), to: None },
            r#"{"type":"message","from":"alice","content":"hi"}"#,
        ),
        (
            ServerEvent::Message { from: s("alice"), content: s("hi"), to: Some(vec![s("bob")]) },
            r#"{"type":"message","from":"alice","content":"hi","to":["bob"]}"#,
        ),
        (ServerEvent::Left { username: s("alice") }, r#"{"type":"left","username":"alice"}"#),
        (
            ServerEvent::Users { users: vec![s("alice"), s("bob")] },
            r#"{"type":"users","users":["alice","bob"]}"#,
        ),
        (ServerEvent::Users { users: vec![] }, r#"{"type":"users","users":[]}"#),
        (
            ServerEvent::Error { code: ErrorCode::UnknownUser, message: s("unknown user: x") },
            r#"{"type":"error","code":"unknown_user","message":"unknown user: x"}"#,
        ),
    ];
    for (ev, text) in cases {
        let line = ev.encode();
        assert_eq!(&line[..], format!("{text}\n").as_bytes());
        assert_eq!(ServerEvent::decode(&line).as_ref(), Ok(ev));
        assert_eq!(serde_json::to_string(ev).unwrap(), *text);
    }
    for code in [
        ErrorCode::BadJson,
        ErrorCode::FrameTooLarge,
        ErrorCode::BadMessage,
        ErrorCode::NameTaken,
        ErrorCode::UnknownUser,
    ] {
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{code}\""));
        assert_eq!(code.closes(), matches!(code, ErrorCode::BadJson | ErrorCode::FrameTooLarge));
    }
    assert!(ServerEvent::decode(br#"{"type":"nope"}"#).is_err());
    assert_eq!(ServerEvent::decode(b"{").unwrap_err().code(), ErrorCode::BadJson);
}

#[test]
fn name_rules() {
    assert!(is_valid_name("a", 32));
    assert!(is_valid_name(&"é".repeat(32), 32)); // 64 bytes, 32 characters
    assert!(!is_valid_name(&"é".repeat(33), 32));
    assert!(is_valid_name("alice bob", 32));
    for bad in ["", "a\nb", "\u{7f}", "\u{85}", "tab\t", "\0"] {
        assert!(!is_valid_name(bad, 32), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------
// Property tests: splitter and schema
// ---------------------------------------------------------------------------

/// Strings full of what confuses a naive splitter.
fn tricky_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('{'),
            Just('}'),
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just('\u{1}'),
            Just('é'),
            Just('日'),
            Just('🎉'),
            any::<char>(),
            prop::char::range('a', 'z'),
        ],
        0..24,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        tricky_string().prop_map(|username| ClientMessage::Join { username }),
        (tricky_string(), prop::option::of(prop::collection::vec(tricky_string(), 1..4)))
            .prop_map(|(content, to)| ClientMessage::Say { content, to }),
        Just(ClientMessage::List),
    ]
}

fn whitespace() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(&b" \t\r\n"[..]), 0..4)
}

/// Cuts `input` at `cuts` (taken modulo its length, sorted).
fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(input.len());
    let mut from = 0;
    let mut out = Vec::new();
    for cut in cuts {
        out.push(&input[from..cut]);
        from = cut;
    }
    out
}

proptest! {
    #[test]
    fn encode_split_decode_is_identity(
        msgs in prop::collection::vec((client_message(), whitespace(), any::<bool>()), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut stream = Vec::new();
        for (m, ws, newline) in &msgs {
            let line = m.encode();
            let json = &line[..line.len() - 1];
            stream.extend_from_slice(if *newline { &line[..] } else { json });
            stream.extend_from_slice(ws);
        }
        let whole = split_pieces(Splitter::new(), &[&stream]);
        let split = split_pieces(Splitter::new(), &pieces(&stream, &cuts));
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(whole.error, None);
        prop_assert!(whole.left.is_empty());
        let decoded: Vec<ClientMessage> =
            whole.frames.iter().map(|f| ClientMessage::parse(f).unwrap()).collect();
        let want: Vec<ClientMessage> = msgs.into_iter().map(|(m, _, _)| m).collect();
        prop_assert_eq!(decoded, want);
    }

    #[test]
    fn any_split_gives_the_same_frames(
        input in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(&b"{}\"\\ \n:ab"[..]),
                1 => any::<u8>(),
            ],
            0..200,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        max_frame in 2usize..64,
    ) {
        let s = Splitter::new().with_max_frame(max_frame).with_max_depth(4);
        let whole = split_pieces(s.clone(), &[&input]);
        prop_assert_eq!(&split_pieces(s.clone(), &pieces(&input, &cuts)), &whole);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&split_pieces(s, &bytes), &whole);
    }

    #[test]
    fn arbitrary_bytes_stay_bounded(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..20),
        max_frame in 2usize..128,
    ) {
        // split_pieces asserts the retained buffer never passes max_frame
        // and each byte is inspected at most once.
        let s = Splitter::new().with_max_frame(max_frame);
        let refs: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
        let got = split_pieces(s, &refs);
        for f in &got.frames {
            prop_assert!(f.len() <= max_frame);
            prop_assert_eq!(f.first(), Some(&b'{'));
            prop_assert_eq!(f.last(), Some(&b'}'));
            let _ = ClientMessage::parse(f);
        }
    }
}

// ---------------------------------------------------------------------------
// Room: a simulated driver
// ---------------------------------------------------------------------------

/// The harness's hub driver for a [`Room`], and what the tests check: every
/// line written is one well-formed event, `Sent` produces no output, and
/// the room keeps no timer.
struct Sim {
    h: HubConns<Room>,
    /// Everything written to each connection, as decoded events.
    got: BTreeMap<ConnId, Vec<ServerEvent>>,
    /// Bytes written to each connection in all.
    wire_bytes: BTreeMap<ConnId, usize>,
    events: Vec<Event>,
    /// Every `Bytes` transmitted by the last input, to check sharing.
    last_batch: Vec<(ConnId, Bytes)>,
}

impl Sim {
    fn new(limits: Limits) -> Sim {
        Sim::with_room(Room::new(limits))
    }

    fn with_room(room: Room) -> Sim {
        let mut h = HubConns::new(room, Instant::ZERO);
        h.quiet_sent = true;
        Sim {
            h,
            got: BTreeMap::new(),
            wire_bytes: BTreeMap::new(),
            events: Vec::new(),
            last_batch: Vec::new(),
        }
    }

    /// Feeds one input through the harness, then checks what it wrote.
    fn input(&mut self, input: Input<'_>) {
        let events = &mut self.events;
        let mut app = |_: &Conns, ev: Event| events.push(ev);
        match input {
            Input::Opened { conn, peer, .. } => self.h.open(conn, &peer, &mut app),
            Input::Eof { conn } => self.h.eof(conn, &mut app),
            Input::Gone { conn } => self.h.gone(conn, &mut app),
            other => self.h.input(other, &mut app),
        }
        self.record();
    }

    fn record(&mut self) {
        self.last_batch = core::mem::take(&mut self.h.sent);
        for (conn, data) in &self.last_batch {
            assert_eq!(data.last(), Some(&b'\n'));
            // One event, or a batch of `joined` and `left` lines.
            for line in data.split_inclusive(|&b| b == b'\n') {
                let ev = ServerEvent::decode(line).expect("a well-formed event");
                self.got.entry(*conn).or_default().push(ev);
            }
            *self.wire_bytes.entry(*conn).or_default() += data.len();
        }
    }

    /// Fires the room's timers as they come due (the hold of a sender
    /// running out, say), the clock jumping to each, offering the resumed
    /// connections their buffers, until none is armed.
    fn run_timers(&mut self) {
        let events = &mut self.events;
        let mut app = |_: &Conns, ev: Event| events.push(ev);
        for _ in 0..1000 {
            let Some(at) = self.h.hub.poll_timeout() else { break };
            let at = at.max(self.h.now);
            self.h.timeout(at, &mut app);
            self.h.offer_resumed(&mut app);
        }
        assert!(self.h.hub.poll_timeout().is_none(), "timers keep coming");
        self.record();
    }

    fn open(&mut self, id: u64) -> ConnId {
        let conn = ConnId(id);
        self.input(Input::Opened {
            conn,
            peer: format!("10.0.0.{id}:{}", 40000 + id),
            listener: 0,
        });
        conn
    }

    /// Appends `bytes` to `conn`'s buffer and feeds it while the room wants.
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        let events = &mut self.events;
        self.h.read(conn, bytes, &mut |_: &Conns, ev: Event| events.push(ev));
        self.record();
    }

    /// Offers their buffers to the connections the room resumed.
    fn offer_resumed(&mut self) {
        let events = &mut self.events;
        self.h.offer_resumed(&mut |_: &Conns, ev: Event| events.push(ev));
        self.record();
    }

    /// Feeds what is left in `conn`'s buffer (after backpressure lifts).
    fn resume(&mut self, conn: ConnId) {
        self.send(conn, b"");
    }

    fn send_msg(&mut self, conn: ConnId, msg: &ClientMessage) {
        self.send(conn, &msg.encode());
    }

    fn join(&mut self, id: u64, name: &str) -> ConnId {
        let conn = self.open(id);
        self.send_msg(conn, &ClientMessage::Join { username: name.into() });
        conn
    }

    /// Connections whose writes never complete (no `Sent` is reported).
    fn stall(&mut self, conn: ConnId, stalled: bool) {
        self.h.conn(conn).stalled = stalled;
    }

    /// Connections the room closed.
    fn closed(&self) -> BTreeSet<ConnId> {
        self.h.conns.iter().filter(|(_, c)| c.closing).map(|(&id, _)| id).collect()
    }

    /// What the room left in `conn`'s buffer.
    fn buf(&self, conn: ConnId) -> &BytesMut {
        &self.h.conns[&conn].inbox
    }

    /// Takes the events written to `conn` so far.
    fn take(&mut self, conn: ConnId) -> Vec<ServerEvent> {
        self.got.remove(&conn).unwrap_or_default()
    }

    fn take_all(&mut self) -> BTreeMap<ConnId, Vec<ServerEvent>> {
        core::mem::take(&mut self.got)
    }

    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }
}

fn joined(name: &str) -> ServerEvent {
    ServerEvent::Joined { username: name.into() }
}
fn left(name: &str) -> ServerEvent {
    ServerEvent::Left { username: name.into() }
}
fn msg(from: &str, content: &str, to: Option<&[&str]>) -> ServerEvent {
    ServerEvent::Message {
        from: from.into(),
        content: content.into(),
        to: to.map(|t| t.iter().map(|s| s.to_string()).collect()),
    }
}
fn code_of(events: &[ServerEvent]) -> Vec<ErrorCode> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Error { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

fn name(i: u64) -> String {
    format!("m{i:02}")
}

/// A room with `n` members `m01..`, connection ids 1..=n, outputs cleared.
fn room_of(n: u64, limits: Limits) -> Sim {
    let mut sim = Sim::new(limits);
    for i in 1..=n {
        sim.join(i, &name(i));
    }
    sim.take_all();
    sim.take_events();
    sim
}

#[test]
fn join_is_announced_to_everyone_including_the_newcomer() {
    let mut sim = Sim::new(Limits::default());
    for i in 1..=50 {
        sim.join(i, &name(i));
        // The joined line is serialised once and shared by every recipient.
        let first = sim.last_batch[0].1.clone();
        assert_eq!(sim.last_batch.len(), i as usize);
        for (k, (conn, data)) in sim.last_batch.iter().enumerate() {
            assert_eq!(*conn, ConnId(k as u64 + 1), "ConnId order");
            assert_eq!(data.as_ptr(), first.as_ptr(), "one allocation for all");
        }
    }
    for i in 1..=50u64 {
        let want: Vec<ServerEvent> = (i..=50).map(|j| joined(&name(j))).collect();
        assert_eq!(sim.take(ConnId(i)), want);
    }
    assert_eq!(sim.h.hub.len(), 50);
    let joins = sim.take_events();
    assert_eq!(joins.len(), 50);
    assert_eq!(joins[0], Event::Joined { conn: ConnId(1), name: "m01".into() });
}

#[test]
fn a_verified_identity_is_the_only_name() {
    let mut sim = room_of(1, Limits::default());
    // Told the name before any byte: another name is forbidden (the
    // connection stays), its own is accepted.
    let a = sim.open(7);
    sim.input(Input::Identified { conn: a, name: "alice" });
    sim.send(a, br#"{"username":"bob"}"#);
    let got = sim.take(a);
    assert_eq!(code_of(&got), [ErrorCode::Forbidden]);
    assert!(sim.closed().is_empty());
    sim.send(a, br#"{"username":"alice"}"#);
    assert_eq!(sim.take(a), [joined("alice")]);
    // No username: the verified name, not the peer address.
    let b = sim.open(8);
    sim.input(Input::Identified { conn: b, name: "bob" });
    sim.send(b, br#"{"content":"hi"}"#);
    assert_eq!(sim.take(b), [joined("bob")]);
    assert_eq!(sim.take(a), [joined("bob"), msg("bob", "hi", None)]);
    // A second connection with the same certificate: name_taken.
    let c = sim.open(9);
    sim.input(Input::Identified { conn: c, name: "alice" });
    sim.send(c, br#"{"content":"me too"}"#);
    assert_eq!(code_of(&sim.take(c)), [ErrorCode::NameTaken]);
    // Identities of unknown connections are ignored.
    sim.input(Input::Identified { conn: ConnId(99), name: "x" });
}

#[test]
fn name_taken_then_retry() {
    let mut sim = room_of(3, Limits::default());
    let c = sim.open(9);
    sim.send(c, br#"{"username":"m02"}"#);
    let got = sim.take(c);
    assert_eq!(code_of(&got), [ErrorCode::NameTaken]);
    assert!(!sim.closed().contains(&c));
    assert!(sim.h.hub.wants_read(c));
    assert!(sim.take_all().is_empty(), "nobody else hears of it");
    sim.send(c, br#"{"username":"m02b"}"#);
    assert_eq!(sim.take(c), [joined("m02b")]);
    for i in 1..=3 {
        assert_eq!(sim.take(ConnId(i)), [joined("m02b")]);
    }
    // After joining, a username message is bad_message, not a rename.
    sim.send(c, br#"{"username":"other"}"#);
    assert_eq!(code_of(&sim.take(c)), [ErrorCode::BadMessage]);
    assert_eq!(sim.h.hub.name(c), Some("m02b"));
}

#[test]
fn invalid_names_are_bad_message_and_keep_the_connection() {
    let mut sim = room_of(1, Limits::default());
    let c = sim.open(5);
    let long = "x".repeat(33);
    for bad in ["", "a\nb", "\u{1b}[31mred", long.as_str()] {
        sim.send_msg(c, &ClientMessage::Join { username: bad.into() });
        assert_eq!(code_of(&sim.take(c)), [ErrorCode::BadMessage], "{bad:?}");
    }
    assert!(sim.h.hub.name(c).is_none());
    sim.send_msg(c, &ClientMessage::Join { username: "x".repeat(32) });
    assert_eq!(sim.take(c), [joined(&"x".repeat(32))]);
    // A custom limit.
    let mut sim = Sim::new(Limits::default().with_max_name(3));
    let c = sim.open(1);
    sim.send(c, br#"{"username":"abcd"}{"username":"abc"}"#);
    let got = sim.take(c);
    assert_eq!(code_of(&got), [ErrorCode::BadMessage]);
    assert_eq!(got.last(), Some(&joined("abc")));
}

#[test]
fn broadcast_excludes_the_sender() {
    let mut sim = room_of(50, Limits::default());
    sim.send(ConnId(7), br#"{"content":"hello {all} \"you\""}"#);
    let got = sim.take_all();
    assert_eq!(got.len(), 49);
    assert!(!got.contains_key(&ConnId(7)));
    for (_, evs) in got {
        assert_eq!(evs, [msg("m07", "hello {all} \"you\"", None)]);
    }
    let first = sim.last_batch[0].1.as_ptr();
    assert!(sim.last_batch.iter().all(|(_, d)| d.as_ptr() == first));
}

#[test]
fn directed_messages_stay_private() {
    let mut sim = room_of(50, Limits::default());
    sim.send(ConnId(1), br#"{"content":"psst","to":["m09","m03"]}"#);
    let got = sim.take_all();
    let want = msg("m01", "psst", Some(&["m09", "m03"]));
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [ConnId(3), ConnId(9)]);
    assert_eq!(got[&ConnId(3)], core::slice::from_ref(&want));
    assert_eq!(got[&ConnId(9)], [want]);
    // In the order of `to`.
    assert_eq!(sim.last_batch.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [ConnId(9), ConnId(3)]);
    // To oneself.
    sim.send(ConnId(4), br#"{"content":"note","to":["m04"]}"#);
    assert_eq!(
        sim.take_all().into_iter().collect::<Vec<_>>(),
        [(ConnId(4), vec![msg("m04", "note", Some(&["m04"]))])]
    );
}

#[test]
fn unknown_user() {
    let mut sim = room_of(5, Limits::default());
    sim.send(ConnId(1), br#"{"content":"hey","to":["m03","ghost","m03","nobody","ghost"]}"#);
    let mut got = sim.take_all();
    let errors = got.remove(&ConnId(1)).unwrap();
    assert_eq!(
        errors,
        [ServerEvent::Error {
            code: ErrorCode::UnknownUser,
            message: "unknown user: ghost, nobody".into()
        }]
    );
    // Delivered once to the known one, whose `to` lists only it.
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        [(ConnId(3), vec![msg("m01", "hey", Some(&["m03"]))])]
    );
    // All unknown: nothing delivered; the connection stays open.
    sim.send(ConnId(2), br#"{"content":"hey","to":["zed"]}"#);
    let got = sim.take_all();
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [ConnId(2)]);
    assert_eq!(code_of(&got[&ConnId(2)]), [ErrorCode::UnknownUser]);
    assert!(sim.h.hub.wants_read(ConnId(2)));
    assert!(sim.closed().is_empty());
    assert!(
        sim.take_events()
            .iter()
            .all(|e| matches!(e, Event::Error { code: ErrorCode::UnknownUser, .. }))
    );
}

#[test]
fn list_answers_the_sender_sorted() {
    let mut sim = Sim::new(Limits::default());
    for (i, n) in ["zed", "Bob", "alice", "émile", "_x"].iter().enumerate() {
        sim.join(i as u64 + 1, n);
    }
    sim.take_all();
    sim.send(ConnId(3), b"{\"list\":true}\n");
    let got = sim.take_all();
    assert_eq!(got.len(), 1);
    let users = ["Bob", "_x", "alice", "zed", "émile"].map(String::from).to_vec();
    assert_eq!(got[&ConnId(3)], [ServerEvent::Users { users }]);
}

#[test]
fn left_on_eof_and_gone() {
    let mut sim = room_of(50, Limits::default());
    sim.input(Input::Eof { conn: ConnId(10) });
    assert!(sim.closed().contains(&ConnId(10)));
    assert!(!sim.h.hub.wants_read(ConnId(10)));
    let got = sim.take_all();
    assert_eq!(got.len(), 49);
    assert!(got.values().all(|e| e == &[left("m10")]));
    assert_eq!(
        sim.take_events(),
        [Event::Left { conn: ConnId(10), name: "m10".into(), reason: LeaveReason::Eof }]
    );
    // The driver closes it and reports it gone: nothing more is said.
    sim.input(Input::Gone { conn: ConnId(10) });
    assert!(sim.take_all().is_empty());
    assert_eq!(sim.h.hub.connections(), 49);
    // A reset without an end of stream.
    sim.input(Input::Gone { conn: ConnId(11) });
    let got = sim.take_all();
    assert_eq!(got.len(), 48);
    assert!(got.values().all(|e| e == &[left("m11")]));
    assert!(!sim.closed().contains(&ConnId(11)), "no Close for a gone connection");
    assert_eq!(
        sim.take_events(),
        [Event::Left { conn: ConnId(11), name: "m11".into(), reason: LeaveReason::Gone }]
    );
    // The name is free again.
    sim.join(99, "m10");
    assert_eq!(sim.take(ConnId(99)), [joined("m10")]);
    // Inputs for forgotten connections are ignored.
    sim.send(ConnId(11), br#"{"content":"ghost"}"#);
    sim.input(Input::Eof { conn: ConnId(11) });
    sim.input(Input::Sent { conn: ConnId(11), n: 5 });
    assert_eq!(sim.take_all().len(), 48, "only the join of m10");
}

#[test]
fn eof_flushes_answers_to_a_half_closed_client() {
    // `printf '{"username":"a"}{"list":true}' | nc -N host port`
    let mut sim = room_of(1, Limits::default());
    let c = sim.open(2);
    let now = sim.h.now;
    let mut buf = BytesMut::from(&br#"{"username":"a"}{"list":true}"#[..]);
    sim.h.hub.handle(now, Input::Read { conn: c, buf: &mut buf });
    sim.h.hub.handle(now, Input::Eof { conn: c });
    let mut outs = Vec::new();
    while let Some(o) = sim.h.hub.poll_output() {
        outs.push(o);
    }
    let close = outs.iter().position(|o| o == &Output::Close { conn: c }).unwrap();
    let last_tx = outs
        .iter()
        .rposition(|o| matches!(o, Output::Transmit { conn, .. } if *conn == c))
        .unwrap();
    assert!(last_tx < close, "answers are queued before the close");
}

#[test]
fn truncated_frame_at_eof_is_bad_json() {
    let mut sim = room_of(2, Limits::default());
    sim.send(ConnId(1), br#"{"content":"unfinished"#);
    assert!(sim.take_all().is_empty());
    sim.input(Input::Eof { conn: ConnId(1) });
    assert_eq!(code_of(&sim.take(ConnId(1))), [ErrorCode::BadJson]);
    assert_eq!(sim.take(ConnId(2)), [left("m01")]);
    assert!(sim.closed().contains(&ConnId(1)));
}

#[test]
fn bad_json_isolates_only_that_client() {
    for garbage in [
        &br#"{"content": nope}"#[..],
        b"hello\n",
        b"[1,2]",
        b"{\"content\":\"\xff\"}",
        b"{\"a\":{\"b\":{}}}",
    ] {
        let mut sim = room_of(10, Limits::default().with_max_depth(2));
        // Good frames before the garbage are handled, the rest is dropped.
        let mut input = br#"{"content":"before"}"#.to_vec();
        input.extend_from_slice(garbage);
        input.extend_from_slice(br#"{"content":"after"}"#);
        sim.send(ConnId(5), &input);
        let got = sim.take(ConnId(5));
        assert_eq!(code_of(&got), [ErrorCode::BadJson], "{}", garbage.escape_ascii());
        assert!(sim.closed().contains(&ConnId(5)));
        assert!(!sim.h.hub.wants_read(ConnId(5)));
        assert!(sim.buf(ConnId(5)).is_empty(), "bytes after the error are dropped");
        for i in (1..=10).filter(|&i| i != 5) {
            assert_eq!(sim.take(ConnId(i)), [msg("m05", "before", None), left("m05")]);
        }
        let evs = sim.take_events();
        assert!(matches!(&evs[0], Event::Error { conn: ConnId(5), code: ErrorCode::BadJson, .. }));
        assert_eq!(
            evs[1],
            Event::Left {
                conn: ConnId(5),
                name: "m05".into(),
                reason: LeaveReason::Error(ErrorCode::BadJson)
            }
        );
        // Later bytes from it are ignored; the others carry on.
        sim.send(ConnId(5), br#"{"content":"zombie"}"#);
        sim.send(ConnId(2), br#"{"content":"still here"}"#);
        let got = sim.take_all();
        assert_eq!(got.len(), 8);
        assert!(got.values().all(|e| e == &[msg("m02", "still here", None)]));
    }
}

#[test]
fn bad_message_keeps_the_connection() {
    let mut sim = room_of(3, Limits::default());
    sim.send(ConnId(1), br#"{"content":5}{}{"list":false}{"to":["m02"]}{"content":"ok"}"#);
    let got = sim.take(ConnId(1));
    assert_eq!(code_of(&got), [ErrorCode::BadMessage; 4]);
    assert!(
        got.iter().all(|e| matches!(e, ServerEvent::Error { message, .. } if !message.is_empty()))
    );
    assert_eq!(sim.take(ConnId(2)), [msg("m01", "ok", None)]);
    assert!(sim.closed().is_empty());
}

#[test]
fn frame_too_large_closes() {
    let limits = Limits::default().with_max_frame(100);
    let mut sim = room_of(3, limits);
    let mut frame = br#"{"content":""#.to_vec();
    frame.extend(core::iter::repeat_n(b'a', 86));
    frame.extend_from_slice(b"\"}");
    assert_eq!(frame.len(), 100);
    sim.send(ConnId(1), &frame);
    assert_eq!(sim.take(ConnId(2)).len(), 1, "a frame of exactly the limit passes");
    assert_eq!(sim.take(ConnId(3)).len(), 1);
    // One byte more: detected at byte 101, before the frame ends.
    let mut big = frame.clone();
    big.insert(20, b'a');
    for &b in &big[..100] {
        sim.send(ConnId(1), &[b]);
    }
    assert!(sim.take(ConnId(1)).is_empty());
    sim.send(ConnId(1), &big[100..101]);
    assert_eq!(
        sim.take(ConnId(1)),
        [ServerEvent::Error {
            code: ErrorCode::FrameTooLarge,
            message: "frame larger than 100 bytes".into()
        }]
    );
    assert!(sim.closed().contains(&ConnId(1)));
    assert_eq!(sim.take(ConnId(2)), [left("m01")]);
    assert_eq!(sim.take(ConnId(3)), [left("m01")]);
}

#[test]
fn first_message_without_a_name_joins_as_the_peer_address() {
    let mut sim = room_of(2, Limits::default());
    let c = sim.open(7);
    sim.send(c, br#"{"content":"hi from nowhere"}"#);
    let peer = "10.0.0.7:40007";
    assert_eq!(sim.take(c), [joined(peer)]);
    for i in 1..=2 {
        assert_eq!(sim.take(ConnId(i)), [joined(peer), msg(peer, "hi from nowhere", None)]);
    }
    assert_eq!(sim.h.hub.name(c), Some(peer));
    // Two connections from the same (Unix socket) peer text.
    let mut sim = Sim::new(Limits::default());
    for id in [1, 2, 3] {
        sim.input(Input::Opened {
            conn: ConnId(id),
            peer: if id == 3 { String::new() } else { "sock".into() },
            listener: 0,
        });
        sim.send(ConnId(id), br#"{"list":true}"#);
    }
    let names: Vec<&str> = sim.h.hub.members().map(|(n, _)| n).collect();
    assert_eq!(names, ["#3", "sock", "sock#2"]);
    // A name that is taken, even for the fallback: name_taken, not handled.
    sim.join(4, "p#5");
    sim.input(Input::Opened { conn: ConnId(5), peer: "p".into(), listener: 0 });
    sim.join(6, "p");
    sim.take_all();
    sim.send(ConnId(5), br#"{"content":"x"}"#);
    let got = sim.take_all();
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [ConnId(5)]);
    assert_eq!(code_of(&got[&ConnId(5)]), [ErrorCode::NameTaken]);
}

#[test]
fn coalesced_frames_in_one_read() {
    let mut sim = room_of(1, Limits::default());
    let c = sim.open(2);
    sim.send(c, br#"{"username":"a"}{"content":"hi"}"#);
    assert_eq!(sim.take(c), [joined("a")]);
    assert_eq!(sim.take(ConnId(1)), [joined("a"), msg("a", "hi", None)]);
}

#[test]
fn outbound_budget_evicts_a_stalled_member_and_no_one_else() {
    let budget = 8 * 1024;
    let limits = Limits::default().with_outbound_budget(budget);
    let mut sim = room_of(50, limits);
    sim.stall(ConnId(13), true); // never reads: no Sent is ever reported
    sim.wire_bytes.clear();
    let line = |i: usize| format!("{{\"content\":\"message number {i:04} {}\"}}", "x".repeat(60));
    let mut evicted_at = None;
    let mut held = false;
    for i in 0..400 {
        let from = ConnId(1 + (i as u64 % 3));
        sim.send(from, line(i).as_bytes());
        // The stalled member holds the senders filling it (fair share) until
        // the hold runs out: then it is stalled, and evicted in time.
        held |= (1..=3).any(|k| sim.h.hub.is_held(ConnId(k)));
        sim.run_timers();
        if evicted_at.is_none() && sim.closed().contains(&ConnId(13)) {
            evicted_at = Some(i);
        }
        assert!(sim.wire_bytes.get(&ConnId(13)).copied().unwrap_or(0) <= budget);
        assert!(sim.h.hub.unsent(ConnId(13)).unwrap() <= budget);
    }
    assert!(held, "the senders filling a member over half its budget are held first");
    let at = evicted_at.expect("the stalled member is evicted");
    assert!(at > 50 && at < 200, "evicted after about budget/event-size messages: {at}");
    let evs = sim.take_events();
    let evicted: Vec<&Event> = evs.iter().filter(|e| matches!(e, Event::Evicted { .. })).collect();
    assert_eq!(evicted.len(), 1);
    assert!(matches!(evicted[0], Event::Evicted { conn: ConnId(13), unsent } if *unsent <= budget));
    assert!(evs.contains(&Event::Left {
        conn: ConnId(13),
        name: "m13".into(),
        reason: LeaveReason::Evicted
    }));
    // Everyone else got every message (but their own) and the `left`.
    let got = sim.take_all();
    for i in (1..=50u64).filter(|&i| i != 13) {
        let evs = &got[&ConnId(i)];
        let msgs = evs.iter().filter(|e| matches!(e, ServerEvent::Message { .. })).count();
        let own = if i <= 3 { (0..400).filter(|k| k % 3 == i as usize - 1).count() } else { 0 };
        assert_eq!(msgs, 400 - own, "member {i}");
        assert_eq!(evs.iter().filter(|e| **e == left("m13")).count(), 1);
    }
    assert!(!got[&ConnId(1)].is_empty());
    assert_eq!(sim.h.hub.len(), 49);
}

#[test]
fn backpressure_pauses_reading_from_a_client_over_half_its_budget() {
    let limits = Limits::default().with_outbound_budget(2048);
    let mut sim = room_of(20, limits);
    let c = ConnId(20);
    sim.stall(c, true);
    // `list` answers are ~130 bytes: the client floods them without reading.
    let flood = br#"{"list":true}"#.repeat(100);
    sim.send(c, &flood);
    let unsent = sim.h.hub.unsent(c).unwrap();
    assert!(unsent > 1024 && unsent <= 1024 + 200, "{unsent}");
    assert!(!sim.h.hub.wants_read(c));
    let answered = sim.take(c).len();
    assert!(answered < 100);
    assert_eq!(sim.buf(c).len(), 13 * (100 - answered), "the rest waits, unread");
    assert!(!sim.closed().contains(&c), "paused, not evicted");
    // It reads: the driver reports the bytes written and feeds the rest.
    sim.stall(c, false);
    assert_eq!(sim.h.write(c, usize::MAX, &mut BytesMut::new()), unsent);
    assert!(sim.h.hub.wants_read(c));
    sim.resume(c);
    assert_eq!(sim.take(c).len(), 100 - answered);
    assert!(sim.buf(c).is_empty());
}

#[test]
fn one_oversized_event_is_allowed_when_nothing_is_pending() {
    // The budget is below one message: a reader that keeps up still gets it.
    let limits = Limits::default().with_outbound_budget(64);
    let mut sim = room_of(2, limits);
    let content = "y".repeat(200);
    sim.send_msg(ConnId(1), &say(&content, &[]));
    assert_eq!(sim.take(ConnId(2)), [msg("m01", &content, None)]);
    assert!(sim.closed().is_empty());
}

#[test]
fn eviction_cascades_without_recursion() {
    // Every member but the sender is stalled with a tiny budget; the `left`
    // announcements evict the others in turn, and the room settles.
    let limits = Limits::default().with_outbound_budget(100);
    let mut sim = room_of(30, limits);
    for i in 2..=30 {
        sim.stall(ConnId(i), true);
    }
    sim.send(ConnId(1), br#"{"content":"one"}"#);
    sim.send(ConnId(1), br#"{"content":"two"}"#);
    sim.send(ConnId(1), br#"{"content":"three"}"#);
    // m01 is held by the members it fills until they count as stalled.
    sim.run_timers();
    assert!(sim.buf(ConnId(1)).is_empty(), "read again once the holds ran out");
    assert_eq!(sim.h.hub.len(), sim.h.hub.members().count());
    for i in 2..=30 {
        assert!(sim.h.hub.unsent(ConnId(i)).unwrap() <= 100);
    }
    let evs = sim.take_events();
    let joins_left = evs.iter().filter(|e| matches!(e, Event::Left { .. })).count();
    let evicted = evs.iter().filter(|e| matches!(e, Event::Evicted { .. })).count();
    assert_eq!(joins_left, evicted, "every evicted member leaves once");
    assert_eq!(sim.h.hub.len(), 30 - evicted);
}

#[test]
fn room_wire_bytes_are_exact() {
    let mut sim = Sim::new(Limits::default());
    let a = sim.join(1, "alice");
    let b = sim.join(2, "bob");
    let mut raw: Vec<(ConnId, Vec<u8>)> = Vec::new();
    let now = sim.h.now;
    let mut buf =
        BytesMut::from(&br#"{"content":"hi","to":["bob"]}{"content":"all"}{"list":true}"#[..]);
    sim.h.hub.handle(now, Input::Read { conn: a, buf: &mut buf });
    while let Some(o) = sim.h.hub.poll_output() {
        if let Output::Transmit { conn, data } = o {
            raw.push((conn, data.to_vec()));
        }
    }
    let want: Vec<(ConnId, &[u8])> = vec![
        (b, b"{\"type\":\"message\",\"from\":\"alice\",\"content\":\"hi\",\"to\":[\"bob\"]}\n"),
        (b, b"{\"type\":\"message\",\"from\":\"alice\",\"content\":\"all\"}\n"),
        (a, b"{\"type\":\"users\",\"users\":[\"alice\",\"bob\"]}\n"),
    ];
    assert_eq!(raw, want.into_iter().map(|(c, d)| (c, d.to_vec())).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// Property tests: the room
// ---------------------------------------------------------------------------

/// Runs a script of (client, bytes) through a room, each client's bytes cut
/// at `cuts`; returns what each connection received and whether it closed.
fn run_room(
    script: &[(u64, Vec<u8>)],
    cuts: &[usize],
) -> (BTreeMap<ConnId, Vec<ServerEvent>>, BTreeSet<ConnId>) {
    let mut sim = Sim::new(Limits::default().with_max_frame(256).with_outbound_budget(4096));
    for id in 1..=4 {
        sim.open(id);
    }
    for (k, (id, bytes)) in script.iter().enumerate() {
        let conn = ConnId(*id);
        let cuts: Vec<usize> = cuts.iter().map(|c| c.wrapping_add(k)).collect();
        for piece in pieces(bytes, &cuts) {
            sim.send(conn, piece);
        }
    }
    for id in 1..=4 {
        sim.input(Input::Eof { conn: ConnId(id) });
    }
    let closed = sim.closed();
    (sim.got, closed)
}

proptest! {
    #[test]
    fn room_output_does_not_depend_on_the_split(
        script in prop::collection::vec(
            (1u64..=4, prop::collection::vec((client_message(), whitespace()), 1..4)),
            0..12,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let script: Vec<(u64, Vec<u8>)> = script
            .into_iter()
            .map(|(id, msgs)| {
                let mut bytes = Vec::new();
                for (m, ws) in msgs {
                    bytes.extend_from_slice(&m.encode());
                    bytes.extend_from_slice(&ws);
                }
                (id, bytes)
            })
            .collect();
        let whole = run_room(&script, &[]);
        prop_assert_eq!(run_room(&script, &cuts), whole);
    }

    #[test]
    fn room_survives_arbitrary_bytes(
        script in prop::collection::vec(
            (1u64..=4, prop::collection::vec(
                prop_oneof![
                    4 => prop::sample::select(&b"{}\"\\ :,[]"[..]),
                    2 => prop::sample::select(&b"usernamecotlistrue"[..]),
                    1 => any::<u8>(),
                ],
                0..80,
            )),
            0..16,
        ),
    ) {
        // The simulated driver asserts the output invariants on the way.
        let _ = run_room(&script, &[]);
        let valid = script.iter().map(|(id, _)| (*id, br#"{"username":"x"}{"list":true}"#.to_vec()));
        let _ = run_room(&valid.collect::<Vec<_>>(), &[3, 7]);
    }
}

// ---------------------------------------------------------------------------
// Names that impersonate, join storms, fair share (issue 13)
// ---------------------------------------------------------------------------

#[test]
fn names_that_impersonate_are_refused() {
    let mut sim = Sim::new(Limits::default());
    let victim = sim.join(1, "victim");
    assert_eq!(sim.take(victim), [joined("victim")]);
    // Look-alikes of a taken name: name_taken. Forbidden characters and
    // names shaped like a peer address: bad_message, whatever is taken.
    let cases: [(&str, ErrorCode); 10] = [
        ("Victim", ErrorCode::NameTaken),
        ("VICTIM", ErrorCode::NameTaken),
        ("v\u{456}ctim", ErrorCode::NameTaken), // Cyrillic і
        ("victim\u{fe0f}", ErrorCode::NameTaken),
        ("vic\u{200b}tim", ErrorCode::BadMessage),
        ("\u{202e}mitciv", ErrorCode::BadMessage),
        ("victim ", ErrorCode::BadMessage),
        ("a\u{2028}b", ErrorCode::BadMessage),
        ("127.0.0.1:1234", ErrorCode::BadMessage),
        ("[::1]:5", ErrorCode::BadMessage),
    ];
    let c = sim.open(2);
    for (name, code) in cases {
        sim.send_msg(c, &ClientMessage::Join { username: name.into() });
        assert_eq!(code_of(&sim.take(c)), [code], "{name:?}");
        assert!(!sim.closed().contains(&c), "{name:?}: the connection stays");
    }
    assert!(sim.take(victim).is_empty(), "the victim hears nothing of it");
    assert_eq!(sim.h.hub.len(), 1);
    // An unnamed member is called by its address: nobody can take it.
    let unnamed = sim.open(3);
    sim.send(unnamed, br#"{"list":true}"#);
    assert_eq!(sim.h.hub.name(unnamed), Some("10.0.0.3:40003"));
    sim.send_msg(c, &ClientMessage::Join { username: "10.0.0.3:40003".into() });
    assert_eq!(code_of(&sim.take(c)), [ErrorCode::BadMessage]);
    // Once the victim leaves, the name (and its look-alikes) are free.
    sim.input(Input::Eof { conn: victim });
    sim.send_msg(c, &ClientMessage::Join { username: "Victim".into() });
    assert_eq!(sim.h.hub.name(c), Some("Victim"));
}

/// Joins `n` members at one instant on a bare harness (no decoding: a
/// room of n members gets n²/2 lines in all); returns it and how many
/// `Transmit`s the joins took.
fn storm(n: u64) -> (HubConns<Room>, usize) {
    let mut h = HubConns::new(Room::new(Limits::default()), Instant::ZERO);
    let mut app = |_: &Conns, _: Event| {};
    let mut transmits = 0;
    for i in 1..=n {
        let conn = ConnId(i);
        h.open(conn, &format!("10.0.{}.{}:4000", i / 250, i % 250), &mut app);
        let join = ClientMessage::Join { username: format!("m{i:04}") }.encode();
        h.read(conn, &join, &mut app);
        transmits += core::mem::take(&mut h.sent).len();
    }
    (h, transmits)
}

/// Everything `conn` was sent, as text.
fn text_sent(sent: &[(ConnId, Bytes)], conn: ConnId) -> String {
    let mut all = Vec::new();
    for (_, data) in sent.iter().filter(|(c, _)| *c == conn) {
        all.extend_from_slice(data);
    }
    String::from_utf8(all).expect("UTF-8")
}

#[test]
fn a_join_storm_costs_linear_writes() {
    // 1,500 members join at one instant: with every `joined` sent to every
    // member at once that is n(n+1)/2 = 1,125,750 writes; coalesced, the
    // first 65 go out at once and the rest in one batch when the timer
    // fires: about 3,600.
    const N: u64 = 1500;
    let (mut h, transmits) = storm(N);
    let small = (Room::BATCH_ABOVE as u64 + 1) * (Room::BATCH_ABOVE as u64 + 2) / 2;
    assert_eq!(transmits as u64, small, "only the small room's joins went out at once");
    let due = h.hub.poll_timeout().expect("a batch is due");
    assert_eq!(due, Instant::ZERO + Limits::default().announce_every);
    let mut app = |_: &Conns, _: Event| {};
    h.timeout(due, &mut app);
    let batch = core::mem::take(&mut h.sent);
    assert_eq!(batch.len() as u64, N, "one write per member");
    assert!(transmits as u64 + N < 4 * N, "linear: {transmits} + {N}");
    // One allocation for the batch, a slice of it per member.
    let first = batch[0].1.as_ptr();
    let end = first as usize + batch[0].1.len();
    assert!(batch.iter().all(|(_, d)| d.as_ptr() as usize + d.len() == end));
    // Each member got every `joined` from its own on, in order, once.
    // (The first 65 members got the lines up to m0065 at once.)
    for i in [1, 64, 65, 66, 700, N] {
        let want: String = (i.max(66)..=N)
            .map(|j| format!("{{\"type\":\"joined\",\"username\":\"m{j:04}\"}}\n"))
            .collect();
        assert_eq!(text_sent(&batch, ConnId(i)), want, "member {i}");
    }
    // A list is answered at once.
    h.read(ConnId(9), br#"{"list":true}"#, &mut app);
    let users = text_sent(&core::mem::take(&mut h.sent), ConnId(9));
    assert!(users.starts_with("{\"type\":\"users\",\"users\":[\"m0001\","), "{users:.80}");
}

#[test]
fn pending_announcements_go_out_before_anything_else() {
    // In a large room, a member that joins and at once asks for the list,
    // says something or leaves gets its own `joined` first.
    let (mut h, _) = storm(100);
    let mut app = |_: &Conns, _: Event| {};
    h.timeout(h.hub.poll_timeout().expect("due"), &mut app);
    h.sent.clear();
    let a = ConnId(101);
    h.open(a, "10.1.0.1:1", &mut app);
    h.read(a, br#"{"username":"late"}{"list":true}"#, &mut app);
    let got = text_sent(&h.sent, a);
    assert!(got.starts_with("{\"type\":\"joined\",\"username\":\"late\"}\n{\"type\":\"users\""));
    assert!(text_sent(&h.sent, ConnId(1)).is_empty(), "the others wait for the batch");
    h.sent.clear();
    let b = ConnId(102);
    h.open(b, "10.1.0.2:1", &mut app);
    h.read(b, br#"{"username":"later"}{"content":"hi"}"#, &mut app);
    let want = "{\"type\":\"joined\",\"username\":\"late\"}\n\
                {\"type\":\"joined\",\"username\":\"later\"}\n\
                {\"type\":\"message\",\"from\":\"later\",\"content\":\"hi\"}\n";
    assert_eq!(text_sent(&h.sent, ConnId(1)), want);
    assert_eq!(
        text_sent(&h.sent, a),
        "{\"type\":\"joined\",\"username\":\"later\"}\n\
         {\"type\":\"message\",\"from\":\"later\",\"content\":\"hi\"}\n"
    );
    assert_eq!(text_sent(&h.sent, b), "{\"type\":\"joined\",\"username\":\"later\"}\n");
    h.sent.clear();
    // A member that joins and leaves within a batch gets its `joined`,
    // then the close; the others get both lines in the next batch.
    let c = ConnId(103);
    h.open(c, "10.1.0.3:1", &mut app);
    h.read(c, br#"{"username":"brief"}"#, &mut app);
    h.eof(c, &mut app);
    assert_eq!(text_sent(&h.sent, c), "{\"type\":\"joined\",\"username\":\"brief\"}\n");
    assert!(h.is_closing(c));
    h.timeout(h.hub.poll_timeout().expect("due"), &mut app);
    assert_eq!(
        text_sent(&h.sent, ConnId(1)),
        "{\"type\":\"joined\",\"username\":\"brief\"}\n{\"type\":\"left\",\"username\":\"brief\"}\n"
    );
}

/// The fair-share scene on the simulated clock, 10 ms a tick: `flood`
/// sends 60 KB messages whenever the room reads it, `reader` reads
/// 15 KB a tick (1.5 MB/s), `stalled` never reads, `talker` says one line
/// at 3 s. Returns what `reader` got and the connections closed by then.
fn fair_share_scene(secs: u64) -> (String, BTreeSet<ConnId>, bool) {
    let limits = Limits::default();
    let mut h = HubConns::new(Room::new(limits), Instant::ZERO);
    let mut app = |_: &Conns, _: Event| {};
    let [flood, reader, stalled, talker] = [ConnId(1), ConnId(2), ConnId(3), ConnId(4)];
    for (conn, name) in
        [(flood, "flood"), (reader, "reader"), (stalled, "stalled"), (talker, "talker")]
    {
        h.open(conn, &format!("10.0.0.{}:1", conn.0), &mut app);
        let join = ClientMessage::Join { username: name.into() }.encode();
        h.read(conn, &join, &mut app);
    }
    h.conn(reader).stalled = true; // written by hand below
    h.conn(stalled).stalled = true;
    let big = say(&"f".repeat(60_000), &[]).encode();
    let mut got = BytesMut::new();
    let mut held = false;
    let tick = core::time::Duration::from_millis(10);
    for t in 1..=secs * 100 {
        // The flooder keeps its buffer full: the room takes what it wants.
        while h.conns[&flood].inbox.len() < 4 * big.len() {
            h.conn(flood).inbox.extend_from_slice(&big);
        }
        h.offer(flood, &mut app);
        held |= h.hub.is_held(flood);
        if t == 300 {
            h.read(talker, &say("still here", &[]).encode(), &mut app);
        }
        if !h.is_closing(reader) {
            h.write(reader, 15_000, &mut got);
        }
        h.drain(&mut app);
        let now = h.now + tick;
        h.timeout(now, &mut app);
        h.offer_resumed(&mut app);
    }
    let closed = h.conns.iter().filter(|(_, c)| c.closing).map(|(&id, _)| id).collect();
    (String::from_utf8(got.to_vec()).expect("UTF-8"), closed, held)
}

#[test]
fn a_flooder_is_slowed_and_a_fair_reader_stays() {
    let (got, closed, held) = fair_share_scene(6);
    assert!(held, "the flooder was held");
    assert!(!closed.contains(&ConnId(2)), "the reader keeping up was disconnected");
    assert!(closed.contains(&ConnId(3)), "the member that never reads is still evicted");
    assert!(got.contains("{\"type\":\"left\",\"username\":\"stalled\"}"));
    // The reader got a steady flow, and the other member's line.
    let floods = got.matches("\"from\":\"flood\"").count();
    assert!(floods > 50, "the flood went on at the reader's pace: {floods} messages");
    assert!(
        got.contains("{\"type\":\"message\",\"from\":\"talker\",\"content\":\"still here\"}\n"),
        "the talker was heard"
    );
}
