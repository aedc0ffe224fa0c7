//! Content types by file extension.

use std::path::Path;

/// The `Content-Type` for a file, by its extension (ASCII case-insensitive).
/// Text types carry `; charset=utf-8`; unknown extensions get
/// `application/octet-stream`.
pub(crate) fn content_type(path: &Path) -> &'static str {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return DEFAULT;
    };
    let mut lower = [0u8; 8];
    if ext.len() > lower.len() {
        return DEFAULT;
    }
    let lower = &mut lower[..ext.len()];
    lower.copy_from_slice(ext.as_bytes());
    lower.make_ascii_lowercase();
    match &*lower {
        b"html" | b"htm" => "text/html; charset=utf-8",
        b"css" => "text/css; charset=utf-8",
        b"js" | b"mjs" => "text/javascript; charset=utf-8",
        b"json" => "application/json",
        b"txt" => "text/plain; charset=utf-8",
        b"md" => "text/markdown; charset=utf-8",
        b"csv" => "text/csv; charset=utf-8",
        b"xml" => "application/xml",
        b"svg" => "image/svg+xml",
        b"png" => "image/png",
        b"jpg" | b"jpeg" => "image/jpeg",
        b"gif" => "image/gif",
        b"ico" => "image/vnd.microsoft.icon",
        b"webp" => "image/webp",
        b"wasm" => "application/wasm",
        b"pdf" => "application/pdf",
        b"zip" => "application/zip",
        b"gz" => "application/gzip",
        b"tar" => "application/x-tar",
        b"mp4" => "video/mp4",
        b"mp3" => "audio/mpeg",
        b"woff" => "font/woff",
        b"woff2" => "font/woff2",
        _ => DEFAULT,
    }
}

const DEFAULT: &str = "application/octet-stream";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension() {
        let ct = |p: &str| content_type(Path::new(p));
        assert_eq!(ct("index.html"), "text/html; charset=utf-8");
        assert_eq!(ct("a/b/PAGE.HTM"), "text/html; charset=utf-8");
        assert_eq!(ct("app.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(ct("x.Json"), "application/json");
        assert_eq!(ct("notes.md"), "text/markdown; charset=utf-8");
        assert_eq!(ct("pic.JPEG"), "image/jpeg");
        assert_eq!(ct("f.woff2"), "font/woff2");
        assert_eq!(ct("a.tar.gz"), "application/gzip");
        assert_eq!(ct("icon.svg"), "image/svg+xml");
        assert_eq!(ct("m.wasm"), "application/wasm");
        assert_eq!(ct("Makefile"), DEFAULT);
        assert_eq!(ct(".hidden"), DEFAULT);
        assert_eq!(ct("x.unknownext"), DEFAULT);
        assert_eq!(ct("x.exe"), DEFAULT);
    }
}
