//! What a transport offers to code that is generic over the runtime: the
//! applications (`sansnet-apps`) and the binary's one runtime dispatch.
//!
//! Every transport crate (`sansnet-std`, `sansnet-smol`,
//! `sansnet-async-std`, `sansnet-tokio`) exports a unit type `Runtime` implementing
//! [`Transport`], beside free functions of the same names, so a program
//! picks its runtime with one `use` line and a library takes it as a type
//! parameter:
//!
//! ```
//! use sansnet_net::{Listener, ServerConfig, Shutdown, Transport};
//! use sansnet_proto::http::{Event, Limits, ServerConn};
//!
//! fn hello<R: Transport>(listener: Listener, shutdown: &Shutdown) -> std::io::Result<()> {
//!     R::serve(listener, &ServerConfig::default(), shutdown, |now, _peer: &str| {
//!         let app = |conn: &mut ServerConn, ev: Event| {
//!             if let Event::End = ev {
//!                 let _ = conn.respond(200, &[], "hello\n".into());
//!             }
//!         };
//!         (ServerConn::new(Limits::default(), now), app)
//!     })
//! }
//! ```

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use sansnet_proto::{App, Datagrams, Hub, Instant, Session};

use crate::{Clock, Listener, Mail, ServerConfig, Shutdown, Stream};

/// Makes the session and the application of each accepted connection,
/// from the driver's current time and the peer's printable address.
///
/// Any `Fn(Instant, &str) -> (S, A)` that can be shared between threads is
/// a `Factory`; it names the bounds every `serve` needs once.
pub trait Factory: Send + Sync + 'static {
    /// The connection's protocol machine.
    type Session: Session + Send + 'static;
    /// The application answering its events.
    type App: App<Self::Session> + Send + 'static;

    /// A new connection's machine and application.
    fn make(&self, now: Instant, peer: &str) -> (Self::Session, Self::App);
}

impl<S, A, F> Factory for F
where
    S: Session + Send + 'static,
    A: App<S> + Send + 'static,
    F: Fn(Instant, &str) -> (S, A) + Send + Sync + 'static,
{
    type Session = S;
    type App = A;

    fn make(&self, now: Instant, peer: &str) -> (S, A) {
        self(now, peer)
    }
}

/// Where blocking work (a file read or write) runs on a runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocking {
    /// On the connection's own thread (the std transport: a thread per
    /// connection, no executor to stall).
    Inline,
    /// On the blocking thread pool, never on an executor thread (the async
    /// transports).
    Pool,
}

impl Blocking {
    /// Runs `job`: now, or on the pool. Either way a [`Job`] to poll.
    pub fn run<T: Send + 'static>(self, job: impl FnOnce() -> T + Send + 'static) -> Job<T> {
        match self {
            Blocking::Inline => Job(JobState::Done(Some(job()))),
            Blocking::Pool => Job(JobState::Pool(blocking::unblock(job))),
        }
    }
}

/// A piece of blocking work, done already or running on the pool; polled
/// from [`App::poll_work`].
#[derive(Debug)]
pub struct Job<T>(JobState<T>);

#[derive(Debug)]
enum JobState<T> {
    Done(Option<T>),
    Pool(blocking::Task<T>),
}

impl<T> Job<T> {
    /// The result once the work is done (once: later polls are `Pending`).
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.0 {
            JobState::Done(v) => match v.take() {
                Some(v) => Poll::Ready(v),
                None => Poll::Pending,
            },
            JobState::Pool(task) => Pin::new(task).poll(cx),
        }
    }
}

/// The ports of a scan, handed out and recorded by the scanner
/// (`sansnet_apps::scan`) while a transport connects.
pub trait Probes: Sync {
    /// The next port to try, or `None` when every port is handed out.
    fn next_port(&self) -> Option<u16>;
    /// The raw result of connecting to `port`: the connection's local and
    /// peer addresses, or the error (a connect that did not finish within
    /// the timeout is [`io::ErrorKind::TimedOut`]).
    fn record(&self, port: u16, result: io::Result<(SocketAddr, SocketAddr)>);
}

/// A runtime's transport, for code generic over the runtime.
pub trait Transport: 'static {
    /// The name `--runtime` knows it by (`std`, `smol`, `async-std`,
    /// `tokio`).
    const NAME: &'static str;
    /// Where an application runs its blocking work on this runtime.
    const BLOCKING: Blocking;

    /// Serves `listener` until `shutdown` is triggered: each accepted
    /// connection runs the session and application `factory` makes. After
    /// the trigger idle connections close at once and the others get
    /// [`ServerConfig::grace`].
    fn serve<F: Factory>(
        listener: Listener,
        config: &ServerConfig,
        shutdown: &Shutdown,
        factory: F,
    ) -> io::Result<()>;

    /// Serves `listeners` (one [`Listener`], or several: see
    /// [`Listeners`](crate::Listeners)) with one [`Hub`] (the chat room)
    /// for every connection until `shutdown` is triggered; hub events go to
    /// `on_event`, and what comes in `mail` (from a [`Mailbox`](crate::Mailbox):
    /// the other nodes of a clustered room) to the hub as
    /// [`Input::Message`](sansnet_proto::Input::Message). A hub that needs
    /// no mail gets [`Mail::none`].
    fn serve_hub<H, E>(
        listeners: impl Into<crate::Listeners>,
        config: &ServerConfig,
        shutdown: &Shutdown,
        hub: H,
        on_event: E,
        mail: Mail,
    ) -> io::Result<()>
    where
        H: Hub,
        E: FnMut(&mut H, H::Event);

    /// Serves a datagram machine (UDP echo) on `socket` until `shutdown`
    /// is triggered.
    fn serve_datagrams<D: Datagrams>(
        socket: UdpSocket,
        shutdown: &Shutdown,
        machine: D,
    ) -> io::Result<()>;

    /// Runs one client session over a connected `stream` until it
    /// finishes (blocking the calling thread). Its deadlines are on
    /// `clock`; `config` gives the write timeout and read buffer.
    fn run_client<S: Session, A: App<S>>(
        stream: Stream,
        config: &ServerConfig,
        clock: Clock,
        session: &mut S,
        app: &mut A,
    ) -> io::Result<()>;

    /// Connects to `host` on every port `probes` hands out, at most
    /// `concurrency` at once, each attempt given `timeout`, and records
    /// each raw result in `probes`. Returns once every port is recorded.
    fn connect_each(
        host: IpAddr,
        concurrency: usize,
        timeout: Duration,
        probes: &dyn Probes,
    ) -> io::Result<()>;
}

/// Defines a transport crate's `Runtime` (a unit struct) and its
/// [`Transport`] implementation, forwarding every method to the free
/// function of the same name in the calling module (`serve`, `serve_hub`,
/// `serve_datagrams`, `run_client`, `connect_each`). Each transport crate
/// expands it once, so the forwarding is written once:
///
/// ```text
/// sansnet_net::transport!("std", sansnet_net::Blocking::Inline);
/// ```
///
/// The second form is a whole async runtime shim over `sansnet-futures`:
/// the shared names re-exported (`Listener`, `ServerConfig`, `Control`,
/// `proto`, ...), the blocking free functions (`serve`, `serve_hub`, `serve_datagrams`,
/// `block_on`, `connect_each`, `run_client`), the async `drive` with its
/// socket type `Io` and `register`, and `Runtime`, each running the
/// `sansnet-futures` function of the same name on `$exec`, a type
/// implementing `sansnet_futures::Executor`, and its reactor:
///
/// ```text
/// sansnet_net::transport!("smol", sansnet_futures, Smol);
/// ```
#[macro_export]
macro_rules! transport {
    ($name:literal, $blocking:expr) => {
        /// This transport, for code generic over the runtime (see
        /// `sansnet_net::Transport`).
        #[derive(Clone, Copy, Debug, Default)]
        pub struct Runtime;

        impl $crate::Transport for Runtime {
            const NAME: &'static str = $name;
            const BLOCKING: $crate::Blocking = $blocking;
            $crate::transport!(@each [] forward ());
        }
    };
    ($name:literal, $futures:ident, $exec:ty) => {
        pub use $crate::__proto as proto;
        pub use $crate::{
            Clock, Endpoint, Listener, Listeners, Mail, Mailbox, ServerConfig, Shutdown, SocketOptions,
            Stream, bind_udp, mailbox,
        };
        pub use $futures::{Control, Task};

        $crate::transport!(@each [pub] shim ($futures, $exec));

        /// Runs `future` to completion on the calling thread.
        pub fn block_on<T>(future: impl ::std::future::Future<Output = T>) -> T {
            <$exec as $futures::Executor>::block_on(future)
        }

        /// The socket type of this runtime's reactor, as [`drive`] takes it.
        pub type Io<T> = <<$exec as $futures::Executor>::Reactor as $futures::Reactor>::Io<T>;

        /// Registers `io` with this runtime's reactor (making it
        /// non-blocking), for [`drive`]; from a task of the runtime.
        pub fn register<T>(io: T) -> ::std::io::Result<Io<T>>
        where
            T: $futures::Source,
        {
            <<$exec as $futures::Executor>::Reactor as $futures::Reactor>::register(io)
        }

        /// The generic driver: runs one session over one registered
        /// socket until it finishes (see `sansnet_futures::drive`).
        pub async fn drive<S: $crate::__proto::Session, A: $crate::__proto::App<S>>(
            io: &Io<$crate::Stream>,
            session: &mut S,
            app: &mut A,
            ctl: &$futures::Control,
        ) -> ::std::io::Result<()> {
            $futures::drive::<<$exec as $futures::Executor>::Reactor, S, A>(io, session, app, ctl)
                .await
        }

        $crate::transport!($name, <$exec as $futures::Executor>::BLOCKING);
    };

    // Every entry point's signature, written once; `$how` picks the bodies.
    (@each [$($vis:tt)*] $how:ident $ctx:tt) => {
        /// Serves `listener` until `shutdown` is triggered: each accepted
        /// connection runs the session and application `factory` makes.
        $($vis)* fn serve<F: $crate::Factory>(
            listener: $crate::Listener,
            config: &$crate::ServerConfig,
            shutdown: &$crate::Shutdown,
            factory: F,
        ) -> ::std::io::Result<()> {
            $crate::transport!(@$how $ctx serve(listener, config, shutdown, factory))
        }

        /// Serves `listeners` (one `Listener` or several) with one `Hub`
        /// machine (the chat room) until `shutdown` is triggered; hub
        /// events go to `on_event`, and `mail` to the hub.
        $($vis)* fn serve_hub<H, E>(
            listeners: impl Into<$crate::Listeners>,
            config: &$crate::ServerConfig,
            shutdown: &$crate::Shutdown,
            hub: H,
            on_event: E,
            mail: $crate::Mail,
        ) -> ::std::io::Result<()>
        where
            H: $crate::__proto::Hub,
            E: FnMut(&mut H, H::Event),
        {
            $crate::transport!(@$how $ctx serve_hub(listeners, config, shutdown, hub, on_event, mail))
        }

        /// Serves a datagram machine (UDP echo) on `socket` until
        /// `shutdown` is triggered.
        $($vis)* fn serve_datagrams<D: $crate::__proto::Datagrams>(
            socket: ::std::net::UdpSocket,
            shutdown: &$crate::Shutdown,
            machine: D,
        ) -> ::std::io::Result<()> {
            $crate::transport!(@$how $ctx serve_datagrams(socket, shutdown, machine))
        }

        /// Runs one client session over a connected `stream` until it
        /// finishes, blocking the calling thread.
        $($vis)* fn run_client<S: $crate::__proto::Session, A: $crate::__proto::App<S>>(
            stream: $crate::Stream,
            config: &$crate::ServerConfig,
            clock: $crate::Clock,
            session: &mut S,
            app: &mut A,
        ) -> ::std::io::Result<()> {
            $crate::transport!(@$how $ctx run_client(stream, config, clock, session, app))
        }

        /// Connects to `host` on every port `probes` hands out, at most
        /// `concurrency` at once, each given `timeout`, and records each
        /// raw result in `probes`.
        $($vis)* fn connect_each(
            host: ::std::net::IpAddr,
            concurrency: usize,
            timeout: ::std::time::Duration,
            probes: &dyn $crate::Probes,
        ) -> ::std::io::Result<()> {
            $crate::transport!(@$how $ctx connect_each(host, concurrency, timeout, probes))
        }
    };

    // `Runtime`'s methods: the free function of the same name.
    (@forward () $f:ident($($arg:ident),*)) => {
        $f($($arg),*)
    };

    // An async shim's free functions: `sansnet-futures` on `$exec` and its
    // reactor.
    (@shim ($futures:ident, $exec:ty) serve($($arg:ident),*)) => {
        <$exec as $futures::Executor>::serve(|ex| {
            let spawn = |task| ex.spawn(task);
            ex.run(::std::boxed::Box::pin($futures::serve::<
                <$exec as $futures::Executor>::Reactor,
                _,
            >($($arg,)* spawn)))
        })
    };
    (@shim ($futures:ident, $exec:ty) serve_hub($($arg:ident),*)) => {
        <$exec as $futures::Executor>::serve(|ex| {
            let spawn = |task| ex.spawn(task);
            ex.run(::std::boxed::Box::pin($futures::serve_hub::<
                <$exec as $futures::Executor>::Reactor,
                _,
                _,
            >($($arg,)* spawn)))
        })
    };
    (@shim ($futures:ident, $exec:ty) serve_datagrams($($arg:ident),*)) => {
        block_on($futures::serve_datagrams::<<$exec as $futures::Executor>::Reactor, _>($($arg),*))
    };
    (@shim ($futures:ident, $exec:ty) run_client($stream:ident, $config:ident, $clock:ident, $($arg:ident),*)) => {{
        let ctl = $futures::Control::with($clock, $crate::Shutdown::new(), $config.clone());
        block_on($futures::run_client::<<$exec as $futures::Executor>::Reactor, _, _>(
            $stream, &ctl, $($arg),*
        ))
    }};
    (@shim ($futures:ident, $exec:ty) connect_each($($arg:ident),*)) => {
        $futures::connect_each::<<$exec as $futures::Executor>::Reactor>(
            $($arg,)* |task| block_on(task)
        )
    };
}
