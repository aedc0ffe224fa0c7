//! Close codes, the peer's errors and the application's misuse.

/// A close status code (RFC 6455 §7.4), as carried by a Close frame.
///
/// ```
/// use sansnet_proto::ws::CloseCode;
///
/// assert_eq!(CloseCode::NORMAL, CloseCode(1000));
/// assert!(CloseCode(4000).is_valid());
/// assert!(!CloseCode::NO_STATUS.is_valid()); // 1005 never goes on the wire
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: going away (a server shutting down, a page closed).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent; see
    /// [`Event::Closed`](super::Event::Closed)).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection ended without a Close frame (never sent; the
    /// machine reports it in [`Event::Closed`](super::Event::Closed) when
    /// the stream ends or the close timeout fires).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in a
    /// text message or a close reason).
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: a policy was violated.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a frame or message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: an internal error.
    pub const INTERNAL: CloseCode = CloseCode(1011);

    /// Whether a Close frame may carry this code: 1000-1003, 1007-1014
    /// (the RFC's and IANA's registered ones), 3000-4999 (libraries and
    /// applications). 1004-1006 and 1015 are reserved, the rest of
    /// 0-2999 unassigned, and 5000 and above undefined.
    pub fn is_valid(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// The peer broke RFC 6455 or one of our [`Limits`](super::Limits).
///
/// Each variant names the rule it enforces; [`Error::close_code`] is the
/// code the machine's Close frame carries before it finishes. Errors are
/// sticky: after one, nothing more is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A server got an unmasked frame (§5.1: a client masks every frame).
    #[error("unmasked frame from a client")]
    Unmasked,
    /// A client got a masked frame (§5.1: a server never masks).
    #[error("masked frame from a server")]
    Masked,
    /// RSV1, RSV2 or RSV3 set without a negotiated extension (§5.2).
    #[error("reserved bits set")]
    ReservedBits,
    /// An opcode the RFC reserves: 3-7 or 0xB-0xF (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame with more than 125 payload bytes (§5.5).
    #[error("control frame longer than 125 bytes")]
    ControlTooLong,
    /// A control frame without FIN (§5.5: control frames are never
    /// fragmented).
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A continuation frame with no fragmented message to continue (§5.4).
    #[error("continuation frame outside a fragmented message")]
    UnexpectedContinuation,
    /// A new text or binary frame in the middle of a fragmented message
    /// (§5.4: its fragments must come in a row, control frames aside).
    #[error("new message before the fragmented one ended")]
    ExpectedContinuation,
    /// A frame's payload length is over [`Limits::max_frame`](super::Limits::max_frame)
    /// (or does not fit a 63-bit length): refused from its header, before
    /// any of it is buffered.
    #[error("frame too large")]
    FrameTooLarge,
    /// A message's assembled length is over
    /// [`Limits::max_message`](super::Limits::max_message): refused from
    /// the header of the fragment that would cross it.
    #[error("message too large")]
    MessageTooLarge,
    /// A text message that is not UTF-8 (§8.1), found in the fragment
    /// where the bad sequence starts, or at the end of a message that ends
    /// inside a sequence.
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A Close frame with a payload of one byte (§5.5.1: a body starts
    /// with a two-byte code).
    #[error("close frame with a one-byte payload")]
    BadClosePayload,
    /// A Close frame whose code may not be sent (see [`CloseCode::is_valid`]).
    #[error("invalid close code {0}")]
    BadCloseCode(u16),
    /// A Close frame whose reason is not UTF-8 (§5.5.1).
    #[error("close reason is not UTF-8")]
    BadCloseReason,
}

impl Error {
    /// The code our Close frame carries for this error: 1007 for invalid
    /// UTF-8 (in a message or a close reason), 1009 for sizes, 1002 for
    /// the rest.
    ///
    /// ```
    /// use sansnet_proto::ws::{CloseCode, Error};
    /// assert_eq!(Error::Unmasked.close_code(), CloseCode::PROTOCOL_ERROR);
    /// assert_eq!(Error::InvalidUtf8.close_code(), CloseCode::INVALID_DATA);
    /// assert_eq!(Error::MessageTooLarge.close_code(), CloseCode::TOO_BIG);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            Error::InvalidUtf8 | Error::BadCloseReason => CloseCode::INVALID_DATA,
            Error::FrameTooLarge | Error::MessageTooLarge => CloseCode::TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// The application called a command of [`Conn`](super::Conn) at the wrong
/// time or with a bad value (the peer's faults are [`Error`]s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// A Close was sent or received, or the connection failed: no more
    /// messages (§5.5.1).
    #[error("the connection is closing or closed")]
    Closed,
    /// A ping payload over 125 bytes (§5.5).
    #[error("control payload longer than 125 bytes")]
    ControlTooLong,
    /// A pre-encoded frame on a client connection (whose frames must be
    /// masked, each with its own key).
    #[error("pre-encoded frames are for servers only")]
    NotServer,
}
