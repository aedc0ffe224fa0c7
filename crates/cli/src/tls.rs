//! The TLS flags (PROTOCOLS.md §5), global like the socket options: the
//! servers take `--tls-cert`, `--tls-key`, `--tls-client-ca`; the clients
//! `--tls`, `--ca`, `--server-name`, `--cert`, `--key`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use sansnet_apps::tls::{ClientTls, Limits, ServerTls};

use crate::cli::{parse_secs, parse_size};

/// The read buffer of the file programs, and their TLS plaintext bound.
pub(crate) const BULK: usize = sansnet_apps::transfer::READ_BUFFER;

/// TLS flags.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "TLS (servers: http, chat serve, echo, file recv)")]
pub(crate) struct TlsArgs {
    /// Serve TLS 1.3 and 1.2 with this certificate chain (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Require a client certificate that chains to this CA (mutual TLS).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// Seconds a TLS handshake may take, servers and clients [default: 10;
    /// http: its --header-timeout].
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) tls_handshake_timeout: Option<Duration>,
    /// Decrypted bytes a TLS connection holds for its program; past it,
    /// reading stops until the program takes them [default: 64K; file
    /// recv and send: 1M, their read buffer].
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_size)]
    pub(crate) tls_max_plaintext: Option<usize>,
    /// Clients (chat join, file send, send): connect with TLS.
    #[arg(long, global = true, help_heading = "TLS (clients: chat join, file send, send)")]
    pub(crate) tls: bool,
    /// The CA to trust (PEM) [default: the system's roots].
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        requires = "tls",
        help_heading = "TLS (clients: chat join, file send, send)"
    )]
    pub(crate) ca: Option<PathBuf>,
    /// The name to verify when it differs from the host in ADDR.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        requires = "tls",
        help_heading = "TLS (clients: chat join, file send, send)"
    )]
    pub(crate) server_name: Option<String>,
    /// A client certificate chain to present (PEM).
    #[arg(long, global = true, value_name = "FILE", requires_all = ["tls", "key"], help_heading = "TLS (clients: chat join, file send, send)")]
    pub(crate) cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        requires = "cert",
        help_heading = "TLS (clients: chat join, file send, send)"
    )]
    pub(crate) key: Option<PathBuf>,
}

impl TlsArgs {
    /// The program's `defaults`, with what the flags set.
    pub(crate) fn limits(&self, defaults: Limits) -> Limits {
        let mut limits = defaults;
        if let Some(t) = self.tls_handshake_timeout {
            limits = limits.with_handshake_timeout(t);
        }
        if let Some(n) = self.tls_max_plaintext {
            limits = limits.with_max_plaintext(n);
        }
        limits
    }

    /// A server's TLS (ALPN `alpn`), if the flags ask for it; `None` where
    /// the program has no TLS (`what` names it in the error).
    pub(crate) fn server(
        &self,
        alpn: &[&[u8]],
        what: Option<&str>,
        defaults: Limits,
    ) -> anyhow::Result<Option<ServerTls>> {
        if self.tls || self.ca.is_some() || self.server_name.is_some() || self.cert.is_some() {
            bail!(
                "--tls, --ca, --server-name and --cert are client flags (chat join, file send, send)"
            );
        }
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else { return Ok(None) };
        if let Some(what) = what {
            bail!(
                "{what} has no TLS: --tls-cert applies to http, chat serve, echo (TCP) and file recv"
            );
        }
        let limits = self.limits(defaults);
        Ok(Some(ServerTls::load(cert, key, self.tls_client_ca.as_deref(), alpn, limits)?))
    }

    /// An error if any TLS flag is given to `what`, a program without TLS.
    pub(crate) fn refuse(&self, what: &str) -> anyhow::Result<()> {
        self.server(&[], Some(what), Limits::default()).map(drop)
    }

    /// A client's TLS for ADDR `addr`, if `--tls`.
    pub(crate) fn client(&self, addr: &str, defaults: Limits) -> anyhow::Result<Option<ClientTls>> {
        if self.tls_cert.is_some() {
            bail!(
                "--tls-cert, --tls-key and --tls-client-ca are server flags; a client takes --tls (--cert FILE --key FILE)"
            );
        }
        if !self.tls {
            return Ok(None);
        }
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
        let name = self.server_name.as_deref().unwrap_or(host);
        let identity = self.cert.as_deref().zip(self.key.as_deref());
        Ok(Some(ClientTls::load(self.ca.as_deref(), identity, name, self.limits(defaults))?))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    #[test]
    fn flags_defaults_and_pairs() {
        let cli = Cli::try_parse_from(["sansnet", "http"]).expect("parses");
        let defaults = super::Limits::default();
        assert_eq!(cli.tls.limits(defaults), defaults);
        let cli = Cli::try_parse_from([
            "sansnet",
            "--tls-max-plaintext",
            "16K",
            "http",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-handshake-timeout",
            "2.5",
        ])
        .expect("parses");
        let limits = cli.tls.limits(super::Limits::default().with_max_plaintext(1 << 20));
        assert_eq!(limits.max_plaintext, 16 * 1024);
        assert_eq!(limits.handshake_timeout, std::time::Duration::from_millis(2500));
        // Halves of a pair alone, and client flags without --tls, are refused.
        for args in [
            &["sansnet", "http", "--tls-cert", "c.pem"][..],
            &["sansnet", "http", "--tls-client-ca", "ca.pem"],
            &["sansnet", "send", "a:1", "m", "--ca", "ca.pem"],
            &["sansnet", "send", "a:1", "m", "--tls", "--cert", "c.pem"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        // Server flags on a client and client flags on a server: errors.
        let cli = Cli::try_parse_from(["sansnet", "http", "--tls"]).expect("parses");
        assert!(cli.tls.server(&[], None, defaults).is_err());
        let cli = Cli::try_parse_from([
            "sansnet",
            "send",
            "a:1",
            "m",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
        ])
        .expect("parses");
        assert!(cli.tls.client("a:1", defaults).is_err());
        let cli =
            Cli::try_parse_from(["sansnet", "scan", "h", "--tls-cert", "c", "--tls-key", "k"])
                .expect("parses");
        assert!(cli.tls.refuse("scan").is_err());
    }
}
