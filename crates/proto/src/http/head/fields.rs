//! Field sections: the one incremental scanner for `field-line`s (RFC 9112
//! §5), used for the head's fields and for a chunked body's trailer
//! section alike, and what the head's fields mean for framing and the
//! connection ([`Semantics`]).

use super::super::chars::{self, is_token};
use super::super::{Error, Version};
use super::{FieldSpan, Span, scan_token};

/// Where the scanner is within a field section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// At the start of a field line, or of the blank line ending the
    /// section; `first`: right after the request-line.
    LineStart {
        first: bool,
    },
    Name,
    /// After the colon: optional whitespace.
    ValueWs,
    Value,
    /// CR after a field value seen; LF next.
    ValueLf,
    /// CR of the blank line seen; LF next.
    EndLf,
    /// The blank line was read.
    Done,
}

/// What [`FieldScanner::scan`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// One complete field line: name and trimmed value.
    Field(FieldSpan),
    /// The blank line ending the section.
    End,
    /// Out of bytes: call again when more arrive.
    More,
}

/// The resumable scanner of a field section: `*( field-line CRLF ) CRLF`.
///
/// It is called with a buffer that starts where the section's positions
/// count from and only grows between calls, and a position `pos` it moves
/// forward; every byte before `pos` has been checked, so nothing is scanned
/// twice. It enforces the grammar (token names, no whitespace before the
/// colon, no obs-fold, values without CTLs, CRLF line ends) and the field
/// count; the caller bounds the section's size by how much of the buffer
/// it passes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldScanner {
    phase: Phase,
    /// Start of the name or value being scanned.
    mark: usize,
    /// The CR ending the current value.
    value_end: usize,
    name: Span,
    value: Span,
    /// Field lines begun so far.
    count: usize,
    max_fields: usize,
}

/// What the first byte of a line says.
enum LineStart {
    /// A field line: its name starts here.
    Field,
    /// CR: the blank line ending the section.
    Blank,
    /// Out of bytes.
    More,
}

impl FieldScanner {
    /// A scanner of the fields after a request-line (`after_line`: leading
    /// whitespace on the first line is [`Error::WhitespaceAfterStartLine`])
    /// or of a trailer section (it is [`Error::ObsFold`]), allowing
    /// `max_fields` field lines.
    pub(crate) fn new(after_line: bool, max_fields: usize) -> FieldScanner {
        FieldScanner {
            phase: Phase::LineStart { first: after_line },
            mark: 0,
            value_end: 0,
            name: Span::default(),
            value: Span::default(),
            count: 0,
            max_fields,
        }
    }

    /// Back to the start of the fields after a request-line, as
    /// [`new`](Self::new)`(true, ..)` made it: the rest of the state is
    /// always written before it is read.
    #[inline(always)]
    pub(crate) fn restart(&mut self) {
        self.phase = Phase::LineStart { first: true };
        self.count = 0;
    }

    /// Whether the scanner is at the start of a line (a field line's or
    /// the blank line's).
    #[inline(always)]
    pub(crate) fn at_line_start(&self) -> bool {
        matches!(self.phase, Phase::LineStart { .. })
    }

    /// Field lines begun so far.
    #[inline(always)]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The caller took whole field lines itself ([`whole_field_line`]), up
    /// to `count` lines in all, at least one: the scanner is at the start
    /// of the next line.
    #[inline(always)]
    pub(crate) fn took_lines(&mut self, count: usize) {
        self.count = count;
        self.phase = Phase::LineStart { first: false };
    }

    /// Whether a name or a value is being scanned: the trickle fast path's
    /// byte class ([`TOKEN_BYTE`](super::TOKEN_BYTE) or
    /// [`VALUE_BYTE`](super::VALUE_BYTE)), or 0.
    pub(crate) fn trickle_class(&self) -> u8 {
        match self.phase {
            Phase::Name => super::TOKEN_BYTE,
            Phase::Value => super::VALUE_BYTE,
            _ => 0,
        }
    }

    /// Scans on from `*pos` in `b` to the end of the next field line, the
    /// end of the section, or the end of `b`.
    ///
    /// One arm per phase: each runs the steps left in the line from there,
    /// as a straight run (a whole line costs no dispatch between its
    /// steps). Each step moves `*pos`, and the phase once it completes;
    /// `Ok(false)` from a step means out of bytes.
    #[inline(always)]
    pub(crate) fn scan(&mut self, b: &[u8], pos: &mut usize) -> Result<Scanned, Error> {
        let complete = match self.phase {
            Phase::LineStart { first } => match self.line_start(b, pos, first)? {
                LineStart::Field => self.whole_line(b, pos)?,
                LineStart::Blank => return self.end_lf(b, pos),
                LineStart::More => false,
            },
            Phase::Name => self.rest_of_line(b, pos)?,
            Phase::ValueWs => {
                self.value_ws(b, pos) && self.value(b, pos)? && self.value_lf(b, pos)?
            }
            Phase::Value => self.value(b, pos)? && self.value_lf(b, pos)?,
            Phase::ValueLf => self.value_lf(b, pos)?,
            Phase::EndLf => return self.end_lf(b, pos),
            Phase::Done => return Ok(Scanned::End),
        };
        Ok(if complete {
            Scanned::Field(FieldSpan { name: self.name, value: self.value })
        } else {
            Scanned::More
        })
    }

    #[inline(always)]
    fn line_start(&mut self, b: &[u8], pos: &mut usize, first: bool) -> Result<LineStart, Error> {
        let p = *pos;
        let Some(&c) = b.get(p) else { return Ok(LineStart::More) };
        match c {
            b'\r' => {
                *pos = p + 1;
                self.phase = Phase::EndLf;
                Ok(LineStart::Blank)
            }
            b'\n' => Err(Error::BareLf),
            b' ' | b'\t' if first => Err(Error::WhitespaceAfterStartLine),
            b' ' | b'\t' => Err(Error::ObsFold),
            _ => {
                if self.count >= self.max_fields {
                    return Err(Error::TooManyFields);
                }
                self.count += 1;
                self.mark = p;
                self.phase = Phase::Name;
                Ok(LineStart::Field)
            }
        }
    }

    /// A field line from its name on, found whole in `b`: scanned in
    /// locals, the state written once. Where it stops short (out of bytes,
    /// or a byte the grammar rejects) the state is set as the steps would
    /// have left it at that byte and they go on from there, so the verdict
    /// is theirs and no byte is scanned twice.
    #[inline(always)]
    fn whole_line(&mut self, b: &[u8], pos: &mut usize) -> Result<bool, Error> {
        let start = *pos;
        let colon = scan_token(b, start);
        if colon == start || b.get(colon) != Some(&b':') {
            *pos = colon;
            return self.rest_of_line(b, pos);
        }
        let mut v = colon + 1;
        while let Some(b' ' | b'\t') = b.get(v) {
            v += 1;
        }
        let cr = chars::scan_value(b, v);
        self.name = Span::new(start, colon);
        if let Some([b'\r', b'\n']) = b.get(cr..cr + 2) {
            let mut end = cr;
            while end > v
                && let Some(b' ' | b'\t') = b.get(end - 1)
            {
                end -= 1;
            }
            self.value = Span::new(v, end);
            *pos = cr + 2;
            self.phase = Phase::LineStart { first: false };
            return Ok(true);
        }
        *pos = colon + 1;
        self.phase = Phase::ValueWs;
        if !self.value_ws(b, pos) {
            return Ok(false);
        }
        // `value_ws` stopped at `v`; the value's bytes up to `cr` are checked.
        *pos = cr;
        Ok(self.value(b, pos)? && self.value_lf(b, pos)?)
    }

    /// The rest of a field line from its name on.
    #[inline(always)]
    fn rest_of_line(&mut self, b: &[u8], pos: &mut usize) -> Result<bool, Error> {
        Ok(self.name(b, pos)?
            && self.value_ws(b, pos)
            && self.value(b, pos)?
            && self.value_lf(b, pos)?)
    }

    /// `field-name ":"`, no whitespace before the colon.
    #[inline(always)]
    fn name(&mut self, b: &[u8], pos: &mut usize) -> Result<bool, Error> {
        let i = scan_token(b, *pos);
        *pos = i;
        let Some(&c) = b.get(i) else { return Ok(false) };
        match c {
            b':' if i > self.mark => {}
            b' ' | b'\t' if i > self.mark => return Err(Error::SpaceBeforeColon),
            0 => return Err(Error::Nul),
            b'\n' => return Err(Error::BareLf),
            _ => return Err(Error::BadFieldName),
        }
        self.name = Span::new(self.mark, i);
        *pos = i + 1;
        self.phase = Phase::ValueWs;
        Ok(true)
    }

    /// OWS before the value.
    #[inline(always)]
    fn value_ws(&mut self, b: &[u8], pos: &mut usize) -> bool {
        let mut i = *pos;
        while let Some(b' ' | b'\t') = b.get(i) {
            i += 1;
        }
        *pos = i;
        if i == b.len() {
            return false;
        }
        self.mark = i;
        self.phase = Phase::Value;
        true
    }

    /// The value, up to its CR.
    #[inline(always)]
    fn value(&mut self, b: &[u8], pos: &mut usize) -> Result<bool, Error> {
        let i = chars::scan_value(b, *pos);
        *pos = i;
        let Some(&c) = b.get(i) else { return Ok(false) };
        match c {
            b'\r' => {}
            b'\n' => return Err(Error::BareLf),
            0 => return Err(Error::Nul),
            _ => return Err(Error::BadFieldValue),
        }
        self.value_end = i;
        *pos = i + 1;
        self.phase = Phase::ValueLf;
        Ok(true)
    }

    /// The LF ending the line; the value is trimmed of trailing OWS.
    #[inline(always)]
    fn value_lf(&mut self, b: &[u8], pos: &mut usize) -> Result<bool, Error> {
        let p = *pos;
        let Some(&c) = b.get(p) else { return Ok(false) };
        if c != b'\n' {
            return Err(Error::BareCr);
        }
        let mut end = self.value_end;
        while end > self.mark && matches!(b[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        self.value = Span::new(self.mark, end);
        *pos = p + 1;
        self.phase = Phase::LineStart { first: false };
        Ok(true)
    }

    /// The LF of the blank line ending the section.
    #[inline(always)]
    fn end_lf(&mut self, b: &[u8], pos: &mut usize) -> Result<Scanned, Error> {
        let p = *pos;
        let Some(&c) = b.get(p) else { return Ok(Scanned::More) };
        if c != b'\n' {
            return Err(Error::BareCr);
        }
        *pos = p + 1;
        self.phase = Phase::Done;
        Ok(Scanned::End)
    }
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

/// The field line at `p` found whole in `b` in the shape the steps accept
/// (a token name, `:`, OWS, a value without CTLs, CR LF): the field, its
/// value trimmed, and where the next line starts. `None` for anything
/// else (a blank line, out of bytes, a byte the grammar rejects): the
/// steps judge that line.
#[inline(always)]
pub(super) fn whole_field_line(b: &[u8], p: usize) -> Option<(FieldSpan, usize)> {
    let colon = scan_token(b, p);
    if colon == p || b.get(colon) != Some(&b':') {
        return None;
    }
    // Mostly one SP, then the value.
    let mut v = colon + 1 + usize::from(b.get(colon + 1) == Some(&b' '));
    while let Some(b' ' | b'\t') = b.get(v) {
        v += 1;
    }
    let cr = chars::scan_value(b, v);
    if b.get(cr..cr + 2) != Some(b"\r\n") {
        return None;
    }
    // Mostly no OWS after the value.
    let end = match b.get(cr.wrapping_sub(1)) {
        Some(b' ' | b'\t') if cr > v => trim_end(b, v, cr),
        _ => cr,
    };
    Some((FieldSpan { name: Span::new(p, colon), value: Span::new(v, end) }, cr + 2))
}

/// Where the value `b[v..end]` ends without its trailing OWS.
#[cold]
fn trim_end(b: &[u8], v: usize, mut end: usize) -> usize {
    while end > v
        && let Some(b' ' | b'\t') = b.get(end - 1)
    {
        end -= 1;
    }
    end
}

/// What a head's fields say about framing and the connection, gathered
/// field by field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Semantics {
    hosts: u32,
    content_length: Option<u64>,
    te: Te,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Semantics {
    /// Takes in one field line of the head, `field` of `b`. Only the
    /// names of a length that could matter are compared (a word at a time),
    /// inlined; only their values are looked at, out of line.
    #[inline(always)]
    pub(super) fn field(&mut self, b: &[u8], field: FieldSpan) -> Result<(), Error> {
        let name = || field.name.get(b);
        let value = || field.value.get(b);
        match field.name.len {
            4 if named(name(), b"host") => self.host(b, field.value),
            6 if named(name(), b"expect") => {
                self.expect_continue |= value().eq_ignore_ascii_case(b"100-continue");
                Ok(())
            }
            10 if named(name(), b"connection") => {
                self.connection(value());
                Ok(())
            }
            14 if named(name(), b"content-length") => self.content_length(value()),
            17 if named(name(), b"transfer-encoding") => {
                self.transfer_encoding(value());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    #[inline(never)]
    fn host(&mut self, b: &[u8], value: Span) -> Result<(), Error> {
        self.hosts += 1;
        if self.hosts > 1 {
            return Err(Error::DuplicateHost);
        }
        if !chars::host_ok_at(b, value.start as usize, value.len as usize) {
            return Err(Error::BadHost);
        }
        Ok(())
    }

    #[inline(never)]
    fn connection(&mut self, value: &[u8]) {
        // The common values whole, a word compare each.
        match value.len() {
            10 if named(value, b"keep-alive") => self.keep_alive = true,
            5 if named(value, b"close") => self.close = true,
            _ => self.connection_list(value),
        }
    }

    fn connection_list(&mut self, value: &[u8]) {
        for opt in list(value) {
            if opt.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if opt.eq_ignore_ascii_case(b"keep-alive") {
                self.keep_alive = true;
            }
        }
    }

    #[inline(never)]
    fn content_length(&mut self, value: &[u8]) -> Result<(), Error> {
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
        Ok(())
    }

    #[inline(never)]
    fn transfer_encoding(&mut self, value: &[u8]) {
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

    /// The checks that need the whole head (RFC 9112 §3.2, §6.1, §6.3).
    pub(super) fn finish(&self, version: Version) -> Result<(), Error> {
        if self.te.present {
            if version == Version::Http10 {
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
        if self.hosts == 0 && version == Version::Http11 {
            return Err(Error::MissingHost);
        }
        Ok(())
    }

    /// How the body is framed (after [`finish`](Self::finish) passed).
    pub(super) fn body(&self) -> super::BodyKind {
        if self.te.chunked_last {
            super::BodyKind::Chunked
        } else {
            super::BodyKind::Length(self.content_length.unwrap_or(0))
        }
    }

    /// Whether the connection stays open after this exchange.
    pub(super) fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }

    /// Whether `Expect: 100-continue` applies.
    pub(super) fn expect_continue(&self, version: Version) -> bool {
        self.expect_continue && version == Version::Http11
    }
}

/// Whether the field name `name` (a token) is `lower` (lowercase letters
/// and `-`, 4 bytes or more) in any case: every byte ORed with 0x20, a
/// word at a time (the last word overlapping the one before). Among
/// `tchar`s only the two cases of a letter OR to that lowercase letter,
/// and only `-` itself to `-` (the other byte, CR, is no `tchar`). The
/// same holds for a field value (it holds no CR either).
#[inline(always)]
fn named(name: &[u8], lower: &[u8]) -> bool {
    let n = lower.len();
    if name.len() != n {
        return false;
    }
    let folded =
        |at: fn(&[u8], usize) -> u64, fold: u64, i: usize| (at(name, i) | fold) ^ at(lower, i);
    match n {
        0..4 => name.eq_ignore_ascii_case(lower),
        4..8 => folded(word4, LOWER4, 0) | folded(word4, LOWER4, n - 4) == 0,
        _ => {
            let mut diff = folded(word8, LOWER8, n - 8);
            let mut i = 0;
            while i + 8 < n {
                diff |= folded(word8, LOWER8, i);
                i += 8;
            }
            diff == 0
        }
    }
}

const LOWER8: u64 = u64::from_le_bytes([0x20; 8]);
const LOWER4: u64 = u32::from_le_bytes([0x20; 4]) as u64;

/// The eight bytes of `s` at `i` (all there: callers check the length).
#[inline(always)]
fn word8(s: &[u8], i: usize) -> u64 {
    s.get(i..).and_then(<[u8]>::first_chunk).map_or(0, |w| u64::from_le_bytes(*w))
}

/// The four bytes of `s` at `i` (all there: callers check the length).
#[inline(always)]
fn word4(s: &[u8], i: usize) -> u64 {
    s.get(i..).and_then(<[u8]>::first_chunk).map_or(0, |w| u64::from(u32::from_le_bytes(*w)))
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

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::{Semantics, named};
    use crate::http::chars::{TOKEN_CHARS, value_ok};

    const FRAMING: [&[u8]; 5] =
        [b"host", b"expect", b"connection", b"content-length", b"transfer-encoding"];

    /// One of `words` in any case, with a byte or two replaced by one of
    /// `byte`.
    fn near(
        words: &'static [&'static [u8]],
        byte: impl Strategy<Value = u8> + Clone,
    ) -> impl Strategy<Value = Vec<u8>> + Clone {
        (
            prop::sample::select(words),
            prop::collection::vec(any::<bool>(), 17),
            prop::collection::vec((0usize..17, byte), 0..2),
        )
            .prop_map(|(word, upper, edits)| {
                let mut n: Vec<u8> = word
                    .iter()
                    .zip(upper)
                    .map(|(&c, up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect();
                for (at, c) in edits {
                    if let Some(b) = n.get_mut(at) {
                        *b = c;
                    }
                }
                n
            })
    }

    /// Field names: the framing names in any case, with a byte or two
    /// replaced by any `tchar`, or any run of `tchar`s.
    fn names() -> impl Strategy<Value = Vec<u8>> {
        let tchar = any::<u8>().prop_filter("tchar", |&c| TOKEN_CHARS[c as usize]);
        prop_oneof![near(&FRAMING, tchar.clone()), prop::collection::vec(tchar, 0..20)]
    }

    const OPTIONS: [&[u8]; 3] = [b"keep-alive", b"close", b"upgrade"];

    /// Field values (bytes a value may hold, OWS trimmed off) near the
    /// Connection options: in any case, a byte or two replaced by any
    /// such byte, or lists of them.
    fn values() -> impl Strategy<Value = Vec<u8>> {
        let byte = any::<u8>().prop_filter("value byte", |&c| value_ok(&[c]));
        let near = near(&OPTIONS, byte.clone());
        let list = prop::collection::vec(near.clone(), 1..3).prop_map(|v| v.join(&b", "[..]));
        prop_oneof![near, list, prop::collection::vec(byte, 0..12)]
            .prop_map(|v| v.trim_ascii().to_vec())
    }

    proptest! {
        #[test]
        fn connection_by_word_agrees_with_the_list(value in values()) {
            for lower in OPTIONS {
                prop_assert_eq!(named(&value, lower), value.eq_ignore_ascii_case(lower));
            }
            let (mut fast, mut list) = (Semantics::default(), Semantics::default());
            fast.connection(&value);
            list.connection_list(&value);
            prop_assert_eq!(fast, list);
        }

        #[test]
        fn named_is_eq_ignore_ascii_case_on_tokens(name in names()) {
            for lower in FRAMING {
                prop_assert_eq!(named(&name, lower), name.eq_ignore_ascii_case(lower));
            }
        }
    }
}
