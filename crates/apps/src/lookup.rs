//! Name lookup (PROTOCOLS.md §4): this machine's host name, a name's
//! IPv4 and IPv6 addresses (getaddrinfo) and their reverse names
//! (getnameinfo), through the dns-lookup crate. Blocking calls.

use std::fmt;
use std::io;
use std::net::IpAddr;

use serde_json::{Map, Value, json};

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

/// The text form:
///
/// ```text
/// host name: vm
/// localhost:
///   IPv4 127.0.0.1  localhost
///   IPv6 ::1        -
/// ```
///
/// (`-`: no reverse name).
impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found = self;
        writeln!(f, "host name: {}\n{}:", found.hostname, found.host)?;
        let width = found.addrs.iter().map(|(ip, _)| ip.to_string().len()).max().unwrap_or(0);
        for (ip, name) in &found.addrs {
            let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            let name = name.as_deref().unwrap_or("-");
            writeln!(f, "  {family} {:<width$}  {name}", ip.to_string())?;
        }
        Ok(())
    }
}

impl Found {
    /// The JSON form, one object with sorted keys:
    /// `{"host":"localhost","hostname":"vm","ipv4":["127.0.0.1"],"ipv6":["::1"],
    /// "reverse":{"127.0.0.1":"localhost","::1":null}}` (`null`: no
    /// reverse name).
    pub fn to_json(&self) -> String {
        let found = self;
        let list = |v4: bool| -> Vec<String> {
            found
                .addrs
                .iter()
                .filter(|(ip, _)| ip.is_ipv4() == v4)
                .map(|(ip, _)| ip.to_string())
                .collect()
        };
        let reverse: Map<String, Value> = found
            .addrs
            .iter()
            .map(|(ip, name)| (ip.to_string(), name.clone().map_or(Value::Null, Value::String)))
            .collect();
        json!({
            "hostname": found.hostname,
            "host": found.host,
            "ipv4": list(true),
            "ipv6": list(false),
            "reverse": reverse,
        })
        .to_string()
    }
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

    fn sample() -> Found {
        Found {
            hostname: "vm".into(),
            host: "localhost".into(),
            addrs: vec![
                ("127.0.0.1".parse().unwrap(), Some("localhost".into())),
                ("::1".parse().unwrap(), None),
            ],
        }
    }

    #[test]
    fn text() {
        assert_eq!(
            sample().to_string(),
            "host name: vm\nlocalhost:\n  IPv4 127.0.0.1  localhost\n  IPv6 ::1        -\n"
        );
    }

    #[test]
    fn json() {
        assert_eq!(
            sample().to_json(),
            r#"{"host":"localhost","hostname":"vm","ipv4":["127.0.0.1"],"ipv6":["::1"],"reverse":{"127.0.0.1":"localhost","::1":null}}"#
        );
    }
}
