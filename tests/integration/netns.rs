//! Tests across real (emulated) networks (issue #18): the programs between
//! two test hosts of the test's own, with the kernel's TCP between them.
//!
//! A [`Link`] is two network namespaces (`sn-PID-N-a` with 10.200.0.1, the
//! client host, and `sn-PID-N-b` with 10.200.0.2, the server host) joined
//! by a TUN device in each and `netns/relay.py` between them, which delays,
//! drops and reorders packets as netem would (this kernel has no netem).
//! Private addresses exist only inside those namespaces. Everything is torn
//! down on drop, also when a test fails; namespaces a killed run left are
//! deleted by the next one.
//!
//! Where namespaces cannot be made (not root, no CAP_NET_ADMIN), each test
//! prints `SKIPPED <name>: <why>` straight to stderr (past the harness's
//! capture) and returns.

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::chat::Joiner;
use crate::support::{Server, noise, per_runtime, run_bounded, sansnet_under, workspace_root};

/// The client host's address.
pub(crate) const HOST_A: &str = "10.200.0.1";
/// The server host's address.
pub(crate) const HOST_B: &str = "10.200.0.2";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Two test hosts and the impaired link between them.
pub(crate) struct Link {
    /// The client host's namespace.
    pub(crate) a: String,
    /// The server host's namespace.
    pub(crate) b: String,
    relay: Child,
    control: ChildStdin,
    replies: BufReader<ChildStdout>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Deletes the namespaces of test runs that are gone.
fn sweep() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name.strip_prefix("sn-").and_then(|r| r.split('-').next()) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Link {
    /// Two hosts joined by a clean link, or `None` (said on stderr, naming
    /// `test`) where this machine cannot make them.
    pub(crate) fn new(test: &str) -> Option<Link> {
        match Link::make() {
            Ok(link) => Some(link),
            Err(why) => {
                let line = format!("SKIPPED {test}: cannot make test hosts ({why})\n");
                let _ = std::io::stderr().write_all(line.as_bytes());
                None
            }
        }
    }

    fn make() -> Result<Link, String> {
        sweep();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("sn-{}-{n}", std::process::id());
        let (a, b) = (format!("{base}-a"), format!("{base}-b"));
        ip(&["netns", "add", &a])?;
        if let Err(e) = ip(&["netns", "add", &b]) {
            let _ = ip(&["netns", "del", &a]);
            return Err(e);
        }
        let relay = Command::new("python3")
            .arg(workspace_root().join("tests/integration/netns/relay.py"))
            .args([&a, &b, &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        let mut relay = match relay {
            Ok(r) => r,
            Err(e) => {
                let _ = ip(&["netns", "del", &a]);
                let _ = ip(&["netns", "del", &b]);
                return Err(format!("python3: {e}"));
            }
        };
        let control = relay.stdin.take().expect("piped stdin");
        let replies = BufReader::new(relay.stdout.take().expect("piped stdout"));
        let mut link = Link { a, b, relay, control, replies };
        let ready = link.reply();
        if ready != "ready" {
            return Err(format!("the relay did not start: {ready:?}"));
        }
        for (ns, addr) in [(&link.a, HOST_A), (&link.b, HOST_B)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", "sntun0"])?;
            ip(&["-n", ns, "link", "set", "sntun0", "up"])?;
        }
        Ok(link)
    }

    fn reply(&mut self) -> String {
        let mut line = String::new();
        let _ = self.replies.read_line(&mut line);
        line.trim().to_string()
    }

    fn command(&mut self, line: &str) {
        self.control.write_all(format!("{line}\n").as_bytes()).expect("the relay takes commands");
        self.control.flush().expect("the relay takes commands");
    }

    /// Impairs the link (each way): `delay_ms`, the loss and reorder
    /// probabilities, as netem's `delay`, `loss` and `reorder`.
    pub(crate) fn impair(&mut self, delay_ms: u32, loss: f64, reorder: f64) {
        self.command(&format!("set delay_ms={delay_ms} loss={loss} reorder={reorder}"));
    }

    /// Cuts the link (`false`) or mends it.
    pub(crate) fn up(&mut self, up: bool) {
        self.command(&format!("set down={}", u8::from(!up)));
    }

    /// Limits what `ns` sends to `rate` (`tc tbf`, as `16mbit`).
    pub(crate) fn rate(&self, ns: &str, rate: &str) {
        let tbf = ["qdisc", "add", "dev", "sntun0", "root", "tbf", "rate", rate];
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "tc"])
            .args(tbf)
            .args(["burst", "32kb", "latency", "200ms"])
            .output()
            .expect("tc");
        assert!(out.status.success(), "tc: {}", text(&out.stderr));
    }

    /// Packets forwarded, dropped and reordered by the relay so far.
    pub(crate) fn stats(&mut self) -> (u64, u64, u64) {
        self.command("stats");
        let line = self.reply();
        let field = |k: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
                .unwrap_or_else(|| panic!("no {k} in {line:?}"))
        };
        (field("forwarded"), field("dropped"), field("reordered"))
    }

    /// The kernel's count of retransmitted TCP segments in `ns`.
    pub(crate) fn retransmissions(&self, ns: &str) -> u64 {
        let out = Command::new("ip").args(["netns", "exec", ns, "cat", "/proc/net/snmp"]).output();
        let text = String::from_utf8_lossy(&out.expect("cat /proc/net/snmp").stdout).into_owned();
        let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
        let (names, values) = (tcp.next().unwrap_or(""), tcp.next().unwrap_or(""));
        let at = names.split_whitespace().position(|n| n == "RetransSegs").expect("RetransSegs");
        values.split_whitespace().nth(at).and_then(|v| v.parse().ok()).expect("a count")
    }

    /// `sansnet --runtime RUNTIME ARGS` on the client host, within `timeout`.
    pub(crate) fn client<S: AsRef<OsStr>>(
        &self,
        runtime: &str,
        args: &[S],
        timeout: Duration,
    ) -> Output {
        let mut cmd = self.sansnet_in(&self.a, runtime);
        run_bounded(cmd.args(args), b"", timeout)
    }

    /// `sansnet --runtime RUNTIME` in `ns`.
    pub(crate) fn sansnet_in(&self, ns: &str, runtime: &str) -> Command {
        let mut cmd = sansnet_under(&["ip", "netns", "exec", ns]);
        cmd.args(["--runtime", runtime]);
        cmd
    }

    /// `sansnet --runtime RUNTIME ARGS --bind 10.200.0.2:0` on the server host.
    pub(crate) fn server(&self, runtime: &'static str, args: &[&str]) -> Server {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--bind", "10.200.0.2:0"]);
        Server::start_in(&["ip", "netns", "exec", &self.b], runtime, &all)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.control.write_all(b"quit\n");
        let _ = self.relay.kill();
        let _ = self.relay.wait();
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A 32 MiB file across 20 ms each way and 1 % loss arrives verified, with
/// no `.part` left; the loss was real (the relay dropped packets, the
/// sender's kernel retransmitted).
fn file_across_a_lossy_link(rt: &'static str) {
    let Some(mut link) = Link::new(&format!("netns::file_across_a_lossy_link::{rt}")) else {
        return;
    };
    link.impair(20, 0.01, 0.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = link.server(rt, &["file", "recv", "--dir", &dir.path().display().to_string()]);
    let src = tempfile::tempdir().expect("tempdir");
    let data = noise(32 << 20, 7);
    let path = src.path().join("big.bin");
    fs::write(&path, &data).expect("write");
    let before = link.retransmissions(&link.a);
    let to = server.tcp_addr().to_string();
    let out = link.client(
        rt,
        &[
            OsStr::new("file"),
            OsStr::new("send"),
            path.as_os_str(),
            OsStr::new(&to),
            OsStr::new("--quiet"),
        ],
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "send: {}", text(&out.stderr));
    let got = fs::read(dir.path().join("big.bin")).expect("the received file");
    assert!(got == data, "32 MiB differ");
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["big.bin"], "nothing else left");
    let (forwarded, dropped, _) = link.stats();
    assert!(dropped > 0 && forwarded > 20_000, "forwarded {forwarded}, dropped {dropped}");
    assert!(link.retransmissions(&link.a) > before, "the sender's kernel retransmitted nothing");
    server.stop();
}

/// A scan of a host with a listening port, a REJECTed one, a DROPped one
/// and a closed one: `--all` tells open, closed and filtered, in bounded
/// time.
fn scan_tells_open_closed_and_filtered(rt: &'static str) {
    let name = format!("netns::scan_tells_open_closed_and_filtered::{rt}");
    if !crate::support::have_program("iptables") {
        let _ = std::io::stderr().write_all(format!("SKIPPED {name}: no iptables\n").as_bytes());
        return;
    }
    let Some(link) = Link::new(&name) else { return };
    let server = link.server(rt, &["echo"]);
    let open = server.tcp_addr().port();
    let (rejected, dropped, closed) =
        (open.wrapping_add(1), open.wrapping_add(2), open.wrapping_add(3));
    for (port, target) in [(rejected, "REJECT"), (dropped, "DROP")] {
        let mut rule = vec!["netns", "exec", &link.b, "iptables", "-A", "INPUT", "-p", "tcp"];
        let port = port.to_string();
        rule.extend(["--dport", &port, "-j", target]);
        if target == "REJECT" {
            rule.extend(["--reject-with", "tcp-reset"]);
        }
        let out = Command::new("ip").args(&rule).output().expect("iptables");
        assert!(out.status.success(), "iptables: {}", text(&out.stderr));
    }
    let ports = format!("{open},{rejected},{dropped},{closed}");
    let started = Instant::now();
    let out = link.client(
        rt,
        &["scan", HOST_B, "--ports", &ports, "--all", "--timeout-ms", "500"],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "scan: {}", text(&out.stderr));
    let mut want =
        [(open, "open"), (rejected, "closed"), (dropped, "filtered"), (closed, "closed")];
    want.sort_unstable();
    let lines: String = want.iter().map(|(p, s)| format!("{p} {s}\n")).collect();
    assert_eq!(text(&out.stdout), lines);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    // Without --all: the open port alone, as on loopback.
    let out = link.client(
        rt,
        &["scan", HOST_B, "--ports", &ports, "--timeout-ms", "500"],
        Duration::from_secs(20),
    );
    assert_eq!(text(&out.stdout), format!("{open}\n"));
    server.stop();
}

/// 50 requests on one keep-alive connection through 10 ms each way with
/// 25 % of the packets reordered: every answer (a 256 KiB file, so many
/// packets per answer are in flight to be reordered) arrives whole and
/// right, all on one connection (curl's count of connects).
fn keep_alive_through_reordering(rt: &'static str) {
    let name = format!("netns::keep_alive_through_reordering::{rt}");
    let Some(mut link) = Link::new(&name) else { return };
    link.impair(10, 0.0, 0.25);
    let root = tempfile::tempdir().expect("tempdir");
    let data = noise(256 << 10, 3);
    fs::write(root.path().join("f.bin"), &data).expect("write");
    let server = link.server(rt, &["http", "--root", &root.path().display().to_string()]);
    let url = format!("http://{}/f.bin", server.tcp_addr());
    let got = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &link.a, "curl", "-sS", "--max-time", "60"]);
    cmd.args(["-w", "[%{http_code} %{num_connects}]\n"]);
    for k in 0..50 {
        cmd.arg("-o").arg(got.path().join(k.to_string())).arg(&url);
    }
    let out = run_bounded(&mut cmd, b"", Duration::from_secs(90));
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    let marks = text(&out.stdout);
    let marks: Vec<&str> = marks.lines().collect();
    assert_eq!(marks.len(), 50, "{marks:?}");
    assert_eq!(marks[0], "[200 1]");
    assert!(marks[1..].iter().all(|m| *m == "[200 0]"), "a new connection: {marks:?}");
    for k in 0..50 {
        let body = fs::read(got.path().join(k.to_string())).expect("a body");
        assert!(body == data, "answer {k} differs ({} bytes)", body.len());
    }
    let (_, _, reordered) = link.stats();
    assert!(reordered > 100, "only {reordered} packets were reordered");
    server.stop();
}

/// `send --udp` through 10 % loss each way: each one answers or times out
/// as documented (exit 2, `timed out after 1 s`), never hangs.
fn udp_through_loss(rt: &'static str) {
    let name = format!("netns::udp_through_loss::{rt}");
    let Some(mut link) = Link::new(&name) else { return };
    link.impair(5, 0.10, 0.0);
    let server = link.server(rt, &["echo", "--udp"]);
    let to = server.tcp_addr().to_string();
    let (mut answered, mut timed_out) = (0, 0);
    for k in 0..12 {
        let msg = format!("ping {k}");
        let started = Instant::now();
        let out = link.client(
            rt,
            &["send", "--udp", &to, &msg, "--timeout", "1"],
            Duration::from_secs(10),
        );
        assert!(started.elapsed() < Duration::from_secs(5), "send took {:?}", started.elapsed());
        match out.status.code() {
            Some(0) => {
                assert_eq!(text(&out.stdout).trim_end(), msg);
                answered += 1;
            }
            Some(2) => {
                assert!(text(&out.stderr).contains("timed out after 1 s"), "{}", text(&out.stderr));
                timed_out += 1;
            }
            other => panic!("send exited {other:?}: {}", text(&out.stderr)),
        }
    }
    assert!(answered > 0, "no datagram came back ({timed_out} timed out)");
    server.stop();
}

/// A transfer whose link is cut halfway: the sender fails with a clear
/// one-line error within its timeouts; once the link is back, sending
/// again resumes from the receiver's offset and the file is identical.
fn a_cut_transfer_resumes(rt: &'static str) {
    let name = format!("netns::a_cut_transfer_resumes::{rt}");
    let Some(mut link) = Link::new(&name) else { return };
    link.impair(5, 0.0, 0.0);
    // 200 Mbit/s: the 32 MiB take over a second, so the cut comes mid-way.
    link.rate(&link.a, "200mbit");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let server = link.server(rt, &["-v", "file", "recv", "--dir", &d, "--idle-timeout", "2"]);
    let src = tempfile::tempdir().expect("tempdir");
    let data = noise(32 << 20, 9);
    let path = src.path().join("cut.bin");
    fs::write(&path, &data).expect("write");
    let to = server.tcp_addr().to_string();
    let send = |link: &Link| {
        let args = [OsStr::new("file"), OsStr::new("send"), path.as_os_str(), OsStr::new(&to)];
        let limits = ["--write-timeout", "2", "--timeout", "3"].map(OsStr::new);
        let mut cmd = link.sansnet_in(&link.a, rt);
        cmd.args(args).args(limits);
        cmd
    };
    let mut first =
        send(&link).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
    let part = dir.path().join(".cut.bin.part");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::metadata(&part).map_or(0, |m| m.len()) < 1 << 20 {
        assert!(Instant::now() < deadline, "the transfer never got going");
        if first.try_wait().expect("try_wait").is_some() {
            panic!("the whole file went before the cut; make it bigger");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    link.up(false);
    let cut_at = Instant::now();
    let status = loop {
        if let Some(status) = first.try_wait().expect("try_wait") {
            break status;
        }
        assert!(cut_at.elapsed() < Duration::from_secs(30), "the sender hangs on a cut link");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut first.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(!status.success(), "a cut transfer succeeded");
    assert!(err.starts_with("error: ") && err.lines().count() == 1, "{err}");
    link.up(true);
    // The receiver lets the stalled connection go after its idle timeout;
    // until then an offer of the same file may be refused as busy.
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        let out = run_bounded(&mut send(&link), b"", Duration::from_secs(60));
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(out.status.success(), "resending: {}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("verified\n"), "{}", text(&out.stdout));
    assert!(fs::read(dir.path().join("cut.bin")).expect("cut.bin") == data, "the file differs");
    assert!(!part.exists(), "the .part is left");
    let log = server.stop();
    let resumed = log.lines().filter_map(|l| l.split("receiving cut.bin from byte ").nth(1));
    let offsets: Vec<u64> = resumed.filter_map(|o| o.trim().parse().ok()).collect();
    assert!(offsets.len() >= 2 && offsets.last() > Some(&0), "not resumed: {log}");
}

/// A chat room with two members behind a slow, lossy link (1 s each way,
/// 5 % loss) and two on a clean path: everyone gets every message in
/// order, and the clean member gets them without waiting for the slow ones.
fn chat_with_a_slow_member(rt: &'static str) {
    let name = format!("netns::chat_with_a_slow_member::{rt}");
    let Some(mut link) = Link::new(&name) else { return };
    let server = link.server(rt, &["chat", "serve"]);
    let addr = server.tcp_addr();
    let join = |ns: &str, name: &str| Joiner::spawn_in(&["ip", "netns", "exec", ns], addr, name);
    let mut talker = join(&link.b, "talker");
    talker.wait_for("* talker joined", Duration::from_secs(10));
    let clean = join(&link.b, "clean");
    clean.wait_for("* clean joined", Duration::from_secs(10));
    let slow = join(&link.a, "slow");
    slow.wait_for("* slow joined", Duration::from_secs(10));
    let slow2 = join(&link.a, "slow2");
    slow2.wait_for("* slow2 joined", Duration::from_secs(10));
    clean.wait_for("* slow2 joined", Duration::from_secs(10));
    link.impair(1000, 0.05, 0.0);
    let started = Instant::now();
    for k in 0..50 {
        talker.type_line(&format!("line {k}\n"));
    }
    let mut clean_last = started;
    for k in 0..50 {
        clean_last = clean.wait_for(&format!("[talker] line {k}"), Duration::from_secs(10));
    }
    let mut slow_last = started;
    for member in [&slow, &slow2] {
        for k in 0..50 {
            let at = member.wait_for(&format!("[talker] line {k}"), Duration::from_secs(60));
            slow_last = slow_last.max(at);
        }
    }
    let (clean_took, slow_took) = (clean_last - started, slow_last - started);
    assert!(slow_took >= Duration::from_secs(1), "the slow link was not slow: {slow_took:?}");
    assert!(
        clean_took < Duration::from_millis(500),
        "the clean member waited: {clean_took:?} (slow: {slow_took:?})"
    );
    drop((talker, clean, slow, slow2));
    server.stop();
}

per_runtime!(
    chat_with_a_slow_member,
    file_across_a_lossy_link,
    a_cut_transfer_resumes,
    scan_tells_open_closed_and_filtered,
    keep_alive_through_reordering,
    udp_through_loss,
);

#[test]
fn the_link_is_really_impaired() {
    let Some(mut link) = Link::new("netns::the_link_is_really_impaired") else { return };
    // A TCP connect takes one round trip: 2 x 30 ms with the delay, well
    // under that without.
    let server = link.server("smol", &["echo"]);
    let addr: SocketAddr = server.tcp_addr();
    let rtt = |link: &Link| {
        let out = Command::new("ip")
            .args(["netns", "exec", &link.a, "python3", "-c"])
            .arg(format!(
                "import socket,time\nt=time.monotonic()\ns=socket.create_connection(('{}',{}),5)\nprint(time.monotonic()-t)",
                addr.ip(),
                addr.port()
            ))
            .output()
            .expect("python3");
        text(&out.stdout).trim().parse::<f64>().unwrap_or_else(|_| panic!("{}", text(&out.stderr)))
    };
    // The fastest of three, so that a busy machine's hiccup does not count.
    let fastest = |link: &Link| (0..3).map(|_| rtt(link)).fold(f64::MAX, f64::min);
    let clean = fastest(&link);
    assert!(clean < 0.06, "a clean link takes {clean} s to connect");
    link.impair(30, 0.0, 0.0);
    let slow = fastest(&link);
    assert!(slow >= 0.06, "connect took {slow} s through 30 ms each way");
    link.up(false);
    let out = Command::new("ip")
        .args(["netns", "exec", &link.a, "python3", "-c"])
        .arg(format!("import socket\ntry:\n socket.create_connection(('{}',{}),1)\n print('connected')\nexcept OSError as e:\n print('failed')", addr.ip(), addr.port()))
        .output()
        .expect("python3");
    assert_eq!(text(&out.stdout).trim(), "failed", "a cut link passes nothing");
    drop(server);

    // A rate limit (tc tbf on the client's side): 4 MiB at 16 Mbit/s take
    // over two seconds.
    link.up(true);
    link.impair(0, 0.0, 0.0);
    link.rate(&link.a, "16mbit");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = link.server("smol", &["file", "recv", "--dir", &dir.path().display().to_string()]);
    let src = tempfile::tempdir().expect("tempdir");
    let path = src.path().join("r.bin");
    fs::write(&path, noise(4 << 20, 5)).expect("write");
    let to = server.tcp_addr().to_string();
    let started = Instant::now();
    let args = [OsStr::new("file"), OsStr::new("send"), path.as_os_str(), OsStr::new(&to)];
    let out = link.client("smol", &args, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1800), "4 MiB in {took:?} through 16 Mbit/s");
}
