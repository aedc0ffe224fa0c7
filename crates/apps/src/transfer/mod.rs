//! File transfer's disk side (PROTOCOLS.md §3): the core's
//! [`Receiver`] and [`Sender`](sansnet_proto::file::Sender) machines answered with files, over any
//! runtime.
//!
//! - Receiving: an [`Inbox`] (the directory) and [`receiver`], the
//!   [`Factory`] that gives each connection a [`Receiver`] and a
//!   [`ReceiveApp`]; a [`ReceiveEvents`] hook hears each transfer's
//!   progress and outcome.
//! - Sending: [`send_file`], which connects, drives one [`Sender`](sansnet_proto::file::Sender) and
//!   reports through a [`Progress`].
//!
//! # Disk I/O
//!
//! The machines never touch a file: they ask for ranges to read, bytes to
//! write at an offset, a commit. This module answers them:
//!
//! - the writes of a transfer, on every runtime, on one thread of the
//!   `blocking` crate's pool (a disk writer) while they are queued, and on
//!   none while the transfer waits for the network, so that receiving and
//!   hashing go on while the disk works: the results reach the machine
//!   through [`App::poll_work`](sansnet_proto::App::poll_work), which the async driver polls beside the
//!   socket and the std driver between reads (and waits on while the
//!   machine wants no input, its buffer of unwritten bytes full);
//! - the sender's reads on the connection's own thread, inside `on_event`,
//!   on every runtime (one connection, whose thread has nothing else to do
//!   while the disk works; a pool would cost two thread hand-offs a piece);
//! - everything else of a receiver, where the transport's [`Blocking`]
//!   says: with std (a thread per connection) on the connection's thread,
//!   inside `on_event`; with the async runtimes on the same pool
//!   (`unblock`, which smol and async-std use for their own file I/O), so
//!   the event loop, shared by many connections, never waits for the disk:
//!   the application keeps the pool tasks in order and hands their results
//!   to the machine from [`App::poll_work`](sansnet_proto::App::poll_work).
//!
//! # The receiver's files
//!
//! Everything happens inside the [`Inbox`]'s directory DIR through a directory descriptor and
//! `*at` system calls with `O_NOFOLLOW`: a name is a plain name (the core
//! checked it), so nothing is ever created, written or renamed outside
//! DIR, and a symlink in DIR is never followed. A transfer writes to
//! `.NAME.part` beside a size note `.NAME.part.size` (the size the sender
//! announced). An offer whose name and size match a note resumes from the
//! part's length; any other starts it over. After the trailer checks, the
//! part is synced to the disk and renamed to NAME (`RENAME_NOREPLACE` unless
//! `overwrite`, so a file that appeared meanwhile is never replaced), the
//! note removed and the directory synced, all before `DONE`; a
//! hash mismatch removes both; an interrupted transfer keeps both. The
//! free space (`fstatvfs`) must hold SIZE minus what is kept, or the answer
//! is `no_space`; a NAME that exists (a dangling symlink too) is `exists`
//! unless `overwrite`, and a directory always is; a second transfer of a
//! name in progress is `exists` as well, once it has waited [`CLAIM_WAIT`]
//! for the name in vain. A transfer holds its name until its last write is
//! on disk, even when it failed before that.
//!
//! Every file in DIR is opened with `O_NONBLOCK` and checked with `fstat`
//! once open: a FIFO, a device or anything else that is not a regular file
//! is `ERR io`, never a wait. A NAME shaped like the receiver's own files
//! (`.X.part`, `.X.part.size`) is `bad_name`, so no sender can plant a part
//! that spoils another name's resume. A transfer whose writes fill the disk
//! (`no_space`) deletes its part: keeping it would keep the disk full. A
//! part last written [`InboxLimits::part_ttl`] ago or more is deleted
//! (never resumed; swept by [`Inbox::expire_parts`], which `file recv`
//! calls at start, and then by an offer at most hourly). At most
//! [`InboxLimits::max_transfers`] transfers are in progress at once, and
//! [`InboxLimits::max_transfers_per_peer`] from one address; past either, an
//! offer is answered `ERR no_space busy: ...` (PROTOCOLS.md has no `busy`:
//! `no_space`, "no room now", is the closest of its codes).

use std::sync::{Arc, Mutex};

use sansnet_net::{Blocking, Factory, Shutdown};
use sansnet_proto::Instant;
use sansnet_proto::file::{Limits, Receiver, Refusal};

mod inbox;
mod receiving;
mod sending;
mod writer;

pub use inbox::{Inbox, InboxLimits};
pub use receiving::{CLAIM_WAIT, ReceiveApp};
pub use sending::{SendError, Sent, send_file};

/// Bytes a receiving driver should read per system call
/// ([`ServerConfig::read_buffer`](sansnet_net::ServerConfig)): large reads
/// keep a fast sender from costing a system call per few KiB.
pub const READ_BUFFER: usize = 1 << 20;

/// The TLS limits of the file programs: plaintext held up to their read
/// buffer, so that TLS hands the machines the batches a plain connection
/// would (64 KiB would cut them sixteen times finer).
pub fn tls_limits() -> crate::tls::Limits {
    crate::tls::Limits::default().with_max_plaintext(READ_BUFFER)
}

/// How far one transfer has got (a progress bar, say). `()` reports
/// nothing.
pub trait Progress: Send + 'static {
    /// `pos` bytes of the file are done on this side (written, or read to
    /// be sent), counting those an earlier, interrupted try left.
    fn at(&mut self, pos: u64) {
        let _ = pos;
    }
    /// The transfer is over, successfully or not.
    fn ended(&mut self, ok: bool) {
        let _ = ok;
    }
}

impl Progress for () {}

/// A file received and stored under its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Its name in the inbox.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Received {
    /// The line `sansnet file recv` logs: `received NAME (SIZE bytes) from
    /// PEER into DIR`, the name escaped.
    pub fn summary(&self, peer: &str, dir: &std::path::Path) -> String {
        let name = sansnet_proto::text::escape(&self.name);
        format!("received {name} ({} bytes) from {peer} into {}", self.size, dir.display())
    }
}

/// Why a connection stored no file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The transfer failed: what the peer was told (or told us).
    #[error("{0}")]
    Failed(Refusal),
    /// The connection ended before a transfer did.
    #[error("the connection ended without a transfer")]
    NoTransfer,
}

/// What an [`Inbox`] tells its owner, from the connections' threads or
/// tasks (tracing logs the rest).
pub trait ReceiveEvents: Send + Sync + 'static {
    /// Each transfer's progress.
    type Progress: Progress;
    /// `peer` offers `name`, `size` bytes: what hears its progress.
    fn offered(&self, peer: &str, name: &str, size: u64) -> Self::Progress;
    /// A connection's outcome, once known (once per connection).
    fn outcome(&self, peer: &str, outcome: &Result<Received, ReceiveError>);
    /// The connection from `peer` is gone (after its outcome).
    fn closed(&self, peer: &str) {
        let _ = peer;
    }
}

/// A function of the peer and the outcome is a [`ReceiveEvents`] without
/// progress.
impl<F> ReceiveEvents for F
where
    F: Fn(&str, &Result<Received, ReceiveError>) + Send + Sync + 'static,
{
    type Progress = ();
    fn offered(&self, _peer: &str, _name: &str, _size: u64) {}
    fn outcome(&self, peer: &str, outcome: &Result<Received, ReceiveError>) {
        self(peer, outcome)
    }
}

/// A connection's peer and outcome.
pub type PeerOutcome = (String, Result<Received, ReceiveError>);

/// [`ReceiveEvents`] for a receiver that takes one connection: the first
/// outcome is kept and `shutdown` triggered once that connection is gone
/// (`sansnet file recv --once`). Everything goes on to `E` as well.
#[derive(Debug)]
pub struct Once<E> {
    events: E,
    shutdown: Shutdown,
    first: Mutex<Option<PeerOutcome>>,
}

impl<E> Once<E> {
    /// Passes events on to `events`; triggers `shutdown` after the first
    /// connection.
    pub fn new(events: E, shutdown: Shutdown) -> Once<E> {
        Once { events, shutdown, first: Mutex::new(None) }
    }

    /// The first connection's peer and outcome; `None` if none ended.
    pub fn take(&self) -> Option<PeerOutcome> {
        self.first.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// What the one connection came to: the file, or why not.
    pub fn finish(&self) -> Result<Received, OnceError> {
        match self.take() {
            Some((_, Ok(received))) => Ok(received),
            Some((peer, Err(e))) => Err(OnceError::Failed(peer, e)),
            None => Err(OnceError::NoTransfer),
        }
    }
}

/// Why a receiver of one connection ([`Once`]) stored no file.
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    /// The transfer from this peer failed.
    #[error("receiving from {0}: {1}")]
    Failed(String, ReceiveError),
    /// The server stopped before a connection ended.
    #[error("stopped before a transfer")]
    NoTransfer,
}

impl<E: ReceiveEvents> ReceiveEvents for Once<E> {
    type Progress = E::Progress;

    fn offered(&self, peer: &str, name: &str, size: u64) -> E::Progress {
        self.events.offered(peer, name, size)
    }

    fn outcome(&self, peer: &str, outcome: &Result<Received, ReceiveError>) {
        let mine = (peer.to_owned(), outcome.clone());
        self.first.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(mine);
        self.events.outcome(peer, outcome);
    }

    fn closed(&self, peer: &str) {
        self.events.closed(peer);
        self.shutdown.trigger();
    }
}

/// The [`Factory`] of a file receiver: each connection gets a
/// [`Receiver`] with `limits` and a [`ReceiveApp`] storing into `inbox`,
/// its disk work run as `io` says (the transport's
/// [`BLOCKING`](sansnet_net::Transport::BLOCKING)).
pub fn receiver<E: ReceiveEvents>(
    inbox: Arc<Inbox>,
    limits: Limits,
    events: Arc<E>,
    io: Blocking,
) -> impl Factory<Session = Receiver, App = ReceiveApp<E>> {
    move |now, peer: &str| {
        let app = ReceiveApp::new(inbox.clone(), events.clone(), io, peer, now);
        (Receiver::new(limits, now), app)
    }
}

/// The driver's clock, seen from an application: the core instant at
/// creation plus the monotonic time since.
#[derive(Clone, Copy, Debug)]
struct AppClock {
    base: Instant,
    at: std::time::Instant,
}

impl AppClock {
    fn new(now: Instant) -> AppClock {
        AppClock { base: now, at: std::time::Instant::now() }
    }

    fn now(&self) -> Instant {
        self.base + self.at.elapsed()
    }
}
