//! The HTTP apps' unit tests on the core's harness ([`sansnet_proto::testing`]):
//! the drain contract asserted at every step, no sockets; work on the
//! blocking pool is waited for.

use sansnet_proto::http::{Limits, ServerConn};
use sansnet_proto::testing::{Conn, Step, Writes};
use sansnet_proto::{App, Instant, Session};

/// Feeds `input` to a fresh connection running `app`, ends the stream once
/// the connection wants more, and returns every byte it wrote; sends are
/// reported as the transports report them (so `on_drained` is called).
/// Also checks that the app never queued more than `max_queued` bytes at
/// once.
pub(crate) fn exchange_bytes<A: App<ServerConn>>(
    mut app: A,
    input: &[u8],
    max_queued: usize,
) -> Vec<u8> {
    let mut conn = Conn::new(ServerConn::new(Limits::default(), Instant::ZERO), Instant::ZERO)
        .with_writes(Writes::Report);
    let watch = |s: &ServerConn, step: Step| {
        if matches!(step, Step::Events | Step::Round) {
            assert!(s.transmit_queued() <= max_queued, "queued {}", s.transmit_queued());
        }
    };
    conn.feed(input);
    conn.drain_with(&mut app, watch);
    settle(&mut conn, &mut app, watch);
    if !conn.session.is_finished() && conn.wants_read() {
        conn.feed_eof();
        conn.drain_with(&mut app, watch);
        settle(&mut conn, &mut app, watch);
    }
    conn.take_wire()
}

/// Waits for the app's work (bounded), draining after each piece of it.
fn settle<A: App<ServerConn>>(
    conn: &mut Conn<ServerConn>,
    app: &mut A,
    watch: impl Fn(&ServerConn, Step) + Copy,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.is_working() && !conn.session.is_finished() {
        if conn.poll_work(app) {
            conn.drain_with(app, watch);
        } else {
            assert!(std::time::Instant::now() < deadline, "the work never finished");
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

/// [`exchange_bytes`] as text (lossy), with no bound on what is queued.
pub(crate) fn exchange<A: App<ServerConn>>(app: A, input: &[u8]) -> String {
    String::from_utf8_lossy(&exchange_bytes(app, input, usize::MAX)).into_owned()
}
