//! Byte classes of RFC 9110/9112, as tables and branch-free loops that the
//! compiler vectorises (the core has no `unsafe`, so no intrinsics).

/// A 256-entry table: ASCII letters and digits, plus the bytes of `extra`.
const fn alnum_and(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// `tchar` (RFC 9110 §5.6.2).
pub(crate) const TOKEN_CHARS: [bool; 256] = alnum_and(b"!#$%&'*+-.^_`|~");
static TOKEN: [bool; 256] = TOKEN_CHARS;

/// [`HOST`]: a byte allowed in a reg-name-and-port.
const HOST_BYTE: u8 = 1;
/// [`HOST`]: the byte is `:`.
const COLON: u8 = 2;

/// The bytes of a `uri-host [":" port]` outside brackets: [`HOST_BYTE`]
/// for reg-name bytes (RFC 3986 §3.2.2: unreserved, sub-delims, and `%`
/// of pct-encoded) and for `:`, which also has [`COLON`].
static HOST: [u8; 256] = {
    let names = alnum_and(b"-._~%!$&'()*+,;=");
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        if names[b] {
            t[b] = HOST_BYTE;
        }
        b += 1;
    }
    t[b':' as usize] = HOST_BYTE | COLON;
    t
};

/// Whether `b` is a `tchar`.
#[inline(always)]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Whether every byte of a field value is allowed: HTAB, SP, VCHAR and
/// obs-text; no other control character, no DEL (RFC 9110 §5.5).
#[inline]
pub(crate) fn value_ok(v: &[u8]) -> bool {
    scan_value(v, 0) == v.len()
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Eight bytes at `i` as a little-endian word, if there are eight.
#[inline(always)]
fn word(b: &[u8], i: usize) -> Option<u64> {
    let w: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

/// Flags (high bit of each byte) the bytes of `x` a field value may not
/// hold: `has_less(x, 0x20) | has_zero(x ^ 0x7f)`. Both tricks may flag
/// bytes above a true hit (borrows run upward) but never below one, so the
/// lowest flagged byte is exact. HTAB is flagged too; callers skip it.
#[inline(always)]
fn value_mask(x: u64) -> u64 {
    let ctl = x.wrapping_sub(LO * 0x20) & !x & HI;
    let y = x ^ (LO * 0x7f);
    ctl | (y.wrapping_sub(LO) & !y & HI)
}

/// Flags the bytes of `x` outside 0x21..=0x7E:
/// `has_less(x, 0x21) | has_more(x, 0x7e)`; the lowest flag is exact.
#[inline(always)]
fn target_mask(x: u64) -> u64 {
    (x.wrapping_sub(LO * 0x21) & !x & HI) | ((x.wrapping_add(LO) | x) & HI)
}

/// Skips whole 32-byte steps from `i` while `bad(c)` holds for no byte.
/// No early exit inside a step, so the compiler emits SIMD compares; the
/// step holding a bad byte is left to the caller's SWAR loop.
#[inline(always)]
fn skip_wide(b: &[u8], mut i: usize, bad: impl Fn(u8) -> bool) -> usize {
    while let Some(chunk) = b.get(i..i + 32) {
        let mut any = 0u8;
        for &c in chunk {
            any |= bad(c) as u8;
        }
        if any != 0 {
            break;
        }
        i += 32;
    }
    i
}

/// Index of the first byte at or after `from` that a field value may not
/// hold (a control character other than HTAB, or DEL), or `b.len()`.
///
/// 32 bytes a step first (values are often long: cookies, user agents),
/// then eight bytes a step (SWAR) to find the exact byte. Always inlined:
/// it is the inner loop of the field scanner's hot path.
#[inline(always)]
pub(crate) fn scan_value(b: &[u8], from: usize) -> usize {
    let mut i = skip_wide(b, from, |c| ((c < 0x20) & (c != b'\t')) | (c == 0x7f));
    while let Some(x) = word(b, i) {
        let m = value_mask(x);
        if m == 0 {
            i += 8;
            continue;
        }
        let j = i + (m.trailing_zeros() / 8) as usize;
        if b[j] != b'\t' {
            return j;
        }
        i = j + 1;
    }
    while let Some(&c) = b.get(i) {
        if (c < 0x20 && c != b'\t') || c == 0x7f {
            return i;
        }
        i += 1;
    }
    i
}

/// Index of the first byte at or after `from` outside visible ASCII
/// (0x21..=0x7E), or `b.len()`. Targets are often short (`/`), so eight
/// bytes a step first, and 32 a step once two words were clean.
#[inline]
pub(crate) fn scan_target(b: &[u8], from: usize) -> usize {
    let mut i = from;
    let mut clean = 0;
    while let Some(x) = word(b, i) {
        let m = target_mask(x);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
        clean += 1;
        if clean == 2 {
            i = skip_wide(b, i, |c| c.wrapping_sub(0x21) > 0x7e - 0x21);
        }
    }
    while let Some(&c) = b.get(i) {
        if !(0x21..=0x7e).contains(&c) {
            return i;
        }
        i += 1;
    }
    i
}

/// Index of the first non-`tchar` byte at or after `from`, or `b.len()`:
/// four table lookups a step with one branch (names and methods are
/// short, and `tchar` is no range a compare could test).
#[inline(always)]
pub(crate) fn scan_token(b: &[u8], from: usize) -> usize {
    b[from..].iter().position(|&c| !is_token(c)).map_or(b.len(), |k| from + k)
}

/// `Host = uri-host [ ":" port ]` (RFC 9112 §3.2): reg-name characters,
/// percent-encoding, or an IP-literal in brackets, then an optional port.
/// An empty value is allowed (RFC 9112 §3.2).
pub(crate) fn host_ok(v: &[u8]) -> bool {
    let (host, port) = if v.first() == Some(&b'[') {
        let Some(close) = v.iter().position(|&b| b == b']') else { return false };
        let lit = &v[1..close];
        if lit.is_empty() || !lit.iter().all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return false;
        }
        match &v[close + 1..] {
            [] => return true,
            [b':', port @ ..] => (&[][..], port),
            _ => return false,
        }
    } else {
        // One table lookup a byte, no branch: every byte a reg-name byte
        // or a colon, and whether any was a colon. The split at the colon
        // is only looked for when there is one.
        let (mut all, mut any) = (HOST_BYTE, 0);
        for &c in v {
            all &= HOST[c as usize];
            any |= HOST[c as usize];
        }
        if all == 0 {
            return false;
        }
        if any & COLON == 0 {
            return true;
        }
        let c = v.iter().position(|&c| c == b':').unwrap_or(v.len());
        let port = v.get(c + 1..).unwrap_or_default();
        if port.contains(&b':') {
            return false;
        }
        (&v[..c], port)
    };
    // (IP-literal hosts reach here with an empty `host`.)
    !host.contains(&b':') && port.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_table() {
        for b in 0..=255u8 {
            let expect = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_token(b), expect, "byte {b:#x}");
        }
    }

    #[test]
    fn value_bytes() {
        for b in 0..=255u8 {
            let expect = b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80;
            // both the SIMD body and the remainder path
            let long = [b; 40];
            assert_eq!(value_ok(&[b]), expect, "byte {b:#x}");
            assert_eq!(value_ok(&long), expect, "byte {b:#x} x40");
        }
    }

    #[test]
    fn target_bytes() {
        for b in 0..=255u8 {
            let expect = (0x21..=0x7e).contains(&b);
            assert_eq!(scan_target(&[b], 0) == 1, expect);
            assert_eq!(scan_target(&[b; 33], 0) == 33, expect);
        }
    }

    #[test]
    fn scanners_find_the_first_bad_byte() {
        for b in 0..=255u8 {
            for pos in [0usize, 3, 7, 8, 13, 20] {
                let mut v = [b'a'; 24];
                v[pos] = b;
                let value_bad = (b < 0x20 && b != b'\t') || b == 0x7f;
                assert_eq!(
                    scan_value(&v, 0),
                    if value_bad { pos } else { 24 },
                    "value {b:#x} at {pos}"
                );
                let target_bad = !(0x21..=0x7e).contains(&b);
                assert_eq!(
                    scan_target(&v, 0),
                    if target_bad { pos } else { 24 },
                    "target {b:#x} at {pos}"
                );
                // a later bad byte never hides an earlier one
                v[23] = 0;
                assert_eq!(scan_value(&v, 0), if value_bad { pos } else { 23 });
            }
        }
    }

    #[test]
    fn hosts() {
        for ok in ["", "example.com", "example.com:8080", "[::1]", "[::1]:80", "127.0.0.1:1", "a_b"]
        {
            assert!(host_ok(ok.as_bytes()), "{ok}");
        }
        for bad in ["local host", "a/b", "a@b", "[::1", "[zz]", "a:b", "[::1]x", "a?b"] {
            assert!(!host_ok(bad.as_bytes()), "{bad}");
        }
    }
}
