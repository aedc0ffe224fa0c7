//! Writing response heads.

use bytes::{BufMut, BytesMut};

use super::Misuse;
use super::chars::is_token;

/// How a response body is framed; the machine writes the matching field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body (`Content-Length: 0`, or nothing for 204 and 304).
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// Unknown length: `Transfer-Encoding: chunked` for HTTP/1.1 clients;
    /// for HTTP/1.0 clients the body runs to the end of the connection.
    Chunked,
}

/// The reason phrase sansnet writes for `status` (empty when unknown, which
/// RFC 9112 §4 allows).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Whether a response with `status` never has a body (RFC 9110 §6.4.1).
pub(crate) fn bodyless_status(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// Checks application fields: token names, values without CR, LF or NUL,
/// and none of the framing fields the machine owns.
pub(crate) fn check_fields(fields: &[(&str, &[u8])]) -> Result<(), Misuse> {
    for (name, value) in fields {
        // A fold without early exit: straight-line code for the usual case,
        // a field that passes.
        let token = name.bytes().fold(true, |ok, b| ok & is_token(b));
        if name.is_empty() || !token || memchr::memchr3(b'\r', b'\n', 0, value).is_some() {
            return Err(Misuse::BadField);
        }
        for owned in ["content-length", "transfer-encoding", "connection"] {
            if name.len() == owned.len() && name.eq_ignore_ascii_case(owned) {
                return Err(Misuse::FramingField);
            }
        }
    }
    Ok(())
}

/// The framing line the machine adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// The most bytes [`write_head`] writes for these arguments.
pub(crate) fn head_len(status: u16, fields: &[(&str, &[u8])], connection: Option<&str>) -> usize {
    let fields: usize = fields.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let framing = "Content-Length: 18446744073709551615\r\n".len();
    let connection = connection.map_or(0, |c| "Connection: \r\n".len() + c.len());
    "HTTP/1.1 999 \r\n".len() + reason(status).len() + fields + framing + connection + 2
}

/// Appends a response head to `out` (`status` has three digits); the
/// caller has reserved [`head_len`] bytes.
pub(crate) fn write_head(
    out: &mut BytesMut,
    status: u16,
    fields: &[(&str, &[u8])],
    framing: Framing,
    connection: Option<&str>,
) {
    match status {
        200 => out.put_slice(b"HTTP/1.1 200 OK\r\n"),
        _ => {
            let digits = [
                b'0' + (status / 100 % 10) as u8,
                b'0' + (status / 10 % 10) as u8,
                b'0' + (status % 10) as u8,
            ];
            out.put_slice(b"HTTP/1.1 ");
            out.put_slice(&digits);
            out.put_u8(b' ');
            out.put_slice(reason(status).as_bytes());
            out.put_slice(b"\r\n");
        }
    }
    for (name, value) in fields {
        out.put_slice(name.as_bytes());
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    }
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            // One piece: the name, the digits and the line end.
            const NAME: &[u8] = b"Content-Length: ";
            let mut line = [0u8; NAME.len() + 20 + 2];
            let end = line.len() - 2;
            line[end..].copy_from_slice(b"\r\n");
            let start = digits_before(&mut line, end, n, 10) - NAME.len();
            line[start..start + NAME.len()].copy_from_slice(NAME);
            out.put_slice(&line[start..]);
        }
        Framing::Chunked => out.put_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    match connection {
        None => out.put_slice(b"\r\n"),
        Some("close") => out.put_slice(b"Connection: close\r\n\r\n"),
        Some("keep-alive") => out.put_slice(b"Connection: keep-alive\r\n\r\n"),
        Some(c) => {
            out.put_slice(b"Connection: ");
            out.put_slice(c.as_bytes());
            out.put_slice(b"\r\n\r\n");
        }
    }
}

/// Appends `n` in lowercase hex (chunk sizes).
pub(crate) fn put_hex(out: &mut BytesMut, n: u64) {
    put_digits::<16>(out, n);
}

/// Appends `n` in `BASE` (a constant, so that `%` and `/` become
/// multiplications and shifts).
fn put_digits<const BASE: u64>(out: &mut BytesMut, n: u64) {
    let mut tmp = [0u8; 20];
    let start = digits_before(&mut tmp, 20, n, BASE);
    out.put_slice(&tmp[start..]);
}

/// Writes `n` in `base` into `buf` so that its digits end at `end` (at
/// least 20 bytes before `end`, room for any `u64`): where they start.
#[inline(always)]
fn digits_before(buf: &mut [u8], end: usize, mut n: u64, base: u64) -> usize {
    let mut i = end;
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(n % base) as usize];
        n /= base;
        if n == 0 {
            break;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    /// The head as RFC 9112 spells it, one piece at a time.
    fn plain_head(
        status: u16,
        fields: &[(&str, &[u8])],
        framing: Framing,
        connection: Option<&str>,
    ) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {status:03} {}\r\n", reason(status)).into_bytes();
        for (name, value) in fields {
            head.extend_from_slice(format!("{name}: ").as_bytes());
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        }
        match framing {
            Framing::None => {}
            Framing::Length(n) => {
                head.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
            }
            Framing::Chunked => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        if let Some(c) = connection {
            head.extend_from_slice(format!("Connection: {c}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head
    }

    proptest! {
        #[test]
        fn heads_are_written_as_spelled_out(
            status in prop_oneof![Just(200u16), 100u16..1000],
            fields in proptest::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,80}"), 0..3),
            framing in prop_oneof![
                Just(Framing::None),
                Just(Framing::Chunked),
                any::<u64>().prop_map(Framing::Length),
                (0u64..100_000).prop_map(Framing::Length),
            ],
            connection in prop_oneof![
                Just(None),
                Just(Some("close")),
                Just(Some("keep-alive")),
                Just(Some("upgrade")),
            ],
        ) {
            let fields: Vec<(&str, &[u8])> =
                fields.iter().map(|(n, v): &(String, String)| (n.as_str(), v.as_bytes())).collect();
            let mut out = BytesMut::new();
            write_head(&mut out, status, &fields, framing, connection);
            prop_assert_eq!(&out[..], &plain_head(status, &fields, framing, connection)[..]);
            prop_assert!(out.len() <= head_len(status, &fields, connection));
        }

        #[test]
        fn a_value_is_refused_exactly_when_it_holds_cr_lf_or_nul(
            clean in proptest::collection::vec(
                any::<u8>().prop_filter("clean", |b| !matches!(b, b'\r' | b'\n' | 0)), 0..200),
            planted in proptest::option::of((prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8)], any::<usize>())),
        ) {
            let mut value = clean;
            if let Some((b, at)) = planted {
                value.insert(at % (value.len() + 1), b);
            }
            let bad = planted.is_some();
            let checked = check_fields(&[("X-Test", &value)]);
            prop_assert_eq!(checked.is_err(), bad);
        }
    }
}
