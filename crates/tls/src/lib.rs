//! # sansnet-tls: TLS as a machine that wraps machines
//!
//! TLS is one more sans-IO machine here. [`Tls`] wraps any
//! [`Session`](sansnet_proto::Session) (an HTTP connection, echo, a file
//! sender or receiver) and is itself a `Session`; [`TlsHub`] wraps any
//! [`Hub`](sansnet_proto::Hub) (the chat room) and is itself a `Hub`.
//! Ciphertext goes in through `handle_read` and out through
//! `poll_transmit`, the inner machine sees plaintext only. The wrappers
//! hold no socket and read no clock (the handshake deadline is an
//! [`Instant`](sansnet_proto::Instant) like every machine's timers), so
//! every transport carries TLS unchanged: a program puts it on by wrapping
//! the machine it hands to `serve`, `serve_hub` or `run_client`.
//!
//! The record layer is [rustls] 0.23 with the aws-lc-rs provider. *ring*
//! builds with a C compiler alone too, but rustls 0.23.48 deprecated its
//! provider for lacking post-quantum key exchange: aws-lc-rs offers
//! X25519MLKEM768 first (to peers that know it; others get X25519), and
//! its AES-GCM uses the vector AES instructions of recent CPUs. It builds
//! here with the C compiler alone as well (no cmake). TLS 1.3 and 1.2
//! only.
//! [`config`] builds rustls configurations from PEM bytes: a server's
//! chain and key, an optional client CA that then becomes mandatory
//! (mutual TLS), a client's trust anchors and optional certificate.
//!
//! ## What the wrapper models
//!
//! - **The handshake**, with a deadline ([`Limits::handshake_timeout`]): a
//!   peer that never finishes it is failed and closed.
//! - **Failures**, each reported once as an event ([`Event::Failed`],
//!   [`HubEvent::Failed`]) carrying an [`Error`] that names the cause
//!   (plaintext on a TLS port, an untrusted, expired or wrong-name
//!   certificate, a missing client certificate, a timeout), with the alert
//!   queued for the peer where TLS has one.
//! - **Truncation**: a stream that ends without `close_notify` is reported
//!   ([`Error::Truncated`]) and the inner machine is told the stream ended,
//!   so each protocol treats it as it treats any cut: HTTP answers nothing
//!   for a cut request, a file transfer keeps its resumable part, the chat
//!   room announces `left`.
//! - **The peer's identity**: [`Peer`] gives the common name of a verified
//!   certificate; [`TlsHub`] hands it to the inner hub as
//!   [`Input::Identified`](sansnet_proto::Input::Identified).
//! - **Backpressure** both ways (see [`Tls`]).
//! - **The close**: once the inner machine is finished and its bytes are
//!   sealed, `close_notify` follows them.

mod channel;
pub mod config;
mod hub;
mod session;

use std::time::Duration;

pub use hub::{HubEvent, TlsHub};
pub use rustls;
pub use session::{Event, Secured, Tls};

/// The wrapper's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long the handshake may take from the moment the connection is
    /// wrapped. Default 10 s (HTTP's header timeout).
    pub handshake_timeout: Duration,
    /// Decrypted bytes that may wait for the inner machine; past it the
    /// wrapper stops reading. Default 64 KiB (four records).
    pub max_plaintext: usize,
    /// The most plaintext sealed into one ciphertext chunk handed to the
    /// driver (the chunk adds each record's 22 to 29 bytes). Default
    /// 256 KiB.
    pub write_chunk: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            max_plaintext: 64 * 1024,
            write_chunk: 256 * 1024,
        }
    }
}

impl Limits {
    /// Sets [`handshake_timeout`](Limits::handshake_timeout).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Limits {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`max_plaintext`](Limits::max_plaintext) (at least one byte).
    pub fn with_max_plaintext(mut self, bytes: usize) -> Limits {
        self.max_plaintext = bytes.max(1);
        self
    }
}

/// Why a TLS connection failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// The first bytes were not a TLS record: a client speaking plaintext
    /// to a TLS port, or a plaintext server answering a TLS client.
    #[error("TLS handshake failed: the peer does not speak TLS ({0})")]
    NotTls(rustls::Error),
    /// The handshake failed: a certificate not trusted, expired, for
    /// another name, missing; no protocol in common; an alert from the
    /// peer.
    #[error("TLS handshake failed: {0}")]
    Handshake(rustls::Error),
    /// A TLS error after the handshake (a bad record, an alert).
    #[error("TLS error: {0}")]
    Protocol(rustls::Error),
    /// The handshake did not finish in time.
    #[error("TLS handshake not finished within {} s", .0.as_secs_f64())]
    HandshakeTimeout(Duration),
    /// The stream ended without `close_notify`.
    #[error("TLS stream cut without close_notify (truncated)")]
    Truncated,
}

impl Error {
    pub(crate) fn from_rustls(e: rustls::Error, established: bool) -> Error {
        use rustls::{Error as E, InvalidMessage};
        match e {
            _ if established => Error::Protocol(e),
            E::InvalidMessage(InvalidMessage::InvalidContentType)
            | E::InvalidMessage(InvalidMessage::UnknownProtocolVersion)
            | E::InvalidMessage(InvalidMessage::MessageTooLarge) => Error::NotTls(e),
            _ => Error::Handshake(e),
        }
    }

    /// Whether the peer's certificate was the cause (untrusted, expired,
    /// wrong name, missing).
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            Error::Handshake(
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::AlertReceived(
                        rustls::AlertDescription::BadCertificate
                            | rustls::AlertDescription::UnknownCA
                            | rustls::AlertDescription::CertificateExpired
                            | rustls::AlertDescription::CertificateRequired
                            | rustls::AlertDescription::CertificateUnknown
                    )
            )
        )
    }
}

/// Who the peer is and what the handshake agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The subject common name of the peer's certificate, which rustls
    /// verified: a client's when the server requires client
    /// certificates, the server's on a client. `None` without one.
    pub name: Option<String>,
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: &'static str,
    /// The cipher suite, as IANA names it.
    pub cipher: &'static str,
    /// The ALPN protocol agreed on (`http/1.1`), if any.
    pub alpn: Option<Vec<u8>>,
}

impl Peer {
    pub(crate) fn of(conn: &rustls::CommonState) -> Peer {
        let name = conn
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| common_name(cert.as_ref()));
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLS",
        };
        let cipher =
            conn.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).unwrap_or("unknown");
        Peer { name, version, cipher, alpn: conn.alpn_protocol().map(<[u8]>::to_vec) }
    }
}

/// The subject common name of a DER certificate, if it has one in UTF-8.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests;
