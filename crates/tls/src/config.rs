//! rustls configurations from PEM bytes (the caller reads the files), all
//! on the aws-lc-rs provider.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No certificate in the PEM text of `what`.
    #[error("no certificate in {0}")]
    NoCertificate(&'static str),
    /// The PEM text of `what` is not readable.
    #[error("cannot read {0}: {1}")]
    Pem(&'static str, String),
    /// rustls refused the pieces (a key that does not match the
    /// certificate, an unsupported key type, ...).
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA could not be used to verify clients.
    #[error("client CA: {0}")]
    Verifier(String),
}

/// The provider every configuration uses: aws-lc-rs, its cipher suites
/// reordered so that AES-128-GCM comes first (then AES-256-GCM, then
/// ChaCha20-Poly1305), in TLS 1.3 and 1.2 alike.
///
/// Every suite offered is strong; AES-128-GCM is the cheaper one, and its
/// SHA-256 (the handshake's transcript hash and key schedule) runs on the
/// SHA extensions of current x86 CPUs, while SHA-384 falls back to plain
/// code on some (aws-lc's SHA-512 has no AMD fast path): about a third of
/// the CPU time of a full handshake here. BoringSSL, and so Chrome,
/// prefers it too. Servers use this order, not the client's.
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    let rank = |s: &rustls::SupportedCipherSuite| {
        let name = s.suite().as_str().unwrap_or("");
        match () {
            _ if name.contains("AES_128_GCM") => 0,
            _ if name.contains("AES_256_GCM") => 1,
            _ => 2,
        }
    };
    // Stable: TLS 1.3 suites stay before TLS 1.2 ones within a rank.
    provider.cipher_suites.sort_by_key(|s| (rank(s), s.tls13().is_none()));
    Arc::new(provider)
}

/// Every certificate in `pem` (`what` names it in errors).
pub fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Pem(what, e.to_string()))?;
    if certs.is_empty() {
        return Err(ConfigError::NoCertificate(what));
    }
    Ok(certs)
}

/// The private key in `pem`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn private_key(pem: &[u8], what: &'static str) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| ConfigError::Pem(what, e.to_string()))
}

/// Trust anchors from the certificates in `pem`.
pub fn roots(pem: &[u8], what: &'static str) -> Result<RootCertStore, ConfigError> {
    let mut store = RootCertStore::empty();
    for cert in certificates(pem, what)? {
        store.add(cert)?;
    }
    Ok(store)
}

/// A server's configuration: its chain and key (PEM), TLS 1.3 and 1.2,
/// the ALPN protocols it offers (`http/1.1` for HTTP), and with
/// `client_ca` (PEM) mutual TLS: every client must present a
/// certificate that chains to it.
pub fn server(
    chain: &[u8],
    key: &[u8],
    client_ca: Option<&[u8]>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, ConfigError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca, "the client CA")?),
                provider,
            )
            .build()
            .map_err(|e| ConfigError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certificates(chain, "the certificate")?, private_key(key, "the key")?)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// A client's configuration: the trust anchors, and optionally a client
/// certificate (chain and key, PEM). No option turns verification off.
pub fn client(
    roots: RootCertStore,
    identity: Option<(&[u8], &[u8])>,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, ConfigError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(
            certificates(chain, "the client certificate")?,
            private_key(key, "the client key")?,
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
