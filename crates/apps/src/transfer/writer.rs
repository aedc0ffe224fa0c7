//! The disk writer: one transfer's writes, in order, on the blocking pool.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::inbox::Claim;
use crate::disk::write_all_at;

/// Writes one transfer's batches to its partial file, in order and back to
/// back, on a thread of the blocking pool: the connection's thread (std) or
/// event loop (smol, async-std) goes on receiving and hashing meanwhile,
/// and never waits for the disk unless [`Limits::max_buffered`] bytes are
/// still unwritten. Consecutive batches waiting in the queue are joined
/// into one `pwritev`. Completions are picked up with [`DiskWriter::poll`].
///
/// The pool job runs only while batches are queued: the first batch starts
/// it, it writes until the queue is empty and then ends, and the next batch
/// starts another. A transfer that is waiting for the network holds no
/// thread (the pool has 500 at most: idle transfers must not use them up).
///
/// [`Limits::max_buffered`]: sansnet_proto::file::Limits::max_buffered
pub(super) struct DiskWriter {
    shared: Arc<Shared>,
    /// No more batches are taken (see [`DiskWriter::close`]).
    closed: bool,
    /// Bytes queued and not yet reported written.
    pub(super) queued: usize,
}

/// The file and the state the connection and the pool job share.
struct Shared {
    file: Arc<File>,
    state: Mutex<WriterState>,
}

/// The queue, and what the pool job reports.
#[derive(Default)]
struct WriterState {
    /// Batches to write: (offset, pieces), in order.
    batches: VecDeque<(u64, Vec<Bytes>)>,
    /// A pool job is writing `batches` (it ends once they are empty).
    running: bool,
    /// A write failed: later batches are dropped.
    stopped: bool,
    written: usize,
    error: Option<io::Error>,
    waker: Option<Waker>,
    /// The transfer's names, handed over when the connection ends with
    /// writes still queued: released only once they are on disk, so that a
    /// resumed transfer never reads a partial file still being written.
    claim: Option<Claim>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pool job: writes the queue until it is empty (or a write
    /// fails), then ends, letting the names go if they were handed over.
    fn drain(&self) {
        loop {
            let mut st = self.lock();
            let Some((offset, mut data)) = st.batches.pop_front() else {
                st.running = false;
                let claim = st.claim.take();
                drop(st);
                drop(claim); // outside the lock
                return;
            };
            // Join what else is waiting and follows on.
            let mut end = offset + batch_len(&data) as u64;
            while st.batches.front().is_some_and(|(next, _)| *next == end) {
                if let Some((_, more)) = st.batches.pop_front() {
                    end += batch_len(&more) as u64;
                    data.extend(more);
                }
            }
            drop(st);
            let result = write_all_at(&self.file, offset, &data);
            let mut st = self.lock();
            let claim = match result {
                Ok(()) => {
                    st.written += batch_len(&data);
                    None
                }
                Err(e) => {
                    st.error = Some(e);
                    st.stopped = true;
                    st.running = false;
                    st.batches.clear();
                    st.claim.take()
                }
            };
            let (waker, failed) = (st.waker.take(), !st.running);
            drop(st);
            drop(claim);
            if let Some(w) = waker {
                w.wake();
            }
            if failed {
                return;
            }
        }
    }
}

impl DiskWriter {
    pub(super) fn new(file: Arc<File>) -> DiskWriter {
        let shared = Arc::new(Shared { file, state: Mutex::default() });
        DiskWriter { shared, closed: false, queued: 0 }
    }

    /// Queues `data` to be written at `offset`, starting the pool job if
    /// none is running.
    pub(super) fn write(&mut self, offset: u64, data: Vec<Bytes>) {
        if self.closed {
            return;
        }
        let n = batch_len(&data);
        let mut st = self.shared.lock();
        // Once the writer stopped on an error, which `poll` reports (or
        // reported), batches are dropped, not waited for.
        if st.stopped {
            return;
        }
        st.batches.push_back((offset, data));
        self.queued += n;
        if !std::mem::replace(&mut st.running, true) {
            drop(st);
            let shared = self.shared.clone();
            blocking::unblock(move || shared.drain()).detach();
        }
    }

    /// Bytes written since the last call (`Ready(Ok(n))`), the write error,
    /// or `Pending` with `cx` woken when either comes.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.queued == 0 {
            return Poll::Pending;
        }
        let mut st = self.shared.lock();
        if let Some(e) = st.error.take() {
            self.queued = 0;
            return Poll::Ready(Err(e));
        }
        if st.written > 0 {
            let n = std::mem::take(&mut st.written);
            self.queued = self.queued.saturating_sub(n);
            return Poll::Ready(Ok(n));
        }
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            st.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Takes no more batches, and lets `claim` go once the queue is
    /// written: now if no pool job is running (every byte queued is on
    /// disk, or the writer stopped), else from the job right after its
    /// last write.
    pub(super) fn close(&mut self, claim: Option<Claim>) {
        self.closed = true;
        let mut claim = claim;
        let mut st = self.shared.lock();
        if st.running {
            st.claim = claim.take();
        }
        drop(st);
        drop(claim); // outside the lock
    }

    /// Whether a pool job is running for this writer.
    #[cfg(test)]
    fn is_running(&self) -> bool {
        self.shared.lock().running
    }
}

/// The bytes in a batch of pieces written back to back.
fn batch_len(data: &[Bytes]) -> usize {
    data.iter().map(Bytes::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::inbox::Inbox;
    use crate::transfer::inbox::tests::is_active;
    use std::path::PathBuf;
    use std::time::Duration;

    /// Waits (bounded) for the writer to report, as a driver would.
    fn next(w: &mut DiskWriter) -> io::Result<usize> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Poll::Ready(r) = w.poll(&mut Context::from_waker(Waker::noop())) {
                return r;
            }
            assert!(std::time::Instant::now() < deadline, "the writer never reported");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn temp_file(read_only: bool) -> (PathBuf, Arc<File>) {
        let path = std::env::temp_dir().join(format!(
            "sansnet-writer-{}-{read_only}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, b"").expect("create");
        let file =
            std::fs::OpenOptions::new().read(true).write(!read_only).open(&path).expect("open");
        (path, Arc::new(file))
    }

    #[test]
    fn the_writer_writes_batches_in_order_and_reports_every_byte() {
        let (path, file) = temp_file(false);
        let mut w = DiskWriter::new(file);
        let mut expect = Vec::new();
        let mut offset = 0u64;
        for i in 0..50u8 {
            let pieces: Vec<Bytes> = (0..3)
                .map(|k| Bytes::from(vec![i.wrapping_mul(7) ^ k; 1000 + i as usize]))
                .collect();
            for p in &pieces {
                expect.extend_from_slice(p);
            }
            let n: u64 = pieces.iter().map(|p| p.len() as u64).sum();
            w.write(offset, pieces);
            offset += n;
        }
        let mut reported = 0;
        while w.queued > 0 {
            reported += next(&mut w).expect("write");
        }
        assert_eq!(reported, expect.len());
        assert_eq!(std::fs::read(&path).expect("read back"), expect);
        // Nothing queued: nothing to wait for.
        assert!(w.poll(&mut Context::from_waker(Waker::noop())).is_pending());
        std::fs::remove_file(&path).expect("remove");
    }

    /// Waits (bounded) until `w`'s pool job has ended.
    fn wait_idle(w: &DiskWriter) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while w.is_running() {
            assert!(std::time::Instant::now() < deadline, "the job never ended");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// More transfers than the pool has threads (500), each waiting for
    /// its next batch, hold none of them: a job runs only while batches
    /// are queued, and the next transfer's writes still happen.
    #[test]
    fn idle_writers_hold_no_thread_of_the_pool() {
        let (path, file) = temp_file(false);
        let mut idle: Vec<DiskWriter> = (0..600).map(|_| DiskWriter::new(file.clone())).collect();
        for (i, w) in idle.iter_mut().enumerate() {
            w.write(i as u64, vec![Bytes::from_static(b"x")]);
        }
        for w in &mut idle {
            assert_eq!(next(w).expect("write"), 1);
            wait_idle(w);
        }
        let mut w = DiskWriter::new(file);
        w.write(600, vec![Bytes::from_static(b"abc")]);
        assert_eq!(next(&mut w).expect("written beside 600 idle writers"), 3);
        // Each new batch starts a job again, still in order.
        w.write(603, vec![Bytes::from_static(b"def")]);
        assert_eq!(next(&mut w).expect("write"), 3);
        wait_idle(&w);
        assert_eq!(std::fs::read(&path).expect("read back").len(), 606);
        drop((w, idle));
        std::fs::remove_file(&path).expect("remove");
    }

    #[test]
    fn names_are_released_once_the_writer_is_done_with_the_file() {
        let (path, file) = temp_file(false);
        // Every byte reported written: released at once.
        let inbox = Inbox::open(".", false).expect("open .");
        let mut w = DiskWriter::new(file.clone());
        w.write(0, vec![Bytes::from_static(b"abc")]);
        assert_eq!(next(&mut w).expect("write"), 3);
        w.close(inbox.claim(vec!["a".into()], Duration::ZERO));
        assert!(!is_active(&inbox, "a"));
        // Writes not yet reported: released by the writer thread when it
        // ends, even while the connection's side lives on.
        let mut w = DiskWriter::new(file);
        w.write(3, vec![Bytes::from(vec![1u8; 1 << 20])]);
        w.close(inbox.claim(vec!["b".into()], Duration::ZERO));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while is_active(&inbox, "b") {
            assert!(std::time::Instant::now() < deadline, "never released");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 3 + (1 << 20));
        drop(w);
        std::fs::remove_file(&path).expect("remove");
    }

    #[test]
    fn a_write_error_is_reported_once_and_stops_the_writer() {
        let (path, file) = temp_file(true);
        let mut w = DiskWriter::new(file);
        w.write(0, vec![Bytes::from_static(b"abc")]);
        w.write(3, vec![Bytes::from_static(b"def")]);
        assert!(next(&mut w).is_err());
        assert_eq!(w.queued, 0, "nothing more to wait for");
        assert!(w.poll(&mut Context::from_waker(Waker::noop())).is_pending());
        // Later batches are dropped, not waited for.
        w.write(6, vec![Bytes::from_static(b"ghi")]);
        assert_eq!(w.queued, 0);
        std::fs::remove_file(&path).expect("remove");
    }
}
