//! [`Tls`]: TLS around any [`Session`], itself a `Session`.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::{ClientConfig, ServerConfig};
use sansnet_proto::{App, Instant, Session};

use crate::channel::Channel;
use crate::{Error, Limits, Peer};

/// What a [`Tls`] session tells its application: the inner machine's
/// events, and the two things TLS adds.
#[derive(Debug)]
pub enum Event<E> {
    /// The handshake finished: who the peer is and what was agreed.
    Established(Peer),
    /// The connection failed (bad handshake, timeout, a stream cut without
    /// `close_notify`): the alert, if any, is queued, and the session
    /// finishes. Reported once.
    Failed(Error),
    /// An event of the inner machine.
    Inner(E),
}

/// TLS around the session `S`: ciphertext in through
/// [`handle_read`](Session::handle_read), ciphertext out through
/// [`poll_transmit`](Session::poll_transmit), and plaintext to and from `S`
/// in between. The server side ([`Tls::server`]) and the client side
/// ([`Tls::client`]) differ only in the rustls connection inside.
///
/// It holds no socket and reads no clock: the handshake deadline comes
/// from the `now` it is created with, like every machine's timers.
///
/// **Backpressure.** Decrypted bytes wait for `S` in a buffer of at most
/// [`Limits::max_plaintext`]; while it is full (because `S` stopped
/// reading, say an HTTP connection holding back a pipelined request), the
/// wrapper stops feeding rustls and reports
/// [`wants_read`](Session::wants_read) `false`, so the driver stops reading
/// the socket. Outgoing plaintext is pulled from `S` only as the driver
/// asks for ciphertext, at most [`Limits::write_chunk`] (and one record)
/// per chunk, a new chunk only once the driver has written the last or let
/// it go (its buffer is then reused: a driver drains
/// [`poll_transmit`](Session::poll_transmit) again after
/// [`handle_sent`](Session::handle_sent), as the drain contract says), and
/// [`handle_sent`](Session::handle_sent) is passed on to `S`
/// in plaintext bytes as the records carrying them are written.
///
/// ```
/// use std::sync::Arc;
/// use sansnet_proto::{echo::Echo, Instant, Session};
/// use sansnet_tls::{Limits, Tls};
///
/// fn wrap(config: Arc<rustls::ServerConfig>) -> impl Session {
///     Tls::server(config, Limits::default(), Echo::new(Instant::ZERO), Instant::ZERO)
///         .expect("a valid config")
/// }
/// ```
pub struct Tls<S> {
    channel: Channel,
    inner: S,
    /// The time of the latest input, for feeding `inner` plaintext that
    /// waited while it did not want to read.
    now: Instant,
}

impl<S: Session> Tls<S> {
    /// The server side: `inner` speaks to a client that connected to us.
    pub fn server(
        config: Arc<ServerConfig>,
        limits: Limits,
        inner: S,
        now: Instant,
    ) -> Result<Tls<S>, Error> {
        let conn =
            UnbufferedServerConnection::new(config).map_err(|e| Error::from_rustls(e, false))?;
        Ok(Tls { channel: Channel::new(conn.into(), limits, now).paced(), inner, now })
    }

    /// The client side: `inner` speaks to the server named `server_name`
    /// (a DNS name or an IP address), whose certificate is verified
    /// against it.
    pub fn client(
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
        limits: Limits,
        inner: S,
        now: Instant,
    ) -> Result<Tls<S>, Error> {
        let conn = UnbufferedClientConnection::new(config, server_name)
            .map_err(|e| Error::from_rustls(e, false))?;
        Ok(Tls { channel: Channel::new(conn.into(), limits, now).paced(), inner, now })
    }

    /// The inner machine.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The inner machine, for the application's commands.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Ends our side: `close_notify` follows what the inner machine sent
    /// so far, while reading goes on until the peer's end (a half-close,
    /// for a client that has said everything).
    pub fn close_write(&mut self) {
        self.channel.close();
    }

    /// The peer, once the handshake is done.
    pub fn peer(&self) -> Option<Peer> {
        self.channel.peer()
    }

    /// Decrypted bytes waiting for the inner machine (at most
    /// [`Limits::max_plaintext`]): for the fuzz target's checks.
    #[doc(hidden)]
    pub fn buffered_plaintext(&self) -> usize {
        self.channel.plain_in.len()
    }

    /// Ciphertext staged (a record a read cut) and decrypted plaintext
    /// held over the cap, for the tests' bounds.
    #[cfg(test)]
    pub(crate) fn staged(&self) -> (usize, usize) {
        self.channel.staged()
    }

    /// The capacity of the buffer ciphertext is sealed into, for the
    /// tests' bounds.
    #[cfg(test)]
    pub(crate) fn out_capacity(&self) -> usize {
        self.channel.out_capacity()
    }

    /// Gives the inner machine the plaintext (and the end of the stream)
    /// it is ready for.
    fn feed(&mut self) {
        while self.inner.wants_read() {
            if self.channel.plain_in.is_empty() {
                self.channel.take_plaintext();
                if self.channel.plain_in.is_empty() {
                    break;
                }
            }
            let before = self.channel.plain_in.len();
            self.inner.handle_read(self.now, &mut self.channel.plain_in);
            if self.channel.plain_in.len() == before {
                break;
            }
        }
        if self.channel.take_eof() {
            self.inner.handle_eof(self.now);
        }
    }
}

impl<S: Session> Session for Tls<S> {
    type Event = Event<S::Event>;

    fn handle_read(&mut self, now: Instant, buf: &mut BytesMut) {
        self.now = now;
        loop {
            let received = self.channel.receive(buf);
            let before = self.channel.plain_in.len();
            self.feed();
            if !received && self.channel.plain_in.len() == before {
                break;
            }
        }
    }

    fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.channel.receive_eof();
        self.feed();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.channel.handle_timeout(now);
        if self.channel.is_established() && !self.channel.has_failed() {
            self.inner.handle_timeout(now);
        }
        self.feed();
    }

    fn handle_sent(&mut self, now: Instant, n: usize) {
        self.now = now;
        let plain = self.channel.sent(n);
        if plain > 0 {
            self.inner.handle_sent(now, plain);
        }
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        let Tls { channel, inner, .. } = self;
        let inner = core::cell::RefCell::new(inner);
        channel.transmit(|| inner.borrow_mut().poll_transmit(), || inner.borrow().is_finished())
    }

    fn poll_event(&mut self) -> Option<Event<S::Event>> {
        // A handshake that finished before the failure (a bad record read
        // with the peer's last handshake flight) is reported first.
        if let Some(peer) = self.channel.take_established() {
            return Some(Event::Established(peer));
        }
        if let Some(error) = self.channel.take_failure() {
            self.feed(); // the inner machine learns the stream ended
            return Some(Event::Failed(error));
        }
        if self.channel.has_input() {
            self.feed();
        }
        self.inner.poll_event().map(Event::Inner)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.channel.poll_timeout(), self.channel.is_established()) {
            (Some(handshake), _) => Some(handshake),
            (None, true) if !self.channel.has_failed() => self.inner.poll_timeout(),
            _ => None,
        }
    }

    fn wants_read(&self) -> bool {
        // Once the handshake is done, as the inner machine says: a driver
        // that wants no input from a machine waits for its other work.
        self.channel.wants_read()
            && !self.channel.is_closed()
            && (!self.channel.is_established() || self.inner.wants_read())
    }

    fn is_finished(&self) -> bool {
        self.channel.is_closed()
    }

    fn is_idle(&self) -> bool {
        self.channel.is_established()
            && self.channel.plain_in.is_empty()
            && self.channel.all_sent()
            && self.inner.is_idle()
    }
}

/// The application of a [`Tls`] session, made of the inner machine's
/// application `app` and `on_tls`, which hears the TLS events
/// ([`Event::Established`], [`Event::Failed`]) with the inner application
/// and machine at hand (to log the peer, or to tell the application who
/// the certificate names).
///
/// ```
/// use sansnet_proto::{echo::Echo, Session};
/// use sansnet_tls::{Event, Secured};
///
/// type E = <Echo as Session>::Event;
/// fn inner(_: &mut Echo, _: E) {}
/// fn on_tls(_: &mut fn(&mut Echo, E), _: &mut Echo, event: &Event<E>) {
///     if let Event::Failed(e) = event {
///         eprintln!("{e}");
///     }
/// }
/// let app = Secured::new(inner as fn(&mut Echo, E), on_tls);
/// # let _ = app;
/// ```
pub struct Secured<A, T> {
    /// The inner machine's application.
    pub app: A,
    on_tls: T,
}

impl<A, T> Secured<A, T> {
    /// `app` for the inner events, `on_tls` for the TLS ones.
    pub fn new(app: A, on_tls: T) -> Secured<A, T> {
        Secured { app, on_tls }
    }

    /// The inner application back.
    pub fn into_app(self) -> A {
        self.app
    }
}

impl<S, A, T> App<Tls<S>> for Secured<A, T>
where
    S: Session,
    A: App<S>,
    T: FnMut(&mut A, &mut S, &Event<S::Event>),
{
    fn on_event(&mut self, session: &mut Tls<S>, event: Event<S::Event>) {
        match event {
            Event::Inner(e) => self.app.on_event(&mut session.inner, e),
            tls => (self.on_tls)(&mut self.app, &mut session.inner, &tls),
        }
    }

    fn on_drained(&mut self, session: &mut Tls<S>) {
        self.app.on_drained(&mut session.inner)
    }

    fn is_working(&self) -> bool {
        self.app.is_working()
    }

    fn poll_work(
        &mut self,
        session: &mut Tls<S>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<()> {
        self.app.poll_work(&mut session.inner, cx)
    }
}
