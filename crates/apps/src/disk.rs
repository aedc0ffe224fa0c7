//! Positioned file reads and writes, shared by the file server and the
//! file transfer. Blocking calls: run them as [`Blocking`](sansnet_net::Blocking) jobs.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use bytes::Bytes;

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
