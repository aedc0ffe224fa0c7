//! File transfer (PROTOCOLS.md §3) without I/O: the line codec, the
//! file-name rules, and the two machines.
//!
//! ```text
//! sender                                   receiver
//!   NAME|SIZE\n                  ──────►
//!                                ◄──────   OK OFFSET\n   (or ERR CODE message\n)
//!   bytes OFFSET..SIZE           ──────►
//!   BLAKE3 <64 hex>\n            ──────►
//!                                ◄──────   DONE <hex>\n  (or ERR short|hash_mismatch ...)
//! ```
//!
//! - [`Sender`] models the sending side of one connection: it sends the
//!   header, reads the ack (`OK OFFSET`, the reference receiver's bare `OK`,
//!   or `ERR`), asks the application for the file's bytes in order
//!   ([`sender::Event::Read`]), hashes **all** of them with BLAKE3 (the
//!   prefix a resumed transfer skips too), sends those from the offset on,
//!   then the trailer, and checks `DONE`. After a bare `OK` it sends the
//!   bytes alone and reports the transfer sent but unverified
//!   ([`sender::Event::Unverified`]).
//! - [`Receiver`] models the receiving side: it reads the header (at most
//!   [`Limits::header_cap`] bytes), checks the name ([`check_name`]) and the
//!   size, lets the application decide ([`receiver::Event::Offer`]: `exists`,
//!   `no_space`, or the offset of a partial file to resume), re-hashes a
//!   kept prefix, hashes the data as it streams through and hands it out to
//!   be written at its offset ([`receiver::Event::Write`]), checks the
//!   trailer, and asks for the partial file to be put in place
//!   ([`receiver::Event::Commit`]) before it answers `DONE`.
//!
//! Neither touches a file: each tells its application which range to read
//! or which bytes to write where, and the application (a transport's disk
//! I/O, inline on a thread or on a blocking pool) answers with a command
//! ([`Sender::supply`], [`Receiver::supply`], [`Receiver::written`],
//! [`Receiver::committed`]). Both follow the [drain
//! contract](crate::machine), bound what they buffer
//! ([`Limits::max_buffered`]), and never panic on peer input.
//!
//! # Error codes
//!
//! | code | when | partial file |
//! | --- | --- | --- |
//! | `bad_header` | no `\n` within 4 KiB, no `\|`, SIZE not digits, the stream ends or stalls inside the header | none |
//! | `bad_name` | NAME not a plain name (`/`, `\`, NUL, control characters, `.`, `..`, over 255 bytes, not UTF-8, empty; bidirectional controls, line separators, invisible characters, whitespace at either end: [`crate::text`]) | none |
//! | `too_large` | SIZE over [`Limits::max_size`] (or over `u64`) | none |
//! | `no_space` | SIZE more than the free space (the application decides) | none |
//! | `exists` | NAME exists (the application decides) | none |
//! | `short` | the stream ends or stalls ([`Limits::idle_timeout`]) before SIZE bytes and the trailer | kept: resumable |
//! | `hash_mismatch` | the trailer's hash differs, or no valid trailer follows SIZE bytes | deleted |
//! | `io` | the receiver's own disk failed (an addition to PROTOCOLS.md) | the application decides |
//!
//! # Choices where PROTOCOLS.md is silent
//!
//! - NAME is what comes before the **last** `|`: a name may hold `|`.
//! - Lines may end in `\r\n` as well as `\n`; hex digits may be either case
//!   (we send lowercase).
//! - A lone `OK` is the reference receiver's bare ack once nothing follows
//!   for [`Limits::bare_ok_wait`], or at the end of the stream; `OK\n` is a
//!   bare ack too.
//! - A resumed transfer is re-hashed from byte 0 on both sides: the trailer
//!   always covers the whole file.
//!
//! # A sender and a receiver wired in memory
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use sansnet_proto::file::{receiver, sender, Limits, Receiver, Sender};
//! use sansnet_proto::{Instant, Session};
//!
//! let file = Bytes::from(vec![7u8; 100_000]);
//! let now = Instant::ZERO;
//! let limits = Limits::default().with_chunk(4096);
//! let mut tx = Sender::new("seven.bin", file.len() as u64, limits, now).unwrap();
//! let mut rx = Receiver::new(limits, now);
//! let (mut to_rx, mut to_tx) = (BytesMut::new(), BytesMut::new());
//! let mut disk = vec![0u8; file.len()];
//! let mut outcome = None;
//! while outcome.is_none() {
//!     while let Some(b) = tx.poll_transmit() { tx.handle_sent(now, b.len()); to_rx.extend_from_slice(&b); }
//!     rx.handle_read(now, &mut to_rx);
//!     while let Some(ev) = rx.poll_event() {
//!         match ev {
//!             receiver::Event::Offer { .. } => rx.accept(now, 0).unwrap(),
//!             receiver::Event::Write { offset, data } => {
//!                 let mut at = offset as usize;
//!                 for piece in data {
//!                     disk[at..at + piece.len()].copy_from_slice(&piece);
//!                     at += piece.len();
//!                     rx.written(now, piece.len());
//!                 }
//!             }
//!             receiver::Event::Commit { .. } => rx.committed().unwrap(),
//!             other => panic!("{other:?}"),
//!         }
//!     }
//!     while let Some(b) = rx.poll_transmit() { to_tx.extend_from_slice(&b); }
//!     tx.handle_read(now, &mut to_tx);
//!     while let Some(ev) = tx.poll_event() {
//!         match ev {
//!             sender::Event::Read { offset, len } => {
//!                 let at = offset as usize;
//!                 tx.supply(now, file.slice(at..at + len)).unwrap();
//!             }
//!             sender::Event::Done { hash } => outcome = Some(hash),
//!             sender::Event::Accepted { .. } => {}
//!             other => panic!("{other:?}"),
//!         }
//!     }
//! }
//! assert_eq!(disk, file);
//! assert_eq!(outcome, Some(blake3::hash(&file)));
//! assert!(tx.is_finished() && rx.is_finished());
//! ```

mod codec;
mod limits;
mod name;
pub mod receiver;
pub mod sender;

#[cfg(test)]
mod tests;

pub use codec::{
    ANSWER_CAP, Ack, BadAnswer, ErrorCode, HEADER_CAP, Hash, Header, Refusal, TRAILER_CAP,
    decode_done, decode_trailer, encode_done, encode_trailer,
};
pub use limits::Limits;
pub use name::{MAX_NAME, NameError, Stash, check_name};
pub use receiver::Receiver;
pub use sender::Sender;

/// The application called a command of a [`Sender`] or [`Receiver`] at the
/// wrong time or with an out-of-range value: a bug in the application, not
/// the peer's doing (the machine is left as it was). Every protocol of the
/// crate names this kind of error `Misuse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Misuse {
    /// Not in this state.
    #[error("not now: {0}")]
    State(&'static str),
    /// An offset or a length out of range.
    #[error("out of range: {0}")]
    Range(&'static str),
}
