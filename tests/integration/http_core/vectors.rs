//! Request vectors shared by the HTTP core tests: httparse's benchmark
//! request, synthetic large heads, and a dozen realistic requests with what
//! the server must make of them.

use sansnet_proto::http::{BodyKind, TargetForm, Version};

/// httparse's benchmark requests (`benches/parse.rs`: `REQ`, 720 bytes, a
/// Firefox 3.6 request-line and 9 fields; `REQ_SHORT`, 68 bytes), byte for
/// byte, shared with the criterion benches.
pub(crate) use sansnet_benches::{REQ, REQ_SHORT};

/// A request head of exactly `total` bytes with `fields` field lines (the
/// first is `Host`), the rest `X-Field-NNN: <value>` with the padding spread
/// over the values. With (100, 5857) and (400, 23257) it has the sizes of
/// the large heads in HTTP-NOTES §1.
///
/// # Panics
///
/// If `total` is too small for that many fields.
pub(crate) fn synthetic_head(fields: usize, total: usize) -> Vec<u8> {
    const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.;=/ ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let start: &[u8] = b"GET /synthetic/head?fields=many HTTP/1.1\r\nHost: bench.example\r\n";
    let names: Vec<String> = (1..fields).map(|i| format!("X-Field-{i:03}: ")).collect();
    let fixed = start.len() + names.iter().map(|n| n.len() + 2).sum::<usize>() + 2;
    assert!(total >= fixed + 2 * names.len(), "{total} bytes cannot hold {fields} fields");
    let pad = total - fixed;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(start);
    for (i, name) in names.iter().enumerate() {
        // Spread `pad` as evenly as possible; values start and end visible.
        let len = pad / names.len() + usize::from(i < pad % names.len());
        out.extend_from_slice(name.as_bytes());
        out.extend((0..len).map(|j| match PATTERN[(i + j) % PATTERN.len()] {
            b' ' if j == 0 || j + 1 == len => b'x',
            b => b,
        }));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    assert_eq!(out.len(), total);
    out
}

/// A realistic request and what the server must make of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vector {
    pub(crate) name: &'static str,
    pub(crate) bytes: &'static [u8],
    pub(crate) method: &'static str,
    pub(crate) target: &'static str,
    pub(crate) form: TargetForm,
    pub(crate) version: Version,
    /// Number of field lines in the head.
    pub(crate) fields: usize,
    /// One field to look up (case-insensitively) and its expected value.
    pub(crate) probe: (&'static str, &'static [u8]),
    pub(crate) body_kind: BodyKind,
    /// The decoded body.
    pub(crate) body: &'static [u8],
    pub(crate) keep_alive: bool,
    /// Whether the server must answer `100 Continue` first.
    pub(crate) continue_100: bool,
}

/// A dozen-plus requests as real clients send them.
pub(crate) const VECTORS: &[Vector] = &[
    Vector {
        name: "curl GET",
        bytes: b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        method: "GET",
        target: "/index.html",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 3,
        probe: ("user-agent", b"curl/8.5.0"),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "curl POST form",
        bytes: b"POST /login HTTP/1.1\r\nHost: api.example.com:8443\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\
Content-Length: 28\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nuser=alice&password=s3cr%21t",
        method: "POST",
        target: "/login",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 5,
        probe: ("Host", b"api.example.com:8443"),
        body_kind: BodyKind::Length(28),
        body: b"user=alice&password=s3cr%21t",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "Chrome navigation",
        bytes: b"GET /search?q=sans-io&hl=en HTTP/1.1\r\nHost: www.example.org\r\nConnection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: \"Linux\"\r\nUpgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,\
application/signed-exchange;v=b3;q=0.7\r\n\
Sec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-User: ?1\r\nSec-Fetch-Dest: document\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\
Cookie: _ga=GA1.1.123456789.1700000000; theme=dark\r\n\r\n",
        method: "GET",
        target: "/search?q=sans-io&hl=en",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 15,
        probe: ("SEC-CH-UA-PLATFORM", b"\"Linux\""),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "Firefox 3.6 (httparse REQ)",
        bytes: REQ,
        method: "GET",
        target: "/wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 9,
        probe: ("accept-charset", b"Shift_JIS,utf-8;q=0.7,*;q=0.7"),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "httparse REQ_SHORT (HTTP/1.0, no keep-alive)",
        bytes: REQ_SHORT,
        method: "GET",
        target: "/",
        form: TargetForm::Origin,
        version: Version::Http10,
        fields: 2,
        probe: ("cookie", b"session=60; user_id=1"),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: false,
        continue_100: false,
    },
    Vector {
        name: "chunked upload with extensions and trailers",
        bytes: b"POST /upload HTTP/1.1\r\nHost: files.example.com\r\nUser-Agent: curl/8.5.0\r\n\
Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\nTrailer: Digest, Expires\r\n\r\n\
7\r\nsansnet\r\n\
19;name=\"part two\";last\r\n, a sans-IO HTTP toolkit!\r\n\
0\r\nDigest: sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n",
        method: "POST",
        target: "/upload",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 5,
        probe: ("transfer-encoding", b"chunked"),
        body_kind: BodyKind::Chunked,
        body: b"sansnet, a sans-IO HTTP toolkit!",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "curl PUT with Expect: 100-continue",
        bytes: b"PUT /objects/42 HTTP/1.1\r\nHost: storage.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\
Content-Type: application/json\r\nContent-Length: 26\r\nExpect: 100-continue\r\n\r\n{\"id\":42,\"name\":\"sansnet\"}",
        method: "PUT",
        target: "/objects/42",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 6,
        probe: ("expect", b"100-continue"),
        body_kind: BodyKind::Length(26),
        body: b"{\"id\":42,\"name\":\"sansnet\"}",
        keep_alive: true,
        continue_100: true,
    },
    Vector {
        name: "ApacheBench HTTP/1.0 keep-alive",
        bytes: b"GET /status HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: legacy.example.com\r\n\
User-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n",
        method: "GET",
        target: "/status",
        form: TargetForm::Origin,
        version: Version::Http10,
        fields: 4,
        probe: ("connection", b"Keep-Alive"),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "wget HEAD",
        bytes: b"HEAD /releases/large.iso HTTP/1.1\r\nHost: mirror.example.net\r\nUser-Agent: Wget/1.21.4\r\n\
Accept: */*\r\nAccept-Encoding: identity\r\nConnection: Keep-Alive\r\n\r\n",
        method: "HEAD",
        target: "/releases/large.iso",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 5,
        probe: ("accept-encoding", b"identity"),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "OPTIONS *",
        bytes: b"OPTIONS * HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        method: "OPTIONS",
        target: "*",
        form: TargetForm::Asterisk,
        version: Version::Http11,
        fields: 3,
        probe: ("accept", b"*/*"),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "curl CONNECT through a proxy",
        bytes: b"CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\nUser-Agent: curl/8.5.0\r\n\
Proxy-Connection: Keep-Alive\r\n\r\n",
        method: "CONNECT",
        target: "www.example.com:443",
        form: TargetForm::Authority,
        version: Version::Http11,
        fields: 3,
        probe: ("proxy-connection", b"Keep-Alive"),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "absolute-form GET to a proxy",
        bytes: b"GET http://www.example.com/a/b?c=d HTTP/1.1\r\nHost: www.example.com\r\n\
Proxy-Authorization: Basic dXNlcjpwYXNz\r\nAccept: */*\r\n\r\n",
        method: "GET",
        target: "http://www.example.com/a/b?c=d",
        form: TargetForm::Absolute,
        version: Version::Http11,
        fields: 3,
        probe: ("proxy-authorization", b"Basic dXNlcjpwYXNz"),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "WebSocket upgrade (RFC 6455 example)",
        bytes: b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n",
        method: "GET",
        target: "/chat",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 7,
        probe: ("sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        body_kind: BodyKind::Length(0),
        body: b"",
        keep_alive: true,
        continue_100: false,
    },
    Vector {
        name: "JSON POST with Connection: close, after an empty line",
        bytes: b"\r\nPOST /api/v1/items HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n\
Content-Length: 42\r\nConnection: close\r\n\r\n{\"name\":\"widget\",\"qty\":3,\"tags\":[\"a\",\"b\"]}",
        method: "POST",
        target: "/api/v1/items",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 4,
        probe: ("content-length", b"42"),
        body_kind: BodyKind::Length(42),
        body: b"{\"name\":\"widget\",\"qty\":3,\"tags\":[\"a\",\"b\"]}",
        keep_alive: false,
        continue_100: false,
    },
    Vector {
        name: "chunked POST with Expect: 100-continue",
        bytes: b"POST /stream HTTP/1.1\r\nHost: ingest.example.com\r\nExpect: 100-Continue\r\n\
Transfer-Encoding: chunked\r\n\r\n0007\r\nsansnet\r\n0\r\n\r\n",
        method: "POST",
        target: "/stream",
        form: TargetForm::Origin,
        version: Version::Http11,
        fields: 3,
        probe: ("EXPECT", b"100-Continue"),
        body_kind: BodyKind::Chunked,
        body: b"sansnet",
        keep_alive: true,
        continue_100: true,
    },
];
