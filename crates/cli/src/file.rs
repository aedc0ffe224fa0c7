//! `sansnet file recv` and `sansnet file send` (PROTOCOLS.md §3): the
//! core's [`Receiver`] and [`Sender`] machines on the chosen runtime's
//! generic `serve` / `drive`, with the disk I/O they ask for.
//!
//! # Disk I/O
//!
//! The machines never touch a file: they ask for ranges to read, bytes to
//! write at an offset, a commit. This file answers them:
//!
//! - the writes of a transfer, on every runtime, on one thread of the
//!   `blocking` crate's pool (a [`DiskWriter`]), so that receiving and
//!   hashing go on while the disk works: the results reach the machine
//!   through [`App::poll_work`], which the async driver polls beside the
//!   socket and the std driver between reads (and waits on while the
//!   machine wants no input, its buffer of unwritten bytes full);
//! - everything else with `--runtime std` (a thread per connection) on the
//!   connection's thread, inside `on_event`;
//! - and with smol and async-std on the same pool (`unblock`, which both
//!   runtimes use for their own file I/O), so the event loop never waits
//!   for the disk: the application keeps the pool tasks in order and hands
//!   their results to the machine from [`App::poll_work`].
//!
//! # The receiver's files
//!
//! Everything happens inside DIR through a directory descriptor and
//! `*at` system calls with `O_NOFOLLOW`: a name is a plain name (the core
//! checked it), so nothing is ever created, written or renamed outside
//! DIR, and a symlink in DIR is never followed. A transfer writes to
//! `.NAME.part` beside a size note `.NAME.part.size` (the size the sender
//! announced). An offer whose name and size match a note resumes from the
//! part's length; any other starts it over. After the trailer checks, the
//! part is synced to the disk and renamed to NAME (`RENAME_NOREPLACE` unless
//! `--overwrite`, so a file that appeared meanwhile is never replaced), the
//! note removed and the directory synced, all before `DONE`; a
//! hash mismatch removes both; an interrupted transfer keeps both. The
//! free space (`fstatvfs`) must hold SIZE minus what is kept, or the answer
//! is `no_space`; a NAME that exists (a dangling symlink too) is `exists`
//! unless `--overwrite`, and a directory always is; a second transfer of a
//! name in progress is `exists` as well, once it has waited [`CLAIM_WAIT`]
//! for the name in vain. A transfer holds its name until its last write is
//! on disk, even when it failed before that.

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;

use std::io::{self, IsTerminal, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use sansnet_net::{Endpoint, ServerConfig, Shutdown};
use sansnet_proto::file::{
    ErrorCode, Hash, Limits, Receiver, Refusal, Sender, Stash, receiver, sender,
};
use sansnet_proto::{App, Instant};

use crate::cli::{Cli, parse_secs, parse_size, parse_size_u64};
use crate::server::{self, Plan};
use sansnet_net::Transport;
use sansnet_net::{Blocking, Job};

/// Where `file recv` listens by default.
const DEFAULT_BIND: &str = "127.0.0.1:9000";
/// Bytes the receiving driver reads per system call, at most.
const READ_BUFFER: usize = 1 << 20;

/// `sansnet file` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct FileArgs {
    #[command(subcommand)]
    pub(crate) command: FileCommand,
}

/// `file recv` or `file send`.
#[derive(Subcommand, Debug, Clone)]
pub(crate) enum FileCommand {
    /// Receive files into DIR.
    Recv(RecvArgs),
    /// Send the file at PATH to a receiver at ADDR.
    Send(SendArgs),
}

/// `sansnet file recv` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct RecvArgs {
    /// The directory files are written to.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: PathBuf,

    /// Address to listen on (`HOST:PORT`, `[::1]:9000` for IPv6, port 0
    /// for any free port) [default: 127.0.0.1:9000].
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<String>,

    /// Handle one connection, then exit: status 0 if a file was received,
    /// 1 otherwise.
    #[arg(long)]
    pub(crate) once: bool,

    /// Replace an existing file of the same name (instead of `ERR exists`).
    #[arg(long)]
    pub(crate) overwrite: bool,

    /// No progress bars and no `received ...` lines.
    #[arg(long, short)]
    pub(crate) quiet: bool,

    /// The largest file accepted (K, M, G suffixes); over it `ERR
    /// too_large`.
    #[arg(long, value_name = "BYTES", value_parser = parse_size_u64, default_value_t = Limits::default().max_size)]
    pub(crate) max_size: u64,

    /// Bytes of a transfer received and not yet written to the disk (K, M
    /// suffixes): past it, the receiver stops reading until the disk
    /// catches up. With the 1 MiB read buffer, the memory one transfer may
    /// hold.
    #[arg(long, value_name = "BYTES", value_parser = parse_buffered, default_value = "4M")]
    pub(crate) max_buffered: usize,
}

/// `--max-buffered`: a size of at least one byte.
fn parse_buffered(s: &str) -> Result<usize, String> {
    match parse_size(s)? {
        0 => Err("the receiver needs room for at least one byte".into()),
        n => Ok(n),
    }
}

/// The receiver's limits from the command line.
fn recv_limits(cli: &Cli, args: &RecvArgs) -> Limits {
    let limits =
        Limits::default().with_max_size(args.max_size).with_max_buffered(args.max_buffered);
    match cli.socket.idle_timeout {
        Some(idle) => limits.with_idle_timeout(idle),
        None => limits,
    }
}

/// `sansnet file send` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct SendArgs {
    /// The file to send; the receiver stores it under its last path
    /// component.
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,

    /// The receiver: `HOST:PORT` (`[::1]:9000` for IPv6) or `unix:PATH`.
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,

    /// No progress bar and no summary line.
    #[arg(long, short)]
    pub(crate) quiet: bool,

    /// Seconds to wait for the connection and for each answer.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "30")]
    pub(crate) timeout: Duration,
}

/// Runs `sansnet file ...`.
pub(crate) fn run<R: Transport>(cli: &Cli, args: &FileArgs) -> anyhow::Result<()> {
    match &args.command {
        FileCommand::Recv(a) => recv::<R>(cli, a),
        FileCommand::Send(a) => send::<R>(cli, a),
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

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Progress bars go to stderr, and only when stdout is a terminal and
/// `--quiet` is off.
fn bars_enabled(quiet: bool) -> bool {
    !quiet && io::stdout().is_terminal()
}

// ---------------------------------------------------------------------------
// The receiver

/// Lets malloc keep freed memory for the next allocation instead of
/// handing it back to the kernel at once. A receiver's read buffers are
/// held by the batches waiting for the disk and freed as they are written,
/// a few MiB at a time: with glibc's defaults (a trim and mmap threshold
/// that adapt up to about 2 MiB), most of that went back to the kernel and
/// was faulted in afresh, about 27,000 page faults per GiB received (socat:
/// 350), each one a zeroed page and, on a VM, often a fault on the host.
/// At most 64 MiB freed at the top of the heap is kept.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets malloc's tuning parameters, takes the
    // allocator's own locks, and has no precondition on memory: any value
    // is either applied or refused (the return value, ignored here: the
    // defaults are a fine fallback).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// What every receiving connection shares.
struct Shared {
    dir: OwnedFd,
    dir_path: PathBuf,
    overwrite: bool,
    quiet: bool,
    /// Names being received now, with their partial files.
    active: Mutex<BTreeSet<String>>,
    /// Signalled when names leave `active`.
    freed: Condvar,
    bars: Option<MultiProgress>,
    /// `--once`: the shutdown to trigger after the first connection, and
    /// its outcome.
    once: Option<(Shutdown, Mutex<Option<anyhow::Result<()>>>)>,
}

fn recv<R: Transport>(cli: &Cli, args: &RecvArgs) -> anyhow::Result<()> {
    keep_freed_memory();
    // A write past the file-size limit (RLIMIT_FSIZE) fails with EFBIG,
    // answered `ERR io`, instead of killing the receiver with SIGXFSZ.
    signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .context("cannot install the SIGXFSZ handler")?;
    let dir = rustix::fs::open(
        &args.dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open the directory {}", args.dir.display()))?;
    let mut config = cli.socket.server_config();
    config.read_buffer = READ_BUFFER;
    if args.once {
        config.max_connections = 1;
    }
    let plan = Plan {
        endpoint: cli.socket.endpoint(args.bind.as_deref(), DEFAULT_BIND)?,
        config,
        verbose: cli.verbose > 0,
    };
    let limits = recv_limits(cli, args);
    let shutdown = Shutdown::new();
    let shared = Arc::new(Shared {
        dir,
        dir_path: args.dir.clone(),
        overwrite: args.overwrite,
        quiet: args.quiet,
        active: Mutex::new(BTreeSet::new()),
        freed: Condvar::new(),
        bars: bars_enabled(args.quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        once: args.once.then(|| (shutdown.clone(), Mutex::new(None))),
    });
    let io = R::BLOCKING;
    let factory_shared = shared.clone();
    server::run_until::<R>(plan, shutdown, move |now, peer: &str| {
        let app = RecvApp::new(factory_shared.clone(), io, peer, now);
        (Receiver::new(limits, now), app)
    })?;
    if let Some((_, outcome)) = &shared.once {
        let outcome = outcome.lock().unwrap_or_else(|e| e.into_inner()).take();
        return outcome.unwrap_or_else(|| bail!("stopped before a transfer"));
    }
    Ok(())
}

/// The transfer a connection is on.
struct Current {
    name: String,
    stash: Stash,
    size: u64,
    file: Option<Arc<File>>,
    bar: Option<ProgressBar>,
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

/// How long an offer waits for its name to be free (a transfer of it that
/// just failed may still be writing what it received) before `ERR exists`.
const CLAIM_WAIT: Duration = Duration::from_secs(1);

/// Names in [`Shared::active`], held by a transfer until dropped: a name
/// and its partial files are one transfer's at a time (a file named like
/// another transfer's partial file must not clobber it).
struct Claim {
    shared: Arc<Shared>,
    names: Vec<String>,
}

impl Claim {
    /// Claims `names` once none is held, waiting up to `wait`.
    fn take(shared: &Arc<Shared>, names: Vec<String>, wait: Duration) -> Option<Claim> {
        let deadline = std::time::Instant::now() + wait;
        let mut active = shared.active.lock().unwrap_or_else(|e| e.into_inner());
        while names.iter().any(|n| active.contains(n)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            active = shared.freed.wait_timeout(active, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        active.extend(names.iter().cloned());
        Some(Claim { shared: shared.clone(), names })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut active = self.shared.active.lock().unwrap_or_else(|e| e.into_inner());
        for name in &self.names {
            active.remove(name);
        }
        self.shared.freed.notify_all();
    }
}

/// Writes one transfer's batches to its partial file, in order and back to
/// back, on a thread of the blocking pool: the connection's thread (std) or
/// event loop (smol, async-std) goes on receiving and hashing meanwhile,
/// and never waits for the disk unless [`Limits::max_buffered`] bytes are
/// still unwritten. Consecutive batches waiting in the queue are joined
/// into one `pwritev`. Completions are picked up with [`DiskWriter::poll`].
struct DiskWriter {
    queue: Option<mpsc::Sender<(u64, Vec<Bytes>)>>,
    state: Arc<Mutex<WriterState>>,
    /// Bytes queued and not yet reported written.
    queued: usize,
}

/// What the writer thread reports.
#[derive(Default)]
struct WriterState {
    written: usize,
    error: Option<io::Error>,
    waker: Option<Waker>,
    /// The transfer's names, handed over when the connection ends with
    /// writes still queued: released only once they are on disk, so that a
    /// resumed transfer never reads a partial file still being written.
    claim: Option<Claim>,
    /// The writer thread ended.
    finished: bool,
}

impl DiskWriter {
    fn new(file: Arc<File>) -> DiskWriter {
        let (queue, batches) = mpsc::channel::<(u64, Vec<Bytes>)>();
        let state = Arc::new(Mutex::new(WriterState::default()));
        let report = state.clone();
        blocking::unblock(move || {
            let mut carry = None;
            while let Some((offset, mut data)) = carry.take().or_else(|| batches.recv().ok()) {
                // Join what else is waiting and follows on.
                let mut end = offset + batch_len(&data) as u64;
                while let Ok((next, more)) = batches.try_recv() {
                    if next != end {
                        carry = Some((next, more));
                        break;
                    }
                    end += batch_len(&more) as u64;
                    data.extend(more);
                }
                if !report_write(&report, &data, write_all_at(&file, offset, &data)) {
                    break;
                }
            }
            // Done with the file: the names may go (here, not when the
            // connection is dropped, which may be later).
            let claim = {
                let mut st = report.lock().unwrap_or_else(|e| e.into_inner());
                st.finished = true;
                st.claim.take()
            };
            drop(claim);
        })
        .detach();
        DiskWriter { queue: Some(queue), state, queued: 0 }
    }

    /// Queues `data` to be written at `offset`.
    fn write(&mut self, offset: u64, data: Vec<Bytes>) {
        let n = batch_len(&data);
        // A send fails only once the writer stopped on an error, which
        // `poll` reports (or reported: then the queue is gone).
        if let Some(queue) = &self.queue
            && queue.send((offset, data)).is_ok()
        {
            self.queued += n;
        }
    }

    /// Bytes written since the last call (`Ready(Ok(n))`), the write error,
    /// or `Pending` with `cx` woken when either comes.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.queued == 0 {
            return Poll::Pending;
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = st.error.take() {
            self.queued = 0;
            self.queue = None;
            return Poll::Ready(Err(e));
        }
        if st.written > 0 {
            let n = std::mem::take(&mut st.written);
            self.queued = self.queued.saturating_sub(n);
            return Poll::Ready(Ok(n));
        }
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Stops the writer once the queue is written, and lets `claim` go
    /// then: now if every byte queued is on disk (reported or not) or the
    /// writer is gone, else from the writer thread right after its last
    /// write (it does not wait for anything once the queue is closed).
    fn close(&mut self, claim: Option<Claim>) {
        let mut claim = claim;
        if self.queued > 0 {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !st.finished && st.written < self.queued {
                st.claim = claim.take();
            }
        }
        self.queue = None;
        drop(claim); // outside the lock
    }
}

/// The bytes in a batch of pieces written back to back.
fn batch_len(data: &[Bytes]) -> usize {
    data.iter().map(Bytes::len).sum()
}

/// Records a write's outcome for [`DiskWriter::poll`]; false if the writer
/// must stop.
fn report_write(state: &Mutex<WriterState>, data: &[Bytes], r: io::Result<()>) -> bool {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let ok = match r {
        Ok(()) => {
            st.written += batch_len(data);
            true
        }
        Err(e) => {
            st.error = Some(e);
            false
        }
    };
    let waker = st.waker.take();
    drop(st);
    if let Some(w) = waker {
        w.wake();
    }
    ok
}

/// One receiving connection's application: the disk side of a
/// [`Receiver`].
struct RecvApp {
    shared: Arc<Shared>,
    io: Blocking,
    peer: String,
    clock: AppClock,
    current: Option<Current>,
    /// The names in [`Shared::active`] this connection holds.
    claim: Option<Claim>,
    jobs: VecDeque<RecvJob>,
    /// The partial file's writer, once the offer is accepted.
    writer: Option<DiskWriter>,
    outcome: Option<anyhow::Result<()>>,
}

impl RecvApp {
    fn new(shared: Arc<Shared>, io: Blocking, peer: &str, now: Instant) -> RecvApp {
        RecvApp {
            shared,
            io,
            peer: peer.to_owned(),
            clock: AppClock::new(now),
            current: None,
            claim: None,
            jobs: VecDeque::new(),
            writer: None,
            outcome: None,
        }
    }

    fn file(&self) -> Option<Arc<File>> {
        self.current.as_ref().and_then(|c| c.file.clone())
    }

    /// Gives the transfer up with `refusal` (sent to the peer).
    fn give_up(&mut self, rx: &mut Receiver, refusal: Refusal) {
        tracing::warn!("{}: {refusal}", self.peer);
        self.outcome = Some(Err(anyhow::anyhow!("{}", refusal)));
        let _ = rx.refuse(&refusal);
        self.jobs.clear();
    }

    /// Starts the next job (or does it now, inline) and applies what is
    /// already done.
    fn start(&mut self, rx: &mut Receiver, job: RecvJob) {
        self.jobs.push_back(job);
        if self.io == Blocking::Inline {
            let waker = std::task::Waker::noop();
            let _ = self.finish_jobs(rx, &mut Context::from_waker(waker));
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
                    if let Some(bar) = self.current.as_ref().and_then(|c| c.bar.as_ref()) {
                        bar.inc(n as u64);
                    }
                    rx.written(self.clock.now(), n);
                }
                Err(e) => {
                    let code = if e.raw_os_error() == Some(libc_enospc()) {
                        ErrorCode::NoSpace
                    } else {
                        ErrorCode::Io
                    };
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
                    if let Some(bar) = &c.bar {
                        bar.set_position(offset);
                    }
                    tracing::info!("{}: receiving {} from byte {offset}", self.peer, c.name);
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
                    if let Some(bar) = &c.bar {
                        bar.finish_and_clear();
                    }
                    if !self.shared.quiet {
                        eprintln!(
                            "received {} ({} bytes) from {} into {}",
                            c.name,
                            c.size,
                            self.peer,
                            self.shared.dir_path.display()
                        );
                    }
                }
                self.outcome = Some(Ok(()));
                self.release();
            }
        }
    }

    /// The name is free for another transfer.
    /// (Once the writes still queued are on disk, if any.)
    fn release(&mut self) {
        let claim = self.claim.take();
        if let Some(w) = &mut self.writer {
            w.close(claim);
        }
    }
}

/// A finished [`RecvJob`].
enum Done {
    Offer(Offered),
    Read(io::Result<Vec<u8>>),
    Commit(io::Result<()>),
}

fn libc_enospc() -> i32 {
    rustix::io::Errno::NOSPC.raw_os_error()
}

impl App<Receiver> for RecvApp {
    fn on_event(&mut self, rx: &mut Receiver, event: receiver::Event) {
        match event {
            receiver::Event::Offer { name, size } => {
                let stash = Stash::for_name(&name);
                // Claimed on the pool with the rest of the offer (see `Claim`).
                let names = vec![name.clone(), stash.part(), stash.size_note()];
                let bar = self.shared.bars.as_ref().map(|m| {
                    let bar = m.add(ProgressBar::new(size).with_style(bar_style()));
                    bar.set_message(name.clone());
                    bar
                });
                self.current = Some(Current {
                    name: name.clone(),
                    stash: stash.clone(),
                    size,
                    file: None,
                    bar,
                });
                let (shared, overwrite) = (self.shared.clone(), self.shared.overwrite);
                let job = self.io.run(move || {
                    let Some(claim) = Claim::take(&shared, names, CLAIM_WAIT) else {
                        let why = format!("{name:?} is being received");
                        return Err(Refusal::new(ErrorCode::Exists, why));
                    };
                    let (file, offset) = prepare(&shared, &name, &stash, size, overwrite)?;
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
                let (shared, name, stash) = (self.shared.clone(), c.name.clone(), c.stash.clone());
                let job = self.io.run(move || commit(&shared, &file, &name, &stash));
                self.start(rx, RecvJob::Commit(job));
            }
            receiver::Event::Failed { refusal, discard } => {
                tracing::warn!("{}: {refusal}", self.peer);
                if let Some(c) = &self.current {
                    if let Some(bar) = &c.bar {
                        bar.abandon();
                    }
                    if discard {
                        let (shared, stash) = (self.shared.clone(), c.stash.clone());
                        // Small and rare: done here, on whatever thread.
                        discard_stash(&shared, &stash);
                    }
                }
                self.release();
                self.outcome = Some(Err(anyhow::anyhow!("{refusal}")));
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

impl Drop for RecvApp {
    fn drop(&mut self) {
        self.release();
        if let Some(bar) = self.current.as_ref().and_then(|c| c.bar.as_ref()) {
            bar.abandon();
        }
        if let Some((shutdown, slot)) = &self.shared.once {
            let outcome = self.outcome.take().unwrap_or_else(|| {
                Err(anyhow::anyhow!("the connection from {} ended without a transfer", self.peer))
            });
            let outcome = outcome.with_context(|| format!("receiving from {}", self.peer));
            slot.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(outcome);
            shutdown.trigger();
        }
    }
}

/// Decides an offer on disk: `exists`, `no_space`, or the partial file to
/// write and the offset to resume from.
fn prepare(
    shared: &Shared,
    name: &str,
    stash: &Stash,
    size: u64,
    overwrite: bool,
) -> Result<(Arc<File>, u64), Refusal> {
    let dir = &shared.dir;
    let io_err = |what: &str, e: rustix::io::Errno| {
        Refusal::new(ErrorCode::Io, format!("{what}: {}", io::Error::from(e)))
    };
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
            if is_dir || !overwrite {
                return Err(Refusal::new(ErrorCode::Exists, format!("{name:?} exists")));
            }
        }
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(io_err("stat", e)),
    }
    let (part, note) = (stash.part(), stash.size_note());
    // What an earlier transfer of the same name and size left.
    let noted = read_note(dir, &note);
    let kept = match rustix::fs::statat(dir, part.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() => {
            let len = st.st_size as u64;
            if noted == Some(size) && len <= size { len } else { 0 }
        }
        _ => 0,
    };
    let vfs = rustix::fs::fstatvfs(dir).map_err(|e| io_err("statvfs", e))?;
    let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
    let needed = size - kept;
    if needed > free {
        return Err(Refusal::new(
            ErrorCode::NoSpace,
            format!("{needed} bytes needed, {free} free"),
        ));
    }
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, part.as_str(), flags, Mode::from_raw_mode(0o644))
        .map_err(|e| io_err("open the partial file", e))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(|e| Refusal::new(ErrorCode::Io, e.to_string()))?;
    if !meta.is_file() {
        return Err(Refusal::new(ErrorCode::Io, "the partial file is not a regular file"));
    }
    if std::os::unix::fs::MetadataExt::nlink(&meta) != 1 {
        // A hard link to a file elsewhere: never write through it.
        return Err(Refusal::new(ErrorCode::Io, "the partial file has other links"));
    }
    let kept = if kept > 0 && meta.len() == kept { kept } else { 0 };
    if kept == 0 {
        file.set_len(0).map_err(|e| Refusal::new(ErrorCode::Io, e.to_string()))?;
        write_note(dir, &note, size).map_err(|e| io_err("write the size note", e))?;
    }
    Ok((Arc::new(file), kept))
}

fn read_note(dir: &OwnedFd, note: &str) -> Option<u64> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, note, flags, Mode::empty()).ok()?;
    let mut buf = [0u8; 32];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok()
}

fn write_note(dir: &OwnedFd, note: &str, size: u64) -> Result<(), rustix::io::Errno> {
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, note, flags, Mode::from_raw_mode(0o644))?;
    let text = format!("{size}\n");
    let n = rustix::io::write(&fd, text.as_bytes())?;
    if n != text.len() {
        return Err(rustix::io::Errno::IO);
    }
    Ok(())
}

/// Moves the verified part to NAME and drops the size note. The data
/// reaches the disk before the rename, and the rename before `DONE`: a
/// crash never leaves a short file under NAME, and `DONE` means stored.
fn commit(shared: &Shared, file: &File, name: &str, stash: &Stash) -> io::Result<()> {
    let dir = &shared.dir;
    file.sync_data()?;
    let flags = if shared.overwrite { RenameFlags::empty() } else { RenameFlags::NOREPLACE };
    match rustix::fs::renameat_with(dir, stash.part().as_str(), dir, name, flags) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => {
            return Err(io::Error::other(format!(
                "{name:?} appeared meanwhile; kept the partial file"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let _ = rustix::fs::unlinkat(dir, stash.size_note().as_str(), AtFlags::empty());
    rustix::fs::fsync(dir)?;
    Ok(())
}

/// Removes a transfer's partial file and note.
fn discard_stash(shared: &Shared, stash: &Stash) {
    let _ = rustix::fs::unlinkat(&shared.dir, stash.part().as_str(), AtFlags::empty());
    let _ = rustix::fs::unlinkat(&shared.dir, stash.size_note().as_str(), AtFlags::empty());
}

/// Fills `buf` from `offset` (less at the end of the file).
fn read_at(file: &File, offset: u64, mut buf: Vec<u8>) -> io::Result<Vec<u8>> {
    let len = buf.len();
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Writes `data`'s pieces back to back at `offset`, with as few system
/// calls as it takes (`pwritev`).
fn write_all_at(file: &File, mut offset: u64, data: &[Bytes]) -> io::Result<()> {
    let (mut i, mut skip) = (0usize, 0usize);
    while i < data.len() {
        let slices: Vec<io::IoSlice<'_>> = data[i..]
            .iter()
            .take(512)
            .enumerate()
            .map(|(k, b)| io::IoSlice::new(if k == 0 { &b[skip..] } else { &b[..] }))
            .collect();
        let mut n = match rustix::io::pwritev(file, &slices, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        offset += n as u64;
        while n > 0 {
            let left = data[i].len() - skip;
            if n >= left {
                n -= left;
                i += 1;
                skip = 0;
            } else {
                skip += n;
                n = 0;
            }
        }
        while i < data.len() && data[i].len() == skip {
            i += 1;
            skip = 0;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The sender

/// How a send ended, as the sending application saw it.
#[derive(Debug)]
enum Sent {
    Verified(Hash),
    Unverified(Hash),
}

/// A read of `len` bytes at an offset, on its way.
type ReadJob = Job<io::Result<Vec<u8>>>;

/// Read buffers, reused once the socket has taken their bytes: a fresh
/// buffer per read costs a page fault every 4 KiB.
#[derive(Clone, Debug, Default)]
struct BufPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufPool {
    /// A buffer of `len` bytes (their values are whatever was there).
    fn take(&self, len: usize) -> Vec<u8> {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        buf.resize(len, 0);
        buf
    }

    /// `buf` as `Bytes` that return it here when the last clone is gone.
    fn bytes(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf, pool: self.clone() })
    }
}

/// A pooled buffer lent to a `Bytes`.
struct Pooled {
    buf: Vec<u8>,
    pool: BufPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut pool = self.pool.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 64 {
            pool.push(buf);
        }
    }
}

/// The sending connection's application: the disk side of a [`Sender`].
struct SendApp {
    file: Arc<File>,
    pool: BufPool,
    io: Blocking,
    clock: AppClock,
    jobs: VecDeque<(u64, usize, ReadJob)>,
    bar: Option<ProgressBar>,
    outcome: Option<anyhow::Result<Sent>>,
}

impl SendApp {
    fn finish_jobs(&mut self, tx: &mut Sender, cx: &mut Context<'_>) -> Poll<()> {
        let mut any = false;
        while let Some((offset, len, job)) = self.jobs.front_mut() {
            let Poll::Ready(result) = job.poll(cx) else { break };
            let (offset, len) = (*offset, *len);
            self.jobs.pop_front();
            any = true;
            match result {
                Ok(data) if data.len() == len => {
                    if let Some(bar) = &self.bar {
                        bar.set_position(offset + len as u64);
                    }
                    let _ = tx.supply(self.clock.now(), self.pool.bytes(data));
                }
                Ok(_) => {
                    self.outcome = Some(Err(anyhow::anyhow!("the file shrank while it was sent")));
                    tx.abort();
                    self.jobs.clear();
                }
                Err(e) => {
                    self.outcome = Some(Err(anyhow::Error::from(e).context("reading the file")));
                    tx.abort();
                    self.jobs.clear();
                }
            }
        }
        if any { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl App<Sender> for SendApp {
    fn on_event(&mut self, tx: &mut Sender, event: sender::Event) {
        match event {
            sender::Event::Accepted { offset, verified } => {
                if offset > 0 {
                    tracing::info!("the receiver has {offset} bytes already: resuming");
                }
                if !verified {
                    tracing::info!("bare OK: the receiver will not confirm the transfer");
                }
            }
            sender::Event::Read { offset, len } => {
                let file = self.file.clone();
                let buf = self.pool.take(len);
                let job = self.io.run(move || read_at(&file, offset, buf));
                self.jobs.push_back((offset, len, job));
                if self.io == Blocking::Inline {
                    let _ =
                        self.finish_jobs(tx, &mut Context::from_waker(std::task::Waker::noop()));
                }
            }
            sender::Event::Done { hash } => self.outcome = Some(Ok(Sent::Verified(hash))),
            sender::Event::Unverified { hash } => self.outcome = Some(Ok(Sent::Unverified(hash))),
            sender::Event::Refused(r) => {
                self.outcome = Some(Err(anyhow::anyhow!("the receiver refused: ERR {r}")));
            }
            sender::Event::Failed(e) => self.outcome = Some(Err(e.into())),
        }
    }

    fn is_working(&self) -> bool {
        !self.jobs.is_empty()
    }

    fn poll_work(&mut self, tx: &mut Sender, cx: &mut Context<'_>) -> Poll<()> {
        self.finish_jobs(tx, cx)
    }
}

/// Where to send: `HOST:PORT` or `unix:PATH`.
fn endpoint(addr: &str) -> anyhow::Result<Endpoint> {
    if let Ok(a) = addr.parse::<std::net::SocketAddr>() {
        return Ok(Endpoint::Tcp(a));
    }
    addr.parse::<Endpoint>()
        .with_context(|| format!("invalid address {addr:?} (want HOST:PORT or unix:PATH)"))
}

fn send<R: Transport>(cli: &Cli, args: &SendArgs) -> anyhow::Result<()> {
    let path = &args.path;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file.metadata().with_context(|| format!("cannot stat {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let size = meta.len();
    let name = file_name(path)?;
    let endpoint = endpoint(&args.addr)?;
    let opts = cli.socket.options();
    let stream = opts
        .connect(&endpoint, Some(args.timeout))
        .with_context(|| format!("cannot connect to {endpoint}"))?;
    let config =
        ServerConfig { write_timeout: args.timeout, socket: opts, ..ServerConfig::default() };
    let limits = Limits::default()
        .with_ack_timeout(args.timeout)
        .with_done_timeout(args.timeout.max(Duration::from_secs(60)));
    let bar = bars_enabled(args.quiet).then(|| {
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr())
            .with_style(bar_style());
        bar.set_message(name.clone());
        bar
    });
    let started = std::time::Instant::now();
    let io = R::BLOCKING;
    let app = |now| SendApp {
        file: Arc::new(file),
        pool: BufPool::default(),
        io,
        clock: AppClock::new(now),
        jobs: VecDeque::new(),
        bar: bar.clone(),
        outcome: None,
    };
    let clock = sansnet_net::Clock::new();
    let now = clock.now();
    let mut tx = Sender::new(&name, size, limits, now)?;
    let mut app = app(now);
    let driven = R::run_client(stream, &config, clock, &mut tx, &mut app);
    let outcome = app.outcome;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed();
    let sent = match (outcome, driven) {
        (Some(Err(e)), _) => {
            return Err(e).with_context(|| format!("sending {name} to {endpoint}"));
        }
        (_, Err(e)) => return Err(e).with_context(|| format!("sending {name} to {endpoint}")),
        (Some(Ok(sent)), Ok(())) => sent,
        (None, Ok(())) => bail!("sending {name} to {endpoint}: the connection ended early"),
    };
    let rate = size as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6;
    let summary = match sent {
        Sent::Verified(hash) => format!(
            "sent {name} ({size} bytes, BLAKE3 {}) to {endpoint} in {:.2} s ({rate:.0} MB/s): verified",
            hash.to_hex(),
            elapsed.as_secs_f64()
        ),
        Sent::Unverified(hash) => {
            eprintln!(
                "warning: the receiver answered a bare OK: the file was sent but not verified"
            );
            format!(
                "sent {name} ({size} bytes, BLAKE3 {}) to {endpoint} in {:.2} s ({rate:.0} MB/s): unverified",
                hash.to_hex(),
                elapsed.as_secs_f64()
            )
        }
    };
    if !args.quiet {
        let mut out = io::stdout().lock();
        writeln!(out, "{summary}").and_then(|()| out.flush()).context("stdout")?;
    }
    Ok(())
}

/// The name the receiver stores PATH under: its last component, which
/// must be a plain UTF-8 name.
fn file_name(path: &Path) -> anyhow::Result<String> {
    let Some(name) = path.file_name() else {
        bail!("{} has no file name", path.display());
    };
    let Some(name) = name.to_str() else {
        bail!("{} is not a UTF-8 file name", path.display());
    };
    sansnet_proto::file::check_name(name.as_bytes())
        .with_context(|| format!("{name:?} cannot be sent as a file name"))?;
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn recv_args(extra: &[&str]) -> (Cli, RecvArgs) {
        let argv = ["sansnet", "file", "recv", "--dir", "in"].iter().chain(extra);
        let cli = Cli::try_parse_from(argv).expect("parses");
        let crate::cli::Command::File(FileArgs { command: FileCommand::Recv(args) }) = &cli.command
        else {
            panic!("not file recv")
        };
        let args = args.clone();
        (cli, args)
    }

    #[test]
    fn receiver_limits_come_from_the_flags() {
        let (cli, args) = recv_args(&[]);
        let l = recv_limits(&cli, &args);
        assert_eq!((l.max_size, l.max_buffered), (1 << 40, 4 << 20));
        assert_eq!(l.idle_timeout, Duration::from_secs(60));
        let (cli, args) =
            recv_args(&["--max-size", "1G", "--max-buffered", "64K", "--idle-timeout", "5"]);
        let l = recv_limits(&cli, &args);
        assert_eq!((l.max_size, l.max_buffered), (1 << 30, 64 << 10));
        assert_eq!(l.idle_timeout, Duration::from_secs(5));
        let argv = ["sansnet", "file", "recv", "--dir", "in", "--max-buffered", "0"];
        assert!(Cli::try_parse_from(argv).is_err(), "no room at all is refused");
    }

    /// Waits (bounded) for the writer to report, as a driver would.
    fn next(w: &mut DiskWriter) -> io::Result<usize> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Poll::Ready(r) = w.poll(&mut Context::from_waker(Waker::noop())) {
                return r;
            }
            assert!(std::time::Instant::now() < deadline, "the writer never reported");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn temp_file(read_only: bool) -> (PathBuf, Arc<File>) {
        let path = std::env::temp_dir().join(format!(
            "sansnet-writer-{}-{read_only}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, b"").expect("create");
        let file =
            std::fs::OpenOptions::new().read(true).write(!read_only).open(&path).expect("open");
        (path, Arc::new(file))
    }

    #[test]
    fn the_writer_writes_batches_in_order_and_reports_every_byte() {
        let (path, file) = temp_file(false);
        let mut w = DiskWriter::new(file);
        let mut expect = Vec::new();
        let mut offset = 0u64;
        for i in 0..50u8 {
            let pieces: Vec<Bytes> = (0..3)
                .map(|k| Bytes::from(vec![i.wrapping_mul(7) ^ k; 1000 + i as usize]))
                .collect();
            for p in &pieces {
                expect.extend_from_slice(p);
            }
            let n: u64 = pieces.iter().map(|p| p.len() as u64).sum();
            w.write(offset, pieces);
            offset += n;
        }
        let mut reported = 0;
        while w.queued > 0 {
            reported += next(&mut w).expect("write");
        }
        assert_eq!(reported, expect.len());
        assert_eq!(std::fs::read(&path).expect("read back"), expect);
        // Nothing queued: nothing to wait for.
        assert!(w.poll(&mut Context::from_waker(Waker::noop())).is_pending());
        std::fs::remove_file(&path).expect("remove");
    }

    fn shared_with(names: &[&str]) -> Arc<Shared> {
        let dir = rustix::fs::open(".", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
            .expect("open .");
        Arc::new(Shared {
            dir,
            dir_path: PathBuf::from("."),
            overwrite: false,
            quiet: true,
            active: Mutex::new(names.iter().map(|n| n.to_string()).collect()),
            freed: Condvar::new(),
            bars: None,
            once: None,
        })
    }

    fn is_active(shared: &Shared, name: &str) -> bool {
        shared.active.lock().expect("lock").contains(name)
    }

    #[test]
    fn names_are_released_once_the_writer_is_done_with_the_file() {
        let (path, file) = temp_file(false);
        // Every byte reported written: released at once.
        let shared = shared_with(&["a"]);
        let mut w = DiskWriter::new(file.clone());
        w.write(0, vec![Bytes::from_static(b"abc")]);
        assert_eq!(next(&mut w).expect("write"), 3);
        w.close(Some(Claim { shared: shared.clone(), names: vec!["a".into()] }));
        assert!(!is_active(&shared, "a"));
        // Writes not yet reported: released by the writer thread when it
        // ends, even while the connection's side lives on.
        let shared = shared_with(&["b"]);
        let mut w = DiskWriter::new(file);
        w.write(3, vec![Bytes::from(vec![1u8; 1 << 20])]);
        w.close(Some(Claim { shared: shared.clone(), names: vec!["b".into()] }));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while is_active(&shared, "b") {
            assert!(std::time::Instant::now() < deadline, "never released");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 3 + (1 << 20));
        drop(w);
        std::fs::remove_file(&path).expect("remove");
    }

    #[test]
    fn an_offer_waits_a_moment_for_its_name() {
        let shared = shared_with(&[]);
        let held = Claim::take(&shared, vec!["n".into()], Duration::ZERO).expect("free");
        let one_of = vec!["m".into(), "n".into()];
        assert!(Claim::take(&shared, one_of, Duration::from_millis(10)).is_none(), "held");
        let waiter = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                Claim::take(&shared, vec!["n".into()], Duration::from_secs(10))
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        let claim = waiter.join().expect("join").expect("freed while it waited");
        assert!(is_active(&shared, "n"));
        drop(claim);
        assert!(!is_active(&shared, "n"));
    }

    #[test]
    fn a_write_error_is_reported_once_and_stops_the_writer() {
        let (path, file) = temp_file(true);
        let mut w = DiskWriter::new(file);
        w.write(0, vec![Bytes::from_static(b"abc")]);
        w.write(3, vec![Bytes::from_static(b"def")]);
        assert!(next(&mut w).is_err());
        assert_eq!(w.queued, 0, "nothing more to wait for");
        assert!(w.poll(&mut Context::from_waker(Waker::noop())).is_pending());
        // Later batches are dropped, not waited for.
        w.write(6, vec![Bytes::from_static(b"ghi")]);
        assert_eq!(w.queued, 0);
        std::fs::remove_file(&path).expect("remove");
    }
}
