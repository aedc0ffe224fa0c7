//! The invariants of the web port's fuzz target, in one place.
//!
//! Included by path from `fuzz/fuzz_targets/web_port.rs` and from the
//! replay test `tests/integration/fuzz_replay.rs`, which runs every file of
//! `fuzz/corpus/web_port/` and `fuzz/regressions/web_port/` through the
//! same function on stable. Only `sansnet_proto` and `bytes` are used.
//!
//! Input layout: one byte of flags (bit 0: a valid WebSocket upgrade goes
//! first; bit 1: the peer never reads; the rest seed the split pattern),
//! then what the peer sends the web port: requests, frames or garbage.
//! A TCP member is in the room throughout.
#![allow(dead_code)] // each fuzz target uses one check

use std::time::Duration;

use bytes::Bytes;
use sansnet_proto::chat::{self, Room};
use sansnet_proto::testing::{Conns, HubConns};
use sansnet_proto::web::{WebConfig, WebEvent, WebHub};
use sansnet_proto::{ConnId, Instant, http, ws};

/// The largest message (and the bound on answers a peer leaves unread).
const MAX_MESSAGE: usize = 300;
/// The room's budget of unsent bytes per member.
const BUDGET: usize = 4096;
const UPGRADE: &[u8] =
    b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Piece sizes (1 to 64 bytes) from a seed (xorshift32).
fn sizes(seed: u8) -> impl Iterator<Item = usize> {
    let mut rng = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    std::iter::repeat_with(move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        (rng % 64) as usize + 1
    })
}

/// Feeds the input to a web connection beside a TCP member; checks that
/// nothing panics, that a peer that never reads holds a bounded amount,
/// and that the TCP member is still served.
pub(crate) fn web_port(data: &[u8]) {
    let Some((&flags, input)) = data.split_first() else { return };
    let ws = ws::Limits::default().with_max_frame(200).with_max_message(MAX_MESSAGE);
    let config = WebConfig {
        port: 1,
        page: Bytes::from_static(b"<p>page</p>"),
        http: http::Limits::default().with_max_body(MAX_MESSAGE as u64),
        ws,
    };
    let room = Room::new(chat::Limits::default().with_outbound_budget(BUDGET));
    let mut h = HubConns::new(WebHub::new(config, room), Instant::ZERO);
    let mut app = |_: &Conns, _: WebEvent<chat::Event>| {};
    let (web, tcp) = (ConnId(1), ConnId(2));
    h.open(tcp, "10.0.0.1:1", &mut app);
    h.read(tcp, br#"{"username":"tim"}"#, &mut app);
    h.open_on(web, "10.0.0.2:2", 1, &mut app);
    h.conn(web).stalled = flags & 2 != 0;
    if flags & 1 != 0 {
        h.read(web, UPGRADE, &mut app);
    }
    let mut rest = input;
    for n in sizes(flags >> 2) {
        if rest.is_empty() || h.is_closing(web) {
            break;
        }
        let (piece, after) = rest.split_at(n.min(rest.len()));
        h.read(web, piece, &mut app);
        rest = after;
        let queued: usize = h.conn(web).outq.iter().map(Bytes::len).sum();
        assert!(queued <= MAX_MESSAGE + BUDGET + 2048, "{queued} bytes queued for a peer");
    }
    let later = h.now + Duration::from_secs(120);
    h.timeout(later, &mut app);
    // The TCP member is still served.
    h.take_sent(tcp);
    h.read(tcp, br#"{"list":true}"#, &mut app);
    let sent: Vec<u8> = h.take_sent(tcp).iter().flat_map(|b| b.to_vec()).collect();
    assert!(sent.ends_with(b"\n") && sent.windows(7).any(|w| w == b"\"users\""), "{sent:?}");
}
