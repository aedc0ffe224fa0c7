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
    RequestLine,
    FirstField,
    Fields,
    Done,
}

/// The incremental request-head parser. See the [module docs](self).
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
    /// Start of the line being parsed (everything before is parsed).
    line: usize,
    /// Where the search for the next LF resumes.
    scanned: usize,
    /// A partial buffer no longer than this needs no limit check.
    partial_ok: usize,
    inspected: u64,
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
        let max_head = limits.max_head.clamp(1, u32::MAX as usize);
        let mut p = HeadParser {
            max_head,
            max_target: limits.max_target.max(1),
            max_fields: limits.max_fields,
            phase: Phase::RequestLine,
            line: 0,
            scanned: 0,
            partial_ok: 0,
            inspected: 0,
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
        };
        p.partial_ok = p.request_line_budget();
        p
    }

    /// The offset past which a request-line starting at `self.line` cannot
    /// hold a target within the limit (method and version allowance: 64
    /// bytes), or the head limit if that comes first.
    fn request_line_budget(&self) -> usize {
        self.max_head.min(self.line.saturating_add(self.max_target.saturating_add(64)))
    }

    /// Forgets the current request: ready for the next one at offset 0 of
    /// a new buffer.
    pub fn reset(&mut self) {
        self.phase = Phase::RequestLine;
        self.line = 0;
        self.scanned = 0;
        self.fields.clear();
        self.hosts = 0;
        self.content_length = None;
        self.te = Te::default();
        self.close = false;
        self.keep_alive = false;
        self.expect_continue = false;
        self.partial_ok = self.request_line_budget();
    }

    /// How many bytes this parser has looked at since it was made (a
    /// counter for tests of the linear bound: searches plus validations).
    pub fn bytes_inspected(&self) -> u64 {
        self.inspected
    }

    /// Whether any byte of a request has been seen since the last reset.
    pub fn has_partial(&self) -> bool {
        self.scanned > 0
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
        // Fast path for a trickle of bytes that ends no line: no call into
        // memchr, no limit work while the buffer is within budget.
        let new = buf.get(self.scanned..).unwrap_or_default();
        if new.len() <= 4 && buf.len() <= self.partial_ok && self.phase != Phase::Done {
            self.inspected += new.len() as u64;
            if !new.contains(&b'\n') {
                self.scanned = buf.len();
                return Ok(None);
            }
            self.inspected -= new.len() as u64;
        }
        self.parse_slow(buf)
    }

    fn parse_slow(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        if self.phase == Phase::Done {
            return Ok(Some(self.line));
        }
        loop {
            let rest = &buf[self.scanned..];
            let Some(i) = find_lf(rest) else {
                self.inspected += rest.len() as u64;
                self.scanned = buf.len();
                return self.check_partial(buf).map(|()| None);
            };
            self.inspected += i as u64 + 1;
            let lf = self.scanned + i;
            if lf >= self.max_head || lf > self.partial_ok {
                return Err(self.oversize(buf));
            }
            self.scanned = lf + 1;
            // A line must end in CRLF.
            if lf == self.line || buf[lf - 1] != b'\r' {
                return Err(Error::BareLf);
            }
            let (start, end) = (self.line, lf - 1);
            self.inspected += (end - start) as u64;
            self.line = lf + 1;
            match self.phase {
                Phase::RequestLine => {
                    if start == end {
                        // RFC 9112 §2.2: ignore empty lines before the request-line.
                        self.partial_ok = self.request_line_budget();
                        continue;
                    }
                    self.request_line(buf, start, end)?;
                    self.phase = Phase::FirstField;
                    self.partial_ok = self.max_head;
                }
                Phase::FirstField | Phase::Fields => {
                    if start == end {
                        self.finish_head()?;
                        self.phase = Phase::Done;
                        return Ok(Some(self.line));
                    }
                    if matches!(buf[start], b' ' | b'\t') {
                        return Err(if self.phase == Phase::FirstField {
                            Error::WhitespaceAfterStartLine
                        } else {
                            Error::ObsFold
                        });
                    }
                    self.phase = Phase::Fields;
                    if self.fields.len() >= self.max_fields {
                        return Err(Error::TooManyFields);
                    }
                    let (name, value) = parse_field_line(buf, start, end)?;
                    self.field_semantics(name.get(buf), value.get(buf))?;
                    self.fields.push(FieldSpan { name, value });
                }
                Phase::Done => unreachable!("returned above when Done"),
            }
        }
    }

    /// No LF in the buffer yet: is what we have already over a limit?
    fn check_partial(&self, buf: &[u8]) -> Result<(), Error> {
        if buf.len() <= self.partial_ok {
            return Ok(());
        }
        Err(self.oversize(buf))
    }

    /// The head grew past a limit without ending: which error is it?
    fn oversize(&self, buf: &[u8]) -> Error {
        if self.phase == Phase::RequestLine {
            // Is it the target that is too long? Runs once: the answer is an
            // error. Looks only at the bytes up to the budget, which every
            // split of the input has, so the verdict does not depend on it.
            let line = &buf[self.line..buf.len().min(self.partial_ok + 1)];
            if let Some(sp) = memchr::memchr(b' ', line) {
                let target = &line[sp + 1..];
                let len = memchr::memchr(b' ', target).unwrap_or(target.len());
                if len > self.max_target {
                    return Error::TargetTooLong;
                }
            }
            if self.partial_ok >= self.max_head {
                return Error::HeadTooLarge;
            }
            return Error::BadRequestLine;
        }
        Error::HeadTooLarge
    }

    fn request_line(&mut self, buf: &[u8], start: usize, end: usize) -> Result<(), Error> {
        let line = &buf[start..end];
        // method
        let m = line.iter().position(|&b| !is_token(b)).unwrap_or(line.len());
        if m == 0 {
            return Err(classify(line, Error::BadMethod));
        }
        if line.get(m) != Some(&b' ') {
            return Err(classify(line, Error::BadRequestLine));
        }
        let t0 = m + 1;
        // target: up to the next SP, visible ASCII only
        let t_len = memchr::memchr(b' ', &line[t0..]).ok_or(Error::BadRequestLine)?;
        if t_len == 0 {
            return Err(Error::BadRequestLine);
        }
        if t_len > self.max_target {
            return Err(Error::TargetTooLong);
        }
        let target = &line[t0..t0 + t_len];
        if !chars::target_ok(target) {
            return Err(classify(target, Error::BadTarget));
        }
        self.version = parse_version(&line[t0 + t_len + 1..])?;
        let method = &line[..m];
        self.form = target_form(method, target)?;
        self.method = Span::new(start, start + m);
        self.target = Span::new(start + t0, start + t0 + t_len);
        Ok(())
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
            6 if name.eq_ignore_ascii_case(b"expect") => {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    self.expect_continue = true;
                }
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
                    let name_end = coding.iter().position(|&b| !is_token(b)).unwrap_or(coding.len());
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

#[inline]
fn find_lf(s: &[u8]) -> Option<usize> {
    if s.len() < 16 { s.iter().position(|&b| b == b'\n') } else { memchr::memchr(b'\n', s) }
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
            if *major == b'1' { Ok(Version::Http11) } else { Err(Error::VersionNotSupported) }
        }
        _ => Err(classify(v, Error::BadVersion)),
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
fn parse_field_line(
    buf: &[u8],
    start: usize,
    end: usize,
) -> Result<(Span, Span), Error> {
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
