//! The static file server, like `python -m http.server` (PROTOCOLS.md §1,
//! `--root DIR`).
//!
//! Answers, for GET and HEAD (anything else: 405 with `Allow: GET, HEAD`):
//!
//! - a file: 200 with its MIME type (by extension), `Last-Modified`,
//!   `Accept-Ranges: bytes`; 304 when `If-Modified-Since` is not older than
//!   the file; 206 for a single satisfiable byte range (`If-Range` with our
//!   `Last-Modified` honoured), 416 with `Content-Range: bytes */SIZE` for an
//!   unsatisfiable one, 200 with the whole file for several ranges (no
//!   `multipart/byteranges`: a full response is always a valid answer);
//! - a directory: 301 to the same path with a trailing `/` when it lacks
//!   one; then its `index.html` if there is one, else an HTML listing
//!   (names HTML-escaped, links percent-encoded, directories with a
//!   trailing `/`);
//! - 400 for a malformed percent-escape or a NUL in the path;
//! - 404 for a missing file, a file named with a trailing `/`, anything
//!   that is neither a regular file nor a directory, **and every attempt to
//!   leave the root** (`..` above it, `%2e%2e`, backslashes, a symlink that
//!   resolves outside): the answer is the same as for a file that does not
//!   exist, so nothing outside the root can be probed;
//! - 403 for what the server may not read inside the root (permissions).
//!
//! Every response carries `Date`.
//!
//! # Where the disk is touched
//!
//! Deciding a response (the path's metadata, opening the file, reading a
//! body of at most 4 KiB) is done on the connection's thread, as nginx
//! does it on its event loop: a few system calls that the page cache
//! answers at once, where a trip to the blocking pool costs two
//! cross-thread wake-ups (measured: 2.4 context switches and 3.8 `futex`
//! calls a request, and 0.72x nginx's requests per second for a 1 KiB
//! file). The price is nginx's too: a cold or slow disk stalls the other
//! connections of the same executor thread while it answers. A directory
//! listing (reading a directory: work without a bound) and each read of a
//! larger file's body that is not spliced (under TLS) are [`Blocking`]
//! jobs, run where the runtime says
//! ([`Transport::BLOCKING`](sansnet_net::Transport): inline on std's
//! connection thread, on the blocking pool for smol, async-std and tokio)
//! and handed to the connection from [`App::poll_work`]. A
//! large file streams with bounded memory: the head announces its length,
//! at most [`MAX_QUEUED`] bytes are queued at once, and the next pieces are
//! read when the transport reports the previous ones written
//! ([`App::on_drained`]). If the file shrinks or fails while it is being
//! sent, the response cannot be completed: the handler aborts the
//! connection ([`ServerConn::abort`]) and the client sees a short body.
//!
//! # Where the driver sends the file itself
//!
//! That is the fallback. Where the driver copies from a file to the socket
//! itself ([`ServerConn::can_splice`]: both sansnet drivers, over a plain
//! socket), the body is queued as one splice of the open file
//! ([`ServerConn::send_splice`]) and nothing is read here: the driver
//! sends it with `sendfile(2)` on Linux, without the bytes passing
//! through user space (elsewhere it reads and writes them itself). A file
//! that shrinks meanwhile ends the connection after what it had, as
//! above. Over TLS, which must encrypt the bytes, the session does not
//! offer splices and the body streams as described.
//!
//! The trade: on the async runtimes that `sendfile` runs on the executor
//! thread, so a file not in the page cache is read from the disk there
//! (as nginx does without `aio threads`); deciding the response (opening,
//! metadata, listings) stays on the blocking pool.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use sansnet_net::{Blocking, Factory, Job, Transport};
use sansnet_proto::http::{Event, Limits, RequestHead, ResponseBody, ServerConn};
use sansnet_proto::{App, Source};

use crate::disk::read_at;

mod mime;
mod reply;

use reply::{Body, Reply};

/// Bytes read from a file at a time.
pub const PIECE: usize = 64 * 1024;
/// Most response bytes a connection queues before it waits for the
/// transport to write them.
pub const MAX_QUEUED: usize = 4 * PIECE;

/// The directory being served, canonical, shared by every connection.
#[derive(Clone, Debug)]
pub struct Root(Arc<RootDir>);

#[derive(Debug)]
struct RootDir {
    path: PathBuf,
    /// A descriptor on the directory (`O_PATH`), from which a plain file
    /// is opened in one walk that the kernel keeps beneath it; without one
    /// every request takes the general path.
    fd: Option<rustix::fd::OwnedFd>,
}

impl Root {
    /// Serves `dir`, which must be a directory; it is made canonical
    /// (absolute, no symlinks), so that resolved paths can be checked
    /// against it.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<Root> {
        use rustix::fs::{Mode, OFlags};
        let path = std::fs::canonicalize(dir)?;
        if !path.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"));
        }
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(&path, flags, Mode::empty()).ok();
        Ok(Root(Arc::new(RootDir { path, fd })))
    }

    /// The canonical directory.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The directory's descriptor, if it could be opened.
    fn fd(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        self.0.fd.as_ref().map(rustix::fd::AsFd::as_fd)
    }
}

/// One connection's file-serving application, over the core's
/// [`ServerConn`].
///
/// [`factory`] makes one per connection.
#[derive(Debug)]
pub struct StaticFiles {
    root: Root,
    io: Blocking,
    head: Option<RequestHead>,
    work: Work,
}

/// What the disk is doing for the connection.
#[derive(Debug, Default)]
enum Work {
    #[default]
    Idle,
    /// Deciding the response to a request.
    Deciding(Job<Reply>, RequestHead),
    /// Streaming a file's body: `left` bytes from `offset` still to read;
    /// a read in flight, if any.
    Streaming { file: Arc<File>, offset: u64, left: u64, read: Option<Job<io::Result<Vec<u8>>>> },
    /// A body queued as a splice and not yet all written; the request
    /// that came next, if any, waits for it ([`App::on_drained`]).
    /// One response's file open at a time, as when streaming: else a
    /// client pipelining a buffer full of requests would hold a file
    /// open (and a queued response) for each.
    Spliced(Option<RequestHead>),
}

impl StaticFiles {
    /// A handler for one connection, serving `root`, its disk work run as
    /// `io` says (the transport's [`BLOCKING`](sansnet_net::Transport::BLOCKING)).
    pub fn new(root: Root, io: Blocking) -> StaticFiles {
        StaticFiles { root, io, head: None, work: Work::Idle }
    }

    /// Applies whatever work is done; inline work is done at once.
    fn advance(&mut self, conn: &mut ServerConn, cx: &mut Context<'_>) -> Poll<()> {
        let mut any = false;
        loop {
            match &mut self.work {
                Work::Idle | Work::Spliced(_) => break,
                Work::Deciding(job, _) => {
                    let Poll::Ready(reply) = job.poll(cx) else { break };
                    any = true;
                    if let Work::Deciding(_, head) = std::mem::take(&mut self.work) {
                        self.answer(conn, &head, reply);
                    }
                }
                Work::Streaming { file, offset, left, read } => {
                    let job = match read {
                        Some(job) => job,
                        None if *left > 0 && conn.transmit_queued() < MAX_QUEUED => {
                            let want = usize::try_from(*left).map_or(PIECE, |l| l.min(PIECE));
                            let file = file.clone();
                            let at = *offset;
                            read.insert(self.io.run(move || read_at(&file, at, vec![0; want])))
                        }
                        None => break,
                    };
                    let Poll::Ready(result) = job.poll(cx) else { break };
                    *read = None;
                    any = true;
                    let piece = match result {
                        Ok(piece) if !piece.is_empty() => piece,
                        Ok(_) => return self.cut(conn, "the file shrank while being sent"),
                        Err(e) => return self.cut(conn, &format!("read failed ({e})")),
                    };
                    *offset += piece.len() as u64;
                    *left -= piece.len() as u64;
                    let done = *left == 0;
                    if let Err(e) = conn.send_data(Bytes::from(piece)) {
                        return self.cut(conn, &format!("cannot send ({e})"));
                    }
                    if done {
                        self.work = Work::Idle;
                        if let Err(e) = conn.finish() {
                            tracing::error!("files: cannot finish: {e}");
                        }
                    }
                }
            }
        }
        if any { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Gives the response up midway: the client sees a short body.
    fn cut(&mut self, conn: &mut ServerConn, why: &str) -> Poll<()> {
        tracing::warn!("{why}; dropping the connection");
        self.work = Work::Idle;
        conn.abort();
        Poll::Ready(())
    }

    fn answer(&mut self, conn: &mut ServerConn, head: &RequestHead, reply: Reply) {
        tracing::info!("{} {} -> {}", head.method(), head.target(), reply.status);
        let fields: Vec<(&str, &[u8])> = reply.fields.iter().map(|(n, v)| (*n, &v[..])).collect();
        let sent = match reply.body {
            Body::Page(body) => conn.respond(reply.status, &fields, body),
            Body::File { len: 0, .. } => conn.respond(reply.status, &fields, Bytes::new()),
            Body::File { file, start, len } => {
                match conn.send_response(reply.status, &fields, ResponseBody::Length(len)) {
                    Ok(()) if head.is_head() => conn.finish(),
                    // The driver sends it from the file itself (sendfile):
                    // the whole body is one splice, nothing to read here.
                    Ok(()) if conn.can_splice() => {
                        self.work = Work::Spliced(None);
                        let source = Source::new(Arc::new(file));
                        conn.send_splice(source, start, len).and_then(|()| conn.finish())
                    }
                    Ok(()) => {
                        let file = Arc::new(file);
                        self.work = Work::Streaming { file, offset: start, left: len, read: None };
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = sent {
            tracing::error!("files: cannot respond: {e}");
        }
    }

    /// Decides the answer to `head`: here, unless it is a directory
    /// listing, which goes to the blocking pool (see [Where the disk is
    /// touched](self#where-the-disk-is-touched)).
    fn decide(&mut self, conn: &mut ServerConn, head: RequestHead) {
        let job = match reply::decide(&self.root, &head, false) {
            Some(reply) => Blocking::Inline.run(|| reply),
            None => {
                let (root, req) = (self.root.clone(), head.clone());
                self.io.run(move || reply::decide(&root, &req, true).expect("may list"))
            }
        };
        self.work = Work::Deciding(job, head);
        self.kick(conn);
    }

    /// Starts or continues the work: at once when it runs inline.
    fn kick(&mut self, conn: &mut ServerConn) {
        let _ = self.advance(conn, &mut Context::from_waker(Waker::noop()));
    }
}

/// The [`Factory`] of a static file server over the runtime `R`: a
/// [`ServerConn`] with `limits` and a [`StaticFiles`] serving `root` per
/// connection, its disk work run where `R` says.
pub fn factory<R: Transport>(
    root: Root,
    limits: Limits,
) -> impl Factory<Session = ServerConn, App = StaticFiles> {
    move |now, _peer: &str| {
        (ServerConn::new(limits, now), StaticFiles::new(root.clone(), R::BLOCKING))
    }
}

impl App<ServerConn> for StaticFiles {
    fn on_event(&mut self, conn: &mut ServerConn, event: Event) {
        match event {
            Event::Request(head) => self.head = Some(head),
            Event::Data(_) => {} // request bodies are read, checked and ignored
            Event::End => match (self.head.take(), &mut self.work) {
                (Some(head), Work::Spliced(next)) => *next = Some(head),
                (Some(head), _) => self.decide(conn, head),
                (None, _) => {}
            },
            Event::Rejected(e) => {
                tracing::debug!("rejected a request: {e}");
                self.head = None;
                self.work = Work::Idle;
            }
        }
    }

    fn on_drained(&mut self, conn: &mut ServerConn) {
        if let Work::Spliced(next) = &mut self.work {
            let next = next.take();
            self.work = Work::Idle;
            if let Some(head) = next {
                return self.decide(conn, head);
            }
        }
        self.kick(conn);
    }

    fn is_working(&self) -> bool {
        match &self.work {
            Work::Idle | Work::Spliced(_) => false,
            Work::Deciding(..) => true,
            Work::Streaming { read, .. } => read.is_some(),
        }
    }

    fn poll_work(&mut self, conn: &mut ServerConn, cx: &mut Context<'_>) -> Poll<()> {
        self.advance(conn, cx)
    }
}

#[cfg(test)]
mod tests;
