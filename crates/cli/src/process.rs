//! Process-wide settings of the binary: the SIGXFSZ handler and the
//! async-std pool, set once before any runtime starts (descriptors and the
//! allocator: `sansnet_apps::host`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

/// A write past the file-size limit (RLIMIT_FSIZE) then fails with EFBIG,
/// answered `ERR io` by the file receiver, instead of killing the process
/// with SIGXFSZ.
pub(crate) fn ignore_sigxfsz() -> anyhow::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGXFSZ, Arc::new(AtomicBool::new(false)))
        .context("cannot install the SIGXFSZ handler")?;
    Ok(())
}

/// async-std sizes its executor from `ASYNC_STD_THREAD_COUNT` when it
/// starts. Unless the user set it, use one thread fewer than the cores (at
/// least one), as the smol transport does: with async-io's single reactor,
/// extra executor threads mostly wake each other (on 2 cores: 201k req/s
/// with one thread, 168k with two).
#[allow(unsafe_code)]
pub(crate) fn size_async_std_pool() {
    const VAR: &str = "ASYNC_STD_THREAD_COUNT";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.saturating_sub(1).max(1);
    // SAFETY: called at the top of `main`, before any thread is spawned
    // (logging, signals and runtimes start later), so nothing can read the
    // environment concurrently.
    unsafe { std::env::set_var(VAR, threads.to_string()) };
}
