//! The HTTP core end to end: vectors, splits, differential, linear bound, timers.
//!
//! - [`splits`]: any split of valid pipelined requests gives the same events
//!   and bytes; hostile bytes give a typed, answered rejection, never a
//!   panic or an unbounded buffer (proptest).
//! - [`differential`]: request heads against httparse 1.x.
//! - [`linear`]: `HeadParser::bytes_inspected` stays linear however the
//!   head is split.
//! - [`clock`]: a client and the server on a simulated clock: 408s.
//! - [`three_ways`]: realistic vectors whole, byte by byte, with trailing data.
//! - [`bugs`]: suspected bugs of the core, as ignored failing tests.
//!
//! [`harness`] drives a `ServerConn` by the drain contract and checks it on
//! every step; [`strategies`] generates requests; [`vectors`] holds the
//! fixed inputs (httparse's `REQ` among them).

mod bugs;
mod clock;
mod differential;
mod harness;
mod linear;
mod splits;
mod strategies;
mod three_ways;
mod vectors;
