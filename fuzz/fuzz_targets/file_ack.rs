//! Fuzz target `file_ack`: the invariants live in `fuzz/file_checks.rs`, shared
//! with the replay test `tests/integration/fuzz_replay.rs`.
#![no_main]

#[path = "../file_checks.rs"]
mod file_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| file_checks::file_ack(data));
