//! Certificates for the TLS tests: a [`Pki`] made by `sansnet cert` in a
//! temporary directory, plus certificates that must be refused, made with
//! rcgen here, and [`openssl`] to check files with.
//!
//! | helper | file | what |
//! |---|---|---|
//! | [`Pki::ca`] | `ca.pem` | the CA (`ca-key.pem` beside it) |
//! | [`Pki::server`], [`Pki::server_key`] | `server.pem`, `server-key.pem` | localhost, 127.0.0.1, ::1 |
//! | [`Pki::client`], [`Pki::client_key`] | `NAME.pem`, `NAME-key.pem` | common name NAME |
//! | [`Pki::expired`], [`Pki::expired_key`] | `expired.pem`, `expired-key.pem` | client `old`, signed by the CA, expired |
//! | [`Pki::stranger`], [`Pki::stranger_key`] | `stranger.pem`, `stranger-key.pem` | client `mallory`, signed by another CA (`stranger-ca.pem`) |
//! | [`Pki::wrongname`], [`Pki::wrongname_key`] | `wrongname.pem`, `wrongname-key.pem` | server, signed by the CA, only for `example.invalid` |
//! | [`Pki::expired_server`], [`Pki::expired_server_key`] | `expired-server.pem`, `expired-server-key.pem` | server for localhost, 127.0.0.1, ::1, signed by the CA, expired |
//!
//! The client names `expired`, `stranger`, `stranger-ca`, `wrongname` and
//! `expired-server` are taken by these files.

#![allow(dead_code, reason = "helpers for the TLS tests")]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::OffsetDateTime;

use crate::support::{run_bounded, sansnet_bin};

/// How long `sansnet cert` or `openssl` may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// A CA, a server certificate, client certificates and bad certificates,
/// in a directory removed on drop.
pub(crate) struct Pki {
    /// The directory that holds every file.
    pub(crate) dir: tempfile::TempDir,
}

impl Pki {
    /// Runs `sansnet cert DIR --client NAME...` in a new temporary
    /// directory, then writes the bad certificates beside (see the
    /// [module](self) docs). Panics if any of it fails.
    pub(crate) fn new(clients: &[&str]) -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(sansnet_bin());
        cmd.arg("cert").arg(dir.path());
        for name in clients {
            cmd.args(["--client", name]);
        }
        let out = run_bounded(&mut cmd, b"", RUN_TIMEOUT);
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        let pki = Pki { dir };
        pki.write_bad_certificates();
        pki
    }

    /// The file `name` in the directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ca.pem`: the CA every good certificate chains to.
    pub(crate) fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// `server.pem`: for `localhost`, `127.0.0.1` and `::1`.
    pub(crate) fn server(&self) -> PathBuf {
        self.path("server.pem")
    }

    /// `server-key.pem`.
    pub(crate) fn server_key(&self) -> PathBuf {
        self.path("server-key.pem")
    }

    /// `NAME.pem`: the client certificate with common name `name`.
    pub(crate) fn client(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.pem"))
    }

    /// `NAME-key.pem`.
    pub(crate) fn client_key(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}-key.pem"))
    }

    /// `expired.pem`: a client certificate (common name `old`) signed by
    /// the CA, expired a day ago.
    pub(crate) fn expired(&self) -> PathBuf {
        self.path("expired.pem")
    }

    /// `expired-key.pem`.
    pub(crate) fn expired_key(&self) -> PathBuf {
        self.path("expired-key.pem")
    }

    /// `stranger.pem`: a client certificate (common name `mallory`) signed
    /// by another CA ([`Pki::stranger_ca`]).
    pub(crate) fn stranger(&self) -> PathBuf {
        self.path("stranger.pem")
    }

    /// `stranger-key.pem`.
    pub(crate) fn stranger_key(&self) -> PathBuf {
        self.path("stranger-key.pem")
    }

    /// `stranger-ca.pem`: the CA that signed [`Pki::stranger`], trusted by
    /// no one (its key is not kept).
    pub(crate) fn stranger_ca(&self) -> PathBuf {
        self.path("stranger-ca.pem")
    }

    /// `wrongname.pem`: a server certificate signed by the CA, valid only
    /// for `example.invalid`.
    pub(crate) fn wrongname(&self) -> PathBuf {
        self.path("wrongname.pem")
    }

    /// `wrongname-key.pem`.
    pub(crate) fn wrongname_key(&self) -> PathBuf {
        self.path("wrongname-key.pem")
    }

    /// `expired-server.pem`: a server certificate for `localhost`,
    /// `127.0.0.1` and `::1` signed by the CA, expired a day ago.
    pub(crate) fn expired_server(&self) -> PathBuf {
        self.path("expired-server.pem")
    }

    /// `expired-server-key.pem`.
    pub(crate) fn expired_server_key(&self) -> PathBuf {
        self.path("expired-server-key.pem")
    }

    /// Signs the bad certificates with the CA in `ca.pem`/`ca-key.pem` (and
    /// a new CA for the stranger) and writes them.
    fn write_bad_certificates(&self) {
        let read = |name: &str| fs::read_to_string(self.path(name)).expect(name);
        let key = KeyPair::from_pem(&read("ca-key.pem")).expect("ca-key.pem");
        let ca = Issuer::from_ca_cert_pem(&read("ca.pem"), key).expect("ca.pem");
        let local = ["localhost", "127.0.0.1", "::1"];

        let (pem, key) = leaf(&ca, Leaf::Client("old"), Validity::Expired);
        self.write("expired", &pem, &key);
        let (pem, key) = leaf(&ca, Leaf::Server(&["example.invalid"]), Validity::Current);
        self.write("wrongname", &pem, &key);
        let (pem, key) = leaf(&ca, Leaf::Server(&local), Validity::Expired);
        self.write("expired-server", &pem, &key);

        let mut params = params(Validity::Current);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params.distinguished_name.push(DnType::CommonName, "stranger CA");
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("stranger CA");
        self.create("stranger-ca.pem", &cert.pem(), 0o644);
        let stranger_ca = Issuer::new(params, key);
        let (pem, key) = leaf(&stranger_ca, Leaf::Client("mallory"), Validity::Current);
        self.write("stranger", &pem, &key);
    }

    /// Writes `STEM.pem` and `STEM-key.pem`.
    fn write(&self, stem: &str, cert: &str, key: &str) {
        self.create(&format!("{stem}.pem"), cert, 0o644);
        self.create(&format!("{stem}-key.pem"), key, 0o600);
    }

    /// Creates `name` (never over a file `sansnet cert` wrote) with `text`.
    fn create(&self, name: &str, text: &str, mode: u32) {
        let path = self.path(name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .unwrap_or_else(|e| panic!("{} (a client name taken?): {e}", path.display()));
        file.write_all(text.as_bytes()).expect("write");
    }
}

/// What a bad leaf certificate is for.
enum Leaf<'a> {
    /// A server: these names (DNS names or IP addresses); the first is the
    /// common name.
    Server(&'a [&'a str]),
    /// A client with this common name.
    Client(&'a str),
}

/// When a certificate is valid.
#[derive(Clone, Copy)]
enum Validity {
    /// From an hour ago, for a year.
    Current,
    /// From 30 days ago until a day ago.
    Expired,
}

fn params(validity: Validity) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    (params.not_before, params.not_after) = match validity {
        Validity::Current => (now - time::Duration::hours(1), now + time::Duration::days(365)),
        Validity::Expired => (now - time::Duration::days(30), now - time::Duration::days(1)),
    };
    params
}

/// A leaf certificate signed by `issuer`: (certificate, key) PEMs.
fn leaf(issuer: &Issuer<'_, KeyPair>, what: Leaf<'_>, validity: Validity) -> (String, String) {
    let mut params = params(validity);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match what {
        Leaf::Server(names) => {
            let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            params.subject_alt_names =
                CertificateParams::new(sans).expect("names").subject_alt_names;
            params.distinguished_name.push(DnType::CommonName, names[0]);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        Leaf::Client(name) => {
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

/// Runs `openssl ARGS` in `dir` (bounded). Panics, saying so, if openssl
/// is not installed (CI installs it).
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> Output {
    let found = Command::new("openssl")
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "these tests need the openssl command (apt-get install openssl)");
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(args);
    run_bounded(&mut cmd, b"", RUN_TIMEOUT)
}

/// Whether `openssl verify -CAfile CA [EXTRA...] CERT` accepts `cert`;
/// with openssl's output.
pub(crate) fn openssl_verifies(ca: &Path, cert: &Path, extra: &[&str]) -> (bool, String) {
    let (ca, cert) = (ca.to_str().expect("UTF-8 path"), cert.to_str().expect("UTF-8 path"));
    let mut args = vec!["verify", "-CAfile", ca];
    args.extend_from_slice(extra);
    args.push(cert);
    let out = openssl(Path::new("."), &args);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn bad_certificates_are_refused_and_good_ones_pass() {
    let pki = Pki::new(&["alice"]);
    let ca = pki.ca();
    let server = ["-purpose", "sslserver", "-verify_hostname", "localhost"];
    let client = ["-purpose", "sslclient"];
    for (cert, extra) in [
        (pki.server(), &server[..]),
        (pki.client("alice"), &client[..]),
        (pki.wrongname(), &server[..2]),
    ] {
        let (ok, text) = openssl_verifies(&ca, &cert, extra);
        assert!(ok, "{}: {text}", cert.display());
    }
    let refused = [
        (pki.expired(), &client[..], "expired"),
        (pki.expired_server(), &server[..], "expired"),
        (pki.stranger(), &client[..], "unable to get local issuer certificate"),
        (pki.wrongname(), &server[..], "hostname mismatch"),
    ];
    for (cert, extra, why) in refused {
        let (ok, text) = openssl_verifies(&ca, &cert, extra);
        assert!(!ok && text.contains(why), "{}: want {why:?}, got: {text}", cert.display());
    }
    // The stranger is fine by its own CA: only the trust is missing.
    let (ok, text) = openssl_verifies(&pki.stranger_ca(), &pki.stranger(), &client);
    assert!(ok, "{text}");
    // Key files are private, as `sansnet cert` makes them.
    for key in
        [pki.expired_key(), pki.stranger_key(), pki.wrongname_key(), pki.expired_server_key()]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
}
