//! One message, one reply: the reference TCP and UDP clients behind
//! `sansnet send` (PROTOCOLS.md §4). Blocking calls on the caller's thread,
//! whatever the runtime.
//!
//! When is a TCP reply complete? The reference client sends, then does one
//! `recv`; that loses the rest of a reply that arrives in pieces.
//! [`send_tcp`] reads until the first of: the peer closes the connection;
//! `quiet` passes without a byte, once at least one byte arrived; `timeout`
//! has passed since the connection was made. The reply is copied out byte
//! for byte, as it arrives, with nothing added (as `nc` does).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use sansnet_net::{Endpoint, SocketOptions, Stream};

use crate::tls::ClientTls;
use socket2::SockRef;

/// Why no reply was had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing came (or the connect did not finish) within the timeout:
    /// `timed out after SECS s`.
    #[error("timed out after {} s", .0.as_secs_f64())]
    TimedOut(Duration),
    /// The peer closed without a byte of reply.
    #[error("{0} closed the connection without a reply")]
    NoReply(String),
    /// A socket call failed: what was being done, and the error.
    #[error("{0}: {1}")]
    Io(String, io::Error),
    /// The TLS handshake failed (the text names the cause).
    #[error("{0}")]
    Tls(io::Error),
    /// Writing the reply out failed.
    #[error("output: {0}")]
    Output(io::Error),
    /// Where to send, or what, is not given right.
    #[error("{0}")]
    Target(String),
}

/// Where `sansnet send` sends and what, from its ADDR, MESSAGE and
/// `--unix PATH`: with `unix`, `addr` is the message (MESSAGE alone);
/// otherwise `addr` is `HOST:PORT`, `unix:PATH` or any path with a `/`.
pub fn target<'a>(
    unix: Option<&Path>,
    addr: &'a str,
    message: Option<&'a str>,
) -> Result<(Endpoint, &'a str), Error> {
    let bad = |why: String| Err(Error::Target(why));
    match (unix, message) {
        (Some(path), None) => Ok((Endpoint::Unix(path.to_owned()), addr)),
        (Some(_), Some(_)) => bad("with --unix PATH, give MESSAGE alone (no ADDR)".into()),
        (None, None) => bad("missing MESSAGE: sansnet send ADDR MESSAGE".into()),
        (None, Some(message)) if addr.contains('/') && !addr.starts_with("unix:") => {
            Ok((Endpoint::Unix(addr.into()), message))
        }
        (None, Some(message)) => match addr.parse() {
            Ok(endpoint) => Ok((endpoint, message)),
            Err(e) => bad(format!("invalid address {addr:?} (want HOST:PORT or unix:PATH): {e}")),
        },
    }
}

/// How [`send`] reaches its peer.
#[derive(Clone, Copy, Debug)]
pub enum Via<'a> {
    /// A connection (over TLS with `tls`); the reply is complete after
    /// `quiet` without a byte.
    Tcp {
        /// See [`send_tcp`].
        quiet: Duration,
        /// See [`send_tcp`].
        tls: Option<&'a ClientTls>,
    },
    /// One datagram each way ([`send_udp`]).
    Udp,
}

/// Sends `message` to `endpoint` as `via` says and copies the reply to
/// `out`: [`send_tcp`] or [`send_udp`].
pub fn send(
    endpoint: &Endpoint,
    message: &[u8],
    opts: &SocketOptions,
    timeout: Duration,
    via: Via<'_>,
    out: &mut dyn Write,
) -> Result<usize, Error> {
    match (via, endpoint) {
        (Via::Tcp { quiet, tls }, _) => send_tcp(endpoint, message, opts, timeout, quiet, out, tls),
        (Via::Udp, Endpoint::Tcp(addr)) => send_udp(*addr, message, opts, timeout, out),
        (Via::Udp, Endpoint::Unix(_)) => {
            Err(Error::Target("--udp sends to an IP address (HOST:PORT), not a Unix socket".into()))
        }
    }
}

/// Connects to `endpoint` (over TLS with `tls`), sends `message` and copies the reply to `out`
/// as it arrives, until the peer closes, or `quiet` passes without a byte
/// once one came, or `timeout` since the connect. Returns the bytes of the
/// reply; nothing at all in time is [`Error::TimedOut`].
pub fn send_tcp(
    endpoint: &Endpoint,
    message: &[u8],
    opts: &SocketOptions,
    timeout: Duration,
    quiet: Duration,
    out: &mut dyn Write,
    tls: Option<&ClientTls>,
) -> Result<usize, Error> {
    let start = Instant::now();
    let mut stream = match opts.connect(endpoint, Some(timeout)) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(Error::TimedOut(timeout)),
        Err(e) => return Err(Error::Io(format!("cannot connect to {endpoint}"), e)),
    };

    let options = match &stream {
        Stream::Tcp(s) => SocketOptions::effective(&SockRef::from(s)),
        Stream::Unix(s) => SocketOptions::effective(&SockRef::from(s)),
    };
    tracing::info!("socket options on the connection to {endpoint}: {options}");
    let mut bridge = None;
    if let Some(tls) = tls {
        let (plain, b) = tls.bridge(stream).map_err(Error::Tls)?;
        (stream, bridge) = (plain, Some(b));
    }
    let socket = |e| Error::Io("socket".into(), e);
    let deadline = start + timeout;
    // Write from another thread while this one reads, so that a long
    // message and its echo cannot fill both ways' buffers and stall.
    let writer = {
        let mut w = stream.try_clone().map_err(socket)?;
        w.set_write_timeout(Some(timeout)).map_err(socket)?;
        let message = message.to_vec();
        thread::spawn(move || w.write_all(&message))
    };
    let mut reader = &stream;
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0usize;
    let mut failure: Option<io::Error> = None;
    loop {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        let wait = if received == 0 { left } else { left.min(quiet) };
        if wait.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(wait)).map_err(socket)?;
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                received += n;
                out.write_all(&buf[..n]).and_then(|()| out.flush()).map_err(Error::Output)?;
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if received > 0 {
                    break; // quiet for long enough: the reply is complete
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let written = writer.join().unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
    tracing::debug!("received {received} bytes from {endpoint}");
    if let Some(e) = bridge.and_then(|b| b.failure()) {
        return Err(Error::Tls(io::Error::other(e)));
    }
    if received > 0 {
        return Ok(received);
    }
    if let Some(e) = failure {
        return Err(Error::Io(format!("reading from {endpoint}"), e));
    }
    if let Err(e) = written {
        return Err(Error::Io(format!("sending to {endpoint}"), e));
    }
    if Instant::now() >= deadline {
        return Err(Error::TimedOut(timeout));
    }
    Err(Error::NoReply(endpoint.to_string()))
}

/// Sends `message` as one datagram to `addr` and copies the first datagram
/// that comes back from `addr` to `out`, within `timeout`
/// ([`Error::TimedOut`]). Returns its length.
pub fn send_udp(
    addr: SocketAddr,
    message: &[u8],
    opts: &SocketOptions,
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<usize, Error> {
    let udp = |e| Error::Io("udp socket".into(), e);
    let any: IpAddr =
        if addr.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    let socket = sansnet_net::bind_udp(SocketAddr::new(any, 0), opts).map_err(udp)?;
    let sock = SockRef::from(&socket);
    tracing::info!(
        "udp socket options: recv_buffer={:?} send_buffer={:?}",
        sock.recv_buffer_size().ok(),
        sock.send_buffer_size().ok()
    );
    let deadline = Instant::now() + timeout;
    // Unconnected, like the reference client: an ICMP "port unreachable"
    // is not reported, so a port nobody answers on times out.
    socket.send_to(message, addr).map_err(|e| Error::Io(format!("sending to udp {addr}"), e))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::TimedOut(timeout));
        }
        socket.set_read_timeout(Some(left)).map_err(udp)?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == addr => {
                out.write_all(&buf[..n]).and_then(|()| out.flush()).map_err(Error::Output)?;
                return Ok(n);
            }
            Ok((_, from)) => tracing::debug!("ignoring a datagram from {from}"),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(Error::Io(format!("receiving from udp {addr}"), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_out_text() {
        assert_eq!(Error::TimedOut(Duration::from_secs(5)).to_string(), "timed out after 5 s");
        assert_eq!(
            Error::TimedOut(Duration::from_millis(500)).to_string(),
            "timed out after 0.5 s"
        );
    }

    #[test]
    fn a_reply_and_a_silence() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = Endpoint::Tcp(server.local_addr().expect("addr"));
        let echo = thread::spawn(move || {
            let (mut c, _) = server.accept().expect("accept");
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).expect("read");
            c.write_all(&buf).expect("write");
            // Silent from now on: the quiet period ends the reply.
            thread::sleep(Duration::from_millis(300));
        });
        let mut out = Vec::new();
        let opts = SocketOptions::default();
        let (t, quiet) = (Duration::from_secs(5), Duration::from_millis(50));
        assert_eq!(
            send_tcp(&endpoint, b"hello", &opts, t, quiet, &mut out, None).expect("reply"),
            5
        );
        assert_eq!(out, b"hello");
        echo.join().expect("join");
    }
}
