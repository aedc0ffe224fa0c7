//! The chat page in a real browser (PROTOCOLS.md §7): headless Chromium
//! (Debian's `chromium`, or `$CHROMIUM`) driven by playwright-core from
//! node (`tests/browser/chat.mjs`), in one room with `chat join` members.
//!
//! Where node, Chromium or `tests/browser/node_modules` (`npm ci --prefix
//! tests/browser`) is missing, or Chromium cannot start, each test prints
//! `SKIPPED browser::NAME::RUNTIME: why` straight to stderr (past the
//! harness's capture) and returns.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use crate::chat::Joiner;
use crate::support::{Server, have_program, per_runtime, run_bounded, workspace_root};

/// How long the TCP members wait for any one thing the page does.
const STEP: Duration = Duration::from_secs(15);
/// How long the whole browser script may run (each of its waits is 10 s).
const SCRIPT: Duration = Duration::from_secs(90);
/// A member whose name and message are markup (the page shows them as
/// text; `tests/browser/chat.mjs` checks that).
const EVIL: &str = "<img/src=x/onerror=alert(1)>";
const MARKUP: &str = "<script>alert(2)</script><img src=x onerror=alert(3)>";

per_runtime!(page_joins_the_room);

/// Chromium loads `/?name=webby` from `chat serve --web`, joins, sees the
/// TCP member's message and sends one that the TCP member gets; a member
/// named with markup and sending markup shows as text; a second page
/// asking for a taken name gets `name_taken` and joins under another on
/// the same connection, and `/list` lists both kinds of member; when the
/// server stops, the page says it was disconnected.
fn page_joins_the_room(rt: &'static str) {
    let test = format!("browser::page_joins_the_room::{rt}");
    let Some(chromium) = browser(&test) else { return };
    let mut server = Server::start(rt, &["chat", "serve", "--web", "127.0.0.1:0"]);
    let web = server.second_addr();
    let addr = server.tcp_addr();
    let tcp = Joiner::spawn_in(&[], addr, "tcpuser");
    tcp.wait_for("* tcpuser joined", STEP);

    // The TCP side acts on what the page does, on its own thread; the
    // script's outcome is read first, as it says best what went wrong.
    let members = thread::spawn(move || {
        let mut tcp = tcp;
        tcp.wait_for("* webby joined", STEP);
        tcp.type_line("hello from tcp\n");
        tcp.wait_for("[webby] hi from browser", STEP);
        let mut evil = Joiner::spawn_in(&[], addr, EVIL);
        evil.wait_for(&format!("* {EVIL} joined"), STEP);
        evil.type_line(&format!("{MARKUP}\n"));
        tcp.wait_for(&format!("[{EVIL}] {MARKUP}"), STEP);
        tcp.wait_for("* webby2 joined", STEP);
        tcp.wait_for("[webby2] <b>bold</b> from webby2", STEP);
        tcp.wait_for("[webby] bye", STEP);
        server.stop()
    });
    let out = script(&chromium, web);
    let stopped = members.join();
    let said = |o: &Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    assert!(out.status.success(), "{test}: chat.mjs exited {}: {}", out.status, said(&out));
    if let Err(panic) = stopped {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `tests/browser/chat.mjs` against the page at `web` (bounded).
fn script(chromium: &str, web: SocketAddr) -> Output {
    let script = workspace_root().join("tests/browser/chat.mjs");
    let mut cmd = Command::new("node");
    cmd.arg(script).arg(format!("http://{web}/")).arg(chromium);
    run_bounded(&mut cmd, b"", SCRIPT)
}

/// Chromium's path if the browser tests can run here; otherwise prints
/// `SKIPPED test: why` to stderr and gives `None`.
fn browser(test: &str) -> Option<String> {
    match ready() {
        Ok(chromium) => Some(chromium.clone()),
        Err(why) => {
            let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {why}\n").as_bytes());
            None
        }
    }
}

/// Whether node, playwright-core and a Chromium that starts are here
/// (checked once per test process: `chat.mjs --probe` launches it).
fn ready() -> &'static Result<String, String> {
    static READY: OnceLock<Result<String, String>> = OnceLock::new();
    READY.get_or_init(|| {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let modules: PathBuf = workspace_root().join("tests/browser/node_modules/playwright-core");
        if !have_program("node") {
            return Err("no node".into());
        }
        if !modules.is_dir() {
            return Err(format!("no {} (npm ci --prefix tests/browser)", modules.display()));
        }
        if !PathBuf::from(&chromium).is_file() {
            return Err(format!("no {chromium}"));
        }
        let script = workspace_root().join("tests/browser/chat.mjs");
        let mut cmd = Command::new("node");
        cmd.arg(script).arg("--probe").arg(&chromium);
        let out = run_bounded(&mut cmd, b"", SCRIPT);
        match out.status.code() {
            Some(0) => Ok(chromium),
            _ => Err(format!(
                "{chromium} does not start: {}{}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    })
}
