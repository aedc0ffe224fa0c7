//! Performing a [`Splice`](sansnet_proto::Splice): copying a piece of a
//! file to a socket, written once for every driver.
//!
//! On Linux, `sendfile(2)`: the bytes go from the page cache to the socket
//! without passing through user space. Elsewhere, or where the kernel
//! cannot send from that file (`EINVAL`, `ENOSYS`, `EOPNOTSUPP`: a file
//! system without splice support), the piece is read with `pread` into a
//! buffer and written: the same bytes, one copy more.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use crate::Stream;

/// At most this many bytes of a splice are asked for in one
/// [`Step::Splice`](crate::Step::Splice): each piece gets the write timeout
/// of its own, as each queued chunk of bytes does.
pub const SPLICE_PIECE: usize = 256 * 1024;

/// At most this many bytes per `sendfile` on a blocking socket (one pipe's
/// worth, which the kernel sends in one socket write): the socket's send
/// timeout bounds each socket write, and a larger `sendfile` makes several,
/// each with the whole timeout, so a trickling peer could hold one call
/// for several timeouts. See [`FilePiece::send_blocking`].
pub const BLOCKING_CALL: usize = 64 * 1024;

/// The largest buffer of the `pread` fallback.
const FALLBACK_BUF: usize = 64 * 1024;

/// A piece of a splice to send: `len` bytes of `file` from `offset`.
#[derive(Clone, Copy, Debug)]
pub struct FilePiece<'a> {
    /// The file the application opened.
    pub file: &'a File,
    /// Where the piece starts in the file.
    pub offset: u64,
    /// How many bytes (more than zero).
    pub len: usize,
}

impl PartialEq for FilePiece<'_> {
    fn eq(&self, other: &FilePiece<'_>) -> bool {
        std::ptr::eq(self.file, other.file) && self.offset == other.offset && self.len == other.len
    }
}

impl Eq for FilePiece<'_> {}

impl FilePiece<'_> {
    /// Sends (a prefix of) the piece to `out`: how many bytes went out,
    /// 0 when the file has no byte at `offset` any more (it shrank), or
    /// the socket's error (`WouldBlock` on a non-blocking socket that is
    /// full: retry when it is writable).
    pub fn send_to(&self, out: &Stream) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            let mut offset = self.offset;
            match rustix::fs::sendfile(out, self.file, Some(&mut offset), self.len) {
                Ok(n) => return Ok(n),
                Err(e)
                    if !matches!(
                        e,
                        rustix::io::Errno::INVAL
                            | rustix::io::Errno::NOSYS
                            | rustix::io::Errno::OPNOTSUPP
                    ) =>
                {
                    return Err(e.into());
                }
                Err(_) => {} // this file cannot be spliced: copy it
            }
        }
        self.copy_to(out)
    }

    /// [`send_to`](Self::send_to) a blocking socket whose send timeout is
    /// the write timeout: at most [`BLOCKING_CALL`] bytes, so that one call
    /// cannot outlast the timeout much (the engine then sees a partial
    /// piece at its deadline, a stall, as for a write).
    pub fn send_blocking(&self, out: &Stream) -> io::Result<usize> {
        FilePiece { len: self.len.min(BLOCKING_CALL), ..*self }.send_to(out)
    }

    /// The fallback: `pread` into a buffer, then one write of it.
    fn copy_to(&self, mut out: &Stream) -> io::Result<usize> {
        let mut buf = vec![0; self.len.min(FALLBACK_BUF)];
        let got = loop {
            match self.file.read_at(&mut buf, self.offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if got == 0 {
            return Ok(0);
        }
        out.write(&buf[..got])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (Stream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (Stream::Tcp(l.accept().unwrap().0), c)
    }

    fn temp_file(bytes: &[u8]) -> File {
        let path = std::env::temp_dir().join(format!("sansnet-splice-{}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let f = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn a_piece_is_sent_from_its_offset_and_a_shrunk_file_gives_zero() {
        let file = temp_file(b"0123456789");
        let (out, mut peer) = pair();
        for piece in [
            FilePiece { file: &file, offset: 3, len: 4 },
            FilePiece { file: &file, offset: 8, len: 100 },
        ] {
            let mut sent = 0;
            while sent < piece.len {
                let n = FilePiece {
                    offset: piece.offset + sent as u64,
                    len: piece.len - sent,
                    ..piece
                }
                .send_to(&out)
                .unwrap();
                if n == 0 {
                    break;
                }
                sent += n;
            }
        }
        assert_eq!(FilePiece { file: &file, offset: 10, len: 1 }.send_to(&out).unwrap(), 0);
        assert_eq!(FilePiece { file: &file, offset: 2, len: 1 }.copy_to(&out).unwrap(), 1);
        assert_eq!(FilePiece { file: &file, offset: 99, len: 1 }.copy_to(&out).unwrap(), 0);
        drop(out);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"345689".iter().chain(b"2").copied().collect::<Vec<u8>>());
    }
}
