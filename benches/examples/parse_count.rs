//! `parse_count`: a fixed number of request-head parses for `valgrind
//! --tool=callgrind`, sansnet's [`HeadParser`] beside httparse on the
//! inputs of the `http_parse` bench (instruction counts repeat where
//! wall-clock timings on a shared machine do not). Only `measured` counts:
//!
//! ```text
//! cargo build --profile bench -p sansnet-benches --example parse_count
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured*' \
//!     target/release/examples/parse_count sansnet req 1000
//! ```
//!
//! Then instructions per parse = the total `Ir` / N (`callgrind_annotate`
//! shows where they go). Parsers: `sansnet`, `httparse`. Inputs: `req`
//! (720 B, httparse's REQ), `short` (68 B, REQ_SHORT), `bytewise` (REQ one
//! byte per call, as in `bytewise_req`: sansnet's one incremental parser
//! over the growing buffer, httparse re-parsing each prefix).
//!
//! `parse_count ab req|short [ROUNDS]` times both parsers instead, in
//! alternating slices of 20,000 parses (each round in the other order), so
//! that a VM whose speed drifts from one minute to the next slows both
//! alike: it prints ns per parse for each and the median of the rounds'
//! ratios (httparse's time over sansnet's: above 1, sansnet is faster).
//!
//! On 2026-12-06 (2-vCPU AMD EPYC, N = 2000), instructions per parse:
//! REQ 3,902 before the scanning work of issue #17 item 6 and 3,197 after
//! (httparse 2,672), REQ_SHORT 1,068 and 934 (httparse 765), bytewise
//! 31,921 and 31,306 (httparse 1,135,825).
//!
//! On 2026-12-07 (2-vCPU AMD EPYC, shared; N = 2000, bytewise N = 200, httparse
//! 20), after the second pass (fast paths for a whole request-line and
//! whole field lines, framing names inline, Host's plain case by SIMD over
//! the buffer, the stop of a SIMD step found by SWAR): REQ 3,200 -> 2,566
//! (httparse 2,678), REQ_SHORT 937 -> 669 (httparse 771), bytewise
//! 31,312 -> 31,473 (httparse 1,135,848); this harness's counts, both
//! parsers measured the same way. `ab` (shared VM, 200 rounds; the builds
//! before and after this pass run in turn, three times): REQ_SHORT 0.90
//! to 0.91 before, 1.23 to 1.29 after; REQ 1.02 before, 1.40 to 1.46
//! after (httparse's time over sansnet's).

use std::hint::black_box;
use std::time::Instant;

use httparse::{EMPTY_HEADER, Header, Request, Status};
use sansnet_benches::{REQ, REQ_SHORT};
use sansnet_proto::http::{HeadParser, Limits};

fn sansnet(input: &'static [u8], bytewise: bool, n: usize) {
    let mut parser = HeadParser::new(&Limits::default());
    measured(n, || sansnet_once(&mut parser, input, bytewise));
}

fn sansnet_once(parser: &mut HeadParser, input: &'static [u8], bytewise: bool) {
    {
        if bytewise {
            for i in 1..input.len() {
                assert_eq!(parser.parse(black_box(&input[..i])), Ok(None));
            }
        }
        let done = parser.parse(black_box(input));
        parser.reset();
        assert_eq!(done, Ok(Some(input.len())));
    }
}

fn httparse(input: &'static [u8], bytewise: bool, n: usize) {
    let mut headers: [Header<'static>; 16] = [EMPTY_HEADER; 16];
    measured(n, || httparse_once(&mut headers, input, bytewise));
}

fn httparse_once(headers: &mut [Header<'static>; 16], input: &'static [u8], bytewise: bool) {
    {
        if bytewise {
            for i in 1..input.len() {
                let mut req = Request::new(&mut headers[..]);
                assert_eq!(req.parse(black_box(&input[..i])), Ok(Status::Partial));
            }
        }
        let mut req = Request::new(&mut headers[..]);
        assert_eq!(req.parse(black_box(input)), Ok(Status::Complete(input.len())));
    }
}

/// Both parsers timed in alternating slices (see the module docs).
fn ab(input: &'static [u8], rounds: usize) {
    const SLICE: u32 = 20_000;
    let mut parser = HeadParser::new(&Limits::default());
    let mut headers: [Header<'static>; 16] = [EMPTY_HEADER; 16];
    let mut time_ours = || {
        let t = Instant::now();
        (0..SLICE).for_each(|_| sansnet_once(&mut parser, input, false));
        t.elapsed().as_secs_f64() * 1e9 / f64::from(SLICE)
    };
    let mut time_theirs = || {
        let t = Instant::now();
        (0..SLICE).for_each(|_| httparse_once(&mut headers, input, false));
        t.elapsed().as_secs_f64() * 1e9 / f64::from(SLICE)
    };
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (o, t) = if round % 2 == 0 {
            let o = time_ours();
            (o, time_theirs())
        } else {
            let t = time_theirs();
            (time_ours(), t)
        };
        ours.push(o);
        theirs.push(t);
        ratios.push(t / o);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "sansnet {:.1} ns, httparse {:.1} ns a parse (medians of {rounds} rounds); httparse/sansnet {:.3}",
        median(&mut ours),
        median(&mut theirs),
        median(&mut ratios)
    );
}

/// Runs `f` `n` times: the part of the run that counts.
#[inline(never)]
fn measured(n: usize, mut f: impl FnMut()) {
    for _ in 0..n {
        f();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let parser = args.next().unwrap_or_else(|| "sansnet".into());
    let input = args.next().unwrap_or_else(|| "req".into());
    let n = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let (bytes, bytewise) = match input.as_str() {
        "req" => (REQ, false),
        "short" => (REQ_SHORT, false),
        "bytewise" => (REQ, true),
        other => return eprintln!("unknown input {other}: req, short, bytewise"),
    };
    if parser == "ab" {
        let rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
        return ab(if input == "short" { REQ_SHORT } else { REQ }, rounds);
    }
    match parser.as_str() {
        "sansnet" => sansnet(bytes, bytewise, n),
        "httparse" => httparse(bytes, bytewise, n),
        other => return eprintln!("unknown parser {other}: sansnet, httparse"),
    }
    println!("{n} parses of {input} by {parser}");
}
