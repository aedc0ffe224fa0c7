//! Request heads against httparse 1.x (STYLE.md habit 11).
//!
//! On every generated head that both parsers accept as complete, method,
//! target, version, head length and the field list must be equal. Heads
//! only one of them accepts are counted by class; each class must be a
//! documented strictness of sansnet (or, the other way round, the one
//! documented leniency: `HTTP/1.x` with x > 1). A fixed table then pins the
//! deliberate differences, each with its RFC section.

use std::cell::RefCell;
use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{TestCaseError, TestRunner};
use sansnet_proto::http::{Error, HeadParser, Limits, Version};

use super::harness::config;
use super::strategies::token;

/// What one parser made of a buffer holding a whole head (and a body).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Complete(Parsed),
    Partial,
    Invalid(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Parsed {
    len: usize,
    method: String,
    target: String,
    /// The minor version (both sides only return 1.0 and 1.1 here, except
    /// sansnet's 1.x, which it treats as 1.1).
    minor: u8,
    fields: Vec<(String, Vec<u8>)>,
}

fn httparse_verdict(buf: &[u8]) -> (Verdict, Option<httparse::Error>) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => (
            Verdict::Complete(Parsed {
                len,
                method: req.method.expect("method").to_owned(),
                target: req.path.expect("path").to_owned(),
                minor: req.version.expect("version"),
                fields: req.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect(),
            }),
            None,
        ),
        Ok(httparse::Status::Partial) => (Verdict::Partial, None),
        Err(e) => (Verdict::Invalid(format!("{e:?}")), Some(e)),
    }
}

fn sansnet_verdict(buf: &[u8]) -> (Verdict, Option<Error>) {
    let mut p = HeadParser::new(&Limits::default());
    match p.parse(buf) {
        Ok(Some(len)) => {
            let head = p.take(Bytes::copy_from_slice(&buf[..len]));
            (
                Verdict::Complete(Parsed {
                    len,
                    method: head.method().to_owned(),
                    target: head.target().to_owned(),
                    minor: match head.version() {
                        Version::Http10 => 0,
                        Version::Http11 => 1,
                    },
                    fields: head.fields().map(|(n, v)| (n.to_owned(), v.to_vec())).collect(),
                }),
                None,
            )
        }
        Ok(None) => (Verdict::Partial, None),
        Err(e) => (Verdict::Invalid(format!("{e:?}")), Some(e)),
    }
}

/// Optional whitespace trimmed off both ends (RFC 9112 §5: OWS is not part
/// of the value). Both parsers already do it; the comparison also counts
/// how often the raw values differ (expected: never).
fn trim_ows(v: &[u8]) -> &[u8] {
    let a = v.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(v.len());
    let z = v.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(a, |z| z + 1);
    &v[a..z]
}

fn weighted<T: Clone + std::fmt::Debug + 'static>(
    common: T,
    rare: &'static [T],
    rare_in: u32,
) -> BoxedStrategy<T> {
    prop_oneof![rare_in => Just(common), 1 => select(rare)].boxed()
}

fn diff_method() -> impl Strategy<Value = Vec<u8>> {
    let common = select(&["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"][..]);
    let odd = token(1..10);
    let bad = (token(0..4), select(&["(", "@", "\"", "\x7f", "é", "/", ""][..]), token(0..4))
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"));
    prop_oneof![
        24 => common.prop_map(|s| s.as_bytes().to_vec()),
        1 => Just(b"CONNECT".to_vec()),
        12 => odd.prop_map(String::into_bytes),
        1 => Just(b"!#$%&'*+-.^_`|~".to_vec()),
        2 => bad.prop_map(String::into_bytes),
    ]
}

fn vchars(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    vec(0x21u8..=0x7e, len)
}

fn diff_target() -> impl Strategy<Value = Vec<u8>> {
    let scheme =
        select(&["http", "https", "HTTP", "coap+tcp", "web-socket.x", "1http", "ht tp"][..]);
    let host = select(&["example.com", "[::1]:8080", "a.b:80", "user@h", ""][..]);
    let absolute = (scheme, host, vchars(0..20))
        .prop_map(|(s, h, p)| [format!("{s}://{h}/").into_bytes(), p].concat());
    let non_ascii = prop_oneof![
        vec(0x80u8..=0xff, 1..4),
        select(&["é", "日本", "\u{1F600}"][..]).prop_map(|s| s.as_bytes().to_vec()),
    ];
    let obs = (vchars(0..10), non_ascii, vchars(0..10))
        .prop_map(|(a, b, c)| [b"/".to_vec(), a, b, c].concat());
    prop_oneof![
        28 => vchars(0..30).prop_map(|p| [b"/".to_vec(), p].concat()),
        6 => absolute,
        1 => obs,
        1 => select(&["*", "example.com:443", "[::1]:8080", "/a b", "/a\tb", ""][..])
            .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

const RARE_VERSIONS: &[&str] =
    &["HTTP/1.2", "HTTP/2.0", "HTTP/1.10", "http/1.1", "HTTP/1", "HTTP/0.9", "HTTP/1.1 "];

fn diff_version() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        16 => Just("HTTP/1.1"),
        4 => Just("HTTP/1.0"),
        1 => select(RARE_VERSIONS),
    ]
}

/// A field value: VCHAR, SP, HTAB and obs-text; rarely a CTL, DEL, NUL or
/// a bare CR.
fn diff_value() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        40 => 0x21u8..=0x7e,
        5 => Just(b' '),
        2 => Just(b'\t'),
        4 => 0x80u8..=0xff,
    ];
    let clean = vec(byte, 0..30);
    let ctl = select(&[0x00u8, 0x01, 0x0b, 0x0c, 0x1f, 0x7f, b'\r'][..]);
    prop_oneof![
        120 => clean.clone(),
        1 => (clean.clone(), ctl, clean).prop_map(|(a, c, b)| [a, vec![c], b].concat()),
    ]
}

fn diff_field() -> impl Strategy<Value = Vec<u8>> {
    let bad_name =
        (token(0..4), select(&[" ", "(", "@", "\0", "\u{80}", "/", "\""][..]), token(1..4))
            .prop_map(|(a, b, c)| format!("{a}{b}{c}"));
    let name = prop_oneof![300 => token(1..16), 1 => bad_name];
    let sep = weighted(":", &[" :", "\t:"], 300);
    let ows = select(&["", "", " ", " ", "  ", "\t", " \t"][..]);
    let eol = weighted("\r\n", &["\n"], 240);
    let fold = weighted("", &["  folded\r\n", "\tfolded\r\n"], 400);
    (name, sep, ows.clone(), diff_value(), ows, eol, fold).prop_map(|(n, s, l, v, t, e, f)| {
        [n.as_bytes(), s.as_bytes(), l.as_bytes(), &v, t.as_bytes(), e.as_bytes(), f.as_bytes()]
            .concat()
    })
}

/// Request heads close to valid, with the edge cases of the brief.
fn diff_head() -> impl Strategy<Value = Vec<u8>> {
    let leading = weighted("", &["\r\n", "\n", "\r\n\r\n"], 30);
    let host = prop_oneof![
        80 => Just("Host: example.com\r\n"),
        3 => Just(""),
        1 => Just("Host: a\r\nHost: b\r\n"),
        1 => Just("Host: local host\r\n"),
    ];
    let framing = weighted(
        "",
        &[
            "Content-Length: 5\r\n",
            "Content-Length: +5\r\n",
            "Transfer-Encoding: chunked\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: gzip\r\n",
        ],
        20,
    );
    let end = weighted("\r\n", &["\n"], 80);
    (
        leading,
        diff_method(),
        diff_target(),
        diff_version(),
        host,
        vec(diff_field(), 0..16),
        framing,
        end,
    )
        .prop_map(|(lead, m, t, v, host, fields, framing, end)| {
            let mut out = lead.as_bytes().to_vec();
            out.extend_from_slice(&m);
            out.push(b' ');
            out.extend_from_slice(&t);
            out.push(b' ');
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(host.as_bytes());
            for f in fields {
                out.extend_from_slice(&f);
            }
            out.extend_from_slice(framing.as_bytes());
            out.extend_from_slice(end.as_bytes());
            out.extend_from_slice(b"BODY");
            out
        })
}

/// Why sansnet may reject a head that httparse accepted: the rule the
/// error names must really apply to what httparse parsed. Returns the class
/// to count, or `None` when the rejection is not explained (a bug).
fn justify(e: Error, p: &Parsed, buf: &[u8]) -> Option<&'static str> {
    let head = &buf[..p.len];
    let named =
        |name: &'static str| p.fields.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name));
    let hosts: Vec<&[u8]> = named("host").map(|(_, v)| &v[..]).collect();
    let host_char = |b: &u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(b);
    let t = p.target.as_bytes();
    let valid_scheme = t.iter().position(|&b| b == b':').is_some_and(|c| {
        c > 0
            && t[0].is_ascii_alphabetic()
            && t[..c].iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
    });
    let class = match e {
        // RFC 9112 §2.2: a bare LF MAY be accepted as a line terminator;
        // sansnet does not (smuggling, HTTP Garden class 2).
        Error::BareLf => {
            let bare = head
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'));
            bare.then_some("bare LF (RFC 9112 §2.2)")?
        }
        // RFC 9112 §3.2: an HTTP/1.1 request MUST carry exactly one valid Host.
        Error::MissingHost => {
            (p.minor == 1 && hosts.is_empty()).then_some("no Host in HTTP/1.1 (RFC 9112 §3.2)")?
        }
        Error::DuplicateHost => (hosts.len() > 1).then_some("two Host lines (RFC 9112 §3.2)")?,
        Error::BadHost => (hosts.len() == 1 && !hosts[0].iter().all(host_char))
            .then_some("invalid Host (RFC 9112 §3.2)")?,
        // RFC 9112 §3.2: the target is ASCII and its form fits the method.
        Error::BadTarget if !p.target.is_ascii() => "non-ASCII target (RFC 9112 §3.2, RFC 3986 §2)",
        Error::BadTarget if p.method == "CONNECT" => {
            "CONNECT without authority-form (RFC 9112 §3.2.3)"
        }
        Error::BadTarget if p.target == "*" => "asterisk-form without OPTIONS (RFC 9112 §3.2.4)",
        Error::BadTarget if !t.starts_with(b"/") && !valid_scheme => {
            "absolute-form without scheme (RFC 9112 §3.2.2)"
        }
        // RFC 9112 §6.1/§6.3: framing fields.
        Error::BadContentLength => named("content-length")
            .any(|(_, v)| {
                !v.split(|&b| b == b',')
                    .all(|x| !trim_ows(x).is_empty() && trim_ows(x).iter().all(u8::is_ascii_digit))
            })
            .then_some("Content-Length not 1*DIGIT (RFC 9112 §6.3)")?,
        Error::ContentLengthAndTransferEncoding => (named("content-length").count() > 0
            && named("transfer-encoding").count() > 0)
            .then_some("Content-Length with Transfer-Encoding (RFC 9112 §6.1)")?,
        Error::UnknownTransferCoding => named("transfer-encoding")
            .any(|(_, v)| !v.eq_ignore_ascii_case(b"chunked"))
            .then_some("unknown transfer coding (RFC 9112 §6.1)")?,
        Error::TransferEncodingInHttp10 => (p.minor == 0 && named("transfer-encoding").count() > 0)
            .then_some("Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1)")?,
        _ => return None,
    };
    Some(class)
}

#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    both_accepted: usize,
    raw_value_differs: usize,
    both_rejected: usize,
    /// "httparse <verdict> / sansnet <verdict>: why" -> count, for disagreements.
    classes: BTreeMap<String, usize>,
    /// "httparse <error> / sansnet <error>" -> count, when both reject.
    rejections: BTreeMap<String, usize>,
}

/// Whether `buf` has a request-line version `HTTP/1.x` with x > 1.
fn has_higher_minor(buf: &[u8]) -> bool {
    buf.windows(10)
        .any(|w| w.starts_with(b"HTTP/1.") && (b'2'..=b'9').contains(&w[7]) && w.ends_with(b"\r\n"))
}

/// One generated head through both parsers.
fn compare(buf: &[u8], t: &mut Tally) -> Result<(), TestCaseError> {
    t.cases += 1;
    let (theirs, their_err) = httparse_verdict(buf);
    let (ours, our_err) = sansnet_verdict(buf);
    let class = match (&theirs, &ours) {
        (Verdict::Complete(a), Verdict::Complete(b)) => {
            t.both_accepted += 1;
            prop_assert_eq!(
                (a.len, &a.method, &a.target, a.minor),
                (b.len, &b.method, &b.target, b.minor)
            );
            prop_assert_eq!(a.fields.len(), b.fields.len());
            for ((an, av), (bn, bv)) in a.fields.iter().zip(&b.fields) {
                prop_assert_eq!(an, bn);
                prop_assert_eq!(trim_ows(av), trim_ows(bv), "value of {}", an);
                t.raw_value_differs += usize::from(av != bv);
            }
            return Ok(());
        }
        (Verdict::Invalid(a), Verdict::Invalid(b)) => {
            t.both_rejected += 1;
            *t.rejections.entry(format!("httparse {a} / sansnet {b}")).or_default() += 1;
            return Ok(());
        }
        (Verdict::Complete(p), Verdict::Invalid(_)) => {
            let e = our_err.expect("sansnet error");
            let why = justify(e, p, buf);
            prop_assert!(
                why.is_some(),
                "sansnet rejects with {:?} what httparse accepts: {:?}",
                e,
                p
            );
            format!("httparse accepts / sansnet {e:?}: {}", why.unwrap_or_default())
        }
        (Verdict::Invalid(_), Verdict::Complete(p)) => {
            // The one documented leniency: HTTP/1.x, x > 1, is 1.1
            // (RFC 9110 §2.5); httparse knows only 1.0 and 1.1.
            prop_assert_eq!(their_err, Some(httparse::Error::Version));
            prop_assert!(has_higher_minor(buf), "sansnet accepts {:?}; httparse does not", p);
            "httparse Version / sansnet accepts: HTTP/1.x, x > 1, is 1.1 (RFC 9110 §2.5)".into()
        }
        _ => {
            return Err(TestCaseError::fail(format!(
                "a side wants more bytes of a complete head: {theirs:?} / {ours:?}"
            )));
        }
    };
    *t.classes.entry(class).or_default() += 1;
    Ok(())
}

#[test]
fn heads_agree_with_httparse() {
    let tally = RefCell::new(Tally::default());
    let mut runner = TestRunner::new(config(1024));
    let result = runner.run(&diff_head(), |buf| compare(&buf, &mut tally.borrow_mut()));
    let t = tally.into_inner();
    eprintln!("differential vs httparse: {t:#?}");
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(t.raw_value_differs, 0, "raw values differ where trimmed ones agree");
    // Not vacuous: most generated heads are accepted by both.
    assert!(
        t.both_accepted * 100 >= t.cases * 40,
        "only {} of {} heads accepted by both",
        t.both_accepted,
        t.cases
    );
}

/// What httparse does with an input where sansnet is stricter.
#[derive(Debug, PartialEq, Eq)]
enum Theirs {
    Accepts,
    Rejects(httparse::Error),
}

/// An input where sansnet deliberately differs from httparse.
struct Difference {
    name: &'static str,
    input: &'static [u8],
    httparse: Theirs,
    /// sansnet's verdict (`None`: accepted).
    sansnet: Option<Error>,
}

const fn diff(
    name: &'static str,
    input: &'static [u8],
    httparse: Theirs,
    sansnet: Option<Error>,
) -> Difference {
    Difference { name, input, httparse, sansnet }
}

use Theirs::{Accepts, Rejects};
use httparse::Error as H;

/// Each with the rule that makes sansnet differ.
const DIFFERENCES: &[Difference] = &[
    // RFC 9112 §2.2: a recipient MAY accept a bare LF as a line terminator;
    // sansnet requires CRLF everywhere (bare LF is a smuggling vector, HTTP
    // Garden class 2). httparse accepts it anywhere.
    diff("bare LF everywhere", b"GET / HTTP/1.1\nHost: x\n\n", Accepts, Some(Error::BareLf)),
    diff(
        "bare LF ending one field",
        b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
        Accepts,
        Some(Error::BareLf),
    ),
    diff(
        "bare LF ending the head",
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",
        Accepts,
        Some(Error::BareLf),
    ),
    // RFC 9112 §2.2: SHOULD ignore at least one empty line (CRLF) before the
    // request-line; an LF-only empty line is not one.
    diff(
        "bare LF empty line",
        b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Accepts,
        Some(Error::BareLf),
    ),
    // RFC 9112 §5.2: obs-fold in a request MUST be rejected or replaced;
    // sansnet names it, httparse sees a bad field name.
    diff(
        "obs-fold",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        Rejects(H::HeaderName),
        Some(Error::ObsFold),
    ),
    // RFC 9112 §2.2: whitespace between the start-line and the first field.
    diff(
        "whitespace after the start-line",
        b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
        Rejects(H::HeaderName),
        Some(Error::WhitespaceAfterStartLine),
    ),
    // RFC 9112 §5.1: no whitespace between name and colon; MUST 400.
    diff(
        "space before colon",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        Rejects(H::HeaderName),
        Some(Error::SpaceBeforeColon),
    ),
    diff(
        "tab before colon",
        b"GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",
        Rejects(H::HeaderName),
        Some(Error::SpaceBeforeColon),
    ),
    // RFC 9110 §5.5: NUL in a value MUST be rejected or replaced.
    diff(
        "NUL in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n",
        Rejects(H::HeaderValue),
        Some(Error::Nul),
    ),
    diff(
        "NUL in the target",
        b"GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n",
        Rejects(H::Token),
        Some(Error::Nul),
    ),
    // RFC 9112 §2.2: a bare CR outside content is invalid.
    diff(
        "bare CR in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        Rejects(H::HeaderValue),
        Some(Error::BareCr),
    ),
    // RFC 9110 §5.5: CTLs other than HTAB are invalid in values.
    diff(
        "DEL in a value",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n",
        Rejects(H::HeaderValue),
        Some(Error::BadFieldValue),
    ),
    // RFC 9112 §3.2, RFC 3986 §2: a request-target is ASCII; httparse
    // accepts any valid UTF-8 there (since 1.10).
    diff(
        "UTF-8 in the target",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
        Accepts,
        Some(Error::BadTarget),
    ),
    diff(
        "invalid UTF-8 in the target",
        b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n",
        Rejects(H::Token),
        Some(Error::BadTarget),
    ),
    // RFC 9112 §3.2.4: asterisk-form only with OPTIONS.
    diff(
        "asterisk-form with GET",
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        Accepts,
        Some(Error::BadTarget),
    ),
    // RFC 9112 §3.2.3: CONNECT takes authority-form, nothing else.
    diff(
        "CONNECT with origin-form",
        b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n",
        Accepts,
        Some(Error::BadTarget),
    ),
    // RFC 9112 §3.2: Host MUST be present once, and valid, in HTTP/1.1.
    diff("missing Host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", Accepts, Some(Error::MissingHost)),
    diff(
        "two Host lines",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        Accepts,
        Some(Error::DuplicateHost),
    ),
    diff(
        "invalid Host",
        b"GET / HTTP/1.1\r\nHost: local host\r\n\r\n",
        Accepts,
        Some(Error::BadHost),
    ),
    // RFC 9112 §6.3, RFC 9110 §8.6: Content-Length = 1*DIGIT, one value.
    diff(
        "signed Content-Length",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
        Accepts,
        Some(Error::BadContentLength),
    ),
    diff(
        "differing Content-Lengths",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        Accepts,
        Some(Error::ConflictingContentLength),
    ),
    // RFC 9112 §6.1: CL with TE is a smuggling vector; rejected.
    diff(
        "Content-Length and chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        Accepts,
        Some(Error::ContentLengthAndTransferEncoding),
    ),
    // RFC 9112 §6.3: chunked must be the final coding.
    diff(
        "chunked not final",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        Accepts,
        Some(Error::BadTransferEncoding),
    ),
    // RFC 9112 §6.1: TE in an HTTP/1.0 request means faulty framing.
    diff(
        "Transfer-Encoding in HTTP/1.0",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        Accepts,
        Some(Error::TransferEncodingInHttp10),
    ),
    // RFC 9110 §15.6.6: an unsupported major version is a 505, not a 400.
    diff(
        "HTTP/2.0 request-line",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        Rejects(H::Version),
        Some(Error::VersionNotSupported),
    ),
    // RFC 9110 §2.5: a higher 1.x minor SHOULD be processed as 1.1; here
    // sansnet is the lenient one.
    diff("HTTP/1.2 request-line", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", Rejects(H::Version), None),
    // RFC 9112 §3: exactly one SP between the parts (both reject).
    diff(
        "two spaces in the request-line",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        Rejects(H::Token),
        Some(Error::BadRequestLine),
    ),
    diff(
        "HTAB as a delimiter",
        b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",
        Rejects(H::Token),
        Some(Error::BadRequestLine),
    ),
    // RFC 9112 §5: field-name = token, never empty (both reject).
    diff(
        "empty field name",
        b"GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n",
        Rejects(H::HeaderName),
        Some(Error::BadFieldName),
    ),
];

/// Inputs where sansnet deliberately differs from httparse: the exact
/// verdict of each side, and sansnet's again byte by byte.
#[test]
fn deliberate_differences_from_httparse() {
    for d in DIFFERENCES {
        let name = d.name;
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let theirs = match httparse::Request::new(&mut headers).parse(d.input) {
            Ok(httparse::Status::Complete(_)) => Accepts,
            Ok(httparse::Status::Partial) => panic!("{name}: httparse wants more"),
            Err(e) => Rejects(e),
        };
        assert_eq!(theirs, d.httparse, "{name}: httparse");
        let ours = match HeadParser::new(&Limits::default()).parse(d.input) {
            Ok(Some(_)) => None,
            Ok(None) => panic!("{name}: sansnet wants more"),
            Err(e) => Some(e),
        };
        assert_eq!(ours, d.sansnet, "{name}: sansnet");
        // The verdict does not depend on the split: the same byte by byte.
        let mut p = HeadParser::new(&Limits::default());
        let bytewise = (1..=d.input.len()).find_map(|i| match p.parse(&d.input[..i]) {
            Ok(None) => None,
            Ok(Some(_)) => Some(None),
            Err(e) => Some(Some(e)),
        });
        assert_eq!(bytewise, Some(ours), "{name}: byte by byte");
    }
}
