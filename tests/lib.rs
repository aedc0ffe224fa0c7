//! This package exists for its one integration-test binary,
//! `tests/integration/main.rs`, which pulls in a module per protocol, and to
//! compile and run the Rust examples of the README as doctests.

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
