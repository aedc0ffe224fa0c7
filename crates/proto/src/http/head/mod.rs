//! The incremental request-head parser and the parsed [`RequestHead`].
//!
//! The head is a request-line ([`line`]: method, target, version) and a
//! field section ([`fields`]: the one field-line scanner, shared with the
//! trailer section of a chunked body, and what the fields mean for
//! framing). [`HeadParser`] runs the two in turn.
//!
//! [`HeadParser::parse`] is called with a buffer that starts at the first
//! byte of the request and only grows between calls. It remembers how far it
//! searched and which lines it has already parsed, so every byte is scanned
//! about once, searching and validating in one pass (the scanners of
//! [`chars`](super::chars): 16 then 32 bytes a SIMD step for values and
//! targets, eight a SWAR step for names): O(n) however the input is split.
//!
//! Most heads arrive whole in one read, so the common shapes go by fast
//! paths in locals, the state written once: a request-line `method SP
//! target SP HTTP/1.x CRLF` found whole at the start of a request
//! (`whole_request_line`), field lines found whole one after
//! another from a line start (`whole_field_lines`). They decide nothing
//! themselves but success: where one meets anything else (out of bytes, a
//! byte the grammar rejects, a limit, an obs-fold, a lone CR, a version
//! other than 1.1 and 1.0), it stops at the start of that line and the
//! resumable steps take the line from there, so every verdict is the steps'
//! (the proptests `whole_heads_give_the_verdict_of_the_steps` and
//! `whole_field_lines_give_the_verdict_of_the_steps` check it whole, byte
//! by byte and cut anywhere). A line may so be looked at twice in the call
//! where a fast path stops: still O(n).
//!
//! Fields are recorded as spans into the buffer; [`HeadParser::take`]
//! turns them, with the head's bytes as a [`Bytes`], into a
//! [`RequestHead`] without copying a field.

use alloc::vec::Vec;
use bytes::Bytes;

use super::chars::{self, scan_token};
use super::{Error, Limits};

mod fields;
mod line;

use fields::Semantics;
pub(crate) use fields::{FieldScanner, Scanned};

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
pub(crate) struct Span {
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

/// One field line: its name and its trimmed value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    name: Span,
    value: Span,
}

/// How many field spans a [`RequestHead`] holds in place; a head with more
/// keeps them on the heap. Load generators and curl send no more (curl:
/// `Host`, `User-Agent`, `Accept`), so their requests cost no allocation
/// for the fields. More would make every head larger to move (a head goes
/// from the parser to the event queue to the application): at 8 the
/// moves cost more than the allocation they saved.
const INLINE_FIELDS: usize = 3;

/// A head's field spans, in place or on the heap.
#[derive(Clone, Debug)]
enum Fields {
    Inline { spans: [FieldSpan; INLINE_FIELDS], len: u8 },
    Heap(Vec<FieldSpan>),
}

impl Fields {
    /// The parser's spans: copied when they fit in place (the parser keeps
    /// its vector's memory for the next request), else taken.
    fn take_from(parsed: &mut Vec<FieldSpan>) -> Fields {
        if parsed.len() <= INLINE_FIELDS {
            let mut spans = [FieldSpan::default(); INLINE_FIELDS];
            spans[..parsed.len()].copy_from_slice(parsed);
            let len = parsed.len() as u8;
            parsed.clear();
            Fields::Inline { spans, len }
        } else {
            Fields::Heap(core::mem::take(parsed))
        }
    }

    fn as_slice(&self) -> &[FieldSpan] {
        match self {
            Fields::Inline { spans, len } => &spans[..usize::from(*len)],
            Fields::Heap(v) => v,
        }
    }
}

impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Fields {}

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
    fields: Fields,
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
        let fields = self.fields.as_slice().iter();
        fields.map(|f| (ascii(f.name.get(&self.bytes)), f.value.get(&self.bytes)))
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

/// Where the parser is within the head.
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
    /// In the field section: the [`FieldScanner`] knows where.
    Fields,
    /// The head is complete.
    Done,
}

/// The incremental request-head parser: it records fields as spans into
/// the caller's buffer, and [`HeadParser::take`] turns them, with the head's
/// bytes as one [`Bytes`], into a [`RequestHead`] without copying a field.
///
/// It is a resumable scanner: `pos` is where the next call goes on, and
/// every byte before it has been checked, so nothing is scanned twice
/// (but the line where a fast path for a whole head stops). A
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
    /// Start of the token being scanned (method, target).
    mark: usize,
    /// The field section, once the request-line is read.
    section: FieldScanner,
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
    semantics: Semantics,
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
            section: FieldScanner::new(true, limits.max_fields),
            inspected: 0,
            trickle_until: 0,
            trickle: 0,
            method: Span::default(),
            target: Span::default(),
            version: Version::Http11,
            form: TargetForm::Origin,
            fields: Vec::new(),
            semantics: Semantics::default(),
        }
    }

    /// Forgets the current request: ready for the next one at offset 0 of
    /// a new buffer.
    pub fn reset(&mut self) {
        self.phase = Phase::Start;
        self.inspected += self.pos as u64;
        self.pos = 0;
        self.trickle_until = 0;
        self.trickle = 0;
        self.mark = 0;
        self.section.restart();
        self.fields.clear();
        self.semantics = Semantics::default();
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
        if self.phase == Phase::Start {
            return self.parse_start(buf);
        }
        self.parse_more(buf)
    }

    /// At the start of a request: a whole head (the common case) goes
    /// through the request-line and the field lines in one pass, nothing
    /// between. Anything else goes on by the general path from where this
    /// left.
    #[inline(never)]
    fn parse_start(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        let b = &buf[..buf.len().min(self.max_head)];
        if self.whole_request_line(b) && self.field_section(b)? {
            return Ok(Some(self.pos));
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
        let class = match (&r, self.phase) {
            (Ok(None), Phase::Fields) => self.section.trickle_class(),
            (Ok(None), Phase::Method) => TOKEN_BYTE,
            _ => 0,
        };
        (self.trickle, self.trickle_until) =
            if class == 0 { (0, 0) } else { (class, self.max_head - 1) };
        r
    }

    #[inline(always)]
    fn run(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        // Scan at most max_head bytes: a head not ended by then is too large.
        let lim = buf.len().min(self.max_head);
        let b = &buf[..lim];
        let done = match self.phase {
            Phase::Start | Phase::StartLf | Phase::Method | Phase::Target | Phase::Version => {
                self.request_line(b)? && self.field_section(b)?
            }
            Phase::Fields => self.field_section(b)?,
            Phase::Done => return Ok(Some(self.pos)),
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

    /// The field section up to the blank line, each field line recorded and
    /// taken in by the [`Semantics`]. `Ok(true)`: the head is complete.
    fn field_section(&mut self, b: &[u8]) -> Result<bool, Error> {
        Ok(self.whole_field_lines(b)? || self.field_steps(b)?)
    }

    /// Field lines found whole from a line start, one after another in
    /// locals: the scanner's state is written once, after the last.
    /// `Ok(true)`: the blank line ended the head. Where a line is not whole
    /// or not plain (`Ok(false)`), the steps take it from its start.
    #[inline(always)]
    fn whole_field_lines(&mut self, b: &[u8]) -> Result<bool, Error> {
        // Not for the few bytes of a trickle: the steps take those.
        if !self.section.at_line_start() || b.len() < self.pos + 4 {
            return Ok(false);
        }
        let mut p = self.pos;
        let mut count = self.section.count();
        while count < self.max_fields
            && b.get(p) != Some(&b'\r')
            && let Some((field, next)) = fields::whole_field_line(b, p)
        {
            self.semantics.field(b, field)?;
            self.fields.push(field);
            count += 1;
            p = next;
        }
        if word::<2>(b, p) == Some(*b"\r\n") {
            self.semantics.finish(self.version)?;
            self.pos = p + 2;
            self.phase = Phase::Done;
            return Ok(true);
        }
        if p != self.pos {
            self.section.took_lines(count);
            self.pos = p;
        }
        Ok(false)
    }

    /// The field section by the resumable steps of the [`FieldScanner`].
    #[inline(always)]
    fn field_steps(&mut self, b: &[u8]) -> Result<bool, Error> {
        loop {
            match self.section.scan(b, &mut self.pos)? {
                Scanned::Field(field) => {
                    self.semantics.field(b, field)?;
                    self.fields.push(field);
                }
                Scanned::End => {
                    self.semantics.finish(self.version)?;
                    self.phase = Phase::Done;
                    return Ok(true);
                }
                Scanned::More => return Ok(false),
            }
        }
    }

    /// Builds the [`RequestHead`] of a complete head and resets the parser.
    ///
    /// `head` must hold the bytes `buf[..n]` of the buffer for which
    /// [`parse`](Self::parse) returned `Ok(Some(n))`; the head borrows its
    /// fields from it.
    pub fn take(&mut self, head: Bytes) -> RequestHead {
        debug_assert_eq!(self.phase, Phase::Done, "take() before the head was complete");
        let body = self.semantics.body();
        let keep_alive = self.semantics.keep_alive(self.version);
        let expect_continue = self.semantics.expect_continue(self.version);
        let fields = Fields::take_from(&mut self.fields);
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

/// The `N` bytes of `b` at `i`, if all are there.
#[inline(always)]
fn word<const N: usize>(b: &[u8], i: usize) -> Option<[u8; N]> {
    b.get(i..).and_then(<[u8]>::first_chunk::<N>).copied()
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;
    use bytes::BytesMut;

    fn head_with(fields: usize) -> (HeadParser, RequestHead) {
        let mut text = String::from("GET /x HTTP/1.1\r\nHost: a\r\n");
        for i in 1..fields {
            text.push_str(&format!("X-F{i}: v{i}\r\n"));
        }
        text.push_str("\r\n");
        let mut buf = BytesMut::from(text.as_bytes());
        let mut parser = HeadParser::new(&Limits::default());
        let n = parser.parse(&buf).expect("valid").expect("whole");
        let head = parser.take(buf.split_to(n).freeze());
        (parser, head)
    }

    #[test]
    fn a_usual_head_keeps_its_fields_in_place_and_the_parser_its_vector() {
        let (parser, head) = head_with(INLINE_FIELDS);
        assert!(
            matches!(head.fields, Fields::Inline { len, .. } if usize::from(len) == INLINE_FIELDS)
        );
        assert!(parser.fields.capacity() >= INLINE_FIELDS, "kept for the next request");
        assert_eq!(head.fields().len(), INLINE_FIELDS);
        let last = INLINE_FIELDS - 1;
        let value = format!("v{last}");
        assert_eq!(head.field(&format!("x-f{last}")), Some(value.as_bytes()));
        assert_eq!(head.field("host"), Some(&b"a"[..]));
    }

    #[test]
    fn a_head_with_more_fields_keeps_them_all() {
        let (_, head) = head_with(INLINE_FIELDS + 5);
        assert!(matches!(head.fields, Fields::Heap(_)));
        let names: Vec<&str> = head.fields().map(|(n, _)| n).collect();
        assert_eq!(names.len(), INLINE_FIELDS + 5);
        assert_eq!(names[0], "Host");
        let last = INLINE_FIELDS + 4;
        let value = format!("v{last}");
        assert_eq!(head.field(&format!("X-F{last}")), Some(value.as_bytes()));
        assert_eq!(head.clone(), head, "equal by their fields, in place or not");
    }
}
