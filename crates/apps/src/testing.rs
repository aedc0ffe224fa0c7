//! An in-memory driver for the HTTP apps' unit tests: the core's drain
//! contract, no sockets; work on the blocking pool is waited for.

use bytes::BytesMut;
use sansnet_proto::http::{Limits, ServerConn};
use sansnet_proto::{App, Instant, Session};

/// Feeds `input` to a fresh connection running `app` and returns every byte
/// it wrote, calling `on_drained` whenever the output was taken, as the
/// transports do. Also checks that the app never queued more than
/// `max_queued` bytes at once.
pub(crate) fn exchange_bytes<A: App<ServerConn>>(
    mut app: A,
    input: &[u8],
    max_queued: usize,
) -> Vec<u8> {
    let now = Instant::ZERO;
    let mut conn = ServerConn::new(Limits::default(), now);
    let mut inbox = BytesMut::from(input);
    let mut wire = Vec::new();
    let mut eof = false;
    loop {
        let mut moved = false;
        if conn.wants_read() && !inbox.is_empty() {
            let before = inbox.len();
            conn.handle_read(now, &mut inbox);
            moved |= inbox.len() != before;
        }
        while let Some(ev) = conn.poll_event() {
            moved = true;
            app.on_event(&mut conn, ev);
        }
        assert!(conn.transmit_queued() <= max_queued, "queued {}", conn.transmit_queued());
        while let Some(b) = conn.poll_transmit() {
            moved = true;
            wire.extend_from_slice(&b);
        }
        if conn.is_finished() {
            break;
        }
        if !moved && app.is_working() {
            wait_for_work(&mut app, &mut conn);
            continue;
        }
        if !moved {
            app.on_drained(&mut conn);
            assert!(conn.transmit_queued() <= max_queued, "queued {}", conn.transmit_queued());
            if conn.transmit_queued() > 0 {
                continue;
            }
            if inbox.is_empty() && conn.wants_read() && !eof {
                eof = true;
                conn.handle_eof(now);
                continue;
            }
            break;
        }
    }
    wire
}

/// Polls the app's work until some of it is done (bounded).
fn wait_for_work<A: App<ServerConn>>(app: &mut A, conn: &mut ServerConn) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    while app.poll_work(conn, &mut cx).is_pending() {
        assert!(std::time::Instant::now() < deadline, "the work never finished");
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// [`exchange_bytes`] as text (lossy), with no bound on what is queued.
pub(crate) fn exchange<A: App<ServerConn>>(app: A, input: &[u8]) -> String {
    String::from_utf8_lossy(&exchange_bytes(app, input, usize::MAX)).into_owned()
}
