//! Empty library: this package exists for its one integration-test binary,
//! `tests/integration/main.rs`, which pulls in a module per protocol.
