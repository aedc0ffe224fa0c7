//! File transfer: a [`Sender`] and a [`Receiver`] over simulated links,
//! the test playing both disks (the source as bytes, the receiver's
//! partial file and final file as `Vec`s, reads and writes completing
//! later, in pieces). A run is a series of attempts at one transfer: some
//! interrupted (the sender gives up midway, its disk stalls, the
//! connection resets, the clock jumps past a timeout, the receiver
//! refuses, the partial file is corrupted between attempts), each later
//! one resuming from what the partial file holds; then clean attempts,
//! the first of which must end in `DONE` (or, after a corrupted or
//! misplaced partial file, in `hash_mismatch` and a second, fresh one in
//! `DONE`).
//!
//! Checked on every step: the receiver's writes are contiguous from the
//! offset it accepted and carry exactly the source's bytes; a resume
//! starts at the partial file's length and the sender's reads cover the
//! file once, in order. At the end of each attempt: both machines are
//! finished (or gone with the connection); `Commit` only when the partial
//! file equals the source, never after a truncation (every byte and the
//! trailer consumed); the sender's `Done` only with a commit and the same
//! hash; every `ERR` the sender sees is the one the receiver sent; each
//! failure is one the attempt's faults explain.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use sansnet_proto::file::{ErrorCode, Hash, Limits, Receiver, Refusal, Sender, receiver, sender};
use sansnet_proto::{Instant, Session};

use super::{Driven, Pipe, Rng, advance, for_seeds};

const NAME: &str = "sim file.bin";

/// The receiver's disk.
#[derive(Default)]
struct Disk {
    part: Option<Vec<u8>>,
    /// Holds bytes that are not the source's (corrupted between attempts,
    /// or written by a sender that took a split `OK` for a bare ack).
    tainted: bool,
    done: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// The sender gives up at this step.
    Abort(usize),
    /// The connection vanishes at this step.
    Reset(usize),
    /// The sender's disk stops answering at this step.
    Stall(usize),
    /// The receiver answers the offer with `ERR exists`.
    Refuse,
    /// The receiver's disk fails at this step: `ERR io`.
    GiveUp(usize),
}

struct RxApp<'a> {
    src: &'a [u8],
    disk: &'a mut Disk,
    now: Instant,
    refuse: bool,
    accepted: Option<u64>,
    /// Where the next write must start.
    next_write: u64,
    writes: VecDeque<(u64, Bytes)>,
    committed: Option<Hash>,
    failed: Option<(ErrorCode, bool)>,
    refused_offer: bool,
    /// The sender took a split `OK` for a bare one: its bytes land at the
    /// wrong offset.
    misplaced: bool,
    /// The last time the receiver was seen not waiting for the sender
    /// (not reading: deciding, re-reading, waiting for its disk).
    busy_at: Instant,
    /// The last time bytes from the sender reached the receiver.
    heard_at: Instant,
    /// A timer of the receiver fired at this time.
    fired_at: Option<Instant>,
    idle_timeout: Duration,
}

impl RxApp<'_> {
    fn on_event(&mut self, rx: &mut Receiver, ev: receiver::Event) {
        match ev {
            receiver::Event::Offer { name, size } => {
                assert_eq!(name, NAME);
                assert_eq!(size, self.src.len() as u64);
                if self.refuse {
                    self.refused_offer = true;
                    rx.refuse(&Refusal::new(ErrorCode::Exists, "NAME exists")).expect("refuse");
                    return;
                }
                let part = self.disk.part.get_or_insert_with(Vec::new);
                let offset = part.len() as u64;
                self.accepted = Some(offset);
                self.next_write = offset;
                rx.accept(self.now, offset).expect("accept");
            }
            receiver::Event::Read { offset, len } => {
                let part = self.disk.part.as_ref().expect("a partial file to re-read");
                let (at, len) = (offset as usize, len);
                assert!(at + len <= part.len(), "a read past the partial file");
                rx.supply(self.now, &part[at..at + len]).expect("supply");
            }
            receiver::Event::Write { offset, data } => {
                assert_eq!(offset, self.next_write, "writes are not contiguous");
                let mut at = offset;
                for piece in data {
                    let n = piece.len() as u64;
                    self.writes.push_back((at, piece));
                    at += n;
                }
                self.next_write = at;
                assert!(at <= self.src.len() as u64, "a write past the announced size");
            }
            receiver::Event::Commit { hash } => {
                assert!(self.writes.is_empty(), "Commit with writes in flight");
                let part = self.disk.part.take().expect("a partial file to commit");
                assert!(part == self.src, "Commit, but the partial file is not the source");
                self.disk.done = Some(part);
                self.disk.tainted = false;
                self.committed = Some(hash);
                rx.committed().expect("committed");
            }
            receiver::Event::Failed { refusal, discard } => {
                assert!(self.failed.is_none(), "failed twice");
                if self.fired_at == Some(self.now) {
                    // Gave up on a silent sender: silent for the whole idle
                    // timeout, while the receiver waited for it.
                    let since = self.busy_at.max(self.heard_at);
                    assert!(
                        self.now >= since + self.idle_timeout,
                        "{:?} at {:?}: the receiver waited for the sender only since {since:?} \
                         (last bytes {:?}, last busy {:?})",
                        refusal,
                        self.now,
                        self.heard_at,
                        self.busy_at
                    );
                }
                self.failed = Some((refusal.code, discard));
                // Writes already handed out still reach the disk.
                while !self.writes.is_empty() {
                    self.complete_write(rx);
                }
                if discard {
                    self.disk.part = None;
                    self.disk.tainted = false;
                }
            }
        }
    }

    /// The disk finishes the oldest write.
    fn complete_write(&mut self, rx: &mut Receiver) {
        let Some((at, piece)) = self.writes.pop_front() else { return };
        let (at, n) = (at as usize, piece.len());
        if self.misplaced {
            self.disk.tainted = true;
        } else {
            assert!(piece[..] == self.src[at..at + n], "bytes {at}..{} differ", at + n);
        }
        let part = self.disk.part.as_mut().expect("a partial file");
        assert_eq!(part.len(), at, "a write leaves a hole or overlaps");
        part.extend_from_slice(&piece);
        rx.written(self.now, n);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TxOutcome {
    Done(Hash),
    Unverified,
    /// The harness gave up on the sender's side.
    Aborted,
    Refused(ErrorCode),
    Failed(sender::Error),
}

struct TxApp<'a> {
    src: &'a Bytes,
    accepted: Option<u64>,
    next_read: u64,
    reads: VecDeque<(u64, usize)>,
    outcome: Option<TxOutcome>,
    /// Took the ack for a bare `OK`.
    bare: bool,
    now: Instant,
    /// The last time the sender's bytes went out.
    wrote_at: Instant,
    done_timeout: Duration,
}

impl TxApp<'_> {
    fn on_event(&mut self, ev: sender::Event) {
        assert!(self.outcome.is_none(), "an event after the outcome: {ev:?}");
        match ev {
            sender::Event::Accepted { offset, verified } => {
                assert!(self.accepted.is_none());
                self.accepted = Some(offset);
                self.bare = !verified;
            }
            sender::Event::Read { offset, len } => {
                assert_eq!(offset, self.next_read, "reads are not in order");
                assert!(len > 0 && offset + len as u64 <= self.src.len() as u64);
                self.next_read += len as u64;
                self.reads.push_back((offset, len));
            }
            sender::Event::Done { hash } => self.outcome = Some(TxOutcome::Done(hash)),
            sender::Event::Unverified { .. } => self.outcome = Some(TxOutcome::Unverified),
            sender::Event::Refused(r) => self.outcome = Some(TxOutcome::Refused(r.code)),
            sender::Event::Failed(e) => {
                if let sender::Error::DoneTimeout(_) = e {
                    // DONE is awaited from the trailer's last byte on.
                    assert!(
                        self.now >= self.wrote_at + self.done_timeout,
                        "no DONE at {:?}, the sender's last byte went out at {:?}",
                        self.now,
                        self.wrote_at
                    );
                }
                self.outcome = Some(TxOutcome::Failed(e));
            }
        }
    }

    /// The disk hands over (part of) the oldest read.
    fn complete_read(&mut self, rng: &mut Rng, now: Instant, tx: &mut Sender) {
        if tx.is_finished() {
            self.reads.clear();
            return;
        }
        let Some((at, len)) = self.reads.pop_front() else { return };
        let n = rng.split(len);
        let at_usize = at as usize;
        tx.supply(now, self.src.slice(at_usize..at_usize + n)).expect("supply");
        if n < len {
            self.reads.push_front((at + n as u64, len - n));
        }
    }
}

struct Attempt {
    fault: Fault,
    /// Delays up to this much per step (timeouts need a long one).
    max_delay: Duration,
    corrupt: bool,
}

struct Outcome {
    tx: Option<TxOutcome>,
    rx_committed: Option<Hash>,
    rx_failed: Option<(ErrorCode, bool)>,
    was_tainted: bool,
    misplaced: bool,
    timed_out: bool,
    reset: bool,
}

fn attempt(
    rng: &mut Rng,
    limits: Limits,
    src: &Bytes,
    disk: &mut Disk,
    now: &mut Instant,
    a: &Attempt,
) -> Outcome {
    if a.corrupt
        && let Some(part) = disk.part.as_mut()
        && !part.is_empty()
    {
        let i = rng.below(part.len() as u64) as usize;
        part[i] ^= 1 + rng.below(255) as u8;
        disk.tainted = true;
    }
    let was_tainted = disk.tainted;
    let tx = Sender::new(NAME, src.len() as u64, limits, *now).unwrap();
    let tx = Driven::new(tx, "sender", *now);
    let rx = Driven::new(Receiver::new(limits, *now), "receiver", *now);
    // The longest line either side reads.
    let mut tx = tx.with_bound(sansnet_proto::file::ANSWER_CAP);
    let mut rx = rx.with_bound(limits.header_cap.max(sansnet_proto::file::TRAILER_CAP));
    let mut s2r = Pipe::new(rng.range(16, 64 * 1024));
    let mut r2s = Pipe::new(rng.range(16, 64 * 1024));
    let mut tapp = TxApp {
        src,
        accepted: None,
        next_read: 0,
        reads: VecDeque::new(),
        outcome: None,
        bare: false,
        now: *now,
        wrote_at: *now,
        done_timeout: limits.done_timeout,
    };
    let mut rapp = RxApp {
        src: &src[..],
        disk,
        now: *now,
        refuse: a.fault == Fault::Refuse,
        accepted: None,
        next_write: 0,
        writes: VecDeque::new(),
        committed: None,
        failed: None,
        refused_offer: false,
        misplaced: false,
        busy_at: *now,
        heard_at: *now,
        fired_at: None,
        idle_timeout: limits.idle_timeout,
    };
    let mut reset = false;
    let mut stalled = false;
    let mut timed_out = false;
    let longest = limits.idle_timeout.max(limits.done_timeout).max(limits.ack_timeout);
    let mut step = 0usize;
    loop {
        step += 1;
        assert!(
            step < 200_000 + 4 * src.len(),
            "the attempt never ends: sender {:?} active {} finished {} wants_read {} deadline {:?} reads {}; \
             receiver active {} finished {} wants_read {} deadline {:?} writes {} inbox {}; pipes {} / {} now {:?}",
            tapp.outcome,
            tx.active(),
            tx.c.session.is_finished(),
            tx.c.session.wants_read(),
            tx.deadline(),
            tapp.reads.len(),
            rx.active(),
            rx.c.session.is_finished(),
            rx.c.session.wants_read(),
            rx.deadline(),
            rapp.writes.len(),
            rx.c.inbox().len(),
            s2r.pending(),
            r2s.pending(),
            now
        );
        let faults_on = step < 2_000;
        match a.fault {
            Fault::Abort(at) if at == step && tx.active() && !tx.c.session.is_finished() => {
                tx.c.session.abort();
                tapp.outcome.get_or_insert(TxOutcome::Aborted);
            }
            Fault::Reset(at) if at == step => {
                reset = true;
                rapp.now = *now;
                tx.reset(*now, &mut |_, ev| tapp.on_event(ev));
                rx.reset(*now, &mut |m, ev| rapp.on_event(m, ev));
                while !rapp.writes.is_empty() {
                    rapp.complete_write(&mut rx.c.session);
                }
                s2r.reset();
                r2s.reset();
                break;
            }
            Fault::Stall(at) if at == step => stalled = true,
            Fault::GiveUp(at) if at == step && rx.active() && !rx.c.session.is_finished() => {
                let io = Refusal::new(ErrorCode::Io, "the disk failed");
                if rx.c.session.refuse(&io).is_ok()
                    && rapp.failed.is_none()
                    && rapp.committed.is_none()
                {
                    rapp.failed = Some((ErrorCode::Io, false));
                    rapp.writes.clear(); // they fail too
                }
            }
            _ => {}
        }
        let mut progressed = false;
        let choice = if faults_on { rng.below(10) } else { 10 };
        match choice {
            0 | 1 => {
                let max = rng.split(s2r.pending().max(1));
                if rx.read(*now, &mut s2r, max) {
                    rapp.heard_at = *now;
                    progressed = true;
                }
            }
            2 | 3 => {
                let max = rng.split(r2s.pending().max(1));
                progressed |= tx.read(*now, &mut r2s, max);
            }
            4 | 5 => {
                if !stalled && !tapp.reads.is_empty() {
                    tapp.complete_read(rng, *now, &mut tx.c.session);
                    progressed = true;
                }
            }
            6 | 7 => {
                if !rapp.writes.is_empty() {
                    rapp.now = *now;
                    rapp.complete_write(&mut rx.c.session);
                    progressed = true;
                }
            }
            8 | 9 => {
                let d = match rng.below(100) {
                    0 if a.max_delay >= longest => {
                        rng.delay(longest) + rng.delay(longest) + rng.delay(longest)
                    }
                    _ => Duration::from_nanos(rng.below(a.max_delay.as_nanos() as u64 + 1)),
                };
                let target = *now + d;
                let next = |tx: &Driven<Sender>, rx: &Driven<Receiver>| {
                    [tx.deadline(), rx.deadline()].into_iter().flatten().min()
                };
                while advance(rng, now, target, next(&tx, &rx)) {
                    timed_out = true;
                    tx.timeout(*now);
                    rx_fire(&mut rx, &mut rapp, *now);
                    settle(&mut tx, &mut rx, &mut tapp, &mut rapp, *now, &mut s2r, &mut r2s);
                }
            }
            _ => {
                // No more faults: everything completes at once.
                if rx.read(*now, &mut s2r, usize::MAX) {
                    rapp.heard_at = *now;
                    progressed = true;
                }
                progressed |= tx.read(*now, &mut r2s, usize::MAX);
                while !stalled && !tapp.reads.is_empty() {
                    tapp.complete_read(rng, *now, &mut tx.c.session);
                    progressed = true;
                }
                while !rapp.writes.is_empty() {
                    rapp.now = *now;
                    rapp.complete_write(&mut rx.c.session);
                    progressed = true;
                }
            }
        }
        progressed |= settle(&mut tx, &mut rx, &mut tapp, &mut rapp, *now, &mut s2r, &mut r2s);
        if !tx.active() && !rx.active() {
            assert!(rapp.writes.is_empty(), "the receiver closed with writes in flight");
            break;
        }
        if choice == 10 && !progressed {
            // Nothing moves: wait for a timer; none armed means stuck.
            let next = [tx.deadline(), rx.deadline()].into_iter().flatten().min();
            if next.is_none() && stalled {
                // The sender's disk recovers.
                stalled = false;
                continue;
            }
            // Writing to a peer that closed fails: the connection breaks.
            if next.is_none() && !rx.active() && tx.active() && tx.unwritten() + s2r.pending() > 0 {
                reset = true;
                tx.reset(*now, &mut |_, ev| tapp.on_event(ev));
                continue;
            }
            if next.is_none() && !tx.active() && rx.active() && rx.unwritten() + r2s.pending() > 0 {
                reset = true;
                rapp.now = *now;
                rx.reset(*now, &mut |m, ev| rapp.on_event(m, ev));
                while !rapp.writes.is_empty() {
                    rapp.complete_write(&mut rx.c.session);
                }
                continue;
            }
            let Some(deadline) = next else {
                panic!(
                    "stuck ({:?}, stalled {stalled}, sender {:?} eof {} wants {} inbox {:?} \
                     pos {} unsent {}; receiver {:?} / {:?}): sender finished {} (reads {}), \
                     receiver finished {} (writes {}), in flight {} / {}",
                    a.fault,
                    tapp.outcome,
                    tx.c.eof_seen(),
                    tx.c.session.wants_read(),
                    &tx.c.inbox()[..],
                    tx.c.session.position(),
                    tx.unwritten(),
                    rapp.failed,
                    rapp.committed,
                    tx.c.session.is_finished(),
                    tapp.reads.len(),
                    rx.c.session.is_finished(),
                    rapp.writes.len(),
                    s2r.pending(),
                    r2s.pending()
                );
            };
            timed_out = true;
            *now = (*now).max(deadline);
            tx.timeout(*now);
            rx_fire(&mut rx, &mut rapp, *now);
            settle(&mut tx, &mut rx, &mut tapp, &mut rapp, *now, &mut s2r, &mut r2s);
        }
    }
    // The end state of each side.
    if !reset {
        assert!(tx.c.session.is_finished(), "the sender is not finished");
        assert!(rx.c.session.is_finished(), "the receiver is not finished");
        assert!(tapp.outcome.is_some(), "the sender finished without an outcome");
    }
    let header_len = format!("{NAME}|{}\n", src.len()).len() as u64;
    if rapp.committed.is_some() {
        let offset = rapp.accepted.expect("accepted");
        let full = header_len + (src.len() as u64 - offset) + 72;
        assert_eq!(rx.c.consumed(), full, "Commit without every byte and the trailer");
    }
    Outcome {
        tx: tapp.outcome,
        rx_committed: rapp.committed,
        rx_failed: rapp.failed.or(rapp.refused_offer.then_some((ErrorCode::Exists, false))),
        was_tainted,
        misplaced: rapp.misplaced,
        timed_out,
        reset,
    }
}

/// The receiver's timer may be due: note whether it is waiting for the
/// sender, then fire.
fn rx_fire(rx: &mut Driven<Receiver>, rapp: &mut RxApp<'_>, now: Instant) {
    if rx.active() && !rx.c.session.wants_read() {
        rapp.busy_at = now;
    }
    if rx.timeout(now) {
        rapp.fired_at = Some(now);
    }
}

/// The drain contract on both sides, until neither moves; whether anything
/// happened.
fn settle(
    tx: &mut Driven<Sender>,
    rx: &mut Driven<Receiver>,
    tapp: &mut TxApp<'_>,
    rapp: &mut RxApp<'_>,
    now: Instant,
    s2r: &mut Pipe,
    r2s: &mut Pipe,
) -> bool {
    let mut any = false;
    for round in 0.. {
        assert!(round < 100_000, "the transfer never settles");
        rapp.now = now;
        tapp.now = now;
        let before = (tx.c.consumed(), rx.c.consumed(), s2r.written, r2s.written, tapp.reads.len());
        let before_w = (rapp.writes.len(), tapp.outcome.clone(), rapp.failed, rapp.committed);
        tx.pump(now, &mut |_, ev| tapp.on_event(ev));
        // A sender that took a split `OK N` for a bare `OK` sends from
        // byte 0 what the receiver puts at N.
        rapp.misplaced |= tapp.bare && rapp.accepted != Some(0);
        rx.pump(now, &mut |m, ev| rapp.on_event(m, ev));
        if rx.active() && !rx.c.session.wants_read() {
            rapp.busy_at = now;
        }
        let tx_wrote = tx.flush(now, s2r);
        if tx_wrote {
            tapp.wrote_at = now;
        }
        let wrote = tx_wrote | rx.flush(now, r2s);
        let after = (tx.c.consumed(), rx.c.consumed(), s2r.written, r2s.written, tapp.reads.len());
        let after_w = (rapp.writes.len(), tapp.outcome.clone(), rapp.failed, rapp.committed);
        if !wrote && before == after && before_w == after_w {
            break;
        }
        any = true;
    }
    any
}

fn run(seed: u64) {
    let mut rng = Rng::new(seed);
    let size = match rng.below(8) {
        0 => 0,
        1 | 2 => rng.range(1, 100),
        3 | 4 => rng.range(100, 10_000),
        _ => rng.range(10_000, 300_000),
    };
    let src: Bytes = (0..size).map(|_| rng.below(256) as u8).collect::<Vec<u8>>().into();
    // Byte-sized pieces only for small files (they cost a step a byte).
    let small = size < 10_000;
    let chunk = *rng.pick(&[1, 7, 512, 4096, 65536]);
    let chunk = if small { chunk } else { chunk.max(512) };
    let batch = *rng.pick(&[1, 100, 4096, 1 << 20]);
    let buffered = chunk.max(*rng.pick(&[1, 1000, 16384, 1 << 20]));
    let limits = Limits::default()
        .with_chunk(chunk)
        .with_write_batch(if small { batch } else { batch.max(100) })
        .with_max_buffered(if small { buffered } else { buffered.max(4096) });
    let mut disk = Disk::default();
    let mut now = Instant::ZERO;
    let faulty = rng.range(0, 4);
    let mut log = Vec::new();
    for _ in 0..faulty {
        let fault = match rng.below(7) {
            0 => Fault::None,
            1 => Fault::Abort(rng.range(1, 400)),
            2 => Fault::Reset(rng.range(1, 400)),
            3 => Fault::Stall(rng.range(1, 400)),
            4 => Fault::Refuse,
            5 => Fault::GiveUp(rng.range(1, 400)),
            _ => Fault::Reset(rng.range(1, 40)),
        };
        let a = Attempt {
            fault,
            max_delay: if rng.pct(30) {
                Duration::from_secs(90)
            } else {
                Duration::from_millis(50)
            },
            corrupt: rng.one_in(5),
        };
        let o = attempt(&mut rng, limits, &src, &mut disk, &mut now, &a);
        check_outcome(&o, &a, &disk, &src);
        log.push((fault, o.tx.clone(), o.rx_failed));
    }
    // Clean attempts: delays well under every timer (the bare-OK wait too).
    let clean =
        Attempt { fault: Fault::None, max_delay: Duration::from_micros(20), corrupt: false };
    let o = attempt(&mut rng, limits, &src, &mut disk, &mut now, &clean);
    check_outcome(&o, &clean, &disk, &src);
    let o = if o.rx_committed.is_some() {
        o
    } else {
        assert!(o.was_tainted, "a clean attempt failed: {:?} / {:?}", o.tx, o.rx_failed);
        assert_eq!(o.rx_failed, Some((ErrorCode::HashMismatch, true)));
        let o = attempt(&mut rng, limits, &src, &mut disk, &mut now, &clean);
        check_outcome(&o, &clean, &disk, &src);
        o
    };
    assert!(matches!(o.tx, Some(TxOutcome::Done(h)) if Some(h) == o.rx_committed));
    assert!(disk.done.as_deref() == Some(&src[..]), "the final file is not the source");
    assert!(disk.part.is_none(), "a partial file is left");
    if super::verbose() {
        eprintln!("file seed {seed}: {size} bytes, chunk {chunk}, attempts {log:?}");
    }
}

fn check_outcome(o: &Outcome, a: &Attempt, disk: &Disk, src: &Bytes) {
    if let Some(h) = o.rx_committed {
        assert!(disk.done.as_deref() == Some(&src[..]));
        // The sender sees DONE unless it gave up or the line was lost.
        let gave_up = matches!(
            o.tx,
            Some(TxOutcome::Aborted | TxOutcome::Failed(sender::Error::DoneTimeout(_)))
        );
        if !o.reset && !gave_up {
            assert_eq!(o.tx, Some(TxOutcome::Done(h)), "committed, the sender did not see DONE");
        }
    }
    let interrupted = !matches!(a.fault, Fault::None | Fault::Refuse) || o.timed_out;
    match &o.tx {
        Some(TxOutcome::Done(h)) => {
            assert_eq!(o.rx_committed, Some(*h), "DONE without the receiver's commit");
        }
        Some(TxOutcome::Refused(code)) => {
            let theirs = o.rx_failed.map(|f| f.0);
            assert_eq!(Some(*code), theirs, "the sender's ERR is not the receiver's");
        }
        Some(TxOutcome::Unverified) => {
            // A lone `OK` then silence (the bare-OK wait) or the end of
            // the stream (a reset cut `OK N`).
            assert!(o.timed_out || o.reset, "a bare OK without the bare-OK wait passing");
        }
        Some(TxOutcome::Aborted) => assert!(matches!(a.fault, Fault::Abort(_))),
        Some(TxOutcome::Failed(e)) => {
            assert!(interrupted, "the sender failed without a fault: {e:?}");
        }
        None => assert!(o.reset, "no outcome for the sender"),
    }
    if let Some((code, discard)) = o.rx_failed {
        match code {
            ErrorCode::Exists => assert_eq!(a.fault, Fault::Refuse),
            ErrorCode::Io => assert!(matches!(a.fault, Fault::GiveUp(_))),
            ErrorCode::HashMismatch => {
                assert!(discard);
                assert!(o.was_tainted || o.misplaced, "hash_mismatch on the source's bytes");
            }
            ErrorCode::Short | ErrorCode::BadHeader => {
                assert!(!discard);
                assert!(interrupted, "{code:?} without an interruption");
            }
            other => panic!("the receiver failed with {other:?}"),
        }
    }
}

#[test]
fn file_transfer_over_a_simulated_network() {
    for_seeds("file", 500, run);
}
