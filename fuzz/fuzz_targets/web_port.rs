//! Fuzz target `web_port`: the chat room's web port (HTTP, the upgrade,
//! WebSocket frames) fed anything; the invariants live in
//! `fuzz/web_checks.rs`, shared with the replay test.
#![no_main]

#[path = "../web_checks.rs"]
mod web_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| web_checks::web_port(data));
