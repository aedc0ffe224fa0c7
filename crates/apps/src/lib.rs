//! # sansnet-apps: the sansnet applications, over any runtime
//!
//! The programs of the `sansnet` binary as a library: each is the core's
//! sans-IO machine (`sansnet-proto`) with the I/O it asks for (files,
//! names, connects), generic over the runtime (`R:`
//! [`Transport`](sansnet_net::Transport): `sansnet_std::Runtime`,
//! `sansnet_smol::Runtime`, `sansnet_async_std::Runtime`, `sansnet_tokio::Runtime`). Blocking work
//! runs where the runtime says ([`Transport::BLOCKING`](sansnet_net::Transport::BLOCKING)),
//! never on an executor thread.
//!
//! - [`Hello`]: the hello page; [`StaticFiles`]: a static file server
//!   (root, paths, listing, MIME, dates, Range, conditional requests).
//! - [`transfer`]: file transfer's disk side, receiving into an
//!   [`Inbox`](transfer::Inbox) and [`send_file`](transfer::send_file).
//! - [`scan()`]: a TCP connect scan, with the one classification of
//!   connect failures for every runtime.
//! - [`certs`]: a new CA, server and client certificates for TLS
//!   (`sansnet cert`).
//! - [`echo`] and [`chat`]: the echo and chat hosts (and the chat's
//!   terminal member); [`oneshot`]: one message, one reply; [`lookup`]:
//!   name lookup; [`units`]: sizes and durations as users type them
//!   (`64K`, `0.5`).
//! - [`cluster`]: one chat room across many servers, through Redis
//!   (the bridge between a clustered room and Redis).
//! - [`tls`]: TLS around any of them, from PEM files ([`tls::TlsOptions`]:
//!   the settings a program was given, checked against its role).
//! - [`host`]: process settings for a host of many connections.
//!
//! Nothing here prints on its own: what is shown goes to writers the
//! caller hands in, and progress and outcomes reach the caller through
//! small hooks ([`transfer::ReceiveEvents`], [`transfer::Progress`]) and
//! return values; the rest is logged with `tracing`.
//!
//! ## Serving a directory on any runtime
//!
//! Change the `use` line to pick another runtime (see
//! `examples/static_server.rs`):
//!
//! ```no_run
//! use sansnet_smol as rt; // or sansnet_std, sansnet_async_std
//! use sansnet_apps::static_files::{self, Root};
//! use sansnet_net::{Endpoint, Listener, ServerConfig, Shutdown, SocketOptions};
//!
//! let root = Root::new(".")?;
//! let endpoint: Endpoint = "127.0.0.1:8080".parse()?;
//! let listener = Listener::bind(&endpoint, &SocketOptions::default())?;
//! let factory = static_files::factory::<rt::Runtime>(root, Default::default());
//! rt::serve(listener, &ServerConfig::default(), &Shutdown::new(), factory)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

pub mod certs;
pub mod chat;
pub mod cluster;
mod disk;
pub mod echo;
pub mod hello;
pub mod host;
pub mod lookup;
pub mod oneshot;
mod scan;
pub mod static_files;
#[cfg(test)]
mod testing;
pub mod tls;
pub mod transfer;
pub mod units;

pub use hello::Hello;
pub use scan::{
    connect_failure, describe as describe_scan, report as scan_report, scan, scan_address,
};
pub use static_files::StaticFiles;

/// Seconds since the Unix epoch, whole (times before it count as 0), as
/// the core's HTTP dates take them.
fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
