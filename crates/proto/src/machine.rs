//! The one shape every protocol machine has, and what drivers rely on.
//!
//! Two traits cover every protocol in sansnet:
//!
//! - [`Session`]: one connection's protocol (HTTP server connection, echo,
//!   file sender, file receiver). A driver owns one per connection.
//! - [`Hub`]: many connections in one machine (the chat room). Inputs carry a
//!   [`ConnId`]; outputs are addressed to one. A driver owns one hub and feeds
//!   it from a single task or thread, so the hub needs no locks.
//! - [`App`]: the application side of a `Session`, the contract between a
//!   machine's events and the code that answers them with commands.
//!
//! # The drain contract
//!
//! After **any** input (`handle_*`) or application command (such as
//! [`ServerConn::respond`](crate::http::ServerConn::respond)) a driver must:
//!
//! 1. feed buffered input again while [`Session::wants_read`] is true and the
//!    buffer is not empty (a machine may stop consuming mid-buffer, e.g. an
//!    HTTP connection holding back a pipelined request until the current
//!    response is written; bytes it leaves stay in the driver's buffer);
//! 2. drain [`Session::poll_event`] until `None`, handing events to the
//!    application (which may issue commands, restarting this list);
//! 3. drain [`Session::poll_transmit`] until `None` and write every `Bytes`
//!    in order (a polled output belongs to the driver: if the socket is not
//!    ready it keeps the bytes; it never drops them);
//! 4. if [`Session::is_finished`], flush and close;
//! 5. otherwise sleep until the socket is readable (only if `wants_read`) or
//!    until [`Session::poll_timeout`], then call `handle_read`,
//!    `handle_eof` or `handle_timeout`.
//!
//! `handle_timeout` may be called early or twice: it only fires timers
//! whose deadline is at or before `now`.
//!
//! # Bytes that come from elsewhere: splices
//!
//! A machine that sends a large body held outside it (a file the
//! application opened) need not carry its bytes. A driver that can copy
//! from such a source to the socket itself (`sendfile(2)`) says so once
//! with [`Session::enable_splice`]; from then on it drains
//! [`Session::poll_transmit_or_splice`] instead of `poll_transmit`, and a
//! machine may answer with a [`Splice`]: "the next `len` bytes are those
//! of `source` from `offset`". The [`Source`] is an opaque handle the
//! application made (the core never looks inside it); the driver knows
//! the types it can send from. If the source has fewer bytes than the
//! splice says (a file truncated meanwhile), the driver sends what there
//! is and closes the connection after it: the peer sees a short body, never
//! a hang and never bytes from elsewhere. A driver that never calls
//! `enable_splice` (or a wrapper such as TLS, which needs the plaintext and
//! does not pass it on) is never handed a splice: the application, which
//! asks the machine whether it may splice, sends bytes instead.
//!
//! ```
//! use bytes::BytesMut;
//! use sansnet_proto::{http::{Event, ServerConn}, Instant, Session};
//!
//! let mut conn = ServerConn::new(Default::default(), Instant::ZERO);
//! let mut inbox = BytesMut::from(&b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"[..]);
//! let mut wire = Vec::new();
//! loop {
//!     if conn.wants_read() && !inbox.is_empty() {
//!         conn.handle_read(Instant::ZERO, &mut inbox);
//!     }
//!     let mut progressed = false;
//!     while let Some(ev) = conn.poll_event() {
//!         progressed = true;
//!         if let Event::End = ev {
//!             conn.respond(200, &[], b"hi".as_slice().into()).unwrap();
//!         }
//!     }
//!     while let Some(out) = conn.poll_transmit() {
//!         wire.extend_from_slice(&out);
//!     }
//!     if !progressed { break; }
//! }
//! assert!(wire.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(wire.ends_with(b"\r\n\r\nhi"));
//! ```

use alloc::string::String;
use alloc::sync::Arc;
use bytes::{Bytes, BytesMut};
use core::any::Any;
use core::fmt;

use crate::Instant;

/// One connection's protocol, driven by the contract in the [module
/// docs](self).
pub trait Session {
    /// What the machine tells the application (a parsed request, a chunk of
    /// body, a file range to read, ...).
    type Event;

    /// Bytes arrived. The machine consumes a prefix of `buf` (possibly none,
    /// possibly all) and leaves the rest for a later call.
    fn handle_read(&mut self, now: Instant, buf: &mut BytesMut);

    /// The peer ended its side of the stream. No more `handle_read` follows.
    ///
    /// Drivers learn of the end from a read that returns 0, and they read
    /// only while [`wants_read`](Session::wants_read) is true and after
    /// feeding every buffered byte; so bytes already received (pipelined
    /// requests, say) are always handled before the end of the stream.
    fn handle_eof(&mut self, now: Instant);

    /// A deadline from [`poll_timeout`](Session::poll_timeout) may have
    /// passed. Harmless when early or repeated.
    fn handle_timeout(&mut self, now: Instant);

    /// The driver wrote `n` more bytes of transmitted data to the socket.
    /// Machines that budget unsent bytes use it; the default ignores it.
    fn handle_sent(&mut self, now: Instant, n: usize) {
        let _ = (now, n);
    }

    /// Bytes to write, in order.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<Bytes>;

    /// The driver can perform [`Splice`]s: it will drain
    /// [`poll_transmit_or_splice`](Session::poll_transmit_or_splice)
    /// instead of [`poll_transmit`](Session::poll_transmit) from now on
    /// (see [Bytes that come from elsewhere](self#bytes-that-come-from-elsewhere-splices)).
    /// Called at most once, before the first drain. The default ignores
    /// it: the machine keeps handing out bytes.
    fn enable_splice(&mut self) {}

    /// What to write next, in order: bytes, or a [`Splice`] (only after
    /// [`enable_splice`](Session::enable_splice)). The default is
    /// [`poll_transmit`](Session::poll_transmit)'s bytes.
    #[must_use]
    fn poll_transmit_or_splice(&mut self) -> Option<Transmit> {
        self.poll_transmit().map(Transmit::Bytes)
    }

    /// The next event for the application.
    #[must_use]
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// The earliest deadline, if any timer is armed.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// Backpressure: `false` asks the driver to stop reading (and to stop
    /// feeding buffered bytes) until it turns `true` again.
    #[must_use]
    fn wants_read(&self) -> bool;

    /// The exchange is over: write what `poll_transmit` still yields, then
    /// close the connection.
    #[must_use]
    fn is_finished(&self) -> bool;

    /// Between exchanges: nothing half-received, nothing owed, nothing
    /// queued. A driver shutting down gracefully closes idle connections at
    /// once and lets the others finish. The default, `false`, makes them
    /// run until finished or until the grace period ends.
    #[must_use]
    fn is_idle(&self) -> bool {
        false
    }
}

/// An opaque handle on where a body's bytes are: what the application
/// opened (a file, for a driver that sends from files), shared, never
/// looked into by the core. Drivers recognise the types they can send
/// from with [`downcast_ref`](Source::downcast_ref); two handles are equal
/// when they are clones of one.
#[derive(Clone)]
pub struct Source(Arc<dyn Any + Send + Sync>);

impl Source {
    /// A handle on `source`.
    pub fn new<T: Any + Send + Sync>(source: Arc<T>) -> Source {
        Source(source)
    }

    /// The source, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({:p})", Arc::as_ptr(&self.0))
    }
}

impl PartialEq for Source {
    fn eq(&self, other: &Source) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Source {}

/// "The next `len` bytes to write are those of `source` from `offset`": a
/// transmit the driver performs by copying from the source to the socket
/// itself (see [Bytes that come from elsewhere](self#bytes-that-come-from-elsewhere-splices)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splice {
    /// Where the bytes are.
    pub source: Source,
    /// The first byte's offset in the source.
    pub offset: u64,
    /// How many bytes (more than zero).
    pub len: u64,
}

/// One output of [`Session::poll_transmit_or_splice`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Write these bytes.
    Bytes(Bytes),
    /// Write these bytes of a source.
    Splice(Splice),
}

/// The application side of a [`Session`]: it reacts to events by issuing
/// the session's commands (for HTTP, [`respond`](crate::http::ServerConn::respond)
/// and friends). Drivers call it while draining events (step 2 of the
/// contract), and call [`on_drained`](App::on_drained) when everything
/// queued so far has been written, so that a handler streaming a large body
/// can queue the next piece: memory stays bounded by what it queues at once.
///
/// A closure `FnMut(&mut S, S::Event)` is an `App`.
///
/// # Why it lives in the core
///
/// No machine calls an `App`, yet it is no I/O concern: it says what a
/// machine's events oblige the application to do (answer with commands,
/// restart the drain, report work in flight), whatever performs the I/O.
/// Every driver wires a session to an application through it, and so does
/// the core's own test harness, which runs a machine against an
/// application on a simulated clock exactly as a driver does. Keeping it
/// beside [`Session`] keeps that contract in one place, usable without any
/// transport crate.
pub trait App<S: Session> {
    /// An event from the session.
    fn on_event(&mut self, session: &mut S, event: S::Event);

    /// Everything queued was written to the peer. The default does nothing.
    fn on_drained(&mut self, session: &mut S) {
        let _ = session;
    }

    /// Work the application runs beside the driver and has not finished
    /// (a file read or write on a blocking thread pool, say): whether any
    /// is in flight. The default: none.
    ///
    /// An application that starts such work from [`on_event`](App::on_event)
    /// says so here, and feeds the results to the session from
    /// [`poll_work`](App::poll_work). A driver then does not treat a session
    /// that wants no input and has no deadline as stalled while work is in
    /// flight.
    fn is_working(&self) -> bool {
        false
    }

    /// Polls the work in flight. `Ready` means some of it finished and its
    /// results were handed to the session (a command such as a file
    /// machine's `supply` or `written`), so the driver drains the session
    /// again; `Pending` means `cx` will be woken when that happens.
    ///
    /// The async driver (`sansnet-futures`) polls it while it waits for the
    /// socket and the timer, whenever [`is_working`](App::is_working) is
    /// true. The thread-per-connection driver (`sansnet-std`) polls it
    /// before each round and blocks on it only while the session wants no
    /// input: while the session wants input, the thread waits in a socket
    /// read, which finished work does not interrupt. On std, start such
    /// work only where the session can go on reading until it needs the
    /// result (a file receiver's writes, bounded by its buffer), and do the
    /// rest inside `on_event`. The default never finishes anything.
    fn poll_work(
        &mut self,
        session: &mut S,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<()> {
        let _ = (session, cx);
        core::task::Poll::Pending
    }
}

impl<S: Session, F: FnMut(&mut S, S::Event)> App<S> for F {
    fn on_event(&mut self, session: &mut S, event: S::Event) {
        self(session, event)
    }
}

/// A datagram protocol (UDP echo): one input per datagram, outputs
/// addressed to peers. Drivers send each output as one datagram.
///
/// Drivers call [`handle_bound`](Datagrams::handle_bound) once, before the
/// first datagram, so that a machine can refuse datagrams that claim to
/// come from itself.
pub trait Datagrams {
    /// The socket is bound to `local` (a wildcard address when bound to
    /// every interface). The default ignores it.
    fn handle_bound(&mut self, local: core::net::SocketAddr) {
        let _ = local;
    }

    /// A datagram arrived from `from`.
    fn handle_datagram(&mut self, now: Instant, from: core::net::SocketAddr, data: &[u8]);

    /// The next datagram to send, and where.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<(core::net::SocketAddr, Bytes)>;
}

/// Names one connection of a [`Hub`]. Drivers allocate them; a hub never
/// sees the same id for two connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// An input to a [`Hub`].
#[derive(Debug)]
pub enum Input<'a> {
    /// A connection was accepted. `peer` is a printable peer address
    /// (`127.0.0.1:5000`, `[::1]:5000`, a Unix socket path).
    Opened {
        /// The new connection.
        conn: ConnId,
        /// Its peer address, as text.
        peer: String,
        /// Which of the driver's listeners accepted it: its index in the
        /// list the driver was given (0 when there is one). A hub that
        /// speaks differently on each port (the chat room's TCP port and
        /// its web port, say) tells them apart by it.
        listener: usize,
    },
    /// Bytes arrived on `conn`; the hub consumes a prefix of `buf`.
    Read {
        /// Where they arrived.
        conn: ConnId,
        /// The driver's buffer for that connection.
        buf: &'a mut BytesMut,
    },
    /// `conn`'s peer ended its side of the stream.
    Eof {
        /// The connection.
        conn: ConnId,
    },
    /// The driver wrote `n` more bytes addressed to `conn`.
    Sent {
        /// The connection.
        conn: ConnId,
        /// How many bytes.
        n: usize,
    },
    /// `conn`'s peer proved who it is: a layer below the hub (TLS with
    /// client certificates, say) verified a credential naming `name`.
    /// Arrives before any byte of `conn` is read. A hub that has no use
    /// for identities ignores it.
    Identified {
        /// The connection.
        conn: ConnId,
        /// The verified name (a certificate's common name).
        name: &'a str,
    },
    /// `conn` is gone (reset, write error, or closed after an
    /// [`Output::Close`]). The hub forgets it.
    Gone {
        /// The connection.
        conn: ConnId,
    },
    /// A message from outside the hub's connections, in a format of the
    /// hub's own: what another node of a clustered chat room published,
    /// or news from the bridge to it ([`crate::chat::cluster`]). A hub
    /// that expects none ignores it.
    Message {
        /// The message.
        data: &'a [u8],
    },
}

/// An output of a [`Hub`].
#[derive(Debug, PartialEq, Eq)]
pub enum Output<E> {
    /// Write `data` to `conn`. A broadcast is one `Bytes` cloned per
    /// recipient: the clone shares the allocation.
    Transmit {
        /// The recipient.
        conn: ConnId,
        /// The bytes.
        data: Bytes,
    },
    /// Write what was queued for `conn`, then close it.
    Close {
        /// The connection to close.
        conn: ConnId,
    },
    /// Something for the application, from `conn` (if it concerns one).
    Event(E),
}

/// Many connections in one machine, driven from one task or thread.
///
/// The same drain contract as [`Session`], with every input and output
/// tagged by connection; one step more: after the outputs, drain
/// [`poll_resumed`](Hub::poll_resumed) and feed those connections' buffered
/// input again (one connection's progress can let another be read).
pub trait Hub {
    /// What the hub tells the application.
    type Event;

    /// Feeds one input.
    fn handle(&mut self, now: Instant, input: Input<'_>);

    /// Deadlines may have passed. Harmless when early or repeated.
    fn handle_timeout(&mut self, now: Instant);

    /// The driver is stopping gracefully: it will give every connection
    /// its end of stream right after this, and flush what is queued within
    /// its grace period. A hub that says goodbye in a protocol of its own
    /// (a WebSocket's Close with 1001) queues it here. The default does
    /// nothing.
    fn handle_stop(&mut self, now: Instant) {
        let _ = now;
    }

    /// The next output: bytes for a connection, a close, or an event.
    #[must_use]
    fn poll_output(&mut self) -> Option<Output<Self::Event>>;

    /// The earliest deadline, if any.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;

    /// Backpressure per connection: `false` asks the driver to stop reading
    /// from `conn` for now.
    #[must_use]
    fn wants_read(&self, conn: ConnId) -> bool;

    /// A connection whose [`wants_read`](Hub::wants_read) may have turned
    /// true because of another connection's input or a timer (not its own
    /// input or writes, which the driver looks at anyway): the driver offers
    /// it its buffered bytes again and resumes reading it. Drained like
    /// [`poll_output`](Hub::poll_output), after it. The default has none.
    #[must_use]
    fn poll_resumed(&mut self) -> Option<ConnId> {
        None
    }
}
