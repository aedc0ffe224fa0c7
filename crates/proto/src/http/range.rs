//! The `Range` request field (RFC 9110 §14.2), single byte ranges only.
//!
//! ```
//! use sansnet_proto::http::range::{self, Ranged};
//!
//! assert_eq!(range::parse(b"bytes=-3", 10), Ranged::Part { start: 7, end: 9 });
//! assert_eq!(range::parse(b"bytes=10-", 10), Ranged::Unsatisfiable);
//! ```

/// What a `Range` field asks of a representation of some size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranged {
    /// Send the whole representation (200): no usable `Range` (absent,
    /// another unit, a syntax error, which RFC 9110 says to ignore) or
    /// several ranges (sansnet does not write `multipart/byteranges`; a
    /// full 200 is a valid answer to any range request).
    Full,
    /// Send bytes `start..=end` (206).
    Part {
        /// First byte.
        start: u64,
        /// Last byte, inclusive (`end < size`).
        end: u64,
    },
    /// No byte of the representation is in the range (416).
    Unsatisfiable,
}

/// Reads a `Range` value (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against a
/// representation of `size` bytes.
pub fn parse(value: &[u8], size: u64) -> Ranged {
    let Ok(value) = core::str::from_utf8(value) else { return Ranged::Full };
    let Some((unit, set)) = value.trim().split_once('=') else { return Ranged::Full };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Full;
    }
    // Empty list elements are allowed (`bytes=0-1,`), and ignored.
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else { return Ranged::Full };
    let Some((first, last)) = spec.split_once('-') else { return Ranged::Full };
    match (number(first), number(last)) {
        // `-n`: the last n bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || size == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part { start: size - n.min(size), end: size - 1 }
            }
        }
        // `a-`: from a to the end.
        (Some(a), None) if last.is_empty() => {
            if a >= size {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part { start: a, end: size - 1 }
            }
        }
        // `a-b`
        (Some(a), Some(b)) if a <= b => {
            if a >= size {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part { start: a, end: b.min(size - 1) }
            }
        }
        _ => Ranged::Full,
    }
}

/// Decimal digits, saturating at `u64::MAX` (a position past any file is as
/// good as any other); `None` unless all digits and non-empty.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| n.saturating_mul(10).saturating_add(u64::from(b - b'0'))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ranged::{Full, Part, Unsatisfiable};

    fn p(v: &str, size: u64) -> Ranged {
        parse(v.as_bytes(), size)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(p("bytes=0-0", 10), Part { start: 0, end: 0 });
        assert_eq!(p("bytes=0-4", 10), Part { start: 0, end: 4 });
        assert_eq!(p("bytes=2-100", 10), Part { start: 2, end: 9 });
        assert_eq!(p("bytes=9-9", 10), Part { start: 9, end: 9 });
        assert_eq!(p("bytes=3-", 10), Part { start: 3, end: 9 });
        assert_eq!(p("bytes=-3", 10), Part { start: 7, end: 9 });
        assert_eq!(p("bytes=-30", 10), Part { start: 0, end: 9 });
        assert_eq!(p(" Bytes = 1-2 ", 10), Part { start: 1, end: 2 });
        assert_eq!(p("bytes=1-2,", 10), Part { start: 1, end: 2 });
        assert_eq!(p("bytes=0-99999999999999999999999", 10), Part { start: 0, end: 9 });
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(p("bytes=10-", 10), Unsatisfiable);
        assert_eq!(p("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(p("bytes=-0", 10), Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), Unsatisfiable);
        assert_eq!(p("bytes=-5", 0), Unsatisfiable);
        assert_eq!(p("bytes=99999999999999999999999-", 10), Unsatisfiable);
    }

    #[test]
    fn ignored_or_multiple_give_full() {
        for v in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes= 1 - 2",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=0-1, -2",
        ] {
            assert_eq!(p(v, 10), Full, "{v:?}");
        }
        assert_eq!(parse(b"bytes=\xff-1", 10), Full);
    }
}
