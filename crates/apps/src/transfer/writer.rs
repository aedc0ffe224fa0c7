//! The disk writer: one transfer's writes, in order, on the blocking pool.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex, mpsc};
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
pub(super) struct DiskWriter {
    queue: Option<mpsc::Sender<(u64, Vec<Bytes>)>>,
    state: Arc<Mutex<WriterState>>,
    /// Bytes queued and not yet reported written.
    pub(super) queued: usize,
}

/// What the writer thread reports.
#[derive(Default)]
struct WriterState {
    written: usize,
    error: Option<io::Error>,
    waker: Option<Waker>,
    /// The transfer's names, handed over when the connection ends with
    /// writes still queued: released only once they are on disk, so that a
    /// resumed transfer never reads a partial file still being written.
    claim: Option<Claim>,
    /// The writer thread ended.
    finished: bool,
}

impl DiskWriter {
    pub(super) fn new(file: Arc<File>) -> DiskWriter {
        let (queue, batches) = mpsc::channel::<(u64, Vec<Bytes>)>();
        let state = Arc::new(Mutex::new(WriterState::default()));
        let report = state.clone();
        blocking::unblock(move || {
            let mut carry = None;
            while let Some((offset, mut data)) = carry.take().or_else(|| batches.recv().ok()) {
                // Join what else is waiting and follows on.
                let mut end = offset + batch_len(&data) as u64;
                while let Ok((next, more)) = batches.try_recv() {
                    if next != end {
                        carry = Some((next, more));
                        break;
                    }
                    end += batch_len(&more) as u64;
                    data.extend(more);
                }
                if !report_write(&report, &data, write_all_at(&file, offset, &data)) {
                    break;
                }
            }
            // Done with the file: the names may go (here, not when the
            // connection is dropped, which may be later).
            let claim = {
                let mut st = report.lock().unwrap_or_else(|e| e.into_inner());
                st.finished = true;
                st.claim.take()
            };
            drop(claim);
        })
        .detach();
        DiskWriter { queue: Some(queue), state, queued: 0 }
    }

    /// Queues `data` to be written at `offset`.
    pub(super) fn write(&mut self, offset: u64, data: Vec<Bytes>) {
        let n = batch_len(&data);
        // A send fails only once the writer stopped on an error, which
        // `poll` reports (or reported: then the queue is gone).
        if let Some(queue) = &self.queue
            && queue.send((offset, data)).is_ok()
        {
            self.queued += n;
        }
    }

    /// Bytes written since the last call (`Ready(Ok(n))`), the write error,
    /// or `Pending` with `cx` woken when either comes.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.queued == 0 {
            return Poll::Pending;
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = st.error.take() {
            self.queued = 0;
            self.queue = None;
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

    /// Stops the writer once the queue is written, and lets `claim` go
    /// then: now if every byte queued is on disk (reported or not) or the
    /// writer is gone, else from the writer thread right after its last
    /// write (it does not wait for anything once the queue is closed).
    pub(super) fn close(&mut self, claim: Option<Claim>) {
        let mut claim = claim;
        if self.queued > 0 {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !st.finished && st.written < self.queued {
                st.claim = claim.take();
            }
        }
        self.queue = None;
        drop(claim); // outside the lock
    }
}

/// The bytes in a batch of pieces written back to back.
fn batch_len(data: &[Bytes]) -> usize {
    data.iter().map(Bytes::len).sum()
}

/// Records a write's outcome for [`DiskWriter::poll`]; false if the writer
/// must stop.
fn report_write(state: &Mutex<WriterState>, data: &[Bytes], r: io::Result<()>) -> bool {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let ok = match r {
        Ok(()) => {
            st.written += batch_len(data);
            true
        }
        Err(e) => {
            st.error = Some(e);
            false
        }
    };
    let waker = st.waker.take();
    drop(st);
    if let Some(w) = waker {
        w.wake();
    }
    ok
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
