//! # sansnet-async-std: the sansnet machines over async-std
//!
//! async-std is discontinued upstream (its README points to smol; advisory
//! RUSTSEC-2025-0052). It stays because users asked for it, as a shim so
//! thin that dropping it later deletes this one file: the driver is
//! `sansnet-futures` (async-std runs on async-io like smol); this crate adds
//! async-std's spawn and a blocking [`serve`] with the same signature as
//! `sansnet_std::serve` and `sansnet_smol::serve`:
//!
//! ```no_run
//! use sansnet_async_std as rt; // or: use sansnet_smol as rt; / use sansnet_std as rt;
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

sansnet_net::transport!("async-std", sansnet_futures, AsyncStd);

/// async-std's executor. It is global: spawning onto it and running a
/// server on it need no handle, so this one value is both the
/// [`Executor`] and its [`Spawner`].
#[derive(Debug)]
pub struct AsyncStd;

impl Spawner for AsyncStd {
    fn spawn(&self, task: Task) {
        async_std::task::spawn(task);
    }

    fn run(&self, server: LocalFuture<'_, io::Result<()>>) -> io::Result<()> {
        async_std::task::block_on(server)
    }
}

impl Executor for AsyncStd {
    type Reactor = AsyncIo;

    fn serve(main: impl FnOnce(&dyn Spawner) -> io::Result<()>) -> io::Result<()> {
        main(&AsyncStd)
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        async_std::task::block_on(future)
    }
}
