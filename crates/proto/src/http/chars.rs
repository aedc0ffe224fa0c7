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

/// Whether a field value may not hold `c`: a control character other
/// than HTAB, or DEL (RFC 9110 §5.5).
#[inline(always)]
fn value_bad(c: u8) -> bool {
    ((c < 0x20) & (c != b'\t')) | (c == 0x7f)
}

/// Whether a request-target may not hold `c`: outside visible ASCII
/// (0x21..=0x7E).
#[inline(always)]
fn target_bad(c: u8) -> bool {
    c.wrapping_sub(0x21) > 0x7e - 0x21
}

/// The bytes of `chunk[at..at + W]` for which `bad` holds: 0xFF where
/// it does, 0 where not. No branch per byte, so the compiler emits SIMD
/// compares (SSE2 on any x86-64).
#[inline(always)]
fn flags<const N: usize, const W: usize>(
    chunk: &[u8; N],
    at: usize,
    bad: impl Fn(u8) -> bool,
) -> [u8; W] {
    let mut m = [0u8; W];
    for k in 0..W {
        m[k] = u8::from(bad(chunk[at + k])).wrapping_neg();
    }
    m
}

/// Whether any byte of `m` is flagged (a SIMD reduction, no branch).
#[inline(always)]
fn flagged<const W: usize>(m: &[u8; W]) -> bool {
    m.iter().fold(0, |a, &x| a | x) != 0
}

/// Where the first byte of `chunk` is for which `bad_word` flags one
/// (there is one): by SWAR on its two words.
#[inline(always)]
fn at(chunk: &[u8; 16], bad_word: impl Fn(u64) -> u64) -> usize {
    let (lo, hi) = (u64::from_le_bytes(chunk_of(chunk, 0)), u64::from_le_bytes(chunk_of(chunk, 8)));
    let lo = bad_word(lo);
    if lo != 0 {
        (lo.trailing_zeros() / 8) as usize
    } else {
        8 + (bad_word(hi).trailing_zeros() / 8) as usize
    }
}

/// The eight bytes of `c` at `i` (0 or 8).
#[inline(always)]
fn chunk_of(c: &[u8; 16], i: usize) -> [u8; 8] {
    let mut w = [0; 8];
    w.copy_from_slice(&c[i..i + 8]);
    w
}

/// Index of the first byte at or after `from` for which `bad` holds, or
/// `b.len()`. 16 bytes first (most values and targets end within them),
/// then 32 bytes a step while 32 remain, each step SIMD compares and one
/// test, with no branch per byte; then 16 bytes. Where in the step that
/// holds the byte is found again by SWAR on its words (`bad_word` flags
/// the high bit of each byte for which `bad` holds): the index is then a
/// `trailing_zeros` of a word, with no move out of a SIMD register. Under
/// 16 bytes left, the last 16 of `b` (overlapping what was checked); byte
/// by byte only in a buffer shorter than 16.
#[inline(always)]
fn find(
    b: &[u8],
    from: usize,
    bad: impl Fn(u8) -> bool + Copy,
    bad_word: impl Fn(u64) -> u64 + Copy,
) -> usize {
    let mut i = from;
    if let Some(Some(chunk)) = b.get(i..).map(<[u8]>::first_chunk::<16>) {
        if flagged(&flags::<16, 16>(chunk, 0, bad)) {
            return i + at(chunk, bad_word);
        }
        i += 16;
    }
    while let Some(Some(chunk)) = b.get(i..).map(<[u8]>::first_chunk::<32>) {
        let (lo, hi) = (flags::<32, 16>(chunk, 0, bad), flags::<32, 16>(chunk, 16, bad));
        let mut both = lo;
        for (x, y) in both.iter_mut().zip(hi) {
            *x |= y;
        }
        if flagged(&both) {
            return i + match (chunk.first_chunk::<16>(), chunk.last_chunk::<16>()) {
                (Some(a), _) if flagged(&lo) => at(a, bad_word),
                (_, Some(z)) => 16 + at(z, bad_word),
                _ => 0,
            };
        }
        i += 32;
    }
    if let Some(Some(chunk)) = b.get(i..).map(<[u8]>::first_chunk::<16>) {
        if flagged(&flags::<16, 16>(chunk, 0, bad)) {
            return i + at(chunk, bad_word);
        }
        i += 16;
    }
    // Under 16 bytes left, more than a few (a trickle brings a few): the
    // last 16 of `b`, those before `i` shifted out.
    if let Some(Some(last)) = b.len().checked_sub(16).map(|at| b[at..].first_chunk::<16>())
        && i + 4 < b.len()
    {
        let skip = i - (b.len() - 16);
        let m = u128::from_le_bytes(flags(last, 0, bad)) >> (8 * skip);
        return if m == 0 { b.len() } else { i + (m.trailing_zeros() / 8) as usize };
    }
    while let Some(&c) = b.get(i) {
        if bad(c) {
            return i;
        }
        i += 1;
    }
    i
}

/// [`find`] after one word (SWAR: `bad_word` flags the high bit of each
/// byte for which `bad` holds), where most targets end: the index is then
/// one `trailing_zeros` away. Under eight bytes left (a trickle), byte by
/// byte.
#[inline(always)]
fn find_word_first(
    b: &[u8],
    from: usize,
    bad: impl Fn(u8) -> bool + Copy,
    bad_word: impl Fn(u64) -> u64 + Copy,
) -> usize {
    let Some(w) = b.get(from..).and_then(<[u8]>::first_chunk::<8>) else {
        let rest = b.get(from..).unwrap_or_default();
        return rest.iter().position(|&c| bad(c)).map_or(b.len(), |k| from + k);
    };
    let m = bad_word(u64::from_le_bytes(*w));
    if m != 0 {
        return from + (m.trailing_zeros() / 8) as usize;
    }
    find(b, from + 8, bad, bad_word)
}

/// [`value_bad`] for the eight bytes of `x` at once: the high bit of each
/// byte set where it holds. Exact per byte (no sum carries into the next
/// byte: each is taken below 0x80 first).
#[inline(always)]
fn value_bad_word(x: u64) -> u64 {
    let t = x & (LO * 0x7f);
    // High bit clear where t < 0x20; set where t != HTAB; set where t is DEL.
    let ctl = t.wrapping_add(LO * 0x60);
    let not_tab = (t ^ (LO * u64::from(b'\t'))).wrapping_add(LO * 0x7f);
    let del = t.wrapping_add(LO);
    ((!ctl & not_tab) | del) & !x & HI
}

/// [`target_bad`] for the eight bytes of `x` at once, as
/// [`value_bad_word`].
#[inline(always)]
fn target_bad_word(x: u64) -> u64 {
    let t = x & (LO * 0x7f);
    // High bit clear where t < 0x21; set where t is DEL.
    let low = t.wrapping_add(LO * 0x5f);
    let del = t.wrapping_add(LO);
    (x | !low | del) & HI
}

/// Index of the first byte at or after `from` that a field value may not
/// hold (a control character other than HTAB, or DEL), or `b.len()`.
/// Always inlined: it is the inner loop of the field scanner's hot path.
#[inline(always)]
pub(crate) fn scan_value(b: &[u8], from: usize) -> usize {
    find(b, from, value_bad, value_bad_word)
}

/// Index of the first byte at or after `from` outside visible ASCII
/// (0x21..=0x7E), or `b.len()`.
#[inline]
pub(crate) fn scan_target(b: &[u8], from: usize) -> usize {
    find_word_first(b, from, target_bad, target_bad_word)
}

/// Index of the first non-`tchar` byte at or after `from`, or `b.len()`.
/// Letters and `-`, most of a field name, go eight a step (SWAR); from
/// the first other byte on (mostly the colon), a table lookup a byte
/// (`tchar` is no range a few compares could test).
#[inline(always)]
pub(crate) fn scan_token(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(Some(w)) = b.get(i..).map(<[u8]>::first_chunk::<8>) {
        let x = u64::from_le_bytes(*w);
        if x & HI != 0 {
            break;
        }
        // ORed with 0x20, only letters land in a..=z.
        let ok = within(x | (LO * 0x20), b'a', b'z') | within(x, b'-', b'-');
        let m = !ok & HI;
        if m != 0 {
            i += (m.trailing_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    // Mostly the colon after a field name: no `tchar`.
    if b.get(i) == Some(&b':') {
        return i;
    }
    b[i..].iter().position(|&c| !is_token(c)).map_or(b.len(), |k| i + k)
}

const LO: u64 = u64::from_le_bytes([1; 8]);
const HI: u64 = LO << 7;

/// The high bit of each byte of `x` that is in `lo..=hi`, when every byte
/// of `x` is below 0x80: the sums then stay within each byte, so the
/// flags are exact.
#[inline(always)]
fn within(x: u64, lo: u8, hi: u8) -> u64 {
    x.wrapping_add(LO * u64::from(0x80 - lo)) & !x.wrapping_add(LO * u64::from(0x7f - hi)) & HI
}

/// `Host = uri-host [ ":" port ]` (RFC 9112 §3.2): reg-name characters,
/// percent-encoding, or an IP-literal in brackets, then an optional port.
/// An empty value is allowed (RFC 9112 §3.2).
///
/// The common case, a reg-name without a port, is one table lookup a byte
/// with no branch (every byte a reg-name byte or a colon, and whether any
/// was a colon), inlined; a port or an IP-literal is looked at out of line.
#[inline]
pub(crate) fn host_ok(v: &[u8]) -> bool {
    if v.first() == Some(&b'[') {
        return ip_literal_ok(v);
    }
    let (mut all, mut any) = (HOST_BYTE, 0);
    for &c in v {
        all &= HOST[c as usize];
        any |= HOST[c as usize];
    }
    all != 0 && (any & COLON == 0 || port_ok(v))
}

/// Whether the `len` bytes of `b` at `at`, 32 or fewer, are lowercase
/// letters, digits, `-` and `.` alone (most hosts are), by 16-byte SIMD
/// steps: under 16 bytes, one that may look past them within `b` (the
/// bytes past `len` masked off); else the first 16 and the last 16.
/// `false` says nothing.
#[inline(always)]
fn plain_host_at(b: &[u8], at: usize, len: usize) -> bool {
    let chunk = |i: usize| b.get(i..).and_then(<[u8]>::first_chunk::<16>);
    // 0xFF for each byte of `c` that is not plain.
    let not_plain = |c: &[u8; 16]| {
        flags::<16, 16>(c, 0, |c| {
            !(c.is_ascii_lowercase() | (c.wrapping_sub(b'-') <= b'9' - b'-') & (c != b'/'))
        })
    };
    let m = match len {
        0..16 => {
            // 0xFF for the first `len` bytes, 0 after.
            let (Some(c), Some(keep)) = (chunk(at), KEEP[16 - len..].first_chunk::<16>()) else {
                return false;
            };
            let mut m = not_plain(c);
            for (x, k) in m.iter_mut().zip(keep) {
                *x &= k;
            }
            m
        }
        16..=32 => {
            let (Some(a), Some(z)) = (chunk(at), chunk(at + len - 16)) else { return false };
            let mut m = not_plain(a);
            for (x, y) in m.iter_mut().zip(not_plain(z)) {
                *x |= y;
            }
            m
        }
        _ => return false,
    };
    !flagged(&m)
}

/// [`host_ok`] for the Host field's value, the `len` bytes of `b` at `at`:
/// its common shapes, a plain name with or without a port, by the SIMD
/// steps below; anything else by the general check.
#[inline(always)]
pub(crate) fn host_ok_at(b: &[u8], at: usize, len: usize) -> bool {
    plain_host_at(b, at, len)
        || plain_host_port_at(b, at, len)
        || b.get(at..at + len).is_some_and(host_ok)
}

/// [`plain_host_at`] with a port: a plain name, a colon and digits, as
/// load generators and browsers on a local port send (`127.0.0.1:8080`,
/// `localhost:3000`). `false` says nothing.
#[inline(always)]
fn plain_host_port_at(b: &[u8], at: usize, len: usize) -> bool {
    let Some(v) = b.get(at..at + len) else { return false };
    let digits = v.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let Some(colon) = len.checked_sub(digits + 1) else { return false };
    digits > 0 && v[colon] == b':' && plain_host_at(b, at, colon)
}

/// 16 bytes 0xFF, then 16 bytes 0: from `16 - n` on, a mask of the first
/// `n` bytes of 16.
static KEEP: [u8; 32] = {
    let mut t = [0u8; 32];
    let mut i = 0;
    while i < 16 {
        t[i] = 0xff;
        i += 1;
    }
    t
};

/// A reg-name (checked) with a colon: the bytes after the first colon are
/// a port (a second colon fails it).
#[inline(never)]
fn port_ok(v: &[u8]) -> bool {
    let c = v.iter().position(|&c| c == b':').unwrap_or(v.len());
    v.get(c + 1..).unwrap_or_default().iter().all(u8::is_ascii_digit)
}

/// `[` IPv6address or IPvFuture `]` (hex digits, colons and dots), then
/// an optional `:` port.
#[inline(never)]
fn ip_literal_ok(v: &[u8]) -> bool {
    let Some(close) = v.iter().position(|&b| b == b']') else { return false };
    let lit = &v[1..close];
    if lit.is_empty() || !lit.iter().all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.')) {
        return false;
    }
    match &v[close + 1..] {
        [] => true,
        [b':', port @ ..] => port.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    /// Bytes as a scanner meets them: long clean runs (so the 32-, 16- and
    /// 8-byte steps are taken), and every kind of byte that stops one:
    /// NUL, lone CR, LF, HTAB, SP (obs-fold), DEL, bytes >= 0x80,
    /// delimiters, any byte at all.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        let special = prop::sample::select(
            &[
                0u8, b'\r', b'\n', b'\t', b' ', 0x7f, 0x80, 0xff, b':', b'"', b'(', b'/', b'@',
                b'[', b']', b'{', b'}', b',', b'%', b'.', b'-',
            ][..],
        );
        let byte = prop_oneof![12 => b'a'..=b'z', 2 => b'0'..=b'9', 2 => special, 1 => any::<u8>()];
        prop::collection::vec(byte, 0..120)
    }

    /// Host bytes, mostly those of a plain name.
    fn mostly_plain(max: usize) -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![20 => prop::sample::select(&b"abcxyz0189-."[..]), 1 => any::<u8>()];
        prop::collection::vec(byte, 0..max)
    }

    /// Lowercase letters, digits, `-` and `.` alone: what the plain-host
    /// steps take.
    fn plain(v: &[u8]) -> bool {
        v.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
    }

    /// The byte-at-a-time definition every scanner must agree with.
    fn first_bytewise(b: &[u8], from: usize, bad: impl Fn(u8) -> bool) -> usize {
        (from..b.len()).find(|&i| bad(b[i])).unwrap_or(b.len())
    }

    /// `host_ok` as it was written byte by byte (RFC 3986 reg-name or an
    /// IP-literal, an optional port): the definition of the fast one.
    fn host_ok_bytewise(v: &[u8]) -> bool {
        let reg = |c: u8| c.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&c);
        let (host, port) = if v.first() == Some(&b'[') {
            let Some(close) = v.iter().position(|&b| b == b']') else { return false };
            let lit = &v[1..close];
            if lit.is_empty()
                || !lit.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return false;
            }
            match &v[close + 1..] {
                [] => return true,
                [b':', port @ ..] => (&[][..], port),
                _ => return false,
            }
        } else {
            match v.iter().filter(|&&c| c == b':').count() {
                0 => (v, &[][..]),
                1 => {
                    let c = v.iter().position(|&c| c == b':').unwrap();
                    (&v[..c], &v[c + 1..])
                }
                _ => return false,
            }
        };
        host.iter().all(|&c| reg(c)) && port.iter().all(u8::is_ascii_digit)
    }

    proptest! {
        #[test]
        fn scanners_agree_with_the_bytewise_definitions(b in bytes(), from in 0usize..130) {
            let from = from.min(b.len());
            let value_bad = |c: u8| (c < 0x20 && c != b'\t') || c == 0x7f;
            prop_assert_eq!(scan_value(&b, from), first_bytewise(&b, from, value_bad));
            prop_assert_eq!(scan_target(&b, from), first_bytewise(&b, from, |c| !(0x21..=0x7e).contains(&c)));
            prop_assert_eq!(scan_token(&b, from), first_bytewise(&b, from, |c| !TOKEN_CHARS[c as usize]));
            prop_assert_eq!(value_ok(&b[from..]), first_bytewise(&b, from, value_bad) == b.len());
        }

        #[test]
        fn host_ok_agrees_with_the_bytewise_definition(b in bytes()) {
            prop_assert_eq!(host_ok(&b), host_ok_bytewise(&b), "{:?}", b);
        }

        #[test]
        fn plain_host_at_is_plain_bytes_where_it_may_look(
            before in bytes(),
            host in mostly_plain(40),
            after in bytes(),
        ) {
            let b = [&before[..], &host, &after].concat();
            let (at, len) = (before.len(), host.len());
            let v = &b[at..at + len];
            // Under 16 bytes it looks at 16; up to 32, at the value alone.
            let may_look = len <= 32 && at + 16 <= b.len();
            prop_assert_eq!(plain_host_at(&b, at, len), plain(v) && may_look, "{:?}", v);
            if plain_host_at(&b, at, len) {
                prop_assert!(host_ok_bytewise(v));
            }
            prop_assert_eq!(host_ok_at(&b, at, len), host_ok_bytewise(v), "{:?}", v);
        }

        #[test]
        fn a_plain_host_with_a_port_is_taken_and_nothing_host_ok_refuses(
            before in bytes(),
            name in mostly_plain(36),
            port in prop::collection::vec(
                prop_oneof![20 => b'0'..=b'9', 1 => any::<u8>()], 0..8),
            colon in prop_oneof![8 => Just(b':'), 1 => any::<u8>()],
            after in bytes(),
        ) {
            let host = [&name[..], &[colon], &port].concat();
            let b = [&before[..], &host, &after].concat();
            let (at, len) = (before.len(), host.len());
            let v = &b[at..at + len];
            let fast = plain_host_port_at(&b, at, len);
            if fast {
                prop_assert!(host_ok_bytewise(v), "{:?}", v);
            }
            let digits = !port.is_empty() && port.iter().all(u8::is_ascii_digit);
            let may_look = name.len() <= 32 && at + 16 <= b.len();
            if plain(&name) && digits && colon == b':' && may_look {
                prop_assert!(fast, "{:?}", v);
            }
            prop_assert_eq!(host_ok_at(&b, at, len), host_ok_bytewise(v), "{:?}", v);
        }
    }

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
