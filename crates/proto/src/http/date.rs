//! HTTP dates (RFC 9110 §5.6.7) as seconds since the Unix epoch: the
//! IMF-fixdate writer for `Date` and `Last-Modified`, and a parser for
//! `If-Modified-Since` that accepts all three formats a recipient must
//! accept. No clock here: the caller converts its own time to seconds.
//!
//! ```
//! use sansnet_proto::http::date;
//!
//! assert_eq!(&date::format(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
//! assert_eq!(date::parse(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
//! ```

/// An IMF-fixdate is always this long: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const LEN: usize = 29;

const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const DAYS_LONG: [&str; 7] =
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `secs` since the Unix epoch as an IMF-fixdate (clamped to the year 9999).
pub fn format(secs: u64) -> [u8; LEN] {
    // 9999-12-31T23:59:59Z
    let secs = secs.min(253_402_300_799);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(DAYS[weekday]);
    two(&mut out[5..7], d);
    out[8..11].copy_from_slice(MONTHS[m as usize - 1]);
    two(&mut out[12..14], (y / 100) as u32);
    two(&mut out[14..16], (y % 100) as u32);
    two(&mut out[17..19], (rem / 3600) as u32);
    two(&mut out[20..22], (rem / 60 % 60) as u32);
    two(&mut out[23..25], (rem % 60) as u32);
    out
}

fn two(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Parses an HTTP date into seconds since the Unix epoch: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime (`Sun Nov  6 08:49:37 1994`).
/// `None` for anything else, including dates before 1970.
pub fn parse(value: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(value).ok()?.trim();
    let b = s.as_bytes();
    if b.len() < 4 {
        return None;
    }
    let (y, m, d, time) = if b[3] == b',' {
        // IMF-fixdate
        if b.len() != LEN || !DAYS.iter().any(|d| d[..] == b[..3]) || &b[25..] != b" GMT" {
            return None;
        }
        if b[4] != b' ' || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
            return None;
        }
        (digits(&b[12..16])?, month(&b[8..11])?, digits(&b[5..7])?, &b[17..25])
    } else if b[3] == b' ' {
        // asctime: `Sun Nov  6 08:49:37 1994`
        if b.len() != 24 || !DAYS.iter().any(|d| d[..] == b[..3]) {
            return None;
        }
        if b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
            return None;
        }
        let day = if b[8] == b' ' { digits(&b[9..10])? } else { digits(&b[8..10])? };
        (digits(&b[20..24])?, month(&b[4..7])?, day, &b[11..19])
    } else {
        // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`
        let (name, rest) = s.split_once(", ")?;
        if !DAYS_LONG.contains(&name) {
            return None;
        }
        let r = rest.as_bytes();
        if r.len() != 22 || r[2] != b'-' || r[6] != b'-' || r[9] != b' ' || &r[18..] != b" GMT" {
            return None;
        }
        let yy = digits(&r[7..9])?;
        // Two-digit years: 70-99 are 19xx, the rest 20xx (a date more than
        // 50 years ahead is read as the past century, RFC 9110 §5.6.7).
        let y = if yy >= 70 { 1900 + yy } else { 2000 + yy };
        (y, month(&r[3..6])?, digits(&r[0..2])?, &r[10..18])
    };
    if time.len() != 8 || time[2] != b':' || time[5] != b':' {
        return None;
    }
    let (hh, mm, ss) = (digits(&time[0..2])?, digits(&time[3..5])?, digits(&time[6..8])?);
    if hh > 23 || mm > 59 || ss > 60 || d == 0 || d > days_in_month(y, m) || y < 1970 {
        return None;
    }
    let days = days_from_civil(i64::from(y), m, d);
    u64::try_from(days * 86_400 + i64::from(hh * 3600 + mm * 60 + ss)).ok()
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0')))
}

fn month(b: &[u8]) -> Option<u32> {
    MONTHS.iter().position(|m| m[..] == *b).map(|i| i as u32 + 1)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01: (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn fmt(secs: u64) -> String {
        String::from_utf8(format(secs).to_vec()).expect("ascii")
    }

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fmt(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(fmt(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(fmt(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(fmt(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn parses_the_three_formats() {
        let want = Some(784_111_777);
        assert_eq!(parse(b"Sun, 06 Nov 1994 08:49:37 GMT"), want);
        assert_eq!(parse(b"Sunday, 06-Nov-94 08:49:37 GMT"), want);
        assert_eq!(parse(b"Sun Nov  6 08:49:37 1994"), want);
        assert_eq!(parse(b"  Sun, 06 Nov 1994 08:49:37 GMT "), want);
        assert_eq!(parse(b"Thursday, 01-Jan-15 00:00:00 GMT"), Some(1_420_070_400));
        assert_eq!(parse(b"Thu Jan 01 00:00:00 2015"), Some(1_420_070_400));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b""[..],
            b"yesterday",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Foo 1994 08:49:37 GMT",
            b"Sun, 31 Nov 1994 08:49:37 GMT",
            b"Sun, 29 Feb 1995 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Xyz, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 01 Jan 1960 00:00:00 GMT",
            b"Sun, 06 Nov 1994 08:49:37 GMTX",
            b"Funday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov 6 08:49:37 1994",
            b"\xff\xfe",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trips() {
        for secs in
            [0, 1, 59, 86_399, 86_400, 951_868_799, 1_234_567_890, 2_000_000_000, 253_402_300_799]
        {
            assert_eq!(parse(&format(secs)), Some(secs), "{secs}");
        }
        let mut secs = 0u64;
        while secs < 5_000_000_000 {
            assert_eq!(parse(&format(secs)), Some(secs));
            secs += 7_919_993;
        }
    }
}
