//! The hello page (PROTOCOLS.md §1, no `--root`).

use bytes::BytesMut;
use sansnet_net::Factory;
use sansnet_proto::App;
use sansnet_proto::http::{Event, Limits, RequestHead, ServerConn, html};

const PREFIX: &[u8] = b"<html><body><h1>Hello!</h1><p>Path: ";
const SUFFIX: &[u8] = b"</p></body></html>";
const FIELDS: &[(&str, &[u8])] = &[("Content-Type", b"text/html; charset=utf-8")];

/// Answers every complete request with 200 and
/// `<html><body><h1>Hello!</h1><p>Path: PATH</p></body></html>`, PATH being
/// the request target, HTML-escaped. A HEAD request gets the same head
/// (with the body's `Content-Length`) and no body: the connection drops it.
///
/// Allocation-light: the request head is kept as the parser handed it (a
/// shared `Bytes`, no copy of the target) and the page is written into one
/// buffer per connection, which is reused once the previous page was sent.
#[derive(Debug, Default)]
pub struct Hello {
    head: Option<RequestHead>,
    page: BytesMut,
}

impl Hello {
    /// A handler for one connection.
    pub fn new() -> Hello {
        Hello::default()
    }
}

/// The [`Factory`] of the hello page: a [`ServerConn`] with `limits` and a
/// [`Hello`] per connection.
pub fn factory(limits: Limits) -> impl Factory<Session = ServerConn, App = Hello> {
    move |now, _peer: &str| (ServerConn::new(limits, now), Hello::new())
}

impl App<ServerConn> for Hello {
    fn on_event(&mut self, conn: &mut ServerConn, event: Event) {
        match event {
            Event::Request(head) => self.head = Some(head),
            Event::End => {
                let head = self.head.take();
                let target = head.as_ref().map_or(&b""[..], |h| h.target().as_bytes());
                // `reserve` takes the previous page's buffer back when the
                // connection is done with it (the usual case), so a
                // keep-alive connection writes every page into one allocation.
                self.page.reserve(PREFIX.len() + html::escaped_len(target) + SUFFIX.len());
                self.page.extend_from_slice(PREFIX);
                html::escape_into(&mut self.page, target);
                self.page.extend_from_slice(SUFFIX);
                let body = self.page.split().freeze();
                if let Err(e) = conn.respond(200, FIELDS, body) {
                    tracing::error!("hello: cannot respond: {e}");
                }
            }
            Event::Data(_) => {} // read and checked by the connection, unused here
            Event::Rejected(e) => {
                tracing::debug!("rejected a request: {e}");
                self.head = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::exchange;

    const PAGE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n";

    #[test]
    fn answers_any_method_and_target() {
        let wire = exchange(Hello::new(), b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        let body = "<html><body><h1>Hello!</h1><p>Path: /hello</p></body></html>";
        assert_eq!(wire, format!("{PAGE_HEAD}Content-Length: {}\r\n\r\n{body}", body.len()));
        let wire = exchange(
            Hello::new(),
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcOPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!(wire.matches("HTTP/1.1 200 OK").count(), 2);
        assert!(wire.contains("<p>Path: /x</p>"));
        assert!(wire.ends_with("<p>Path: *</p></body></html>"));
    }

    #[test]
    fn escapes_the_target() {
        let wire = exchange(Hello::new(), b"GET /<a>&\"'?q=<b> HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            wire.ends_with("<p>Path: /&lt;a&gt;&amp;&quot;&#x27;?q=&lt;b&gt;</p></body></html>"),
            "{wire}"
        );
    }

    #[test]
    fn head_gets_headers_alone() {
        let wire = exchange(Hello::new(), b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
        let len = "<html><body><h1>Hello!</h1><p>Path: /h</p></body></html>".len();
        assert_eq!(wire, format!("{PAGE_HEAD}Content-Length: {len}\r\n\r\n"));
    }

    #[test]
    fn pipelined_pages_are_independent() {
        let wire = exchange(
            Hello::new(),
            b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let pages: Vec<&str> = wire.split(PAGE_HEAD).filter(|s| !s.is_empty()).collect();
        assert_eq!(pages.len(), 2);
        assert!(pages[0].ends_with("Path: /first</p></body></html>"));
        assert!(pages[1].ends_with("Path: /2</p></body></html>"));
    }
}
