//! HTML escaping and URL percent-encoding for what goes into a page.
//!
//! ```
//! use bytes::BytesMut;
//! use sansnet_proto::http::html;
//!
//! let mut page = BytesMut::new();
//! html::escape_into(&mut page, b"<a href='x'>");
//! html::percent_encode_into(&mut page, b"a b/c");
//! assert_eq!(&page[..], b"&lt;a href=&#x27;x&#x27;&gt;a%20b%2Fc");
//! ```

use bytes::{Bytes, BytesMut};

/// The escape of one byte, if it needs one (`<>&"'`, as Python's
/// `html.escape` with `quote=True`).
#[inline]
fn escape_of(b: u8) -> Option<&'static [u8]> {
    match b {
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'&' => Some(b"&amp;"),
        b'"' => Some(b"&quot;"),
        b'\'' => Some(b"&#x27;"),
        _ => None,
    }
}

/// Appends `text` to `out` with `<>&"'` escaped, so it is safe both as
/// element content and inside a quoted attribute. Copies runs of plain bytes
/// whole.
pub fn escape_into(out: &mut BytesMut, text: &[u8]) {
    let mut plain = 0;
    for (i, &b) in text.iter().enumerate() {
        if let Some(esc) = escape_of(b) {
            out.extend_from_slice(&text[plain..i]);
            out.extend_from_slice(esc);
            plain = i + 1;
        }
    }
    out.extend_from_slice(&text[plain..]);
}

/// The length of `text` once escaped.
pub fn escaped_len(text: &[u8]) -> usize {
    text.iter().map(|&b| escape_of(b).map_or(1, <[u8]>::len)).sum()
}

/// Appends `name` percent-encoded for use as one path segment of a URL:
/// everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`) becomes
/// `%XX`, so no name can smuggle a `/`, `?`, `#`, `:` or quote into a link.
pub fn percent_encode_into(out: &mut BytesMut, name: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in name {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.extend_from_slice(&[b]);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// The small HTML page of a status without content of its own (`404 Not
/// Found`, say), as the static file server and the chat page answer it.
pub fn status_page(status: u16) -> Bytes {
    let text = alloc::format!("{status} {}", super::reason(status));
    Bytes::from(alloc::format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{text}</title></head>\
         <body><h1>{text}</h1></body></html>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn escape(s: &str) -> String {
        let mut out = BytesMut::new();
        escape_into(&mut out, s.as_bytes());
        assert_eq!(out.len(), escaped_len(s.as_bytes()));
        String::from_utf8(out.to_vec()).expect("utf-8 in, utf-8 out")
    }

    fn encode(s: &[u8]) -> String {
        let mut out = BytesMut::new();
        percent_encode_into(&mut out, s);
        String::from_utf8(out.to_vec()).expect("ascii")
    }

    #[test]
    fn escapes_the_five() {
        assert_eq!(escape(""), "");
        assert_eq!(escape("/plain/path"), "/plain/path");
        assert_eq!(
            escape(r#"<script>alert("x&'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#x27;y&#x27;)&lt;/script&gt;"
        );
        assert_eq!(escape("&&"), "&amp;&amp;");
        assert_eq!(escape("é<"), "é&lt;");
    }

    #[test]
    fn percent_encodes_all_but_unreserved() {
        assert_eq!(encode(b"a-b.c_d~E9"), "a-b.c_d~E9");
        assert_eq!(encode(b"a b/c?d#e"), "a%20b%2Fc%3Fd%23e");
        assert_eq!(encode(b"\"'<>&:%"), "%22%27%3C%3E%26%3A%25");
        assert_eq!(encode("é".as_bytes()), "%C3%A9");
        assert_eq!(encode(b"\xff\x00"), "%FF%00");
    }
}
