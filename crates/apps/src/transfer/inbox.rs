//! The receiving directory: names claimed by one transfer at a time, the
//! partial file and its size note, the commit. Every call here is a
//! blocking one, run as a [`Blocking`](sansnet_net::Blocking) job.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use sansnet_proto::file::{ErrorCode, Refusal, Stash};

/// A directory files are received into (see the [module](super) docs):
/// everything happens through its descriptor, with `*at` calls and
/// `O_NOFOLLOW`, so nothing is ever written outside it.
#[derive(Debug)]
pub struct Inbox {
    dir: OwnedFd,
    path: PathBuf,
    overwrite: bool,
    names: Arc<Names>,
}

impl Inbox {
    /// Opens `dir`. With `overwrite`, a received file replaces one of the
    /// same name (instead of `ERR exists`).
    pub fn open(dir: impl AsRef<Path>, overwrite: bool) -> io::Result<Inbox> {
        let path = dir.as_ref().to_path_buf();
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::open(&path, flags, Mode::empty())?;
        Ok(Inbox { dir, path, overwrite, names: Arc::default() })
    }

    /// The directory, as given to [`open`](Inbox::open).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Claims `names` for one transfer (see [`Claim`]).
    pub(super) fn claim(&self, names: Vec<String>, wait: Duration) -> Option<Claim> {
        Claim::take(&self.names, names, wait)
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
/// write and the offset to resume from.
pub(super) fn prepare(
    inbox: &Inbox,
    name: &str,
    stash: &Stash,
    size: u64,
) -> Result<(Arc<File>, u64), Refusal> {
    let (dir, overwrite) = (&inbox.dir, inbox.overwrite);
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
