//! Frames (RFC 6455 §5): the encoder and the incremental decoder.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{Error, Limits};

/// Which end of the connection a machine is. A server receives masked
/// frames and sends unmasked ones; a client the other way round (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that accepted the connection.
    Server,
    /// The end that opened it.
    Client,
}

/// A frame's opcode (§5.2). The reserved ones are errors
/// ([`Error::ReservedOpcode`]), not values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0: the next fragment of a text or binary message.
    Continuation,
    /// 0x1: a text message (UTF-8), or its first fragment.
    Text,
    /// 0x2: a binary message, or its first fragment.
    Binary,
    /// 0x8: the close handshake.
    Close,
    /// 0x9: a ping, answered by a pong with the same payload.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl Opcode {
    /// The opcode of a frame's 4 low bits, or the reserved value back.
    ///
    /// ```
    /// use sansnet_proto::ws::Opcode;
    /// assert_eq!(Opcode::from_bits(0x9), Ok(Opcode::Ping));
    /// assert_eq!(Opcode::from_bits(0x3), Err(0x3));
    /// ```
    pub fn from_bits(bits: u8) -> Result<Opcode, u8> {
        Ok(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => return Err(other),
        })
    }

    /// The 4 bits on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: never fragmented, at most 125 bytes, allowed
    /// between the fragments of a message.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// The size of a frame carrying `payload_len` bytes: header (2, 4 or 10
/// bytes, plus 4 for a mask key) and payload, for callers that pre-size a
/// buffer.
///
/// ```
/// use sansnet_proto::ws::frame_len;
/// assert_eq!(frame_len(5, true), 2 + 4 + 5);
/// assert_eq!(frame_len(256, false), 4 + 256);
/// assert_eq!(frame_len(65536, false), 10 + 65536);
/// ```
pub fn frame_len(payload_len: usize, masked: bool) -> usize {
    let ext = match payload_len {
        0..=125 => 0,
        126..=0xFFFF => 2,
        _ => 8,
    };
    2 + ext + if masked { 4 } else { 0 } + payload_len
}

/// XORs `data` with `mask` repeated, starting at key byte 0 (§5.3): masks
/// and unmasks alike.
///
/// ```
/// use sansnet_proto::ws::apply_mask;
/// let mut data = *b"Hello";
/// apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d]);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    // Eight bytes at a time: 8 is a multiple of 4, so each word starts at
    // key byte 0.
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut words = data.chunks_exact_mut(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        word.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (b, m) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *b ^= m;
    }
}

/// Appends one frame to `out`: header and payload, written once, masked
/// with `mask` if given (clients mask every frame, servers none).
///
/// Control frames must have `fin` set and at most 125 payload bytes (the
/// caller's duty, checked in debug builds). No extension is negotiated,
/// so the reserved bits are always 0.
///
/// ```
/// use bytes::BytesMut;
/// use sansnet_proto::ws::{encode_frame, Opcode};
///
/// let mut out = BytesMut::new();
/// encode_frame(&mut out, true, Opcode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
/// assert_eq!(&out[..], [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn encode_frame(
    out: &mut BytesMut,
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    debug_assert!(!opcode.is_control() || (fin && payload.len() <= 125), "bad control frame");
    out.reserve(frame_len(payload.len(), mask.is_some()));
    out.put_u8(if fin { 0x80 } else { 0 } | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        // The match arms bound each cast.
        n @ 0..=125 => out.put_u8(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.put_u8(mask_bit | 126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(mask_bit | 127);
            out.put_u64(n as u64);
        }
    }
    match mask {
        Some(key) => {
            out.put_slice(&key);
            let start = out.len();
            out.put_slice(payload);
            apply_mask(&mut out[start..], key);
        }
        None => out.put_slice(payload),
    }
}

/// One decoded frame, its payload unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The last frame of its message (always true for control frames).
    pub fin: bool,
    /// What it carries.
    pub opcode: Opcode,
    /// The payload, unmasked: a slice of the reader's buffer, not a copy.
    pub payload: Bytes,
}

/// A frame's header, consumed from the buffer, while its payload arrives.
#[derive(Clone, Copy, Debug)]
struct Header {
    fin: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    len: usize,
}

/// The incremental frame decoder: one frame at a time out of the front of
/// a growing buffer, every rule of §5 that a header shows checked from the
/// header alone.
///
/// From the first two bytes: the reserved bits, the opcode, masking
/// against the [`Role`], the control-frame rules (FIN set, at most 125
/// bytes) and the order of fragments (a continuation only inside a
/// fragmented message, a new message only outside one). From the length:
/// [`Limits::max_frame`] and [`Limits::max_message`] (the fragments so far
/// plus this one), so a frame announcing 2^63 bytes is an error at once,
/// never an allocation. Then the header is consumed and remembered, and
/// the payload is left in the caller's buffer (with room reserved for it)
/// until it is whole: it is never rescanned, then split off, unmasked in
/// place and frozen, without a copy.
///
/// Errors are sticky: once one is returned, every later call returns it.
///
/// ```
/// use bytes::BytesMut;
/// use sansnet_proto::ws::{FrameDecoder, Limits, Opcode, Role};
///
/// // RFC 6455 §5.7: a masked "Hello" from a client, in two pieces.
/// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let mut decoder = FrameDecoder::new(Role::Server, &Limits::default());
/// let mut buf = BytesMut::from(&wire[..7]);
/// assert_eq!(decoder.decode(&mut buf), Ok(None));
/// buf.extend_from_slice(&wire[7..]);
/// let frame = decoder.decode(&mut buf).unwrap().unwrap();
/// assert_eq!((frame.fin, frame.opcode, &frame.payload[..]), (true, Opcode::Text, &b"Hello"[..]));
/// assert!(buf.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    role: Role,
    max_frame: usize,
    max_message: usize,
    /// The header of the frame whose payload is awaited.
    header: Option<Header>,
    /// Inside a fragmented message: the payload bytes of its frames so far.
    message: Option<usize>,
    failed: Option<Error>,
}

impl FrameDecoder {
    /// A decoder for the frames a `role` endpoint receives, within
    /// `limits`' frame and message sizes.
    pub fn new(role: Role, limits: &Limits) -> FrameDecoder {
        FrameDecoder {
            role,
            max_frame: limits.max_frame,
            max_message: limits.max_message,
            header: None,
            message: None,
            failed: None,
        }
    }

    /// The next frame from the front of `buf`, or `None` if it is not
    /// whole yet (call again with the same buffer, grown). A frame's
    /// header is consumed as soon as it is whole and checked; its payload
    /// when the whole frame is there.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let header = match self.header {
            Some(header) => header,
            None => match self.header(buf) {
                Ok(Some(header)) => header,
                Ok(None) => return Ok(None),
                Err(e) => {
                    self.failed = Some(e);
                    return Err(e);
                }
            },
        };
        if buf.len() < header.len {
            if self.header.is_none() {
                // First time short of the payload: room for all of it,
                // bounded by the limits just checked.
                buf.reserve(header.len - buf.len());
            }
            self.header = Some(header);
            return Ok(None);
        }
        self.header = None;
        let mut payload = buf.split_to(header.len);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key);
        }
        Ok(Some(Frame { fin: header.fin, opcode: header.opcode, payload: payload.freeze() }))
    }

    /// Parses and checks a header at the front of `buf`; consumes it once
    /// whole.
    fn header(&mut self, buf: &mut BytesMut) -> Result<Option<Header>, Error> {
        let [b0, b1, ..] = buf[..] else { return Ok(None) };
        if b0 & 0x70 != 0 {
            return Err(Error::ReservedBits);
        }
        let opcode = Opcode::from_bits(b0 & 0x0F).map_err(Error::ReservedOpcode)?;
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return Err(Error::Unmasked),
            (Role::Client, true) => return Err(Error::Masked),
            _ => {}
        }
        let len7 = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(Error::FragmentedControl);
            }
            if len7 > 125 {
                return Err(Error::ControlTooLong);
            }
        }
        match (opcode, self.message) {
            (Opcode::Continuation, None) => return Err(Error::UnexpectedContinuation),
            (Opcode::Text | Opcode::Binary, Some(_)) => return Err(Error::ExpectedContinuation),
            _ => {}
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let size = 2 + ext + if masked { 4 } else { 0 };
        if buf.len() < size {
            return Ok(None);
        }
        let len = match ext {
            2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
            8 => {
                u64::from_be_bytes([buf[2], buf[3], buf[4], buf[5], buf[6], buf[7], buf[8], buf[9]])
            }
            _ => u64::from(len7),
        };
        // Over max_frame (a usize) or not a usize at all: refused unread.
        let len = match usize::try_from(len) {
            Ok(len) if len <= self.max_frame => len,
            _ => return Err(Error::FrameTooLarge),
        };
        if !opcode.is_control() {
            let so_far = self.message.unwrap_or(0);
            if len > self.max_message.saturating_sub(so_far) {
                return Err(Error::MessageTooLarge);
            }
            self.message = if fin { None } else { Some(so_far + len) };
        }
        let mask = masked.then(|| [buf[size - 4], buf[size - 3], buf[size - 2], buf[size - 1]]);
        buf.advance(size);
        Ok(Some(Header { fin, opcode, mask, len }))
    }

    /// Whether a fragmented message is in progress (its first frame
    /// decoded, its last not yet).
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Whether a frame's header was consumed and its payload is awaited.
    pub fn has_partial(&self) -> bool {
        self.header.is_some()
    }
}
