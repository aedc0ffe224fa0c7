//! Process-wide settings for a program that hosts many connections or
//! moves large files: the file-descriptor limit, malloc's thresholds, and
//! how many probes a scan may keep open. Call them once, at start, before
//! any runtime.

/// Descriptors kept free for everything but a scan's probes (stdio, the
/// reactor, logging).
pub const RESERVED_FDS: u64 = 64;

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now
/// in force (`None` if it cannot be read). Servers may hold up to
/// `--max-connections` sockets, the scanner its `--concurrency`.
pub fn raise_fd_limit() -> Option<u64> {
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
pub fn keep_freed_memory() {
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

/// The concurrency a scan can have under the descriptor limit `fd_limit`
/// (as [`raise_fd_limit`] left it): `requested`, or what fits with
/// [`RESERVED_FDS`] kept free. Lowering it is logged (a warning).
pub fn fit_concurrency(requested: usize, fd_limit: Option<u64>) -> usize {
    let fit = fd_limit.map_or(u64::MAX, |limit| limit.saturating_sub(RESERVED_FDS).max(1));
    let fit = requested.min(usize::try_from(fit).unwrap_or(usize::MAX));
    if fit < requested {
        let limit = fd_limit.unwrap_or_default();
        tracing::warn!(
            "--concurrency {requested} lowered to {fit} (file-descriptor limit {limit})"
        );
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::fit_concurrency;

    #[test]
    fn concurrency_fits_under_the_limit() {
        assert_eq!(fit_concurrency(1000, None), 1000);
        assert_eq!(fit_concurrency(1000, Some(4096)), 1000);
        assert_eq!(fit_concurrency(1000, Some(1024)), 960);
        assert_eq!(fit_concurrency(1000, Some(10)), 1);
    }
}
