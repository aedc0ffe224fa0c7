//! The limits of a WebSocket connection.

use core::time::Duration;

/// Every bound a WebSocket [`Conn`](super::Conn) enforces, with safe
/// defaults.
///
/// Fields are public; the `with_*` setters chain:
///
/// ```
/// use core::time::Duration;
/// use sansnet_proto::ws::Limits;
///
/// let limits = Limits::default().with_max_message(1 << 20).with_close_timeout(Duration::from_secs(1));
/// assert_eq!(limits.max_frame, 64 * 1024);
/// assert_eq!(limits.max_message, 1 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// One frame's payload, in bytes; over it: 1009, refused from the
    /// frame's header before any payload is buffered. Default 64 KiB.
    pub max_frame: usize,
    /// One message's payload, its fragments assembled; over it: 1009, as
    /// soon as a fragment's header would cross it. Also the backpressure
    /// bound: the connection stops reading while the events not yet polled
    /// hold more than this. Default 64 KiB.
    pub max_message: usize,
    /// After we send a Close, how long to wait for the peer's before the
    /// connection is finished anyway. Default 5 s.
    pub close_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: 64 * 1024,
            max_message: 64 * 1024,
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// Sets [`max_frame`](Limits::max_frame) (at least 125, so that every
    /// control frame fits).
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes.max(125);
        self
    }
    /// Sets [`max_message`](Limits::max_message) (at least 1).
    pub fn with_max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes.max(1);
        self
    }
    /// Sets [`close_timeout`](Limits::close_timeout).
    pub fn with_close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }
}
