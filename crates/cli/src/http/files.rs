//! The static file server (`--root DIR`), like `python -m http.server`.
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
//! Files are read with `std::fs` on the connection's own thread or task:
//! the reads are small (64 KiB pieces) and in the usual case served from
//! the page cache, so they do not hold up the runtime noticeably. A large
//! file streams with bounded memory: the head announces its length, at
//! most [`MAX_QUEUED`] bytes are queued at once, and the next pieces are
//! read when the transport reports the previous ones written
//! ([`App::on_drained`]). If the file shrinks or fails while it is being
//! sent, the response cannot be completed: the handler aborts the
//! connection ([`ServerConn::abort`]) and the client sees a short body.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use sansnet_proto::App;
use sansnet_proto::http::{Event, RequestHead, ResponseBody, ServerConn, reason};

use super::path::{self, Refusal};
use super::range::{self, Ranged};
use super::{date, html, mime};

/// Bytes read from a file at a time.
pub(crate) const PIECE: usize = 64 * 1024;
/// Most response bytes a connection queues before it waits for the
/// transport to write them.
pub(crate) const MAX_QUEUED: usize = 4 * PIECE;

const HTML: &[u8] = b"text/html; charset=utf-8";

/// The canonical directory being served, shared by every connection.
#[derive(Clone, Debug)]
pub(crate) struct Root(Arc<PathBuf>);

impl Root {
    /// `dir` must already be canonical (absolute, no symlinks), so that
    /// resolved paths can be checked with `starts_with`.
    pub(crate) fn new(dir: PathBuf) -> Root {
        Root(Arc::new(dir))
    }
}

/// One connection's file-serving handler.
#[derive(Debug)]
pub(crate) struct FileServer {
    root: Root,
    head: Option<RequestHead>,
    sending: Option<Sending>,
}

/// A file body being streamed.
#[derive(Debug)]
struct Sending {
    file: File,
    left: u64,
}

impl FileServer {
    /// A handler for one connection, serving `root`.
    pub(crate) fn new(root: Root) -> FileServer {
        FileServer { root, head: None, sending: None }
    }

    fn answer(&mut self, conn: &mut ServerConn, head: &RequestHead) {
        let mut reply = plan(&self.root.0, head);
        let date = date::format_time(SystemTime::now());
        reply.fields.push(("Date", Cow::Owned(date.to_vec())));
        tracing::info!("{} {} -> {}", head.method(), head.target(), reply.status);
        let fields: Vec<(&str, &[u8])> = reply.fields.iter().map(|(n, v)| (*n, &v[..])).collect();
        let sent = match reply.body {
            Body::Page(body) => conn.respond(reply.status, &fields, body),
            Body::File { file, start, len } => {
                if len == 0 {
                    conn.respond(reply.status, &fields, Bytes::new())
                } else {
                    match conn.send_response(reply.status, &fields, ResponseBody::Length(len)) {
                        Err(e) => Err(e),
                        Ok(()) if head.is_head() => conn.finish(),
                        Ok(()) => {
                            let mut file = file;
                            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                                // The head is out: the connection will be cut.
                                tracing::warn!("{}: seek: {e}", head.target());
                            } else {
                                self.sending = Some(Sending { file, left: len });
                                self.stream(conn);
                            }
                            Ok(())
                        }
                    }
                }
            }
        };
        if let Err(e) = sent {
            tracing::error!("files: cannot respond: {e}");
        }
    }

    /// Queues file pieces until [`MAX_QUEUED`] bytes wait or the body is
    /// complete, and then finishes the response.
    fn stream(&mut self, conn: &mut ServerConn) {
        let Some(s) = self.sending.as_mut() else { return };
        while s.left > 0 && conn.transmit_queued() < MAX_QUEUED {
            let want = usize::try_from(s.left).map_or(PIECE, |left| left.min(PIECE));
            let mut piece = BytesMut::zeroed(want);
            let n = match read_full(&mut s.file, &mut piece) {
                Ok(0) => {
                    tracing::warn!("file shrank while being sent; dropping the connection");
                    self.sending = None;
                    conn.abort();
                    return;
                }
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(
                        "read failed while sending a file ({e}); dropping the connection"
                    );
                    self.sending = None;
                    conn.abort();
                    return;
                }
            };
            piece.truncate(n);
            s.left -= n as u64;
            if let Err(e) = conn.send_data(piece.freeze()) {
                tracing::error!("files: cannot send: {e}");
                self.sending = None;
                conn.abort();
                return;
            }
        }
        if s.left == 0 {
            self.sending = None;
            if let Err(e) = conn.finish() {
                tracing::error!("files: cannot finish: {e}");
            }
        }
    }
}

impl App<ServerConn> for FileServer {
    fn on_event(&mut self, conn: &mut ServerConn, event: Event) {
        match event {
            Event::Request(head) => self.head = Some(head),
            Event::Data(_) => {} // request bodies are read, checked and ignored
            Event::End => {
                if let Some(head) = self.head.take() {
                    self.answer(conn, &head);
                }
            }
            Event::Rejected(e) => {
                tracing::debug!("rejected a request: {e}");
                self.head = None;
                self.sending = None;
            }
        }
    }

    fn on_drained(&mut self, conn: &mut ServerConn) {
        self.stream(conn);
    }
}

/// Reads until `buf` is full or the file ends; the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A decided response.
struct Reply {
    status: u16,
    fields: Vec<(&'static str, Cow<'static, [u8]>)>,
    body: Body,
}

enum Body {
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
        let text = format!("{status} {}", reason(status));
        let page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{text}</title></head>\
             <body><h1>{text}</h1></body></html>\n"
        );
        Reply::page(status, HTML, Bytes::from(page))
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

/// Decides the response to `head` (everything but `Date`).
fn plan(root: &Path, head: &RequestHead) -> Reply {
    if !matches!(head.method(), "GET" | "HEAD") {
        return Reply::error(405).with("Allow", &b"GET, HEAD"[..]);
    }
    let (raw_path, query) = path::split_target(head.target());
    let decoded = match path::percent_decode(raw_path.as_bytes()) {
        Ok(d) => d,
        Err(_) => return Reply::error(400),
    };
    let rel = match path::normalise(&decoded) {
        Ok(rel) => rel,
        Err(Refusal::Malformed) => return Reply::error(400),
        Err(Refusal::Escape) => {
            tracing::debug!("{raw_path}: refused, it leaves the root");
            return Reply::error(404);
        }
    };
    let real = match resolve(root, &rel) {
        Ok(real) => real,
        Err(reply) => return reply,
    };
    let meta = match fs::metadata(&real) {
        Ok(m) => m,
        Err(e) => return Reply::io_error(&real, &e),
    };
    if meta.is_dir() {
        if !raw_path.ends_with('/') {
            return Reply::page(301, HTML, Bytes::new())
                .with("Location", slash_location(raw_path, query).into_bytes());
        }
        let index = rel.join("index.html");
        if let Ok(index_real) = resolve(root, &index) {
            if index_real.is_file() {
                return file(head, &index_real, &index);
            }
        }
        return listing(&real, &decoded);
    }
    if !meta.is_file() || decoded.ends_with(b"/") {
        return Reply::error(404);
    }
    file(head, &real, &rel)
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
fn slash_location(raw_path: &str, query: Option<&str>) -> String {
    let path = raw_path.trim_start_matches('/');
    match query {
        Some(q) => format!("/{path}/?{q}"),
        None => format!("/{path}/"),
    }
}

/// A regular file: 200, 206, 304 or 416. `name` (the path asked for)
/// decides the MIME type.
fn file(head: &RequestHead, real: &Path, name: &Path) -> Reply {
    let file = match File::open(real) {
        Ok(f) => f,
        Err(e) => return Reply::io_error(real, &e),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Reply::io_error(real, &e),
    };
    let size = meta.len();
    let modified = meta.modified().ok().map(date::unix_secs);
    let last_modified = modified.map(date::format);

    // If-Modified-Since counts only without If-None-Match (RFC 9110 §13.1.3).
    if let (Some(mtime), None, Some(since)) = (
        modified,
        head.field("If-None-Match"),
        head.field("If-Modified-Since").and_then(date::parse),
    ) {
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
        body: Body::File { file, start, len },
    }
    .with_date("Last-Modified", last_modified)
    .with("Accept-Ranges", &b"bytes"[..]);
    if let Some(cr) = content_range {
        reply = reply.with("Content-Range", cr.into_bytes());
    }
    reply
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
fn listing(real: &Path, decoded: &[u8]) -> Reply {
    let entries = match fs::read_dir(real) {
        Ok(rd) => rd,
        Err(e) => return Reply::io_error(real, &e),
    };
    let mut names: Vec<(String, Vec<u8>, bool)> = entries
        .filter_map(Result::ok)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::{exchange, exchange_bytes};
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "sansnet-cli-files-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("scratch dir");
            Scratch(fs::canonicalize(&dir).expect("canonical"))
        }
        fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            fs::write(&p, data).expect("write");
            p
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A tree: `www/` is served; `secret.txt` sits beside it, outside.
    fn site() -> (Scratch, PathBuf) {
        let s = Scratch::new();
        s.write("secret.txt", b"TOP SECRET");
        s.write("www/hello.txt", b"hello, world\n");
        s.write("www/page.HTML", b"<p>hi</p>");
        s.write("www/sub/index.html", b"<h1>index</h1>");
        s.write("www/list/b.css", b"b{}");
        s.write("www/list/A <&>\".txt", b"x");
        s.write("www/list/dir/x", b"");
        s.write("www/empty", b"");
        s.write("www/back\\slash", b"nope");
        symlink(s.0.join("secret.txt"), s.0.join("www/out-link")).expect("symlink");
        symlink(&s.0, s.0.join("www/out-dir")).expect("symlink");
        symlink("hello.txt", s.0.join("www/in-link")).expect("symlink");
        let root = s.0.join("www");
        (s, root)
    }

    fn get(root: &Path, req: &str) -> String {
        let wire = exchange(FileServer::new(Root::new(root.to_path_buf())), req.as_bytes());
        assert!(!wire.contains("TOP SECRET"), "leaked: {wire}");
        wire
    }

    fn status(root: &Path, target: &str) -> String {
        let wire = get(root, &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
        wire.lines().next().unwrap_or("").to_owned()
    }

    fn body(wire: &str) -> &str {
        wire.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    #[test]
    fn serves_files_with_types_and_dates() {
        let (_s, root) = site();
        let wire = get(&root, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
        assert!(wire.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(wire.contains("Accept-Ranges: bytes\r\n"));
        assert!(wire.contains("Content-Length: 13\r\n"));
        assert!(wire.contains("\r\nLast-Modified: "));
        assert!(wire.contains(" GMT\r\nDate: ") || wire.contains("\r\nDate: "));
        assert_eq!(body(&wire), "hello, world\n");
        let wire = get(&root, "GET /page.HTML?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert_eq!(body(&wire), "<p>hi</p>");
        let wire = get(&root, "GET /in-link HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(body(&wire), "hello, world\n");
        assert!(wire.contains("application/octet-stream"));
        let wire = get(&root, "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n") && wire.contains("Content-Length: 0\r\n"));
    }

    #[test]
    fn head_gets_no_body() {
        let (_s, root) = site();
        let wire = get(&root, "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n") && wire.contains("Content-Length: 13\r\n"));
        assert_eq!(body(&wire), "");
        // The connection stays usable after a HEAD.
        let wire = get(
            &root,
            "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(wire.ends_with("\r\n\r\nhello, world\n"), "{wire}");
    }

    #[test]
    fn methods_other_than_get_and_head() {
        let (_s, root) = site();
        let wire = get(&root, "POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
        assert!(wire.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{wire}");
        assert!(wire.contains("\r\nAllow: GET, HEAD\r\n"));
        let wire = get(&root, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.starts_with("HTTP/1.1 405 "));
    }

    #[test]
    fn missing_and_malformed() {
        let (_s, root) = site();
        assert_eq!(status(&root, "/nope"), "HTTP/1.1 404 Not Found");
        assert_eq!(status(&root, "/hello.txt/"), "HTTP/1.1 404 Not Found");
        assert_eq!(status(&root, "/hello.txt/x"), "HTTP/1.1 404 Not Found");
        assert_eq!(status(&root, "/a%zz"), "HTTP/1.1 400 Bad Request");
        assert_eq!(status(&root, "/hello.txt%00"), "HTTP/1.1 400 Bad Request");
        assert_eq!(status(&root, "/%"), "HTTP/1.1 400 Bad Request");
    }

    #[test]
    fn no_way_out_of_the_root() {
        let (_s, root) = site();
        for target in [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E%2Fsecret.txt",
            "/..%2fsecret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt",
            "/..\\secret.txt",
            "/%5c..%5csecret.txt",
            "/back\\slash",
            "/out-link",
            "/out-dir/secret.txt",
            "/out-dir/",
            "/out-dir",
            "http://x/../secret.txt",
        ] {
            assert_eq!(status(&root, target), "HTTP/1.1 404 Not Found", "{target}");
        }
        // Dot segments that stay inside are fine.
        assert_eq!(status(&root, "/sub/../hello.txt"), "HTTP/1.1 200 OK");
        assert_eq!(status(&root, "//hello.txt"), "HTTP/1.1 200 OK");
    }

    #[test]
    fn directories() {
        let (_s, root) = site();
        let wire = get(&root, "GET /sub HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.starts_with("HTTP/1.1 301 Moved Permanently\r\n"), "{wire}");
        assert!(wire.contains("\r\nLocation: /sub/\r\n"));
        let wire = get(&root, "GET /sub?a=b HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.contains("\r\nLocation: /sub/?a=b\r\n"));
        let wire = get(&root, "GET //sub HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.contains("\r\nLocation: /sub/\r\n"), "{wire}");
        let wire = get(&root, "GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert_eq!(body(&wire), "<h1>index</h1>");

        let wire = get(&root, "GET /list/ HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"));
        let page = body(&wire);
        assert!(page.contains("<title>Directory listing for /list/</title>"));
        assert!(
            page.contains(
                "<li><a href=\"A%20%3C%26%3E%22.txt\">A &lt;&amp;&gt;&quot;.txt</a></li>\n\
             <li><a href=\"b.css\">b.css</a></li>\n\
             <li><a href=\"dir/\">dir/</a></li>\n"
            ),
            "{page}"
        );
        let wire = get(&root, "GET /list/%3Cb%3E/ HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(wire.starts_with("HTTP/1.1 404"));
        let wire = get(&root, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(body(&wire).contains("<a href=\"hello.txt\">hello.txt</a>"));
        assert!(body(&wire).contains("<a href=\"sub/\">sub/</a>"));
    }

    #[test]
    fn conditional_requests() {
        let (s, root) = site();
        let mtime =
            fs::metadata(s.0.join("www/hello.txt")).and_then(|m| m.modified()).expect("mtime");
        let lm = String::from_utf8(date::format_time(mtime).to_vec()).expect("ascii");
        let later =
            String::from_utf8(date::format(date::unix_secs(mtime) + 60).to_vec()).expect("ascii");
        let earlier =
            String::from_utf8(date::format(date::unix_secs(mtime) - 60).to_vec()).expect("ascii");
        for since in [&lm, &later] {
            let wire = get(
                &root,
                &format!(
                    "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {since}\r\n\r\n"
                ),
            );
            assert!(wire.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{wire}");
            assert!(wire.contains(&format!("Last-Modified: {lm}\r\n")));
            assert!(!wire.contains("Content-Length"));
            assert_eq!(body(&wire), "");
        }
        for extra in [
            format!("If-Modified-Since: {earlier}\r\n"),
            "If-Modified-Since: garbage\r\n".to_owned(),
            format!("If-Modified-Since: {lm}\r\nIf-None-Match: \"x\"\r\n"),
        ] {
            let wire = get(&root, &format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\n{extra}\r\n"));
            assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{extra}: {wire}");
        }
    }

    #[test]
    fn ranges() {
        let (s, root) = site();
        let range = |r: &str| {
            get(&root, &format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: {r}\r\n\r\n"))
        };
        let wire = range("bytes=0-4");
        assert!(wire.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{wire}");
        assert!(wire.contains("Content-Range: bytes 0-4/13\r\n"));
        assert!(wire.contains("Content-Length: 5\r\n"));
        assert_eq!(body(&wire), "hello");
        assert_eq!(body(&range("bytes=7-")), "world\n");
        assert_eq!(body(&range("bytes=-6")), "world\n");
        assert!(range("bytes=-6").contains("Content-Range: bytes 7-12/13\r\n"));
        let wire = range("bytes=13-");
        assert!(wire.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"), "{wire}");
        assert!(wire.contains("Content-Range: bytes */13\r\n"));
        let wire = range("bytes=0-1,4-5");
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(body(&wire), "hello, world\n");
        assert!(range("bytes=5-1").starts_with("HTTP/1.1 200 OK\r\n"));

        let mtime =
            fs::metadata(s.0.join("www/hello.txt")).and_then(|m| m.modified()).expect("mtime");
        let lm = String::from_utf8(date::format_time(mtime).to_vec()).expect("ascii");
        let wire = range(&format!("bytes=0-4\r\nIf-Range: {lm}"));
        assert!(wire.starts_with("HTTP/1.1 206 "));
        let wire = range("bytes=0-4\r\nIf-Range: \"etag\"");
        assert!(wire.starts_with("HTTP/1.1 200 "));
        let wire = get(&root, "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\n\r\n");
        assert!(wire.starts_with("HTTP/1.1 206 ") && wire.contains("Content-Length: 2\r\n"));
        assert_eq!(body(&wire), "");
    }

    #[test]
    fn large_files_stream_in_bounded_pieces() {
        let s = Scratch::new();
        let data: Vec<u8> = (0..(3 * MAX_QUEUED + 12_345)).map(|i| (i % 251) as u8).collect();
        s.write("big.bin", &data);
        let app = FileServer::new(Root::new(s.0.clone()));
        let req = b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-\r\n\r\n";
        // Each call stops once MAX_QUEUED bytes wait, so at most one piece more.
        let wire = exchange_bytes(app, req, MAX_QUEUED + PIECE);
        let first = format!("Content-Length: {}\r\n", data.len());
        let pos = |needle: &[u8], from: usize| {
            wire[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
        };
        let h1 = pos(b"\r\n\r\n", 0).expect("first head");
        assert!(String::from_utf8_lossy(&wire[..h1 + 2]).contains(&first));
        let b1 = &wire[h1 + 4..h1 + 4 + data.len()];
        assert!(b1 == &data[..], "first body differs");
        let rest = h1 + 4 + data.len();
        let h2 = pos(b"\r\n\r\n", rest).expect("second head");
        let head2 = String::from_utf8_lossy(&wire[rest..h2]);
        assert!(head2.starts_with("HTTP/1.1 206 "), "{head2}");
        assert!(head2.contains(&format!(
            "Content-Range: bytes 100000-{}/{}",
            data.len() - 1,
            data.len()
        )));
        assert!(wire[h2 + 4..] == data[100_000..], "second body differs");
    }

    #[test]
    fn unreadable_is_forbidden() {
        use std::os::unix::fs::PermissionsExt;
        let s = Scratch::new();
        let p = s.write("locked.txt", b"x");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).expect("chmod");
        if File::open(&p).is_ok() {
            return; // running as root: permissions do not apply
        }
        assert_eq!(status(&s.0, "/locked.txt"), "HTTP/1.1 403 Forbidden");
    }

    #[test]
    fn slash_locations() {
        assert_eq!(slash_location("/a", None), "/a/");
        assert_eq!(slash_location("/a/b", Some("q=1")), "/a/b/?q=1");
        assert_eq!(slash_location("//evil.example", None), "/evil.example/");
        assert_eq!(slash_location("///x", Some("")), "/x/?");
    }
}
