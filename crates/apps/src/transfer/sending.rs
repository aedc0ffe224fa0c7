//! The sending side: the disk reads of a [`Sender`], and
//! [`send_file`], which connects and drives one transfer.

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sansnet_net::{Clock, Endpoint, ServerConfig, Transport};
use sansnet_proto::App;
use sansnet_proto::file::{Hash, Limits, Refusal, Sender, sender};

use super::{AppClock, Progress};
use crate::disk::read_at;
use crate::tls::{ClientTls, Event, Secured};

/// A file sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The name the receiver stores it under.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its BLAKE3.
    pub hash: Hash,
    /// Whether the receiver confirmed the hash (`DONE`); false after a
    /// bare `OK` (the reference Python receiver), which confirms nothing.
    pub verified: bool,
}

impl Sent {
    /// The line `sansnet file send` prints: `sent NAME (SIZE bytes, BLAKE3
    /// HEX) to PEER in T s (R MB/s): verified` (or `unverified`), the name
    /// escaped.
    pub fn summary(&self, to: &dyn std::fmt::Display, took: Duration) -> String {
        let (name, size, hash) =
            (sansnet_proto::text::escape(&self.name), self.size, self.hash.to_hex());
        let secs = took.as_secs_f64();
        let rate = size as f64 / secs.max(1e-9) / 1e6;
        let verified = if self.verified { "verified" } else { "unverified" };
        format!(
            "sent {name} ({size} bytes, BLAKE3 {hash}) to {to} in {secs:.2} s ({rate:.0} MB/s): {verified}"
        )
    }
}

/// Why a file was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The file cannot be opened or read.
    #[error("cannot open {}: {err}", .0.display(), err = .1)]
    Open(PathBuf, io::Error),
    /// Not a regular file.
    #[error("{} is not a regular file", .0.display())]
    NotAFile(PathBuf),
    /// Its last path component cannot be sent as a file name.
    #[error("{0}")]
    BadName(String),
    /// The connection could not be made.
    #[error("cannot connect to {0}: {1}")]
    Connect(Endpoint, io::Error),
    /// The receiver answered `ERR`.
    #[error("the receiver refused: ERR {0}")]
    Refused(Refusal),
    /// The exchange broke the protocol or timed out.
    #[error(transparent)]
    Protocol(#[from] sender::Error),
    /// Reading the file failed midway.
    #[error("reading the file: {0}")]
    Read(io::Error),
    /// The file shrank while it was sent.
    #[error("the file shrank while it was sent")]
    Shrank,
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The connection ended before the transfer did.
    #[error("the connection ended early")]
    EndedEarly,
    /// TLS failed (the handshake, or a record), or the receiver cut the
    /// stream without `close_notify`.
    #[error(transparent)]
    Tls(#[from] sansnet_tls::Error),
}

impl SendError {
    /// Whether it came before any byte was exchanged with the receiver
    /// (the file, its name, the connection): the error says it all then.
    pub fn before_connection(&self) -> bool {
        matches!(
            self,
            SendError::Open(..)
                | SendError::NotAFile(_)
                | SendError::BadName(_)
                | SendError::Connect(..)
        )
    }
}

/// Sends the file at `path` to the receiver at `endpoint` over the runtime
/// `R`, with `config`'s socket options and write timeout (each chunk of the
/// file must be written whole within it: a receiver that stops reading, or
/// reads a few bytes now and then, is given up on): `timeout` bounds the
/// connect and each wait for an answer.
/// `progress` is called with the file's name and size once it is open, and
/// what it returns hears how far the transfer got.
pub fn send_file<R: Transport, P: Progress>(
    path: &Path,
    endpoint: &Endpoint,
    config: &ServerConfig,
    timeout: Duration,
    progress: impl FnOnce(&str, u64) -> P,
    tls: Option<&ClientTls>,
) -> Result<Sent, SendError> {
    // Without waiting: opening a FIFO for reading would block until a writer
    // came; its type is checked right after.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| SendError::Open(path.into(), e))?;
    let meta = file.metadata().map_err(|e| SendError::Open(path.into(), e))?;
    if !meta.is_file() {
        return Err(SendError::NotAFile(path.into()));
    }
    let size = meta.len();
    let name = file_name(path)?;
    let stream = config
        .socket
        .connect(endpoint, Some(timeout))
        .map_err(|e| SendError::Connect(endpoint.clone(), e))?;
    let limits = Limits::default()
        .with_ack_timeout(timeout)
        .with_done_timeout(timeout.max(Duration::from_secs(60)));
    let clock = Clock::new();
    let now = clock.now();
    let mut tx =
        Sender::new(&name, size, limits, now).map_err(|e| SendError::BadName(e.to_string()))?;
    let mut app = SendApp {
        file,
        pool: BufPool::default(),
        clock: AppClock::new(now),
        progress: progress(&name, size),
        outcome: None,
    };
    let mut failure = None;
    let driven = match tls {
        None => R::run_client(stream, config, clock, &mut tx, &mut app),
        Some(tls) => {
            let on_tls = |_: &mut SendApp<P>, _: &mut Sender, event: &Event<_>| {
                if let Event::Failed(e) = event {
                    failure = Some(e.clone());
                }
            };
            let mut session = tls.session(tx, now);
            let mut secured = Secured::new(app, on_tls);
            let driven = R::run_client(stream, config, clock, &mut session, &mut secured);
            app = secured.into_app();
            driven
        }
    };
    let outcome = app.outcome.take();
    app.progress.ended(matches!(outcome, Some(Ok(_))) && driven.is_ok() && failure.is_none());
    let (hash, verified) = match (outcome, driven) {
        // TLS failing is the cause of whatever the sender saw after it.
        _ if failure.is_some() => return Err(failure.take().expect("checked").into()),
        (Some(Err(e)), _) => return Err(e),
        (_, Err(e)) => return Err(e.into()),
        (Some(Ok(sent)), Ok(())) => sent,
        (None, Ok(())) => return Err(SendError::EndedEarly),
    };
    Ok(Sent { name, size, hash, verified })
}

/// The name the receiver stores PATH under: its last component, which
/// must be a plain UTF-8 name.
fn file_name(path: &Path) -> Result<String, SendError> {
    let bad = |why: String| Err(SendError::BadName(why));
    let Some(name) = path.file_name() else {
        return bad(format!("{} has no file name", path.display()));
    };
    let Some(name) = name.to_str() else {
        return bad(format!("{} is not a UTF-8 file name", path.display()));
    };
    if let Err(e) = sansnet_proto::file::check_name(name.as_bytes()) {
        return bad(format!("{name:?} cannot be sent as a file name: {e}"));
    }
    Ok(name.to_owned())
}

/// Read buffers, reused once the socket has taken their bytes: a fresh
/// buffer per read costs a page fault every 4 KiB.
#[derive(Clone, Debug, Default)]
struct BufPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufPool {
    /// A buffer of `len` bytes (their values are whatever was there).
    fn take(&self, len: usize) -> Vec<u8> {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
        buf.resize(len, 0);
        buf
    }

    /// `buf` as `Bytes` that return it here when the last clone is gone.
    fn bytes(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf, pool: self.clone() })
    }
}

/// A pooled buffer lent to a `Bytes`.
struct Pooled {
    buf: Vec<u8>,
    pool: BufPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut pool = self.pool.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 64 {
            pool.push(buf);
        }
    }
}

/// The sending connection's application: the disk side of a [`Sender`].
struct SendApp<P> {
    file: File,
    pool: BufPool,
    clock: AppClock,
    progress: P,
    /// The hash and whether it was verified, or the failure.
    outcome: Option<Result<(Hash, bool), SendError>>,
}

impl<P: Progress> SendApp<P> {
    /// Reads the piece the sender asked for and hands it over, on the
    /// connection's own thread, as socat and scp do: a sender is one
    /// connection whose thread has nothing else to do while it waits for
    /// the disk, and a blocking pool would cost two thread hand-offs a
    /// piece (on a 2-vCPU VM, 10,000 context switches and a quarter of the
    /// sender's CPU time for a GiB).
    fn read(&mut self, tx: &mut Sender, offset: u64, len: usize) {
        match read_at(&self.file, offset, self.pool.take(len)) {
            Ok(data) if data.len() == len => {
                self.progress.at(offset + len as u64);
                let _ = tx.supply(self.clock.now(), self.pool.bytes(data));
            }
            Ok(_) => self.fail(tx, SendError::Shrank),
            Err(e) => self.fail(tx, SendError::Read(e)),
        }
    }

    fn fail(&mut self, tx: &mut Sender, e: SendError) {
        self.outcome = Some(Err(e));
        tx.abort();
    }
}

impl<P: Progress> App<Sender> for SendApp<P> {
    fn on_event(&mut self, tx: &mut Sender, event: sender::Event) {
        match event {
            sender::Event::Accepted { offset, verified } => {
                if offset > 0 {
                    tracing::info!("the receiver has {offset} bytes already: resuming");
                }
                if !verified {
                    tracing::info!("bare OK: the receiver will not confirm the transfer");
                }
            }
            sender::Event::Read { offset, len } => self.read(tx, offset, len),
            sender::Event::Done { hash } => self.outcome = Some(Ok((hash, true))),
            sender::Event::Unverified { hash } => self.outcome = Some(Ok((hash, false))),
            sender::Event::Refused(r) => self.outcome = Some(Err(SendError::Refused(r))),
            sender::Event::Failed(e) => self.outcome = Some(Err(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::inbox::tests::{bounded, mkfifo};

    #[test]
    fn a_fifo_is_not_a_file_and_is_never_waited_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        mkfifo(dir.path(), "fifo");
        let path = dir.path().join("fifo");
        // Nobody listens there: the send must stop at the file, before any connect.
        let endpoint: Endpoint = "127.0.0.1:9".parse().expect("endpoint");
        let sent = bounded(move || {
            let config = ServerConfig::default();
            let none = |_: &str, _| ();
            send_file::<sansnet_std::Runtime, _>(
                &path,
                &endpoint,
                &config,
                Duration::from_secs(1),
                none,
                None,
            )
        });
        assert!(matches!(sent, Err(SendError::NotAFile(_))), "{sent:?}");
    }
}
