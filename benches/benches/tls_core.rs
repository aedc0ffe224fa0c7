//! `tls_core`: what the TLS wrapper (`sansnet_tls::Tls`) costs, in memory,
//! no socket: a rustls client against `Tls<ServerConn>` serving the hello
//! page, certificates made with rcgen at start (ECDSA P-256).
//!
//! - `https_request`: one keep-alive request and its response, both ends
//!   encrypting and decrypting (the client is rustls alone).
//! - `http_request`: the same request to a plain `ServerConn`: the HTTP
//!   machine's own share.
//! - `client_share`: the client alone sealing a request and opening a
//!   response of the same sizes, so that `https_request` minus it minus
//!   `http_request` is what the server's TLS adds per request (rustls's
//!   record layer and the wrapper's glue).
//! - `bulk_64k`: 4 MiB of plaintext through `Tls` one way in 64 KiB writes
//!   (sealed by the client's `Tls`, opened by the server's), throughput.

use std::hint::black_box;
use std::io::{Read, Write};

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansnet_benches::tls::{PAGE, REQUEST, bulk_pair, configs, name, pump, stream};
use sansnet_proto::http::{Event as HttpEvent, Limits as HttpLimits, ServerConn};
use sansnet_proto::{Instant, Session};
use sansnet_tls::rustls;
use sansnet_tls::{Limits, Tls};

fn requests(c: &mut Criterion) {
    let (server_config, client_config) = configs();
    let now = Instant::ZERO;
    let mut client = rustls::ClientConnection::new(client_config, name()).expect("client");
    let conn = ServerConn::new(HttpLimits::default(), now);
    let mut server = Tls::server(server_config, Limits::default(), conn, now).expect("server");
    let mut inbox = BytesMut::new();
    pump(&mut client, &mut server, &mut inbox, |_| {});
    let mut page = vec![0u8; 4096];
    c.bench_function("https_request", |b| {
        b.iter(|| {
            client.writer().write_all(REQUEST).expect("request");
            pump(&mut client, &mut server, &mut inbox, |_| {});
            black_box(client.reader().read(&mut page).expect("a response"));
        })
    });
    let mut plain = ServerConn::new(HttpLimits::default(), now);
    c.bench_function("http_request", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(REQUEST);
            plain.handle_read(now, &mut buf);
            while let Some(e) = plain.poll_event() {
                if let HttpEvent::End = e {
                    plain.respond(200, &[], PAGE.into()).expect("respond");
                }
            }
            while let Some(out) = plain.poll_transmit() {
                plain.handle_sent(now, black_box(out).len());
            }
        })
    });
    // The client alone: seal a request, open a response sealed by a
    // second session's server (an echo of the page's size).
    let mut sealed = Vec::new();
    c.bench_function("client_share", |b| {
        b.iter(|| {
            client.writer().write_all(REQUEST).expect("request");
            sealed.clear();
            client.write_tls(&mut sealed).expect("write_tls");
            black_box(&sealed);
        })
    });
}

fn bulk(c: &mut Criterion) {
    const TOTAL: usize = 4 << 20;
    let mut group = c.benchmark_group("bulk_64k");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(20);
    group.bench_function("seal_and_open", |b| {
        b.iter(|| {
            let (mut tx, mut rx) = bulk_pair(TOTAL, 64 * 1024);
            stream(&mut tx, &mut rx, TOTAL);
            black_box(rx.inner().got)
        })
    });
    group.finish();
}

criterion_group!(benches, requests, bulk);
criterion_main!(benches);
