//! The incremental splitter for a stream of JSON objects.
//!
//! A chat client writes JSON objects back to back: `{"username":"a"}` then
//! `{"content":"hi"}`, with or without whitespace or newlines between them,
//! split anywhere by TCP. [`Splitter`] finds where each top-level object
//! ends without parsing it: it follows strings, backslash escapes and the
//! nesting depth of braces, so a `}` or `"` inside a string never ends a
//! frame early. Decoding the frame is the job of
//! [`ClientMessage::parse`](super::ClientMessage::parse).

use bytes::{Buf, Bytes, BytesMut};

use super::ErrorCode;

/// Why the byte stream can no longer be split into frames.
///
/// Each one is fatal for the connection: the [`Room`](super::Room) answers
/// it with an `error` event (code from [`FrameError::code`]) and closes, and
/// the splitter keeps returning the same error (it is sticky).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A byte other than whitespace (SP, HTAB, CR, LF) or `{` between
    /// objects: the stream is not a sequence of JSON objects.
    #[error("unexpected byte {0:#04x} between JSON objects")]
    UnexpectedByte(u8),
    /// Objects nested deeper than the limit.
    #[error("JSON objects nested too deeply")]
    TooDeep,
    /// A frame longer than the limit, detected as soon as its first
    /// `max_frame + 1` bytes have arrived without its end.
    #[error("frame larger than the limit")]
    TooLarge,
}

impl FrameError {
    /// The error code sent to the client: `frame_too_large` for
    /// [`TooLarge`](FrameError::TooLarge), `bad_json` for the others.
    ///
    /// ```
    /// use sansnet_proto::chat::{ErrorCode, FrameError};
    /// assert_eq!(FrameError::TooLarge.code(), ErrorCode::FrameTooLarge);
    /// assert_eq!(FrameError::UnexpectedByte(b'x').code(), ErrorCode::BadJson);
    /// ```
    pub fn code(self) -> ErrorCode {
        match self {
            FrameError::TooLarge => ErrorCode::FrameTooLarge,
            FrameError::UnexpectedByte(_) | FrameError::TooDeep => ErrorCode::BadJson,
        }
    }
}

/// Default [`Splitter::max_frame`]: 64 KiB.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
/// Default [`Splitter::max_depth`]: 64 levels of nested objects.
pub const DEFAULT_MAX_DEPTH: u32 = 64;

/// Splits a byte stream into JSON-object frames.
///
/// [`next_frame`](Splitter::next_frame) is called with the connection's
/// receive buffer. It skips whitespace before an object (consuming it),
/// and cuts each complete object off the front of the buffer with
/// `split_to(n).freeze()`: the frame shares the buffer's allocation, no
/// copy. A partial object stays in the buffer, already scanned; the next
/// call goes on where this one stopped. After `Ok(None)` the buffer never
/// holds more than [`max_frame`](Splitter::max_frame) bytes.
///
/// Frames are exactly the bytes `{` ... `}` of one top-level object. The
/// splitter checks only what framing needs: the bytes between objects, the
/// frame size and the brace depth. Whether a frame is valid JSON (and
/// UTF-8) is left to the decoder. Square brackets are not counted: they
/// never change where an object ends, and serde_json bounds their depth.
///
/// Every byte is examined once. The scan state (inside a string or not,
/// after a backslash or not, the depth, and how far the current frame has
/// been scanned) survives between calls, and inside a frame `memchr2` /
/// `memchr3` jump straight to the next byte that matters (`"` and `\` in a
/// string, `"`, `{` and `}` outside one), so the cost is O(n) however the
/// input is split and long strings go by at memchr speed.
///
/// ```
/// use bytes::BytesMut;
/// use sansnet_proto::chat::{FrameError, Splitter};
///
/// let mut s = Splitter::new();
/// let mut buf = BytesMut::from(&br#"{"username":"a"} {"content":"}{\""}
/// {"li"#[..]);
/// assert_eq!(&s.next_frame(&mut buf).unwrap().unwrap()[..], br#"{"username":"a"}"#);
/// assert_eq!(&s.next_frame(&mut buf).unwrap().unwrap()[..], br#"{"content":"}{\""}"#);
/// assert_eq!(s.next_frame(&mut buf), Ok(None)); // a partial frame stays
/// buf.extend_from_slice(br#"st":true}"#);
/// assert_eq!(&s.next_frame(&mut buf).unwrap().unwrap()[..], br#"{"list":true}"#);
/// assert!(buf.is_empty());
///
/// buf.extend_from_slice(b"\n[1]");
/// assert_eq!(s.next_frame(&mut buf), Err(FrameError::UnexpectedByte(b'[')));
/// ```
#[derive(Clone, Debug)]
pub struct Splitter {
    max_frame: usize,
    max_depth: u32,
    /// Brace depth of the current frame; 0 between frames.
    depth: u32,
    /// Inside a string of the current frame.
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escape: bool,
    /// Bytes of the current frame already scanned (its start is `buf[0]`).
    scanned: usize,
    /// Sticky error.
    failed: Option<FrameError>,
    inspected: u64,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter::new()
    }
}

/// JSON whitespace (RFC 8259 §2).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl Splitter {
    /// A splitter with the default limits (64 KiB frames, depth 64).
    pub fn new() -> Splitter {
        Splitter {
            max_frame: DEFAULT_MAX_FRAME,
            max_depth: DEFAULT_MAX_DEPTH,
            depth: 0,
            in_string: false,
            escape: false,
            scanned: 0,
            failed: None,
            inspected: 0,
        }
    }

    /// Sets the largest frame, in bytes, braces included (at least 2, the
    /// size of `{}`). Takes effect from the next call.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sansnet_proto::chat::{FrameError, Splitter};
    ///
    /// let mut s = Splitter::new().with_max_frame(8);
    /// let mut buf = BytesMut::from(&b"{\"a\":12}{\"a\":1"[..]);
    /// assert!(s.next_frame(&mut buf).unwrap().is_some()); // exactly 8 bytes: fine
    /// assert_eq!(s.next_frame(&mut buf), Ok(None)); // 6 of at most 8
    /// buf.extend_from_slice(b"234"); // 9 bytes and no end yet
    /// assert_eq!(s.next_frame(&mut buf), Err(FrameError::TooLarge));
    /// ```
    pub fn with_max_frame(mut self, bytes: usize) -> Splitter {
        self.max_frame = bytes.max(2);
        self
    }

    /// Sets the deepest nesting of objects (at least 1: the frame itself).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use sansnet_proto::chat::{FrameError, Splitter};
    ///
    /// let mut s = Splitter::new().with_max_depth(2);
    /// let mut buf = BytesMut::from(&b"{\"a\":{}}{\"a\":{\"b\":{"[..]);
    /// assert!(s.next_frame(&mut buf).unwrap().is_some());
    /// assert_eq!(s.next_frame(&mut buf), Err(FrameError::TooDeep));
    /// ```
    pub fn with_max_depth(mut self, depth: u32) -> Splitter {
        self.max_depth = depth.max(1);
        self
    }

    /// The largest frame, in bytes.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The deepest nesting of objects.
    pub fn max_depth(&self) -> u32 {
        self.max_depth
    }

    /// Whether part of a frame has been seen (the buffer starts with it).
    /// At the end of the stream this means the last frame was truncated.
    pub fn is_mid_frame(&self) -> bool {
        self.depth > 0
    }

    /// The error returned before, if any: it is returned again by every
    /// later call.
    pub fn error(&self) -> Option<FrameError> {
        self.failed
    }

    /// How many bytes the splitter has examined since it was made: each
    /// byte of the stream at most once (tests check it as the linear
    /// bound).
    pub fn bytes_inspected(&self) -> u64 {
        self.inspected
    }

    /// Cuts the next complete frame off the front of `buf`.
    ///
    /// `buf` holds the stream from where the previous call left it (bytes
    /// may be appended between calls; none may be removed). Returns
    /// `Ok(Some(frame))` for a complete object, `Ok(None)` when `buf` holds
    /// no complete frame yet (leading whitespace is consumed, a partial
    /// frame is kept and remembered), or the error that ends the stream.
    pub fn next_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.split(buf);
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn split(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if self.depth == 0 {
            // Between frames: skip whitespace, then the next byte must open
            // an object.
            let ws = buf.iter().take_while(|&&b| is_ws(b)).count();
            self.inspected += ws as u64;
            buf.advance(ws);
            let Some(&first) = buf.first() else { return Ok(None) };
            self.inspected += 1;
            if first != b'{' {
                return Err(FrameError::UnexpectedByte(first));
            }
            self.depth = 1;
            self.in_string = false;
            self.escape = false;
            self.scanned = 1;
        }
        // Only the first max_frame bytes can belong to an acceptable frame.
        let limit = buf.len().min(self.max_frame);
        let from = self.scanned;
        let mut pos = self.scanned;
        let end = loop {
            if pos >= limit {
                break None;
            }
            if self.escape {
                // Whatever follows a backslash is part of the escape.
                self.escape = false;
                pos += 1;
                continue;
            }
            let window = &buf[pos..limit];
            let hit = if self.in_string {
                memchr::memchr2(b'"', b'\\', window)
            } else {
                memchr::memchr3(b'"', b'{', b'}', window)
            };
            let Some(k) = hit else {
                pos = limit;
                break None;
            };
            let at = pos + k;
            pos = at + 1;
            match buf[at] {
                b'"' => self.in_string = !self.in_string,
                b'\\' => self.escape = true,
                b'{' => {
                    self.depth += 1;
                    if self.depth > self.max_depth {
                        self.inspected += (pos - from) as u64;
                        return Err(FrameError::TooDeep);
                    }
                }
                // `}` outside a string.
                _ => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        break Some(pos);
                    }
                }
            }
        };
        self.inspected += (pos - from) as u64;
        match end {
            Some(n) => {
                self.scanned = 0;
                Ok(Some(buf.split_to(n).freeze()))
            }
            None if buf.len() > self.max_frame => Err(FrameError::TooLarge),
            None => {
                self.scanned = pos;
                Ok(None)
            }
        }
    }
}
