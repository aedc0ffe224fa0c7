//! `ws-loadgen`: WebSocket fan-out of a chat room (PROTOCOLS.md §7), 1
//! sender to many receivers, on loopback; run by `benches/ws/fanout.sh`.
//!
//! ```text
//! ws-loadgen --addr 127.0.0.1:PORT [--receivers 100] [--messages 10000]
//!            [--rate 0] [--timeout 30] [--threads 1] [--tag r1-]
//! ```
//!
//! Opens `receivers` + 1 WebSocket connections to `ws://ADDR/ws` (a fixed
//! handshake: the RFC 6455 sample key, its accept value checked), each
//! joining as `{tag}uN` (the sender is `{tag}u0`), and waits until every
//! receiver has seen its own `joined` event. Then the sender sends
//! `messages` text messages `{"content":"lgmsg:SEQ:NS"}` (`rate` per
//! second, 0 = as fast as it can write) and each receiver counts the
//! messages carrying the marker until it has them all or `timeout` seconds
//! passed. Reports deliveries/s (all receivers, from the first send to the
//! last receipt), send-to-receipt latency percentiles and the loadgen's
//! own CPU use, then one line `RESULT k=v ...`.
//!
//! The client framing is written out here: client frames masked (one
//! write per message, as a browser sends them), server frames unmasked
//! (a masked one is an error), ping answered with pong, close ends the
//! receiver. Only loopback addresses are accepted.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sansnet_benches::load::{percentile, write_all};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const USAGE: &str = "usage: ws-loadgen --addr 127.0.0.1:PORT [--receivers 100] [--messages 10000] \
                     [--rate 0] [--timeout 30] [--threads 1] [--tag PREFIX]";
/// RFC 6455 §1.3's sample key and the accept value it must get back.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The marker a counted message carries: `lgmsg:SEQ:NS`.
const MARK: &[u8] = b"lgmsg:";
/// The largest handshake response or server message accepted.
const MAX_MESSAGE: usize = 1 << 20;

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

struct Opts {
    addr: SocketAddr,
    receivers: usize,
    messages: usize,
    rate: f64,
    timeout: Duration,
    threads: usize,
    tag: String,
}

fn parse_opts(args: &[String]) -> Res<Opts> {
    let mut o = Opts {
        addr: SocketAddr::from(([127, 0, 0, 1], 8889)),
        receivers: 100,
        messages: 10_000,
        rate: 0.0,
        timeout: Duration::from_secs(30),
        threads: 1,
        tag: String::new(),
    };
    let mut it = args.iter();
    while let Some(key) = it.next() {
        let value = it.next().ok_or_else(|| format!("{key} needs a value; {USAGE}"))?;
        let bad = |_| format!("bad value for {key}: {value:?}");
        match key.as_str() {
            "--addr" => o.addr = value.parse().map_err(|_| format!("bad address {value:?}"))?,
            "--receivers" => o.receivers = value.parse().map_err(bad)?,
            "--messages" => o.messages = value.parse().map_err(bad)?,
            "--rate" => o.rate = value.parse().map_err(|_| format!("bad rate {value:?}"))?,
            "--timeout" => {
                o.timeout = Duration::from_secs_f64(value.parse().map_err(|_| "bad timeout")?);
            }
            "--threads" => o.threads = value.parse().map_err(bad)?,
            "--tag" => o.tag.clone_from(value),
            _ => return Err(format!("unknown option {key}; {USAGE}").into()),
        }
    }
    if !o.addr.ip().is_loopback() {
        return Err(format!("refusing the non-loopback address {}", o.addr).into());
    }
    if o.receivers == 0 || o.messages == 0 || o.threads == 0 {
        return Err("--receivers, --messages and --threads must be > 0".into());
    }
    Ok(o)
}

// ------------------------------------------------------------- framing

/// One frame's header as the server sent it: opcode, FIN, where the
/// payload lies in the buffer and where the frame ends.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    fin: bool,
    opcode: u8,
    payload: std::ops::Range<usize>,
}

/// Parses the server frame at the start of `buf`: `Ok(None)` until it is
/// all there. Masked server frames and payloads over [`MAX_MESSAGE`] are
/// errors.
fn parse_frame(buf: &[u8]) -> Result<Option<Frame>, String> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b1 & 0x80 != 0 {
        return Err("a masked server frame".into());
    }
    let (len, head) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(be), 10)
        }
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    let len = usize::try_from(len).ok().filter(|&n| n <= MAX_MESSAGE);
    let len = len.ok_or_else(|| format!("a frame of more than {MAX_MESSAGE} bytes"))?;
    if buf.len() < head + len {
        return Ok(None);
    }
    Ok(Some(Frame { fin: b0 & 0x80 != 0, opcode: b0 & 0x0f, payload: head..head + len }))
}

/// A whole client frame (FIN set) of `opcode`, masked with `mask`.
fn client_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Masking keys: xorshift, seeded per connection.
struct Masks(u64);

impl Masks {
    fn next(&mut self) -> [u8; 4] {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let [a, b, c, d, ..] = self.0.to_le_bytes();
        [a, b, c, d]
    }
}

/// Finds `lgmsg:SEQ:NS` anywhere in a message (whatever its JSON layout).
fn parse_mark(msg: &[u8]) -> Option<(usize, u64)> {
    let at = msg.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let (seq, rest) = take_num(&msg[at..])?;
    let (ns, _) = take_num(rest.strip_prefix(b":")?)?;
    Some((usize::try_from(seq).ok()?, ns))
}

fn take_num(b: &[u8]) -> Option<(u64, &[u8])> {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let v = std::str::from_utf8(&b[..n]).ok()?.parse().ok()?;
    Some((v, &b[n..]))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// ------------------------------------------------------------ a client

/// One WebSocket client connection: the socket, bytes read (`buf[pos..end]`
/// not parsed yet), the message being reassembled, its masks.
struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    message: Vec<u8>,
    masks: Masks,
}

/// What [`Client::next_text`] found.
enum Got {
    Text,
    Closed,
}

impl Client {
    /// Connects, does the handshake and sends `{"username": name}`.
    async fn join(addr: SocketAddr, name: &str, seed: u64) -> Res<Client> {
        let sock = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connecting to {addr} timed out"))??;
        sock.set_nodelay(true)?;
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        write_all(&sock, request.as_bytes()).await?;
        let masks = Masks(seed | 1);
        let buf = vec![0; 64 * 1024];
        let mut c = Client { sock, buf, pos: 0, end: 0, message: Vec::new(), masks };
        let end = loop {
            if let Some(i) = c.buf[..c.end].windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if c.fill().await? == 0 {
                return Err(format!("no handshake response from {addr}").into());
            }
        };
        let head = String::from_utf8_lossy(&c.buf[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101 ") || !head.contains(ACCEPT) {
            return Err(format!("handshake refused: {head:?}").into());
        }
        c.pos = end;
        let json = format!("{{\"username\":\"{name}\"}}");
        c.send(TEXT, json.as_bytes()).await?;
        Ok(c)
    }

    /// One read appended to the buffer (after dropping what was parsed);
    /// 0 at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.end == self.buf.len() {
            if self.end > MAX_MESSAGE {
                return Err(io::Error::other("a frame or head over the limit"));
            }
            self.buf.resize(self.end * 2, 0);
        }
        loop {
            self.sock.readable().await?;
            match self.sock.try_read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let frame = client_frame(opcode, payload, self.masks.next());
        write_all(&self.sock, &frame).await
    }

    /// Reads up to the next whole text message, left in `self.message`;
    /// answers pings on the way.
    async fn next_text(&mut self) -> Res<Got> {
        self.message.clear();
        loop {
            while let Some(f) = parse_frame(&self.buf[self.pos..self.end])? {
                let payload = self.pos + f.payload.start..self.pos + f.payload.end;
                self.pos = payload.end;
                match f.opcode {
                    PING => {
                        let pong = client_frame(PONG, &self.buf[payload], self.masks.next());
                        write_all(&self.sock, &pong).await?;
                    }
                    PONG => {}
                    CLOSE => return Ok(Got::Closed),
                    0x0..=0x2 => {
                        self.message.extend_from_slice(&self.buf[payload]);
                        if self.message.len() > MAX_MESSAGE {
                            return Err("a message over the limit".into());
                        }
                        if f.fin {
                            return Ok(Got::Text);
                        }
                    }
                    op => return Err(format!("unexpected opcode {op:#x}").into()),
                }
            }
            if self.fill().await? == 0 {
                return Ok(Got::Closed);
            }
        }
    }

    /// Reads until the `joined` event for `name`.
    async fn await_joined(&mut self, name: &str) -> Res<()> {
        let want = format!("\"username\":\"{name}\"");
        loop {
            match self.next_text().await? {
                Got::Closed => return Err(format!("{name}: closed before joining").into()),
                Got::Text
                    if contains(&self.message, b"\"joined\"")
                        && contains(&self.message, want.as_bytes()) =>
                {
                    return Ok(());
                }
                Got::Text if contains(&self.message, b"\"error\"") => {
                    let text = String::from_utf8_lossy(&self.message);
                    return Err(format!("{name}: {text}").into());
                }
                Got::Text => {}
            }
        }
    }
}

// ------------------------------------------------------------- the run

/// What one receiver saw.
struct Seen {
    latencies: Vec<u64>,
    dups: u64,
    last_ns: u64,
}

/// The CPU time this process has used (user + system), in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Nearest-rank percentile `q` (0..=1) of sorted nanoseconds, in ms.
fn pct_ms(sorted: &[u64], q: f64) -> f64 {
    percentile(sorted, q) as f64 / 1e6
}

async fn receive(mut c: Client, k: usize, base: Instant) -> Res<Seen> {
    let mut seen = vec![false; k];
    let mut s = Seen { latencies: Vec::with_capacity(k), dups: 0, last_ns: 0 };
    while s.latencies.len() < k {
        if let Got::Closed = c.next_text().await? {
            break;
        }
        let now = base.elapsed().as_nanos() as u64;
        if let Some((seq, sent)) = parse_mark(&c.message).filter(|&(seq, _)| seq < k) {
            if seen[seq] {
                s.dups += 1;
            } else {
                seen[seq] = true;
                s.latencies.push(now.saturating_sub(sent));
                s.last_ns = now;
            }
        }
    }
    Ok(s)
}

async fn run(o: Opts) -> Res<()> {
    let base = Instant::now();
    let k = o.messages;
    let joins: Vec<JoinHandle<Res<Client>>> = (0..=o.receivers)
        .map(|i| {
            let name = format!("{}u{i}", o.tag);
            tokio::spawn(async move {
                let mut c = Client::join(o.addr, &name, 0x9e37_79b9 + i as u64).await?;
                c.await_joined(&name).await?;
                Ok(c)
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(joins.len());
    for j in joins {
        clients.push(tokio::time::timeout(o.timeout, j).await.map_err(|_| "joining timed out")???);
    }
    let mut sender = clients.remove(0);
    let deadline = tokio::time::Instant::from_std(base + o.timeout);
    let receivers: Vec<JoinHandle<Option<Res<Seen>>>> = clients
        .into_iter()
        .map(|c| {
            tokio::spawn(async move {
                tokio::time::timeout_at(deadline, receive(c, k, base)).await.ok()
            })
        })
        .collect();

    let cpu_before = cpu_ticks();
    let started = Instant::now();
    let start_ns = base.elapsed().as_nanos() as u64;
    let mut sent = 0usize;
    for seq in 0..k {
        if o.rate > 0.0 {
            let at = started + Duration::from_secs_f64(seq as f64 / o.rate);
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
        let ns = base.elapsed().as_nanos() as u64;
        let json = format!("{{\"content\":\"lgmsg:{seq}:{ns}\"}}");
        match tokio::time::timeout_at(deadline, sender.send(TEXT, json.as_bytes())).await {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    let send_s = started.elapsed().as_secs_f64();
    // The sender's own events (joins) are left unread: a few KB.

    let (mut latencies, mut dups, mut last_ns, mut complete) = (Vec::new(), 0, 0, 0);
    let mut errors = Vec::new();
    for r in receivers {
        match r.await? {
            Some(Ok(s)) => {
                complete += usize::from(s.latencies.len() == k);
                dups += s.dups;
                last_ns = last_ns.max(s.last_ns);
                latencies.extend(s.latencies);
            }
            Some(Err(e)) => errors.push(e.to_string()),
            None => errors.push("timed out".into()),
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_pct = match (cpu_before, cpu_ticks()) {
        (Some(a), Some(b)) => (b - a) as f64 / 100.0 / wall_s * 100.0, // 100 ticks/s
        _ => f64::NAN,
    };
    drop(sender);
    let n = latencies.len();
    let window_s = last_ns.saturating_sub(start_ns) as f64 / 1e9;
    let dps = if window_s > 0.0 { n as f64 / window_s } else { 0.0 };
    latencies.sort_unstable();
    let (p50, p99) = (pct_ms(&latencies, 0.5), pct_ms(&latencies, 0.99));
    let max = latencies.last().map_or(0.0, |&ns| ns as f64 / 1e6);
    let r = o.receivers;
    let pace = if o.rate > 0.0 { format!(" at {} msg/s", o.rate) } else { " unpaced".into() };
    println!(
        "ws fan-out {}: 1 sender -> {r} receivers, {sent}/{k} msgs{pace} sent in {send_s:.3} s; \
         {n}/{} deliveries in {window_s:.3} s = {dps:.0}/s; latency p50 {p50:.2} ms p99 {p99:.2} ms \
         max {max:.2} ms; complete {complete}/{r}, dups {dups}, errors {}; loadgen cpu {cpu_pct:.0}%",
        o.addr,
        k * r,
        errors.len(),
    );
    if let Some(e) = errors.first() {
        eprintln!("ws-loadgen: first receiver error: {e}");
    }
    println!(
        "RESULT deliveries_per_s={dps:.0} deliveries={n} expected={} window_s={window_s:.3} \
         sent={sent} p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3} complete={complete} \
         dups={dups} errors={} cpu_pct={cpu_pct:.0}",
        k * r,
        errors.len(),
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_opts(&args).and_then(|o| {
        let rt = if o.threads == 1 {
            tokio::runtime::Builder::new_current_thread().enable_all().build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(o.threads)
                .enable_all()
                .build()?
        };
        rt.block_on(run(o))
    });
    if let Err(e) = result {
        eprintln!("ws-loadgen: {e}");
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unmasks a client frame the way a server does.
    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let (len, at) = match frame[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
            127 => {
                (usize::try_from(u64::from_be_bytes(frame[2..10].try_into().unwrap())).unwrap(), 10)
            }
            n => (usize::from(n), 2),
        };
        assert_eq!(frame[1] & 0x80, 0x80, "client frames are masked");
        let mask = &frame[at..at + 4];
        let body = &frame[at + 4..];
        assert_eq!(body.len(), len);
        (frame[0], body.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m).collect())
    }

    #[test]
    fn client_frames_are_masked_with_every_length_form() {
        for len in [0, 1, 125, 126, 0xffff, 0x10000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = client_frame(TEXT, &payload, [1, 2, 3, 4]);
            assert_eq!(unmask(&frame), (0x81, payload), "length {len}");
        }
    }

    #[test]
    fn server_frames_parse_when_whole() {
        let mut wire = vec![0x81, 5];
        wire.extend_from_slice(b"hello");
        for cut in 0..wire.len() {
            assert_eq!(parse_frame(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(parse_frame(&wire), Ok(Some(Frame { fin: true, opcode: 1, payload: 2..7 })));
        let mut long = vec![0x01, 126, 0x01, 0x00];
        long.resize(4 + 256, b'x');
        assert_eq!(parse_frame(&long), Ok(Some(Frame { fin: false, opcode: 1, payload: 4..260 })));
        let wide = [0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_frame(&wide), Ok(Some(Frame { fin: true, opcode: 2, payload: 10..10 })));
        assert!(parse_frame(&[0x81, 0x85, 0, 0, 0, 0]).is_err(), "masked");
        assert!(parse_frame(&[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]).is_err(), "too large");
    }

    #[test]
    fn marks_parse_in_any_layout() {
        let event = br#"{"type":"message","from":"u0","content":"lgmsg:12:345"}"#;
        assert_eq!(parse_mark(event), Some((12, 345)));
        assert_eq!(parse_mark(br#"{"type":"joined","username":"u3"}"#), None);
        assert_eq!(parse_mark(b"lgmsg:x:1"), None);
        assert_eq!(parse_mark(b"lgmsg:1:"), None);
    }

    #[test]
    fn options_refuse_other_hosts() {
        let args = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(parse_opts(&args(&["--addr", "192.0.2.1:80"])).is_err());
        assert!(parse_opts(&args(&["--receivers", "0"])).is_err());
        let o = parse_opts(&args(&["--addr", "127.0.0.1:9", "--tag", "r2-"])).unwrap();
        assert_eq!((o.addr.port(), o.tag.as_str(), o.receivers), (9, "r2-", 100));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|ms| ms * 1_000_000).collect();
        assert_eq!(pct_ms(&v, 0.5), 50.0);
        assert_eq!(pct_ms(&v, 0.99), 99.0);
        assert_eq!(pct_ms(&[], 0.5), 0.0);
    }
}
