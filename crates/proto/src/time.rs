//! Time as a value: the core's [`Instant`], and (inside the crate) the timer
//! table every machine keeps its deadlines in.
//!
//! The core never reads a clock. Drivers pass `now` into every `handle_*`
//! call; a simulated clock in tests is just an `Instant` that the test moves
//! forward. An `Instant` counts nanoseconds from an epoch the driver picks
//! (the std transports use the moment the process started its clock), so it
//! works in `no_std` and is trivially reproducible.

use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time, in nanoseconds since a driver-chosen epoch.
///
/// Monotonic by contract: a driver never passes a `now` earlier than one it
/// passed before to the same machine.
///
/// ```
/// use core::time::Duration;
/// use sansnet_proto::Instant;
///
/// let t0 = Instant::ZERO;
/// let t1 = t0 + Duration::from_millis(1500);
/// assert_eq!(t1.saturating_duration_since(t0), Duration::from_millis(1500));
/// assert_eq!(t0.saturating_duration_since(t1), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);
    /// The farthest representable instant (about 584 years after the epoch).
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(nanos))
    }

    /// The earlier of two optional deadlines (`None`: no deadline), as a
    /// machine wrapping another combines its own with the inner one's.
    pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How long after `earlier` this instant is, or zero if it is not later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating: adding a huge timeout gives [`Instant::MAX`], never a panic.
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: zero when `rhs` is later.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// A machine's set of timers, named by a small enum.
///
/// Implemented by each machine's timer enum so that [`Timers`] can index a
/// fixed array with it.
pub(crate) trait TimerKind: Copy + Eq + core::fmt::Debug + 'static {
    /// How many timers there are.
    const COUNT: usize;
    /// Every timer, in index order.
    const ALL: &'static [Self];
    /// This timer's slot, `0..COUNT`.
    fn index(self) -> usize;
}

/// A fixed table of optional deadlines, one slot per timer of `K`.
///
/// `poll_timeout` of a machine is [`Timers::next`]; `handle_timeout(now)`
/// asks [`Timers::expired`] which timers are due and disarms them, so
/// calling it early or twice is harmless.
#[derive(Clone, Debug)]
pub(crate) struct Timers<K: TimerKind, const N: usize> {
    deadlines: [Option<Instant>; N],
    _kind: core::marker::PhantomData<K>,
}

impl<K: TimerKind, const N: usize> Default for Timers<K, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: TimerKind, const N: usize> Timers<K, N> {
    /// A table with every timer disarmed.
    ///
    /// # Panics
    ///
    /// If `N` differs from `K::COUNT` (a bug in the machine, caught by its
    /// first test).
    pub(crate) fn new() -> Self {
        assert_eq!(N, K::COUNT, "Timers<K, N> needs N == K::COUNT");
        Timers { deadlines: [None; N], _kind: core::marker::PhantomData }
    }

    /// Arms (or re-arms) `timer` to fire at `at`.
    pub(crate) fn set(&mut self, timer: K, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Disarms `timer`.
    pub(crate) fn clear(&mut self, timer: K) {
        self.deadlines[timer.index()] = None;
    }

    /// Disarms every timer.
    pub(crate) fn clear_all(&mut self) {
        self.deadlines = [None; N];
    }

    /// When `timer` fires, if armed.
    pub(crate) fn get(&self, timer: K) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// The earliest armed deadline and its timer (the lowest index on ties).
    pub(crate) fn next(&self) -> Option<(K, Instant)> {
        K::ALL
            .iter()
            .filter_map(|&k| self.deadlines[k.index()].map(|at| (k, at)))
            .min_by_key(|&(_, at)| at)
    }

    /// Disarms and returns one timer whose deadline is at or before `now`
    /// (the earliest first); `None` when nothing is due.
    pub(crate) fn expired(&mut self, now: Instant) -> Option<K> {
        let (k, at) = self.next()?;
        if at <= now {
            self.clear(k);
            Some(k)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum T {
        Idle,
        Header,
    }
    impl TimerKind for T {
        const COUNT: usize = 2;
        const ALL: &'static [T] = &[T::Idle, T::Header];
        fn index(self) -> usize {
            self as usize
        }
    }

    #[test]
    fn timers_fire_earliest_first_once() {
        let mut timers: Timers<T, 2> = Timers::new();
        let t0 = Instant::ZERO;
        timers.set(T::Idle, t0 + Duration::from_secs(60));
        timers.set(T::Header, t0 + Duration::from_secs(10));
        assert_eq!(timers.next(), Some((T::Header, t0 + Duration::from_secs(10))));
        assert_eq!(timers.expired(t0 + Duration::from_secs(5)), None);
        assert_eq!(timers.expired(t0 + Duration::from_secs(10)), Some(T::Header));
        assert_eq!(timers.expired(t0 + Duration::from_secs(10)), None); // disarmed
        assert_eq!(timers.get(T::Idle), Some(t0 + Duration::from_secs(60)));
        timers.clear_all();
        assert_eq!(timers.next(), None);
    }
}
