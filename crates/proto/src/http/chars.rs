//! Byte classes of RFC 9110/9112, as tables and branch-free loops that the
//! compiler vectorises (the core has no `unsafe`, so no intrinsics).

/// `tchar` (RFC 9110 §5.6.2) as a 256-entry table.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Whether `b` is a `tchar`.
#[inline(always)]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Whether every byte of a field value is allowed: HTAB, SP, VCHAR and
/// obs-text; no other control character, no DEL (RFC 9110 §5.5).
///
/// Written without early exit so that it compiles to SIMD compares.
#[inline]
pub(crate) fn value_ok(v: &[u8]) -> bool {
    let mut chunks = v.chunks_exact(32);
    for chunk in &mut chunks {
        let mut bad = false;
        for &b in chunk {
            bad |= (b < 0x20) & (b != b'\t') | (b == 0x7f);
        }
        if bad {
            return false;
        }
    }
    let mut bad = false;
    for &b in chunks.remainder() {
        bad |= (b < 0x20) & (b != b'\t') | (b == 0x7f);
    }
    !bad
}

/// Whether every byte of a request-target is visible ASCII (0x21..=0x7E).
#[inline]
pub(crate) fn target_ok(t: &[u8]) -> bool {
    let mut chunks = t.chunks_exact(32);
    for chunk in &mut chunks {
        let mut bad = false;
        for &b in chunk {
            bad |= b.wrapping_sub(0x21) > 0x7e - 0x21;
        }
        if bad {
            return false;
        }
    }
    let mut bad = false;
    for &b in chunks.remainder() {
        bad |= b.wrapping_sub(0x21) > 0x7e - 0x21;
    }
    !bad
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
        match v.iter().rposition(|&b| b == b':') {
            Some(c) => (&v[..c], &v[c + 1..]),
            None => (v, &[][..]),
        }
    };
    let host_chars = host.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    });
    host_chars && port.iter().all(u8::is_ascii_digit)
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
            assert_eq!(target_ok(&[b]), expect);
            assert_eq!(target_ok(&[b; 33]), expect);
        }
    }

    #[test]
    fn hosts() {
        for ok in ["", "example.com", "example.com:8080", "[::1]", "[::1]:80", "127.0.0.1:1", "a_b"] {
            assert!(host_ok(ok.as_bytes()), "{ok}");
        }
        for bad in ["local host", "a/b", "a@b", "[::1", "[zz]", "a:b", "[::1]x", "a?b"] {
            assert!(!host_ok(bad.as_bytes()), "{bad}");
        }
    }
}
