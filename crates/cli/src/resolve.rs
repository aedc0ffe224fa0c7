//! `sansnet resolve [HOST]`: this machine's host name, HOST's IPv4 and IPv6
//! addresses (getaddrinfo) and the reverse name of each (getnameinfo), as
//! `sansnet_apps::lookup` finds them (PROTOCOLS.md §4).
//!
//! Without HOST it looks up this machine's own name. The text output:
//!
//! ```text
//! host name: vm
//! localhost:
//!   IPv4 127.0.0.1  localhost
//!   IPv6 ::1        localhost
//! ```
//!
//! An address without a reverse name shows `-` (in JSON, `null`). With
//! `--json`, one object:
//! `{"host":"localhost","hostname":"vm","ipv4":["127.0.0.1"],"ipv6":["::1"],
//! "reverse":{"127.0.0.1":"localhost","::1":"localhost"}}` (keys sorted).
//! The lookups are blocking calls: `--runtime` changes nothing here.

use std::io::{self, Write};

use anyhow::Context;
use clap::Args;
use sansnet_apps::lookup::{Found, lookup};
use serde_json::{Map, Value, json};

use crate::cli::Cli;

/// `sansnet resolve` flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct ResolveArgs {
    /// The name to look up [default: this machine's host name].
    #[arg(value_name = "HOST")]
    pub(crate) host: Option<String>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `sansnet resolve`.
pub(crate) fn run(_cli: &Cli, args: &ResolveArgs) -> anyhow::Result<()> {
    let found = lookup(args.host.as_deref())?;
    let text = if args.json { json_of(&found).to_string() + "\n" } else { text_of(&found) };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("stdout")
}

fn text_of(found: &Found) -> String {
    let mut s = format!("host name: {}\n{}:\n", found.hostname, found.host);
    let width = found.addrs.iter().map(|(ip, _)| ip.to_string().len()).max().unwrap_or(0);
    for (ip, name) in &found.addrs {
        let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
        let name = name.as_deref().unwrap_or("-");
        s += &format!("  {family} {:<width$}  {name}\n", ip.to_string());
    }
    s
}

fn json_of(found: &Found) -> Value {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
            text_of(&sample()),
            "host name: vm\nlocalhost:\n  IPv4 127.0.0.1  localhost\n  IPv6 ::1        -\n"
        );
    }

    #[test]
    fn json() {
        assert_eq!(
            json_of(&sample()).to_string(),
            r#"{"host":"localhost","hostname":"vm","ipv4":["127.0.0.1"],"ipv6":["::1"],"reverse":{"127.0.0.1":"localhost","::1":null}}"#
        );
    }
}
