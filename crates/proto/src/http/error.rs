//! What can go wrong with a request, and what goes on the wire for it.

/// A request the peer sent broke HTTP/1.1 (RFC 9112) or one of our limits.
///
/// Each variant names the rule it enforces; [`Error::status`] is the status
/// the server answers with before closing the connection. Every rejection
/// closes the connection: after a framing error the byte stream can no
/// longer be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request-line is not `method SP request-target SP HTTP-version`
    /// (RFC 9112 §3).
    #[error("malformed request line")]
    BadRequestLine,
    /// The method is empty or has a byte outside `token` (RFC 9110 §9.1).
    #[error("invalid method")]
    BadMethod,
    /// The request-target has a byte outside visible ASCII, or its form does
    /// not fit the method (RFC 9112 §3.2).
    #[error("invalid request target")]
    BadTarget,
    /// The version is not `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3).
    #[error("malformed HTTP version")]
    BadVersion,
    /// A major version other than 1 (RFC 9110 §15.6.6): 505.
    #[error("HTTP version not supported")]
    VersionNotSupported,
    /// A CR not followed by LF (RFC 9112 §2.2).
    #[error("bare CR in the message")]
    BareCr,
    /// A line ended by LF alone; sansnet is strict and wants CRLF
    /// (RFC 9112 §2.2 allows, but does not require, accepting it).
    #[error("line not terminated by CRLF")]
    BareLf,
    /// A NUL byte in the head (RFC 9110 §5.5).
    #[error("NUL byte in the head")]
    Nul,
    /// A field name that is empty or has a byte outside `token`, or a field
    /// line without a colon (RFC 9112 §5).
    #[error("invalid field name")]
    BadFieldName,
    /// Whitespace between a field name and its colon (RFC 9112 §5.1: MUST
    /// reject with 400).
    #[error("whitespace before the colon of a field")]
    SpaceBeforeColon,
    /// A control character (other than HTAB) or DEL in a field value
    /// (RFC 9110 §5.5).
    #[error("invalid byte in a field value")]
    BadFieldValue,
    /// A field line starting with whitespace: obsolete line folding
    /// (RFC 9112 §5.2: rejected).
    #[error("obsolete line folding")]
    ObsFold,
    /// Whitespace between the request-line and the first field
    /// (RFC 9112 §2.2: rejected).
    #[error("whitespace after the request line")]
    WhitespaceAfterStartLine,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    #[error("missing Host")]
    MissingHost,
    /// More than one `Host` field line (RFC 9112 §3.2).
    #[error("more than one Host")]
    DuplicateHost,
    /// A `Host` value that is not `uri-host [ ":" port ]` (RFC 9112 §3.2).
    #[error("invalid Host")]
    BadHost,
    /// A `Content-Length` that is not `1*DIGIT`, or overflows u64
    /// (RFC 9112 §6.3, RFC 9110 §8.6).
    #[error("invalid Content-Length")]
    BadContentLength,
    /// Two `Content-Length` values that differ (RFC 9112 §6.3).
    #[error("conflicting Content-Length values")]
    ConflictingContentLength,
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.1: a
    /// request-smuggling vector; rejected, then closed).
    #[error("both Content-Length and Transfer-Encoding")]
    ContentLengthAndTransferEncoding,
    /// `chunked` present but not the final coding, or applied twice, or with
    /// parameters, or an empty coding list (RFC 9112 §6.3, §7).
    #[error("chunked is not the final transfer coding")]
    BadTransferEncoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request (RFC 9112 §6.1: framing
    /// is faulty).
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncodingInHttp10,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1): 501.
    #[error("unsupported transfer coding")]
    UnknownTransferCoding,
    /// A chunk-size that is empty or not hex, or a chunk line with junk
    /// (RFC 9112 §7.1).
    #[error("invalid chunk size line")]
    BadChunkSize,
    /// A chunk-size that does not fit in u64 (RFC 9112 §7.1).
    #[error("chunk size overflow")]
    ChunkSizeOverflow,
    /// A chunk extension that is not `;name[=token|quoted-string]`
    /// (RFC 9112 §7.1.1).
    #[error("invalid chunk extension")]
    BadChunkExtension,
    /// More chunk-extension bytes than the limit (RFC 9112 §7.1.1).
    #[error("chunk extensions too long")]
    ChunkExtensionTooLong,
    /// Chunk data not followed by CRLF (RFC 9112 §7.1).
    #[error("chunk data not terminated by CRLF")]
    BadChunkEnd,
    /// The head (request-line and fields, or the trailer section) is larger
    /// than the limit: 431.
    #[error("request header section too large")]
    HeadTooLarge,
    /// More field lines than the limit: 431.
    #[error("too many header fields")]
    TooManyFields,
    /// The request-target is longer than the limit: 414 (RFC 9112 §3).
    #[error("request target too long")]
    TargetTooLong,
    /// The body is larger than the limit: 413.
    #[error("request body too large")]
    BodyTooLarge,
    /// The head did not arrive within the header timeout, or the body
    /// stalled past the idle timeout or was not whole within the body
    /// timeout: 408.
    #[error("request timed out")]
    Timeout,
    /// The peer ended the stream in the middle of a request.
    #[error("request truncated by end of stream")]
    Truncated,
}

impl Error {
    /// The status code the server answers this error with.
    ///
    /// ```
    /// use sansnet_proto::http::Error;
    /// assert_eq!(Error::HeadTooLarge.status(), 431);
    /// assert_eq!(Error::UnknownTransferCoding.status(), 501);
    /// assert_eq!(Error::ObsFold.status(), 400);
    /// ```
    pub fn status(self) -> u16 {
        match self {
            Error::VersionNotSupported => 505,
            Error::UnknownTransferCoding => 501,
            Error::HeadTooLarge | Error::TooManyFields => 431,
            Error::TargetTooLong => 414,
            Error::BodyTooLarge => 413,
            Error::Timeout => 408,
            _ => 400,
        }
    }
}

/// The application called a command of [`ServerConn`](super::ServerConn) at
/// the wrong time or with bad values: a bug in the application, never the
/// peer's doing (the peer's are [`Error`]s). Every protocol of the crate
/// names this kind of error `Misuse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// No request is waiting for a response (respond only after
    /// [`Event::End`](super::Event::End)).
    #[error("no request is waiting for a response")]
    NotReady,
    /// A response body was already started, or no response head was sent.
    #[error("response already started or not started")]
    WrongState,
    /// The status code is outside 200..=999 (1xx are the machine's own).
    #[error("status code out of range")]
    BadStatus,
    /// A field name that is not a token, or a value with CR, LF or NUL.
    #[error("invalid response field")]
    BadField,
    /// `Content-Length`, `Transfer-Encoding` and `Connection` are written
    /// by the machine itself.
    #[error("framing fields are set by the machine")]
    FramingField,
    /// More body bytes than the announced length.
    #[error("more body bytes than announced")]
    BodyTooLong,
    /// `finish` before the announced length was sent.
    #[error("body shorter than announced")]
    BodyIncomplete,
    /// A body on a status that has none (1xx, 204, 304).
    #[error("this status has no body")]
    BodyNotAllowed,
    /// A splice ([`ServerConn::send_splice`](super::ServerConn::send_splice))
    /// on a connection whose driver did not enable them
    /// ([`ServerConn::can_splice`](super::ServerConn::can_splice)).
    #[error("the driver does not perform splices")]
    NoSplice,
}
