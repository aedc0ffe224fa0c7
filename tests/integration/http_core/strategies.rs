//! proptest generators: valid pipelined requests (with a model of what the
//! server must make of them) and hostile byte streams.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// `tchar` (RFC 9110 §5.6.2).
pub(crate) const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Field names the server interprets; random fields avoid them so that the
/// model stays simple (the framing fields are added on purpose).
const SEMANTIC: &[&str] = &["host", "content-length", "transfer-encoding", "connection", "expect"];

pub(crate) fn token(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    vec(select(TCHAR), len).prop_map(|v| String::from_utf8(v).expect("tchar is ASCII"))
}

/// A field name that the server gives no meaning to.
fn plain_name() -> impl Strategy<Value = String> {
    token(1..16)
        .prop_filter("semantic field", |n| !SEMANTIC.iter().any(|s| n.eq_ignore_ascii_case(s)))
}

/// `field-value` without surrounding whitespace: VCHAR, SP, HTAB inside.
fn field_value() -> impl Strategy<Value = String> {
    let byte = prop_oneof![8 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => Just(b'\t')];
    vec(byte, 0..30).prop_map(|v| {
        let s = String::from_utf8(v).expect("ASCII");
        s.trim_matches([' ', '\t']).to_owned()
    })
}

fn ows() -> impl Strategy<Value = &'static str> {
    select(&["", "", " ", " ", "\t", "  ", " \t "][..])
}

/// One field line: name, OWS, value, OWS.
#[derive(Clone, Debug)]
pub(crate) struct GenField {
    pub(crate) name: String,
    pub(crate) lead: &'static str,
    pub(crate) value: String,
    pub(crate) trail: &'static str,
}

impl GenField {
    fn plain(name: &str, value: &str) -> GenField {
        GenField { name: name.to_owned(), lead: " ", value: value.to_owned(), trail: "" }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name.as_bytes());
        out.push(b':');
        out.extend_from_slice(self.lead.as_bytes());
        out.extend_from_slice(self.value.as_bytes());
        out.extend_from_slice(self.trail.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

fn gen_field() -> impl Strategy<Value = GenField> {
    (plain_name(), ows(), field_value(), ows()).prop_map(|(name, lead, value, trail)| GenField {
        name,
        lead,
        value,
        trail,
    })
}

#[derive(Clone, Debug)]
pub(crate) struct GenChunk {
    data: Vec<u8>,
    leading_zeros: usize,
    upper: bool,
    ext: String,
}

#[derive(Clone, Debug)]
pub(crate) struct GenChunked {
    chunks: Vec<GenChunk>,
    last_zeros: usize,
    last_ext: String,
    trailers: Vec<GenField>,
}

#[derive(Clone, Debug)]
pub(crate) enum GenBody {
    /// No framing field at all.
    None,
    /// `Content-Length` and exactly these bytes.
    Length(Vec<u8>),
    Chunked(GenChunked),
}

impl GenBody {
    /// The decoded body.
    pub(crate) fn data(&self) -> Vec<u8> {
        match self {
            GenBody::None => Vec::new(),
            GenBody::Length(d) => d.clone(),
            GenBody::Chunked(c) => c.chunks.iter().flat_map(|c| c.data.iter().copied()).collect(),
        }
    }
    /// Whether the head announces a body (what `100 Continue` depends on).
    pub(crate) fn announced(&self) -> bool {
        match self {
            GenBody::None => false,
            GenBody::Length(d) => !d.is_empty(),
            GenBody::Chunked(_) => true,
        }
    }
}

/// `chunk-ext` (RFC 9112 §7.1.1) with BWS everywhere it may be.
fn chunk_ext() -> impl Strategy<Value = String> {
    let bws = select(&["", "", " ", "\t"][..]);
    let qdtext = prop_oneof![
        8 => (0x20u8..=0x7e).prop_filter("not quote or backslash", |b| *b != b'"' && *b != b'\\')
            .prop_map(|b| (b as char).to_string()),
        1 => select(&["\\\"", "\\\\", "\\a", "\t"][..]).prop_map(str::to_owned),
    ];
    let quoted = vec(qdtext, 0..8).prop_map(|parts| format!("\"{}\"", parts.concat()));
    let value = prop_oneof![token(1..8), quoted];
    let item =
        (bws.clone(), bws.clone(), token(1..8), proptest::option::of((bws.clone(), bws, value)))
            .prop_map(|(b1, b2, name, val)| match val {
                Some((b3, b4, v)) => format!("{b1};{b2}{name}{b3}={b4}{v}"),
                None => format!("{b1};{b2}{name}"),
            });
    vec(item, 0..3).prop_map(|items| items.concat())
}

fn chunked(shape: Shape) -> impl Strategy<Value = GenChunked> {
    let ext = move || prop_oneof![shape.ext_weight => chunk_ext(), 4 => Just(String::new())];
    let chunk = (vec(any::<u8>(), 1..80), 0usize..3, any::<bool>(), ext())
        .prop_map(|(data, leading_zeros, upper, ext)| GenChunk { data, leading_zeros, upper, ext });
    (vec(chunk, 0..6), 1usize..3, ext(), vec(gen_field(), 0..3)).prop_map(
        |(chunks, last_zeros, last_ext, trailers)| GenChunked {
            chunks,
            last_zeros,
            last_ext,
            trailers,
        },
    )
}

fn body(shape: Shape) -> impl Strategy<Value = GenBody> {
    prop_oneof![
        2 => Just(GenBody::None),
        2 => vec(any::<u8>(), 0..300).prop_map(GenBody::Length),
        3 => chunked(shape).prop_map(GenBody::Chunked),
    ]
}

/// How big generated requests get.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    /// Random fields per request: `0..fields`.
    pub(crate) fields: usize,
    /// Weight of chunk extensions against none (out of `ext_weight + 4`).
    pub(crate) ext_weight: u32,
}

impl Shape {
    /// What property 1 asks for: up to 20 fields, extensions often.
    pub(crate) const FULL: Shape = Shape { fields: 20, ext_weight: 12 };
    /// Requests that mostly fit the small limits of the robustness test.
    pub(crate) const SMALL: Shape = Shape { fields: 5, ext_weight: 1 };
}

/// A valid HTTP/1.1 request.
#[derive(Clone, Debug)]
pub(crate) struct GenRequest {
    pub(crate) leading_crlf: usize,
    pub(crate) method: String,
    pub(crate) target: String,
    /// Every field line in order, framing fields included.
    pub(crate) fields: Vec<GenField>,
    pub(crate) body: GenBody,
    pub(crate) close: bool,
    pub(crate) expect: bool,
}

fn method() -> impl Strategy<Value = String> {
    let common = select(&["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"][..]);
    prop_oneof![
        3 => common.prop_map(str::to_owned),
        1 => token(1..12).prop_filter("CONNECT needs authority-form", |m| m != "CONNECT"),
    ]
}

fn origin_target() -> impl Strategy<Value = String> {
    vec(0x21u8..=0x7e, 0..40).prop_map(|v| format!("/{}", String::from_utf8(v).expect("ASCII")))
}

pub(crate) fn request() -> impl Strategy<Value = GenRequest> {
    request_shaped(Shape::FULL)
}

pub(crate) fn request_shaped(shape: Shape) -> impl Strategy<Value = GenRequest> {
    let host =
        select(&["example.com", "localhost:8080", "[::1]:80", "a.b-c_d~e", "", "10.0.0.1"][..]);
    (
        (0usize..4, method(), origin_target()),
        (vec(gen_field(), 0..shape.fields), any::<Index>(), host, ows(), ows()),
        (body(shape), proptest::bool::weighted(0.15), proptest::bool::weighted(0.3)),
    )
        .prop_map(
            |(
                (leading, method, target),
                (mut fields, host_at, host, lead, trail),
                (body, close, expect),
            )| {
                let at = host_at.index(fields.len() + 1);
                fields
                    .insert(at, GenField { name: "Host".into(), lead, value: host.into(), trail });
                match &body {
                    GenBody::None => {}
                    GenBody::Length(d) => {
                        fields.push(GenField::plain("Content-Length", &d.len().to_string()))
                    }
                    GenBody::Chunked(_) => {
                        fields.push(GenField::plain("Transfer-Encoding", "chunked"))
                    }
                }
                if close {
                    fields.push(GenField::plain("Connection", "close"));
                }
                if expect {
                    fields.push(GenField::plain("Expect", "100-continue"));
                }
                GenRequest {
                    leading_crlf: leading.saturating_sub(1),
                    method,
                    target,
                    fields,
                    body,
                    close,
                    expect,
                }
            },
        )
}

impl GenRequest {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for _ in 0..self.leading_crlf {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", self.method, self.target).as_bytes());
        for f in &self.fields {
            f.encode(out);
        }
        out.extend_from_slice(b"\r\n");
        match &self.body {
            GenBody::None => {}
            GenBody::Length(d) => out.extend_from_slice(d),
            GenBody::Chunked(c) => {
                for chunk in &c.chunks {
                    let zeros = "0".repeat(chunk.leading_zeros);
                    let size = if chunk.upper {
                        format!("{zeros}{:X}", chunk.data.len())
                    } else {
                        format!("{zeros}{:x}", chunk.data.len())
                    };
                    out.extend_from_slice(format!("{size}{}\r\n", chunk.ext).as_bytes());
                    out.extend_from_slice(&chunk.data);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(
                    format!("{}{}\r\n", "0".repeat(c.last_zeros), c.last_ext).as_bytes(),
                );
                for t in &c.trailers {
                    t.encode(out);
                }
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// The response the test driver writes for this request (after a
    /// `100 Continue` when one is due).
    pub(crate) fn expected_response(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.expect && self.body.announced() {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let body = format!("{} {} {}", self.method, self.target, self.body.data().len());
        out.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nX-Method: {}\r\nContent-Length: {}\r\n",
                self.method,
                body.len()
            )
            .as_bytes(),
        );
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if self.method != "HEAD" {
            out.extend_from_slice(body.as_bytes());
        }
        out
    }
}

pub(crate) fn encode_all(reqs: &[GenRequest]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in reqs {
        r.encode(&mut out);
    }
    out
}

/// HTTP-ish fragments: concatenated at random they reach deep into the
/// parser's states far more often than uniform bytes do.
const FRAGMENTS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"CONNECT ",
    b"OPTIONS ",
    b"/",
    b"/a?b=c",
    b"*",
    b"http://h/x",
    b"h:1",
    b" HTTP/1.1",
    b" HTTP/1.0",
    b" HTTP/2.0",
    b" HTTP/1.9",
    b"HTTP/",
    b"\r\n",
    b"\r\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b"Host: x",
    b"Host:",
    b"Host: [::1]:8",
    b"Content-Length: ",
    b"Content-Length: 5",
    b"Content-Length: 3, 3",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, gzip",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Expect: 100-continue",
    b"X-A: b",
    b":",
    b" ",
    b"\t",
    b"\0",
    b"\x7f",
    b"\xff",
    b"0",
    b"1",
    b"5",
    b"a",
    b"F",
    b"ffffffffffffffffff",
    b"99999999999999999999999",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b";",
    b";a=b",
    b";a=\"q\\\"\"",
    b"=",
    b"\"",
    b",",
    b"abc",
    b"T: v",
    b"  ",
];

/// Plausible starts for the noise, so that it also reaches fields and bodies.
const PREFIXES: &[&[u8]] = &[
    b"",
    b"GET / HTTP/1.1\r\nHost: x\r\n",
    b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n",
    b"PUT /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n\
      5\r\nhello\r\n",
];

pub(crate) fn http_noise() -> impl Strategy<Value = Vec<u8>> {
    (select(PREFIXES), vec(select(FRAGMENTS), 0..160)).prop_map(|(prefix, parts)| {
        let mut v = prefix.to_vec();
        v.extend(parts.concat());
        v
    })
}

/// Valid requests (shaped for the small limits) with `tail` appended.
fn valid_then(tail: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (vec(request_shaped(Shape::SMALL), 1..3), tail).prop_map(|(reqs, tail)| {
        let mut v = encode_all(&reqs);
        v.extend_from_slice(&tail);
        v
    })
}

/// Valid requests with a few bytes overwritten.
fn valid_flipped() -> impl Strategy<Value = Vec<u8>> {
    let flips = vec((any::<Index>(), any::<u8>()), 1..4);
    (vec(request_shaped(Shape::SMALL), 1..3), flips).prop_map(|(reqs, flips)| {
        let mut v = encode_all(&reqs);
        for (at, b) in flips {
            let i = at.index(v.len());
            v[i] = b;
        }
        v
    })
}

/// Bytes that sit on the edge of some rule.
const INTERESTING: &[u8] =
    &[0x00, 0x01, b'\t', b'\n', 0x0b, 0x0c, b'\r', 0x1f, b' ', b'"', b':', b';', 0x7f, 0x80, 0xff];

/// Valid requests with interesting bytes inserted or overwritten.
fn valid_spliced() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<Index>(), select(INTERESTING), any::<bool>());
    (vec(request_shaped(Shape::SMALL), 1..3), vec(edit, 1..4)).prop_map(|(reqs, edits)| {
        let mut v = encode_all(&reqs);
        for (at, b, insert) in edits {
            let i = at.index(v.len());
            if insert {
                v.insert(i, b);
            } else {
                v[i] = b;
            }
        }
        v
    })
}

/// Near the limits of the robustness test (target 128, head 512, fields 8,
/// body 1024): 414, 431 and 413 territory.
fn near_limits() -> impl Strategy<Value = Vec<u8>> {
    (0usize..300, 0usize..12, 0usize..600, 0u64..1500, http_noise()).prop_map(
        |(target, fields, value, length, tail)| {
            let t = "t".repeat(target);
            let mut v = format!("POST /{t} HTTP/1.1\r\nHost: x\r\n").into_bytes();
            for i in 0..fields {
                v.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
            }
            v.extend_from_slice(format!("X-Big: {}\r\n", "v".repeat(value)).as_bytes());
            v.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());
            v.extend_from_slice(&tail);
            v
        },
    )
}

/// Where a long line without LF can start: in the request-target, a field
/// value, a chunk extension, a trailer field; or a run of empty lines.
const LINE_STARTS: &[&[u8]] = &[
    b"GET /",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: ",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\nT: ",
    b"",
];

/// A long line that may never end: every state that buffers a line must
/// give up at its limit, not hold the bytes.
fn long_lines() -> impl Strategy<Value = Vec<u8>> {
    const ENDS: &[&[u8]] = &[b"", b"\r\n", b"\r\n\r\n"];
    let end = select(ENDS);
    (select(LINE_STARTS), 0usize..1500, end).prop_map(|(start, len, end)| {
        let filler: &[u8] = if start.is_empty() { b"\r\n" } else { b"v" };
        let mut v = start.to_vec();
        v.extend(filler.repeat(len));
        v.extend_from_slice(end);
        v
    })
}

/// Arbitrary input for the robustness property.
pub(crate) fn hostile_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => vec(any::<u8>(), 0..4096),
        3 => http_noise(),
        2 => valid_then(vec(any::<u8>(), 0..512)),
        2 => valid_then(http_noise()),
        2 => near_limits(),
        2 => long_lines(),
        3 => valid_flipped(),
        4 => valid_spliced(),
    ]
}
