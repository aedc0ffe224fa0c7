//! sansnet's integration tests: one binary (one link), a module per area.

mod browser;
mod cert;
mod chat;
mod cluster;
mod file;
mod fuzz_replay;
mod http_core;
mod http_server;
mod netns;
mod pki;
mod reactors;
mod sendfile;
mod sim;
mod slow_peers;
mod socket_tools;
mod support;
mod tls;
mod web;
