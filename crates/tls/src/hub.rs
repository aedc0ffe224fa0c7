//! [`TlsHub`]: TLS on every connection of any [`Hub`], itself a `Hub`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use sansnet_proto::{ConnId, Hub, Input, Instant, Output};

use crate::channel::Channel;
use crate::{Error, Limits, Peer};

/// What a [`TlsHub`] tells its application: the inner hub's events, and
/// each connection's handshake result.
#[derive(Debug)]
pub enum HubEvent<E> {
    /// `conn` finished its handshake.
    Established {
        /// The connection.
        conn: ConnId,
        /// Who it is.
        peer: Peer,
    },
    /// `conn` failed (its alert is queued, then it is closed).
    Failed {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: Error,
    },
    /// An event of the inner hub.
    Inner(E),
}

/// TLS on every connection of the hub `H` (the chat room): each
/// connection's ciphertext goes through its own rustls server connection,
/// and `H` sees only plaintext, exactly as if the transport carried none.
///
/// When a client certificate was verified (a config that requires one),
/// the hub tells `H` the name it carries with [`Input::Identified`] before
/// any plaintext from that connection.
///
/// Backpressure is per connection, as in [`Tls`](crate::Tls): decrypted
/// bytes wait for `H` up to [`Limits::max_plaintext`], then the
/// connection's [`wants_read`](Hub::wants_read) turns `false`; once `H`
/// takes them, the connection is offered through
/// [`poll_resumed`](Hub::poll_resumed).
pub struct TlsHub<H: Hub> {
    config: Arc<ServerConfig>,
    limits: Limits,
    inner: H,
    conns: HashMap<ConnId, Channel>,
    /// Handshakes in progress by deadline.
    handshakes: BTreeSet<(Instant, ConnId)>,
    /// Connections with ciphertext or a TLS event to hand out.
    dirty: VecDeque<ConnId>,
    /// What is ready to hand out before asking `H`.
    ready: VecDeque<Output<HubEvent<H::Event>>>,
    resumed: VecDeque<ConnId>,
    now: Instant,
}

impl<H: Hub> TlsHub<H> {
    /// TLS with `config` around `inner`.
    pub fn new(config: Arc<ServerConfig>, limits: Limits, inner: H) -> TlsHub<H> {
        TlsHub {
            config,
            limits,
            inner,
            conns: HashMap::new(),
            handshakes: BTreeSet::new(),
            dirty: VecDeque::new(),
            ready: VecDeque::new(),
            resumed: VecDeque::new(),
            now: Instant::ZERO,
        }
    }

    /// The inner hub.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The inner hub, for the application's commands.
    pub fn inner_mut(&mut self) -> &mut H {
        &mut self.inner
    }

    /// Decrypted bytes of `conn` waiting for `H` (at most
    /// [`Limits::max_plaintext`]): for the fuzz target's checks.
    #[doc(hidden)]
    pub fn buffered_plaintext(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |ch| ch.plain_in.len())
    }

    /// Takes `conn` off the handshakes in progress (by its key: no walk
    /// over the others, however many a flood of half-open connections
    /// left).
    fn forget_handshake(&mut self, conn: ConnId) {
        if let Some(ch) = self.conns.get(&conn) {
            self.handshakes.remove(&(ch.handshake_key(), conn));
        }
    }

    /// Feeds `conn`'s waiting plaintext (and end of stream) to `H`.
    fn feed(&mut self, conn: ConnId) {
        let Some(ch) = self.conns.get_mut(&conn) else { return };
        while self.inner.wants_read(conn) {
            if ch.plain_in.is_empty() {
                ch.take_plaintext();
                if ch.plain_in.is_empty() {
                    break;
                }
            }
            let before = ch.plain_in.len();
            self.inner.handle(self.now, Input::Read { conn, buf: &mut ch.plain_in });
            if ch.plain_in.len() == before {
                break;
            }
        }
        if ch.take_eof() {
            self.inner.handle(self.now, Input::Eof { conn });
        }
    }

    /// After input on `conn`: its handshake result, failure, ciphertext.
    fn settle(&mut self, conn: ConnId) {
        let Some(ch) = self.conns.get_mut(&conn) else { return };
        if let Some(peer) = ch.take_established() {
            self.forget_handshake(conn);
            if let Some(name) = &peer.name {
                self.inner.handle(self.now, Input::Identified { conn, name });
            }
            self.ready.push_back(Output::Event(HubEvent::Established { conn, peer }));
        }
        let Some(ch) = self.conns.get_mut(&conn) else { return };
        if let Some(error) = ch.take_failure() {
            self.forget_handshake(conn);
            self.ready.push_back(Output::Event(HubEvent::Failed { conn, error }));
        }
        self.feed(conn);
        self.dirty.push_back(conn);
    }

    /// `H` wants `conn`'s input again: feeds it what waits, and offers the
    /// connection to the driver (its ciphertext may wait too).
    fn resume(&mut self, conn: ConnId) {
        let waiting = self.conns.get_mut(&conn).is_some_and(|ch| ch.has_input());
        if waiting {
            self.feed(conn);
            self.dirty.push_back(conn);
        }
        self.resumed.push_back(conn);
    }

    /// Hands out `conn`'s ciphertext, and its close once TLS is over.
    fn flush(&mut self, conn: ConnId) {
        let Some(ch) = self.conns.get_mut(&conn) else { return };
        while let Some(data) = ch.transmit(|| None, || false) {
            self.ready.push_back(Output::Transmit { conn, data });
        }
        if ch.take_close() {
            self.ready.push_back(Output::Close { conn });
        }
    }
}

impl<H: Hub> Hub for TlsHub<H> {
    type Event = HubEvent<H::Event>;

    fn handle(&mut self, now: Instant, input: Input<'_>) {
        self.now = self.now.max(now);
        match input {
            Input::Opened { conn, peer, listener } => {
                let ch = match UnbufferedServerConnection::new(self.config.clone()) {
                    Ok(c) => Channel::new(c.into(), self.limits, now),
                    Err(_) => return,
                };
                if let Some(d) = ch.poll_timeout() {
                    self.handshakes.insert((d, conn));
                }
                self.conns.insert(conn, ch);
                self.inner.handle(now, Input::Opened { conn, peer, listener });
            }
            Input::Read { conn, buf } => loop {
                let Some(ch) = self.conns.get_mut(&conn) else { return };
                let received = ch.receive(buf);
                let before = ch.plain_in.len();
                self.settle(conn);
                let Some(ch) = self.conns.get(&conn) else { return };
                let stuck = !received && ch.plain_in.len() == before;
                if stuck || buf.is_empty() || !ch.wants_read() {
                    break;
                }
            },
            Input::Eof { conn } => {
                if let Some(ch) = self.conns.get_mut(&conn) {
                    ch.receive_eof();
                    self.settle(conn);
                }
            }
            Input::Sent { conn, n } => {
                let Some(ch) = self.conns.get_mut(&conn) else { return };
                let plain = ch.sent(n);
                if plain > 0 {
                    self.inner.handle(now, Input::Sent { conn, n: plain });
                }
            }
            Input::Gone { conn } => {
                self.forget_handshake(conn);
                self.conns.remove(&conn);
                self.inner.handle(now, Input::Gone { conn });
            }
            Input::Identified { .. } => {}
            Input::Message { data } => self.inner.handle(now, Input::Message { data }),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        while let Some(&(deadline, conn)) = self.handshakes.first() {
            if deadline > now {
                break;
            }
            self.handshakes.pop_first();
            if let Some(ch) = self.conns.get_mut(&conn) {
                ch.handle_timeout(now);
                self.settle(conn);
            }
        }
        self.inner.handle_timeout(now);
    }

    fn handle_stop(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.inner.handle_stop(now);
    }

    fn poll_output(&mut self) -> Option<Output<HubEvent<H::Event>>> {
        loop {
            if let Some(out) = self.ready.pop_front() {
                return Some(out);
            }
            if let Some(conn) = self.dirty.pop_front() {
                self.flush(conn);
                continue;
            }
            let Some(out) = self.inner.poll_output() else {
                // Connections `H` resumed are fed their waiting plaintext
                // here, so that what `H` makes of it is output now: a
                // driver polls outputs before `poll_resumed`, not after.
                let conn = self.inner.poll_resumed()?;
                self.resume(conn);
                continue;
            };
            match out {
                Output::Event(e) => return Some(Output::Event(HubEvent::Inner(e))),
                Output::Transmit { conn, data } => {
                    if let Some(ch) = self.conns.get_mut(&conn) {
                        ch.queue(&data);
                        self.flush(conn);
                    }
                }
                Output::Close { conn } => {
                    if let Some(ch) = self.conns.get_mut(&conn) {
                        ch.close();
                        self.flush(conn);
                    }
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let handshake = self.handshakes.first().map(|&(d, _)| d);
        Instant::earliest(handshake, self.inner.poll_timeout())
    }

    fn wants_read(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|ch| {
            ch.wants_read() && (!ch.is_established() || self.inner.wants_read(conn))
        })
    }

    fn poll_resumed(&mut self) -> Option<ConnId> {
        // `poll_output` drained `H`'s resumed connections into `resumed`.
        self.resumed.pop_front()
    }
}
