//! Fuzz target `tls_glue`: the TLS wrapper's glue (`crates/tls`); the
//! invariants live in `fuzz/tls_checks.rs`, shared with the replay test
//! `tests/integration/fuzz_replay.rs`.
#![no_main]

#[path = "../tls_checks.rs"]
mod tls_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| tls_checks::tls_glue(data));
