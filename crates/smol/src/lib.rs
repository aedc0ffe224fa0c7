//! # sansnet-smol: the sansnet machines over smol
//!
//! A shim: the driver is `sansnet-futures`; this crate adds smol's executor
//! (one thread per core) and a blocking [`serve`] with the same signature
//! as `sansnet_std::serve`, so a program changes runtime by changing one
//! `use` line:
//!
//! ```no_run
//! use sansnet_smol as rt; // or: use sansnet_std as rt; / use sansnet_async_std as rt;
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

use sansnet_futures::{AsyncIo, Executor, LocalFuture, Spawner};
use std::future::Future;
use std::io;

sansnet_net::transport!("smol", sansnet_futures, Smol);

/// smol's executor, as `sansnet-futures` runs on it.
#[derive(Debug)]
pub enum Smol {}

impl Executor for Smol {
    type Reactor = AsyncIo;

    /// On an executor with one thread fewer than the cores (see
    /// [`sansnet_futures::executor_threads`]).
    fn serve(main: impl FnOnce(&dyn Spawner) -> io::Result<()>) -> io::Result<()> {
        on_executor(|ex| main(&Running(ex)))
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        smol::block_on(future)
    }
}

/// A running smol executor.
struct Running<'a, 'e>(&'a smol::Executor<'e>);

impl Spawner for Running<'_, '_> {
    fn spawn(&self, task: Task) {
        self.0.spawn(task).detach();
    }

    fn run(&self, server: LocalFuture<'_, io::Result<()>>) -> io::Result<()> {
        smol::block_on(self.0.run(server))
    }
}

/// Runs `main` with an executor that [`sansnet_futures::executor_threads`]
/// threads (the caller's included) keep running until `main` returns.
/// async-io has one reactor, polled by whichever thread blocks in it, and
/// every extra executor thread is woken from there: on the 2-core machine
/// where the figures in the README were taken, one thread served 190k HTTP
/// req/s and two 150k (the load generator shares those cores).
fn on_executor<T>(main: impl FnOnce(&smol::Executor<'_>) -> T) -> T {
    let ex = smol::Executor::new();
    let threads = sansnet_futures::executor_threads();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    std::thread::scope(|scope| {
        for _ in 1..threads {
            let (ex, stopped) = (&ex, stopped.clone());
            scope.spawn(move || smol::block_on(ex.run(stopped.recv())));
        }
        let r = main(&ex);
        drop(stop);
        r
    })
}
