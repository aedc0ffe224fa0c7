//! From a request target to a path under a served root: strip the query,
//! percent-decode, normalise the segments, refuse every way out.
//!
//! This is the lexical half, with no file system: a file server then
//! resolves symlinks and checks the result is still under its root
//! (`sansnet-apps` does).
//!
//! ```
//! use sansnet_proto::http::path::{self, Refusal};
//!
//! let (raw, query) = path::split_target("/a/%2e%2e/b%20c?x=1");
//! assert_eq!(query, Some("x=1"));
//! let decoded = path::percent_decode(raw.as_bytes()).unwrap();
//! assert_eq!(path::normalise(&decoded), Ok(vec![&b"b c"[..]]));
//! assert_eq!(path::normalise(b"/../etc"), Err(Refusal::Escape));
//! ```

use alloc::vec::Vec;

/// Why a target names no file under the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A malformed percent-escape or a NUL: 400.
    Malformed,
    /// A way out of the root (`..` above it, a backslash): answered 404, as
    /// for a file that does not exist, so that nothing outside the root can
    /// be probed.
    Escape,
}

/// The path and query of a request target: `/a/b?q` gives (`/a/b`, `q`).
/// An absolute-form target (`http://host/a?q`) gives its path; a fragment
/// (never sent by clients) is dropped.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let target = match target.find("://") {
        Some(i) if !target.starts_with('/') => {
            let after = &target[i + 3..];
            after.find(['/', '?']).map_or("/", |j| &after[j..])
        }
        _ => target,
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

/// Decodes `%XX` escapes. A `%` not followed by two hex digits, or a NUL
/// (raw or decoded), is [`Refusal::Malformed`]. `+` stays `+` (it means a
/// space only in form data, not in paths).
pub fn percent_decode(s: &[u8]) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = match s[i] {
            b'%' => {
                let hi = s.get(i + 1).and_then(|&c| hex(c));
                let lo = s.get(i + 2).and_then(|&c| hex(c));
                let (Some(hi), Some(lo)) = (hi, lo) else { return Err(Refusal::Malformed) };
                i += 3;
                hi << 4 | lo
            }
            b => {
                i += 1;
                b
            }
        };
        if b == 0 {
            return Err(Refusal::Malformed);
        }
        out.push(b);
    }
    Ok(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The segments of the path relative to the root that a decoded request
/// path names, with empty and `.` segments dropped and `..` applied (RFC
/// 3986 dot-segment removal): each is a plain name, never empty, `.`, `..`
/// or containing `/`. A `..` that would climb above the root, or a
/// backslash anywhere, is [`Refusal::Escape`]. No segments: the root
/// itself.
///
/// Splitting happens after decoding, so `%2F` separates segments and
/// `%2e%2e` is a `..` like any other: there is no second decoding pass that
/// could reveal one later.
pub fn normalise(decoded: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    if decoded.contains(&b'\\') {
        return Err(Refusal::Escape);
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(Refusal::Escape);
                }
            }
            seg => parts.push(seg),
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;

    /// The segments joined with `/`, as text.
    fn norm(s: &str) -> Result<String, Refusal> {
        let decoded = percent_decode(s.as_bytes())?;
        let parts = normalise(&decoded)?;
        Ok(String::from_utf8_lossy(&parts.join(&b'/')).into_owned())
    }

    fn ok(s: &str) -> Result<String, Refusal> {
        Ok(s.into())
    }

    #[test]
    fn splits_targets() {
        assert_eq!(split_target("/a/b"), ("/a/b", None));
        assert_eq!(split_target("/a/b?x=1&y"), ("/a/b", Some("x=1&y")));
        assert_eq!(split_target("/?"), ("/", Some("")));
        assert_eq!(split_target("/a#frag"), ("/a", None));
        assert_eq!(split_target("http://h:80/x/y?q"), ("/x/y", Some("q")));
        assert_eq!(split_target("http://h"), ("/", None));
        assert_eq!(split_target("http://h?q"), ("/", Some("q")));
        assert_eq!(split_target("/a?u=http://x/"), ("/a", Some("u=http://x/")));
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(percent_decode(b"/a%20b"), Ok(b"/a b".to_vec()));
        assert_eq!(percent_decode(b"%2e%2E%2f"), Ok(b"../".to_vec()));
        assert_eq!(percent_decode(b"%C3%A9+"), Ok("é+".as_bytes().to_vec()));
        assert_eq!(percent_decode(b"%ff"), Ok(vec![0xff]));
        assert_eq!(percent_decode(b""), Ok(vec![]));
        for bad in [&b"%"[..], b"%4", b"%g0", b"%0g", b"a%", b"%%41", b"%00", b"a\0b", b"%2"] {
            assert_eq!(percent_decode(bad), Err(Refusal::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn normalises_segments() {
        assert_eq!(norm("/"), ok(""));
        assert_eq!(norm(""), ok(""));
        assert_eq!(norm("/a/b.txt"), ok("a/b.txt"));
        assert_eq!(norm("//a///./b/"), ok("a/b"));
        assert_eq!(norm("/a/../b"), ok("b"));
        assert_eq!(norm("/a/b/../../c"), ok("c"));
        assert_eq!(norm("/a/%2e%2e/b"), ok("b"));
        assert_eq!(norm("/a/.../b"), ok("a/.../b"));
        assert_eq!(norm("/..a/b.."), ok("..a/b.."));
        assert_eq!(norm("/a%2Fb"), ok("a/b"));
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            "/..",
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/a/%2e%2e/%2e%2e/x",
            "/..%2f..%2fetc",
            "/a\\..\\..\\x",
            "/%5c..%5cx",
            "/a\\b",
        ] {
            assert_eq!(norm(bad), Err(Refusal::Escape), "{bad}");
        }
        // An absolute path inside the request stays inside the root.
        assert_eq!(norm("//etc/passwd"), ok("etc/passwd"));
        assert_eq!(norm("/%2Fetc%2Fpasswd"), ok("etc/passwd"));
        assert_eq!(norm("/a%00b"), Err(Refusal::Malformed));
        assert_eq!(norm("/a%zz"), Err(Refusal::Malformed));
    }

    #[test]
    fn segments_are_plain_names() {
        // Whatever the input, every segment is a plain name, so joining
        // them onto the root cannot leave it lexically.
        for s in ["/a/../b", "//x", "/./.", "/%2e/%2e%2e/a", "/a/b/..", "/a%2F.%2F..%2Fb"] {
            let Ok(decoded) = percent_decode(s.as_bytes()) else { continue };
            if let Ok(parts) = normalise(&decoded) {
                for p in parts {
                    assert!(!matches!(p, b"" | b"." | b"..") && !p.contains(&b'/'), "{s}");
                }
            }
        }
    }
}
