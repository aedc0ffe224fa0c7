//! TLS for the applications (PROTOCOLS.md §5): certificates and keys read
//! from PEM files, and the machines of `sansnet-tls` put around the
//! applications' machines. Nothing here changes a transport: a TLS server
//! is the same `serve` with a wrapped [`Factory`], a TLS client the same
//! `run_client` with a wrapped session.
//!
//! Blocking clients that own their socket (the chat member, `send`) get a
//! [`bridge`](ClientTls::bridge): a local socket pair whose other end a
//! thread pumps through the same [`Tls`] machine.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sansnet_net::{Clock, Factory, Listener, ServerConfig, Shutdown, Stream, Transport};
use sansnet_proto::{Hub, Instant, Session};
use sansnet_tls::config::{self, ConfigError};
use sansnet_tls::rustls::pki_types::ServerName;
use sansnet_tls::rustls::{self, ClientConfig, RootCertStore};
pub use sansnet_tls::{Error, Event, HubEvent, Limits, Peer, Secured, Tls, TlsHub};

/// What went wrong setting TLS up (before any connection).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file is (`--tls-cert`, ...).
        what: &'static str,
        /// Its path, for the message.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The PEM texts do not make a configuration.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The system's trust anchors could not be loaded.
    #[error("no trust anchors: {0} (give one with --ca FILE)")]
    Roots(String),
    /// Server settings given to a client, or client settings to a server.
    #[error("{0}")]
    Misplaced(&'static str),
    /// TLS settings given to a program without TLS.
    #[error("{0} has no TLS: --tls-cert applies to http, chat serve, echo (TCP) and file recv")]
    NoTls(String),
    /// The name to verify is not a DNS name or an IP address.
    #[error(
        "{0:?} is not a server name to verify (a DNS name or an IP address); use --server-name"
    )]
    ServerName(String),
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, SetupError> {
    std::fs::read(path).map_err(|source| SetupError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

/// The TLS settings a program was given (PROTOCOLS.md §5; the binary's
/// `--tls-*` flags), checked against the program's role when it asks for
/// its [`ServerTls`] or [`ClientTls`].
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// A server's certificate chain (PEM): serve TLS.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// Require client certificates that chain to this CA.
    pub client_ca: Option<PathBuf>,
    /// The handshake timeout, where it differs from the program's default.
    pub handshake_timeout: Option<Duration>,
    /// The plaintext bound, where it differs from the program's default.
    pub max_plaintext: Option<usize>,
    /// A client: connect with TLS.
    pub connect: bool,
    /// A client's trust anchor (PEM; the system's roots without one).
    pub ca: Option<PathBuf>,
    /// The name a client verifies, where it is not the host it connects to.
    pub server_name: Option<String>,
    /// A client certificate chain and its key (PEM).
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl TlsOptions {
    /// The program's `defaults`, with what the options set.
    pub fn limits(&self, defaults: Limits) -> Limits {
        let mut limits = defaults;
        if let Some(t) = self.handshake_timeout {
            limits = limits.with_handshake_timeout(t);
        }
        if let Some(n) = self.max_plaintext {
            limits = limits.with_max_plaintext(n);
        }
        limits
    }

    /// A server's TLS offering `alpn`, if a certificate was given.
    pub fn server(
        &self,
        alpn: &[&[u8]],
        defaults: Limits,
    ) -> Result<Option<ServerTls>, SetupError> {
        if self.connect
            || self.ca.is_some()
            || self.server_name.is_some()
            || self.identity.is_some()
        {
            let why = "--tls, --ca, --server-name and --cert are client flags (chat join, file send, send)";
            return Err(SetupError::Misplaced(why));
        }
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else { return Ok(None) };
        let limits = self.limits(defaults);
        Ok(Some(ServerTls::load(cert, key, self.client_ca.as_deref(), alpn, limits)?))
    }

    /// An error if any TLS setting was given to `program`, which has none.
    pub fn refuse(&self, program: &str) -> Result<(), SetupError> {
        let server = self.cert.is_some() || self.key.is_some() || self.client_ca.is_some();
        let client = self.connect || self.ca.is_some() || self.server_name.is_some();
        match server || client || self.identity.is_some() {
            true => Err(SetupError::NoTls(program.to_owned())),
            false => Ok(()),
        }
    }

    /// A client's TLS for `addr` (`HOST:PORT`: HOST is the name verified
    /// unless [`server_name`](TlsOptions::server_name) says otherwise;
    /// `None`, a Unix socket: `localhost`), if
    /// [`connect`](TlsOptions::connect).
    pub fn client(
        &self,
        addr: Option<&str>,
        defaults: Limits,
    ) -> Result<Option<ClientTls>, SetupError> {
        if self.cert.is_some() {
            let why = "--tls-cert, --tls-key and --tls-client-ca are server flags; a client takes --tls (--cert FILE --key FILE)";
            return Err(SetupError::Misplaced(why));
        }
        if !self.connect {
            return Ok(None);
        }
        let addr = addr.unwrap_or("localhost");
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
        let name = self.server_name.as_deref().unwrap_or(host);
        let identity = self.identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        Ok(Some(ClientTls::load(self.ca.as_deref(), identity, name, self.limits(defaults))?))
    }
}

/// A server's TLS: its configuration and the wrapper's limits.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads the chain `cert` and its `key` (PEM), and with `client_ca`
    /// requires client certificates that chain to it; offers `alpn`.
    pub fn load(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
        alpn: &[&[u8]],
        limits: Limits,
    ) -> Result<ServerTls, SetupError> {
        let chain = read(cert, "--tls-cert")?;
        let key = read(key, "--tls-key")?;
        let ca = client_ca.map(|p| read(p, "--tls-client-ca")).transpose()?;
        let config = config::server(&chain, &key, ca.as_deref(), alpn)?;
        // Proves the configuration makes connections, so that a factory
        // can count on it.
        rustls::ServerConnection::new(config.clone()).map_err(ConfigError::from)?;
        Ok(ServerTls { config, limits })
    }

    /// `factory` with TLS around each session: the peer is logged when its
    /// handshake fails, and `identify` tells the application who a
    /// verified client certificate names.
    pub fn wrap<F: Factory>(
        &self,
        factory: F,
        identify: fn(&mut F::App, &Peer),
    ) -> impl Factory<Session = Tls<F::Session>> {
        let (config, limits) = (self.config.clone(), self.limits);
        move |now: Instant, peer: &str| {
            let (session, app) = factory.make(now, peer);
            let tls = Tls::server(config.clone(), limits, session, now)
                .expect("a configuration that made a connection in ServerTls::load");
            let peer = peer.to_owned();
            let on_tls = move |app: &mut F::App, _: &mut F::Session, event: &Event<_>| {
                log(&peer, event);
                if let Event::Established(p) = event {
                    identify(app, p);
                }
            };
            (tls, Secured::new(app, on_tls))
        }
    }

    /// `hub` with TLS on every connection.
    pub fn hub<H: Hub>(&self, hub: H) -> TlsHub<H> {
        TlsHub::new(self.config.clone(), self.limits, hub)
    }
}

fn log<E>(peer: &str, event: &Event<E>) {
    match event {
        Event::Established(p) => match &p.name {
            Some(name) => tracing::info!("{peer}: {} {} certificate {name:?}", p.version, p.cipher),
            None => tracing::debug!("{peer}: {} {}", p.version, p.cipher),
        },
        Event::Failed(e) => tracing::warn!("{peer}: {e}"),
        Event::Inner(_) => {}
    }
}

/// An application with no use for the peer's certificate.
pub fn anyone<A>(_: &mut A, _: &Peer) {}

/// Serves `factory` over `R`, with TLS when `tls` says so (see
/// [`ServerTls::wrap`]).
pub fn serve<R: Transport, F: Factory>(
    listener: Listener,
    config: &ServerConfig,
    shutdown: &Shutdown,
    tls: Option<&ServerTls>,
    factory: F,
    identify: fn(&mut F::App, &Peer),
) -> io::Result<()> {
    match tls {
        None => R::serve(listener, config, shutdown, factory),
        Some(tls) => R::serve(listener, config, shutdown, tls.wrap(factory, identify)),
    }
}

/// A client's TLS: its configuration and the name it verifies.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    limits: Limits,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts `ca` (PEM; the system's roots without one), presents the
    /// chain and key of `identity` when given, and verifies `name` (a DNS
    /// name or an IP address).
    pub fn load(
        ca: Option<&Path>,
        identity: Option<(&Path, &Path)>,
        name: &str,
        limits: Limits,
    ) -> Result<ClientTls, SetupError> {
        let roots = match ca {
            Some(path) => config::roots(&read(path, "--ca")?, "the --ca file")?,
            None => system_roots()?,
        };
        let identity = match identity {
            Some((cert, key)) => Some((read(cert, "--cert")?, read(key, "--key")?)),
            None => None,
        };
        let identity = identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice()));
        let config = config::client(roots, identity, &[])?;
        let name = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|_| SetupError::ServerName(name.to_owned()))?
            .to_owned();
        Ok(ClientTls { config, name, limits })
    }

    /// `inner` inside a TLS client session made at `now`.
    pub fn session<S: Session>(&self, inner: S, now: Instant) -> Tls<S> {
        Tls::client(self.config.clone(), self.name.clone(), self.limits, inner, now)
            .expect("a client configuration with a valid server name")
    }

    /// Runs the handshake on `stream` (within the handshake timeout), then
    /// returns a local socket that carries the plaintext: a thread pumps
    /// it through a [`Tls`] session. A failed handshake is the error
    /// (its text names the cause: `TLS handshake failed: ...`); a failure
    /// after it (TLS 1.3 servers refuse a client certificate after the
    /// client finished) ends the local socket and is kept in the
    /// [`Bridge`].
    pub fn bridge(&self, stream: Stream) -> io::Result<(Stream, Bridge)> {
        let clock = Clock::new();
        let tls = Arc::new(Mutex::new(self.session(Relay::default(), clock.now())));
        let (to_net, ciphertext) = mpsc::channel::<Bytes>();
        stream.set_read_timeout(Some(self.limits.handshake_timeout))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut inbox = BytesMut::new();
        loop {
            let mut s = tls.lock().unwrap_or_else(|e| e.into_inner());
            let news = pump(&mut s, &to_net);
            drop(s);
            write_all(&stream, &ciphertext)?;
            match news {
                News::Failed(e) => return Err(io::Error::other(e)),
                News::Ready => break,
                News::Waiting => {}
            }
            let n = match (&stream).read(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        Error::HandshakeTimeout(self.limits.handshake_timeout),
                    ));
                }
                Err(e) => return Err(e),
            };
            let mut s = tls.lock().unwrap_or_else(|e| e.into_inner());
            if n == 0 {
                s.handle_eof(clock.now());
            } else {
                inbox.extend_from_slice(&buf[..n]);
                s.handle_read(clock.now(), &mut inbox);
            }
        }
        stream.set_read_timeout(None)?;
        let (near, far) = UnixStream::pair()?;
        let (net_r, net_w) = (stream.try_clone()?, stream);
        let far_w = far.try_clone()?;
        // Ciphertext goes out from one thread, in the order it was sealed.
        thread::spawn(move || {
            for data in ciphertext {
                if (&net_w).write_all(&data).is_err() {
                    break;
                }
            }
            let _ = net_w.shutdown(std::net::Shutdown::Write);
        });
        // The network side: ciphertext in, plaintext to the local socket.
        let bridge = Bridge::default();
        let (t, tx, c, failed) = (tls.clone(), to_net.clone(), clock, bridge.clone());
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = (&net_r).read(&mut buf).unwrap_or(0);
                let mut s = t.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    s.handle_eof(c.now());
                } else {
                    inbox.extend_from_slice(&buf[..n]);
                    s.handle_read(c.now(), &mut inbox);
                }
                let news = pump(&mut s, &tx);
                let plain = s.inner_mut().received.split().freeze();
                let ended = s.inner().ended || n == 0;
                drop(s);
                if let News::Failed(e) = news {
                    *failed.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    let _ = far_w.shutdown(std::net::Shutdown::Write);
                    return;
                }
                if (&far_w).write_all(&plain).is_err() || ended {
                    let _ = far_w.shutdown(std::net::Shutdown::Write);
                    return;
                }
            }
        });
        // The local side: plaintext in, sealed and sent.
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut far = far;
            loop {
                let n = far.read(&mut buf).unwrap_or(0);
                let mut s = tls.lock().unwrap_or_else(|e| e.into_inner());
                let relay = s.inner_mut();
                if n == 0 {
                    relay.done = true;
                    s.close_write();
                } else {
                    relay.outbox.push_back(Bytes::copy_from_slice(&buf[..n]));
                }
                pump(&mut s, &to_net);
                if n == 0 {
                    return;
                }
            }
        });
        Ok((Stream::Unix(near), bridge))
    }
}

/// What became of a [`bridge`](ClientTls::bridge) after its handshake.
#[derive(Clone, Debug, Default)]
pub struct Bridge(Arc<Mutex<Option<Error>>>);

impl Bridge {
    /// The TLS failure that ended the local socket, if one did.
    pub fn failure(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn system_roots() -> Result<RootCertStore, SetupError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map_or("none found".to_owned(), |e| e.to_string());
        return Err(SetupError::Roots(why));
    }
    Ok(roots)
}

/// What a pump saw.
enum News {
    Waiting,
    Ready,
    Failed(Error),
}

/// Drains `tls`'s events and its ciphertext (into `out`, in order).
fn pump(tls: &mut Tls<Relay>, out: &mpsc::Sender<Bytes>) -> News {
    let mut news = News::Waiting;
    loop {
        let mut moved = false;
        while let Some(event) = tls.poll_event() {
            moved = true;
            match event {
                Event::Established(_) => news = News::Ready,
                Event::Failed(e) => news = News::Failed(e),
                Event::Inner(never) => match never {},
            }
        }
        while let Some(data) = tls.poll_transmit() {
            moved = true;
            let n = data.len();
            let _ = out.send(data);
            tls.handle_sent(Instant::ZERO, n);
        }
        if !moved {
            return news;
        }
    }
}

fn write_all(stream: &Stream, queued: &mpsc::Receiver<Bytes>) -> io::Result<()> {
    for data in queued.try_iter() {
        let mut w = stream;
        w.write_all(&data)?;
    }
    Ok(())
}

/// The plaintext side of a [`bridge`](ClientTls::bridge): what arrives
/// waits in `received` for the pump, what the local side sent waits in
/// `outbox`.
#[derive(Debug, Default)]
struct Relay {
    received: BytesMut,
    outbox: VecDeque<Bytes>,
    /// The local side closed: close_notify follows the outbox.
    done: bool,
    /// The server ended its stream.
    ended: bool,
}

impl Session for Relay {
    type Event = std::convert::Infallible;

    fn handle_read(&mut self, _: Instant, buf: &mut BytesMut) {
        self.received.extend_from_slice(&buf.split());
    }

    fn handle_eof(&mut self, _: Instant) {
        self.ended = true;
    }

    fn handle_timeout(&mut self, _: Instant) {}

    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.pop_front()
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn wants_read(&self) -> bool {
        !self.ended
    }

    fn is_finished(&self) -> bool {
        self.done && self.outbox.is_empty() && self.ended
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Limits, TlsOptions};

    #[test]
    fn options_fit_the_program() {
        let none = TlsOptions::default();
        let defaults = Limits::default().with_max_plaintext(1 << 20);
        assert_eq!(none.limits(defaults), defaults);
        assert!(none.server(&[], defaults).expect("no TLS asked").is_none());
        assert!(none.client(Some("a:1"), defaults).expect("no TLS asked").is_none());
        assert!(none.refuse("scan").is_ok());
        let set = TlsOptions {
            handshake_timeout: Some(Duration::from_millis(2500)),
            max_plaintext: Some(16 * 1024),
            ..TlsOptions::default()
        };
        let limits = set.limits(defaults);
        assert_eq!(limits.max_plaintext, 16 * 1024);
        assert_eq!(limits.handshake_timeout, Duration::from_millis(2500));
        // Client settings on a server, server settings on a client, any on
        // a program without TLS: errors, before any file is read.
        let client = TlsOptions { connect: true, ..TlsOptions::default() };
        assert!(client.server(&[], defaults).is_err());
        let server = TlsOptions {
            cert: Some("missing-c.pem".into()),
            key: Some("missing-k.pem".into()),
            ..TlsOptions::default()
        };
        assert!(server.client(Some("a:1"), defaults).is_err());
        let refused = server.refuse("scan").expect_err("scan has no TLS").to_string();
        assert!(refused.starts_with("scan has no TLS"), "{refused}");
        assert!(client.refuse("resolve").is_err());
    }
}
