//! The opening handshake (RFC 6455 §4), on top of the HTTP machine: a
//! parsed [`RequestHead`] is checked, and answered with `101 Switching
//! Protocols` or a rejection.
//!
//! No subprotocol and no extension is ever negotiated (the fields asking
//! for them are ignored, as §4.2.2 allows), so frames never carry RSV bits.
//!
//! ```
//! use sansnet_proto::http::{HeadParser, Limits};
//! use sansnet_proto::ws::handshake;
//!
//! let request = handshake::request("example.com", "/ws", "dGhlIHNhbXBsZSBub25jZQ==");
//! let mut parser = HeadParser::new(&Limits::default());
//! let n = parser.parse(&request).unwrap().unwrap();
//! let head = parser.take(request.slice(..n));
//! let accepted = handshake::check(&head).unwrap();
//! assert_eq!(accepted.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
//! assert!(accepted.response().starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! ```

use alloc::format;
use alloc::string::String;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use sha1::{Digest, Sha1};

use crate::http::{BodyKind, RequestHead, Version};

/// The GUID §1.3 appends to the key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: the base64 of the
/// SHA-1 of the key (as sent, trimmed) followed by the GUID (§4.2.2).
///
/// ```
/// use sansnet_proto::ws::handshake::accept_key;
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// A request that may be upgraded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
}

impl Accepted {
    /// The whole `101 Switching Protocols` response head. The WebSocket
    /// connection starts right after it, and so do the client's frames
    /// after its request head (bytes a driver already buffered belong to
    /// the WebSocket machine).
    pub fn response(&self) -> Bytes {
        Bytes::from(format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            self.accept
        ))
    }
}

/// Why a request cannot be upgraded, and the HTTP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The method is not `GET` (§4.1).
    #[error("a WebSocket handshake is a GET")]
    NotGet,
    /// An HTTP/1.0 request (§4.1: HTTP/1.1 or higher).
    #[error("a WebSocket handshake needs HTTP/1.1")]
    NotHttp11,
    /// The request has a body (a GET handshake has none).
    #[error("a WebSocket handshake has no body")]
    Body,
    /// `Upgrade` lacks the token `websocket`, or `Connection` the token
    /// `upgrade` (§4.2.1, case-insensitive, in comma lists).
    #[error("not a WebSocket upgrade (Upgrade: websocket and Connection: Upgrade)")]
    NotUpgrade,
    /// `Sec-WebSocket-Version` missing or not `13` (§4.2.2): 426.
    #[error("unsupported WebSocket version (13 only)")]
    Version,
    /// No `Sec-WebSocket-Key`.
    #[error("missing Sec-WebSocket-Key")]
    NoKey,
    /// A `Sec-WebSocket-Key` that is not the base64 of 16 bytes, or more
    /// than one.
    #[error("invalid Sec-WebSocket-Key")]
    BadKey,
}

impl Rejection {
    /// The status it is answered with: 426 Upgrade Required for a
    /// version, 400 for the rest.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Version => 426,
            _ => 400,
        }
    }

    /// The whole HTTP/1.1 response: a short `text/plain` body saying why,
    /// `Connection: close`, and for 426 `Sec-WebSocket-Version: 13`.
    ///
    /// ```
    /// use sansnet_proto::ws::handshake::Rejection;
    /// let r = Rejection::Version.response();
    /// assert!(r.starts_with(b"HTTP/1.1 426 Upgrade Required\r\n"));
    /// assert!(r.windows(25).any(|w| w == b"Sec-WebSocket-Version: 13"));
    /// ```
    pub fn response(&self) -> Bytes {
        let (status, reason, extra) = match self {
            Rejection::Version => (426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n"),
            _ => (400, "Bad Request", ""),
        };
        let body = format!("{self}\n");
        Bytes::from(format!(
            "HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    }
}

/// Whether a comma-separated list of the `name` field lines has `token`
/// (ASCII case-insensitive, whitespace around elements ignored).
fn has_token(head: &RequestHead, name: &str, token: &str) -> bool {
    head.fields()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Checks a request head for an upgrade (§4.2.1): `GET`, HTTP/1.1, no
/// body, `Upgrade: websocket`, `Connection: upgrade`,
/// `Sec-WebSocket-Version: 13` and one `Sec-WebSocket-Key` that is the
/// base64 of 16 bytes, in that order. `Host` was checked by the HTTP
/// parser; `Origin` is left to the application.
pub fn check(head: &RequestHead) -> Result<Accepted, Rejection> {
    if head.method() != "GET" {
        return Err(Rejection::NotGet);
    }
    if head.version() != Version::Http11 {
        return Err(Rejection::NotHttp11);
    }
    if head.body_kind() != BodyKind::Length(0) {
        return Err(Rejection::Body);
    }
    if !has_token(head, "upgrade", "websocket") || !has_token(head, "connection", "upgrade") {
        return Err(Rejection::NotUpgrade);
    }
    let mut versions =
        head.fields().filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-version"));
    match (versions.next(), versions.next()) {
        (Some((_, b"13")), None) => {}
        _ => return Err(Rejection::Version),
    }
    let mut keys = head.fields().filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-key"));
    let key = match (keys.next(), keys.next()) {
        (None, _) => return Err(Rejection::NoKey),
        (Some((_, key)), None) => key,
        (Some(_), Some(_)) => return Err(Rejection::BadKey),
    };
    // 16 bytes are 24 base64 characters with padding; decoding into a
    // 16-byte buffer also rejects longer ones.
    let mut raw = [0u8; 18];
    match STANDARD.decode_slice(key, &mut raw) {
        Ok(16) if key.len() == 24 => {}
        _ => return Err(Rejection::BadKey),
    }
    Ok(Accepted { accept: accept_key(key) })
}

/// A client's handshake request for `path` on `host`, with `key` (the
/// base64 of 16 random bytes; the caller brings the randomness, see
/// [`Conn::set_mask_seed`](super::Conn::set_mask_seed)). For load
/// generators and tests; the server's answer is checked with
/// [`accept_key`].
pub fn request(host: &str, path: &str, key: &str) -> Bytes {
    Bytes::from(format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ))
}
