//! # sansnet-tokio: the sansnet machines over tokio
//!
//! A shim: the driver is `sansnet-futures`, the same one async driver that
//! smol and async-std run, here on tokio's executor and tokio's own reactor
//! ([`Tokio`] implements `sansnet_futures::Reactor` with [`AsyncFd`]), so a
//! tokio program runs no second reactor. It offers a blocking [`serve`]
//! with the same signature as `sansnet_std::serve` and
//! `sansnet_smol::serve`:
//!
//! ```no_run
//! use sansnet_tokio as rt; // or: use sansnet_smol as rt; / use sansnet_std as rt;
//! use sansnet_proto::http::{Event, Limits, ServerConn};
//!
//! let listener = rt::Listener::bind(&"127.0.0.1:8080".parse()?, &rt::SocketOptions::default())?;
//! println!("listening on {}", listener.local_addr()?);
//! rt::serve(listener, &rt::ServerConfig::default(), &rt::Shutdown::new(), |now, _peer: &str| {
//!     let app = |conn: &mut ServerConn, ev: Event| {
//!         if let Event::End = ev {
//!             let _ = conn.respond(200, &[], "hello\n".into());
//!         }
//!     };
//!     (ServerConn::new(Limits::default(), now), app)
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Inside a tokio program of your own, run [`drive`] on a socket made with
//! [`register`] from any task of your runtime.

use sansnet_futures::{Executor, LocalFuture, Reactor, Socket, Source, Spawner, Timer};
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::runtime::{Builder, Runtime as TokioRuntime};

sansnet_net::transport!("tokio", sansnet_futures, Tokio);

/// tokio as `sansnet-futures` runs on it: its executor and its reactor.
#[derive(Debug)]
pub enum Tokio {}

impl Executor for Tokio {
    type Reactor = Tokio;

    /// On [`sansnet_futures::executor_threads`] threads: one fewer than the
    /// cores, at least one, as smol (the load often shares the machine).
    /// One thread is tokio's current-thread runtime, the calling thread
    /// running the server and every connection as smol's single thread
    /// does, with no work stealing or cross-thread wakeups to pay for;
    /// more are the multi-thread runtime's workers (its reactor is polled
    /// by whichever worker parks, so workers scale better than async-io's
    /// executor threads), the server itself on the calling thread.
    fn serve(main: impl FnOnce(&dyn Spawner) -> io::Result<()>) -> io::Result<()> {
        let rt = match sansnet_futures::executor_threads() {
            1 => Builder::new_current_thread().enable_io().enable_time().build()?,
            n => Builder::new_multi_thread().worker_threads(n).enable_io().enable_time().build()?,
        };
        main(&Running(rt))
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        let rt = Builder::new_current_thread().enable_io().enable_time().build();
        // Building a current-thread runtime only asks the system for an
        // epoll and an eventfd descriptor: without them nothing can run.
        rt.expect("a tokio runtime (an epoll and an eventfd descriptor)").block_on(future)
    }
}

/// A running tokio runtime.
struct Running(TokioRuntime);

impl Spawner for Running {
    fn spawn(&self, task: Task) {
        drop(self.0.spawn(task));
    }

    fn run(&self, server: LocalFuture<'_, io::Result<()>>) -> io::Result<()> {
        self.0.block_on(server)
    }
}

impl Reactor for Tokio {
    type Io<T: Source> = Fd<T>;
    type Timer = Sleep;
    const SPECULATE: bool = false;

    #[allow(unsafe_code)]
    fn register<T: Source>(io: T) -> io::Result<Fd<T>> {
        socket2::SockRef::from(&io).set_nonblocking(true)?;
        // SAFETY: a `Source` (sealed: sansnet's and std's sockets) owns its
        // descriptor, open and the same until the socket is dropped; `Raw`
        // hands out that one descriptor, and the `AsyncFd` owns the socket
        // and deregisters the descriptor before dropping it.
        let fd = unsafe { AsyncFd::register(Raw(io)) };
        Ok(Fd(fd.map_err(|e| e.into_parts().1)?))
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        // tokio's own: the task is woken after the runtime has polled its
        // reactor, so the speculative read that follows sees fresh news.
        tokio::task::yield_now()
    }
}

/// A socket registered with tokio's reactor (edge-triggered, once, for
/// reading and writing).
#[derive(Debug)]
pub struct Fd<T: AsFd>(AsyncFd<Raw<T>>);

/// `AsyncFd` wants `AsRawFd`; sansnet's sockets offer `AsFd`.
#[derive(Debug)]
struct Raw<T>(T);

impl<T: AsFd> AsRawFd for Raw<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl<T: Source> Fd<T> {
    /// Runs `op` at once, then on each readiness for `interest`, until it
    /// does not fail with `WouldBlock` (what async-io's `read_with` does).
    ///
    /// tokio learns of readiness only when its reactor turns, and the bytes
    /// (or the room) are often there before that: on a fresh connection,
    /// after a yield, after a full read. So the first try goes through
    /// tokio's readiness when tokio thinks the socket ready (a
    /// `WouldBlock` then clears it) and straight to the socket when not.
    ///
    /// `op` also says whether it drained the socket (a short read): that is
    /// reported to tokio as the `WouldBlock` it would have met next (its
    /// result kept aside), so tokio forgets the readiness it had seen, as
    /// tokio's own streams do after a short read. Only readiness seen
    /// before the operation is forgotten: bytes that arrive after it are
    /// never missed.
    async fn with<R>(
        &self,
        interest: Interest,
        mut op: impl FnMut(&T) -> io::Result<(R, bool)>,
    ) -> io::Result<R> {
        let mut got = None;
        let mut tried = false;
        let first = self.0.try_io(interest, |fd| {
            tried = true;
            drained(&mut op, &fd.0, &mut got)
        });
        let first = if tried { first } else { drained(&mut op, self.get_ref(), &mut got) };
        match first {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        loop {
            if let Some(r) = got.take() {
                return Ok(r);
            }
            let mut ready = self.0.ready(interest).await?;
            if let Ok(Err(e)) = ready.try_io(|fd| drained(&mut op, &fd.get_ref().0, &mut got)) {
                return Err(e);
            }
        }
    }
}

impl<T: Source> Socket<T> for Fd<T> {
    fn get_ref(&self) -> &T {
        &self.0.get_ref().0
    }

    async fn readable(&self) -> io::Result<()> {
        self.0.readable().await.map(drop)
    }

    async fn writable(&self) -> io::Result<()> {
        self.0.writable().await.map(drop)
    }

    async fn read_with<R: Send, F>(&self, op: F) -> io::Result<R>
    where
        F: FnMut(&T) -> io::Result<R> + Send,
    {
        self.with(Interest::READABLE, never_drained(op)).await
    }

    async fn read_stream_with<R: Send, F>(&self, op: F) -> io::Result<R>
    where
        F: FnMut(&T) -> io::Result<(R, bool)> + Send,
    {
        self.with(Interest::READABLE, op).await
    }

    async fn write_with<R: Send, F>(&self, op: F) -> io::Result<R>
    where
        F: FnMut(&T) -> io::Result<R> + Send,
    {
        self.with(Interest::WRITABLE, never_drained(op)).await
    }
}

/// An operation that never says it drained the socket (readiness is then
/// forgotten only on a real `WouldBlock`).
fn never_drained<T, R>(
    mut op: impl FnMut(&T) -> io::Result<R>,
) -> impl FnMut(&T) -> io::Result<(R, bool)> {
    move |io| op(io).map(|r| (r, false))
}

/// Runs `op`, keeping its result in `got`; an operation that drained the
/// socket is reported as the `WouldBlock` it would have met next, so that
/// tokio forgets its readiness.
fn drained<T, R>(
    op: &mut impl FnMut(&T) -> io::Result<(R, bool)>,
    io: &T,
    got: &mut Option<R>,
) -> io::Result<()> {
    let (r, drained) = op(io)?;
    *got = Some(r);
    if drained { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(()) }
}

/// A tokio timer, allocated when first set and then moved in place.
#[derive(Debug)]
pub struct Sleep(Option<Pin<Box<tokio::time::Sleep>>>);

impl Timer for Sleep {
    fn never() -> Self {
        Sleep(None)
    }

    fn set_at(&mut self, at: std::time::Instant) {
        let at = tokio::time::Instant::from_std(at);
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.0 = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// Reads into a 64-byte buffer, saying whether the read drained the socket.
    async fn read(io: &Fd<TcpStream>) -> usize {
        let mut buf = [0u8; 64];
        let read = io.read_stream_with(|s| {
            let n = (&*s).read(&mut buf)?;
            Ok((n, n < buf.len()))
        });
        tokio::time::timeout(Duration::from_secs(5), read).await.expect("bytes").expect("a read")
    }

    /// Whether tokio holds the socket readable right now.
    async fn held_ready(io: &Fd<TcpStream>) -> bool {
        future::poll_once(io.0.readable()).await.is_some()
    }

    #[test]
    fn a_short_read_forgets_readiness_and_a_full_one_keeps_it() {
        Tokio::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let mut peer =
                TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
            let io = Tokio::register(listener.accept().expect("accept").0).expect("register");

            peer.write_all(b"hello").expect("write");
            tokio::time::timeout(Duration::from_secs(5), io.readable())
                .await
                .expect("seen")
                .expect("ok");
            assert!(held_ready(&io).await);
            assert_eq!(read(&io).await, 5);
            // Without clearing, the next wait would start with a read that
            // finds nothing (one wasted system call a request).
            assert!(!held_ready(&io).await, "readiness kept after a short read");

            peer.write_all(&[7; 100]).expect("write");
            tokio::time::timeout(Duration::from_secs(5), io.readable())
                .await
                .expect("seen")
                .expect("ok");
            assert_eq!(read(&io).await, 64);
            assert!(held_ready(&io).await, "a full read must keep readiness: more may wait");
            assert_eq!(read(&io).await, 36);
            assert!(!held_ready(&io).await);
        });
    }
}
