//! `sansnet cert DIR [--client NAME]...` (PROTOCOLS.md §5): the files and
//! their modes, checked by `openssl`, and nothing overwritten.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::pki::{openssl, openssl_verifies};
use crate::support::{run_bounded, sansnet_bin};

/// Runs `sansnet cert ARGS` (bounded).
fn cert(args: &[&str]) -> Output {
    let mut cmd = Command::new(sansnet_bin());
    cmd.arg("cert").args(args);
    run_bounded(&mut cmd, b"", Duration::from_secs(30))
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode()
        & 0o777
}

/// Every file in `dir` with its contents and mode, sorted by name.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let path = e.expect("entry").path();
            (path.clone(), fs::read(&path).expect("read"), mode(&path))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn cert_writes_a_ca_a_server_and_clients_that_openssl_verifies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("pki");
    let dir_str = dir.to_str().expect("UTF-8");
    let out = cert(&[dir_str, "--client", "alice", "--client", "bob"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let files = [
        "ca.pem",
        "ca-key.pem",
        "server.pem",
        "server-key.pem",
        "alice.pem",
        "alice-key.pem",
        "bob.pem",
        "bob-key.pem",
    ];
    let want: Vec<String> = files.iter().map(|f| format!("{}\n", dir.join(f).display())).collect();
    assert_eq!(stdout, want.concat());
    for f in files {
        let path = dir.join(f);
        if f.ends_with("-key.pem") {
            assert_eq!(mode(&path), 0o600, "{f}");
        } else {
            assert_eq!(mode(&path) & 0o644, 0o644, "{f}");
        }
    }

    let ca = dir.join("ca.pem");
    let server = ["-purpose", "sslserver", "-verify_hostname", "localhost"];
    let (ok, text) = openssl_verifies(&ca, &dir.join("server.pem"), &server);
    assert!(ok, "server.pem: {text}");
    for ip in ["127.0.0.1", "::1"] {
        let (ok, text) = openssl_verifies(&ca, &dir.join("server.pem"), &["-verify_ip", ip]);
        assert!(ok, "server.pem for {ip}: {text}");
    }
    for name in ["alice", "bob"] {
        let path = dir.join(format!("{name}.pem"));
        let (ok, text) = openssl_verifies(&ca, &path, &["-purpose", "sslclient"]);
        assert!(ok, "{name}.pem: {text}");
        let out = openssl(&dir, &["x509", "-noout", "-subject", "-in", &format!("{name}.pem")]);
        let subject = String::from_utf8_lossy(&out.stdout);
        assert_eq!(subject.trim(), format!("subject=CN = {name}"));
    }
    let out = openssl(&dir, &["x509", "-noout", "-text", "-in", "server.pem"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "Subject: CN = localhost",
        "TLS Web Server Authentication",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    // Each key is the one of its certificate.
    for stem in ["ca", "server", "alice"] {
        let public = |args: &[&str]| openssl(&dir, args).stdout;
        let from_cert = public(&["x509", "-noout", "-pubkey", "-in", &format!("{stem}.pem")]);
        let from_key = public(&["pkey", "-pubout", "-in", &format!("{stem}-key.pem")]);
        assert!(!from_cert.is_empty() && from_cert == from_key, "{stem}");
    }
}

#[test]
fn cert_never_overwrites_and_then_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_str().expect("UTF-8");
    let out = cert(&[dir, "--client", "alice"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = snapshot(tmp.path());
    assert_eq!(before.len(), 6);

    // Again, with a new client as well: its files are not written either.
    let out = cert(&[dir, "--client", "alice", "--client", "carol"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("ca.pem"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(snapshot(tmp.path()), before);

    // One file in the way is enough.
    let other = tempfile::tempdir().expect("tempdir");
    fs::write(other.path().join("bob-key.pem"), "mine").expect("write");
    let out = cert(&[other.path().to_str().expect("UTF-8"), "--client", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("bob-key.pem"), "{stderr}");
    let left: Vec<_> = snapshot(other.path()).into_iter().map(|(_, text, _)| text).collect();
    assert_eq!(left, [b"mine".to_vec()]);
}

#[test]
fn cert_refuses_bad_client_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_str().expect("UTF-8");
    for bad in [&["../x"][..], &["ca"], &["a\nb"], &[""], &["alice", "alice"], &["x", "x-key"]] {
        let mut args = vec![dir];
        for name in bad {
            args.extend(["--client", name]);
        }
        let out = cert(&args);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: bad client name"), "{bad:?}: {stderr}");
    }
    assert_eq!(fs::read_dir(tmp.path()).expect("read_dir").count(), 0);
}
