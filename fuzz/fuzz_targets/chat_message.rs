//! Fuzz target `chat_message`: the invariants live in `fuzz/chat_checks.rs`, shared
//! with the replay test `tests/integration/fuzz_replay.rs`.
#![no_main]

#[path = "../chat_checks.rs"]
mod chat_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| chat_checks::chat_message(data));
