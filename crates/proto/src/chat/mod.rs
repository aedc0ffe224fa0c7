//! Chat (PROTOCOLS.md §2) without I/O: the JSON frame splitter, the message
//! schema and the Room, a multi-connection machine.
//!
//! - [`Splitter`] models the client-to-server byte stream: JSON objects
//!   back to back, with optional whitespace between them, split anywhere.
//!   It cuts one [`Bytes`](bytes::Bytes) frame per object, zero-copy, each
//!   byte examined once, and enforces the frame size and nesting limits
//!   ([`FrameError`]).
//! - [`ClientMessage`] is one frame decoded (`username`, `content` with an
//!   optional `to`, `list`); [`ServerEvent`] is one server-to-client NDJSON
//!   line (`joined`, `message`, `left`, `users`, `error`) with the exact
//!   key order of the contract; [`ErrorCode`] is the `code` of an `error`
//!   event and says whether the connection closes after it.
//! - [`Room`] models the server: every connection, the members and their
//!   names, fan-out of one serialised event to many recipients, and a
//!   bounded outbound budget per connection, as a [`Hub`](crate::Hub):
//!   inputs tagged with a [`ConnId`](crate::ConnId), outputs addressed to
//!   one. It tells the application what happened through [`Event`].
//!
//! [`Limits`] holds every bound, with defaults: 64 KiB frames, nesting 64,
//! names of 32 characters, 1 MiB unsent per connection, announcements of a
//! large room coalesced every 50 ms, heavy senders held at most 1 s.
//!
//! # Error codes
//!
//! | code | when | connection |
//! | --- | --- | --- |
//! | `bad_json` | not UTF-8, not JSON, a byte other than whitespace or `{` between objects, objects nested over the limit, end of stream inside a frame | closed after the error |
//! | `frame_too_large` | a frame over [`Limits::max_frame`], detected as soon as it passes the limit | closed after the error |
//! | `bad_message` | a JSON object that is not a message, an invalid name ([`check_username`]), a `username` after joining | stays open |
//! | `name_taken` | the name, or one that looks like it, is in use | stays open: try another |
//! | `unknown_user` | a directed message named users not in the room (the others still get it) | stays open |
//!
//! # Choices where PROTOCOLS.md is silent
//!
//! - Valid shapes are exact: one kind of message per object, no unknown
//!   keys, no `null`, `to` non-empty, `list` only `true`; see
//!   [`ClientMessage`]. Keys may come in any order.
//! - A connection without a name that sends any other valid message joins
//!   under its peer address, then the message is handled. A `username`
//!   after joining is `bad_message` (no renames). A name that breaks the
//!   rules of [`check_username`] is `bad_message` (PROTOCOLS.md says "no
//!   control characters"; sansnet also refuses invisible, bidirectional
//!   control and separator characters, whitespace at either end, and names
//!   shaped like a peer address). A name that looks like a member's
//!   ([`crate::text::name_keys`]: `Victim` or `vіctim` beside `victim`) is
//!   `name_taken`. Directed messages name members exactly.
//! - A directed message reaches the named members that exist (each once,
//!   the sender only if it names itself); the unknown names come back in
//!   one `unknown_user` error.
//! - `users` is sorted by code point; every fan-out goes in `ConnId` order.
//! - A client that ends its stream gets what was queued for it, then the
//!   close. A client falling behind is evicted rather than slowing anyone;
//!   one reading slowly is first paused ([`Hub::wants_read`](crate::Hub::wants_read)).
//!   See [`Room`] for the details.
//!
//! # Driving a room from a plain loop
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use bytes::BytesMut;
//! use sansnet_proto::chat::{Limits, Room, ServerEvent};
//! use sansnet_proto::{ConnId, Hub, Input, Instant, Output};
//!
//! let mut room = Room::new(Limits::default());
//! let now = Instant::ZERO;
//! let (alice, bob) = (ConnId(1), ConnId(2));
//! room.handle(now, Input::Opened { conn: alice, peer: "127.0.0.1:5001".into(), listener: 0 });
//! room.handle(now, Input::Opened { conn: bob, peer: "127.0.0.1:5002".into(), listener: 0 });
//!
//! // What the clients send, in pieces as TCP may deliver them.
//! let script: [(ConnId, &[u8]); 4] = [
//!     (alice, br#"{"username":"al"#),
//!     (alice, br#"ice"}"#),
//!     (bob, b"{\"username\":\"bob\"}\n{\"content\":\"hi all\"}"),
//!     (alice, br#"{"content":"psst","to":["bob"]} {"list":true}"#),
//! ];
//! let mut inbox: BTreeMap<ConnId, BytesMut> = BTreeMap::new();
//! let mut wire: BTreeMap<ConnId, Vec<u8>> = BTreeMap::new();
//! for (conn, piece) in script {
//!     let buf = inbox.entry(conn).or_default();
//!     buf.extend_from_slice(piece);
//!     if room.wants_read(conn) {
//!         room.handle(now, Input::Read { conn, buf });
//!     }
//!     // Drain every output, "write" the bytes, then report them written.
//!     let mut written = Vec::new();
//!     while let Some(out) = room.poll_output() {
//!         match out {
//!             Output::Transmit { conn, data } => {
//!                 wire.entry(conn).or_default().extend_from_slice(&data);
//!                 written.push((conn, data.len()));
//!             }
//!             Output::Close { .. } => unreachable!("nobody misbehaved"),
//!             Output::Event(event) => println!("{event:?}"),
//!         }
//!     }
//!     for (conn, n) in written {
//!         room.handle(now, Input::Sent { conn, n });
//!     }
//! }
//!
//! let text = |c: ConnId| String::from_utf8(wire[&c].clone()).unwrap();
//! assert_eq!(
//!     text(alice),
//!     "{\"type\":\"joined\",\"username\":\"alice\"}\n\
//!      {\"type\":\"joined\",\"username\":\"bob\"}\n\
//!      {\"type\":\"message\",\"from\":\"bob\",\"content\":\"hi all\"}\n\
//!      {\"type\":\"users\",\"users\":[\"alice\",\"bob\"]}\n"
//! );
//! assert_eq!(
//!     text(bob),
//!     "{\"type\":\"joined\",\"username\":\"bob\"}\n\
//!      {\"type\":\"message\",\"from\":\"alice\",\"content\":\"psst\",\"to\":[\"bob\"]}\n"
//! );
//!
//! // Bob leaves: the room closes his connection and tells Alice.
//! room.handle(now, Input::Eof { conn: bob });
//! let outs: Vec<_> = std::iter::from_fn(|| room.poll_output()).collect();
//! assert!(outs.contains(&Output::Close { conn: bob }));
//! assert!(outs.iter().any(|o| matches!(o, Output::Transmit { conn, data }
//!     if *conn == alice
//!         && ServerEvent::decode(data) == Ok(ServerEvent::Left { username: "bob".into() }))));
//! ```

pub mod cluster;
mod frame;
mod limits;
mod message;
mod room;
#[cfg(test)]
mod tests;

pub use frame::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME, FrameError, Splitter};
pub use limits::Limits;
pub use message::{
    ClientMessage, ErrorCode, MessageError, ServerEvent, UsernameError, check_username,
    is_valid_name, looks_like_peer,
};
pub use room::{Event, LeaveReason, Room};
