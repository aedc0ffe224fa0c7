//! `conns-loadgen`: many keep-alive HTTP/1.1 connections, each asking for
//! a page at a steady pace, on loopback; run by `benches/conns/run.sh`
//! (issue #17, "many connections").
//!
//! ```text
//! conns-loadgen --addr 127.0.0.1:PORT [--conns 10000] [--interval 1]
//!               [--duration 10] [--timeout 5] [--pid SERVER_PID]
//! ```
//!
//! Opens `conns` connections (at most 256 connects in flight, so that the
//! server's accept backlog is not what is measured) and holds them all
//! open. Then every connection sends `GET / HTTP/1.1` once per `interval`
//! seconds for `duration` seconds, the connections' first requests spread
//! evenly over the first interval, and waits for each whole response
//! (head, then `Content-Length` bytes) before its next tick. A response
//! that takes longer than `timeout`, a closed connection or a status other
//! than 200 is an error. With `--pid`, the server's resident memory is read
//! from `/proc` before the connections open, once they are all open and
//! idle, and at the end.
//!
//! Reports requests sent and answered, latency percentiles (p50, p99,
//! p99.9, max) and the memory figures, then one line `RESULT k=v ...`.
//! Only loopback addresses are accepted.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sansnet_benches::load::{percentile, write_all};
use tokio::net::TcpStream;
use tokio::time::Instant;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const USAGE: &str = "usage: conns-loadgen --addr 127.0.0.1:PORT [--conns 10000] [--interval 1] \
                     [--duration 10] [--timeout 5] [--pid SERVER_PID]";
/// Connects in flight at once (one batch).
const CONNECTING: usize = 256;
/// The largest response accepted (head and body).
const MAX_RESPONSE: usize = 64 * 1024;

#[derive(Clone, Debug)]
struct Opts {
    addr: SocketAddr,
    conns: usize,
    interval: Duration,
    duration: Duration,
    timeout: Duration,
    pid: Option<u32>,
}

fn parse_opts(args: &[String]) -> Res<Opts> {
    let mut o = Opts {
        addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
        conns: 10_000,
        interval: Duration::from_secs(1),
        duration: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        pid: None,
    };
    let secs = |key: &str, value: &str| -> Res<Duration> {
        let s: f64 = value.parse().map_err(|_| format!("bad value for {key}: {value:?}"))?;
        if !(s > 0.0 && s < 3600.0) {
            return Err(format!("{key} must be between 0 and 3600 seconds").into());
        }
        Ok(Duration::from_secs_f64(s))
    };
    let mut it = args.iter();
    while let Some(key) = it.next() {
        let value = it.next().ok_or_else(|| format!("{key} needs a value; {USAGE}"))?;
        match key.as_str() {
            "--addr" => o.addr = value.parse().map_err(|_| format!("bad address {value:?}"))?,
            "--conns" => o.conns = value.parse().map_err(|_| format!("bad count {value:?}"))?,
            "--interval" => o.interval = secs(key, value)?,
            "--duration" => o.duration = secs(key, value)?,
            "--timeout" => o.timeout = secs(key, value)?,
            "--pid" => o.pid = Some(value.parse().map_err(|_| format!("bad pid {value:?}"))?),
            _ => return Err(format!("unknown option {key}; {USAGE}").into()),
        }
    }
    if !o.addr.ip().is_loopback() {
        return Err("only loopback addresses are accepted".into());
    }
    if o.conns == 0 {
        return Err("--conns must be at least 1".into());
    }
    Ok(o)
}

/// The resident memory of process `pid`, in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The length of a whole response at the start of `buf` (head and
/// `Content-Length` body), `Ok(None)` while it is incomplete.
fn response_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_RESPONSE {
            Err("response head too large".into())
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "response head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 200 ") {
        return Err(format!("status line {status:?}"));
    }
    let mut body = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            body = Some(value.trim().parse::<usize>().map_err(|_| "bad Content-Length")?);
        }
    }
    let total = head_end + 4 + body.ok_or("no Content-Length")?;
    if total > MAX_RESPONSE {
        return Err("response too large".into());
    }
    Ok((buf.len() >= total).then_some(total))
}

/// What one connection saw.
#[derive(Default)]
struct Seen {
    sent: u64,
    latencies: Vec<u64>,
    error: Option<String>,
}

/// One request on `sock` and its whole response.
async fn exchange(sock: &TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> Result<(), String> {
    write_all(sock, request).await.map_err(|e| format!("write: {e}"))?;
    buf.clear();
    loop {
        if let Some(n) = response_len(buf)? {
            return if n == buf.len() { Ok(()) } else { Err("bytes after the response".into()) };
        }
        let mut chunk = [0u8; 4096];
        sock.readable().await.map_err(|e| format!("read: {e}"))?;
        match sock.try_read(&mut chunk) {
            Ok(0) => return Err("connection closed".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Connection `k`'s ticks from `start` until `end`.
async fn pace(sock: TcpStream, k: usize, o: Arc<Opts>, start: Instant, end: Instant) -> Seen {
    let mut seen = Seen::default();
    let request = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", o.addr);
    let mut buf = Vec::with_capacity(512);
    let mut tick = start + o.interval.mul_f64(k as f64 / o.conns as f64);
    while tick < end {
        tokio::time::sleep_until(tick).await;
        seen.sent += 1;
        let t0 = Instant::now();
        match tokio::time::timeout(o.timeout, exchange(&sock, &mut buf, request.as_bytes())).await {
            Ok(Ok(())) => seen.latencies.push(t0.elapsed().as_micros() as u64),
            Ok(Err(e)) => seen.error = Some(e),
            Err(_) => seen.error = Some("timed out".into()),
        }
        if seen.error.is_some() {
            break;
        }
        tick += o.interval;
    }
    seen
}

/// Nearest-rank percentile `q` (0..=1) of sorted microseconds, in ms.
fn pct_ms(sorted: &[u64], q: f64) -> f64 {
    percentile(sorted, q) as f64 / 1e3
}

async fn run(o: Opts) -> Res<()> {
    let o = Arc::new(o);
    let rss_before = o.pid.and_then(rss_kib);
    let opened = Instant::now();
    let mut socks = Vec::with_capacity(o.conns);
    while socks.len() < o.conns {
        let batch: Vec<_> = (socks.len()..o.conns.min(socks.len() + CONNECTING))
            .map(|_| {
                let addr = o.addr;
                tokio::spawn(async move {
                    let sock =
                        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
                            .await
                            .map_err(|_| {
                                io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
                            })??;
                    sock.set_nodelay(true)?;
                    io::Result::Ok(sock)
                })
            })
            .collect();
        for c in batch {
            socks.push(c.await?.map_err(|e| format!("connection {}: {e}", socks.len()))?);
        }
    }
    let connect_s = opened.elapsed().as_secs_f64();
    // Let the server settle with every connection open and idle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = o.pid.and_then(rss_kib);

    let start = Instant::now();
    let end = start + o.duration;
    let tasks: Vec<_> = socks
        .into_iter()
        .enumerate()
        .map(|(k, sock)| tokio::spawn(pace(sock, k, o.clone(), start, end)))
        .collect();
    let (mut sent, mut latencies, mut errors, mut first_error) = (0, Vec::new(), 0, None);
    for t in tasks {
        let seen = t.await?;
        sent += seen.sent;
        latencies.extend(seen.latencies);
        if let Some(e) = seen.error {
            errors += 1;
            first_error.get_or_insert(e);
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    let rss_end = o.pid.and_then(rss_kib);
    latencies.sort_unstable();
    let answered = latencies.len();
    let (p50, p99, p999) =
        (pct_ms(&latencies, 0.5), pct_ms(&latencies, 0.99), pct_ms(&latencies, 0.999));
    let max = latencies.last().map_or(0.0, |&us| us as f64 / 1e3);
    let kib = |v: Option<u64>| v.map_or("NA".to_string(), |k| k.to_string());
    let per_conn = match (rss_before, rss_idle) {
        (Some(a), Some(b)) => format!("{:.2}", b.saturating_sub(a) as f64 / o.conns as f64),
        _ => "NA".into(),
    };
    println!(
        "{} connections to {} opened in {connect_s:.2} s; {answered}/{sent} requests answered in \
         {wall_s:.1} s ({:.0}/s); latency p50 {p50:.2} ms p99 {p99:.2} ms p99.9 {p999:.2} ms max \
         {max:.2} ms; {errors} connections failed; server RSS {} KiB before, {} KiB idle with \
         every connection open ({per_conn} KiB each), {} KiB at the end",
        o.conns,
        o.addr,
        answered as f64 / wall_s,
        kib(rss_before),
        kib(rss_idle),
        kib(rss_end),
    );
    if let Some(e) = first_error {
        eprintln!("conns-loadgen: first error: {e}");
    }
    println!(
        "RESULT conns={} sent={sent} answered={answered} errors={errors} p50_ms={p50:.3} \
         p99_ms={p99:.3} p999_ms={p999:.3} max_ms={max:.3} connect_s={connect_s:.2} \
         rss_before_kib={} rss_idle_kib={} rss_end_kib={} kib_per_conn={per_conn}",
        o.conns,
        kib(rss_before),
        kib(rss_idle),
        kib(rss_end),
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_opts(&args).and_then(|o| {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(run(o))
    });
    if let Err(e) = result {
        eprintln!("conns-loadgen: {e}");
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_whole_only_with_their_body() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-type: text/html\r\n\r\nhello";
        for cut in 0..r.len() {
            assert_eq!(response_len(&r[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(response_len(r), Ok(Some(r.len())));
        assert!(response_len(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(response_len(b"HTTP/1.1 200 OK\r\n\r\n").is_err(), "no length");
        assert!(response_len(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n").is_err());
        assert!(response_len(&vec![b'x'; MAX_RESPONSE + 1]).is_err());
    }

    #[test]
    fn options_refuse_other_hosts() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(parse_opts(&args(&["--addr", "192.0.2.1:80"])).is_err());
        assert!(parse_opts(&args(&["--conns", "0"])).is_err());
        assert!(parse_opts(&args(&["--interval", "0"])).is_err());
        let o = parse_opts(&args(&["--addr", "[::1]:9", "--pid", "7"])).unwrap();
        assert_eq!((o.addr.port(), o.conns, o.pid), (9, 10_000, Some(7)));
    }
}
