//! Process-wide settings: descriptors, signals, the allocator and the
//! async-std pool, set once before any runtime starts.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now
/// in force (`None` if it cannot be read). Servers may hold up to
/// `--max-connections` sockets, the scanner its `--concurrency`.
pub(crate) fn raise_fd_limit() -> Option<u64> {
    // Linux refuses an unlimited soft limit (fs.nr_open caps it): ask for
    // that cap's default then.
    let hard = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(_, hard)| hard);
    let want = if hard == rlimit::INFINITY { 1 << 20 } else { hard };
    match rlimit::increase_nofile_limit(want) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!("cannot raise the file-descriptor limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft)
        }
    }
}

/// A write past the file-size limit (RLIMIT_FSIZE) then fails with EFBIG,
/// answered `ERR io` by the file receiver, instead of killing the process
/// with SIGXFSZ.
pub(crate) fn ignore_sigxfsz() -> anyhow::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGXFSZ, Arc::new(AtomicBool::new(false)))
        .context("cannot install the SIGXFSZ handler")?;
    Ok(())
}

/// Lets malloc keep freed memory for the next allocation instead of
/// handing it back to the kernel at once. A receiver's read buffers are
/// held by the batches waiting for the disk and freed as they are written,
/// a few MiB at a time: with glibc's defaults (a trim and mmap threshold
/// that adapt up to about 2 MiB), most of that went back to the kernel and
/// was faulted in afresh, about 27,000 page faults per GiB received (socat:
/// 350), each one a zeroed page and, on a VM, often a fault on the host.
/// At most 64 MiB freed at the top of the heap is kept. The sender calls it
/// too: over TLS its records are sealed into buffers of its own, freed as
/// the socket takes them.
#[allow(unsafe_code)]
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets malloc's tuning parameters, takes the
    // allocator's own locks, and has no precondition on memory: any value
    // is either applied or refused (the return value, ignored here: the
    // defaults are a fine fallback).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
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
