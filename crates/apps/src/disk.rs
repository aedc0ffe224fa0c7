//! Positioned file reads and writes, shared by the file server and the
//! file transfer. Blocking calls: run them as [`Blocking`](sansnet_net::Blocking) jobs.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use rustix::fs::{FileType, Mode, OFlags};

/// Opens `path` (relative to `dir`, or absolute) with `flags` plus
/// `O_NONBLOCK`, `O_NOFOLLOW` and `O_CLOEXEC`, then checks with `fstat`
/// that what was opened is a regular file; anything else (a FIFO, a
/// device, a socket, a directory) is an error and its descriptor closed.
///
/// Checking the type *after* opening, on the descriptor, leaves no window
/// between the check and the open; `O_NONBLOCK` keeps the open itself from
/// waiting (opening a FIFO blocks until its other end is opened). On a
/// regular file the flag changes nothing.
pub(crate) fn open_regular<P: rustix::path::Arg>(
    dir: impl AsFd,
    path: P,
    flags: OFlags,
    mode: Mode,
) -> io::Result<File> {
    open_regular_stat(dir, path, flags, mode).map(|(file, _)| file)
}

/// [`open_regular`], with the opened file's status (size, times) from the
/// check, so that no second `stat` is needed.
pub(crate) fn open_regular_stat<P: rustix::path::Arg>(
    dir: impl AsFd,
    path: P,
    flags: OFlags,
    mode: Mode,
) -> io::Result<(File, rustix::fs::Stat)> {
    let flags = flags | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, path, flags, mode)?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok((File::from(fd), st))
}

/// Fills `buf` from `offset` (less at the end of the file).
pub(crate) fn read_at(file: &File, offset: u64, mut buf: Vec<u8>) -> io::Result<Vec<u8>> {
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
pub(crate) fn write_all_at(file: &File, mut offset: u64, data: &[Bytes]) -> io::Result<()> {
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
