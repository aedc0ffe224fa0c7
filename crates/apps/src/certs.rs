//! `sansnet cert`: a small private PKI for TLS tests and demos
//! (PROTOCOLS.md §5).
//!
//! [`generate`] writes, into one directory:
//!
//! | file | what |
//! |---|---|
//! | `ca.pem`, `ca-key.pem` | a new CA (basic constraints CA, key usage cert-sign and CRL-sign) |
//! | `server.pem`, `server-key.pem` | a server certificate for `localhost`, `127.0.0.1` and `::1` (common name `localhost`, server-auth) |
//! | `NAME.pem`, `NAME-key.pem` | per client NAME, a certificate whose subject common name is NAME (client-auth) |
//!
//! Every key is ECDSA P-256 (PKCS#8 PEM), every certificate is signed by
//! the CA and valid from an hour ago (clocks differ) for
//! [`VALIDITY_DAYS`]. Key files are created with mode 0600, certificates
//! 0644 (both less the umask). Nothing is ever overwritten: every target
//! is checked before anything is written, and each file is created with
//! `O_EXCL`; if a write fails halfway, the files written so far are
//! removed.
//!
//! A client NAME becomes the chat name of whoever holds its certificate
//! and a file name: it follows the chat name rules
//! ([`check_username`], 1 to
//! [`MAX_NAME`] characters), holds no `/` or `\`, is not `.` or `..`, and
//! its files may not be those of the CA, the server or another client
//! (`ca`, `server`, `x` beside `x-key`, and names that look alike as chat
//! names, such as `Alice` and `alice`, are refused).
//!
//! ```no_run
//! let written = sansnet_apps::certs::generate("pki".as_ref(), &["alice", "bob"])?;
//! assert_eq!(written.len(), 8);
//! # Ok::<(), sansnet_apps::certs::CertError>(())
//! ```

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use sansnet_proto::chat::{UsernameError, check_username};
use sansnet_proto::text::name_keys;
use time::{Duration, OffsetDateTime};

/// How long the certificates are valid, in days (about two years).
pub const VALIDITY_DAYS: i64 = 730;

/// The longest client name, in characters (the chat room's default
/// `max_name`).
pub const MAX_NAME: usize = 32;

/// The names whose files [`generate`] writes besides the clients'.
const RESERVED: [&str; 2] = ["ca", "server"];

/// Why [`generate`] wrote nothing (or removed what it had written).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A client name that cannot be a chat name or a file name.
    #[error("bad client name {name:?}: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A file that would be written exists already.
    #[error("{} exists (not overwritten)", .0.display())]
    Exists(PathBuf),
    /// Reading the directory or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// Making a key or a certificate failed.
    #[error("cannot make a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// One file to write: its path, its text, whether it holds a private key.
struct Output {
    path: PathBuf,
    pem: String,
    secret: bool,
}

/// Writes a new CA, a server certificate and one client certificate per
/// name in `clients` into `dir` (created, mode 0700, if missing); returns
/// the paths written, in order: `ca.pem`, `ca-key.pem`, `server.pem`,
/// `server-key.pem`, then `NAME.pem`, `NAME-key.pem` per client. See the
/// [module](self) docs.
///
/// # Errors
///
/// [`CertError::BadName`] for a client name that breaks the rules (or is
/// given twice), [`CertError::Exists`] naming the first target that exists
/// (nothing is written then), [`CertError::Io`] if the directory cannot be
/// made or a file cannot be written (the files already written are
/// removed), [`CertError::Rcgen`] if signing fails.
pub fn generate(dir: &Path, clients: &[&str]) -> Result<Vec<PathBuf>, CertError> {
    check_names(clients)?;
    let mut stems: Vec<&str> = RESERVED.to_vec();
    stems.extend_from_slice(clients);
    let targets: Vec<[PathBuf; 2]> = stems.iter().map(|stem| files(dir, stem)).collect();
    for path in targets.iter().flatten() {
        match fs::symlink_metadata(path) {
            Ok(_) => return Err(CertError::Exists(path.clone())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(CertError::Io { path: path.clone(), source }),
        }
    }

    let (ca, issuer) = ca()?;
    let mut pems = vec![ca, leaf(&issuer, Role::Server)?];
    for name in clients {
        pems.push(leaf(&issuer, Role::Client(name))?);
    }
    let outputs = targets.into_iter().zip(pems).flat_map(|([cert, key], (cert_pem, key_pem))| {
        [
            Output { path: cert, pem: cert_pem, secret: false },
            Output { path: key, pem: key_pem, secret: true },
        ]
    });

    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| CertError::Io { path: dir.to_path_buf(), source })?;
    let mut written = Vec::new();
    for out in outputs {
        if let Err(e) = write_new(&out) {
            for path in &written {
                let _ = fs::remove_file(path);
            }
            return Err(e);
        }
        written.push(out.path);
    }
    Ok(written)
}

/// `STEM.pem` and `STEM-key.pem` in `dir`.
fn files(dir: &Path, stem: &str) -> [PathBuf; 2] {
    [dir.join(format!("{stem}.pem")), dir.join(format!("{stem}-key.pem"))]
}

/// Checks every client name, each on its own and against the others and
/// the reserved names.
fn check_names(clients: &[&str]) -> Result<(), CertError> {
    let bad = |name: &str, reason: &str| CertError::BadName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    // Every name taken so far, with the chat keys it is compared on.
    let mut taken: Vec<(String, [String; 2])> =
        RESERVED.iter().map(|r| (r.to_string(), name_keys(r))).collect();
    for &name in clients {
        match check_username(name, MAX_NAME) {
            Ok(()) => {}
            Err(UsernameError::PeerLike) => {
                return Err(bad(name, "it looks like a peer address"));
            }
            Err(e) => return Err(bad(name, &e.to_string().replace("a username", "a name"))),
        }
        if name.contains(['/', '\\']) {
            return Err(bad(name, "a name may not hold / or \\"));
        }
        if name == "." || name == ".." {
            return Err(bad(name, "a name may not be . or .."));
        }
        let keys = name_keys(name);
        // `x` and `x-key` would both write `x-key.pem`.
        let stem_of_key = |other: &str| name.strip_suffix("-key") == Some(other);
        for (other, other_keys) in &taken {
            if other_keys.iter().any(|k| keys.contains(k))
                || stem_of_key(other)
                || other.strip_suffix("-key") == Some(name)
            {
                let reason = if RESERVED.contains(&other.as_str()) {
                    format!("its files would clash with those of the {other}")
                } else if other == name {
                    "given twice".to_owned()
                } else {
                    format!("its files would clash with those of {other:?}")
                };
                return Err(CertError::BadName { name: name.to_owned(), reason });
            }
        }
        taken.push((name.to_owned(), keys));
    }
    Ok(())
}

/// What a leaf certificate is for.
enum Role<'a> {
    /// `localhost`, `127.0.0.1`, `::1`; server-auth.
    Server,
    /// Common name NAME; client-auth.
    Client(&'a str),
}

/// Parameters valid from an hour ago for [`VALIDITY_DAYS`].
fn params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(VALIDITY_DAYS);
    params
}

/// A new CA: its (certificate, key) PEMs and the issuer that signs with it.
fn ca() -> Result<((String, String), Issuer<'static, KeyPair>), CertError> {
    let key = KeyPair::generate()?;
    let mut params = params();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // A name of its own, so that two CAs made by `sansnet cert` are told
    // apart by name as well as by key.
    let id: String = params.key_identifier(&key)[..4].iter().map(|b| format!("{b:02x}")).collect();
    params.distinguished_name.push(DnType::CommonName, format!("sansnet CA {id}"));
    let cert = params.self_signed(&key)?;
    let pems = (cert.pem(), key.serialize_pem());
    Ok((pems, Issuer::new(params, key)))
}

/// A new leaf certificate for `role` signed by `issuer`: its (certificate,
/// key) PEMs.
fn leaf(issuer: &Issuer<'_, KeyPair>, role: Role<'_>) -> Result<(String, String), CertError> {
    let key = KeyPair::generate()?;
    let mut params = params();
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match role {
        Role::Server => {
            params.distinguished_name.push(DnType::CommonName, "localhost");
            params.subject_alt_names = vec![
                SanType::DnsName("localhost".try_into()?),
                SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        Role::Client(name) => {
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Creates `out.path` (never over an existing file) and writes its PEM.
fn write_new(out: &Output) -> Result<(), CertError> {
    let io_error = |source| CertError::Io { path: out.path.clone(), source };
    let mode = if out.secret { 0o600 } else { 0o644 };
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(mode).open(&out.path).map_err(
            |e| match e.kind() {
                io::ErrorKind::AlreadyExists => CertError::Exists(out.path.clone()),
                _ => io_error(e),
            },
        )?;
    file.write_all(out.pem.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| {
        let _ = fs::remove_file(&out.path);
        io_error(e)
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    fn names(written: &[PathBuf]) -> Vec<String> {
        written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn writes_every_file_with_its_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new/pki");
        let written = generate(&dir, &["alice", "zoë 🎉"]).expect("generate");
        assert_eq!(
            names(&written),
            [
                "ca.pem",
                "ca-key.pem",
                "server.pem",
                "server-key.pem",
                "alice.pem",
                "alice-key.pem",
                "zoë 🎉.pem",
                "zoë 🎉-key.pem"
            ]
        );
        assert_eq!(mode(&dir), 0o700);
        // The name the TLS machine reads from each client certificate.
        for name in ["alice", "zoë 🎉"] {
            use rustls::pki_types::{CertificateDer, pem::PemObject};
            let der = CertificateDer::from_pem_file(dir.join(format!("{name}.pem"))).unwrap();
            assert_eq!(sansnet_tls::common_name(&der).as_deref(), Some(name));
        }
        for path in &written {
            let text = fs::read_to_string(path).unwrap();
            if path.to_string_lossy().ends_with("-key.pem") {
                assert_eq!(mode(path), 0o600, "{}", path.display());
                assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
            } else {
                assert_eq!(mode(path) & 0o600, 0o600, "{}", path.display());
                assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{text}");
            }
        }
    }

    /// The chain verifies, for the purpose and names each certificate is
    /// for (rustls's own verifiers, as the TLS machine uses them).
    #[test]
    fn the_chain_verifies_for_its_purposes() {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

        let tmp = tempfile::tempdir().unwrap();
        generate(tmp.path(), &["alice"]).expect("generate");
        let cert = |name: &str| CertificateDer::from_pem_file(tmp.path().join(name)).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert("ca.pem")).unwrap();
        let roots = std::sync::Arc::new(roots);
        let now = UnixTime::now();

        let servers = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .unwrap();
        for host in ["localhost", "127.0.0.1", "::1"] {
            let name = ServerName::try_from(host).unwrap();
            servers.verify_server_cert(&cert("server.pem"), &[], &name, &[], now).expect(host);
        }
        let elsewhere = ServerName::try_from("example.com").unwrap();
        assert!(
            servers.verify_server_cert(&cert("server.pem"), &[], &elsewhere, &[], now).is_err()
        );
        // A client certificate is no server certificate.
        let localhost = ServerName::try_from("localhost").unwrap();
        assert!(servers.verify_server_cert(&cert("alice.pem"), &[], &localhost, &[], now).is_err());

        let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .unwrap();
        clients.verify_client_cert(&cert("alice.pem"), &[], now).expect("alice");
        assert!(clients.verify_client_cert(&cert("server.pem"), &[], now).is_err());
    }

    /// `openssl verify` accepts the chain (CI installs openssl).
    #[test]
    fn openssl_verifies_the_chain() {
        let tmp = tempfile::tempdir().unwrap();
        generate(tmp.path(), &["bob"]).expect("generate");
        let out = Command::new("openssl")
            .current_dir(tmp.path())
            .args(["verify", "-CAfile", "ca.pem", "server.pem", "bob.pem"])
            .output()
            .expect("this test needs the openssl command (apt-get install openssl)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn refuses_to_overwrite_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("bob-key.pem"), "mine").unwrap();
        let err = generate(tmp.path(), &["alice", "bob"]).unwrap_err();
        assert!(matches!(&err, CertError::Exists(p) if p.ends_with("bob-key.pem")), "{err}");
        assert!(err.to_string().contains("bob-key.pem"), "{err}");
        let left: Vec<_> =
            fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["bob-key.pem"]);
        assert_eq!(fs::read_to_string(tmp.path().join("bob-key.pem")).unwrap(), "mine");

        // A second run over a whole set.
        let again = tempfile::tempdir().unwrap();
        generate(again.path(), &[]).expect("first run");
        let before = fs::read(again.path().join("ca-key.pem")).unwrap();
        let err = generate(again.path(), &[]).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
        assert_eq!(fs::read(again.path().join("ca-key.pem")).unwrap(), before);

        // A dangling symbolic link counts as a file.
        let link = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("nowhere", link.path().join("server.pem")).unwrap();
        assert!(matches!(generate(link.path(), &[]), Err(CertError::Exists(_))));
        assert!(!link.path().join("nowhere").exists());
    }

    #[test]
    fn refuses_bad_client_names_before_writing() {
        let long = "x".repeat(MAX_NAME + 1);
        let max = "x".repeat(MAX_NAME);
        let tmp = tempfile::tempdir().unwrap();
        for bad in [
            &["" as &str][..],
            &[long.as_str()],
            &["a/b"],
            &["a\\b"],
            &["a\0b"],
            &["a\nb"],
            &["a\u{1b}b"],
            &[" lead"],
            &["."],
            &[".."],
            &["ca"],
            &["server"],
            &["CA"],
            &["ca-key"],
            &["alice", "alice"],
            &["alice", "Alice"],
            &["bob", "bob-key"],
            &["bob-key", "bob"],
            &["127.0.0.1:80"],
            &["vic\u{200b}tim"],
        ] {
            let err = generate(tmp.path(), bad).expect_err(&format!("{bad:?}"));
            assert!(matches!(err, CertError::BadName { .. }), "{bad:?}: {err}");
            assert!(err.to_string().starts_with("bad client name"), "{err}");
        }
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        generate(tmp.path(), &[max.as_str(), ".hidden", "a.b"]).expect("good names");
    }
}
