//! The incremental request-head parser and the parsed [`RequestHead`].
//!
//! [`HeadParser::parse`] is called with a buffer that starts at the first
//! byte of the request and only grows between calls. It remembers how far it
//! searched and which lines it has already parsed, so every byte is searched
//! once (memchr for the line end) and validated once (when its line is
//! complete): O(n) however the input is split. Fields are recorded as spans
//! into the buffer; [`HeadParser::take`] turns them, with the head's bytes
//! as a [`Bytes`], into a [`RequestHead`] without copying a field.

use alloc::vec::Vec;
use bytes::Bytes;

use super::chars::{self, is_token, value_ok};
use super::{Error, Limits};

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the exchange unless the
    /// request asks for keep-alive.
    Http10,
    /// HTTP/1.1 (and 1.x for x > 1, handled as 1.1 per RFC 9110 §2.5).
    Http11,
}

/// The form of a request-target (RFC 9112 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `/path?query`.
    Origin,
    /// `http://host/path` (the server ignores `Host` for routing).
    Absolute,
    /// `host:port`, only with CONNECT.
    Authority,
    /// `*`, only with OPTIONS.
    Asterisk,
}

/// How the request body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// Exactly this many bytes follow the head (0: no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        // Positions are bounded by `max_head`, itself clamped to u32::MAX.
        Span { start: start as u32, len: (end - start) as u32 }
    }
    fn get(self, b: &[u8]) -> &[u8] {
        &b[self.start as usize..(self.start + self.len) as usize]
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FieldSpan {
    name: Span,
    value: Span,
}

/// A parsed request head: request-line, fields and what they mean for
/// framing and the connection. Borrowing accessors return slices of the
/// head's own bytes (no copies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    bytes: Bytes,
    method: Span,
    target: Span,
    version: Version,
    form: TargetForm,
    fields: Vec<FieldSpan>,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
}

fn ascii(b: &[u8]) -> &str {
    // Method and target were validated as ASCII, so this never fails; the
    // fallback keeps peer input from ever reaching a panic.
    core::str::from_utf8(b).unwrap_or("")
}

impl RequestHead {
    /// The method, e.g. `GET` (case-sensitive, as sent).
    pub fn method(&self) -> &str {
        ascii(self.method.get(&self.bytes))
    }
    /// The request-target as sent, e.g. `/a?b=c`.
    pub fn target(&self) -> &str {
        ascii(self.target.get(&self.bytes))
    }
    /// The form of the target.
    pub fn target_form(&self) -> TargetForm {
        self.form
    }
    /// The version.
    pub fn version(&self) -> Version {
        self.version
    }
    /// How the body is framed.
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }
    /// Whether the connection stays open after this exchange (HTTP/1.1
    /// without `Connection: close`, or HTTP/1.0 with `keep-alive`).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }
    /// Whether the request carried `Expect: 100-continue`.
    pub fn expects_continue(&self) -> bool {
        self.expect_continue
    }
    /// Whether the method is `HEAD` (the response carries no body).
    pub fn is_head(&self) -> bool {
        self.method.get(&self.bytes) == b"HEAD"
    }
    /// The field lines in order: names as sent (ASCII tokens), values with
    /// surrounding whitespace trimmed.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&str, &[u8])> + '_ {
        self.fields.iter().map(|f| (ascii(f.name.get(&self.bytes)), f.value.get(&self.bytes)))
    }
    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
    /// The raw bytes of the head, CRLFs included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// At a line start before the request-line (empty lines are skipped).
    Start,
    /// CR of an empty leading line seen; LF next.
    StartLf,
    Method,
    Target,
    /// The ten bytes `HTTP/x.y` CR LF.
    Version,
    /// At the start of a field line, or of the blank line ending the head.
    FieldStart {
        first: bool,
    },
    FieldName,
    /// After the colon: optional whitespace.
    ValueWs,
    Value,
    /// CR after a field value seen; LF next.
    ValueLf,
    /// CR of the blank line seen; LF next.
    EndLf,
    Done,
}

/// The incremental request-head parser: it records fields as spans into
/// the caller's buffer, and [`HeadParser::take`] turns them, with the head's
/// bytes as one [`Bytes`], into a [`RequestHead`] without copying a field.
///
/// It is a resumable scanner: `pos` is where the next call goes on, and
/// every byte before it has been checked, so nothing is scanned twice. A
/// verdict depends only on the bytes, never on how they were split: limits
/// are enforced as positions in the stream (the head must end within
/// `max_head` bytes, the target within `max_target`).
///
/// ```
/// use bytes::Bytes;
/// use sansnet_proto::http::{HeadParser, Limits};
///
/// let input = b"GET /hello HTTP/1.1\r\nHost: example\r\n\r\nrest";
/// let mut p = HeadParser::new(&Limits::default());
/// assert_eq!(p.parse(&input[..10]), Ok(None)); // partial: call again
/// let n = p.parse(input).unwrap().unwrap(); // the same buffer, grown
/// assert_eq!(&input[n..], b"rest");
/// let head = p.take(Bytes::copy_from_slice(&input[..n]));
/// assert_eq!((head.method(), head.target()), ("GET", "/hello"));
/// assert_eq!(head.field("host"), Some(&b"example"[..]));
/// ```
#[derive(Clone, Debug)]
pub struct HeadParser {
    max_head: usize,
    max_target: usize,
    max_fields: usize,
    phase: Phase,
    /// Where the next call resumes; every byte before it is checked.
    pos: usize,
    /// Start of the token being scanned (method, target, name, value).
    mark: usize,
    /// The CR ending the current value.
    value_end: usize,
    name: Span,
    /// Bytes stepped over by earlier requests; `inspected + pos` in all.
    inspected: u64,
    /// While `pos < trickle_until`, one more byte of class `trickle` (a
    /// [`TRICKLE`] bit) only moves `pos`: the byte-at-a-time fast path.
    /// Zero outside the phases where that holds.
    trickle_until: usize,
    trickle: u8,
    method: Span,
    target: Span,
    version: Version,
    form: TargetForm,
    fields: Vec<FieldSpan>,
    hosts: u32,
    content_length: Option<u64>,
    te: Te,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

/// What the `Transfer-Encoding` lines said so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Te {
    present: bool,
    chunked_last: bool,
    chunked_seen: bool,
    /// chunked twice, chunked with parameters, or a coding after chunked.
    bad: bool,
    unknown: bool,
}

impl HeadParser {
    /// A parser enforcing the head limits of `limits`.
    pub fn new(limits: &Limits) -> HeadParser {
        HeadParser {
            max_head: limits.max_head.clamp(1, u32::MAX as usize),
            max_target: limits.max_target.max(1),
            max_fields: limits.max_fields,
            phase: Phase::Start,
            pos: 0,
            mark: 0,
            value_end: 0,
            name: Span::default(),
            inspected: 0,
            trickle_until: 0,
            trickle: 0,
            method: Span::default(),
            target: Span::default(),
            version: Version::Http11,
            form: TargetForm::Origin,
            fields: Vec::new(),
            hosts: 0,
            content_length: None,
            te: Te::default(),
            close: false,
            keep_alive: false,
            expect_continue: false,
        }
    }

    /// Forgets the current request: ready for the next one at offset 0 of
    /// a new buffer.
    pub fn reset(&mut self) {
        self.phase = Phase::Start;
        self.inspected += self.pos as u64;
        self.pos = 0;
        self.trickle_until = 0;
        self.mark = 0;
        self.fields.clear();
        self.hosts = 0;
        self.content_length = None;
        self.te = Te::default();
        self.close = false;
        self.keep_alive = false;
        self.expect_continue = false;
    }

    /// How many bytes this parser has stepped over since it was made: each
    /// byte of the input once, which tests check as the linear bound.
    pub fn bytes_inspected(&self) -> u64 {
        self.inspected + self.pos as u64
    }

    /// Whether any byte of a request has been seen since the last reset.
    pub fn has_partial(&self) -> bool {
        self.pos > 0
    }

    /// Parses as much of the head in `buf` as has arrived.
    ///
    /// `buf` must start at the request's first byte and hold everything an
    /// earlier call saw (it may grow between calls). Returns `Ok(Some(n))`
    /// when the head is complete (`buf[..n]` is the head, the body starts at
    /// `n`), `Ok(None)` when more bytes are needed, or the error to answer.
    /// After an error or a complete head, call [`take`](Self::take) or
    /// [`reset`](Self::reset) before parsing the next request.
    #[inline]
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        // Byte-at-a-time inside a token or value: one table lookup, inlined
        // into the caller.
        let p = self.pos;
        if buf.len() == p + 1
            && p < self.trickle_until
            && TRICKLE[buf[p] as usize] & self.trickle != 0
        {
            // `buf.len()`, not `p + 1`: the next call's load of `pos` then
            // does not wait on this one's.
            self.pos = buf.len();
            return Ok(None);
        }
        self.parse_more(buf)
    }

    #[inline(never)]
    fn parse_more(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        let from = self.pos;
        // Fast path for a trickle (bytes arriving a few at a time) inside a
        // token or value: nothing ends, nothing to record, just step over.
        if let Some(new @ [_, ..]) = buf.get(from..)
            && new.len() <= 8
            && buf.len() < self.max_head
            && self.trickle != 0
            && new.iter().all(|&c| TRICKLE[c as usize] & self.trickle != 0)
        {
            self.pos = buf.len();
            return Ok(None);
        }
        let r = self.run(buf);
        (self.trickle, self.trickle_until) = match (&r, self.phase) {
            (Ok(None), Phase::Value) => (VALUE_BYTE, self.max_head - 1),
            (Ok(None), Phase::FieldName | Phase::Method) => (TOKEN_BYTE, self.max_head - 1),
            _ => (0, 0),
        };
        r
    }

    fn run(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        // Scan at most max_head bytes: a head not ended by then is too large.
        let lim = buf.len().min(self.max_head);
        let b = &buf[..lim];
        let done = match self.phase {
            Phase::Done => return Ok(Some(self.pos)),
            Phase::Start | Phase::StartLf | Phase::Method | Phase::Target | Phase::Version => {
                self.request_line(b)? && self.fields(b)?
            }
            _ => self.fields(b)?,
        };
        if done {
            return Ok(Some(self.pos));
        }
        // Out of bytes. If that is because the head limit was reached, the
        // head cannot end within it.
        if lim == self.max_head {
            return Err(Error::HeadTooLarge);
        }
        Ok(None)
    }

    /// The request-line, resumed at `self.phase`; written as a straight run
    /// of steps (not a dispatch loop) so a whole line costs no indirect
    /// jumps. `Ok(false)`: out of bytes.
    fn request_line(&mut self, b: &[u8]) -> Result<bool, Error> {
        while matches!(self.phase, Phase::Start | Phase::StartLf) {
            let p = self.pos;
            let Some(&c) = b.get(p) else { return Ok(false) };
            if self.phase == Phase::StartLf {
                if c != b'\n' {
                    return Err(Error::BareCr);
                }
                self.pos = p + 1;
                self.phase = Phase::Start;
            } else if c == b'\r' {
                // RFC 9112 §2.2: ignore empty lines before the request-line.
                self.pos = p + 1;
                self.phase = Phase::StartLf;
            } else {
                self.mark = p;
                self.phase = Phase::Method;
            }
        }
        if self.phase == Phase::Method {
            let i = scan_token(b, self.pos);
            self.pos = i;
            let Some(&c) = b.get(i) else { return Ok(false) };
            if c != b' ' || i == self.mark {
                return Err(match c {
                    b'\n' => Error::BareLf,
                    0 => Error::Nul,
                    _ if i == self.mark => Error::BadMethod,
                    _ => Error::BadRequestLine,
                });
            }
            self.method = Span::new(self.mark, i);
            self.pos = i + 1;
            self.mark = i + 1;
            self.phase = Phase::Target;
        }
        if self.phase == Phase::Target {
            // Look at most one byte past the target limit.
            let cap = b.len().min(self.mark.saturating_add(self.max_target + 1));
            let i = chars::scan_target(&b[..cap], self.pos);
            self.pos = i;
            if i - self.mark > self.max_target {
                return Err(Error::TargetTooLong);
            }
            let Some(&c) = b.get(i) else { return Ok(false) };
            if c != b' ' || i == self.mark {
                return Err(match c {
                    0 => Error::Nul,
                    b'\n' => Error::BareLf,
                    b' ' | b'\r' => Error::BadRequestLine,
                    _ => Error::BadTarget,
                });
            }
            self.target = Span::new(self.mark, i);
            self.form = target_form(self.method.get(b), self.target.get(b))?;
            self.pos = i + 1;
            self.phase = Phase::Version;
        }
        // Phase::Version: `HTTP/d.d` CR LF, judged byte by byte as the bytes
        // come, so a short or wrong version fails at its first wrong byte,
        // whatever follows and however the input is split.
        let p = self.pos;
        let v = &b[p..b.len().min(p + 10)];
        let common = match v {
            b"HTTP/1.1\r\n" => Some(Version::Http11),
            b"HTTP/1.0\r\n" => Some(Version::Http10),
            _ => None,
        };
        if let Some(version) = common {
            self.version = version;
            self.pos = p + 10;
            self.phase = Phase::FieldStart { first: true };
            return Ok(true);
        }
        for (i, &c) in v.iter().enumerate().take(8) {
            let fits = match i {
                0..=4 => c == b"HTTP/"[i],
                6 => c == b'.',
                _ => c.is_ascii_digit(),
            };
            if !fits {
                return Err(match c {
                    0 => Error::Nul,
                    b'\n' => Error::BareLf,
                    _ => Error::BadVersion,
                });
            }
        }
        let Some(version) = v.get(..8) else { return Ok(false) };
        self.version = parse_version(version)?;
        match (v.get(8), v.get(9)) {
            (Some(b'\r'), Some(b'\n')) => {}
            (Some(b'\r'), Some(_)) => return Err(Error::BareCr),
            (Some(b'\n'), _) => return Err(Error::BareLf),
            (Some(b'\r') | None, _) => return Ok(false),
            (Some(_), _) => return Err(Error::BadVersion),
        }
        self.pos = p + 10;
        self.phase = Phase::FieldStart { first: true };
        Ok(true)
    }

    /// Field lines up to the blank line, resumed at `self.phase`; each line
    /// is a straight run of steps. `Ok(true)`: the head is complete.
    fn fields(&mut self, b: &[u8]) -> Result<bool, Error> {
        loop {
            if let Phase::FieldStart { first } = self.phase {
                let p = self.pos;
                let Some(&c) = b.get(p) else { return Ok(false) };
                match c {
                    b'\r' => {
                        self.pos = p + 1;
                        self.phase = Phase::EndLf;
                    }
                    b'\n' => return Err(Error::BareLf),
                    b' ' | b'\t' if first => return Err(Error::WhitespaceAfterStartLine),
                    b' ' | b'\t' => return Err(Error::ObsFold),
                    _ => {
                        if self.fields.len() >= self.max_fields {
                            return Err(Error::TooManyFields);
                        }
                        self.mark = p;
                        self.phase = Phase::FieldName;
                    }
                }
            }
            if self.phase == Phase::EndLf {
                let p = self.pos;
                let Some(&c) = b.get(p) else { return Ok(false) };
                if c != b'\n' {
                    return Err(Error::BareCr);
                }
                self.pos = p + 1;
                self.finish_head()?;
                self.phase = Phase::Done;
                return Ok(true);
            }
            if self.phase == Phase::FieldName {
                let i = scan_token(b, self.pos);
                self.pos = i;
                let Some(&c) = b.get(i) else { return Ok(false) };
                match c {
                    b':' if i > self.mark => {}
                    b' ' | b'\t' if i > self.mark => return Err(Error::SpaceBeforeColon),
                    0 => return Err(Error::Nul),
                    b'\n' => return Err(Error::BareLf),
                    _ => return Err(Error::BadFieldName),
                }
                self.name = Span::new(self.mark, i);
                self.pos = i + 1;
                self.phase = Phase::ValueWs;
            }
            if self.phase == Phase::ValueWs {
                let mut i = self.pos;
                while let Some(b' ' | b'\t') = b.get(i) {
                    i += 1;
                }
                self.pos = i;
                if i == b.len() {
                    return Ok(false);
                }
                self.mark = i;
                self.phase = Phase::Value;
            }
            if self.phase == Phase::Value {
                let i = chars::scan_value(b, self.pos);
                self.pos = i;
                let Some(&c) = b.get(i) else { return Ok(false) };
                match c {
                    b'\r' => {}
                    b'\n' => return Err(Error::BareLf),
                    0 => return Err(Error::Nul),
                    _ => return Err(Error::BadFieldValue),
                }
                self.value_end = i;
                self.pos = i + 1;
                self.phase = Phase::ValueLf;
            }
            // Phase::ValueLf
            let p = self.pos;
            let Some(&c) = b.get(p) else { return Ok(false) };
            if c != b'\n' {
                return Err(Error::BareCr);
            }
            let mut end = self.value_end;
            while end > self.mark && matches!(b[end - 1], b' ' | b'\t') {
                end -= 1;
            }
            let value = Span::new(self.mark, end);
            self.field_semantics(self.name.get(b), value.get(b))?;
            self.fields.push(FieldSpan { name: self.name, value });
            self.pos = p + 1;
            self.phase = Phase::FieldStart { first: false };
        }
    }

    fn field_semantics(&mut self, name: &[u8], value: &[u8]) -> Result<(), Error> {
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                self.hosts += 1;
                if self.hosts > 1 {
                    return Err(Error::DuplicateHost);
                }
                if !chars::host_ok(value) {
                    return Err(Error::BadHost);
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect")
                && value.eq_ignore_ascii_case(b"100-continue") =>
            {
                self.expect_continue = true;
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for opt in list(value) {
                    if opt.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if opt.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive = true;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // RFC 9112 §6.3: a list of identical values may be used as one.
                let mut any = false;
                for v in value.split(|&b| b == b',') {
                    let n = parse_content_length(trim(v))?;
                    match self.content_length {
                        Some(old) if old != n => return Err(Error::ConflictingContentLength),
                        _ => self.content_length = Some(n),
                    }
                    any = true;
                }
                if !any {
                    return Err(Error::BadContentLength);
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                let te = &mut self.te;
                te.present = true;
                let mut any = false;
                for coding in list(value) {
                    any = true;
                    if te.chunked_last {
                        // Anything after chunked: chunked is not final.
                        te.bad = true;
                    }
                    let name_end =
                        coding.iter().position(|&b| !is_token(b)).unwrap_or(coding.len());
                    let (cname, params) = coding.split_at(name_end);
                    if cname.eq_ignore_ascii_case(b"chunked") {
                        if te.chunked_seen || !params.is_empty() {
                            te.bad = true;
                        }
                        te.chunked_seen = true;
                        te.chunked_last = true;
                    } else {
                        if cname.is_empty() {
                            te.bad = true;
                        }
                        te.unknown = true;
                        te.chunked_last = false;
                    }
                }
                if !any {
                    te.bad = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish_head(&mut self) -> Result<(), Error> {
        if self.te.present {
            if self.version == Version::Http10 {
                return Err(Error::TransferEncodingInHttp10);
            }
            if self.content_length.is_some() {
                return Err(Error::ContentLengthAndTransferEncoding);
            }
            if self.te.bad || (self.te.chunked_seen && !self.te.chunked_last) {
                return Err(Error::BadTransferEncoding);
            }
            if self.te.unknown {
                return Err(Error::UnknownTransferCoding);
            }
        }
        if self.hosts == 0 && self.version == Version::Http11 {
            return Err(Error::MissingHost);
        }
        Ok(())
    }

    /// Builds the [`RequestHead`] of a complete head and resets the parser.
    ///
    /// `head` must hold the bytes `buf[..n]` of the buffer for which
    /// [`parse`](Self::parse) returned `Ok(Some(n))`; the head borrows its
    /// fields from it.
    pub fn take(&mut self, head: Bytes) -> RequestHead {
        debug_assert_eq!(self.phase, Phase::Done, "take() before the head was complete");
        let body = if self.te.chunked_last {
            BodyKind::Chunked
        } else {
            BodyKind::Length(self.content_length.unwrap_or(0))
        };
        let keep_alive = match self.version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        };
        let expect_continue = self.expect_continue && self.version == Version::Http11;
        let fields = core::mem::take(&mut self.fields);
        let out = RequestHead {
            bytes: head,
            method: self.method,
            target: self.target,
            version: self.version,
            form: self.form,
            fields,
            body,
            keep_alive,
            expect_continue,
        };
        self.reset();
        out
    }
}

const TOKEN_BYTE: u8 = 1;
const VALUE_BYTE: u8 = 2;

/// The byte classes of the trickle fast path: [`TOKEN_BYTE`] for `tchar`,
/// [`VALUE_BYTE`] for a value byte that ends nothing (VCHAR, SP, obs-text).
static TRICKLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        if chars::TOKEN_CHARS[b] {
            t[b] |= TOKEN_BYTE;
        }
        if b >= 0x20 && b != 0x7f {
            t[b] |= VALUE_BYTE;
        }
        b += 1;
    }
    t
};

/// Index of the first non-`tchar` byte at or after `from`, or `b.len()`.
#[inline]
fn scan_token(b: &[u8], from: usize) -> usize {
    b[from..].iter().position(|&c| !is_token(c)).map_or(b.len(), |k| from + k)
}

/// Picks the most precise error for a line that failed a check.
fn classify(bytes: &[u8], otherwise: Error) -> Error {
    if bytes.contains(&0) {
        Error::Nul
    } else if bytes.contains(&b'\r') {
        Error::BareCr
    } else {
        otherwise
    }
}

fn parse_version(v: &[u8]) -> Result<Version, Error> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major == b'1' {
                Ok(Version::Http11)
            } else {
                Err(Error::VersionNotSupported)
            }
        }
        _ if v.contains(&0) => Err(Error::Nul),
        _ => Err(Error::BadVersion),
    }
}

fn target_form(method: &[u8], target: &[u8]) -> Result<TargetForm, Error> {
    let form = match target[0] {
        b'/' => TargetForm::Origin,
        b'*' if target.len() == 1 => TargetForm::Asterisk,
        _ if method == b"CONNECT" => TargetForm::Authority,
        _ => TargetForm::Absolute,
    };
    let ok = match form {
        TargetForm::Origin => method != b"CONNECT",
        TargetForm::Asterisk => method == b"OPTIONS",
        TargetForm::Authority => authority_ok(target),
        TargetForm::Absolute => scheme_len(target).is_some(),
    };
    if ok { Ok(form) } else { Err(Error::BadTarget) }
}

/// `scheme ":"` at the start of an absolute-URI: its length.
fn scheme_len(t: &[u8]) -> Option<usize> {
    let colon = t.iter().position(|&b| b == b':')?;
    let scheme = &t[..colon];
    let ok = scheme.first()?.is_ascii_alphabetic()
        && scheme.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    ok.then_some(colon)
}

/// authority-form: `host:port`, no path.
fn authority_ok(t: &[u8]) -> bool {
    let Some(colon) = t.iter().rposition(|&b| b == b':') else { return false };
    let port = &t[colon + 1..];
    colon > 0 && !port.is_empty() && port.iter().all(u8::is_ascii_digit) && chars::host_ok(t)
}

/// Splits a field line `name ":" OWS value OWS` (CRLF excluded) into spans.
fn parse_field_line(buf: &[u8], start: usize, end: usize) -> Result<(Span, Span), Error> {
    let line = &buf[start..end];
    let n = line.iter().position(|&b| !is_token(b)).unwrap_or(line.len());
    match line.get(n) {
        Some(b':') if n > 0 => {}
        Some(b' ' | b'\t') if n > 0 => return Err(Error::SpaceBeforeColon),
        _ => return Err(classify(line, Error::BadFieldName)),
    }
    let mut v0 = n + 1;
    let mut v1 = line.len();
    while v0 < v1 && matches!(line[v0], b' ' | b'\t') {
        v0 += 1;
    }
    while v1 > v0 && matches!(line[v1 - 1], b' ' | b'\t') {
        v1 -= 1;
    }
    if !value_ok(&line[v0..v1]) {
        return Err(classify(&line[v0..v1], Error::BadFieldValue));
    }
    Ok((Span::new(start, start + n), Span::new(start + v0, start + v1)))
}

/// Validates a field line without recording it (trailer sections).
pub(crate) fn check_field_line(line: &[u8]) -> Result<(), Error> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(Error::ObsFold);
    }
    parse_field_line(line, 0, line.len()).map(|_| ())
}

fn trim(v: &[u8]) -> &[u8] {
    let a = v.iter().position(|&b| !matches!(b, b' ' | b'\t')).unwrap_or(v.len());
    let z = v.iter().rposition(|&b| !matches!(b, b' ' | b'\t')).map_or(a, |z| z + 1);
    &v[a..z]
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1).
fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|e| !e.is_empty())
}

/// `Content-Length = 1*DIGIT`, overflow-checked.
fn parse_content_length(v: &[u8]) -> Result<u64, Error> {
    if v.is_empty() {
        return Err(Error::BadContentLength);
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return Err(Error::BadContentLength);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(Error::BadContentLength)?;
    }
    Ok(n)
}
