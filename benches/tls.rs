//! What the TLS benches (`tls_core`, `examples/tls_count.rs`) share:
//! certificates, the hello page's request, a machine that streams bulk
//! bytes, and the pumps that move bytes between the two ends.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sansnet_proto::http::{Event as HttpEvent, ServerConn};
use sansnet_proto::{Instant, Session};
use sansnet_tls::rustls::pki_types::ServerName;
use sansnet_tls::{Event, Limits, Tls, config, rustls};

/// The hello page the server answers with.
pub const PAGE: &str = "<html><body><h1>Hello!</h1><p>Path: /</p></body></html>";
/// A keep-alive request for it.
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// A server configuration (ECDSA P-256, made with rcgen) and a client
/// configuration that trusts it.
pub fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
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

/// The name the server's certificate carries.
pub fn name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("a DNS name")
}

/// One end of a bulk stream: hands out `chunk` `left` times, and
/// counts (and drops) every byte it is given.
pub struct Bulk {
    /// What it hands out each time.
    pub chunk: Bytes,
    /// How many times more.
    pub left: usize,
    /// The bytes it was given.
    pub got: usize,
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

/// A client that will send `total` bytes in writes of `write` bytes,
/// and a server that counts what it gets.
pub fn bulk_pair(total: usize, write: usize) -> (Tls<Bulk>, Tls<Bulk>) {
    let (server_config, client_config) = configs();
    let now = Instant::ZERO;
    let chunk = Bytes::from(vec![7u8; write]);
    let source = Bulk { chunk, left: total / write, got: 0 };
    let tx = Tls::client(client_config, name(), Limits::default(), source, now);
    let sink = Bulk { chunk: Bytes::new(), left: 0, got: 0 };
    let rx = Tls::server(server_config, Limits::default(), sink, now);
    (tx.expect("client"), rx.expect("server"))
}

/// Moves bytes both ways until the server got `total`; returns the
/// number of chunks the client handed out.
pub fn stream(tx: &mut Tls<Bulk>, rx: &mut Tls<Bulk>, total: usize) -> usize {
    let now = Instant::ZERO;
    let (mut to_rx, mut to_tx) = (BytesMut::new(), BytesMut::new());
    let mut transmits = 0;
    while rx.inner().got < total {
        while let Some(out) = tx.poll_transmit() {
            transmits += 1;
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
    transmits
}

/// Moves everything both ways between a rustls client and `server`
/// until nothing moves, as a driver does (`inbox` is its read
/// buffer); the server answers each request with [`PAGE`], and `seen`
/// is shown each chunk it hands out.
pub fn pump(
    client: &mut rustls::ClientConnection,
    server: &mut Tls<ServerConn>,
    inbox: &mut BytesMut,
    mut seen: impl FnMut(&[u8]),
) {
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
            seen(&out);
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
