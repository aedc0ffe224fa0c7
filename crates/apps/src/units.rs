//! Sizes and durations as people type them on a command line or in a
//! configuration file: `64K`, `16MiB`, `0.5` (seconds). The `sansnet`
//! binary parses its flags with these; an embedder can offer the same
//! spellings.

use std::time::Duration;

/// A byte count: digits with an optional binary suffix `K`, `M` or `G`
/// (`KiB`, `KB` and lowercase spellings too): `65536`, `64K`, `16MiB`.
pub fn parse_size_u64(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = t.split_at(digits);
    if num.is_empty() {
        return Err(format!("{s:?} is not a size (digits with an optional K, M or G)"));
    }
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is too large"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("{s:?}: unknown size suffix (use K, M or G)")),
    };
    n.checked_mul(1 << shift).ok_or_else(|| format!("{s:?} is too large"))
}

/// [`parse_size_u64`] as a `usize`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    parse_size_u64(s).and_then(|n| usize::try_from(n).map_err(|_| format!("{s:?} is too large")))
}

/// A size of at least one byte.
pub fn parse_nonzero_size(s: &str) -> Result<usize, String> {
    match parse_size(s)? {
        0 => Err("the size must be at least one byte".into()),
        n => Ok(n),
    }
}

/// Seconds, possibly fractional: `10`, `0.5`.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a valid duration"))
}

/// Seconds, more than zero: a timeout.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_secs(s)? {
        d if d.is_zero() => Err("the timeout must be more than 0 seconds".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_seconds() {
        for (text, n) in [("65536", 65536), ("64K", 64 << 10), ("64kib", 64 << 10), ("1G", 1 << 30)]
        {
            assert_eq!(parse_size(text), Ok(n));
        }
        for bad in ["", "K", "12X", "-1", "99999999999999999999", "99999999999G"] {
            assert!(parse_size_u64(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("0.3"), Ok(Duration::from_millis(300)));
        assert!(parse_timeout("0").is_err());
        for bad in ["-1", "soon", "inf"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
