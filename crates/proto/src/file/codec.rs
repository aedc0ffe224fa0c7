//! The lines of the file-transfer protocol, byte for byte (PROTOCOLS.md §3):
//! the header `NAME|SIZE\n`, the acks `OK OFFSET\n`, bare `OK` and
//! `ERR CODE message\n`, the trailer `BLAKE3 <64 hex>\n` and `DONE <hex>\n`.
//!
//! Every decoder takes bytes as they arrived and says how many it used, or
//! that it needs more; none allocates beyond the line it returns, none
//! panics on any input. A line may end in `\r\n` as well as `\n`.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::name::{NameError, check_name};

/// A BLAKE3 digest: the hash of a whole file.
pub use blake3::Hash;

/// The longest header line the receiver reads, newline included (4 KiB).
pub const HEADER_CAP: usize = 4096;
/// The longest ack, `DONE` or `ERR` line a sender reads (4 KiB).
pub const ANSWER_CAP: usize = 4096;
/// The longest trailer line: `BLAKE3 `, 64 hex digits, `\r\n`.
pub const TRAILER_CAP: usize = 7 + 64 + 2;

/// The `CODE` of an `ERR CODE message` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// The header is not `NAME|SIZE\n` within 4 KiB (or SIZE is not
    /// decimal digits).
    BadHeader,
    /// NAME is not a plain file name (see [`check_name`]).
    BadName,
    /// SIZE is over the receiver's limit (or over `u64`).
    TooLarge,
    /// SIZE is more than the free space where the file would go (or the
    /// disk filled up while writing).
    NoSpace,
    /// A file named NAME exists (and overwriting was not asked for), or
    /// another transfer of NAME is in progress.
    Exists,
    /// The connection ended before SIZE bytes and the trailer arrived.
    Short,
    /// The trailer's hash differs from the hash of the bytes received, or
    /// no valid trailer followed the SIZE bytes.
    HashMismatch,
    /// The receiver could not read or write its own files (permissions, a
    /// failing disk). Not in PROTOCOLS.md's list: an addition for local
    /// failures that none of the other codes describes.
    Io,
}

impl ErrorCode {
    /// Every code, in the order of PROTOCOLS.md (then `io`).
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::BadHeader,
        ErrorCode::BadName,
        ErrorCode::TooLarge,
        ErrorCode::NoSpace,
        ErrorCode::Exists,
        ErrorCode::Short,
        ErrorCode::HashMismatch,
        ErrorCode::Io,
    ];

    /// The code as it goes on the wire: `bad_header`, `bad_name`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadHeader => "bad_header",
            ErrorCode::BadName => "bad_name",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NoSpace => "no_space",
            ErrorCode::Exists => "exists",
            ErrorCode::Short => "short",
            ErrorCode::HashMismatch => "hash_mismatch",
            ErrorCode::Io => "io",
        }
    }

    /// The code named `s`, if it is one.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `ERR CODE message` line: a code and a one-line message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The code.
    pub code: ErrorCode,
    /// The message (may be empty; never holds a line break).
    pub message: String,
}

impl Refusal {
    /// A refusal; line breaks and other control characters in `message`
    /// become spaces, so it stays one line.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        let mut message: String = message.into();
        if message.chars().any(char::is_control) {
            message = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        }
        Refusal { code, message }
    }

    /// `ERR CODE message\n`.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(6 + self.code.as_str().len() + self.message.len());
        b.put_slice(b"ERR ");
        b.put_slice(self.code.as_str().as_bytes());
        if !self.message.is_empty() {
            b.put_u8(b' ');
            b.put_slice(self.message.as_bytes());
        }
        b.put_u8(b'\n');
        b.freeze()
    }

    /// Parses one `ERR CODE message` line (without its line end). An
    /// unknown CODE is `None`.
    pub fn decode(line: &[u8]) -> Option<Refusal> {
        let rest = line.strip_prefix(b"ERR ")?;
        let text = core::str::from_utf8(rest).ok()?;
        let (code, message) = text.split_once(' ').unwrap_or((text, ""));
        Some(Refusal::new(ErrorCode::parse(code)?, message))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.code.as_str())
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

/// A header: which file, how large.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The file name: a plain name ([`check_name`]).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Header {
    /// `NAME|SIZE\n`.
    pub fn encode(&self) -> Bytes {
        Bytes::from(format!("{}|{}\n", self.name, self.size))
    }

    /// Parses one header line (without its line end) against a size limit.
    ///
    /// The name is what comes before the **last** `|` (a name may hold a
    /// `|`; SIZE cannot). Checked in this order: no `|` is `bad_header`; a
    /// name that is not a plain name is `bad_name`; SIZE not one or more
    /// ASCII digits is `bad_header`; SIZE over `u64` or over `max_size` is
    /// `too_large`.
    pub fn decode(line: &[u8], max_size: u64) -> Result<Header, Refusal> {
        let Some(bar) = memchr::memrchr(b'|', line) else {
            return Err(Refusal::new(ErrorCode::BadHeader, "want NAME|SIZE"));
        };
        let (name, digits) = (&line[..bar], &line[bar + 1..]);
        let name = check_name(name).map_err(|e| Refusal::new(ErrorCode::BadName, e.to_string()))?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Refusal::new(ErrorCode::BadHeader, "SIZE is not a decimal number"));
        }
        let size = parse_u64(digits)
            .ok_or_else(|| Refusal::new(ErrorCode::TooLarge, "SIZE does not fit in 64 bits"))?;
        if size > max_size {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("{size} bytes is over the limit of {max_size}"),
            ));
        }
        Ok(Header { name: name.into(), size })
    }
}

/// Decimal digits (already checked) as a `u64`; `None` on overflow.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// What the receiver answered to the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ack {
    /// `OK OFFSET\n`: send from OFFSET, then the trailer.
    Offset(u64),
    /// A bare `OK` (the reference receiver): offset 0, no trailer, no
    /// `DONE`.
    Bare,
    /// `ERR CODE message\n`.
    Refused(Refusal),
}

/// An answer that is none of the lines the protocol allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unexpected answer from the receiver: {0}")]
pub struct BadAnswer(pub String);

impl BadAnswer {
    fn of(bytes: &[u8]) -> BadAnswer {
        let shown = &bytes[..bytes.len().min(80)];
        BadAnswer(format!("{:?}", String::from_utf8_lossy(shown)))
    }
}

impl Ack {
    /// `OK OFFSET\n`.
    pub fn encode_offset(offset: u64) -> Bytes {
        Bytes::from(format!("OK {offset}\n"))
    }

    /// Decodes an ack from the start of `buf`: `Ok(Some((ack, used)))`,
    /// `Ok(None)` while more bytes are needed, or the answer is not an ack.
    ///
    /// A lone `OK` (exactly those two bytes so far) needs more: it may be
    /// the start of `OK 5\n`, or the reference receiver's whole answer; the
    /// [`Sender`](super::Sender) decides with a short timer, or at the end
    /// of the stream. `OK\n` is a bare ack.
    pub fn decode(buf: &[u8]) -> Result<Option<(Ack, usize)>, BadAnswer> {
        if buf.starts_with(b"ERR") {
            return match line(buf, ANSWER_CAP) {
                Line::More => Ok(None),
                Line::TooLong => Err(BadAnswer::of(buf)),
                Line::Found { text, used } => match Refusal::decode(text) {
                    Some(r) => Ok(Some((Ack::Refused(r), used))),
                    None => Err(BadAnswer::of(text)),
                },
            };
        }
        if b"ERR".starts_with(buf) || b"OK".starts_with(buf) {
            return Ok(None); // empty, `E`, `ER`, `O`, `OK`
        }
        if !buf.starts_with(b"OK") {
            return Err(BadAnswer::of(buf));
        }
        match &buf[2..] {
            [b'\n', ..] => return Ok(Some((Ack::Bare, 3))),
            [b'\r'] => return Ok(None),
            [b'\r', b'\n', ..] => return Ok(Some((Ack::Bare, 4))),
            [b' ', ..] => {}
            _ => return Err(BadAnswer::of(buf)),
        }
        match line(buf, ANSWER_CAP) {
            Line::More => Ok(None),
            Line::TooLong => Err(BadAnswer::of(buf)),
            Line::Found { text, used } => {
                let digits = &text[3..];
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(BadAnswer::of(text));
                }
                let offset = parse_u64(digits).ok_or_else(|| BadAnswer::of(text))?;
                Ok(Some((Ack::Offset(offset), used)))
            }
        }
    }
}

/// `BLAKE3 <64 lowercase hex digits>\n`.
pub fn encode_trailer(hash: &Hash) -> Bytes {
    Bytes::from(format!("BLAKE3 {}\n", hash.to_hex()))
}

/// Parses a trailer line (without its line end): the hash, if the line is
/// `BLAKE3 ` and 64 hex digits (either case).
pub fn decode_trailer(line: &[u8]) -> Option<Hash> {
    decode_hex_line(line, b"BLAKE3 ")
}

/// `DONE <64 lowercase hex digits>\n`.
pub fn encode_done(hash: &Hash) -> Bytes {
    Bytes::from(format!("DONE {}\n", hash.to_hex()))
}

/// Parses a `DONE <hex>` line (without its line end).
pub fn decode_done(line: &[u8]) -> Option<Hash> {
    decode_hex_line(line, b"DONE ")
}

fn decode_hex_line(line: &[u8], prefix: &[u8]) -> Option<Hash> {
    let hex = line.strip_prefix(prefix)?;
    if hex.len() != 64 {
        return None;
    }
    Hash::from_hex(hex).ok()
}

/// What a search for a line end found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// A whole line: its text without `\n` or `\r\n`, and the bytes used
    /// (line end included).
    Found {
        /// The line without its end.
        text: &'a [u8],
        /// Bytes used, line end included.
        used: usize,
    },
    /// No line end yet, and still under the cap.
    More,
    /// `cap` bytes without a line end.
    TooLong,
}

/// Finds the first line of `buf`, at most `cap` bytes long with its `\n`.
pub(crate) fn line(buf: &[u8], cap: usize) -> Line<'_> {
    line_from(buf, 0, cap)
}

/// [`line`], searching from `from` (the bytes before it are known to hold
/// no `\n`): a caller that keeps how far it searched never rescans.
pub(crate) fn line_from(buf: &[u8], from: usize, cap: usize) -> Line<'_> {
    let window = &buf[..buf.len().min(cap)];
    match memchr::memchr(b'\n', &window[from.min(window.len())..]) {
        Some(i) => {
            let end = from + i;
            let text = &buf[..end];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            Line::Found { text, used: end + 1 }
        }
        None if buf.len() >= cap => Line::TooLong,
        None => Line::More,
    }
}

impl From<NameError> for Refusal {
    fn from(e: NameError) -> Refusal {
        Refusal::new(ErrorCode::BadName, e.to_string())
    }
}
