//! TLS on every TCP program (PROTOCOLS.md §5), on every runtime, against
//! clients no one here wrote: curl, Python's `ssl` module (the tutorial's
//! chat client wrapped in TLS) and `openssl s_client`; and sansnet's own
//! clients against them.
//!
//! The certificates come from `sansnet cert` plus a few bad ones made
//! with rcgen ([`Pki`]). Every wait is bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::pki::Pki;
use crate::support::{IO_TIMEOUT, Server, have_program, per_runtime, run_bounded, sansnet_bin};

per_runtime!(
    https_hello_with_curl,
    https_requires_a_client_certificate,
    plaintext_and_tls_on_the_wrong_ports,
    handshake_timeout_closes,
    a_cut_request_gets_no_answer,
    chat_names_come_from_certificates,
    chat_over_tls_with_sansnet_join,
    chat_over_tls_across_servers,
    file_transfer_over_mutual_tls,
    file_transfer_cut_without_close_notify_resumes,
    echo_with_openssl_and_send,
    bad_server_certificates_are_refused,
    renegotiation_is_refused,
);

const RUN: Duration = Duration::from_secs(20);

fn need(program: &str) {
    let found = match program {
        "openssl" => {
            Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
        }
        _ => have_program(program),
    };
    assert!(found, "{program} is needed for the TLS tests (.ci/run installs it)");
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `--tls-cert ... --tls-key ...` (and `--tls-client-ca` when `mutual`).
fn server_flags(pki: &Pki, mutual: bool) -> Vec<String> {
    let mut flags =
        vec!["--tls-cert".into(), path(&pki.server()), "--tls-key".into(), path(&pki.server_key())];
    if mutual {
        flags.extend(["--tls-client-ca".into(), path(&pki.ca())]);
    }
    flags
}

fn start(rt: &'static str, program: &[&str], flags: &[String]) -> Server {
    let mut args: Vec<String> = program.iter().map(|s| s.to_string()).collect();
    args.extend(flags.iter().cloned());
    args.push("-v".into());
    Server::start(rt, &args)
}

fn curl(args: &[&str]) -> Output {
    need("curl");
    run_bounded(Command::new("curl").args(["-sS", "--max-time", "10"]).args(args), b"", RUN)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the sansnet binary with `args` on `rt`, `input` on stdin.
fn sansnet(rt: &str, args: &[&str], input: &[u8]) -> Output {
    run_bounded(Command::new(sansnet_bin()).args(["--runtime", rt]).args(args), input, RUN)
}

fn hello(path: &str) -> String {
    format!("<html><body><h1>Hello!</h1><p>Path: {path}</p></body></html>")
}

fn https_hello_with_curl(rt: &'static str) {
    let pki = Pki::new(&[]);
    let server = start(rt, &["http"], &server_flags(&pki, false));
    let port = server.tcp_addr().port();
    let ca = path(&pki.ca());
    for (version, flags) in
        [("TLSv1.3", &["--tlsv1.3"][..]), ("TLSv1.2", &["--tlsv1.2", "--tls-max", "1.2"])]
    {
        let url = format!("https://localhost:{port}/a%20b?<x>");
        let mut args = vec!["-v", "--cacert", &ca, &url, "-w", "\n%{http_version}"];
        args.extend(flags);
        let out = curl(&args);
        assert!(out.status.success(), "{version}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("{}\n1.1", hello("/a%20b?&lt;x&gt;")));
        let log = text(&out.stderr);
        assert!(log.contains(&format!("SSL connection using {version}")), "{log}");
        assert!(log.contains("ALPN: server accepted http/1.1"), "{log}");
    }
    // By IP address: verified against the certificate's IP SANs.
    let out = curl(&["--cacert", &ca, &format!("https://127.0.0.1:{port}/ip")]);
    assert_eq!(text(&out.stdout), hello("/ip"), "{}", text(&out.stderr));
    // Keep-alive: several requests on one connection.
    let url = format!("https://localhost:{port}/k");
    let out = curl(&["-v", "--cacert", &ca, &url, &url, &url]);
    assert_eq!(text(&out.stdout), hello("/k").repeat(3));
    assert!(text(&out.stderr).contains("Re-using existing connection"), "{}", text(&out.stderr));
    // Without the CA, curl refuses the certificate (exit 60).
    let out = curl(&[&format!("https://localhost:{port}/")]);
    assert_eq!(out.status.code(), Some(60), "{}", text(&out.stderr));
    server.stop();
}

fn https_requires_a_client_certificate(rt: &'static str) {
    let pki = Pki::new(&["alice"]);
    let server = start(rt, &["http"], &server_flags(&pki, true));
    let url = format!("https://localhost:{}/who", server.tcp_addr().port());
    let (ca, cert, key) =
        (path(&pki.ca()), path(&pki.client("alice")), path(&pki.client_key("alice")));
    for v in ["--tlsv1.3", "--tlsv1.2"] {
        let out = curl(&[v, "--cacert", &ca, "--cert", &cert, "--key", &key, &url]);
        assert_eq!(text(&out.stdout), hello("/who"), "{v}: {}", text(&out.stderr));
    }
    // No certificate, an untrusted one, an expired one: refused, and the
    // server goes on serving.
    for who in [None, Some("stranger"), Some("expired")] {
        let mut args = vec!["--cacert".to_string(), ca.clone(), url.clone()];
        if let Some(who) = who {
            args.extend([
                "--cert".into(),
                path(&pki.client(who)),
                "--key".into(),
                path(&pki.client_key(who)),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = curl(&args);
        assert!(!out.status.success(), "{who:?} got in: {}", text(&out.stdout));
        assert!(out.stdout.is_empty());
    }
    let out = curl(&["--cacert", &ca, "--cert", &cert, "--key", &key, &url]);
    assert_eq!(text(&out.stdout), hello("/who"));
    let log = server.stop();
    assert!(log.contains("peer sent no certificates"), "{log}");
    assert!(log.contains("UnknownIssuer") || log.contains("BadSignature"), "{log}");
    assert!(log.contains("certificate expired"), "{log}");
}

fn plaintext_and_tls_on_the_wrong_ports(rt: &'static str) {
    let pki = Pki::new(&[]);
    let tls = start(rt, &["http"], &server_flags(&pki, false));
    // Plaintext HTTP to the TLS port: closed with an alert, no HTTP answer.
    let mut s = TcpStream::connect(tls.tcp_addr()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/"), "{got:?}");
    assert_eq!(got.first(), Some(&21), "a TLS alert record: {got:?}");
    let ca = path(&pki.ca());
    let url = format!("https://localhost:{}/next", tls.tcp_addr().port());
    assert_eq!(text(&curl(&["--cacert", &ca, &url]).stdout), hello("/next"));
    let log = tls.stop();
    assert!(log.contains("the peer does not speak TLS"), "{log}");

    // A TLS client on a plaintext port: `error: TLS ...`, exit 1.
    let plain = Server::start(rt, &["echo"]);
    let addr = plain.tcp_addr().to_string();
    let out = sansnet(rt, &["send", &addr, "hi", "--tls", "--ca", &ca], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: TLS"), "{}", text(&out.stderr));
    plain.stop();
}

fn handshake_timeout_closes(rt: &'static str) {
    let pki = Pki::new(&[]);
    // echo with the flag; http with its header timeout, which TLS follows.
    for (program, flag) in [("echo", "--tls-handshake-timeout"), ("http", "--header-timeout")] {
        let mut flags = server_flags(&pki, false);
        flags.extend([flag.into(), "1".into()]);
        let server = start(rt, &[program], &flags);
        // Half a ClientHello, then nothing.
        let mut s = TcpStream::connect(server.tcp_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&[22, 3, 1, 0, 200, 1, 0]).unwrap();
        let started = Instant::now();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(8), "{program}: closed after {took:?}");
        if program == "echo" {
            let addr = server.tcp_addr().to_string();
            let out =
                sansnet(rt, &["send", &addr, "still here", "--tls", "--ca", &path(&pki.ca())], b"");
            assert_eq!(text(&out.stdout), "still here", "{}", text(&out.stderr));
        }
        let log = server.stop();
        assert!(log.contains("TLS handshake not finished within 1 s"), "{program}: {log}");
    }
}

/// Sends `request` over TLS, then ends the TCP stream without
/// close_notify, and prints whatever the server sends until it closes.
const PY_CUT_REQUEST: &str = r#"
import socket, ssl, sys
port, ca, request = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
s.sendall(request.encode())
socket.socket.shutdown(s, socket.SHUT_WR)
got = b""
try:
    while chunk := s.recv(4096):
        got += chunk
except (ssl.SSLError, OSError) as e:
    pass
sys.stdout.write(got.decode(errors="replace"))
"#;

fn a_cut_request_gets_no_answer(rt: &'static str) {
    need("python3");
    let pki = Pki::new(&[]);
    let server = start(rt, &["http"], &server_flags(&pki, false));
    let (port, ca) = (server.tcp_addr().port().to_string(), path(&pki.ca()));
    let cut = |request: &str| {
        let mut cmd = Command::new("python3");
        run_bounded(cmd.args(["-c", PY_CUT_REQUEST, &port, &ca, request]), b"", RUN)
    };
    // A whole request, then the cut: answered (the request had arrived).
    let out = cut("GET /whole HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(text(&out.stdout).ends_with(&hello("/whole")), "{}", text(&out.stderr));
    // Half a request, then the cut: nothing, not even a 400.
    let out = cut("GET /half HTTP/1.1\r\nHo");
    assert_eq!(text(&out.stdout), "", "{}", text(&out.stderr));
    let out = cut("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(text(&out.stdout), "", "{}", text(&out.stderr));
    let log = server.stop();
    assert!(log.contains("TLS stream cut without close_notify"), "{log}");
}

/// The tutorial's chat client, wrapped in TLS with Python's `ssl`: sends
/// each argument line as a JSON message, prints what arrives.
const PY_CHAT: &str = r#"
import json, socket, ssl, sys, time
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
if cert:
    ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
for msg in sys.argv[5:]:
    s.sendall(msg.encode())
    time.sleep(0.2)
s.settimeout(0.5)
got = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
except (socket.timeout, ssl.SSLError, OSError):
    pass
print(got.decode())
# No close_notify: the socket is closed under the TLS layer.
s.detach() if False else None
socket.socket.close(s)
"#;

fn py_chat(port: u16, pki: &Pki, who: Option<&str>, messages: &[&str]) -> Output {
    need("python3");
    let (cert, key) = match who {
        Some(w) => (path(&pki.client(w)), path(&pki.client_key(w))),
        None => (String::new(), String::new()),
    };
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PY_CHAT, &port.to_string(), &path(&pki.ca()), &cert, &key]).args(messages);
    run_bounded(&mut cmd, b"", RUN)
}

fn chat_names_come_from_certificates(rt: &'static str) {
    let pki = Pki::new(&["alice", "bob"]);
    let server = start(rt, &["chat", "serve"], &server_flags(&pki, true));
    let port = server.tcp_addr().port();
    // No username: the certificate's name.
    let out = py_chat(port, &pki, Some("alice"), &[r#"{"content":"hi"}"#]);
    assert!(
        text(&out.stdout).starts_with(r#"{"type":"joined","username":"alice"}"#),
        "{}",
        text(&out.stdout)
    );
    // Another name than the certificate's: forbidden, the connection stays;
    // then the right one joins.
    let out =
        py_chat(port, &pki, Some("bob"), &[r#"{"username":"alice"}"#, r#"{"username":"bob"}"#]);
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert!(lines[0].starts_with(r#"{"type":"error","code":"forbidden","#), "{lines:?}");
    assert_eq!(lines[1], r#"{"type":"joined","username":"bob"}"#, "{lines:?}");
    // No certificate, or a stranger's: no way in.
    for who in [None, Some("stranger")] {
        let out = py_chat(port, &pki, who, &[r#"{"username":"mallory"}"#]);
        assert!(!text(&out.stdout).contains("joined"), "{who:?}: {}", text(&out.stdout));
    }
    let log = server.stop();
    assert!(log.contains("certificate alice"), "{log}");
    // The clients above cut their streams without close_notify: a
    // truncation, announced as a departure.
    assert!(log.contains("TLS stream cut without close_notify"), "{log}");
    assert!(log.contains("alice left"), "{log}");
}

/// A TLS server in a room across servers (`--redis`): what its members
/// say crosses to the others.
fn chat_over_tls_across_servers(rt: &'static str) {
    let pki = Pki::new(&["alice"]);
    let redis = crate::cluster::Redis::start();
    let cluster = ["--redis".to_owned(), redis.url()];
    let tls =
        start(rt, &["chat", "serve"], &[server_flags(&pki, false), cluster.to_vec()].concat());
    let plain = Server::start(rt, &["chat", "serve", "--redis", &redis.url()]);
    let mut bob = crate::chat::Client::join(&plain, "bob");
    let port = tls.tcp_addr().port();
    let messages = [r#"{"username":"alice"}"#, r#"{"content":"hi over tls"}"#];
    let out = py_chat(port, &pki, None, &messages);
    assert!(text(&out.stdout).starts_with(r#"{"type":"joined","username":"alice"}"#), "{out:?}");
    bob.expect(r#"{"type":"joined","username":"alice"}"#);
    bob.expect(r#"{"type":"message","from":"alice","content":"hi over tls"}"#);
    bob.expect(r#"{"type":"left","username":"alice"}"#);
    tls.stop();
    plain.stop();
}

fn chat_over_tls_with_sansnet_join(rt: &'static str) {
    let pki = Pki::new(&["alice", "bob"]);
    let server = start(rt, &["chat", "serve"], &server_flags(&pki, true));
    let addr = server.tcp_addr().to_string();
    let (ca, cert, key) =
        (path(&pki.ca()), path(&pki.client("alice")), path(&pki.client_key("alice")));
    let mut bob = std::process::Command::new(sansnet_bin())
        .args(["--runtime", rt, "chat", "join", &addr, "--name", "bob", "--tls", "--ca", &ca])
        .args(["--cert", &path(&pki.client("bob")), "--key", &path(&pki.client_key("bob"))])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut bob_out = std::io::BufReader::new(bob.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut bob_out, &mut line).unwrap();
    assert_eq!(line, "* bob joined\n");
    let join = [
        "chat", "join", &addr, "--name", "alice", "--tls", "--ca", &ca, "--cert", &cert, "--key",
        &key,
    ];
    let out = sansnet(rt, &join, b"hello over tls\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    for expect in ["* alice joined\n", "[alice] hello over tls\n", "* alice left\n"] {
        line.clear();
        std::io::BufRead::read_line(&mut bob_out, &mut line).unwrap();
        assert_eq!(line, expect);
    }
    // Another name than the certificate's: exit 1, forbidden.
    let mut wrong = join;
    wrong[4] = "carol";
    let out = sansnet(rt, &wrong, b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("forbidden"), "{}", text(&out.stderr));
    // No certificate: `error: ... TLS ...` (TLS 1.3 refuses it after the
    // client's handshake ended), exit 1.
    let out = sansnet(rt, &join[..8], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("TLS"), "{}", text(&out.stderr));
    drop(bob.stdin.take());
    let _ = bob.wait();
    server.stop();
}

fn file_transfer_over_mutual_tls(rt: &'static str) {
    let pki = Pki::new(&["alice"]);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let inbox = dir.path().join("in");
    std::fs::create_dir(&inbox).unwrap();
    let server = start(rt, &["file", "recv", "--dir", &path(&inbox)], &server_flags(&pki, true));
    let addr = server.tcp_addr().to_string();
    let (ca, cert, key) =
        (path(&pki.ca()), path(&pki.client("alice")), path(&pki.client_key("alice")));
    let send = [
        "file",
        "send",
        &path(&src),
        &addr,
        "--quiet",
        "--tls",
        "--ca",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
    ];
    let out = sansnet(rt, &send, b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(inbox.join("src.bin")).unwrap(), data);
    // Without a certificate: refused with `error: ... TLS`, nothing stored.
    std::fs::remove_file(inbox.join("src.bin")).unwrap();
    let out = sansnet(rt, &send[..8], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("TLS"), "{}", text(&out.stderr));
    assert!(!inbox.join("src.bin").exists());
    let log = server.stop();
    assert!(log.contains("(certificate alice)"), "the log names the certificate: {log}");
}

/// A sender over Python's `ssl` that sends the header and `part` bytes,
/// then cuts the TCP stream without close_notify.
const PY_CUT: &str = r#"
import socket, ssl, sys, time
port, ca, name, size, part = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
s.sendall(f"{name}|{size}\n".encode())
assert s.recv(100).startswith(b"OK 0")
s.sendall(bytes(i * 31 % 251 for i in range(part)))
time.sleep(0.5)
socket.socket.shutdown(s, socket.SHUT_RDWR)
"#;

fn file_transfer_cut_without_close_notify_resumes(rt: &'static str) {
    need("python3");
    let pki = Pki::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("in");
    std::fs::create_dir(&inbox).unwrap();
    let size = 2_000_000u32;
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let src = dir.path().join("cut.bin");
    std::fs::write(&src, &data).unwrap();
    let server = start(rt, &["file", "recv", "--dir", &path(&inbox)], &server_flags(&pki, false));
    let port = server.tcp_addr().port().to_string();
    let ca = path(&pki.ca());
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PY_CUT, &port, &ca, "cut.bin", &size.to_string(), "500000"]);
    let out = run_bounded(&mut cmd, b"", RUN);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The part stays, nothing under the name; the next send resumes.
    let deadline = Instant::now() + IO_TIMEOUT;
    while !inbox.join(".cut.bin.part").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!inbox.join("cut.bin").exists());
    let out = sansnet(
        rt,
        &[
            "file",
            "send",
            &path(&src),
            &server.tcp_addr().to_string(),
            "--quiet",
            "--tls",
            "--ca",
            &ca,
        ],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(inbox.join("cut.bin")).unwrap(), data);
    let log = server.stop();
    assert!(log.contains("TLS stream cut without close_notify"), "{log}");
    assert!(log.contains("from byte "), "resumed: {log}");
}

/// A TLS echo server on `rt`, with its PKI, address and CA path.
fn tls_echo(rt: &'static str) -> (Pki, Server, String, String) {
    let pki = Pki::new(&[]);
    let server = start(rt, &["echo"], &server_flags(&pki, false));
    let (addr, ca) = (server.tcp_addr().to_string(), path(&pki.ca()));
    (pki, server, addr, ca)
}

/// Runs a shell pipeline (that feeds `openssl s_client` in its own time).
fn shell(script: &str) -> Output {
    need("openssl");
    run_bounded(Command::new("bash").args(["-c", script]), b"", RUN)
}

fn echo_with_openssl_and_send(rt: &'static str) {
    let (_pki, server, addr, ca) = tls_echo(rt);
    let script = format!(
        "(printf 'echo me\\n'; sleep 1) | openssl s_client -connect {addr} -CAfile {ca} \
         -verify_return_error -servername localhost -quiet -no_ign_eof"
    );
    let out = shell(&script);
    assert!(text(&out.stdout).contains("echo me"), "{} {}", text(&out.stdout), text(&out.stderr));
    let out = sansnet(rt, &["send", &addr, "over tls", "--tls", "--ca", &ca], b"");
    assert_eq!(text(&out.stdout), "over tls", "{}", text(&out.stderr));
    // A large message: both ways at once through the TLS bridge.
    let big = "x".repeat(100_000);
    let out = sansnet(rt, &["send", &addr, &big, "--tls", "--ca", &ca, "--quiet-ms", "1000"], b"");
    assert_eq!(out.stdout.len(), big.len(), "{}", text(&out.stderr));
    server.stop();
}

fn bad_server_certificates_are_refused(rt: &'static str) {
    let pki = Pki::new(&[]);
    let ca = path(&pki.ca());
    for (cert, why) in
        [("wrongname", "not valid for name"), ("expired-server", "certificate expired")]
    {
        let flags = vec![
            "--tls-cert".into(),
            path(&pki.client(cert)),
            "--tls-key".into(),
            path(&pki.client_key(cert)),
        ];
        let server = start(rt, &["echo"], &flags);
        let addr = server.tcp_addr().to_string();
        let out = sansnet(rt, &["send", &addr, "x", "--tls", "--ca", &ca], b"");
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(err.starts_with("error: TLS handshake failed: invalid peer certificate"), "{err}");
        assert!(err.contains(why), "{err}");
        server.stop();
    }
    // The system's roots do not know our CA; --server-name picks the name.
    let server = start(rt, &["echo"], &server_flags(&pki, false));
    let addr = server.tcp_addr().to_string();
    let out = sansnet(rt, &["send", &addr, "x", "--tls"], b"");
    assert!(text(&out.stderr).contains("UnknownIssuer"), "{}", text(&out.stderr));
    let out = sansnet(
        rt,
        &["send", &addr, "x", "--tls", "--ca", &ca, "--server-name", "other.example"],
        b"",
    );
    assert!(
        text(&out.stderr).contains("not valid for name \"other.example\""),
        "{}",
        text(&out.stderr)
    );
    let out =
        sansnet(rt, &["send", &addr, "y", "--tls", "--ca", &ca, "--server-name", "localhost"], b"");
    assert_eq!(text(&out.stdout), "y");
    server.stop();
}

fn renegotiation_is_refused(rt: &'static str) {
    let (_pki, server, addr, ca) = tls_echo(rt);
    // `R` at the start of a line asks s_client to renegotiate (TLS 1.2):
    // refused (rustls answers no_renegotiation), the connection ends.
    let script = format!(
        "(printf 'before\\n'; sleep 0.5; printf 'R\\n'; sleep 1; printf 'after\\n'; sleep 0.5) | \
         openssl s_client -connect {addr} -CAfile {ca} -tls1_2 -servername localhost"
    );
    let out = shell(&script);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("before\n"), "{all}");
    assert!(text(&out.stderr).contains("RENEGOTIATING"), "{all}");
    assert!(all.contains("no renegotiation"), "{all}");
    assert!(!all.contains("after\n"), "echoed after a renegotiation: {all}");
    // The server goes on serving.
    let out = sansnet(rt, &["send", &addr, "next", "--tls", "--ca", &ca], b"");
    assert_eq!(text(&out.stdout), "next", "{}", text(&out.stderr));
    server.stop();
}
