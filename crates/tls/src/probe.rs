//! A test client session, shared by this crate's unit tests and the fuzz
//! target `tls_glue` (`fuzz/tls_checks.rs` includes this file by path).

use bytes::{Bytes, BytesMut};
use sansnet_proto::{Instant, Session};

/// A client that sends `payload`, reads until it got `expect` bytes, and
/// finishes.
pub(crate) struct Probe {
    out: Option<Bytes>,
    /// What it received.
    pub(crate) got: Vec<u8>,
    expect: usize,
    eof: bool,
}

impl Probe {
    pub(crate) fn new(payload: &[u8], expect: usize) -> Probe {
        Probe { out: Some(Bytes::copy_from_slice(payload)), got: Vec::new(), expect, eof: false }
    }
}

impl Session for Probe {
    type Event = ();
    fn handle_read(&mut self, _: Instant, buf: &mut BytesMut) {
        self.got.extend_from_slice(&buf.split());
    }
    fn handle_eof(&mut self, _: Instant) {
        self.eof = true;
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.take()
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn wants_read(&self) -> bool {
        !self.eof
    }
    fn is_finished(&self) -> bool {
        self.eof || self.got.len() >= self.expect
    }
}
