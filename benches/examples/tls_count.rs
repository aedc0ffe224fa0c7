//! `tls_count`: a fixed amount of TLS work for `valgrind --tool=callgrind`
//! (instruction counts repeat where wall-clock timings on a shared machine
//! do not). Run two counts and subtract, so that the setup (certificates,
//! handshake) drops out:
//!
//! ```text
//! cargo build --profile bench -p sansnet-benches --example tls_count
//! valgrind --tool=callgrind target/release/examples/tls_count https 1000
//! valgrind --tool=callgrind target/release/examples/tls_count https 11000
//! ```
//!
//! Modes (the count is requests, or MiB for the bulk modes):
//!
//! - `https N`: N keep-alive requests of the hello page through
//!   `Tls<ServerConn>` against a rustls client, the driver's share done
//!   as a driver does it (every `poll_transmit` piece is one write).
//! - `floor N`: the same exchanges on bare rustls `ServerConnection` with
//!   the HTTP machine glued on by hand, its answer sealed in one write:
//!   what no wrapper can go below.
//! - `http N`: the same requests to a plain `ServerConn`.
//! - `bulk N`: N MiB sealed by a client `Tls` and opened by a server `Tls`
//!   in 64 KiB writes.
//! - `bulk-floor N`: N MiB through bare rustls connections, 64 KiB writes.
//!
//! It prints transmits and records per request (or per MiB), so a change
//! in how an answer is cut shows without a profiler.

use std::io::{BufRead, Read, Write};

use bytes::BytesMut;
use sansnet_benches::tls::{PAGE, REQUEST, bulk_pair, configs, name, pump, stream};
use sansnet_proto::http::{Event as HttpEvent, Limits as HttpLimits, ServerConn};
use sansnet_proto::{Instant, Session};
use sansnet_tls::rustls;
use sansnet_tls::{Limits, Tls};

const NOW: Instant = Instant::ZERO;

/// Counts of what crossed the "socket".
#[derive(Default)]
struct Wire {
    transmits: usize,
    records: usize,
}

impl Wire {
    /// Counts the TLS records in `data` (whole records, as the server
    /// hands them out).
    fn count(&mut self, mut data: &[u8]) {
        self.transmits += 1;
        while data.len() >= 5 {
            let len = usize::from(u16::from_be_bytes([data[3], data[4]]));
            self.records += 1;
            data = &data[(5 + len).min(data.len())..];
        }
    }
}

/// Client to server ciphertext, into the driver's read buffer.
fn client_out(client: &mut rustls::ClientConnection, inbox: &mut BytesMut) {
    while client.wants_write() {
        client.write_tls(&mut bytes::BufMut::writer(&mut *inbox)).expect("write_tls");
    }
}

/// Server to client ciphertext.
fn client_in(client: &mut rustls::ClientConnection, mut data: &[u8]) {
    while !data.is_empty() {
        client.read_tls(&mut data).expect("read_tls");
        client.process_new_packets().expect("records");
    }
}

/// The handshake, then `n` keep-alive requests, each answer checked:
/// `exchange` moves bytes both ways until nothing moves.
fn requests(
    n: usize,
    client: &mut rustls::ClientConnection,
    mut exchange: impl FnMut(&mut rustls::ClientConnection, &mut Wire),
) {
    exchange(client, &mut Wire::default());
    let mut wire = Wire::default();
    let mut page = vec![0u8; 4096];
    measured(n, || {
        client.writer().write_all(REQUEST).expect("request");
        exchange(client, &mut wire);
        let got = client.reader().read(&mut page).expect("a response");
        assert!(page[..got].ends_with(PAGE.as_bytes()), "a whole response");
    });
    report(n, "request", &wire);
}

fn https(n: usize) {
    let (server_config, client_config) = configs();
    let mut client = rustls::ClientConnection::new(client_config, name()).expect("client");
    let conn = ServerConn::new(HttpLimits::default(), NOW);
    let mut server = Tls::server(server_config, Limits::default(), conn, NOW).expect("server");
    let mut inbox = BytesMut::with_capacity(64 * 1024);
    let exchange = |client: &mut rustls::ClientConnection, wire: &mut Wire| {
        pump(client, &mut server, &mut inbox, |out| wire.count(out));
    };
    requests(n, &mut client, exchange);
}

fn floor(n: usize) {
    let (server_config, client_config) = configs();
    let mut client = rustls::ClientConnection::new(client_config, name()).expect("client");
    let mut tls = rustls::ServerConnection::new(server_config).expect("server");
    let mut http = ServerConn::new(HttpLimits::default(), NOW);
    let mut inbox = BytesMut::with_capacity(64 * 1024);
    let mut plain = BytesMut::with_capacity(64 * 1024);
    let mut answer = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(64 * 1024);
    let exchange = |client: &mut rustls::ClientConnection, wire: &mut Wire| loop {
        client_out(client, &mut inbox);
        let mut moved = false;
        while !inbox.is_empty() {
            let n = tls.read_tls(&mut &inbox[..]).expect("read_tls");
            bytes::Buf::advance(&mut inbox, n);
            tls.process_new_packets().expect("records");
            moved = true;
        }
        let mut reader = tls.reader();
        while let Ok(chunk @ [_, ..]) = reader.fill_buf() {
            let got = chunk.len();
            plain.extend_from_slice(chunk);
            reader.consume(got);
        }
        if !plain.is_empty() {
            http.handle_read(NOW, &mut plain);
        }
        while let Some(e) = http.poll_event() {
            if let HttpEvent::End = e {
                http.respond(200, &[], PAGE.into()).expect("respond");
            }
        }
        while let Some(piece) = http.poll_transmit() {
            answer.extend_from_slice(&piece);
            http.handle_sent(NOW, piece.len());
        }
        if !answer.is_empty() {
            tls.writer().write_all(&answer).expect("seal");
            answer.clear();
        }
        while tls.wants_write() {
            tls.write_tls(&mut out).expect("write_tls");
        }
        if !out.is_empty() {
            wire.count(&out);
            client_in(client, &out);
            out.clear();
            moved = true;
        }
        if !moved {
            return;
        }
    };
    requests(n, &mut client, exchange);
}

fn http(n: usize) {
    let mut plain = ServerConn::new(HttpLimits::default(), NOW);
    let mut wire = Wire::default();
    measured(n, || {
        let mut buf = BytesMut::from(REQUEST);
        plain.handle_read(NOW, &mut buf);
        while let Some(e) = plain.poll_event() {
            if let HttpEvent::End = e {
                plain.respond(200, &[], PAGE.into()).expect("respond");
            }
        }
        while let Some(out) = plain.poll_transmit() {
            wire.transmits += 1;
            plain.handle_sent(NOW, out.len());
        }
    });
    report(n, "request", &wire);
}

const BULK_WRITE: usize = 64 * 1024;

fn bulk(mib: usize) {
    let total = mib << 20;
    let (mut tx, mut rx) = bulk_pair(total, BULK_WRITE);
    let mut wire = Wire::default();
    measured(1, || wire.transmits = stream(&mut tx, &mut rx, total));
    report(mib, "MiB", &wire);
}

fn bulk_floor(mib: usize) {
    let total = mib << 20;
    let (server_config, client_config) = configs();
    let client = rustls::ClientConnection::new(client_config, name()).expect("client");
    let mut tx = rustls::Connection::from(client);
    let server = rustls::ServerConnection::new(server_config).expect("server");
    let mut rx = rustls::Connection::from(server);
    let data = vec![7u8; BULK_WRITE];
    let mut wire_buf = Vec::with_capacity(256 * 1024);
    let mut plain = vec![0u8; BULK_WRITE];
    let mut wire = Wire::default();
    while tx.is_handshaking() || rx.is_handshaking() {
        shuttle(&mut tx, &mut rx, &mut wire_buf);
        shuttle(&mut rx, &mut tx, &mut wire_buf);
    }
    let mut got = 0;
    measured(1, || {
        while got < total {
            tx.writer().write_all(&data).expect("seal");
            while tx.wants_write() {
                tx.write_tls(&mut wire_buf).expect("write_tls");
            }
            wire.transmits += 1;
            let mut rest = &wire_buf[..];
            while !rest.is_empty() {
                rx.read_tls(&mut rest).expect("read_tls");
                rx.process_new_packets().expect("records");
                while let Ok(n @ 1..) = rx.reader().read(&mut plain) {
                    got += n;
                }
            }
            wire_buf.clear();
        }
    });
    report(mib, "MiB", &wire);
}

/// Moves what `from` has to write to `to`, through `buf`.
fn shuttle(from: &mut rustls::Connection, to: &mut rustls::Connection, buf: &mut Vec<u8>) {
    while from.wants_write() {
        from.write_tls(buf).expect("write_tls");
    }
    let mut rest = &buf[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).expect("read_tls");
        to.process_new_packets().expect("records");
    }
    buf.clear();
}

/// Runs `f` `n` times: the part of the run that counts (`valgrind
/// --tool=callgrind --collect-atstart=no --toggle-collect='*measured*'`).
#[inline(never)]
fn measured(n: usize, mut f: impl FnMut()) {
    for _ in 0..n {
        f();
    }
}

fn report(n: usize, unit: &str, wire: &Wire) {
    let per = |x: usize| x as f64 / n.max(1) as f64;
    println!(
        "{n} {unit}s: {:.2} transmits and {:.2} records per {unit}",
        per(wire.transmits),
        per(wire.records)
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "https".into());
    let n = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    match mode.as_str() {
        "https" => https(n),
        "floor" => floor(n),
        "http" => http(n),
        "bulk" => bulk(n),
        "bulk-floor" => bulk_floor(n),
        other => eprintln!("unknown mode {other}: https, floor, http, bulk, bulk-floor"),
    }
}
