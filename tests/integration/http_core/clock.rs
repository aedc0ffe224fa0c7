//! A client and the server on a simulated clock (STYLE.md habit 10): time
//! only moves when the test steps `now` to the next client action or to the
//! server's `poll_timeout`, so minutes of protocol time take microseconds.

use std::collections::VecDeque;
use std::time::Duration;

use sansnet_proto::http::{Error, Event, Limits};
use sansnet_proto::{Instant, Session};

use super::harness::{Driver, Norm, Response, parse_responses};

const T0: Instant = Instant::from_nanos(1_000_000_000);

/// A scripted client: writes `bytes` at `at`, and reads what comes back.
#[derive(Clone)]
struct Client {
    script: VecDeque<(Instant, Vec<u8>)>,
}

impl Client {
    fn new() -> Client {
        Client { script: VecDeque::new() }
    }
    fn send_at(mut self, at: Duration, bytes: &[u8]) -> Client {
        self.script.push_back((T0 + at, bytes.to_vec()));
        self
    }
    /// One byte per `every`, from `start`.
    fn trickle(mut self, start: Duration, every: Duration, bytes: &[u8]) -> Client {
        for (i, &b) in bytes.iter().enumerate() {
            self.script.push_back((T0 + start + every * i as u32, vec![b]));
        }
        self
    }
}

fn write(d: &mut Driver, client: &mut Client, at: Instant, delivered: &mut usize) {
    let (_, bytes) = client.script.pop_front().expect("peeked");
    d.now = d.now.max(at);
    *delivered += bytes.len();
    d.feed(&bytes);
}

/// What happened on the connection.
struct Outcome {
    driver: Driver,
    /// When the server finished (closed), if it did.
    closed_at: Option<Instant>,
    /// How many bytes the client got to write before the close.
    delivered: usize,
    responses: Vec<Response>,
    /// Every instant at which a timer was handled.
    timeouts: Vec<Instant>,
}

/// Runs client and server until the server closes or nothing is left to
/// happen. When a client write and a deadline fall at the same instant, the
/// deadline goes first (the server cannot have seen a byte sent at the
/// instant its timer fired).
fn simulate(limits: Limits, mut client: Client) -> Outcome {
    let mut d = Driver::new(limits, T0);
    let mut delivered = 0;
    let mut timeouts = Vec::new();
    while !d.conn.is_finished() {
        let next_write = client.script.front().map(|(at, _)| *at);
        let next_timer = d.conn.poll_timeout();
        match (next_write, next_timer) {
            (None, None) => break,
            (Some(at), Some(deadline)) if at < deadline => {
                write(&mut d, &mut client, at, &mut delivered);
            }
            (Some(at), None) => write(&mut d, &mut client, at, &mut delivered),
            (_, Some(deadline)) => {
                timeouts.push(deadline);
                d.tick(deadline);
            }
        }
    }
    let closed_at = d.conn.is_finished().then_some(d.now);
    let responses = parse_responses(&d.wire);
    Outcome { driver: d, closed_at, delivered, responses, timeouts }
}

fn assert_408(o: &Outcome) {
    let last = o.responses.last().expect("a response");
    assert_eq!(last.status, 408);
    assert_eq!(last.reason, "Request Timeout");
    assert_eq!(last.header("connection"), Some(&b"close"[..]));
    let text = String::from_utf8_lossy(&o.driver.wire);
    assert!(text.contains("HTTP/1.1 408 Request Timeout\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(o.driver.conn.is_finished());
    assert_eq!(o.driver.norm().last(), Some(&Norm::Rejected(Error::Timeout)));
    assert_eq!(o.driver.conn.poll_timeout(), None, "no timer after the close");
}

#[test]
fn partial_head_times_out_with_408() {
    let limits = Limits::default();
    // Before any byte: the idle timer (closes silently).
    let fresh = sansnet_proto::http::ServerConn::new(limits, T0);
    assert_eq!(fresh.poll_timeout(), Some(T0 + limits.idle_timeout));

    let o = simulate(limits, Client::new().send_at(Duration::ZERO, b"GET /slow HTTP/1.1\r\nHo"));
    assert_408(&o);
    assert_eq!(o.closed_at, Some(T0 + limits.header_timeout));
    assert_eq!(o.timeouts, vec![T0 + limits.header_timeout]);
    assert!(o.driver.events.iter().all(|e| matches!(e, Event::Rejected(_))));
}

#[test]
fn handle_timeout_early_or_twice_is_harmless() {
    let limits = Limits::default();
    let mut d = Driver::new(limits, T0);
    d.feed(b"GET / HTTP/1.1\r\n");
    let deadline = d.conn.poll_timeout().expect("header timer");
    assert_eq!(deadline, T0 + limits.header_timeout);
    d.tick(Instant::from_nanos(deadline.as_nanos() - 1));
    assert!(d.wire.is_empty() && !d.conn.is_finished(), "fired early");
    assert_eq!(d.conn.poll_timeout(), Some(deadline));
    d.tick(deadline);
    d.tick(deadline);
    d.tick(deadline + Duration::from_secs(3600));
    assert_eq!(parse_responses(&d.wire).len(), 1, "one 408, not two");
    assert_eq!(d.norm(), vec![Norm::Rejected(Error::Timeout)]);
}

#[test]
fn slowloris_gets_408_at_the_header_timeout() {
    let limits = Limits::default();
    let head = b"GET /a-long-target-sent-very-slowly HTTP/1.1\r\nHost: victim.example\r\n\r\n";
    // One byte per simulated second: the head would take 71 s.
    let o = simulate(limits, Client::new().trickle(Duration::ZERO, Duration::from_secs(1), head));
    assert_408(&o);
    // The header timer runs from the first byte and is not pushed back by
    // later ones: 408 at exactly 10 s, after bytes at 0 s..=9 s.
    assert_eq!(o.closed_at, Some(T0 + limits.header_timeout));
    assert_eq!(o.delivered, 10);
    assert_eq!(o.timeouts, vec![T0 + limits.header_timeout]);
    assert_eq!(o.driver.conn.requests(), 0);

    // The same head at one byte per 100 ms arrives in 7.1 s: answered with
    // a 200, then the keep-alive connection idles out silently.
    let o =
        simulate(limits, Client::new().trickle(Duration::ZERO, Duration::from_millis(100), head));
    assert_eq!(o.delivered, head.len());
    assert_eq!(o.responses.len(), 1);
    assert_eq!(o.responses[0].status, 200);
    let last_byte = T0 + Duration::from_millis(100) * (head.len() as u32 - 1);
    assert_eq!(o.timeouts, vec![last_byte + limits.idle_timeout]);
    assert_eq!(o.closed_at, Some(last_byte + limits.idle_timeout));
    assert!(!o.driver.norm().iter().any(|e| matches!(e, Norm::Rejected(_))));
}

#[test]
fn slowloris_after_a_request_uses_a_fresh_header_timer() {
    // A keep-alive connection: the first request is answered, the second
    // head then trickles. Its header timer starts at its first byte.
    let limits = Limits::default();
    let client =
        Client::new().send_at(Duration::ZERO, b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n").trickle(
            Duration::from_secs(30),
            Duration::from_secs(1),
            b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n",
        );
    let o = simulate(limits, client);
    assert_eq!(o.responses[0].status, 200);
    assert_408(&o);
    assert_eq!(o.closed_at, Some(T0 + Duration::from_secs(30) + limits.header_timeout));
    assert_eq!(o.delivered, 32 + 10);
}

#[test]
fn stalled_body_gets_408_at_the_idle_timeout() {
    let limits = Limits::default();
    let head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
    // The head and 10 bytes at once, then silence.
    let mut first = head.to_vec();
    first.extend_from_slice(&[b'a'; 10]);
    let o = simulate(limits, Client::new().send_at(Duration::ZERO, &first));
    assert_408(&o);
    assert_eq!(o.closed_at, Some(T0 + limits.idle_timeout));
    let data: usize =
        o.driver.events.iter().map(|e| if let Event::Data(d) = e { d.len() } else { 0 }).sum();
    assert_eq!(data, 10);

    // Body bytes every 30 s keep it alive (each arrival re-arms the idle
    // timer); the stall after the last one is what times out, given a
    // body timeout longer than all that.
    let mut client = Client::new().send_at(Duration::ZERO, head);
    for i in 1..=5u32 {
        client = client.send_at(Duration::from_secs(30) * i, &[b'b'; 10]);
    }
    let patient = limits.with_body_timeout(Duration::from_secs(3600));
    let o = simulate(patient, client.clone());
    assert_408(&o);
    assert_eq!(o.closed_at, Some(T0 + Duration::from_secs(150) + limits.idle_timeout));
    assert_eq!(o.delivered, head.len() + 50);
    // With the default body timeout, the trickle ends 60 s after the head.
    let o = simulate(limits, client);
    assert_408(&o);
    assert_eq!(o.closed_at, Some(T0 + limits.body_timeout));

    // A chunked body stalled in the middle of a chunk.
    let chunked =
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-part";
    let o = simulate(limits, Client::new().send_at(Duration::from_secs(5), chunked));
    assert_408(&o);
    assert_eq!(o.closed_at, Some(T0 + Duration::from_secs(5) + limits.idle_timeout));
}

#[test]
fn idle_keep_alive_connection_closes_silently() {
    let limits = Limits::default().with_idle_timeout(Duration::from_secs(5));
    let o = simulate(
        limits,
        Client::new().send_at(Duration::from_secs(1), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    // One 200, then a silent close (no 408) when the idle timer fires.
    assert_eq!(o.responses.len(), 1);
    assert_eq!(o.responses[0].status, 200);
    assert_eq!(o.closed_at, Some(T0 + Duration::from_secs(1) + limits.idle_timeout));
    assert!(!o.driver.norm().iter().any(|e| matches!(e, Norm::Rejected(_))));
}
