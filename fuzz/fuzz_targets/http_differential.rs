//! Fuzz target `http_differential`: the invariants live in `fuzz/checks.rs`, shared
//! with the replay test `tests/integration/fuzz_replay.rs`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::http_differential(data));
