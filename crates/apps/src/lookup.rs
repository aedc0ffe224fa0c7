//! Name lookup (PROTOCOLS.md §4): this machine's host name, a name's
//! IPv4 and IPv6 addresses (getaddrinfo) and their reverse names
//! (getnameinfo), through the dns-lookup crate. Blocking calls.

use std::io;
use std::net::IpAddr;

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// This machine's host name.
    pub hostname: String,
    /// The name looked up.
    pub host: String,
    /// Each address (in getaddrinfo's order, without repeats) and its
    /// reverse name.
    pub addrs: Vec<(IpAddr, Option<String>)>,
}

/// Looks `host` up (this machine's name without one): its addresses, in
/// getaddrinfo's order without repeats, and the reverse name of each.
pub fn lookup(host: Option<&str>) -> io::Result<Found> {
    let hostname =
        dns_lookup::get_hostname().map_err(context("cannot read this machine's host name"))?;
    let host = host.map_or_else(|| hostname.clone(), str::to_owned);
    let mut ips: Vec<IpAddr> = Vec::new();
    let found =
        dns_lookup::lookup_host(&host).map_err(context(&format!("cannot resolve {host:?}")))?;
    for ip in found {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if ips.is_empty() {
        let e = format!("cannot resolve {host:?}: no address");
        return Err(io::Error::new(io::ErrorKind::NotFound, e));
    }
    let addrs = ips
        .into_iter()
        .map(|ip| {
            let name = dns_lookup::lookup_addr(&ip).ok().filter(|n| !n.is_empty());
            (ip, name)
        })
        .collect();
    Ok(Found { hostname, host, addrs })
}

/// Prefixes an error with what was being done.
fn context<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> io::Error + '_ {
    move |e| io::Error::other(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_resolves_to_loopback() {
        let found = lookup(Some("localhost")).unwrap();
        assert!(found.addrs.iter().all(|(ip, _)| ip.is_loopback()), "{found:?}");
        assert!(!found.addrs.is_empty());
    }
}
