//! HTTP/1.1 (RFC 9112), server side, without I/O.
//!
//! - [`HeadParser`]: the incremental request-head parser (request-line in
//!   all four target forms, fields, framing semantics), O(n) however the
//!   input is split, fields as spans into one shared [`bytes::Bytes`].
//! - [`BodyDecoder`]: `Content-Length` and `chunked` bodies (extensions and
//!   trailers validated, bounded, discarded), zero-copy.
//! - [`ServerConn`]: the connection machine that puts them together with
//!   keep-alive, pipelining, `Expect: 100-continue`, the response writer,
//!   the header and idle timers, and every rejection of the contract.
//!
//! What is strict, and why, is listed on [`Error`]: each variant names its
//! RFC 9112 rule. [`Limits`] holds every bound, with defaults.
//!
//! Helpers for applications, pure like the rest: [`date`] (HTTP dates from
//! and to Unix seconds), [`range`] (the `Range` field), [`path`] (request
//! target to the segments of a path under a root, percent-decoded and
//! normalised), [`html`] (escaping and percent-encoding for pages).

mod body;
mod chars;
mod conn;
pub mod date;
mod error;
mod head;
pub mod html;
mod limits;
mod outgoing;
pub mod path;
pub mod range;
mod response;
#[cfg(test)]
mod splice_tests;
#[cfg(test)]
mod tests;

pub use body::{BodyChunk, BodyDecoder};
pub use conn::{Event, ServerConn};
pub use error::{Error, Misuse};
pub use head::{BodyKind, HeadParser, RequestHead, TargetForm, Version};
pub use limits::Limits;
pub use response::{ResponseBody, reason};
