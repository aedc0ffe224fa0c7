//! Every bound and timeout of the file machines, with defaults and setters.

use core::time::Duration;

use super::codec::HEADER_CAP;

/// Bounds and timeouts for a [`Sender`](super::Sender) and a
/// [`Receiver`](super::Receiver). Each machine reads the fields that
/// concern it.
///
/// ```
/// use core::time::Duration;
/// use sansnet_proto::file::Limits;
///
/// let limits = Limits::default().with_max_size(1 << 30).with_chunk(64 * 1024);
/// assert_eq!(limits.max_size, 1 << 30);
/// assert_eq!(limits.header_cap, 4096);
/// assert_eq!(limits.idle_timeout, Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Receiver: the largest SIZE accepted; over it `ERR too_large`.
    /// Default 1 TiB.
    pub max_size: u64,
    /// Receiver: the longest header line, newline included; over it
    /// `ERR bad_header`. Default 4 KiB (PROTOCOLS.md §3). At least 64.
    pub header_cap: usize,
    /// Bytes asked for in one `Read` event (the sender's file reads, the
    /// receiver's re-reading of a partial file when it resumes). Default
    /// 256 KiB: small enough to stay in cache between the read, the hash
    /// and the socket write.
    pub chunk: usize,
    /// Receiver: bytes gathered before one `Write` event (at the end of the
    /// data, or when the stream stops, less). Default 1 MiB.
    pub write_batch: usize,
    /// Sender: bytes handed to the driver and not yet written to the
    /// socket, plus bytes asked for and not yet read, before it waits.
    /// Receiver: bytes received and not yet reported written, before it
    /// stops reading (TCP pushes back on the sender). Default 4 MiB.
    pub max_buffered: usize,
    /// Receiver: how long the sender may stay silent while the receiver
    /// waits for the header, data or the trailer. Default 60 s.
    pub idle_timeout: Duration,
    /// Sender: how long to wait for the ack. Default 30 s.
    pub ack_timeout: Duration,
    /// Sender: after a lone `OK`, how long to wait for the rest of an
    /// `OK OFFSET` line before taking it for the reference receiver's bare
    /// ack. Default 300 ms.
    pub bare_ok_wait: Duration,
    /// Sender: how long to wait for `DONE` after the trailer. Default 60 s.
    pub done_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: 1 << 40,
            header_cap: HEADER_CAP,
            chunk: 256 * 1024,
            write_batch: 1 << 20,
            max_buffered: 4 << 20,
            idle_timeout: Duration::from_secs(60),
            ack_timeout: Duration::from_secs(30),
            bare_ok_wait: Duration::from_millis(300),
            done_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// Sets [`max_size`](Self::max_size).
    pub fn with_max_size(mut self, bytes: u64) -> Limits {
        self.max_size = bytes;
        self
    }

    /// Sets [`header_cap`](Self::header_cap) (at least 64).
    pub fn with_header_cap(mut self, bytes: usize) -> Limits {
        self.header_cap = bytes.max(64);
        self
    }

    /// Sets [`chunk`](Self::chunk) (at least 1).
    pub fn with_chunk(mut self, bytes: usize) -> Limits {
        self.chunk = bytes.max(1);
        self
    }

    /// Sets [`write_batch`](Self::write_batch) (at least 1).
    pub fn with_write_batch(mut self, bytes: usize) -> Limits {
        self.write_batch = bytes.max(1);
        self
    }

    /// Sets [`max_buffered`](Self::max_buffered) (at least 1).
    pub fn with_max_buffered(mut self, bytes: usize) -> Limits {
        self.max_buffered = bytes.max(1);
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    pub fn with_idle_timeout(mut self, d: Duration) -> Limits {
        self.idle_timeout = d;
        self
    }

    /// Sets [`ack_timeout`](Self::ack_timeout).
    pub fn with_ack_timeout(mut self, d: Duration) -> Limits {
        self.ack_timeout = d;
        self
    }

    /// Sets [`bare_ok_wait`](Self::bare_ok_wait).
    pub fn with_bare_ok_wait(mut self, d: Duration) -> Limits {
        self.bare_ok_wait = d;
        self
    }

    /// Sets [`done_timeout`](Self::done_timeout).
    pub fn with_done_timeout(mut self, d: Duration) -> Limits {
        self.done_timeout = d;
        self
    }
}
