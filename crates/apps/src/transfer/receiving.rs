//! One receiving connection's application: the disk side of a
//! [`Receiver`].

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sansnet_net::{Blocking, Job};
use sansnet_proto::file::{ErrorCode, Receiver, Refusal, Stash, receiver};
use sansnet_proto::{App, Instant};

use super::inbox::{self, Claim, Inbox, Slot};
use super::writer::DiskWriter;
use super::{AppClock, Progress, ReceiveError, ReceiveEvents, Received};
use crate::disk::read_at;

/// How long an offer waits for its name to be free (a transfer of it that
/// just failed may still be writing what it received) before `ERR exists`.
pub const CLAIM_WAIT: Duration = Duration::from_secs(1);

/// The transfer a connection is on.
struct Current<P> {
    name: String,
    stash: Stash,
    size: u64,
    file: Option<Arc<File>>,
    /// Bytes of the file held: kept from before, then written.
    pos: u64,
    progress: P,
}

/// An offer decided on disk: the names claimed, the partial file and the
/// offset to resume from; or the refusal.
type Offered = Result<(Claim, Arc<File>, u64), Refusal>;

/// A disk job of the receiver, and what its result means to the machine.
/// (Writes go to the transfer's [`DiskWriter`] instead.)
enum RecvJob {
    Offer(Job<Offered>),
    Read(Job<io::Result<Vec<u8>>>),
    Commit(Job<io::Result<()>>),
}

/// A finished [`RecvJob`].
enum Done {
    Offer(Offered),
    Read(io::Result<Vec<u8>>),
    Commit(io::Result<()>),
}

/// One receiving connection's application: answers the [`Receiver`]'s
/// requests for disk work inside an [`Inbox`], and tells `E` how it goes.
pub struct ReceiveApp<E: ReceiveEvents> {
    inbox: Arc<Inbox>,
    events: Arc<E>,
    io: Blocking,
    peer: String,
    /// `peer` as logs and events name it: with the name of its verified
    /// client certificate, when it has one.
    label: String,
    clock: AppClock,
    current: Option<Current<E::Progress>>,
    /// The names this connection holds in the inbox.
    claim: Option<Claim>,
    /// The transfer counted as in progress, from its offer to its end.
    slot: Option<Slot>,
    jobs: VecDeque<RecvJob>,
    /// The partial file's writer, once the offer is accepted.
    writer: Option<DiskWriter>,
    /// Whether `events` heard the outcome already.
    told: bool,
}

impl<E: ReceiveEvents> std::fmt::Debug for ReceiveApp<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiveApp").field("peer", &self.label).finish_non_exhaustive()
    }
}

impl<E: ReceiveEvents> ReceiveApp<E> {
    /// The peer proved who it is (a verified TLS client certificate): its
    /// transfers are logged and reported under that name too.
    pub fn identified(&mut self, peer: &sansnet_tls::Peer) {
        if let Some(name) = &peer.name {
            self.label =
                format!("{} (certificate {})", self.peer, sansnet_proto::text::escape(name));
        }
    }

    /// The application of a connection from `peer`, accepted at `now`; its
    /// disk work runs as `io` says.
    pub fn new(
        inbox: Arc<Inbox>,
        events: Arc<E>,
        io: Blocking,
        peer: &str,
        now: Instant,
    ) -> ReceiveApp<E> {
        ReceiveApp {
            inbox,
            events,
            io,
            peer: peer.to_owned(),
            label: peer.to_owned(),
            clock: AppClock::new(now),
            current: None,
            claim: None,
            slot: None,
            jobs: VecDeque::new(),
            writer: None,
            told: false,
        }
    }

    fn file(&self) -> Option<Arc<File>> {
        self.current.as_ref().and_then(|c| c.file.clone())
    }

    /// Tells the events the outcome, once.
    fn tell(&mut self, outcome: Result<Received, ReceiveError>) {
        if !std::mem::replace(&mut self.told, true) {
            if let Some(c) = &mut self.current {
                c.progress.ended(outcome.is_ok());
            }
            self.events.outcome(&self.label, &outcome);
        }
    }

    /// Gives the transfer up with `refusal` (sent to the peer).
    fn give_up(&mut self, rx: &mut Receiver, refusal: Refusal) {
        tracing::warn!("{}: {refusal}", self.label);
        let _ = rx.refuse(&refusal);
        self.tell(Err(ReceiveError::Failed(refusal)));
        self.jobs.clear();
        self.slot = None;
    }

    /// Starts the next job (or does it now, inline) and applies what is
    /// already done.
    fn start(&mut self, rx: &mut Receiver, job: RecvJob) {
        self.jobs.push_back(job);
        if self.io == Blocking::Inline {
            let _ = self.finish_jobs(rx, &mut Context::from_waker(Waker::noop()));
        }
    }

    /// Applies the finished jobs at the front of the queue, in order.
    fn finish_jobs(&mut self, rx: &mut Receiver, cx: &mut Context<'_>) -> Poll<()> {
        let mut any = false;
        while let Some(job) = self.jobs.front_mut() {
            let done = match job {
                RecvJob::Offer(j) => j.poll(cx).map(Done::Offer),
                RecvJob::Read(j) => j.poll(cx).map(Done::Read),
                RecvJob::Commit(j) => j.poll(cx).map(Done::Commit),
            };
            let Poll::Ready(done) = done else { break };
            self.jobs.pop_front();
            any = true;
            self.apply(rx, done);
        }
        // Writes finish on their own thread; the machine asks for the
        // commit only once every byte is reported written.
        while let Some(Poll::Ready(r)) = self.writer.as_mut().map(|w| w.poll(cx)) {
            any = true;
            match r {
                Ok(n) => {
                    if let Some(c) = &mut self.current {
                        c.pos += n as u64;
                        c.progress.at(c.pos);
                    }
                    rx.written(self.clock.now(), n);
                }
                Err(e) => {
                    let full = e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error());
                    let code = if full { ErrorCode::NoSpace } else { ErrorCode::Io };
                    if full && let Some(c) = &self.current {
                        // What was written filled the disk: keeping it for a
                        // resume would keep the disk full. (The writer has
                        // stopped; the names are still held.)
                        inbox::discard(&self.inbox, &c.stash);
                    }
                    self.give_up(rx, Refusal::new(code, e.to_string()));
                    break;
                }
            }
        }
        if any { Poll::Ready(()) } else { Poll::Pending }
    }

    fn apply(&mut self, rx: &mut Receiver, done: Done) {
        let now = self.clock.now();
        match done {
            Done::Offer(Ok((claim, file, offset))) => {
                self.claim = Some(claim);
                self.writer = Some(DiskWriter::new(file.clone()));
                if let Some(c) = &mut self.current {
                    c.file = Some(file);
                    c.pos = offset;
                    c.progress.at(offset);
                    tracing::info!("{}: receiving {} from byte {offset}", self.label, c.name);
                }
                let _ = rx.accept(now, offset);
            }
            Done::Offer(Err(refusal)) => self.give_up(rx, refusal),
            Done::Read(Ok(data)) => {
                if data.is_empty() {
                    let r = Refusal::new(ErrorCode::Io, "the partial file shrank");
                    return self.give_up(rx, r);
                }
                let _ = rx.supply(now, &data);
            }
            Done::Read(Err(e)) | Done::Commit(Err(e)) => {
                self.give_up(rx, Refusal::new(ErrorCode::Io, e.to_string()));
            }
            Done::Commit(Ok(())) => {
                let _ = rx.committed();
                if let Some(c) = &self.current {
                    let received = Received { name: c.name.clone(), size: c.size };
                    self.tell(Ok(received));
                }
                self.release();
            }
        }
    }

    /// The name is free for another transfer.
    /// (Once the writes still queued are on disk, if any.)
    fn release(&mut self) {
        self.slot = None;
        let claim = self.claim.take();
        if let Some(w) = &mut self.writer {
            w.close(claim);
        }
    }
}

impl<E: ReceiveEvents> App<Receiver> for ReceiveApp<E> {
    fn on_event(&mut self, rx: &mut Receiver, event: receiver::Event) {
        match event {
            receiver::Event::Offer { name, size } => {
                if inbox::is_bookkeeping(&name) {
                    let why = format!("{name:?} is a name the receiver keeps partial files under");
                    return self.give_up(rx, Refusal::new(ErrorCode::BadName, why));
                }
                match self.inbox.admit(&self.peer) {
                    Ok(slot) => self.slot = Some(slot),
                    Err(refusal) => return self.give_up(rx, refusal),
                }
                let stash = Stash::for_name(&name);
                // Claimed on the pool with the rest of the offer (see `Claim`).
                let names = vec![name.clone(), stash.part(), stash.size_note()];
                let progress = self.events.offered(&self.label, &name, size);
                self.current = Some(Current {
                    name: name.clone(),
                    stash: stash.clone(),
                    size,
                    file: None,
                    pos: 0,
                    progress,
                });
                let inbox = self.inbox.clone();
                let job = self.io.run(move || {
                    let Some(claim) = inbox.claim(names, CLAIM_WAIT) else {
                        let why = format!("{name:?} is being received");
                        return Err(Refusal::new(ErrorCode::Exists, why));
                    };
                    let (file, offset) = inbox::prepare(&inbox, &name, &stash, size)?;
                    Ok((claim, file, offset))
                });
                self.start(rx, RecvJob::Offer(job));
            }
            receiver::Event::Read { offset, len } => {
                let Some(file) = self.file() else { return };
                let job = self.io.run(move || read_at(&file, offset, vec![0; len]));
                self.start(rx, RecvJob::Read(job));
            }
            receiver::Event::Write { offset, data } => match &mut self.writer {
                Some(w) => w.write(offset, data),
                None => self.give_up(rx, Refusal::new(ErrorCode::Io, "no partial file")),
            },
            receiver::Event::Commit { .. } => {
                let (Some(c), Some(file)) = (&self.current, self.file()) else { return };
                let (inbox, name, stash) = (self.inbox.clone(), c.name.clone(), c.stash.clone());
                let job = self.io.run(move || inbox::commit(&inbox, &file, &name, &stash));
                self.start(rx, RecvJob::Commit(job));
            }
            receiver::Event::Failed { refusal, discard } => {
                tracing::warn!("{}: {refusal}", self.label);
                if discard && let Some(c) = &self.current {
                    // Small and rare: done here, on whatever thread.
                    inbox::discard(&self.inbox, &c.stash);
                }
                self.release();
                self.tell(Err(ReceiveError::Failed(refusal)));
            }
        }
    }

    fn is_working(&self) -> bool {
        !self.jobs.is_empty() || self.writer.as_ref().is_some_and(|w| w.queued > 0)
    }

    fn poll_work(&mut self, rx: &mut Receiver, cx: &mut Context<'_>) -> Poll<()> {
        self.finish_jobs(rx, cx)
    }
}

impl<E: ReceiveEvents> Drop for ReceiveApp<E> {
    fn drop(&mut self) {
        self.release();
        self.tell(Err(ReceiveError::NoTransfer));
        self.events.closed(&self.label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansnet_proto::file::Limits;
    use sansnet_proto::testing::Conn;

    /// Polls the app's work (bounded) until the wire holds `want`.
    fn until<E: ReceiveEvents>(conn: &mut Conn<Receiver>, app: &mut ReceiveApp<E>, want: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(conn.wire()).contains(want) {
            assert!(std::time::Instant::now() < deadline, "no {want:?}: {:?}", conn.wire());
            if !conn.poll_work(app) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A transfer whose writes find the disk full (`/dev/full` stands in
    /// for its partial file) is answered `no_space` and keeps nothing: a
    /// part kept for a resume would keep the disk full.
    #[test]
    fn a_full_disk_keeps_no_partial_file() {
        for io in [Blocking::Inline, Blocking::Pool] {
            let dir = tempfile::tempdir().expect("tempdir");
            let inbox = Arc::new(Inbox::open(dir.path(), false).expect("inbox"));
            let quiet = Arc::new(|_: &str, _: &Result<Received, ReceiveError>| {});
            let mut app = ReceiveApp::new(inbox, quiet, io, "127.0.0.1:1", Instant::ZERO);
            let rx = Receiver::new(Limits::default(), Instant::ZERO);
            let mut conn = Conn::new(rx, Instant::ZERO);
            conn.read(b"full.bin|10\n", &mut app);
            until(&mut conn, &mut app, "OK 0\n");
            assert_eq!(names(dir.path()), [".full.bin.part", ".full.bin.part.size"]);
            let full = File::options().write(true).open("/dev/full").expect("/dev/full");
            app.writer = Some(DiskWriter::new(Arc::new(full)));
            conn.read(b"0123456789", &mut app);
            until(&mut conn, &mut app, "ERR no_space ");
            assert_eq!(names(dir.path()), Vec::<String>::new(), "{io:?}");
        }
    }

    /// Names of the receiver's own files are refused before anything is
    /// written; past the caps, an offer is refused `busy`.
    #[test]
    fn bookkeeping_names_and_busy_inboxes_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = super::super::InboxLimits { max_transfers: 1, ..Default::default() };
        let inbox = Arc::new(Inbox::open(dir.path(), false).expect("inbox").with_limits(limits));
        let quiet = Arc::new(|_: &str, _: &Result<Received, ReceiveError>| {});
        let offer = |header: &[u8]| {
            let mut app = ReceiveApp::new(
                inbox.clone(),
                quiet.clone(),
                Blocking::Inline,
                "a:1",
                Instant::ZERO,
            );
            let mut conn =
                Conn::new(Receiver::new(Limits::default(), Instant::ZERO), Instant::ZERO);
            conn.read(header, &mut app);
            (String::from_utf8_lossy(conn.wire()).into_owned(), app, conn)
        };
        for header in [&b".x.part|5\n"[..], b".x.part.size|5\n"] {
            let (wire, ..) = offer(header);
            assert!(wire.starts_with("ERR bad_name "), "{wire}");
        }
        assert_eq!(names(dir.path()), Vec::<String>::new());
        let (wire, held, _conn) = offer(b"one|5\n");
        assert_eq!(wire, "OK 0\n");
        let (wire, ..) = offer(b"two|5\n");
        assert!(wire.starts_with("ERR no_space busy: 1 transfers in progress"), "{wire}");
        drop(held);
        let (wire, ..) = offer(b"two|5\n");
        assert_eq!(wire, "OK 0\n", "a place is free again");
    }
}
