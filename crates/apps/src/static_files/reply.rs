//! Deciding the response to a request on the disk: the path, the file or
//! directory it names, conditional requests and ranges. Runs on the
//! connection (a listing on the blocking pool: see [`StaticFiles`](super::StaticFiles)).

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use sansnet_proto::http::path::{self, Refusal};
use sansnet_proto::http::range::{self, Ranged};
use sansnet_proto::http::{RequestHead, date, html};

use super::{Root, mime};
use crate::unix_secs;

const HTML: &[u8] = b"text/html; charset=utf-8";

/// A decided response.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) fields: Vec<(&'static str, Cow<'static, [u8]>)>,
    pub(super) body: Body,
}

/// What follows the head.
#[derive(Debug)]
pub(super) enum Body {
    /// A small generated body (an error page, a listing).
    Page(Bytes),
    /// `len` bytes of `file` from `start`.
    File { file: File, start: u64, len: u64 },
}

impl Reply {
    fn page(status: u16, content_type: &'static [u8], body: Bytes) -> Reply {
        Reply {
            status,
            fields: vec![("Content-Type", Cow::Borrowed(content_type))],
            body: Body::Page(body),
        }
    }

    /// A small HTML page saying what went wrong.
    fn error(status: u16) -> Reply {
        Reply::page(status, HTML, html::status_page(status))
    }

    fn io_error(what: &Path, e: &io::Error) -> Reply {
        tracing::debug!("{}: {e}", what.display());
        match e.kind() {
            io::ErrorKind::PermissionDenied => Reply::error(403),
            _ => Reply::error(404),
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<Cow<'static, [u8]>>) -> Reply {
        self.fields.push((name, value.into()));
        self
    }
}

/// Decides the response to `head`, with its `Date` and
/// `X-Content-Type-Options: nosniff` (a browser takes the `Content-Type`
/// as given and does not guess, say, a script or a page in an upload).
///
/// `None` when the answer is a directory listing and `may_list` is false:
/// reading a directory is work without a bound, for the blocking pool.
pub(super) fn decide(root: &Root, head: &RequestHead, may_list: bool) -> Option<Reply> {
    let now = unix_secs(SystemTime::now());
    let mut reply = plan(root, head, now, may_list)?;
    reply.fields.push(("X-Content-Type-Options", Cow::Borrowed(b"nosniff")));
    reply.fields.push(("Date", Cow::Owned(date::format(now).to_vec())));
    Some(reply)
}

/// Decides the response to `head` at `now` (Unix seconds): everything but
/// `Date` and `X-Content-Type-Options`.
fn plan(root_dir: &Root, head: &RequestHead, now: u64, may_list: bool) -> Option<Reply> {
    let root = root_dir.path();
    if !matches!(head.method(), "GET" | "HEAD") {
        return Some(Reply::error(405).with("Allow", &b"GET, HEAD"[..]));
    }
    let (raw_path, query) = path::split_target(head.target());
    let decoded = match path::percent_decode(raw_path.as_bytes()) {
        Ok(d) => d,
        Err(_) => return Some(Reply::error(400)),
    };
    let rel = match path::normalise(&decoded) {
        Ok(parts) => parts.iter().map(|p| OsStr::from_bytes(p)).collect::<PathBuf>(),
        Err(Refusal::Malformed) => return Some(Reply::error(400)),
        Err(Refusal::Escape) => {
            tracing::debug!("{raw_path}: refused, it leaves the root");
            return Some(Reply::error(404));
        }
    };
    if let Some(reply) = beneath(root_dir, head, &rel, &decoded, now) {
        return Some(reply);
    }
    let real = match resolve(root, &rel) {
        Ok(real) => real,
        Err(reply) => return Some(reply),
    };
    let meta = match fs::metadata(&real) {
        Ok(m) => m,
        Err(e) => return Some(Reply::io_error(&real, &e)),
    };
    if meta.is_dir() {
        if !raw_path.ends_with('/') {
            let to = slash_location(raw_path, query).into_bytes();
            return Some(Reply::page(301, HTML, Bytes::new()).with("Location", to));
        }
        let index = rel.join("index.html");
        if let Ok(index_real) = resolve(root, &index) {
            if index_real.is_file() {
                return Some(file(head, &index_real, &index, now));
            }
        }
        return may_list.then(|| listing(root, &real, &decoded));
    }
    if !meta.is_file() || !names_a_file(&decoded) {
        return Some(Reply::error(404));
    }
    Some(file(head, &real, &rel, now))
}

/// Whether a decoded request path may name a file: its last segment is a
/// name, not empty (`/hello.txt/`), `.` (`/hello.txt/.`) or `..`
/// (`/hello.txt/x/..`). Normalising drops such segments, so without this a
/// file would be served at paths that say it is a directory.
fn names_a_file(decoded: &[u8]) -> bool {
    let last = decoded.rsplit(|&b| b == b'/').next().unwrap_or_default();
    !matches!(last, b"" | b"." | b"..")
}

/// `root/rel` with every symlink resolved, provided it is still under
/// `root`; a resolution that leaves the root is answered like a missing
/// file (404).
fn resolve(root: &Path, rel: &Path) -> Result<PathBuf, Reply> {
    let joined = root.join(rel);
    let real = fs::canonicalize(&joined).map_err(|e| Reply::io_error(&joined, &e))?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        tracing::debug!("{}: refused, it resolves outside the root", joined.display());
        Err(Reply::error(404))
    }
}

/// Where a directory asked for without its trailing slash redirects: the
/// same path with `/` added, the query kept. Leading slashes collapse to
/// one so that `//host` can never become a link to another site.
pub(super) fn slash_location(raw_path: &str, query: Option<&str>) -> String {
    let path = raw_path.trim_start_matches('/');
    match query {
        Some(q) => format!("/{path}/?{q}"),
        None => format!("/{path}/"),
    }
}

/// The common case in two system calls: `rel` opened from the root's
/// descriptor in one walk that the kernel keeps beneath the root and
/// refuses to take through any symbolic link (`openat2` with
/// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`), then one `fstat`. Only a
/// regular file is answered here; anything else (a directory, a link, a
/// missing path, a kernel without `openat2`) is left to the general path,
/// which answers it as before.
pub(super) fn beneath(
    root: &Root,
    head: &RequestHead,
    rel: &Path,
    decoded: &[u8],
    now: u64,
) -> Option<Reply> {
    use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
    if rel.as_os_str().is_empty() || !names_a_file(decoded) {
        return None;
    }
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
    let fd = rustix::fs::openat2(root.fd()?, rel, flags, Mode::empty(), how).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    Some(opened(head, File::from(fd), &st, rel, now))
}

/// The regular file at `real`: see [`opened`].
fn file(head: &RequestHead, real: &Path, name: &Path, now: u64) -> Reply {
    match open_file(real) {
        Ok((file, st)) => opened(head, file, &st, name, now),
        Err(e) => Reply::io_error(real, &e),
    }
}

/// A regular file, open, whose status is `st`: 200, 206, 304 or 416.
/// `name` (the path asked for) decides the MIME type; `now` (Unix seconds)
/// judges `If-Modified-Since`.
fn opened(head: &RequestHead, file: File, st: &rustix::fs::Stat, name: &Path, now: u64) -> Reply {
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let modified = u64::try_from(st.st_mtime).ok();
    let last_modified = modified.map(date::format);

    if let (Some(mtime), Some(since)) = (modified, if_modified_since(head, now)) {
        if mtime <= since {
            let mut reply = Reply::page(304, HTML, Bytes::new());
            reply.fields.clear();
            return reply.with_date("Last-Modified", last_modified);
        }
    }

    let ranged = match head.field("Range") {
        Some(value) if if_range_holds(head.field("If-Range"), last_modified.as_ref()) => {
            range::parse(value, size)
        }
        _ => Ranged::Full,
    };
    let content_type = mime::content_type(name).as_bytes();
    let (status, start, len, content_range) = match ranged {
        Ranged::Full => (200, 0, size, None),
        Ranged::Part { start, end } => {
            (206, start, end - start + 1, Some(format!("bytes {start}-{end}/{size}")))
        }
        Ranged::Unsatisfiable => {
            return Reply::error(416)
                .with("Content-Range", format!("bytes */{size}").into_bytes())
                .with_date("Last-Modified", last_modified)
                .with("Accept-Ranges", &b"bytes"[..]);
        }
    };
    let mut reply = Reply {
        status,
        fields: vec![("Content-Type", Cow::Borrowed(content_type))],
        body: small_body(head, file, start, len),
    }
    .with_date("Last-Modified", last_modified)
    .with("Accept-Ranges", &b"bytes"[..]);
    if let Some(cr) = content_range {
        reply = reply.with("Content-Range", cr.into_bytes());
    }
    reply
}

/// Bodies up to this size are read while the response is decided and sent with the head in one write: for a small
/// file a `sendfile`, or a read job of its own, costs more than the copy.
pub(super) const SMALL_BODY: u64 = 4096;

/// `len` bytes of `file` from `start`: read now when they are few (and
/// wanted: not for HEAD), else left for streaming or a splice. A file
/// that turns out shorter is left to those, which end the connection.
fn small_body(head: &RequestHead, file: File, start: u64, len: u64) -> Body {
    if len > SMALL_BODY || len == 0 || head.is_head() {
        return Body::File { file, start, len };
    }
    match crate::disk::read_at(&file, start, vec![0; len as usize]) {
        Ok(bytes) if bytes.len() as u64 == len => Body::Page(Bytes::from(bytes)),
        _ => Body::File { file, start, len },
    }
}

/// Opens the file at `real` (canonical, so no symlink is left in it) for
/// reading, without waiting and only if it is a regular file: a FIFO put in
/// place of a file after [`plan`] looked at it would otherwise block the
/// open for as long as nobody writes to it. Anything else is an error,
/// answered 404 like every other non-file ([`Reply::io_error`]). With the
/// status the check read (size and times: no second `stat`).
pub(super) fn open_file(real: &Path) -> io::Result<(File, rustix::fs::Stat)> {
    use rustix::fs::{CWD, Mode, OFlags};
    crate::disk::open_regular_stat(CWD, real, OFlags::RDONLY, Mode::empty())
}

/// The `If-Modified-Since` date that counts (RFC 9110 §13.1.3): none with
/// `If-None-Match`, none that does not parse, and none later than `now`
/// (a date in the future is invalid: answering 304 to it would let a
/// client pin a stale copy by sending one).
fn if_modified_since(head: &RequestHead, now: u64) -> Option<u64> {
    if head.field("If-None-Match").is_some() {
        return None;
    }
    head.field("If-Modified-Since").and_then(date::parse).filter(|&since| since <= now)
}

impl Reply {
    fn with_date(self, name: &'static str, date: Option<[u8; date::LEN]>) -> Reply {
        match date {
            Some(d) => self.with(name, d.to_vec()),
            None => self,
        }
    }
}

/// Whether a `Range` applies given `If-Range` (RFC 9110 §13.1.5): always
/// without it; with a date, only if it is exactly our `Last-Modified`; with
/// an entity tag, never (sansnet sends none).
fn if_range_holds(if_range: Option<&[u8]>, last_modified: Option<&[u8; date::LEN]>) -> bool {
    match (if_range, last_modified) {
        (None, _) => true,
        (Some(v), Some(lm)) => v.trim_ascii() == &lm[..],
        (Some(_), None) => false,
    }
}

/// An HTML listing of the directory `real`, titled with the request path.
/// A symlink that does not resolve under `root` (it points outside, or
/// nowhere) is not listed: following it would answer 404 anyway, and its
/// name would say what lies outside.
fn listing(root: &Path, real: &Path, decoded: &[u8]) -> Reply {
    let entries = match fs::read_dir(real) {
        Ok(rd) => rd,
        Err(e) => return Reply::io_error(real, &e),
    };
    let inside = |entry: &fs::DirEntry| match entry.file_type() {
        Ok(t) if t.is_symlink() => {
            fs::canonicalize(entry.path()).is_ok_and(|target| target.starts_with(root))
        }
        Ok(_) => true,
        Err(_) => false,
    };
    let mut names: Vec<(String, Vec<u8>, bool)> = entries
        .filter_map(Result::ok)
        .filter(inside)
        .map(|entry| {
            let name = entry.file_name();
            let is_dir = entry.path().is_dir(); // follows symlinks, as links do
            (name.to_string_lossy().to_lowercase(), name.as_bytes().to_vec(), is_dir)
        })
        .collect();
    names.sort();
    let title = String::from_utf8_lossy(decoded);
    let mut page = BytesMut::with_capacity(256 + names.len() * 80);
    page.extend_from_slice(
        b"<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Directory listing for ",
    );
    html::escape_into(&mut page, title.as_bytes());
    page.extend_from_slice(b"</title>\n</head>\n<body>\n<h1>Directory listing for ");
    html::escape_into(&mut page, title.as_bytes());
    page.extend_from_slice(b"</h1>\n<hr>\n<ul>\n");
    for (_, name, is_dir) in &names {
        let slash: &[u8] = if *is_dir { b"/" } else { b"" };
        page.extend_from_slice(b"<li><a href=\"");
        html::percent_encode_into(&mut page, name);
        page.extend_from_slice(slash);
        page.extend_from_slice(b"\">");
        html::escape_into(&mut page, String::from_utf8_lossy(name).as_bytes());
        page.extend_from_slice(slash);
        page.extend_from_slice(b"</a></li>\n");
    }
    page.extend_from_slice(b"</ul>\n<hr>\n</body>\n</html>\n");
    Reply::page(200, HTML, page.freeze())
}
