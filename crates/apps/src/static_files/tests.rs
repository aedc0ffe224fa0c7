//! The static file server's answers, exchanged in memory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sansnet_net::Blocking;
use sansnet_proto::http::date;

use super::reply::slash_location;
use super::{MAX_QUEUED, PIECE, Root, StaticFiles};
use crate::testing::{exchange, exchange_bytes};
use crate::unix_secs;

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sansnet-apps-files-{}-{}",
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

fn app(root: &Path, io: Blocking) -> StaticFiles {
    StaticFiles::new(Root::new(root).expect("root"), io)
}

fn get(root: &Path, req: &str) -> String {
    let wire = exchange(app(root, Blocking::Inline), req.as_bytes());
    // The same on the blocking pool (but for the time in `Date`).
    let pooled = exchange(app(root, Blocking::Pool), req.as_bytes());
    assert_eq!(undated(&wire), undated(&pooled), "inline and pooled differ");
    assert!(!wire.contains("TOP SECRET"), "leaked: {wire}");
    wire
}

/// `wire` without its `Date` fields.
fn undated(wire: &str) -> String {
    wire.split("\r\n").filter(|l| !l.starts_with("Date: ")).collect::<Vec<_>>().join("\r\n")
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
    // Dot segments after a file make it look like a directory: not served.
    for target in
        ["/hello.txt/.", "/hello.txt/./", "/hello.txt/%2e", "/hello.txt/x/..", "/in-link/."]
    {
        assert_eq!(status(&root, target), "HTTP/1.1 404 Not Found", "{target}");
    }
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
fn the_listing_hides_symlinks_that_leave_the_root() {
    let (s, root) = site();
    symlink(s.0.join("nowhere"), root.join("dangling")).expect("symlink");
    symlink("sub", root.join("in-dir")).expect("symlink");
    let wire = get(&root, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let page = body(&wire);
    for hidden in ["out-link", "out-dir", "dangling"] {
        assert!(!page.contains(hidden), "{hidden} listed: {page}");
    }
    // Links that stay inside are listed, as what they point to.
    assert!(page.contains("<a href=\"in-link\">in-link</a>"), "{page}");
    assert!(page.contains("<a href=\"in-dir/\">in-dir/</a>"), "{page}");
}

#[test]
fn every_answer_says_nosniff() {
    let (_s, root) = site();
    for target in ["/hello.txt", "/", "/sub", "/nope", "/../secret.txt", "/%zz"] {
        let wire = get(&root, &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(wire.contains("\r\nX-Content-Type-Options: nosniff\r\n"), "{target}: {wire}");
    }
    let wire = get(&root, "DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(wire.contains("\r\nX-Content-Type-Options: nosniff\r\n"), "{wire}");
}

#[test]
fn conditional_requests() {
    let (s, root) = site();
    // Modified an hour ago, so that a minute later is still in the past.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let hello = fs::File::options().write(true).open(s.0.join("www/hello.txt")).expect("open");
    hello.set_modified(hour_ago).expect("set the mtime");
    let mtime = fs::metadata(s.0.join("www/hello.txt")).and_then(|m| m.modified()).expect("mtime");
    let lm = String::from_utf8(date::format(unix_secs(mtime)).to_vec()).expect("ascii");
    let later = String::from_utf8(date::format(unix_secs(mtime) + 60).to_vec()).expect("ascii");
    let earlier = String::from_utf8(date::format(unix_secs(mtime) - 60).to_vec()).expect("ascii");
    // A day ahead of the server's clock: invalid (RFC 9110 §13.1.3).
    let now = unix_secs(std::time::SystemTime::now());
    let future = String::from_utf8(date::format(now + 86_400).to_vec()).expect("ascii");
    for since in [&lm, &later] {
        let wire = get(
            &root,
            &format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {since}\r\n\r\n"),
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
        format!("If-Modified-Since: {future}\r\n"),
    ] {
        let wire = get(&root, &format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\n{extra}\r\n"));
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{extra}: {wire}");
    }
}

#[test]
fn ranges() {
    let (s, root) = site();
    let range =
        |r: &str| get(&root, &format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: {r}\r\n\r\n"));
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

    let mtime = fs::metadata(s.0.join("www/hello.txt")).and_then(|m| m.modified()).expect("mtime");
    let lm = String::from_utf8(date::format(unix_secs(mtime)).to_vec()).expect("ascii");
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
    let app = app(&s.0, Blocking::Pool);
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
    if fs::File::open(&p).is_ok() {
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

/// A FIFO put in place of a file after the server looked at it (a race
/// the request cannot win on purpose, so the open is tested alone) is
/// refused at once, not opened: an open that waited for a writer would
/// hold the request, and a pool thread, forever.
#[test]
fn a_fifo_is_never_waited_for() {
    let s = Scratch::new();
    let fifo = s.0.join("pipe");
    let dir = rustix::fs::open(&s.0, rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty())
        .expect("open the directory");
    let mode = rustix::fs::Mode::from_raw_mode(0o644);
    rustix::fs::mknodat(&dir, "pipe", rustix::fs::FileType::Fifo, mode, 0).expect("mkfifo");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(super::reply::open_file(&fifo).map(drop)));
    let opened = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the open hung");
    let e = opened.expect_err("a FIFO is not a file");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    // A regular file opens; a symlink (none is left in a canonical path)
    // does not.
    let file = s.write("f.txt", b"x");
    assert!(super::reply::open_file(&file).is_ok());
    symlink(&file, s.0.join("link")).expect("symlink");
    assert!(super::reply::open_file(&s.0.join("link")).is_err());
}

/// Runs `req` through the connection engine of a driver that splices
/// ([`sansnet_net::Engine::splicing`]), performing each step in memory
/// (a splice read from its file); the wire, and for each splice step the
/// engine asked for, how many requests the connection had read by then.
fn spliced(root: &Path, req: &[u8]) -> (Vec<u8>, Vec<u64>) {
    use sansnet_net::{Engine, Step};
    use sansnet_proto::http::{Limits, ServerConn};
    use sansnet_proto::{App, Instant};
    use std::os::unix::fs::FileExt;
    let now = Instant::ZERO;
    let (mut conn, mut app) =
        (ServerConn::new(Limits::default(), now), app(root, Blocking::Inline));
    let mut engine = Engine::blocking(64 * 1024).splicing();
    let (mut wire, mut splices, mut input) = (Vec::new(), Vec::new(), req);
    for _ in 0..10_000 {
        let n = match engine.step(&mut conn, &mut app, now, false) {
            Step::Write(chunk, _) => {
                wire.extend_from_slice(chunk);
                chunk.len()
            }
            Step::Splice(piece, _) => {
                splices.push(conn.requests());
                let mut buf = vec![0; piece.len];
                let n = piece.file.read_at(&mut buf, piece.offset).expect("read");
                wire.extend_from_slice(&buf[..n]);
                n
            }
            Step::Read { .. } if input.is_empty() => {
                engine.eof(&mut conn, now);
                continue;
            }
            Step::Read { .. } => {
                engine.read(std::mem::take(&mut input));
                continue;
            }
            Step::Work { .. } => {
                let _ = app.poll_work(
                    &mut conn,
                    &mut std::task::Context::from_waker(std::task::Waker::noop()),
                );
                continue;
            }
            Step::Linger | Step::Done => return (wire, splices),
            other => panic!("not in this exchange: {other:?}"),
        };
        engine.written(&mut conn, now, n).expect("written");
    }
    panic!("the exchange never ended");
}

#[test]
fn a_splicing_driver_is_handed_the_file_not_its_bytes() {
    let s = Scratch::new();
    let data: Vec<u8> =
        (0..(3 * sansnet_net::SPLICE_PIECE + 777)).map(|i| (i % 251) as u8).collect();
    s.write("big.bin", &data);
    let req = b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nHEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-199999\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\n";
    let (wire, splices) = spliced(&s.0, req);
    // Four pieces of the whole file, one of the range; none for HEAD. The
    // request after a spliced body waits until it is written: one file
    // open at a time, however many requests are pipelined.
    assert_eq!(splices, [2, 2, 2, 2, 4], "the HEAD, then the 404, held back");
    let heads: Vec<usize> =
        wire.windows(9).enumerate().filter(|(_, w)| w == b"HTTP/1.1 ").map(|(i, _)| i).collect();
    assert_eq!(heads.len(), 4, "four answers, in order, on one connection");
    let text = |from: usize, to: usize| String::from_utf8_lossy(&wire[from..to]).into_owned();
    let h1 = text(0, heads[1]).find("\r\n\r\n").expect("head") + 4;
    assert_eq!(&wire[h1..h1 + data.len()], &data[..]);
    assert_eq!(heads[1], h1 + data.len(), "HEAD: no body");
    assert!(text(heads[1], heads[2]).contains(&format!("Content-Length: {}\r\n", data.len())));
    let part = text(heads[2], heads[3]);
    assert!(
        part.starts_with("HTTP/1.1 206 ") && part.contains("Content-Length: 100000\r\n"),
        "{part}"
    );
    assert!(wire[..heads[3]].ends_with(&data[100_000..200_000]));
    assert!(text(heads[3], wire.len()).starts_with("HTTP/1.1 404 "));
}

#[test]
fn a_small_file_goes_out_with_its_head_not_as_a_splice() {
    let s = Scratch::new();
    let small = vec![b's'; super::reply::SMALL_BODY as usize];
    s.write("small.txt", &small);
    s.write("bigger.txt", &[b'b'; super::reply::SMALL_BODY as usize + 1]);
    let req = b"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\nGET /bigger.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let (wire, splices) = spliced(&s.0, req);
    assert_eq!(splices.len(), 1, "only the bigger file is spliced");
    let text = String::from_utf8(wire).expect("text");
    let answers: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
    assert!(answers[0].ends_with(&format!("\r\n\r\n{}", "s".repeat(small.len()))));
    assert!(
        answers[1].starts_with("206 ") && answers[1].ends_with("\r\n\r\nsss"),
        "{}",
        answers[1]
    );
    assert!(answers[2].contains(&format!("Content-Length: {}\r\n", small.len() + 1)));
}

/// What a connection on the blocking pool has to send right after `req`'s
/// events, before any pool work is polled; and whether work is pending.
fn answered_at_once(root: &Path, req: &[u8]) -> (String, bool) {
    use bytes::BytesMut;
    use sansnet_proto::http::{Limits, ServerConn};
    use sansnet_proto::{App, Instant, Session};
    let (mut conn, mut app) =
        (ServerConn::new(Limits::default(), Instant::ZERO), app(root, Blocking::Pool));
    conn.handle_read(Instant::ZERO, &mut BytesMut::from(req));
    while let Some(event) = conn.poll_event() {
        app.on_event(&mut conn, event);
    }
    let mut wire = Vec::new();
    while let Some(chunk) = conn.poll_transmit() {
        wire.extend_from_slice(&chunk);
    }
    (String::from_utf8_lossy(&wire).into_owned(), app.is_working())
}

#[test]
fn a_file_is_decided_on_the_connection_and_a_listing_on_the_pool() {
    let (_s, root) = site();
    // A trip to the pool costs two cross-thread wake-ups a request: the
    // file's answer is there at once, with no work pending.
    let (wire, working) = answered_at_once(&root, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"), "{wire}");
    assert!(wire.ends_with("\r\n\r\nhello, world\n"), "{wire}");
    assert!(!working);
    let (wire, working) = answered_at_once(&root, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(wire.starts_with("HTTP/1.1 404 "), "{wire}");
    assert!(!working);
    // Reading a directory has no bound: the pool does it.
    let (wire, working) = answered_at_once(&root, b"GET /list/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(wire, "");
    assert!(working);
}

#[test]
fn a_path_through_a_link_inside_the_root_is_still_resolved() {
    let (_s, root) = site();
    // `in-link` -> hello.txt (the slow path: canonicalize), `out-link`
    // leaves the root (404 as before), `sub/index.html` has no link.
    assert!(get(&root, "GET /in-link HTTP/1.1\r\nHost: x\r\n\r\n").ends_with("hello, world\n"));
    assert_eq!(status(&root, "/out-link"), "HTTP/1.1 404 Not Found");
    assert_eq!(status(&root, "/out-dir/secret.txt"), "HTTP/1.1 404 Not Found");
    assert!(
        get(&root, "GET /sub/index.html HTTP/1.1\r\nHost: x\r\n\r\n").ends_with("<h1>index</h1>")
    );
}

#[test]
fn a_plain_file_is_opened_beneath_the_root_in_one_walk() {
    use sansnet_proto::http::{HeadParser, Limits};
    let (_s, root) = site();
    let root = Root::new(&root).expect("root");
    let head = |target: &str| {
        let mut p = HeadParser::new(&Limits::default());
        let wire = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(p.parse(wire.as_bytes()), Ok(Some(_))));
        p.take(wire.into())
    };
    let fast = |target: &str, rel: &str| {
        let decoded = target.as_bytes();
        super::reply::beneath(&root, &head(target), Path::new(rel), decoded, 0).map(|r| r.status)
    };
    assert_eq!(fast("/hello.txt", "hello.txt"), Some(200));
    assert_eq!(fast("/sub/index.html", "sub/index.html"), Some(200));
    // Everything else goes the general way (which answers as before).
    assert_eq!(fast("/in-link", "in-link"), None, "a link, even inside");
    assert_eq!(fast("/out-link", "out-link"), None);
    assert_eq!(fast("/out-dir/secret.txt", "out-dir/secret.txt"), None);
    assert_eq!(fast("/sub", "sub"), None, "a directory");
    assert_eq!(fast("/nope", "nope"), None);
    assert_eq!(fast("/hello.txt/", "hello.txt"), None, "a file named as a directory");
}
