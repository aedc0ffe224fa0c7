//! The TCP connect scan (PROTOCOLS.md §4) over any runtime: the core's
//! [`Scan`] hands out ports and keeps the outcomes, the transport connects,
//! and [`connect_failure`] classifies every failed connect, the same way
//! on every runtime.
//!
//! ```no_run
//! use std::time::Duration;
//! use sansnet_proto::scan::Scan;
//!
//! let mut plan = Scan::new("1-1024".parse().unwrap());
//! let host = "127.0.0.1".parse().unwrap();
//! sansnet_apps::scan::<sansnet_smol::Runtime>(host, &mut plan, 500, Duration::from_millis(500))
//!     .unwrap();
//! println!("open: {:?}", plan.open_ports().collect::<Vec<_>>());
//! ```

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use sansnet_net::{Probes, Transport};
use sansnet_proto::scan::{Outcome, PortSet, Scan};

/// Scans `host` on the ports `plan` hands out with the runtime `R`: at
/// most `concurrency` connects in flight, each given `timeout`. Every
/// outcome is recorded in `plan`; it is done unless an error stopped the
/// scan early.
pub fn scan<R: Transport>(
    host: IpAddr,
    plan: &mut Scan,
    concurrency: usize,
    timeout: Duration,
) -> io::Result<()> {
    R::connect_each(host, concurrency, timeout, &Probing(Mutex::new(plan)))
}

/// A scan plan shared by the transport's connecting threads or tasks.
struct Probing<'a>(Mutex<&'a mut Scan>);

impl Probes for Probing<'_> {
    fn next_port(&self) -> Option<u16> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).next_port()
    }

    fn record(&self, port: u16, result: io::Result<(SocketAddr, SocketAddr)>) {
        let outcome = match result {
            Ok((local, peer)) => Outcome::connected(local, peer),
            Err(e) => connect_failure(&e),
        };
        let recorded = self.0.lock().unwrap_or_else(|e| e.into_inner()).record(port, outcome);
        debug_assert!(recorded.is_ok(), "{recorded:?}");
    }
}

/// What a scan is about to do, in one line (for `-v`): the host, the
/// ports, the runtime, the concurrency and timeout, and the descriptor
/// limit (`None`: unknown).
pub fn describe(
    host: IpAddr,
    ports: &PortSet,
    runtime: &str,
    concurrency: usize,
    timeout: Duration,
    fd_limit: Option<u64>,
) -> String {
    let limit = fd_limit.map_or_else(|| "unknown".into(), |l| l.to_string());
    format!(
        "scanning {host} ({} ports: {ports}) on {runtime}: concurrency {concurrency}, timeout {} ms, \
         file-descriptor limit {limit}",
        ports.len(),
        timeout.as_millis()
    )
}

/// Writes a scan's result as PROTOCOLS.md §4 prints it: the open ports,
/// ascending, one per line (`json`: one array, `[22,80]`); with `all`,
/// every port scanned as `PORT open|closed|filtered` (`json`:
/// `[{"port":22,"state":"open"},...]`).
pub fn report(plan: &Scan, all: bool, json: bool, out: &mut impl io::Write) -> io::Result<()> {
    match (all, json) {
        (false, false) => plan.open_ports().try_for_each(|p| writeln!(out, "{p}")),
        (true, false) => plan.states().try_for_each(|(p, s)| writeln!(out, "{p} {s}")),
        (false, true) => {
            let list: Vec<String> = plan.open_ports().map(|p| p.to_string()).collect();
            writeln!(out, "[{}]", list.join(","))
        }
        (true, true) => {
            let list: Vec<String> =
                plan.states().map(|(p, s)| format!("{{\"port\":{p},\"state\":\"{s}\"}}")).collect();
            writeln!(out, "[{}]", list.join(","))
        }
    }?;
    out.flush()
}

/// How a failed connect counts in a scan, on every runtime: refused is a
/// reset; timed out or unreachable is filtered.
pub fn connect_failure(e: &io::Error) -> Outcome {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused | K::ConnectionReset | K::NotConnected => Outcome::Refused,
        K::TimedOut | K::WouldBlock | K::HostUnreachable | K::NetworkUnreachable => {
            Outcome::Filtered
        }
        _ => {
            tracing::debug!("scan connect: {e}");
            Outcome::Error
        }
    }
}

/// The address to scan for `host`: an IP literal (`::1` or `[::1]`), or a
/// name's first IPv4 address, else its first IPv6 one.
pub fn scan_address(host: &str) -> io::Result<IpAddr> {
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = (host, 0).to_socket_addrs()?.map(|a| a.ip()).collect();
    addrs
        .iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address for {host:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(scan_address("127.0.0.1").unwrap(), IpAddr::from([127, 0, 0, 1]));
        assert_eq!(scan_address("::1").unwrap(), "::1".parse::<IpAddr>().unwrap());
        assert_eq!(scan_address("[::1]").unwrap(), "::1".parse::<IpAddr>().unwrap());
        assert!(scan_address("localhost").unwrap().is_loopback());
    }

    #[test]
    fn failures_are_classified_once() {
        let f = |k| connect_failure(&io::Error::from(k));
        assert_eq!(f(io::ErrorKind::ConnectionRefused), Outcome::Refused);
        assert_eq!(f(io::ErrorKind::NotConnected), Outcome::Refused);
        assert_eq!(f(io::ErrorKind::TimedOut), Outcome::Filtered);
        assert_eq!(f(io::ErrorKind::WouldBlock), Outcome::Filtered);
        assert_eq!(f(io::ErrorKind::HostUnreachable), Outcome::Filtered);
        assert_eq!(f(io::ErrorKind::PermissionDenied), Outcome::Error);
    }

    fn scan_a_closed_and_an_open_port<R: Transport>() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = open.local_addr().expect("addr").port();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let closed_port = closed.local_addr().expect("addr").port();
        drop(closed);
        let spec = format!("{port},{closed_port}");
        let mut plan = Scan::new(spec.parse().expect("spec"));
        let host = IpAddr::from([127, 0, 0, 1]);
        scan::<R>(host, &mut plan, 10, Duration::from_secs(2)).expect("scan");
        assert!(plan.is_done());
        assert_eq!(plan.open_ports().collect::<Vec<_>>(), vec![port], "{}", R::NAME);
        assert_eq!(plan.summary().refused, 1, "{}", R::NAME);
    }

    #[test]
    fn scans_on_every_runtime() {
        scan_a_closed_and_an_open_port::<sansnet_std::Runtime>();
        scan_a_closed_and_an_open_port::<sansnet_smol::Runtime>();
        scan_a_closed_and_an_open_port::<sansnet_async_std::Runtime>();
        scan_a_closed_and_an_open_port::<sansnet_tokio::Runtime>();
    }
}
