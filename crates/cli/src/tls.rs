//! The TLS flags (PROTOCOLS.md §5), global like the socket options; what
//! they mean for each program is `sansnet_apps::tls::TlsOptions`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use sansnet_apps::tls::TlsOptions;

use crate::cli::{parse_secs, parse_size};

/// TLS flags: the servers' and the clients'.
#[derive(Args, Debug, Clone)]
pub(crate) struct TlsArgs {
    #[command(flatten)]
    server: ServerFlags,
    #[command(flatten)]
    client: ClientFlags,
}

/// A server's TLS flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "TLS (servers: http, chat serve, echo, file recv)")]
struct ServerFlags {
    /// Serve TLS 1.3 and 1.2 with this certificate chain (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require a client certificate that chains to this CA (mutual TLS).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Seconds a TLS handshake may take, servers and clients [default: 10;
    /// http: its --header-timeout].
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_secs)]
    tls_handshake_timeout: Option<Duration>,
    /// Decrypted bytes a TLS connection holds for its program; past it,
    /// reading stops until the program takes them [default: 64K; file
    /// recv and send: 1M, their read buffer].
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_size)]
    tls_max_plaintext: Option<usize>,
}

/// A client's TLS flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "TLS (clients: chat join, file send, send)")]
struct ClientFlags {
    /// Connect with TLS.
    #[arg(long, global = true)]
    tls: bool,
    /// The CA to trust (PEM) [default: the system's roots].
    #[arg(long, global = true, value_name = "FILE", requires = "tls")]
    ca: Option<PathBuf>,
    /// The name to verify when it differs from the host in ADDR.
    #[arg(long, global = true, value_name = "NAME", requires = "tls")]
    server_name: Option<String>,
    /// A client certificate chain to present (PEM).
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls", "key"])]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
}

impl TlsArgs {
    /// What the flags say.
    pub(crate) fn options(&self) -> TlsOptions {
        let (s, c) = (self.server.clone(), self.client.clone());
        TlsOptions {
            cert: s.tls_cert,
            key: s.tls_key,
            client_ca: s.tls_client_ca,
            handshake_timeout: s.tls_handshake_timeout,
            max_plaintext: s.tls_max_plaintext,
            connect: c.tls,
            ca: c.ca,
            server_name: c.server_name,
            identity: c.cert.zip(c.key),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    #[test]
    fn flags_reach_the_options_and_pairs_are_enforced() {
        let args =
            ["sansnet", "--tls-max-plaintext", "16K", "http", "--tls-handshake-timeout", "2.5"];
        let o = Cli::try_parse_from(args).expect("parses").tls.options();
        assert_eq!(o.max_plaintext, Some(16 * 1024));
        assert_eq!(o.handshake_timeout, Some(std::time::Duration::from_millis(2500)));
        let args = ["sansnet", "send", "a:1", "m", "--tls", "--cert", "c.pem", "--key", "k.pem"];
        let o = Cli::try_parse_from(args).expect("parses").tls.options();
        assert!(o.connect && o.identity == Some(("c.pem".into(), "k.pem".into())));
        // Halves of a pair alone, and client flags without --tls, are refused.
        for args in [
            &["sansnet", "http", "--tls-cert", "c.pem"][..],
            &["sansnet", "http", "--tls-client-ca", "ca.pem"],
            &["sansnet", "send", "a:1", "m", "--ca", "ca.pem"],
            &["sansnet", "send", "a:1", "m", "--tls", "--cert", "c.pem"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
