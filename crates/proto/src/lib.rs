//! # sansnet-proto: the protocols of sansnet as pure state machines
//!
//! This crate does no I/O. It holds no sockets, opens no files, spawns no
//! threads and never reads a clock: bytes and time go in as arguments, bytes
//! to send, events and deadlines come out as values. The same machines run
//! over std blocking sockets, async-std and smol (the `sansnet-std`,
//! `sansnet-async-std` and `sansnet-smol` crates), inside your own event
//! loop, or in a test on a simulated clock.
//!
//! - [`http`]: the HTTP/1.1 server connection ([`http::ServerConn`]), its
//!   incremental request parser and response writer.
//! - [`file`](mod@file): file transfer, the [`file::Sender`] and [`file::Receiver`]
//!   machines with their line codec and file-name rules; they say what to
//!   read or write and where, and never touch a file themselves.
//! - [`machine`]: the shape every machine shares ([`Session`] for one
//!   connection, [`Hub`] for many) and the drain contract drivers follow.
//! - [`time`]: [`Instant`] and the timer table.
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
pub mod time;

pub use machine::{App, ConnId, Datagrams, Hub, Input, Output, Session, Solo};
pub use time::Instant;
