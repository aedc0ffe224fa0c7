//! Replays fuzz/corpus and fuzz/regressions through the same checks as the fuzz targets.
//!
//! The fuzz targets (`fuzz/fuzz_targets/`, nightly + cargo-fuzz) and these
//! tests (stable) share the files of invariants, `fuzz/checks.rs`, `fuzz/chat_checks.rs`,
//! `fuzz/file_checks.rs`, `fuzz/tls_checks.rs`, `fuzz/ws_checks.rs` and
//! `fuzz/web_checks.rs`, so a seed
//! or a minimized crash that once failed fails here too, without a fuzzer.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "../../fuzz/checks.rs"]
mod checks;

#[path = "../../fuzz/chat_checks.rs"]
mod chat_checks;

#[path = "../../fuzz/file_checks.rs"]
mod file_checks;

#[path = "../../fuzz/tls_checks.rs"]
mod tls_checks;

#[path = "../../fuzz/ws_checks.rs"]
mod ws_checks;

#[path = "../../fuzz/web_checks.rs"]
mod web_checks;

/// Every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
/// (either may be absent), sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz.join(dir).join(target)) else { continue };
        for entry in entries {
            let path = entry.expect("readable directory entry").path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs `check` on every input of `target`; fails with the list of the
/// files that panicked.
fn replay(target: &str, check: fn(&[u8])) {
    let files = inputs(target);
    let mut failed = Vec::new();
    for path in &files {
        let data = fs::read(path).expect("readable fuzz input");
        if panic::catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs failed:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
    assert!(!files.is_empty(), "{target}: no seeds in fuzz/corpus/{target}");
}

#[test]
fn http_request() {
    replay("http_request", checks::http_request);
}

#[test]
fn http_differential() {
    replay("http_differential", checks::http_differential);
}

#[test]
fn http_chunked() {
    replay("http_chunked", checks::http_chunked);
}

#[test]
fn chat_frames() {
    replay("chat_frames", chat_checks::chat_frames);
}

#[test]
fn chat_message() {
    replay("chat_message", chat_checks::chat_message);
}

#[test]
fn file_header() {
    replay("file_header", file_checks::file_header);
}

#[test]
fn file_ack() {
    replay("file_ack", file_checks::file_ack);
}

#[test]
fn file_trailer() {
    replay("file_trailer", file_checks::file_trailer);
}

#[test]
fn tls_glue() {
    replay("tls_glue", tls_checks::tls_glue);
}

#[test]
fn ws_frame() {
    replay("ws_frame", ws_checks::ws_frame);
}

#[test]
fn web_port() {
    replay("web_port", web_checks::web_port);
}
