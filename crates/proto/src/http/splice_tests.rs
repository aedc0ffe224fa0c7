//! Bodies sent as splices ([`ServerConn::send_splice`]): what the wire
//! carries when the driver copies them from their source, with the same
//! framing, HEAD, keep-alive and pipelining rules as bytes.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use alloc::{format, vec};

use bytes::Bytes;

use super::{Event, Limits, Misuse, RequestHead, ResponseBody, ServerConn};
use crate::testing::Conn;
use crate::{Instant, Session, Source, Splice, Transmit};

const T0: Instant = Instant::ZERO;
const FILE: &[u8] = b"0123456789abcdefghij";

/// Answers every request with the part of [`FILE`] its path names
/// (`/all`, `/mid` = bytes 5..15, `/chunked`), spliced; records results.
struct Files {
    source: Source,
    head: Option<RequestHead>,
    results: Vec<Result<(), Misuse>>,
}

impl Files {
    fn new() -> Files {
        Files {
            source: Source::new(Arc::new(Bytes::from_static(FILE))),
            head: None,
            results: vec![],
        }
    }
}

impl crate::App<ServerConn> for Files {
    fn on_event(&mut self, conn: &mut ServerConn, ev: Event) {
        match ev {
            Event::Request(h) => self.head = Some(h),
            Event::End => {
                let head = self.head.take().unwrap();
                let (status, framing, offset, len) = match head.target() {
                    "/mid" => (206, ResponseBody::Length(10), 5, 10),
                    "/chunked" => (200, ResponseBody::Chunked, 0, 20),
                    "/long" => (200, ResponseBody::Length(25), 0, 25),
                    _ => (200, ResponseBody::Length(20), 0, 20),
                };
                let r = conn
                    .send_response(status, &[], framing)
                    .and_then(|()| conn.send_splice(self.source.clone(), offset, len))
                    .and_then(|()| conn.finish());
                self.results.push(r);
            }
            _ => {}
        }
    }
}

fn served(input: &[u8]) -> (Conn<ServerConn>, Files, String) {
    let mut conn = Conn::new(ServerConn::new(Limits::default(), T0), T0).with_splice();
    let mut app = Files::new();
    conn.read(input, &mut app);
    let wire = String::from_utf8(conn.take_wire()).unwrap();
    (conn, app, wire)
}

#[test]
fn a_spliced_body_is_the_source_s_bytes_after_the_head() {
    let (conn, app, wire) = served(b"GET /all HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(app.results, [Ok(())]);
    assert_eq!(
        wire,
        format!("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{}", "0123456789abcdefghij")
    );
    assert_eq!(conn.splices(), 1, "the body went out as a splice, not as bytes");
    assert!(!conn.splice_short());
    assert!(conn.session.wants_read(), "kept alive");
}

#[test]
fn a_range_is_spliced_from_the_middle() {
    let (conn, _, wire) = served(b"GET /mid HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(wire.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{wire}");
    assert!(wire.ends_with("Content-Length: 10\r\n\r\n56789abcde"), "{wire}");
    assert_eq!(conn.splices(), 1);
}

#[test]
fn head_sends_no_splice_and_keeps_the_connection() {
    let (conn, app, wire) =
        served(b"HEAD /all HTTP/1.1\r\nHost: h\r\n\r\nGET /mid HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(app.results, [Ok(()), Ok(())]);
    let (first, second) = wire.split_at(wire.find("HTTP/1.1 206").unwrap());
    assert_eq!(first, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n");
    assert!(second.ends_with("\r\n\r\n56789abcde"), "{second}");
    assert_eq!(conn.splices(), 1, "only the GET's body");
}

#[test]
fn pipelined_requests_after_a_spliced_body_are_answered_in_order() {
    let (conn, app, wire) = served(
        b"GET /mid HTTP/1.1\r\nHost: h\r\n\r\nGET /all HTTP/1.1\r\nHost: h\r\n\r\nGET /mid HTTP/1.0\r\n\r\n",
    );
    assert_eq!(app.results, [Ok(()), Ok(()), Ok(())]);
    let bodies: Vec<&str> = wire.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(bodies.len(), 3, "{wire}");
    assert!(bodies[0].ends_with("\r\n\r\n56789abcde"));
    assert!(bodies[1].ends_with("\r\n\r\n0123456789abcdefghij"));
    assert!(bodies[2].contains("Connection: close\r\n"), "HTTP/1.0 without keep-alive");
    assert!(bodies[2].ends_with("\r\n\r\n56789abcde"));
    assert_eq!(conn.splices(), 3);
    assert!(conn.session.is_finished());
}

#[test]
fn a_chunked_splice_is_framed_like_bytes() {
    let (_, _, wire) = served(b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(wire.contains("Transfer-Encoding: chunked\r\n"), "{wire}");
    assert!(wire.ends_with("\r\n\r\n14\r\n0123456789abcdefghij\r\n0\r\n\r\n"), "{wire}");
}

#[test]
fn a_splice_longer_than_announced_is_refused() {
    let mut conn = Conn::new(ServerConn::new(Limits::default(), T0), T0).with_splice();
    let mut app = |c: &mut ServerConn, ev: Event| {
        if ev == Event::End {
            c.send_response(200, &[], ResponseBody::Length(4)).unwrap();
            let s = Source::new(Arc::new(Bytes::from_static(FILE)));
            assert_eq!(c.send_splice(s.clone(), 0, 5), Err(Misuse::BodyTooLong));
            assert_eq!(c.finish(), Err(Misuse::BodyIncomplete));
            c.send_splice(s, 0, 4).unwrap();
            c.finish().unwrap();
        }
    };
    conn.read(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", &mut app);
    assert!(conn.take_wire().ends_with(b"\r\n\r\n0123"));
}

#[test]
fn a_short_source_is_seen_by_the_driver() {
    let (conn, app, wire) = served(b"GET /long HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(app.results, [Ok(())]);
    assert!(wire.ends_with("Content-Length: 25\r\n\r\n0123456789abcdefghij"), "{wire}");
    assert!(conn.splice_short(), "the driver knows to close after it");
}

#[test]
fn without_a_splicing_driver_there_are_only_bytes() {
    let mut conn = ServerConn::new(Limits::default(), T0);
    let mut input = bytes::BytesMut::from(&b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..]);
    conn.handle_read(T0, &mut input);
    while conn.poll_event().is_some() {}
    assert!(!conn.can_splice());
    conn.send_response(200, &[], ResponseBody::Length(3)).unwrap();
    let s = Source::new(Arc::new(Bytes::from_static(b"abc")));
    assert_eq!(conn.send_splice(s.clone(), 0, 3), Err(Misuse::NoSplice));
    conn.send_data(Bytes::from_static(b"abc")).unwrap();
    conn.finish().unwrap();
    let mut outs = Vec::new();
    while let Some(t) = conn.poll_transmit_or_splice() {
        outs.push(t);
    }
    assert!(outs.iter().all(|t| matches!(t, Transmit::Bytes(_))));
    // A splice, once enabled, is not handed to a driver that polls bytes.
    conn.enable_splice();
    let mut input = bytes::BytesMut::from(&b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..]);
    conn.handle_read(T0, &mut input);
    while conn.poll_event().is_some() {}
    conn.send_response(200, &[], ResponseBody::Length(3)).unwrap();
    conn.send_splice(s.clone(), 0, 3).unwrap();
    assert!(conn.poll_transmit().is_some(), "the head");
    assert_eq!(conn.poll_transmit(), None);
    let want = Transmit::Splice(Splice { source: s, offset: 0, len: 3 });
    assert_eq!(conn.poll_transmit_or_splice(), Some(want));
}
