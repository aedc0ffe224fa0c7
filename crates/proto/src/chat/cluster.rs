//! One room across many server processes (PROTOCOLS.md §6), without I/O:
//! what a [`Room`](super::Room) says to the other nodes of its room and
//! what it hears from them.
//!
//! A clustered room ([`Room::clustered`](super::Room::clustered)) is the
//! same machine as a lone one, with one more input and one more output:
//!
//! - **Out** ([`Event::Cluster`](super::Event::Cluster) with a
//!   [`ToCluster`]): envelopes to publish on the room's channel
//!   ([`ToCluster::Publish`]), names to claim room-wide
//!   ([`ToCluster::Claim`]) or to give back ([`ToCluster::Release`]). The
//!   application hands them to a bridge (the Redis connection of
//!   sansnet-apps), in order.
//! - **In** ([`Input::Message`](crate::Input::Message)): what the bridge
//!   hears, as bytes made by [`from_channel`] (a payload from the room's
//!   channel, any node's, this one's included) or [`Notice::encode`] (the
//!   bridge's own news: link up or down, a claim's answer, a name lost).
//!
//! The room does the rest itself, with its clock: it tells the others it
//! is alive every third of [`Cluster::ttl`]; a node not heard from for
//! `ttl` is dead and its members are announced `left`; envelopes carry the
//! sender's node id, incarnation and a sequence number, so a node ignores
//! its own and never delivers one twice. Names live in the broker with
//! the same time to live, refreshed by the bridge while their node runs,
//! so a dead node's names free themselves.
//!
//! # The envelope
//!
//! One JSON object per publish, `kind` saying what it carries:
//!
//! | `kind` | fields | meaning |
//! | --- | --- | --- |
//! | `hello` | `members`, `ask` | who is on the sending node (at start and after a reconnection); `ask`: every node answers with its own `hello` |
//! | `alive` | | the node runs (every `ttl`/3) |
//! | `joined` | `name` | a member joined on the sending node |
//! | `left` | `name` | it left |
//! | `message` | `from`, `content`, `to` (optional) | a member's message: to everyone, or to the named members |
//!
//! and on every envelope `node` (the node id), `inc` (the incarnation: a
//! random number per start of the process) and `seq` (from 1, one more per
//! envelope of that incarnation).

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::ConnId;

/// A clustered room's identity and timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// This node's id (`--node-id`): unique among the room's nodes.
    pub node: String,
    /// A number chosen at random when the process starts: a node that
    /// restarts with the same id starts a new sequence.
    pub incarnation: u64,
    /// A node not heard from for this long is dead (`--node-ttl`, 10 s by
    /// default); names in the broker live as long without a refresh.
    pub ttl: Duration,
}

impl Cluster {
    /// The default [`ttl`](Cluster::ttl).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

    /// A node `node` of incarnation `incarnation`, with the default ttl.
    pub fn new(node: impl Into<String>, incarnation: u64) -> Cluster {
        Cluster { node: node.into(), incarnation, ttl: Cluster::DEFAULT_TTL }
    }

    /// Sets [`ttl`](Cluster::ttl) (at least 300 ms).
    pub fn with_ttl(mut self, ttl: Duration) -> Cluster {
        self.ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// How often the node says it is alive, and the bridge refreshes its
    /// names: a third of the ttl.
    pub fn heartbeat(&self) -> Duration {
        self.ttl / 3
    }
}

/// What a clustered room asks of its bridge, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToCluster {
    /// Publish this envelope on the room's channel.
    Publish(Bytes),
    /// Claim `name` for this node, with every look-alike key of it, all
    /// or none, atomically; answer with [`Notice::Claimed`]. The bridge
    /// keeps the keys alive (refreshing their ttl) until
    /// [`ToCluster::Release`], and says [`Notice::Lost`] if they are gone
    /// or another node's when it refreshes them.
    Claim {
        /// The connection that asked (or the member, when a name taken
        /// while the link was down is claimed afterwards).
        conn: ConnId,
        /// The name.
        name: String,
        /// Its keys ([`crate::text::name_keys`]): the claim fails if any is
        /// held by another node.
        keys: Vec<String>,
    },
    /// Give `name` back (the member left): delete its keys where they are
    /// still this node's.
    Release {
        /// The name.
        name: String,
    },
}

/// What the bridge tells the room about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Connected (first, or again) and subscribed: the room says who is
    /// here and asks the others to, then claims the names taken while the
    /// link was down.
    Up,
    /// The link to the broker is lost: local chat goes on, nothing crosses
    /// nodes, no node is declared dead until the link is back.
    Down,
    /// The answer to [`ToCluster::Claim`].
    Claimed {
        /// The connection of the claim.
        conn: u64,
        /// The name claimed.
        name: String,
        /// Whether this node now holds it.
        ok: bool,
    },
    /// A name of this node's is gone from the broker or held by another
    /// node (it expired while the link was down): its member is closed.
    Lost {
        /// The name.
        name: String,
    },
}

/// The first byte of an [`Input::Message`](crate::Input::Message) from
/// the channel.
const FROM_CHANNEL: u8 = b'C';
/// The first byte of a [`Notice`].
const NOTICE: u8 = b'N';

impl Notice {
    /// The notice as the bytes of an [`Input::Message`](crate::Input::Message).
    pub fn encode(&self) -> Bytes {
        let mut out = alloc::vec![NOTICE];
        // Serialising a plain enum into memory cannot fail (and `to_vec`
        // needs no `std`, unlike `to_writer`).
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        Bytes::from(out)
    }
}

/// A payload heard on the room's channel as the bytes of an
/// [`Input::Message`](crate::Input::Message).
pub fn from_channel(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 1);
    out.put_u8(FROM_CHANNEL);
    out.extend_from_slice(payload);
    out.freeze()
}

/// An input message, decoded.
#[derive(Debug)]
pub(super) enum Inbound {
    Envelope(Envelope),
    Notice(Notice),
}

impl Inbound {
    /// `None` for anything malformed (a peer node that speaks another
    /// version, or garbage someone published on the channel).
    pub(super) fn decode(data: &[u8]) -> Option<Inbound> {
        match data.split_first()? {
            (&FROM_CHANNEL, rest) => serde_json::from_slice(rest).ok().map(Inbound::Envelope),
            (&NOTICE, rest) => serde_json::from_slice(rest).ok().map(Inbound::Notice),
            _ => None,
        }
    }
}

/// One envelope on the room's channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Envelope {
    pub(super) node: String,
    pub(super) inc: u64,
    pub(super) seq: u64,
    #[serde(flatten)]
    pub(super) body: Body,
}

/// What an envelope carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Body {
    Hello {
        members: Vec<String>,
        ask: bool,
    },
    Alive,
    Joined {
        name: String,
    },
    Left {
        name: String,
    },
    Message {
        from: String,
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Vec<String>>,
    },
}

impl Envelope {
    /// The envelope as one publish.
    pub(super) fn encode(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}
