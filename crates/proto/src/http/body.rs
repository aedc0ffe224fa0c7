//! The request-body decoder: `Content-Length` and `chunked` framing.
//!
//! Body bytes are cut out of the driver's buffer with `split_to().freeze()`
//! and handed on as [`Bytes`], never copied. Chunk-size lines and extensions
//! go through a byte-at-a-time state machine (they are short); extension
//! bytes are capped per request. The trailer section is read by the head's
//! own field scanner (one grammar for both), within the head's limits, then
//! discarded.

use bytes::{Buf, Bytes, BytesMut};

use super::chars::{is_token, value_ok};
use super::head::{BodyKind, FieldScanner, Scanned};
use super::{Error, Limits};

/// A piece of decoded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyChunk {
    /// Body bytes, in order.
    Data(Bytes),
    /// The body is complete (trailers, if any, were read and discarded).
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `Content-Length` data, this many bytes to go.
    Fixed(u64),
    /// Hex digits of a chunk-size; `digits` so far.
    Size { digits: u8 },
    /// After the size: BWS before `;`.
    SizeWs,
    /// In chunk extensions.
    Ext(Ext),
    /// Saw CR of the size line, LF next.
    SizeLf,
    /// Chunk data, this many bytes to go.
    Data(u64),
    /// CR after chunk data.
    DataCr,
    /// LF after chunk data.
    DataLf,
    /// In the trailer section, which starts at the front of the buffer;
    /// `pos` bytes of it are checked.
    Trailer { section: FieldScanner, pos: usize },
    /// `End` was returned.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ext {
    /// After `;`, BWS before the name.
    Name0,
    Name,
    /// After the name: BWS, `=`, `;` or CR.
    AfterName,
    /// After `=`: BWS before the value.
    Value0,
    Token,
    Quoted,
    QuotedEscape,
    /// After a value: BWS, `;` or CR.
    AfterValue,
}

/// Decodes one request body. Body bytes are cut out of the driver's buffer
/// with `split_to().freeze()` and handed on as [`Bytes`], never copied;
/// chunk-size lines, extensions and trailers go through a byte-at-a-time
/// state machine, extension bytes are capped per request, and the trailer
/// section is read by the head's field scanner, within the head's limits,
/// then discarded.
///
/// ```
/// use bytes::BytesMut;
/// use sansnet_proto::http::{BodyChunk, BodyDecoder, BodyKind, Limits};
///
/// let mut d = BodyDecoder::new(BodyKind::Chunked, &Limits::default()).unwrap();
/// let mut buf = BytesMut::from(&b"5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\nNEXT"[..]);
/// assert_eq!(d.decode(&mut buf), Ok(Some(BodyChunk::Data("hello".into()))));
/// assert_eq!(d.decode(&mut buf), Ok(Some(BodyChunk::End)));
/// assert_eq!(&buf[..], b"NEXT");
/// ```
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    size: u64,
    total: u64,
    ext_bytes: usize,
    max_body: u64,
    max_ext: usize,
    max_head: usize,
    max_fields: usize,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`. A `Content-Length` over
    /// `limits.max_body` is refused at once ([`Error::BodyTooLarge`]), before
    /// any of it is read.
    pub fn new(kind: BodyKind, limits: &Limits) -> Result<BodyDecoder, Error> {
        let state = match kind {
            BodyKind::Length(n) if n > limits.max_body => return Err(Error::BodyTooLarge),
            BodyKind::Length(n) => State::Fixed(n),
            BodyKind::Chunked => State::Size { digits: 0 },
        };
        Ok(BodyDecoder {
            state,
            size: 0,
            total: 0,
            ext_bytes: 0,
            max_body: limits.max_body,
            max_ext: limits.max_chunk_ext,
            // As in the head parser: positions in the section fit a u32.
            max_head: limits.max_head.clamp(1, u32::MAX as usize),
            max_fields: limits.max_fields,
        })
    }

    /// Whether [`BodyChunk::End`] was returned.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes a prefix of `buf`: returns the next chunk, `Ok(None)` when
    /// `buf` holds no more of the body yet, or the error to answer.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BodyChunk>, Error> {
        loop {
            match self.state {
                State::Fixed(0) => {
                    self.state = State::Done;
                    return Ok(Some(BodyChunk::End));
                }
                State::Fixed(n) | State::Data(n) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    let left = n - take as u64;
                    self.state = match self.state {
                        State::Fixed(_) => State::Fixed(left),
                        _ if left == 0 => State::DataCr,
                        _ => State::Data(left),
                    };
                    return Ok(Some(BodyChunk::Data(buf.split_to(take).freeze())));
                }
                State::Trailer { section, pos } => return self.trailer(buf, section, pos),
                State::Done => return Ok(None),
                _ => {
                    let Some(&b) = buf.first() else { return Ok(None) };
                    buf.advance(1);
                    self.step(b)?;
                }
            }
        }
    }

    /// One byte of chunk framing (size line, extensions, data CRLF).
    fn step(&mut self, b: u8) -> Result<(), Error> {
        self.state = match self.state {
            State::Size { digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                    if self.size > u64::MAX >> 4 {
                        return Err(Error::ChunkSizeOverflow);
                    }
                    self.size = (self.size << 4) | d;
                    // Leading zeros are legal but must not make the line endless.
                    if digits >= 64 {
                        return Err(Error::BadChunkSize);
                    }
                    State::Size { digits: digits + 1 }
                }
                _ if digits == 0 => return Err(Error::BadChunkSize),
                b'\r' => State::SizeLf,
                b';' => State::Ext(Ext::Name0),
                b' ' | b'\t' => State::SizeWs,
                _ => return Err(Error::BadChunkSize),
            },
            State::SizeWs => match b {
                b' ' | b'\t' => State::SizeWs,
                b';' => State::Ext(Ext::Name0),
                _ => return Err(Error::BadChunkSize),
            },
            State::Ext(ext) => {
                self.ext_bytes += 1;
                if self.ext_bytes > self.max_ext {
                    return Err(Error::ChunkExtensionTooLong);
                }
                self.ext_step(ext, b)?
            }
            State::SizeLf => {
                if b != b'\n' {
                    return Err(Error::BareCr);
                }
                let size = core::mem::take(&mut self.size);
                self.total = self.total.checked_add(size).ok_or(Error::BodyTooLarge)?;
                if self.total > self.max_body {
                    return Err(Error::BodyTooLarge);
                }
                if size == 0 {
                    State::Trailer { section: FieldScanner::new(false, self.max_fields), pos: 0 }
                } else {
                    State::Data(size)
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size { digits: 0 },
            State::DataCr | State::DataLf => return Err(Error::BadChunkEnd),
            State::Fixed(_) | State::Data(_) | State::Trailer { .. } | State::Done => {
                unreachable!("decode() handles these states without step()")
            }
        };
        Ok(())
    }

    /// `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`
    /// (RFC 9112 §7.1.1), ended by CR.
    fn ext_step(&self, ext: Ext, b: u8) -> Result<State, Error> {
        let ws = matches!(b, b' ' | b'\t');
        let next = match ext {
            Ext::Name0 if ws => Ext::Name0,
            Ext::Name0 | Ext::Name if is_token(b) => Ext::Name,
            Ext::Name | Ext::AfterName if ws => Ext::AfterName,
            Ext::Name | Ext::AfterName | Ext::AfterValue | Ext::Token if b == b'\r' => {
                return Ok(State::SizeLf);
            }
            Ext::Name | Ext::AfterName | Ext::AfterValue | Ext::Token if b == b';' => Ext::Name0,
            Ext::Name | Ext::AfterName if b == b'=' => Ext::Value0,
            Ext::Value0 if ws => Ext::Value0,
            Ext::Value0 if b == b'"' => Ext::Quoted,
            Ext::Value0 | Ext::Token if is_token(b) => Ext::Token,
            Ext::Token | Ext::AfterValue if ws => Ext::AfterValue,
            Ext::Quoted if b == b'"' => Ext::AfterValue,
            Ext::Quoted if b == b'\\' => Ext::QuotedEscape,
            // qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text
            Ext::Quoted | Ext::QuotedEscape if value_ok(&[b]) => Ext::Quoted,
            _ => return Err(Error::BadChunkExtension),
        };
        Ok(State::Ext(next))
    }

    /// The trailer section: field lines up to an empty line, scanned by the
    /// head's field scanner, bounded by the head limits, then discarded.
    fn trailer(
        &mut self,
        buf: &mut BytesMut,
        mut section: FieldScanner,
        mut pos: usize,
    ) -> Result<Option<BodyChunk>, Error> {
        // Scan at most max_head bytes: a section not ended by then is too large.
        let lim = buf.len().min(self.max_head);
        loop {
            match section.scan(&buf[..lim], &mut pos)? {
                Scanned::Field(_) => {}
                Scanned::End => {
                    buf.advance(pos);
                    self.state = State::Done;
                    return Ok(Some(BodyChunk::End));
                }
                Scanned::More if lim == self.max_head => return Err(Error::HeadTooLarge),
                Scanned::More => {
                    self.state = State::Trailer { section, pos };
                    return Ok(None);
                }
            }
        }
    }
}
