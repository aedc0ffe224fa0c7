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
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansnet_proto::http::{Event as HttpEvent, Limits as HttpLimits, ServerConn};
use sansnet_proto::{Instant, Session};
use sansnet_tls::rustls;
use sansnet_tls::rustls::pki_types::ServerName;
use sansnet_tls::{Event, Limits, Tls, config};

const PAGE: &str = "<html><body><h1>Hello!</h1><p>Path: /</p></body></html>";
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// A server configuration and a client configuration that trusts it.
fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
    let cert = params.signed_by(&key, &issuer).expect("certificate");
    let server = config::server(cert.pem().as_bytes(), key.serialize_pem().as_bytes(), None, &[])
        .expect("server config");
    let roots = config::roots(ca_cert.pem().as_bytes(), "CA").expect("roots");
    (server, config::client(roots, None, &[]).expect("client config"))
}

fn name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("a DNS name")
}

/// Moves everything both ways until nothing moves; the server answers
/// each request with the hello page.
fn pump(client: &mut rustls::ClientConnection, server: &mut Tls<ServerConn>, inbox: &mut BytesMut) {
    let now = Instant::ZERO;
    loop {
        let mut moved = false;
        while client.wants_write() {
            client.write_tls(&mut bytes::BufMut::writer(&mut *inbox)).expect("write_tls");
            moved = true;
        }
        if !inbox.is_empty() && server.wants_read() {
            server.handle_read(now, inbox);
            moved = true;
        }
        while let Some(e) = server.poll_event() {
            if let Event::Inner(HttpEvent::End) = e {
                server.inner_mut().respond(200, &[], PAGE.into()).expect("respond");
            }
            moved = true;
        }
        while let Some(out) = server.poll_transmit() {
            let mut rest = &out[..];
            while !rest.is_empty() {
                client.read_tls(&mut rest).expect("read_tls");
                client.process_new_packets().expect("records");
            }
            server.handle_sent(now, out.len());
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn requests(c: &mut Criterion) {
    let (server_config, client_config) = configs();
    let now = Instant::ZERO;
    let mut client = rustls::ClientConnection::new(client_config, name()).expect("client");
    let conn = ServerConn::new(HttpLimits::default(), now);
    let mut server = Tls::server(server_config, Limits::default(), conn, now).expect("server");
    let mut inbox = BytesMut::new();
    pump(&mut client, &mut server, &mut inbox);
    let mut page = vec![0u8; 4096];
    c.bench_function("https_request", |b| {
        b.iter(|| {
            client.writer().write_all(REQUEST).expect("request");
            pump(&mut client, &mut server, &mut inbox);
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

/// One end of the bulk stream: hands out `chunk` `left` times, and counts
/// (and drops) every byte it is given.
struct Bulk {
    chunk: Bytes,
    left: usize,
    got: usize,
}

impl Session for Bulk {
    type Event = ();
    fn handle_read(&mut self, _: Instant, buf: &mut BytesMut) {
        self.got += buf.len();
        buf.clear();
    }
    fn handle_eof(&mut self, _: Instant) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Bytes> {
        (self.left > 0).then(|| {
            self.left -= 1;
            self.chunk.clone()
        })
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn wants_read(&self) -> bool {
        true
    }
    fn is_finished(&self) -> bool {
        false
    }
}

fn bulk(c: &mut Criterion) {
    const TOTAL: usize = 4 << 20;
    let (server_config, client_config) = configs();
    let now = Instant::ZERO;
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    let mut group = c.benchmark_group("bulk_64k");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(20);
    group.bench_function("seal_and_open", |b| {
        b.iter(|| {
            let source = Bulk { chunk: chunk.clone(), left: TOTAL / chunk.len(), got: 0 };
            let mut tx = Tls::client(client_config.clone(), name(), Limits::default(), source, now)
                .expect("client");
            let sink = Bulk { chunk: Bytes::new(), left: 0, got: 0 };
            let mut rx =
                Tls::server(server_config.clone(), Limits::default(), sink, now).expect("server");
            let (mut to_rx, mut to_tx) = (BytesMut::new(), BytesMut::new());
            while rx.inner().got < TOTAL {
                while let Some(out) = tx.poll_transmit() {
                    to_rx.extend_from_slice(&out);
                    tx.handle_sent(now, out.len());
                }
                while tx.poll_event().is_some() {}
                rx.handle_read(now, &mut to_rx);
                while rx.poll_event().is_some() {}
                while let Some(out) = rx.poll_transmit() {
                    to_tx.extend_from_slice(&out);
                    rx.handle_sent(now, out.len());
                }
                tx.handle_read(now, &mut to_tx);
            }
            black_box(rx.inner().got)
        })
    });
    group.finish();
}

criterion_group!(benches, requests, bulk);
criterion_main!(benches);
