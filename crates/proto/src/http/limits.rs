//! The limits of an HTTP server connection.

use core::time::Duration;

/// Every bound an HTTP server connection enforces, with safe defaults.
///
/// Fields are public; the `with_*` setters chain:
///
/// ```
/// use core::time::Duration;
/// use sansnet_proto::http::Limits;
///
/// let limits = Limits::default()
///     .with_max_body(1 << 20)
///     .with_header_timeout(Duration::from_secs(5));
/// assert_eq!(limits.max_head, 64 * 1024);
/// assert_eq!(limits.max_body, 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Request-line plus fields, in bytes (also bounds a trailer section);
    /// over it: 431. Default 64 KiB.
    pub max_head: usize,
    /// Request-target length in bytes; over it: 414. Default 8 KiB.
    pub max_target: usize,
    /// Field lines per head (and per trailer section); over it: 431.
    /// Default 100.
    pub max_fields: usize,
    /// Body bytes per request (`Content-Length` or the sum of chunks); over
    /// it: 413. Default 16 MiB.
    pub max_body: u64,
    /// Chunk-extension bytes per request, summed over its chunks; over it:
    /// 400. Default 4 KiB.
    pub max_chunk_ext: usize,
    /// Time from the first byte of a request head to its end; over it: 408.
    /// Default 10 s.
    pub header_timeout: Duration,
    /// Time a connection may sit idle between requests (closed silently) or
    /// stall mid-body (408). Default 60 s.
    pub idle_timeout: Duration,
    /// Time from the end of a request head to the end of its body, however
    /// the bytes trickle in (the idle timer restarts on each one, this
    /// does not); over it: 408. Default 60 s.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 64 * 1024,
            max_target: 8 * 1024,
            max_fields: 100,
            max_body: 16 * 1024 * 1024,
            max_chunk_ext: 4 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// Sets [`max_head`](Limits::max_head) (clamped to 1..=`u32::MAX`).
    pub fn with_max_head(mut self, bytes: usize) -> Self {
        self.max_head = bytes.clamp(1, u32::MAX as usize);
        self
    }
    /// Sets [`max_target`](Limits::max_target) (at least 1).
    pub fn with_max_target(mut self, bytes: usize) -> Self {
        self.max_target = bytes.max(1);
        self
    }
    /// Sets [`max_fields`](Limits::max_fields).
    pub fn with_max_fields(mut self, n: usize) -> Self {
        self.max_fields = n;
        self
    }
    /// Sets [`max_body`](Limits::max_body).
    pub fn with_max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }
    /// Sets [`max_chunk_ext`](Limits::max_chunk_ext).
    pub fn with_max_chunk_ext(mut self, bytes: usize) -> Self {
        self.max_chunk_ext = bytes;
        self
    }
    /// Sets [`header_timeout`](Limits::header_timeout).
    pub fn with_header_timeout(mut self, d: Duration) -> Self {
        self.header_timeout = d;
        self
    }
    /// Sets [`idle_timeout`](Limits::idle_timeout).
    pub fn with_idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    /// Sets [`body_timeout`](Limits::body_timeout).
    pub fn with_body_timeout(mut self, d: Duration) -> Self {
        self.body_timeout = d;
        self
    }
}
