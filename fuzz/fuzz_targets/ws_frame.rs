//! Fuzz target `ws_frame`: the invariants live in `fuzz/ws_checks.rs`, shared
//! with the replay test `tests/integration/fuzz_replay.rs`.
#![no_main]

#[path = "../ws_checks.rs"]
mod ws_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ws_checks::ws_frame(data));
