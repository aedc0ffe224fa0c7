//! sansnet's integration tests: one binary (one link), a module per area.

mod fuzz_replay;
mod http_core;
