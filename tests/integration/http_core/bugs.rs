//! Regression tests for bugs found in `sansnet-proto`, each the minimal
//! input that showed it.

use bytes::BytesMut;
use sansnet_proto::http::{Error, Event, HeadParser, Limits, ServerConn};
use sansnet_proto::{Instant, Session};

/// The request-line's version step used to wait until 10 bytes (`HTTP/x.y`
/// CR LF) followed the target before looking at them, even when an LF had
/// already ended the line and the head: a complete but invalid head whose
/// version part is short (`GET / H`, `GET / HTTP`, `GET / 1.0`, each followed
/// by CRLF CRLF) got `Ok(None)` ("need more bytes") instead of
/// `Err(BadVersion)`, and the connection answered 408 after the header
/// timeout instead of 400 at once. Fixed: the version is judged byte by byte.
/// RFC 9112 §3 / §2.2: an invalid request-line SHOULD get a 400; HTTP-NOTES
/// §7 G6: every invalid input answered within one read of the offending byte.
#[test]
fn short_invalid_version_is_rejected_at_once() {
    for input in [&b"GET / H\r\n\r\n"[..], b"GET / HTTP\r\n\r\n", b"GET / 1.0\r\n\r\n"] {
        let mut p = HeadParser::new(&Limits::default());
        assert!(
            p.parse(input).is_err(),
            "{:?}: {:?}",
            input.escape_ascii().to_string(),
            p.parse(input)
        );

        let mut conn = ServerConn::new(Limits::default(), Instant::ZERO);
        let mut buf = BytesMut::from(input);
        conn.handle_read(Instant::ZERO, &mut buf);
        assert!(matches!(
            conn.poll_event(),
            Some(Event::Rejected(Error::BadVersion | Error::BadRequestLine))
        ));
        assert!(conn.is_finished());
    }
}
