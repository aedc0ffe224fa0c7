//! The limits of a chat room.

use core::time::Duration;

use super::Splitter;
use super::frame::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME};

/// Every bound a [`Room`](super::Room) enforces, with safe defaults.
///
/// Fields are public; the `with_*` setters chain:
///
/// ```
/// use sansnet_proto::chat::Limits;
///
/// let limits = Limits::default().with_max_frame(4096).with_outbound_budget(256 * 1024);
/// assert_eq!(limits.max_frame, 4096);
/// assert_eq!(limits.max_name, 32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest frame (one JSON object) a client may send, in bytes; over
    /// it: `frame_too_large`, then close. Default 64 KiB.
    pub max_frame: usize,
    /// Deepest nesting of objects in a frame; over it: `bad_json`, then
    /// close. Default 64 (a valid message has depth 1).
    pub max_depth: u32,
    /// Longest user name, in characters (not bytes); over it:
    /// `bad_message`. Default 32.
    pub max_name: usize,
    /// Bytes the room may have emitted to one connection that the driver
    /// has not yet reported written ([`Input::Sent`](crate::Input::Sent)).
    /// An event that would take a connection with unsent bytes over it
    /// evicts the connection instead (closed, `left` announced). Above half
    /// of it, the room stops reading from that connection
    /// ([`Hub::wants_read`](crate::Hub::wants_read)). Keep it well above
    /// `max_frame`: a message event can be a few times the size of its frame
    /// (JSON escapes). Default 1 MiB.
    pub outbound_budget: usize,
    /// In a room of more than [`Room::BATCH_ABOVE`](super::Room::BATCH_ABOVE)
    /// members, `joined` and `left` lines go out at most this often,
    /// coalesced, so that a join storm costs O(n) writes per batch rather
    /// than O(n) per join. Zero: every line at once. Default 50 ms.
    pub announce_every: Duration,
    /// How long, at most, the heaviest senders filling a member's queue are
    /// not read while that member is over half its budget (see the Room's
    /// "Fair share"); still over half after it, the member counts as
    /// stalled. Default 1 s.
    pub sender_hold: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: DEFAULT_MAX_FRAME,
            max_depth: DEFAULT_MAX_DEPTH,
            max_name: 32,
            outbound_budget: 1024 * 1024,
            announce_every: Duration::from_millis(50),
            sender_hold: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// Sets [`max_frame`](Limits::max_frame) (at least 2, the size of `{}`).
    pub fn with_max_frame(mut self, bytes: usize) -> Self {
        self.max_frame = bytes.max(2);
        self
    }
    /// Sets [`max_depth`](Limits::max_depth) (at least 1).
    pub fn with_max_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth.max(1);
        self
    }
    /// Sets [`max_name`](Limits::max_name) (at least 1).
    pub fn with_max_name(mut self, chars: usize) -> Self {
        self.max_name = chars.max(1);
        self
    }
    /// Sets [`outbound_budget`](Limits::outbound_budget).
    pub fn with_outbound_budget(mut self, bytes: usize) -> Self {
        self.outbound_budget = bytes;
        self
    }
    /// Sets [`announce_every`](Limits::announce_every).
    pub fn with_announce_every(mut self, every: Duration) -> Self {
        self.announce_every = every;
        self
    }
    /// Sets [`sender_hold`](Limits::sender_hold).
    pub fn with_sender_hold(mut self, hold: Duration) -> Self {
        self.sender_hold = hold;
        self
    }
    /// A [`Splitter`] with these frame limits.
    pub fn splitter(&self) -> Splitter {
        Splitter::new().with_max_frame(self.max_frame).with_max_depth(self.max_depth)
    }
}
