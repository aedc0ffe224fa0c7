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
    for (name, value) in fields {
        out.put_slice(name.as_bytes());
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    }
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            out.put_slice(b"Content-Length: ");
            put_u64(out, n);
            out.put_slice(b"\r\n");
        }
        Framing::Chunked => out.put_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    if let Some(c) = connection {
        out.put_slice(b"Connection: ");
        out.put_slice(c.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Appends `n` in decimal.
pub(crate) fn put_u64(out: &mut BytesMut, n: u64) {
    put_digits::<10>(out, n);
}

/// Appends `n` in lowercase hex (chunk sizes).
pub(crate) fn put_hex(out: &mut BytesMut, n: u64) {
    put_digits::<16>(out, n);
}

/// Appends `n` in `BASE` (a constant, so that `%` and `/` become
/// multiplications and shifts).
fn put_digits<const BASE: u64>(out: &mut BytesMut, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b"0123456789abcdef"[(n % BASE) as usize];
        n /= BASE;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&tmp[i..]);
}
