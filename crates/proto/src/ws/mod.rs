//! WebSocket (RFC 6455), both ends, without I/O.
//!
//! What is modelled:
//!
//! - [`handshake`]: the opening handshake on top of the HTTP machine: a
//!   parsed request head is checked ([`handshake::check`]) and answered
//!   with `101 Switching Protocols` or a 400/426 rejection; the client's
//!   request for load generators and tests.
//! - Framing ([`encode_frame`], [`FrameDecoder`]): masking by role (a
//!   server gets masked frames and sends unmasked ones), the three length
//!   forms, every header rule checked before a payload byte is buffered,
//!   payloads unmasked in place without a copy.
//! - [`Conn`]: one connection after the handshake, a [`Session`]:
//!   fragmented messages assembled (control frames may come between
//!   fragments), text validated as UTF-8 incrementally (a bad fragment
//!   fails at once), ping answered by pong in order with other output,
//!   unsolicited pongs ignored, the close handshake both ways with its
//!   timer, [`Limits`] on frame and message size, backpressure on
//!   undelivered messages.
//!
//! What is not: extensions (permessage-deflate) and subprotocols are never
//! negotiated; frames are not sent fragmented (each message is one
//! frame); the core has no entropy, so a client's mask keys come from a
//! generator the caller seeds ([`Conn::set_mask_seed`]).
//!
//! Peer faults are [`Error`]s: each maps to the close code the machine
//! answers with ([`Error::close_code`]: 1002, 1007 or 1009), then the
//! connection finishes. Application faults are [`Misuse`]s.
//!
//! ```
//! use bytes::BytesMut;
//! use sansnet_proto::ws::{Conn, Event, Limits, Role};
//! use sansnet_proto::{Instant, Session};
//!
//! let now = Instant::ZERO;
//! let mut server = Conn::new(Role::Server, Limits::default(), now);
//! // RFC 6455 §5.7: a masked "Hello", then a masked empty ping.
//! let mut inbox = BytesMut::from(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58][..]);
//! inbox.extend_from_slice(&[0x89, 0x80, 1, 2, 3, 4]);
//! server.handle_read(now, &mut inbox);
//! assert_eq!(server.poll_event(), Some(Event::Text("Hello".into())));
//! server.send_text(b"Hi!").unwrap();
//! let mut wire = Vec::new();
//! while let Some(bytes) = server.poll_transmit() {
//!     wire.extend_from_slice(&bytes);
//! }
//! // The pong first (it was queued first), then the message, unmasked.
//! assert_eq!(wire, [0x8a, 0x00, 0x81, 0x03, b'H', b'i', b'!']);
//! ```
//!
//! [`Session`]: crate::Session

mod conn;
mod error;
mod frame;
pub mod handshake;
mod limits;
#[cfg(test)]
mod tests;
mod utf8;

pub use conn::{Conn, Event};
pub use error::{CloseCode, Error, Misuse};
pub use frame::{Frame, FrameDecoder, Opcode, Role, apply_mask, encode_frame, frame_len};
pub use limits::Limits;
