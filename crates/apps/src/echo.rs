//! Echo hosts (RFC 862, PROTOCOLS.md §4): the core's [`Echo`] per TCP
//! connection and [`UdpEcho`] for datagrams, set up from plain settings.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use sansnet_net::Factory;
use sansnet_proto::echo::{Echo, UdpEcho};

/// How long a TCP echo connection may stay silent (both ways) by default.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(300);

/// The [`Factory`] of a TCP echo server: `prefix` before each chunk sent
/// back, reading paused while `max_unsent` bytes wait, closed after `idle`
/// of silence.
pub fn tcp(prefix: Bytes, max_unsent: usize, idle: Duration) -> impl Factory {
    move |now, _peer: &str| {
        let echo = Echo::new(now)
            .with_prefix(prefix.clone())
            .with_max_unsent(max_unsent)
            .with_idle_timeout(now, idle);
        (echo, |_: &mut Echo, event: Infallible| match event {})
    }
}

/// A UDP echo machine: each datagram answered with `prefix` and its bytes,
/// except those that could start a loop ([`UdpEcho::refuses`]); source
/// ports below 1024 are answered only with `allow_low_ports`.
pub fn udp(prefix: Bytes, allow_low_ports: bool) -> UdpEcho {
    UdpEcho::new().with_prefix(prefix).with_allow_low_ports(allow_low_ports)
}
