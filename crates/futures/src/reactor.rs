//! The runtime under the one async driver, as a trait: what the driver waits
//! on (a [`Reactor`]: sockets registered with it, timers, a yield), the way
//! quinn's `Runtime` serves tokio and smol from one connection driver. An
//! [`Executor`](crate::Executor) adds spawning, `block_on` and where
//! blocking work runs, and names its reactor.
//!
//! Implemented here for async-io ([`AsyncIo`], under smol and async-std),
//! and in `sansnet-tokio` for tokio's own reactor: every function of this
//! crate is generic over the reactor, so both runtimes run the same driver
//! with the same fast paths, and a tokio program starts no async-io thread.

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Async;
use sansnet_net::{EngineError, Listener, Stream};

/// A socket the driver registers with a reactor: sansnet's [`Stream`] and
/// [`Listener`], std's `UdpSocket` and `TcpStream`. Each owns its
/// descriptor, which stays open and the same until the socket is dropped
/// (what a reactor that keeps the raw descriptor, as tokio's, relies on);
/// sealed so that it stays so.
pub trait Source: AsFd + Send + Sync + 'static + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! sources {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Source for $t {}
    )*};
}
sources!(Stream, Listener, std::net::UdpSocket, std::net::TcpStream);

/// An async runtime's reactor and timers, as the driver uses them.
pub trait Reactor: Send + Sync + 'static {
    /// A non-blocking socket registered with the reactor.
    type Io<T: Source>: Socket<T>;
    /// A timer, re-armed in place.
    type Timer: Timer;

    /// Whether the driver should guess that a drained socket has new bytes
    /// after a yield and read before readiness says so. It pays where
    /// waiting for readiness costs a system call of its own (async-io
    /// re-arms its one-shot registration with `epoll_ctl` on every wait);
    /// not where the reactor keeps readiness, edge-triggered, and
    /// [`Socket::read_stream_with`] forgets it after a short read (tokio's):
    /// there a wait costs no system call, and a guess that misses costs a
    /// read that finds nothing.
    const SPECULATE: bool = true;

    /// Makes `io` non-blocking and registers it with the reactor. Called
    /// from a task of the runtime.
    fn register<T: Source>(io: T) -> io::Result<Self::Io<T>>;

    /// Lets the tasks queued before this one run (and, where the runtime
    /// does so, the reactor be polled) before going on.
    fn yield_now() -> impl Future<Output = ()> + Send;
}

/// A socket registered with a [`Reactor`]: readiness, and non-blocking
/// operations retried on readiness.
pub trait Socket<T>: Send + Sync + 'static {
    /// The socket itself, for system calls that do not wait.
    fn get_ref(&self) -> &T;

    /// Completes once the socket may be readable (or has failed).
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Completes once the socket may be writable (or has failed).
    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Runs the non-blocking read `op` at once, then again each time the
    /// socket becomes readable, until it does not fail with `WouldBlock`.
    fn read_with<R: Send, F>(&self, op: F) -> impl Future<Output = io::Result<R>> + Send
    where
        F: FnMut(&T) -> io::Result<R> + Send;

    /// [`read_with`](Self::read_with) for a stream read that also says
    /// whether it drained the socket (it returned fewer bytes than it
    /// asked for: the socket had no more). A reactor that keeps readiness
    /// until a read fails (tokio's, edge-triggered) then forgets it, as
    /// tokio's own streams do after a short read, so that the next wait
    /// waits for new bytes instead of starting with a read that finds
    /// nothing. By default, `read_with`.
    fn read_stream_with<R: Send, F>(&self, mut op: F) -> impl Future<Output = io::Result<R>> + Send
    where
        F: FnMut(&T) -> io::Result<(R, bool)> + Send,
    {
        self.read_with(move |s| op(s).map(|(r, _drained)| r))
    }

    /// The same for a non-blocking write (`write`, `write_vectored`,
    /// `send_to`), on writability.
    fn write_with<R: Send, F>(&self, op: F) -> impl Future<Output = io::Result<R>> + Send
    where
        F: FnMut(&T) -> io::Result<R> + Send;
}

/// A timer the driver keeps and moves (one per connection).
pub trait Timer: Send + Unpin + 'static {
    /// A timer that does not fire until set.
    fn never() -> Self;

    /// Fires at `at`, replacing any earlier setting.
    fn set_at(&mut self, at: Instant);

    /// Ready once the time set has come. Polled only after [`set_at`](Self::set_at).
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// Completes when `timer` fires.
pub(crate) async fn fired(timer: &mut impl Timer) {
    futures_lite::future::poll_fn(|cx| timer.poll_fired(cx)).await;
}

/// One task's timer, kept across its waits and moved only when it must:
/// when a deadline comes earlier than the one armed, or more than a second
/// later (a timer firing early is harmless: the caller finds nothing due
/// and waits again). Setting a fresh timer on every wait costs a reactor
/// lock twice, and on async-io a wakeup of the reactor's thread
/// (`insert_timer` notifies it): per request, or per chunk of a large
/// body whose socket keeps filling up.
pub(crate) struct Deadline<T> {
    timer: T,
    armed: Option<Instant>,
}

impl<T: Timer> Deadline<T> {
    /// Not armed.
    pub(crate) fn new() -> Deadline<T> {
        Deadline { timer: T::never(), armed: None }
    }

    /// Fires by `at` (at the latest), or never when `None`.
    pub(crate) fn arm(&mut self, at: Option<Instant>) {
        match at {
            Some(at) if self.armed.is_none_or(|a| at < a || at > a + Duration::from_secs(1)) => {
                self.timer.set_at(at);
                self.armed = Some(at);
            }
            Some(_) => {}
            None if self.armed.is_some() => {
                self.timer = T::never();
                self.armed = None;
            }
            None => {}
        }
    }

    /// Completes when the armed time comes (then it is disarmed); never
    /// while not armed.
    pub(crate) async fn fired(&mut self) {
        if self.armed.is_none() {
            return futures_lite::future::pending().await;
        }
        fired(&mut self.timer).await;
        self.armed = None;
    }

    /// `op` (a write), unless it is still pending at `until`: then
    /// [`EngineError::WriteStalled`] (whether a partial write counts as a
    /// stall is for the caller's deadline to say). The timer is shared
    /// with the task's other waits.
    pub(crate) async fn within<R>(
        &mut self,
        op: impl Future<Output = io::Result<R>>,
        until: Instant,
    ) -> io::Result<R> {
        let mut op = core::pin::pin!(op);
        // Most writes complete at once: they need no timer, and arming one
        // for them would move the task's timer twice a request (to the
        // write's deadline, earlier, and back to the read's).
        if let Some(r) = futures_lite::future::poll_once(op.as_mut()).await {
            return r;
        }
        loop {
            self.arm(Some(until));
            let timed_out = async {
                self.fired().await;
                None
            };
            if let Some(r) =
                futures_lite::future::or(async { Some(op.as_mut().await) }, timed_out).await
            {
                return r;
            }
            if Instant::now() >= until {
                return Err(EngineError::WriteStalled.into());
            }
        }
    }
}

/// Completes at `at`.
pub(crate) async fn sleep_until<R: Reactor>(at: Instant) {
    let mut timer = R::Timer::never();
    timer.set_at(at);
    fired(&mut timer).await;
}

/// Completes after `d`.
pub(crate) async fn sleep<R: Reactor>(d: Duration) {
    sleep_until::<R>(Instant::now() + d).await;
}

/// async-io's reactor and timers (smol's and async-std's).
#[derive(Debug)]
pub enum AsyncIo {}

impl Reactor for AsyncIo {
    type Io<T: Source> = Async<T>;
    type Timer = async_io::Timer;

    fn register<T: Source>(io: T) -> io::Result<Async<T>> {
        Async::new(io)
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
}

impl<T: AsFd + Send + Sync + 'static> Socket<T> for Async<T> {
    fn get_ref(&self) -> &T {
        Async::get_ref(self)
    }

    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        Async::readable(self)
    }

    fn writable(&self) -> impl Future<Output = io::Result<()>> + Send {
        Async::writable(self)
    }

    fn read_with<R: Send, F>(&self, op: F) -> impl Future<Output = io::Result<R>> + Send
    where
        F: FnMut(&T) -> io::Result<R> + Send,
    {
        Async::read_with(self, op)
    }

    fn write_with<R: Send, F>(&self, op: F) -> impl Future<Output = io::Result<R>> + Send
    where
        F: FnMut(&T) -> io::Result<R> + Send,
    {
        Async::write_with(self, op)
    }
}

impl Timer for async_io::Timer {
    fn never() -> Self {
        async_io::Timer::never()
    }

    fn set_at(&mut self, at: Instant) {
        async_io::Timer::set_at(self, at);
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(self).poll(cx).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    /// A timer that counts its settings and fires when told to.
    struct Fake {
        sets: usize,
        fire: bool,
    }

    impl Timer for Fake {
        fn never() -> Fake {
            Fake { sets: 0, fire: false }
        }
        fn set_at(&mut self, _at: Instant) {
            self.sets += 1;
        }
        fn poll_fired(&mut self, _cx: &mut Context<'_>) -> Poll<()> {
            if self.fire { Poll::Ready(()) } else { Poll::Pending }
        }
    }

    /// Pending `n` times, then `Ok(n)`.
    fn pending_then_ok(n: usize) -> impl Future<Output = io::Result<usize>> {
        let mut left = n;
        futures_lite::future::poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready(Ok(n));
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    #[test]
    fn writes_that_wait_share_one_timer_setting() {
        let mut d = Deadline::<Fake>::new();
        let start = Instant::now() + Duration::from_secs(30);
        for i in 0..100u32 {
            // Each write's deadline a little later than the last, as the
            // engine asks for chunk after chunk of a large body.
            let until = start + Duration::from_millis(u64::from(i));
            let n = block_on(d.within(pending_then_ok(3), until)).expect("written");
            assert_eq!(n, 3);
        }
        assert_eq!(d.timer.sets, 1, "the timer was set once, not once per wait");
        // A deadline more than a second later moves it; an earlier one too.
        d.arm(Some(start + Duration::from_secs(5)));
        d.arm(Some(start));
        assert_eq!(d.timer.sets, 3);
        d.arm(None);
        assert!(d.armed.is_none());
    }

    #[test]
    fn a_write_still_pending_at_its_deadline_stalls() {
        let mut d = Deadline::<Fake>::new();
        d.timer.fire = true;
        let past = Instant::now();
        let r = block_on(d.within(futures_lite::future::pending::<io::Result<()>>(), past));
        assert_eq!(r.expect_err("stalled").kind(), io::ErrorKind::TimedOut);
        // One that completes at once never waits for the timer.
        let n = block_on(d.within(pending_then_ok(0), past)).expect("written");
        assert_eq!(n, 0);
    }

    #[test]
    fn a_write_done_at_once_leaves_the_read_timer_where_it_is() {
        let mut d = Deadline::<Fake>::new();
        let idle = Instant::now() + Duration::from_secs(60);
        d.arm(Some(idle));
        for _ in 0..10 {
            // The write's deadline is earlier than the idle one armed.
            let until = Instant::now() + Duration::from_secs(10);
            assert_eq!(block_on(d.within(pending_then_ok(0), until)).expect("written"), 0);
            d.arm(Some(idle));
        }
        assert_eq!(d.timer.sets, 1, "set for the idle wait alone");
        assert_eq!(d.armed, Some(idle));
    }
}
