//! The receiving directory: names claimed by one transfer at a time, the
//! transfers in progress counted, the partial file and its size note, their
//! expiry, the commit. The calls that touch the disk are blocking ones, run
//! as [`Blocking`](sansnet_net::Blocking) jobs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use sansnet_proto::file::{ErrorCode, Refusal, Stash};

use crate::disk::open_regular;

/// How many transfers an [`Inbox`] takes at once, and how long it keeps
/// partial files for a resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxLimits {
    /// Transfers in progress at once (an offer being decided, or accepted
    /// and not yet over); past it an offer is answered `ERR no_space busy:
    /// ...`. Default 64.
    pub max_transfers: usize,
    /// Transfers in progress at once from one peer address (an IPv6 peer:
    /// its /64); past it, `ERR no_space busy: ...`. Peers without an IP
    /// address (a Unix socket) count only towards `max_transfers`.
    /// Default 8.
    pub max_transfers_per_peer: usize,
    /// A partial file (with its size note) last written this long ago is
    /// deleted instead of resumed: when the inbox is swept (at start, and
    /// then at most hourly, on an offer) and when its name is offered.
    /// Default 24 h.
    pub part_ttl: Duration,
}

impl Default for InboxLimits {
    fn default() -> InboxLimits {
        InboxLimits {
            max_transfers: 64,
            max_transfers_per_peer: 8,
            part_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// How often an offer sweeps the inbox for expired partial files, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// A directory files are received into (see the [module](super) docs):
/// everything happens through its descriptor, with `*at` calls and
/// `O_NOFOLLOW`, so nothing is ever written outside it.
#[derive(Debug)]
pub struct Inbox {
    dir: OwnedFd,
    path: PathBuf,
    overwrite: bool,
    limits: InboxLimits,
    names: Arc<Names>,
    transfers: Arc<Mutex<Transfers>>,
    /// When the inbox was last swept for expired partial files.
    swept: Mutex<Option<std::time::Instant>>,
}

impl Inbox {
    /// Opens `dir`. With `overwrite`, a received file replaces one of the
    /// same name (instead of `ERR exists`). The limits are the
    /// [defaults](InboxLimits::default) until [`with_limits`](Inbox::with_limits).
    pub fn open(dir: impl AsRef<Path>, overwrite: bool) -> io::Result<Inbox> {
        let path = dir.as_ref().to_path_buf();
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::open(&path, flags, Mode::empty())?;
        Ok(Inbox {
            dir,
            path,
            overwrite,
            limits: InboxLimits::default(),
            names: Arc::default(),
            transfers: Arc::default(),
            swept: Mutex::new(None),
        })
    }

    /// The same inbox with `limits`.
    pub fn with_limits(mut self, limits: InboxLimits) -> Inbox {
        self.limits = limits;
        self
    }

    /// The directory, as given to [`open`](Inbox::open).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The limits in force.
    pub fn limits(&self) -> InboxLimits {
        self.limits
    }

    /// Claims `names` for one transfer (see [`Claim`]).
    pub(super) fn claim(&self, names: Vec<String>, wait: Duration) -> Option<Claim> {
        Claim::take(&self.names, names, wait)
    }

    /// Counts a transfer from `peer` in progress, unless that makes too
    /// many in all or from its address: then the refusal (`no_space`, the
    /// closest of PROTOCOLS.md's codes, with a message saying `busy`).
    pub(super) fn admit(&self, peer: &str) -> Result<Slot, Refusal> {
        let key = peer_key(peer);
        let mut t = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        let max = self.limits.max_transfers;
        if t.total >= max {
            let why = format!("busy: {max} transfers in progress, try again later");
            return Err(Refusal::new(ErrorCode::NoSpace, why));
        }
        if let Some(key) = &key {
            let per = self.limits.max_transfers_per_peer;
            if t.per_peer.get(key).copied().unwrap_or(0) >= per {
                let why = format!("busy: {per} transfers from {key} in progress, try again later");
                return Err(Refusal::new(ErrorCode::NoSpace, why));
            }
            *t.per_peer.entry(key.clone()).or_insert(0) += 1;
        }
        t.total += 1;
        Ok(Slot { transfers: self.transfers.clone(), key })
    }

    /// Deletes the partial files (each with its size note) last written
    /// [`part_ttl`](InboxLimits::part_ttl) or more before `now`, but those
    /// of transfers in progress; returns how many files went.
    pub fn expire_parts(&self, now: SystemTime) -> io::Result<usize> {
        *self.swept.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        // The newest time either file of a stash was written, by part name.
        let mut newest: BTreeMap<String, SystemTime> = BTreeMap::new();
        for entry in rustix::fs::Dir::read_from(&self.dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().to_str() else { continue };
            let Some(part) = part_of(name) else { continue };
            let Ok(st) = rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            let at = newest.entry(part.to_owned()).or_insert(UNIX_EPOCH);
            *at = (*at).max(mtime(&st));
        }
        let mut gone = 0;
        for (part, at) in newest {
            if !self.expired(at, now) {
                continue;
            }
            let note = format!("{part}.size");
            // Not while a transfer holds them (nor wait for one that does).
            let Some(_claim) = self.claim(vec![part.clone(), note.clone()], Duration::ZERO) else {
                continue;
            };
            for name in [part, note] {
                if rustix::fs::unlinkat(&self.dir, name.as_str(), AtFlags::empty()).is_ok() {
                    tracing::info!("{}: deleted the expired {name}", self.path.display());
                    gone += 1;
                }
            }
        }
        Ok(gone)
    }

    /// Sweeps for expired partial files if the last sweep was long ago.
    fn sweep_if_due(&self) {
        let last = *self.swept.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= SWEEP_EVERY.min(self.limits.part_ttl)) {
            if let Err(e) = self.expire_parts(SystemTime::now()) {
                tracing::warn!(
                    "{}: cannot sweep for expired partial files: {e}",
                    self.path.display()
                );
            }
        }
    }

    /// Whether what was last written at `at` is past the TTL at `now`.
    fn expired(&self, at: SystemTime, now: SystemTime) -> bool {
        now.duration_since(at).is_ok_and(|age| age >= self.limits.part_ttl)
    }
}

/// Whether `name` is one the receiver keeps its own partial files under
/// (`.NAME.part`, `.NAME.part.size`, and the shortened `.PREFIX~HEX.part`
/// forms of [`Stash`]): such a name is never taken from a sender, or a
/// sender could plant a partial file that spoils another name's resume.
pub(super) fn is_bookkeeping(name: &str) -> bool {
    part_of(name).is_some()
}

/// The partial file `name` belongs to, if it is a partial file or a size
/// note: `.X.part` for both `.X.part` and `.X.part.size`.
fn part_of(name: &str) -> Option<&str> {
    let part = name.strip_suffix(".size").unwrap_or(name);
    (part.len() > ".part".len() + 1 && part.starts_with('.') && part.ends_with(".part"))
        .then_some(part)
}

/// When a file was last written (to the second: plenty for a TTL).
fn mtime(st: &rustix::fs::Stat) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(st.st_mtime).unwrap_or(0))
}

/// What the per-peer cap counts a peer by: its IP address (an IPv6 peer by
/// its /64, what one host usually has); `None` without one.
fn peer_key(peer: &str) -> Option<String> {
    match peer.parse::<SocketAddr>().ok()?.ip().to_canonical() {
        IpAddr::V4(ip) => Some(ip.to_string()),
        IpAddr::V6(ip) => {
            let s = ip.segments();
            Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
        }
    }
}

/// The transfers in progress, in all and by peer.
#[derive(Debug, Default)]
struct Transfers {
    total: usize,
    per_peer: HashMap<String, usize>,
}

/// One transfer in progress, counted until dropped.
#[derive(Debug)]
pub(super) struct Slot {
    transfers: Arc<Mutex<Transfers>>,
    key: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.transfers.lock().unwrap_or_else(|e| e.into_inner());
        t.total = t.total.saturating_sub(1);
        if let Some(key) = &self.key
            && let Some(n) = t.per_peer.get_mut(key)
        {
            *n -= 1;
            if *n == 0 {
                t.per_peer.remove(key);
            }
        }
    }
}

/// The names being received now, with their partial files.
#[derive(Debug, Default)]
pub(super) struct Names {
    active: Mutex<BTreeSet<String>>,
    /// Signalled when names leave `active`.
    freed: Condvar,
}

/// Names in [`Names`], held by a transfer until dropped: a name and its
/// partial files are one transfer's at a time (a file named like another
/// transfer's partial file must not clobber it).
#[derive(Debug)]
pub(super) struct Claim {
    names: Arc<Names>,
    held: Vec<String>,
}

impl Claim {
    /// Claims `held` once none is taken, waiting up to `wait`.
    fn take(names: &Arc<Names>, held: Vec<String>, wait: Duration) -> Option<Claim> {
        let deadline = std::time::Instant::now() + wait;
        let mut active = names.active.lock().unwrap_or_else(|e| e.into_inner());
        while held.iter().any(|n| active.contains(n)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            active = names.freed.wait_timeout(active, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        active.extend(held.iter().cloned());
        Some(Claim { names: names.clone(), held })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut active = self.names.active.lock().unwrap_or_else(|e| e.into_inner());
        for name in &self.held {
            active.remove(name);
        }
        self.names.freed.notify_all();
    }
}

/// Decides an offer on disk: `exists`, `no_space`, or the partial file to
/// write and the offset to resume from. Every file in DIR is opened without
/// waiting and checked to be a regular file (a FIFO under a partial file's
/// name is `io`, not a hang). A partial file written [`InboxLimits::part_ttl`]
/// or more ago is not resumed but started over.
pub(super) fn prepare(
    inbox: &Inbox,
    name: &str,
    stash: &Stash,
    size: u64,
) -> Result<(Arc<File>, u64), Refusal> {
    inbox.sweep_if_due();
    let (dir, overwrite) = (&inbox.dir, inbox.overwrite);
    let io_err = |what: &str, e: io::Error| Refusal::new(ErrorCode::Io, format!("{what}: {e}"));
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => {
            let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir();
            if is_dir || !overwrite {
                return Err(Refusal::new(ErrorCode::Exists, format!("{name:?} exists")));
            }
        }
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(io_err("stat", e.into())),
    }
    let (part, note) = (stash.part(), stash.size_note());
    // What an earlier transfer of the same name and size left, unless it
    // is too old.
    let noted = read_note(dir, &note).map_err(|e| io_err("read the size note", e))?;
    let now = SystemTime::now();
    let kept = match rustix::fs::statat(dir, part.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() => {
            let len = st.st_size as u64;
            let fresh = !inbox.expired(mtime(&st), now);
            if noted == Some(size) && len <= size && fresh { len } else { 0 }
        }
        _ => 0,
    };
    let vfs = rustix::fs::fstatvfs(dir).map_err(|e| io_err("statvfs", e.into()))?;
    let free = vfs.f_bavail.saturating_mul(vfs.f_frsize);
    let needed = size - kept;
    if needed > free {
        return Err(Refusal::new(
            ErrorCode::NoSpace,
            format!("{needed} bytes needed, {free} free"),
        ));
    }
    let flags = OFlags::RDWR | OFlags::CREATE;
    let file = open_regular(dir, part.as_str(), flags, Mode::from_raw_mode(0o644))
        .map_err(|e| io_err("open the partial file", e))?;
    let meta = file.metadata().map_err(|e| io_err("stat the partial file", e))?;
    if meta.nlink() != 1 {
        // A hard link to a file elsewhere: never write through it.
        return Err(Refusal::new(ErrorCode::Io, "the partial file has other links"));
    }
    let kept = if kept > 0 && meta.len() == kept { kept } else { 0 };
    if kept == 0 {
        let started = file.set_len(0).and_then(|()| write_note(dir, &note, size));
        if let Err(e) = started {
            // Nothing worth keeping: leave nothing behind.
            discard(inbox, stash);
            return Err(io_err("start the partial file", e));
        }
    }
    Ok((Arc::new(file), kept))
}

/// The size a note holds: `None` if there is no note or it does not parse;
/// an error if it cannot be read or is not a regular file.
fn read_note(dir: &OwnedFd, note: &str) -> io::Result<Option<u64>> {
    let file = match open_regular(dir, note, OFlags::RDONLY, Mode::empty()) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = [0u8; 32];
    let n = rustix::io::read(&file, &mut buf)?;
    Ok(std::str::from_utf8(&buf[..n]).ok().and_then(|t| t.trim().parse().ok()))
}

fn write_note(dir: &OwnedFd, note: &str, size: u64) -> io::Result<()> {
    let flags = OFlags::WRONLY | OFlags::CREATE;
    let file = open_regular(dir, note, flags, Mode::from_raw_mode(0o644))?;
    if file.metadata()?.nlink() != 1 {
        return Err(io::Error::other("the size note has other links"));
    }
    file.set_len(0)?;
    let text = format!("{size}\n");
    let n = rustix::io::write(&file, text.as_bytes())?;
    if n != text.len() {
        return Err(io::ErrorKind::WriteZero.into());
    }
    Ok(())
}

/// Moves the verified part to NAME and drops the size note. The data
/// reaches the disk before the rename, and the rename before `DONE`: a
/// crash never leaves a short file under NAME, and `DONE` means stored.
pub(super) fn commit(inbox: &Inbox, file: &File, name: &str, stash: &Stash) -> io::Result<()> {
    let dir = &inbox.dir;
    file.sync_data()?;
    let flags = if inbox.overwrite { RenameFlags::empty() } else { RenameFlags::NOREPLACE };
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
pub(super) fn discard(inbox: &Inbox, stash: &Stash) {
    let _ = rustix::fs::unlinkat(&inbox.dir, stash.part().as_str(), AtFlags::empty());
    let _ = rustix::fs::unlinkat(&inbox.dir, stash.size_note().as_str(), AtFlags::empty());
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Whether `name` is claimed.
    pub(crate) fn is_active(inbox: &Inbox, name: &str) -> bool {
        inbox.names.active.lock().expect("lock").contains(name)
    }

    /// Makes a FIFO named `name` in `dir`.
    pub(crate) fn mkfifo(dir: &Path, name: &str) {
        let fd = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
            .expect("open the directory");
        rustix::fs::mknodat(&fd, name, rustix::fs::FileType::Fifo, Mode::from_raw_mode(0o644), 0)
            .expect("mkfifo");
    }

    /// Runs `f` on a thread, failing if it takes over 10 s (it hung).
    pub(crate) fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(Duration::from_secs(10)).expect("it hung")
    }

    fn age(path: &Path, ago: Duration) {
        let file = File::options().write(true).open(path).expect("open");
        file.set_modified(SystemTime::now() - ago).expect("set the mtime");
    }

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn the_receivers_own_names_are_recognised() {
        let long = "x".repeat(255);
        for name in [".a.part", ".a.part.size", ".a b.part", "..part.part"] {
            assert!(is_bookkeeping(name), "{name}");
        }
        let stash = Stash::for_name(&long);
        assert!(is_bookkeeping(&stash.part()) && is_bookkeeping(&stash.size_note()));
        let stash = Stash::for_name("a");
        assert!(is_bookkeeping(&stash.part()) && is_bookkeeping(&stash.size_note()));
        for name in ["a.part", ".part", "..part", ".a.part.size.size", ".a.parts", "a", &long] {
            assert!(!is_bookkeeping(name), "{name}");
        }
    }

    #[test]
    fn a_fifo_in_the_inbox_is_an_io_error_not_a_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        mkfifo(dir.path(), ".fifo.part.size");
        mkfifo(dir.path(), ".pipe.part");
        let inbox = Arc::new(Inbox::open(dir.path(), false).expect("open"));
        for name in ["fifo", "pipe"] {
            let inbox = inbox.clone();
            let r = bounded(move || prepare(&inbox, name, &Stash::for_name(name), 10).map(|_| ()));
            let refusal = r.expect_err("refused");
            assert_eq!(refusal.code, ErrorCode::Io, "{name}: {refusal}");
            assert!(refusal.message.contains("not a regular file"), "{refusal}");
        }
        // Any other name goes on.
        let (file, kept) = prepare(&inbox, "x", &Stash::for_name("x"), 10).expect("x");
        assert_eq!((file.metadata().expect("stat").len(), kept), (0, 0));
    }

    #[test]
    fn an_expired_part_is_started_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inbox = Inbox::open(dir.path(), false).expect("open");
        let stash = Stash::for_name("f");
        std::fs::write(dir.path().join(stash.part()), b"12345").expect("part");
        std::fs::write(dir.path().join(stash.size_note()), b"10\n").expect("note");
        age(&dir.path().join(stash.part()), DAY - Duration::from_secs(60));
        assert_eq!(prepare(&inbox, "f", &stash, 10).expect("resumed").1, 5, "fresh: resumed");
        age(&dir.path().join(stash.part()), DAY + Duration::from_secs(60));
        let (file, kept) = prepare(&inbox, "f", &stash, 10).expect("started over");
        assert_eq!((kept, file.metadata().expect("stat").len()), (0, 0), "expired: from 0");
    }

    #[test]
    fn expired_parts_are_swept_but_not_fresh_or_busy_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |n: &str| dir.path().join(n);
        for name in ["old", "new", "busy", "touched"] {
            let stash = Stash::for_name(name);
            std::fs::write(path(&stash.part()), b"12345").expect("part");
            std::fs::write(path(&stash.size_note()), b"10\n").expect("note");
            if name != "new" {
                age(&path(&stash.part()), DAY * 2);
                age(&path(&stash.size_note()), DAY * 2);
            }
        }
        // A resumed part is written after its note: the newer one counts.
        age(&path(".touched.part"), Duration::from_secs(60));
        std::fs::write(path(".a.partial"), b"not ours").expect("other");
        age(&path(".a.partial"), DAY * 2);
        let inbox = Inbox::open(dir.path(), false).expect("open");
        let busy = inbox.claim(vec![".busy.part".into(), ".busy.part.size".into()], Duration::ZERO);
        assert_eq!(inbox.expire_parts(SystemTime::now()).expect("sweep"), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let expect = [
            ".a.partial",
            ".busy.part",
            ".busy.part.size",
            ".new.part",
            ".new.part.size",
            ".touched.part",
            ".touched.part.size",
        ];
        assert_eq!(left, expect);
        // A day later (an injected clock), the fresh ones are old too.
        drop(busy);
        let later = SystemTime::now() + DAY;
        assert_eq!(inbox.expire_parts(later).expect("sweep"), 6);
        // A shorter TTL expires sooner.
        std::fs::write(path(".n.part"), b"1").expect("part");
        age(&path(".n.part"), Duration::from_secs(120));
        let inbox = inbox.with_limits(InboxLimits {
            part_ttl: Duration::from_secs(60),
            ..InboxLimits::default()
        });
        assert_eq!(inbox.expire_parts(SystemTime::now()).expect("sweep"), 1);
        assert!(!path(".n.part").exists());
    }

    #[test]
    fn transfers_are_capped_in_all_and_per_address() {
        let limits =
            InboxLimits { max_transfers: 5, max_transfers_per_peer: 2, ..InboxLimits::default() };
        let inbox = Inbox::open(".", false).expect("open .").with_limits(limits);
        let a1 = inbox.admit("10.0.0.1:1000").expect("1st from a");
        let _a2 = inbox.admit("10.0.0.1:1001").expect("2nd from a");
        let busy = inbox.admit("10.0.0.1:1002").expect_err("3rd from a");
        assert_eq!(busy.code, ErrorCode::NoSpace);
        assert!(busy.message.starts_with("busy: 2 transfers from 10.0.0.1"), "{busy}");
        // One /64 is one peer; an IPv4-mapped address is its IPv4 one.
        let _b1 = inbox.admit("[2001:db8::1]:1").expect("1st from b");
        let _b2 = inbox.admit("[2001:db8::2]:1").expect("2nd from b");
        assert!(inbox.admit("[2001:db8::3]:1").is_err(), "3rd from b's /64");
        assert!(inbox.admit("[::ffff:10.0.0.1]:1").is_err(), "a's address, mapped");
        // Peers without an address count only in all.
        let _u = inbox.admit("unix").expect("a Unix peer");
        let all = inbox.admit("10.0.0.9:1").expect_err("6th in all");
        assert!(all.message.starts_with("busy: 5 transfers in progress"), "{all}");
        // A transfer that ends frees its place.
        drop(a1);
        let _a3 = inbox.admit("10.0.0.1:1003").expect("a again");
    }

    #[test]
    fn an_offer_waits_a_moment_for_its_name() {
        let inbox = Inbox::open(".", false).expect("open .");
        let held = inbox.claim(vec!["n".into()], Duration::ZERO).expect("free");
        let one_of = vec!["m".into(), "n".into()];
        assert!(inbox.claim(one_of, Duration::from_millis(10)).is_none(), "held");
        let inbox = Arc::new(inbox);
        let waiter = {
            let inbox = inbox.clone();
            std::thread::spawn(move || inbox.claim(vec!["n".into()], Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        let claim = waiter.join().expect("join").expect("freed while it waited");
        assert!(is_active(&inbox, "n"));
        drop(claim);
        assert!(!is_active(&inbox, "n"));
    }
}
