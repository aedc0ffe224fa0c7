//! The file machines: codec vectors (whole, byte by byte, with trailing
//! bytes), proptests (any split, arbitrary bytes), and a sender wired to a
//! receiver on a simulated clock, interrupted and resumed.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::testing::{Conn, Split, Writes, pieces};
use crate::{App, Instant, Session};

fn hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

fn transfer_bytes(name: &str, data: &[u8]) -> Vec<u8> {
    let mut v = alloc::format!("{name}|{}\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(alloc::format!("BLAKE3 {}\n", hex(data)).as_bytes());
    v
}

// ---------------------------------------------------------------------------
// The receiver, driven by the drain contract

/// What a receiver did with one input stream.
#[derive(Debug, Default, PartialEq, Eq)]
struct RxRun {
    wire: Vec<u8>,
    offers: Vec<(String, u64)>,
    disk: Vec<u8>,
    commits: Vec<Hash>,
    failures: Vec<(ErrorCode, bool)>,
    finished: bool,
    left: usize,
    position: u64,
}

/// A receiver's application: accepts at `resume` bytes of `partial`,
/// writes into `disk`, commits.
struct RxApp {
    partial: Vec<u8>,
    run: RxRun,
    now: Instant,
}

impl RxApp {
    fn new(partial: Vec<u8>) -> RxApp {
        RxApp { partial, run: RxRun::default(), now: Instant::ZERO }
    }
}

impl App<Receiver> for RxApp {
    fn on_event(&mut self, rx: &mut Receiver, ev: receiver::Event) {
        let now = self.now;
        match ev {
            receiver::Event::Offer { name, size } => {
                self.run.offers.push((name, size));
                let keep = if self.partial.len() as u64 <= size { self.partial.len() } else { 0 };
                self.partial.truncate(keep);
                self.run.disk = self.partial.clone();
                rx.accept(now, keep as u64).unwrap();
            }
            receiver::Event::Read { offset, len } => {
                let at = offset as usize;
                rx.supply(now, &self.partial[at..at + len]).unwrap();
            }
            receiver::Event::Write { offset, data } => {
                assert_eq!(offset as usize, self.run.disk.len(), "in order here");
                for piece in data {
                    self.run.disk.extend_from_slice(&piece);
                    rx.written(now, piece.len());
                }
            }
            receiver::Event::Commit { hash } => {
                self.run.commits.push(hash);
                rx.committed().unwrap();
            }
            receiver::Event::Failed { refusal, discard } => {
                self.run.failures.push((refusal.code, discard));
            }
        }
    }
}

/// Runs `input` through a fresh receiver in pieces of the given sizes
/// (cycled), then the end of the stream if `eof`.
fn receive(limits: Limits, input: &[u8], sizes: &[usize], eof: bool) -> RxRun {
    let now = Instant::ZERO;
    let mut rx = Conn::new(Receiver::new(limits, now), now);
    let mut app = RxApp::new(Vec::new());
    for piece in pieces(input, Split::Sizes(sizes)) {
        if rx.session.is_finished() {
            rx.feed(piece); // never read: left over
            continue;
        }
        rx.read(piece, &mut app);
        let bound = limits.header_cap + limits.max_buffered + piece.len();
        assert!(rx.inbox().len() <= bound, "unbounded buffering");
    }
    if eof && rx.session.wants_read() {
        rx.eof(&mut app);
    }
    app.run.wire = rx.take_wire();
    app.run.finished = rx.session.is_finished();
    app.run.left = rx.inbox().len();
    if !app.run.finished {
        // Mid-transfer, how much is written depends on how the bytes came
        // (batches); how much was received does not.
        app.run.position = rx.session.position();
        app.run.disk.clear();
    }
    app.run
}

/// Whole, byte by byte, and in 7-byte pieces: the same run.
fn receive_three_ways(input: &[u8], eof: bool) -> RxRun {
    let limits = Limits::default().with_write_batch(5).with_chunk(3);
    let whole = receive(limits, input, &[], eof);
    assert_eq!(receive(limits, input, &[1], eof), whole, "byte by byte");
    assert_eq!(receive(limits, input, &[7], eof), whole, "7-byte pieces");
    whole
}

fn wire(run: &RxRun) -> String {
    String::from_utf8(run.wire.clone()).unwrap()
}

#[test]
fn a_whole_transfer() {
    let input = transfer_bytes("a.txt", b"hello");
    let run = receive_three_ways(&input, false);
    assert_eq!(wire(&run), alloc::format!("OK 0\nDONE {}\n", hex(b"hello")));
    assert_eq!(run.offers, [("a.txt".to_string(), 5)]);
    assert_eq!(run.disk, b"hello");
    assert_eq!(run.commits, [blake3::hash(b"hello")]);
    assert!(run.finished && run.failures.is_empty());
}

#[test]
fn an_empty_file_and_crlf_lines() {
    let input = alloc::format!("empty|0\r\nBLAKE3 {}\r\n", hex(b"").to_uppercase());
    let run = receive_three_ways(input.as_bytes(), false);
    assert_eq!(wire(&run), alloc::format!("OK 0\nDONE {}\n", hex(b"")));
    assert!(run.finished);
}

#[test]
fn trailing_bytes_after_the_trailer_are_left_alone() {
    let mut input = transfer_bytes("a|b c", b"0123456789");
    input.extend_from_slice(b"junk after");
    let run = receive_three_ways(&input, false);
    assert_eq!(run.offers, [("a|b c".to_string(), 10)], "the name is before the last |");
    assert!(wire(&run).starts_with("OK 0\nDONE "));
    assert_eq!(run.left, "junk after".len());
}

#[test]
fn hostile_names_are_bad_name() {
    let long = "a".repeat(300);
    for name in [
        "../x",
        "/abs",
        "a/b",
        "..",
        ".",
        "a\\b",
        "a\0b",
        "tab\there",
        "del\x7f",
        "\u{85}c1",
        "",
        &long,
        // What no name may hold (crate::text): invisible, bidi, separators,
        // whitespace at the ends.
        "vic\u{200b}tim",
        "\u{202e}mitciv",
        "invoice\u{202e}fdp.exe",
        "victim ",
        " victim",
        "a\u{2028}b",
        "a\u{2029}b",
        "\u{feff}x",
    ] {
        let input = alloc::format!("{name}|1\nx");
        let run = receive_three_ways(input.as_bytes(), false);
        assert!(wire(&run).starts_with("ERR bad_name "), "{name:?}: {}", wire(&run));
        assert!(wire(&run).ends_with('\n') && wire(&run).matches('\n').count() == 1);
        assert!(run.offers.is_empty() && run.disk.is_empty() && run.finished, "{name:?}");
    }
    let not_utf8 = b"caf\xe9|1\n";
    assert!(wire(&receive_three_ways(not_utf8, false)).starts_with("ERR bad_name "));
    // 255 bytes of UTF-8 is fine.
    let ok = "é".repeat(127) + "x";
    assert_eq!(ok.len(), 255);
    let run = receive_three_ways(&transfer_bytes(&ok, b"1"), false);
    assert!(wire(&run).starts_with("OK 0\n"), "{}", wire(&run));
}

#[test]
fn bad_headers_and_sizes() {
    for (input, code) in [
        (&b"no bar at all\n"[..], "bad_header"),
        (b"a|\n", "bad_header"),
        (b"a|12x\n", "bad_header"),
        (b"a|-1\n", "bad_header"),
        (b"a| 1\n", "bad_header"),
        (b"a|1.5\n", "bad_header"),
        (b"a|18446744073709551616\n", "too_large"),
        (b"a|99999999999999999999999999\n", "too_large"),
    ] {
        let run = receive_three_ways(input, false);
        assert!(
            wire(&run).starts_with(&alloc::format!("ERR {code} ")),
            "{input:?}: {}",
            wire(&run)
        );
        assert!(run.finished);
    }
    let limits = Limits::default().with_max_size(10);
    let run = receive(limits, b"a|11\n", &[], false);
    assert!(wire(&run).starts_with("ERR too_large "), "{}", wire(&run));
    let run = receive(limits, b"a|10\n", &[], false);
    assert_eq!(wire(&run), "OK 0\n");
    let run = receive(Limits::default(), b"a|18446744073709551615\n", &[], false);
    assert!(wire(&run).starts_with("ERR too_large "), "u64::MAX is over the default limit");
}

#[test]
fn the_header_cap_is_4_kib_newline_included() {
    // `a|` + 4093 digits + `\n` = 4096 bytes: read.
    let mut ok = b"a|".to_vec();
    ok.extend(core::iter::repeat_n(b'0', 4092));
    ok.extend_from_slice(b"1\n");
    assert_eq!(ok.len(), 4096);
    assert!(wire(&receive_three_ways(&ok, false)).starts_with("OK 0\n"));
    // One more digit: over the cap.
    let mut long = b"a|0".to_vec();
    long.extend_from_slice(&ok[2..]);
    let run = receive_three_ways(&long, false);
    assert!(wire(&run).starts_with("ERR bad_header "), "{}", wire(&run));
    // No newline at all: answered as soon as 4096 bytes are in.
    let run = receive(Limits::default(), &[b'x'; 5000], &[], false);
    assert!(wire(&run).starts_with("ERR bad_header "));
    assert!(run.finished);
}

#[test]
fn short_transfers_keep_what_arrived() {
    let run = receive_three_ways(b"a|10\nhello", true);
    assert!(wire(&run).starts_with("OK 0\nERR short "), "{}", wire(&run));
    assert_eq!(run.disk, b"hello");
    assert_eq!(run.failures, [(ErrorCode::Short, false)]);
    // All the data but no trailer: short too.
    let run = receive_three_ways(b"a|5\nhelloBLAKE3 ab", true);
    assert!(wire(&run).starts_with("OK 0\nERR short "));
    assert_eq!(run.disk, b"hello");
    // The end inside the header.
    let run = receive_three_ways(b"a|5", true);
    assert!(wire(&run).starts_with("ERR bad_header "));
    // Nothing at all: closed without a word.
    let run = receive(Limits::default(), b"", &[], true);
    assert_eq!(run.wire, b"");
}

#[test]
fn a_slow_disk_is_not_a_silent_sender() {
    // Found by the simulated network (tests/integration/sim): a receiver
    // that stopped reading because its writes were not done yet timed
    // out after the idle timeout with `ERR short ... the sender was
    // silent`, blaming the sender for its own disk.
    let limits = Limits::default().with_max_buffered(4).with_write_batch(4);
    let t0 = Instant::ZERO;
    let idle = limits.idle_timeout;
    let mut rx = Receiver::new(limits, t0);
    let mut buf = BytesMut::from(&b"f|10\n0123456789"[..]);
    rx.handle_read(t0, &mut buf);
    assert!(matches!(rx.poll_event(), Some(receiver::Event::Offer { .. })));
    rx.accept(t0, 0).unwrap();
    rx.handle_read(t0, &mut buf);
    let Some(receiver::Event::Write { offset: 0, data }) = rx.poll_event() else { panic!() };
    assert_eq!(data.concat(), b"0123");
    assert!(!rx.wants_read(), "4 bytes unwritten: the receiver stops reading");
    // The disk takes longer than the idle timeout.
    let late = t0 + idle + Duration::from_secs(5);
    rx.handle_timeout(late);
    assert_eq!(rx.poll_event(), None, "no failure while waiting for the disk");
    assert!(!rx.is_finished());
    assert!(rx.poll_timeout().is_some_and(|at| at > late), "a deadline is kept");
    // The write completes: reading resumes, the rest arrives.
    rx.written(late, 4);
    assert!(rx.wants_read());
    rx.handle_read(late, &mut buf);
    assert!(matches!(rx.poll_event(), Some(receiver::Event::Write { offset: 4, .. })));
    // A sender silent while the receiver does wait for it still times out.
    rx.written(late, 4);
    let Some(at) = rx.poll_timeout() else { panic!("the idle timer") };
    assert_eq!(at, late + idle);
    rx.handle_read(late, &mut buf);
    assert!(matches!(rx.poll_event(), Some(receiver::Event::Write { offset: 8, .. })));
    rx.written(late, 2);
    rx.handle_timeout(late + idle);
    assert!(matches!(
        rx.poll_event(),
        Some(receiver::Event::Failed { refusal: Refusal { code: ErrorCode::Short, .. }, .. })
    ));
}

#[test]
fn done_is_awaited_from_the_last_byte_written() {
    // Found by the simulated network (tests/integration/sim): the DONE
    // timer ran from the moment the trailer was queued, so on a slow link
    // the sender gave up (`DoneTimeout`) a few seconds after its last byte
    // actually left, or before.
    let limits = Limits::default();
    let t0 = Instant::ZERO;
    let wait = limits.done_timeout;
    let mut tx = Sender::new("f", 3, limits, t0).unwrap();
    let header = tx.poll_transmit().unwrap();
    tx.handle_sent(t0, header.len());
    tx.handle_read(t0, &mut BytesMut::from(&b"OK 0\n"[..]));
    assert!(matches!(tx.poll_event(), Some(sender::Event::Accepted { offset: 0, .. })));
    assert!(matches!(tx.poll_event(), Some(sender::Event::Read { offset: 0, len: 3 })));
    tx.supply(t0, Bytes::from_static(b"abc")).unwrap();
    let queued: usize = core::iter::from_fn(|| tx.poll_transmit()).map(|b| b.len()).sum();
    // The link drains slowly: the last byte leaves 100 s later.
    let last = t0 + Duration::from_secs(100);
    tx.handle_sent(t0 + Duration::from_secs(50), queued - 1);
    tx.handle_sent(last, 1);
    assert_eq!(tx.poll_timeout(), Some(last + wait));
    tx.handle_timeout(t0 + wait + Duration::from_secs(1));
    assert_eq!(tx.poll_event(), None, "gave up waiting for DONE before the trailer left");
    tx.handle_timeout(last + wait);
    assert!(matches!(tx.poll_event(), Some(sender::Event::Failed(sender::Error::DoneTimeout(_)))));
}

#[test]
fn a_wrong_hash_discards() {
    let mut input = b"a|5\nhello".to_vec();
    input.extend_from_slice(alloc::format!("BLAKE3 {}\n", hex(b"world")).as_bytes());
    let run = receive_three_ways(&input, false);
    assert!(wire(&run).starts_with("OK 0\nERR hash_mismatch "), "{}", wire(&run));
    assert_eq!(run.failures, [(ErrorCode::HashMismatch, true)]);
    assert!(run.commits.is_empty());
    // Not a trailer at all (the file grew while it was sent).
    let run = receive_three_ways(b"a|5\nhello, and more\n", false);
    assert!(wire(&run).starts_with("OK 0\nERR hash_mismatch "));
    let run = receive(Limits::default(), &[&b"a|1\nx"[..], &[b'y'; 200]].concat(), &[], false);
    assert!(wire(&run).starts_with("OK 0\nERR hash_mismatch "));
}

#[test]
fn refusals_encode_on_one_line() {
    let r = Refusal::new(ErrorCode::Exists, "a\nb\rc");
    assert_eq!(&r.encode()[..], b"ERR exists a b c\n");
    assert_eq!(Refusal::decode(b"ERR exists a b c"), Some(r));
    assert_eq!(&Refusal::new(ErrorCode::Short, "").encode()[..], b"ERR short\n");
    assert_eq!(Refusal::decode(b"ERR short"), Some(Refusal::new(ErrorCode::Short, "")));
    assert_eq!(Refusal::decode(b"ERR nope x"), None);
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
    }
}

#[test]
fn stash_names_fit() {
    assert_eq!(Stash::for_name("x").part(), ".x.part");
    let a = Stash::for_name(&"a".repeat(255));
    let b = Stash::for_name(&("a".repeat(254) + "b"));
    assert_ne!(a, b, "long names keep distinct stashes");
    assert!(a.size_note().len() <= 255 && b.size_note().len() <= 255);
    let multi = "é".repeat(127);
    assert!(Stash::for_name(&multi).size_note().len() <= 255);
}

// ---------------------------------------------------------------------------
// The sender, driven by the drain contract

#[derive(Debug, Default, PartialEq, Eq)]
struct TxRun {
    wire: Vec<u8>,
    events: Vec<String>,
    finished: bool,
}

/// A sender's application: answers reads from `file` (in two pieces with
/// `halves`, to show any split of a read is fine) and records the rest.
struct TxApp {
    file: Bytes,
    halves: bool,
    events: Vec<sender::Event>,
    now: Instant,
}

impl TxApp {
    fn new(file: &[u8], halves: bool) -> TxApp {
        TxApp { file: Bytes::copy_from_slice(file), halves, events: Vec::new(), now: Instant::ZERO }
    }

    /// The events as text, a bad answer without what it quotes (that
    /// depends on how much of it came).
    fn texts(&self) -> Vec<String> {
        let text = |ev: &sender::Event| match ev {
            sender::Event::Failed(sender::Error::BadAnswer(_)) => "Failed(BadAnswer)".into(),
            other => alloc::format!("{other:?}"),
        };
        self.events.iter().map(text).collect()
    }
}

impl App<Sender> for TxApp {
    fn on_event(&mut self, tx: &mut Sender, ev: sender::Event) {
        match ev {
            sender::Event::Read { offset, len } => {
                let at = offset as usize;
                let half = if self.halves { len / 2 } else { 0 };
                if half > 0 {
                    tx.supply(self.now, self.file.slice(at..at + half)).unwrap();
                }
                tx.supply(self.now, self.file.slice(at + half..at + len)).unwrap();
            }
            other => self.events.push(other),
        }
    }
}

/// A sender of `file` fed `answers` in pieces; `clock` moves to the next
/// deadline whenever the answers are exhausted, up to `ticks` times.
fn send(file: &[u8], answers: &[u8], sizes: &[usize], eof: bool, ticks: usize) -> TxRun {
    let limits = Limits::default().with_chunk(4).with_max_buffered(10);
    let now = Instant::ZERO;
    let tx = Sender::new("f", file.len() as u64, limits, now).unwrap();
    let mut tx = Conn::new(tx, now).with_writes(Writes::Report);
    let mut app = TxApp::new(file, true);
    tx.drain(&mut app);
    for piece in pieces(answers, Split::Sizes(sizes)) {
        if tx.session.is_finished() {
            break;
        }
        tx.read(piece, &mut app);
    }
    if eof && tx.session.wants_read() {
        tx.eof(&mut app);
    }
    for _ in 0..ticks {
        let Some(at) = tx.session.poll_timeout() else { break };
        app.now = at;
        tx.timeout(at, &mut app);
    }
    TxRun { wire: tx.take_wire(), events: app.texts(), finished: tx.session.is_finished() }
}

fn send_three_ways(file: &[u8], answers: &[u8], eof: bool, ticks: usize) -> TxRun {
    // The events are the same however the answers come (what was sent
    // before an answer arrived may differ).
    let whole = send(file, answers, &[], eof, ticks);
    for sizes in [&[1][..], &[3]] {
        let split = send(file, answers, sizes, eof, ticks);
        assert_eq!((&split.events, split.finished), (&whole.events, whole.finished), "{sizes:?}");
    }
    whole
}

#[test]
fn sender_happy_path() {
    let file = b"0123456789abcdefghij";
    let answers = alloc::format!("OK 0\nDONE {}\n", hex(file));
    let run = send_three_ways(file, answers.as_bytes(), false, 0);
    let expected = transfer_bytes("f", file);
    assert_eq!(run.wire, expected);
    assert_eq!(run.events.len(), 2, "{:?}", run.events);
    assert!(run.events[0].starts_with("Accepted { offset: 0, verified: true"));
    assert!(run.events[1].starts_with("Done"));
    assert!(run.finished);
}

#[test]
fn sender_resumes_from_the_offset_and_hashes_everything() {
    let file = b"0123456789abcdefghij";
    let answers = alloc::format!("OK 12\r\nDONE {}\n", hex(file).to_uppercase());
    let run = send_three_ways(file, answers.as_bytes(), false, 0);
    let mut expected = b"f|20\ncdefghij".to_vec();
    expected.extend_from_slice(alloc::format!("BLAKE3 {}\n", hex(file)).as_bytes());
    assert_eq!(run.wire, expected);
    assert!(run.events[1].starts_with("Done"));
    // The whole file already there: the trailer alone.
    let answers = alloc::format!("OK 20\nDONE {}\n", hex(file));
    let run = send_three_ways(file, answers.as_bytes(), false, 0);
    assert_eq!(run.wire, alloc::format!("f|20\nBLAKE3 {}\n", hex(file)).into_bytes());
}

#[test]
fn sender_bare_ok_by_timer_by_newline_and_by_eof() {
    let file = b"0123456789";
    // `OK` then silence: after bare_ok_wait, the bytes alone.
    let run = send_three_ways(file, b"OK", false, 1);
    assert_eq!(run.wire, b"f|10\n0123456789");
    assert!(run.events[0].contains("verified: false"), "{:?}", run.events);
    assert!(run.events[1].starts_with("Unverified"));
    assert!(run.finished);
    // Not before the wait.
    let run = send_three_ways(file, b"OK", false, 0);
    assert_eq!(run.wire, b"f|10\n");
    assert!(!run.finished);
    // `OK` and then the rest of `OK 3\n` after a pause: not bare (a fuzz find).
    let run = send(file, b"OK 3\n", &[2, 3], false, 1);
    assert!(run.events[0].contains("Accepted { offset: 3, verified: true"), "{:?}", run.events);
    let run = send(file, b"OK \xf2", &[2, 3], false, 1);
    assert!(run.events[0].contains("AckTimeout"), "{:?}", run.events);
    // `OK\n`, and `OK` then the end of the stream.
    assert_eq!(send_three_ways(file, b"OK\n", false, 0).wire, b"f|10\n0123456789");
    assert_eq!(send_three_ways(file, b"OK", true, 0).wire, b"f|10\n0123456789");
}

#[test]
fn sender_failures() {
    let file = b"0123456789";
    let run = send_three_ways(file, b"ERR exists f is already there\n", false, 0);
    assert_eq!(run.events, ["Refused(Refusal { code: Exists, message: \"f is already there\" })"]);
    assert!(run.finished && run.wire == b"f|10\n");
    let run = send_three_ways(file, b"OK 11\n", false, 0);
    assert!(run.events[0].contains("OffsetPastEnd"), "{:?}", run.events);
    let run = send_three_ways(file, b"HTTP/1.1 400 Bad Request\r\n", false, 0);
    assert!(run.events[0].contains("BadAnswer"), "{:?}", run.events);
    let run = send_three_ways(file, b"OKAY\n", false, 0);
    assert!(run.events[0].contains("BadAnswer"), "{:?}", run.events);
    let run = send_three_ways(file, b"", false, 1);
    assert!(run.events[0].contains("AckTimeout"), "{:?}", run.events);
    let run = send_three_ways(file, b"", true, 0);
    assert!(run.events[0].contains("Closed"), "{:?}", run.events);
    let run = send_three_ways(file, b"OK 0\n", true, 0);
    assert!(run.events[1].contains("Closed"), "no DONE: {:?}", run.events);
    let run = send_three_ways(file, b"OK 0\n", false, 1);
    assert!(run.events[1].contains("DoneTimeout"), "{:?}", run.events);
    let run = send_three_ways(file, b"OK 0\nERR hash_mismatch nope\n", false, 0);
    assert!(run.events[1].starts_with("Refused(Refusal { code: HashMismatch"), "{:?}", run.events);
    let wrong = alloc::format!("OK 0\nDONE {}\n", hex(b"other"));
    let run = send_three_ways(file, wrong.as_bytes(), false, 0);
    assert!(run.events[1].contains("DoneMismatch"), "{:?}", run.events);
    assert!(Sender::new("../x", 1, Limits::default(), Instant::ZERO).is_err());
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let now = Instant::ZERO;
    let mut tx = Sender::new("f", 3, Limits::default(), now).unwrap();
    assert!(tx.supply(now, Bytes::from_static(b"x")).is_err(), "before the ack");
    let mut rx = Receiver::new(Limits::default(), now);
    assert!(rx.accept(now, 0).is_err());
    assert!(rx.committed().is_err());
    rx.handle_read(now, &mut BytesMut::from(&b"a|3\n"[..]));
    assert!(rx.accept(now, 4).is_err(), "past the size");
    assert!(rx.supply(now, b"x").is_err());
}

// ---------------------------------------------------------------------------
// Proptests

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_a_transfer_is_the_same(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        sizes in proptest::collection::vec(1usize..40, 1..8),
        eof in any::<bool>(),
        cut in 0usize..400,
    ) {
        let mut input = transfer_bytes("p.bin", &data);
        input.truncate(cut.max(input.len() * usize::from(eof)));
        let limits = Limits::default().with_write_batch(16).with_max_buffered(64);
        let whole = receive(limits, &input, &[], eof);
        prop_assert_eq!(receive(limits, &input, &sizes, eof), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_receiver(
        input in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..50, 1..6),
        eof in any::<bool>(),
    ) {
        let limits = Limits::default().with_header_cap(128).with_max_buffered(32).with_write_batch(8);
        let whole = receive(limits, &input, &[], eof);
        prop_assert_eq!(receive(limits, &input, &sizes, eof), whole);
    }

    #[test]
    fn arbitrary_answers_never_panic_a_sender(
        answers in proptest::collection::vec(any::<u8>(), 0..200),
        prefix in prop_oneof![Just(&b""[..]), Just(&b"OK 3\n"[..]), Just(&b"OK"[..]), Just(&b"OK 0\nDONE "[..])],
        sizes in proptest::collection::vec(1usize..20, 1..6),
        eof in any::<bool>(),
    ) {
        // The events are the same however the answers come; what was sent
        // before a bad answer arrived is not.
        let input = [prefix, &answers[..]].concat();
        let whole = send(b"0123456789", &input, &[], eof, 3);
        let split = send(b"0123456789", &input, &sizes, eof, 3);
        prop_assert_eq!(split.events, whole.events);
        prop_assert_eq!(split.finished, whole.finished);
    }

    #[test]
    fn names_round_trip_through_the_header(name in "[^/\\\\\\x00-\\x1f\\x7f-\\u{9f}]{1,60}") {
        prop_assume!(name != "." && name != "..");
        prop_assume!(crate::text::check_name_chars(&name).is_ok());
        let h = Header { name: name.clone(), size: 42 };
        let line = h.encode();
        prop_assert_eq!(Header::decode(&line[..line.len() - 1], u64::MAX), Ok(h));
    }
}

// ---------------------------------------------------------------------------
// A sender and a receiver on a simulated clock

/// The receiver's side of a simulated directory: final files and partial
/// ones, with the size each partial file was for.
#[derive(Debug, Default)]
struct Dir {
    files: BTreeMap<String, Vec<u8>>,
    parts: BTreeMap<String, (u64, Vec<u8>)>,
}

/// How a simulated link behaves.
#[derive(Clone, Copy)]
enum Link {
    /// Everything arrives.
    Whole,
    /// The sender's bytes past this many are lost and the link dies (both
    /// ends see the end of the stream).
    CutAfter(usize),
    /// The sender's bytes past this many never arrive and the link stays
    /// up: only the receiver's idle timer ends it.
    StallAfter(usize),
}

#[derive(Debug)]
struct PairOutcome {
    tx: Vec<String>,
    rx_failures: Vec<ErrorCode>,
    offset: u64,
    elapsed: Duration,
}

/// The receiver's application over a [`Dir`]: resumes a partial file of
/// the same size, writes, commits, discards on a failed hash.
struct RxDir<'a> {
    dir: &'a mut Dir,
    current: Option<String>,
    failures: Vec<ErrorCode>,
    now: Instant,
}

impl App<Receiver> for RxDir<'_> {
    fn on_event(&mut self, rx: &mut Receiver, ev: receiver::Event) {
        let (dir, now) = (&mut *self.dir, self.now);
        match ev {
            receiver::Event::Offer { name, size } => {
                let keep = match dir.parts.get(&name) {
                    Some((s, data)) if *s == size => data.len() as u64,
                    _ => {
                        dir.parts.insert(name.clone(), (size, Vec::new()));
                        0
                    }
                };
                self.current = Some(name);
                rx.accept(now, keep).unwrap();
            }
            receiver::Event::Read { offset, len } => {
                let part = &dir.parts[self.current.as_ref().unwrap()].1;
                let at = offset as usize;
                rx.supply(now, &part[at..at + len]).unwrap();
            }
            receiver::Event::Write { offset, data } => {
                let part = &mut dir.parts.get_mut(self.current.as_ref().unwrap()).unwrap().1;
                assert_eq!(offset as usize, part.len());
                for piece in data {
                    part.extend_from_slice(&piece);
                    rx.written(now, piece.len());
                }
            }
            receiver::Event::Commit { hash } => {
                let name = self.current.clone().unwrap();
                let (_, data) = dir.parts.remove(&name).unwrap();
                assert_eq!(blake3::hash(&data), hash);
                dir.files.insert(name, data);
                rx.committed().unwrap();
            }
            receiver::Event::Failed { refusal, discard } => {
                self.failures.push(refusal.code);
                if discard {
                    dir.parts.remove(self.current.as_ref().unwrap());
                }
            }
        }
    }
}

/// One connection from a sender of `file` to a receiver over `link`, in
/// 1000-byte steps of 1 ms each.
fn transfer(dir: &mut Dir, name: &str, file: &Bytes, link: Link) -> PairOutcome {
    let limits = Limits::default().with_chunk(1000).with_write_batch(3000).with_max_buffered(8000);
    let t0 = Instant::ZERO;
    let mut now = t0;
    let tx = Sender::new(name, file.len() as u64, limits, now).unwrap();
    let mut tx = Conn::new(tx, now).with_writes(Writes::Hold).named("sender");
    let mut rx = Conn::new(Receiver::new(limits, now), now).with_writes(Writes::Hold);
    let mut tapp = TxApp::new(file, false);
    let mut rapp = RxDir { dir, current: None, failures: Vec::new(), now };
    let mut delivered = 0usize;
    let mut dead = false;
    for _step in 0..1_000_000 {
        let mut progress = tx.drain(&mut tapp);
        // The link moves up to 1000 bytes.
        let allowed = match link {
            Link::Whole => usize::MAX,
            Link::CutAfter(n) | Link::StallAfter(n) => n,
        };
        if !dead {
            let max = allowed.saturating_sub(delivered).min(1000);
            let n = tx.write_into(rx.inbox_mut(), max, &mut tapp);
            delivered += n;
            progress |= n > 0;
        }
        let cut =
            matches!(link, Link::CutAfter(c) if delivered >= c) && !dead && tx.unwritten() > 0;
        // Receiver.
        progress |= rx.drain(&mut rapp);
        if cut {
            dead = true;
            if rx.wants_read() {
                rx.eof(&mut rapp);
            }
        }
        if dead {
            rx.drop_unwritten();
        } else {
            progress |= rx.write_into(tx.inbox_mut(), usize::MAX, &mut rapp) > 0;
        }
        progress |= tx.drain(&mut tapp);
        if dead && tx.wants_read() {
            tx.eof(&mut tapp);
        }
        if tx.session.is_finished() && rx.session.is_finished() {
            break;
        }
        // Time: 1 ms a step, or straight to the next deadline when stuck.
        let next = rx.session.poll_timeout().into_iter().chain(tx.session.poll_timeout()).min();
        now = match next {
            Some(at) if !progress => at.max(now),
            _ => now + Duration::from_millis(1),
        };
        (tapp.now, rapp.now) = (now, now);
        rx.timeout(now, &mut rapp);
        tx.timeout(now, &mut tapp);
        if rx.session.is_finished() && !dead && rapp.failures.last() == Some(&ErrorCode::Short) {
            dead = true; // the receiver closed on a stalled sender
        }
    }
    let tx_events = tapp.texts();
    let offset = rx.session.offset();
    PairOutcome { tx: tx_events, rx_failures: rapp.failures, offset, elapsed: now - t0 }
}

fn test_file(len: usize) -> Bytes {
    (0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>().into()
}

#[test]
fn pair_transfers_a_file() {
    let file = test_file(50_000);
    let mut dir = Dir::default();
    let out = transfer(&mut dir, "f.bin", &file, Link::Whole);
    assert!(
        dir.files.contains_key("f.bin"),
        "{out:?} {:?}",
        dir.parts.get("f.bin").map(|p| p.1.len())
    );
    assert_eq!(dir.files["f.bin"], file);
    assert!(dir.parts.is_empty());
    assert!(out.tx.last().unwrap().starts_with("Done"), "{:?}", out.tx);
    assert!(out.rx_failures.is_empty());
}

#[test]
fn pair_interrupted_then_resumed_from_the_right_offset() {
    let file = test_file(50_000);
    let mut dir = Dir::default();
    let out = transfer(&mut dir, "f.bin", &file, Link::CutAfter(30_000));
    assert!(dir.files.is_empty(), "no file under the final name");
    let header = "f.bin|50000\n".len();
    let kept = dir.parts["f.bin"].1.len();
    assert_eq!(kept, 30_000 - header, "every byte that arrived was kept");
    assert!(out.tx.last().unwrap().contains("Closed"), "{:?}", out.tx);
    assert_eq!(out.rx_failures, [ErrorCode::Short]);
    let out = transfer(&mut dir, "f.bin", &file, Link::Whole);
    assert_eq!(out.offset, kept as u64);
    assert_eq!(dir.files["f.bin"], file);
    assert!(dir.parts.is_empty());
    assert!(
        out.tx
            .iter()
            .any(|e| e == &alloc::format!("Accepted {{ offset: {kept}, verified: true }}"))
    );
    assert!(out.tx.last().unwrap().starts_with("Done"));
}

#[test]
fn pair_stalled_sender_times_out_on_the_simulated_clock_then_resumes() {
    let file = test_file(20_000);
    let mut dir = Dir::default();
    let out = transfer(&mut dir, "s.bin", &file, Link::StallAfter(12_000));
    assert_eq!(out.rx_failures, [ErrorCode::Short]);
    // The receiver waited exactly its idle timeout after the last byte.
    let idle = Limits::default().idle_timeout;
    assert!(
        out.elapsed >= idle && out.elapsed < idle + Duration::from_secs(1),
        "{:?}",
        out.elapsed
    );
    let kept = dir.parts["s.bin"].1.len() as u64;
    assert!(kept > 0);
    let out = transfer(&mut dir, "s.bin", &file, Link::Whole);
    assert_eq!(out.offset, kept);
    assert_eq!(dir.files["s.bin"], file);
}

#[test]
fn pair_a_part_of_another_size_starts_over() {
    let file = test_file(10_000);
    let mut dir = Dir::default();
    dir.parts.insert("g".into(), (9_999, vec![1; 5000]));
    let out = transfer(&mut dir, "g", &file, Link::Whole);
    assert_eq!(out.offset, 0);
    assert_eq!(dir.files["g"], file);
}

#[test]
fn pair_corrupted_part_is_caught_by_the_hash_and_discarded() {
    let file = test_file(10_000);
    let mut dir = Dir::default();
    let mut bad = file[..4000].to_vec();
    bad[100] ^= 1;
    dir.parts.insert("h".into(), (10_000, bad));
    let out = transfer(&mut dir, "h", &file, Link::Whole);
    assert_eq!(out.offset, 4000);
    assert_eq!(out.rx_failures, [ErrorCode::HashMismatch]);
    assert!(out.tx.last().unwrap().contains("HashMismatch"), "{:?}", out.tx);
    assert!(dir.files.is_empty() && dir.parts.is_empty(), "a failed hash leaves nothing");
}

#[test]
fn pair_against_a_reference_receiver_on_the_clock() {
    // The reference `receive_file`: one recv for the header, `OK`, then
    // exactly SIZE bytes.
    let file = test_file(5000);
    let tx = Sender::new("r.bin", 5000, Limits::default(), Instant::ZERO).unwrap();
    let mut tx = Conn::new(tx, Instant::ZERO).with_writes(Writes::Report);
    let mut app = TxApp::new(&file, false);
    tx.drain(&mut app);
    let header = tx.take_wire();
    tx.read(b"OK", &mut app);
    for _ in 0..100 {
        if tx.session.is_finished() {
            break;
        }
        let Some(at) = tx.session.poll_timeout() else { continue };
        app.now = at;
        tx.timeout(at, &mut app);
    }
    let (now, got, events) = (tx.now, tx.take_wire(), app.events);
    assert_eq!(&header[..], b"r.bin|5000\n");
    assert_eq!(got, file);
    assert_eq!(now, Instant::ZERO + Limits::default().bare_ok_wait);
    assert_eq!(events[0], sender::Event::Accepted { offset: 0, verified: false });
    assert_eq!(events[1], sender::Event::Unverified { hash: blake3::hash(&file) });
}

#[test]
fn a_header_without_a_newline_times_out_with_a_hint() {
    // The tutorial's sender: `NAME|SIZE` with no newline, then it waits.
    let limits = Limits::default();
    let t0 = Instant::ZERO;
    for (input, hint) in [(&b"notes.txt|12"[..], true), (&b""[..], false)] {
        let mut rx = Receiver::new(limits, t0);
        let mut buf = BytesMut::from(input);
        rx.handle_read(t0, &mut buf);
        assert_eq!(rx.poll_event(), None, "no header yet");
        rx.handle_timeout(t0 + limits.idle_timeout);
        let Some(receiver::Event::Failed { refusal, discard: false }) = rx.poll_event() else {
            panic!("no failure")
        };
        assert_eq!(refusal.code, ErrorCode::BadHeader);
        assert_eq!(refusal.message.contains("no newline"), hint, "{refusal:?}");
        let line = rx.poll_transmit().expect("the ERR line");
        assert!(line.starts_with(b"ERR bad_header "), "{line:?}");
        assert!(rx.is_finished());
    }
}
