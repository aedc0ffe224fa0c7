//! # sansnet-proto: the protocols of sansnet as pure state machines
//!
//! This crate does no I/O. It holds no sockets, opens no files, spawns no
//! threads and never reads a clock: bytes and time go in as arguments, bytes
//! to send, events and deadlines come out as values. The same machines run
//! over std blocking sockets, async-std and smol (the `sansnet-std`,
//! `sansnet-async-std` and `sansnet-smol` crates), inside your own event
//! loop, or in a test on a simulated clock.
//!
//! The machines, one module per protocol:
//!
//! - [`http`]: HTTP/1.1, server side. [`http::ServerConn`] models one
//!   connection (requests parsed incrementally, bodies, keep-alive and
//!   pipelining, `100 Continue`, response framing, the header and idle
//!   timers, every rejection with its status); [`http::HeadParser`] and
//!   [`http::BodyDecoder`] are its parts, usable alone.
//! - [`chat`]: the chat room. [`chat::Room`] models the server of many
//!   clients as one [`Hub`]: JSON frames split from each stream, names,
//!   fan-out of one serialised event to every recipient, and a bounded
//!   outbound budget per connection.
//! - [`file`](mod@file): file transfer. [`file::Sender`] and
//!   [`file::Receiver`] model the two ends of one transfer (header, ack and
//!   resume offset, data hashed with BLAKE3, trailer, `DONE`); they say what
//!   to read or write and where, and never touch a file themselves.
//! - [`echo`]: echo (RFC 862). [`echo::Echo`] models one TCP connection
//!   that sends every byte back, with bounded unsent bytes and an idle
//!   timer; [`echo::UdpEcho`] answers each datagram.
//! - [`scan`]: TCP connect scanning, the pure part. [`scan::Scan`] models
//!   the bookkeeping of a scan (which port next, each port's outcome, the
//!   open ports in order); the transports do the connecting.
//! - [`ws`]: WebSocket (RFC 6455). [`ws::Conn`] models one connection
//!   after the opening handshake (framing and masking, fragments, UTF-8
//!   checked as it comes, ping and pong, the close handshake and its
//!   timer, frame and message limits); [`ws::handshake`] checks an HTTP
//!   request head for the upgrade and answers it.
//!
//! And what they share:
//!
//! - [`machine`]: the shape every machine has ([`Session`] for one
//!   connection, [`Hub`] for many, [`Datagrams`] for datagrams), the drain
//!   contract drivers follow, and [`App`], the application side.
//! - [`time`]: [`Instant`], time as a value passed in by the driver.
//! - [`text`]: peer text: the character rules every name follows (chat
//!   and file names), the look-alike keys names are compared on (UTS #39),
//!   and escaping for terminals.
//!
//! Two kinds of error: the peer's are each protocol's `Error` (the machine
//! answers them on the wire and closes), the application's are each
//! protocol's `Misuse` (a command at the wrong time or with a bad value).
//!
//! The crate is `#![no_std]` with `alloc`; the default `std` feature only
//! lets memchr pick AVX2 at run time.
//!
//! ## Driving a machine from a plain loop
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use sansnet_proto::http::{Event, Limits, ServerConn};
//! use sansnet_proto::{Instant, Session};
//!
//! // Two pipelined requests arriving in awkward pieces.
//! let pieces: [&[u8]; 3] = [b"GET /a HTTP/1.1\r\nHo", b"st: x\r\n\r\nGET /b HTTP/1.1\r\n", b"Host: x\r\n\r\n"];
//! let mut conn = ServerConn::new(Limits::default(), Instant::ZERO);
//! let mut inbox = BytesMut::new();
//! let mut wire = Vec::new();
//! let mut target = String::new();
//! for piece in pieces {
//!     inbox.extend_from_slice(piece);
//!     loop {
//!         if conn.wants_read() {
//!             conn.handle_read(Instant::ZERO, &mut inbox);
//!         }
//!         let mut answered = false;
//!         while let Some(event) = conn.poll_event() {
//!             match event {
//!                 Event::Request(head) => target = head.target().to_owned(),
//!                 Event::End => {
//!                     conn.respond(200, &[], Bytes::from(target.clone())).unwrap();
//!                     answered = true;
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         while let Some(bytes) = conn.poll_transmit() {
//!             wire.extend_from_slice(&bytes);
//!         }
//!         if !answered { break; } // nothing more to do until more bytes come
//!     }
//! }
//! let text = String::from_utf8(wire).unwrap();
//! assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
//! assert!(text.ends_with("/b"));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod chat;
pub mod echo;
pub mod file;
pub mod http;
pub mod machine;
pub mod scan;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
pub mod time;
pub mod web;
pub mod ws;

pub use machine::{App, ConnId, Datagrams, Hub, Input, Output, Session, Source, Splice, Transmit};
pub use time::Instant;
