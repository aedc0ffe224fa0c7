//! TCP connect scanning, the pure part: which ports to try ([`PortSet`],
//! parsed from a SPEC like `1-1024,8080`) and the bookkeeping of a scan
//! ([`Scan`]): the next port to try, the outcome of each, the open ports in
//! ascending order and a [`Summary`].
//!
//! The transports do the connecting (the `scan` function of each of the
//! std, smol and async-std transport crates): they take ports from
//! [`Scan::next_port`], connect with a timeout and report each result with
//! [`Scan::record`]. Results may come back in any order; the scan keeps
//! them in bitmaps (16 KiB, allocated once), so recording allocates
//! nothing and the open ports come out sorted.
//!
//! ```
//! use sansnet_proto::scan::{Outcome, PortSet, Scan};
//!
//! let ports: PortSet = "20-22,80".parse().unwrap();
//! let mut scan = Scan::new(ports);
//! while let Some(port) = scan.next_port() {
//!     let outcome = if port == 22 || port == 80 { Outcome::Open } else { Outcome::Refused };
//!     scan.record(port, outcome).unwrap();
//! }
//! assert!(scan.is_done());
//! assert_eq!(scan.open_ports().collect::<Vec<_>>(), [22, 80]);
//! assert_eq!(scan.summary().to_string(), "4 ports: 2 open, 2 refused, 0 filtered, 0 errors");
//! ```
//!
//! # The SPEC syntax
//!
//! Comma-separated items, each a port (`8080`) or an inclusive range
//! (`1-1024`); as in nmap a range may leave out either end (`-1024` is
//! `1-1024`, `60000-` is `60000-65535`, `-` is every port). Spaces around
//! items are allowed. Ports are 1 to 65535; overlapping and repeated items
//! are merged, so every port is tried once.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::str::FromStr;

/// Why a port SPEC was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Nothing but whitespace.
    #[error("empty port list")]
    Empty,
    /// An empty item: two commas in a row, or a comma at an end.
    #[error("empty item in the port list {0:?}")]
    EmptyItem(String),
    /// Something that is not digits where a port belongs.
    #[error("{0:?} is not a port number")]
    NotANumber(String),
    /// A number outside 1-65535.
    #[error("port {0} is out of range (1-65535)")]
    OutOfRange(String),
    /// A range whose start is above its end.
    #[error("port range {start}-{end} runs backwards")]
    Reversed {
        /// The first port written.
        start: u16,
        /// The last port written.
        end: u16,
    },
}

/// A set of TCP ports, kept as sorted, disjoint, non-adjacent ranges.
///
/// ```
/// use sansnet_proto::scan::PortSet;
///
/// let set: PortSet = "8080, 1-3,2-5,7".parse().unwrap();
/// assert_eq!(set.len(), 7);
/// assert_eq!(set.to_string(), "1-5,7,8080");
/// assert!("0".parse::<PortSet>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl Default for PortSet {
    /// [`PortSet::DEFAULT_SPEC`]: ports 1-1024.
    fn default() -> Self {
        PortSet::from_ranges([(1, 1024)])
    }
}

impl PortSet {
    /// The SPEC scanned when none is given: the well-known ports.
    pub const DEFAULT_SPEC: &'static str = "1-1024";

    /// Every port, 1-65535.
    pub fn all() -> PortSet {
        PortSet::from_ranges([(1, u16::MAX)])
    }

    /// Parses a SPEC (see the [module docs](self#the-spec-syntax)).
    pub fn parse(spec: &str) -> Result<PortSet, SpecError> {
        if spec.trim().is_empty() {
            return Err(SpecError::Empty);
        }
        let mut ranges = Vec::new();
        for item in spec.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(SpecError::EmptyItem(spec.to_string()));
            }
            let range = match item.split_once('-') {
                None => {
                    let p = port(item)?;
                    (p, p)
                }
                Some((a, b)) => {
                    let (a, b) = (a.trim(), b.trim());
                    let start = if a.is_empty() { 1 } else { port(a)? };
                    let end = if b.is_empty() { u16::MAX } else { port(b)? };
                    if start > end {
                        return Err(SpecError::Reversed { start, end });
                    }
                    (start, end)
                }
            };
            ranges.push(range);
        }
        Ok(PortSet::from_ranges(ranges))
    }

    /// The set covering `ranges` (inclusive; port 0 and reversed ranges
    /// are ignored), merged.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u16, u16)>) -> PortSet {
        let mut v: Vec<(u16, u16)> =
            ranges.into_iter().map(|(a, b)| (a.max(1), b)).filter(|&(a, b)| a <= b).collect();
        v.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        PortSet { ranges: merged }
    }

    /// How many ports.
    pub fn len(&self) -> usize {
        self.ranges.iter().map(|&(a, b)| usize::from(b - a) + 1).sum()
    }

    /// Whether there is no port at all (only [`PortSet::from_ranges`] can
    /// make one: a parsed SPEC always names a port).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        let i = self.ranges.partition_point(|&(_, b)| b < port);
        self.ranges.get(i).is_some_and(|&(a, _)| a <= port)
    }

    /// The ranges, ascending, disjoint and non-adjacent.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// Every port, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ranges.iter().flat_map(|&(a, b)| a..=b)
    }
}

/// One number of a SPEC: ASCII digits, 1 to 65535.
fn port(text: &str) -> Result<u16, SpecError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecError::NotANumber(text.to_string()));
    }
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(SpecError::OutOfRange(text.to_string())),
    }
}

impl FromStr for PortSet {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<PortSet, SpecError> {
        PortSet::parse(spec)
    }
}

impl fmt::Display for PortSet {
    /// The canonical SPEC: `1-1024,8080` (parses back to the same set).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// What one connection attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The connection was accepted: something listens there.
    Open,
    /// Refused (a TCP reset): the host answered, nothing listens.
    Refused,
    /// No answer before the timeout (or the host or network was
    /// unreachable): a firewall drops the packets, or the host is away.
    Filtered,
    /// Anything else (out of descriptors or local ports, ...).
    Error,
}

impl Outcome {
    /// The outcome of a connection that completed between `local` and
    /// `peer`: [`Outcome::Open`], except for a TCP self-connect.
    ///
    /// Connecting to a port in the local ephemeral range on the same host
    /// can pick that very port as the source; the SYN then meets itself
    /// (simultaneous open) and "connects" with nobody listening. Such a
    /// connection is a closed port, so it counts as [`Outcome::Refused`].
    ///
    /// ```
    /// use sansnet_proto::scan::Outcome;
    ///
    /// let a = "127.0.0.1:40000".parse().unwrap();
    /// let b = "127.0.0.1:22".parse().unwrap();
    /// assert_eq!(Outcome::connected(a, b), Outcome::Open);
    /// assert_eq!(Outcome::connected(a, a), Outcome::Refused);
    /// ```
    pub fn connected(local: SocketAddr, peer: SocketAddr) -> Outcome {
        if local == peer { Outcome::Refused } else { Outcome::Open }
    }
}

/// What a scan found of one port (`sansnet scan --all`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortState {
    /// Something accepted the connection.
    Open,
    /// The host refused it: nothing listens.
    Closed,
    /// No answer in time, the host or network unreachable, or the probe
    /// failed here ([`Outcome::Error`]): nothing is known.
    Filtered,
}

impl PortState {
    /// `open`, `closed` or `filtered`.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller used a [`Scan`] out of turn: a bug in the caller, not in the
/// network. Every protocol of the crate names this kind of error `Misuse`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// An outcome recorded for a port that [`Scan::next_port`] did not hand
    /// out, or recorded twice.
    #[error("port {0} is not awaiting an outcome")]
    NotPending(u16),
}

/// The counts of a scan so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Summary {
    /// Ports in the scan.
    pub ports: usize,
    /// Accepted connections.
    pub open: usize,
    /// Refused connections (closed ports).
    pub refused: usize,
    /// Timed out or unreachable.
    pub filtered: usize,
    /// Other errors.
    pub errors: usize,
}

impl Summary {
    /// Ports with an outcome.
    pub fn scanned(&self) -> usize {
        self.open + self.refused + self.filtered + self.errors
    }
}

impl fmt::Display for Summary {
    /// `1024 ports: 3 open, 1021 refused, 0 filtered, 0 errors`, and
    /// `(N not scanned)` when the scan stopped early.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ports: {} open, {} refused, {} filtered, {} errors",
            self.ports, self.open, self.refused, self.filtered, self.errors
        )?;
        let left = self.ports.saturating_sub(self.scanned());
        if left > 0 {
            write!(f, " ({left} not scanned)")?;
        }
        Ok(())
    }
}

/// 65536 bits, one per port number.
#[derive(Clone, Debug)]
struct Bits(Vec<u64>);

impl Bits {
    fn new() -> Bits {
        Bits(vec![0; 1024])
    }
    fn get(&self, port: u16) -> bool {
        self.0[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }
    fn set(&mut self, port: u16, on: bool) {
        let word = &mut self.0[usize::from(port >> 6)];
        if on {
            *word |= 1 << (port & 63);
        } else {
            *word &= !(1 << (port & 63));
        }
    }
    /// Set bits, ascending.
    fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &word)| {
            let mut w = word;
            core::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros();
                w &= w - 1;
                // i < 1024 and bit < 64, so the port fits in a u16.
                Some((i as u16) << 6 | bit as u16)
            })
        })
    }
}

/// A scan in progress: hands out each port of a [`PortSet`] once, in
/// ascending order, and keeps the outcomes. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Scan {
    ports: PortSet,
    /// Index of the range the next port comes from, and that port.
    range: usize,
    next: u32,
    handed_out: usize,
    pending: Bits,
    open: Bits,
    closed: Bits,
    /// Ports with an outcome.
    recorded: Bits,
    summary: Summary,
}

impl Scan {
    /// A scan of `ports`, none tried yet.
    pub fn new(ports: PortSet) -> Scan {
        let next = ports.ranges.first().map_or(0, |&(a, _)| u32::from(a));
        let summary = Summary { ports: ports.len(), ..Summary::default() };
        Scan {
            ports,
            range: 0,
            next,
            handed_out: 0,
            pending: Bits::new(),
            open: Bits::new(),
            closed: Bits::new(),
            recorded: Bits::new(),
            summary,
        }
    }

    /// The ports this scan covers.
    pub fn ports(&self) -> &PortSet {
        &self.ports
    }

    /// The next port to try, or `None` once every port was handed out. The
    /// port awaits its outcome ([`Scan::record`]) from then on.
    #[must_use]
    pub fn next_port(&mut self) -> Option<u16> {
        let &(_, end) = self.ports.ranges.get(self.range)?;
        // `next` lies within the current range, so it fits in a u16.
        let port = self.next as u16;
        if port == end {
            self.range += 1;
            self.next = self.ports.ranges.get(self.range).map_or(0, |&(a, _)| u32::from(a));
        } else {
            self.next += 1;
        }
        self.handed_out += 1;
        self.pending.set(port, true);
        Some(port)
    }

    /// Records what trying `port` found. Outcomes may arrive in any order.
    pub fn record(&mut self, port: u16, outcome: Outcome) -> Result<(), Misuse> {
        if !self.pending.get(port) {
            return Err(Misuse::NotPending(port));
        }
        self.pending.set(port, false);
        self.recorded.set(port, true);
        let s = &mut self.summary;
        match outcome {
            Outcome::Open => {
                self.open.set(port, true);
                s.open += 1;
            }
            Outcome::Refused => {
                self.closed.set(port, true);
                s.refused += 1;
            }
            Outcome::Filtered => s.filtered += 1,
            Outcome::Error => s.errors += 1,
        }
        Ok(())
    }

    /// Ports not handed out yet.
    pub fn remaining(&self) -> usize {
        self.summary.ports - self.handed_out
    }

    /// Ports handed out and still awaiting their outcome.
    pub fn in_flight(&self) -> usize {
        self.handed_out - self.summary.scanned()
    }

    /// Every port was handed out and has its outcome.
    pub fn is_done(&self) -> bool {
        self.summary.scanned() == self.summary.ports
    }

    /// The open ports found so far, ascending.
    pub fn open_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.open.iter()
    }

    /// Every port with an outcome so far, ascending, with what was found.
    pub fn states(&self) -> impl Iterator<Item = (u16, PortState)> + '_ {
        self.recorded.iter().map(|port| {
            let state = if self.open.get(port) {
                PortState::Open
            } else if self.closed.get(port) {
                PortState::Closed
            } else {
                PortState::Filtered
            };
            (port, state)
        })
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(spec: &str) -> Vec<(u16, u16)> {
        PortSet::parse(spec).unwrap().ranges().to_vec()
    }

    #[test]
    fn specs() {
        assert_eq!(set("1-1024,8080"), [(1, 1024), (8080, 8080)]);
        assert_eq!(set("80"), [(80, 80)]);
        assert_eq!(set(" 22 , 80-81 "), [(22, 22), (80, 81)]);
        assert_eq!(set("5-5"), [(5, 5)]);
        assert_eq!(set("-"), [(1, 65535)]);
        assert_eq!(set("-100"), [(1, 100)]);
        assert_eq!(set("65000-"), [(65000, 65535)]);
        assert_eq!(set("3,1,2"), [(1, 3)]);
        assert_eq!(set("10-20,15-30,31,1"), [(1, 1), (10, 31)]);
        assert_eq!(set("1-65535"), [(1, 65535)]);
        assert_eq!(PortSet::parse("1-65535").unwrap().len(), 65535);
        assert_eq!(PortSet::default().to_string(), PortSet::DEFAULT_SPEC);
        assert_eq!(PortSet::all().len(), 65535);
    }

    #[test]
    fn spec_errors() {
        use SpecError::*;
        let err = |s: &str| PortSet::parse(s).unwrap_err();
        assert_eq!(err(""), Empty);
        assert_eq!(err("  "), Empty);
        assert_eq!(err("1,,2"), EmptyItem("1,,2".into()));
        assert_eq!(err("1,"), EmptyItem("1,".into()));
        assert_eq!(err(",1"), EmptyItem(",1".into()));
        assert_eq!(err("http"), NotANumber("http".into()));
        assert_eq!(err("+5"), NotANumber("+5".into()));
        assert_eq!(err("1-2-3"), NotANumber("2-3".into()));
        assert_eq!(err("1.5"), NotANumber("1.5".into()));
        assert_eq!(err("0"), OutOfRange("0".into()));
        assert_eq!(err("0-10"), OutOfRange("0".into()));
        assert_eq!(err("65536"), OutOfRange("65536".into()));
        assert_eq!(err("99999999999999999999"), OutOfRange("99999999999999999999".into()));
        assert_eq!(err("10-5"), Reversed { start: 10, end: 5 });
        assert_eq!(err("10-5").to_string(), "port range 10-5 runs backwards");
        assert_eq!(err("70000").to_string(), "port 70000 is out of range (1-65535)");
    }

    #[test]
    fn contains_and_iter() {
        let s = PortSet::parse("1-3,10,65535").unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [1, 2, 3, 10, 65535]);
        for p in [1, 2, 3, 10, 65535] {
            assert!(s.contains(p));
        }
        for p in [0, 4, 9, 11, 65534] {
            assert!(!s.contains(p));
        }
        assert!(PortSet::from_ranges([(0, 0), (5, 4)]).is_empty());
    }

    #[test]
    fn hands_out_every_port_once_in_order() {
        let mut scan = Scan::new("65534-,1,3-4".parse().unwrap());
        let mut got = Vec::new();
        while let Some(p) = scan.next_port() {
            got.push(p);
        }
        assert_eq!(got, [1, 3, 4, 65534, 65535]);
        assert_eq!(scan.next_port(), None);
        assert_eq!((scan.remaining(), scan.in_flight()), (0, 5));
        assert!(!scan.is_done());
    }

    #[test]
    fn records_out_of_order_and_rejects_misuse() {
        let mut scan = Scan::new("1-5".parse().unwrap());
        let ports: Vec<u16> = core::iter::from_fn(|| scan.next_port()).collect();
        assert_eq!(scan.record(9, Outcome::Open), Err(Misuse::NotPending(9)));
        for (&p, o) in ports.iter().rev().zip([
            Outcome::Open,
            Outcome::Filtered,
            Outcome::Open,
            Outcome::Refused,
            Outcome::Error,
        ]) {
            scan.record(p, o).unwrap();
        }
        assert_eq!(scan.record(5, Outcome::Open), Err(Misuse::NotPending(5)), "recorded twice");
        assert!(scan.is_done());
        assert_eq!(scan.open_ports().collect::<Vec<_>>(), [3, 5]);
        let s = scan.summary();
        assert_eq!((s.ports, s.open, s.refused, s.filtered, s.errors), (5, 2, 1, 1, 1));
    }

    #[test]
    fn an_early_stop_shows_in_the_summary() {
        let mut scan = Scan::new("1-10".parse().unwrap());
        let p = scan.next_port().unwrap();
        scan.record(p, Outcome::Refused).unwrap();
        assert_eq!(
            scan.summary().to_string(),
            "10 ports: 0 open, 1 refused, 0 filtered, 0 errors (9 not scanned)"
        );
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Open),
            Just(Outcome::Refused),
            Just(Outcome::Filtered),
            Just(Outcome::Error)
        ]
    }

    fn ranges() -> impl Strategy<Value = Vec<(u16, u16)>> {
        prop::collection::vec((1u16.., 0u16..300), 1..12)
            .prop_map(|v| v.into_iter().map(|(a, len)| (a, a.saturating_add(len))).collect())
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = PortSet::parse(&s);
        }

        #[test]
        fn spec_like_text_never_panics(s in "[-0-9, ]{0,30}") {
            if let Ok(set) = PortSet::parse(&s) {
                prop_assert!(!set.is_empty());
            }
        }

        #[test]
        fn display_parses_back(r in ranges()) {
            let set = PortSet::from_ranges(r);
            prop_assert_eq!(PortSet::parse(&set.to_string()).unwrap(), set);
        }

        #[test]
        fn parse_matches_a_naive_union(r in ranges(), probe in prop::collection::vec(any::<u16>(), 20)) {
            let spec: Vec<String> = r.iter().map(|(a, b)| alloc::format!("{a}-{b}")).collect();
            let set = PortSet::parse(&spec.join(",")).unwrap();
            let naive = |p: u16| r.iter().any(|&(a, b)| a <= p && p <= b);
            for p in probe.into_iter().chain(r.iter().flat_map(|&(a, b)| [a, b, a - 1, b.saturating_add(1)])) {
                prop_assert_eq!(set.contains(p), naive(p), "port {}", p);
            }
            prop_assert_eq!(set.len(), set.iter().count());
            let w = set.ranges().windows(2).all(|w| u32::from(w[0].1) + 1 < u32::from(w[1].0));
            prop_assert!(w, "ranges sorted, disjoint, not adjacent: {:?}", set.ranges());
        }

        #[test]
        fn any_order_of_outcomes_gives_the_same_result(
            r in ranges(),
            seed in prop::collection::vec((any::<prop::sample::Index>(), outcome()), 1..400),
            window in 1usize..64,
        ) {
            let set = PortSet::from_ranges(r);
            let mut scan = Scan::new(set.clone());
            let mut in_flight: Vec<u16> = Vec::new();
            let mut expected: Vec<(u16, Outcome)> = Vec::new();
            let mut step = 0;
            // Keep up to `window` ports in flight, finishing them in a
            // pseudo-random order.
            loop {
                while in_flight.len() < window {
                    match scan.next_port() {
                        Some(p) => in_flight.push(p),
                        None => break,
                    }
                }
                if in_flight.is_empty() {
                    break;
                }
                let (idx, o) = &seed[step % seed.len()];
                step += 1;
                let p = in_flight.swap_remove(idx.index(in_flight.len()));
                scan.record(p, *o).unwrap();
                expected.push((p, *o));
                prop_assert_eq!(scan.in_flight(), in_flight.len());
            }
            prop_assert!(scan.is_done());
            let mut seen: Vec<u16> = expected.iter().map(|&(p, _)| p).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, set.iter().collect::<Vec<_>>(), "every port once");
            let mut open: Vec<u16> =
                expected.iter().filter(|(_, o)| *o == Outcome::Open).map(|&(p, _)| p).collect();
            open.sort_unstable();
            prop_assert_eq!(scan.open_ports().collect::<Vec<_>>(), open);
            let mut states: Vec<(u16, PortState)> = expected
                .iter()
                .map(|&(p, o)| {
                    let state = match o {
                        Outcome::Open => PortState::Open,
                        Outcome::Refused => PortState::Closed,
                        Outcome::Filtered | Outcome::Error => PortState::Filtered,
                    };
                    (p, state)
                })
                .collect();
            states.sort_unstable_by_key(|&(p, _)| p);
            prop_assert_eq!(scan.states().collect::<Vec<_>>(), states);
            let count = |k: Outcome| expected.iter().filter(|(_, o)| *o == k).count();
            let s = scan.summary();
            prop_assert_eq!(
                (s.open, s.refused, s.filtered, s.errors),
                (count(Outcome::Open), count(Outcome::Refused), count(Outcome::Filtered), count(Outcome::Error))
            );
            prop_assert_eq!(s.ports, set.len());
        }
    }
}
