//! One chat room across many server processes, through Redis
//! (PROTOCOLS.md §6): the bridge between a clustered
//! [`Room`](sansnet_proto::chat::Room) and Redis.
//!
//! The room decides everything (see [`sansnet_proto::chat::cluster`]); the
//! bridge carries out what it asks ([`ToCluster`], in order) and tells it
//! what it hears:
//!
//! - [`ToCluster::Publish`]: `PUBLISH sansnet:chat:ROOM <envelope>`
//!   (consecutive ones pipelined).
//! - [`ToCluster::Claim`]: one Lua script sets every key of the name
//!   (`sansnet:chat:ROOM:name:KEY`) to this node's id with the node ttl,
//!   unless one is another node's; the answer goes back as
//!   [`Notice::Claimed`]. Names claimed are refreshed every ttl/3 (the same
//!   script over all of them); one found to be another node's is
//!   [`Notice::Lost`].
//! - [`ToCluster::Release`]: deletes the name's keys that are still ours.
//! - What arrives on the channel goes to the room through its
//!   [`Mailbox`], as [`from_channel`](sansnet_proto::chat::cluster::from_channel) bytes; the link's state as
//!   [`Notice::Up`] (connected and subscribed) and [`Notice::Down`].
//!
//! When Redis goes away the bridge says [`Notice::Down`], reconnects with
//! back-off (100 ms, doubling to 5 s), resubscribes, says [`Notice::Up`]
//! and refreshes its names at once. A claim it could not carry out is not
//! answered (the room admits the member locally on `Down` and claims the
//! name again after `Up`); publishes it could not carry out are counted
//! and logged when the link is back.
//!
//! The bridge runs on a thread of its own per server, with the client
//! that matches the server's runtime: redis' async client on a
//! current-thread tokio runtime (`tokio-comp`) for tokio, on async-io
//! (`smol-comp`) for smol and async-std (so a tokio program starts no
//! async-io reactor); its blocking client for std (and one more thread
//! that reads the subscription). The room hands it its orders through an
//! channel ([`Link::send`]): the room never waits for Redis. What waits
//! in it for a Redis that cannot keep up is bounded: past
//! [`MAX_BACKLOG`] bytes of envelopes, publishes are dropped (counted and
//! logged); claims and releases always go.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use redis::{Client, Pipeline, RedisResult, Script, ScriptInvocation};
use sansnet_net::{Mail, Mailbox, Transport};
use sansnet_proto::chat::cluster::{Cluster, Notice, ToCluster};
use sansnet_proto::text::escape;

mod aio;
mod blocking;

/// What `sansnet chat serve --redis` was told (PROTOCOLS.md §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `redis://HOST:PORT[/DB]` or `redis+unix:///PATH`.
    pub url: String,
    /// The room's name: servers with the same Redis and room are one room.
    pub room: String,
    /// This server's node id, unique in the room.
    pub node_id: String,
    /// A node not heard from for this long is gone; names live as long
    /// without a refresh.
    pub ttl: Duration,
}

impl ClusterOptions {
    /// The default [`room`](ClusterOptions::room).
    pub const DEFAULT_ROOM: &'static str = "lobby";

    /// Options for Redis at `url`, room `room`, node `node_id` (`None`: a
    /// random one) and `ttl`.
    pub fn new(url: &str, room: &str, node_id: Option<&str>, ttl: Duration) -> ClusterOptions {
        let node_id = node_id.map_or_else(random_node_id, String::from);
        ClusterOptions { url: url.into(), room: room.into(), node_id, ttl }
    }
}

/// A random node id: 8 hex digits.
pub fn random_node_id() -> String {
    format!("{:08x}", random() as u32)
}

/// A random number (std's per-process random hash keys, over the time).
fn random() -> u64 {
    RandomState::new().hash_one((SystemTime::now(), std::process::id(), thread::current().id()))
}

/// Redis could not be reached, or its URL is wrong.
#[derive(Debug, thiserror::Error)]
#[error("redis {place}: {message}")]
pub struct ClusterError {
    /// Where Redis was looked for (the URL's address, without any
    /// password).
    pub place: String,
    /// What went wrong.
    pub message: String,
}

/// The script that claims names: for each name (ARGV[3..]: how many of
/// KEYS are its keys, in order), if no key is held by another node than
/// ARGV[1], every key is set to ARGV[1] for ARGV[2] ms; returns the
/// positions (from 1) of the names that are another node's.
const CLAIM: &str = r"
local node, ttl, lost, k = ARGV[1], ARGV[2], {}, 1
for i = 3, #ARGV do
  local n, ok = tonumber(ARGV[i]), true
  for j = k, k + n - 1 do
    local v = redis.call('GET', KEYS[j])
    if v and v ~= node then ok = false end
  end
  if ok then
    for j = k, k + n - 1 do redis.call('SET', KEYS[j], node, 'PX', ttl) end
  else
    table.insert(lost, i - 2)
  end
  k = k + n
end
return lost
";

/// The script that releases a name: deletes the KEYS still held by ARGV[1].
const RELEASE: &str = r"
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end
end
return 0
";

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The first pause before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between reconnections.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// At most this many orders are taken at once (consecutive publishes go
/// in one pipeline).
const BATCH: usize = 1024;
/// How often the blocking subscriber looks whether it should stop.
const POLL: Duration = Duration::from_millis(200);

/// The most bytes of envelopes waiting for the bridge (a Redis slower than
/// the room's members): past it, publishes are dropped.
pub const MAX_BACKLOG: usize = 64 << 20;

/// The room's end of the bridge: where its orders go.
#[derive(Clone, Debug)]
pub struct Link(Orders, Arc<Backlog>);

/// Envelopes handed to the bridge and not taken yet.
#[derive(Debug, Default)]
struct Backlog {
    bytes: AtomicUsize,
    dropped: AtomicU64,
}

impl Backlog {
    /// The bridge took `orders` off the channel.
    fn taken<'a>(&self, orders: impl IntoIterator<Item = &'a ToCluster>) {
        let n: usize = orders
            .into_iter()
            .map(|o| match o {
                ToCluster::Publish(data) => data.len(),
                _ => 0,
            })
            .sum();
        self.bytes.fetch_sub(n, Ordering::Relaxed);
    }
}

/// The channel to the bridge's thread, as its driver reads it.
#[derive(Clone, Debug)]
enum Orders {
    Async(async_channel::Sender<ToCluster>),
    Blocking(mpsc::Sender<blocking::Input>),
}

impl Link {
    /// Hands `order` to the bridge, without waiting.
    pub fn send(&self, order: ToCluster) {
        if let ToCluster::Publish(data) = &order {
            let backlog = &self.1;
            if backlog.bytes.load(Ordering::Relaxed) + data.len() > MAX_BACKLOG {
                let n = backlog.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!("redis cannot keep up: {n} messages not sent to other servers");
                }
                return;
            }
            backlog.bytes.fetch_add(data.len(), Ordering::Relaxed);
        }
        // Fails only once the bridge is gone.
        match &self.0 {
            Orders::Async(s) => {
                let _ = s.try_send(order);
            }
            Orders::Blocking(s) => {
                let _ = s.send(blocking::Input::Order(order));
            }
        }
    }

    /// Tells the bridge the room is gone.
    fn close(&self) {
        match &self.0 {
            Orders::Async(s) => {
                s.close();
            }
            Orders::Blocking(s) => {
                let _ = s.send(blocking::Input::Stop);
            }
        }
    }
}

/// The bridge between a clustered room and Redis, running on a thread of
/// its own (see the module docs). Dropping it closes its link and waits
/// for it to release its names.
#[derive(Debug)]
pub struct Bridge {
    cluster: Cluster,
    link: Link,
    mail: Mail,
    thread: Option<JoinHandle<()>>,
    /// `node ID in room ROOM through redis at ADDR`.
    summary: String,
}

impl std::fmt::Display for Bridge {
    /// `node ID in room ROOM through redis at ADDR` (escaped): what a
    /// server says at start, so that its node id is in its log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)
    }
}

/// Where the bridge says whether its first connection succeeded.
type Ready = mpsc::SyncSender<RedisResult<()>>;

impl Bridge {
    /// Connects to Redis as `options` say (an error if it cannot), then
    /// runs the bridge for the runtime `R`. What it hears is for the
    /// room ([`Bridge::take_mail`]): [`Notice::Up`] first.
    pub fn start<R: Transport>(options: &ClusterOptions) -> Result<Bridge, ClusterError> {
        let client = Client::open(options.url.as_str()).map_err(|e| ClusterError {
            place: escape(&options.url).to_string(),
            message: format!("bad URL: {e}"),
        })?;
        let place = format!("at {}", client.get_connection_info().addr());
        let cluster = Cluster::new(options.node_id.clone(), random()).with_ttl(options.ttl);
        let (mailbox, mail) = sansnet_net::mailbox(Mailbox::CAPACITY, Mailbox::BYTES);
        let prefix = format!("sansnet:chat:{}", options.room);
        let redis = Redis {
            client,
            channel: prefix.clone(),
            keys: format!("{prefix}:name:"),
            node: cluster.node.clone(),
            ttl: cluster.ttl,
            owned: BTreeMap::new(),
            dropped: 0,
            mailbox,
            backlog: Arc::default(),
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
        };
        let backlog = redis.backlog.clone();
        let (ready_in, ready) = mpsc::sync_channel(1);
        let (link, run): (Link, Box<dyn FnOnce() + Send>) = if R::NAME == "std" {
            let (orders_in, orders) = mpsc::channel();
            let feed = orders_in.clone();
            let run = move || blocking::run(redis, orders, feed, ready_in);
            (Link(Orders::Blocking(orders_in), backlog), Box::new(run))
        } else {
            let (orders_in, orders) = async_channel::unbounded();
            let tokio = R::NAME == "tokio";
            let run = move || aio::run(redis, tokio, orders, ready_in);
            (Link(Orders::Async(orders_in), backlog), Box::new(run))
        };
        let thread = thread::Builder::new()
            .name("sansnet-redis".into())
            .spawn(run)
            .map_err(|e| ClusterError { place: place.clone(), message: e.to_string() })?;
        let failed = |message: String| ClusterError { place: place.clone(), message };
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failed(e.to_string())),
            Err(_) => return Err(failed("the bridge thread failed".into())),
        }
        let (node, room) = (escape(&cluster.node), escape(&options.room));
        let summary = format!("node {node} in room {room} through redis {place}");
        Ok(Bridge { cluster, link, mail, thread: Some(thread), summary })
    }

    /// The room's identity and timing, for
    /// [`Room::clustered`](sansnet_proto::chat::Room::clustered).
    pub fn cluster(&self) -> Cluster {
        self.cluster.clone()
    }

    /// Where the room's orders go.
    pub fn link(&self) -> Link {
        self.link.clone()
    }

    /// What the bridge hears, for the room's host
    /// ([`Transport::serve_hub`]); taken once (then none).
    pub fn take_mail(&mut self) -> Mail {
        std::mem::replace(&mut self.mail, Mail::none())
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.link.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One round trip to Redis: a run of consecutive orders of the room.
#[derive(Debug)]
enum Step {
    /// Envelopes to publish, in one pipeline.
    Publish(Vec<Bytes>),
    Claim {
        conn: u64,
        name: String,
        keys: Vec<String>,
    },
    Release(String),
}

/// `orders` as round trips, in order.
fn steps(orders: impl IntoIterator<Item = ToCluster>) -> VecDeque<Step> {
    let mut steps = VecDeque::new();
    for order in orders {
        match (order, steps.back_mut()) {
            (ToCluster::Publish(data), Some(Step::Publish(run))) => run.push(data),
            (ToCluster::Publish(data), _) => steps.push_back(Step::Publish(vec![data])),
            (ToCluster::Claim { conn, name, keys }, _) => {
                steps.push_back(Step::Claim { conn: conn.0, name, keys })
            }
            (ToCluster::Release { name }, _) => steps.push_back(Step::Release(name)),
        }
    }
    steps
}

/// The bridge's state, and what its drivers (async or blocking) share:
/// the commands to send and what to make of the answers.
struct Redis {
    client: Client,
    /// The room's channel.
    channel: String,
    /// The prefix of the names' keys.
    keys: String,
    node: String,
    ttl: Duration,
    /// The names this node holds, with their keys.
    owned: BTreeMap<String, Vec<String>>,
    /// Publishes lost with the link, not yet logged.
    dropped: u64,
    mailbox: Mailbox,
    /// What waits in the channel from the room.
    backlog: Arc<Backlog>,
    claim: Script,
    release: Script,
}

impl Redis {
    /// Orders taken off the room's channel, as round trips.
    fn take(&self, orders: Vec<ToCluster>) -> VecDeque<Step> {
        self.backlog.taken(&orders);
        steps(orders)
    }

    /// How long an answer may take before the link counts as lost.
    fn response_timeout(&self) -> Duration {
        self.ttl.max(Duration::from_secs(1))
    }

    /// The pipeline that publishes `envelopes`.
    fn publishing(&self, envelopes: &[Bytes]) -> Pipeline {
        let mut pipe = redis::pipe();
        for data in envelopes {
            pipe.cmd("PUBLISH").arg(&self.channel).arg(&data[..]).ignore();
        }
        pipe
    }

    /// The names' keys in Redis.
    fn redis_keys(&self, keys: &[String]) -> Vec<String> {
        keys.iter().map(|k| format!("{}{k}", self.keys)).collect()
    }

    /// The claim script over the names of `keys` (each name's keys in
    /// Redis): it answers the positions of those another node holds.
    fn claiming<'a>(
        &'a self,
        keys: impl IntoIterator<Item = &'a Vec<String>>,
    ) -> ScriptInvocation<'a> {
        let mut invocation = self.claim.prepare_invoke();
        invocation.arg(&self.node).arg(self.ttl.as_millis() as u64);
        for keys in keys {
            invocation.arg(keys.len());
            for k in keys {
                invocation.key(k);
            }
        }
        invocation
    }

    /// The claim of `name` (keys in Redis) for `conn` got `lost`: the
    /// answer for the room.
    fn claimed(&mut self, conn: u64, name: String, keys: Vec<String>, lost: &[i64]) -> Bytes {
        let ok = lost.is_empty();
        if ok {
            self.owned.insert(name.clone(), keys);
        }
        Notice::Claimed { conn, name, ok }.encode()
    }

    /// The release script for `name`, forgotten; `None` if it is not ours.
    fn releasing(&mut self, name: &str) -> Option<ScriptInvocation<'_>> {
        let keys = self.owned.remove(name)?;
        let mut invocation = self.release.prepare_invoke();
        invocation.arg(&self.node);
        for k in &keys {
            invocation.key(k);
        }
        Some(invocation)
    }

    /// The refresh (the claim script over every name held) found the names
    /// at positions `lost` another node's: forgotten, and the notices for
    /// the room.
    fn refreshed(&mut self, lost: &[usize]) -> Vec<Bytes> {
        let names: Vec<String> = self.owned.keys().cloned().collect();
        let lost = lost.iter().filter_map(|i| names.get(i.checked_sub(1)?));
        lost.map(|name| {
            self.owned.remove(name);
            tracing::warn!("the name {} is another server's now", escape(name));
            Notice::Lost { name: name.clone() }.encode()
        })
        .collect()
    }

    /// Steps that cannot be carried out: publishes are counted; a claim is
    /// not answered (the room claims again after [`Notice::Up`]); a
    /// release forgets the name (its keys expire).
    fn give_up(&mut self, steps: impl IntoIterator<Item = Step>) {
        for step in steps {
            match step {
                Step::Publish(run) => self.dropped += run.len() as u64,
                Step::Claim { .. } => {}
                Step::Release(name) => {
                    self.owned.remove(&name);
                }
            }
        }
    }

    /// The link is lost (`error`): logged.
    fn lost(&self, error: &redis::RedisError) {
        tracing::warn!("redis lost ({error}): chat stays local until it is back");
    }

    /// The link is back: logged, with what was dropped meanwhile.
    fn back(&mut self) {
        tracing::info!("redis is back");
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            tracing::warn!("{n} messages could not reach redis while it was lost (dropped)");
        }
    }
}

/// Says on `ready` how the first connection went; the link if it is up.
fn first<T>(ready: Ready, connected: RedisResult<T>) -> Option<T> {
    let (said, link) = match connected {
        Ok(link) => (Ok(()), Some(link)),
        Err(e) => (Err(e), None),
    };
    let _ = ready.send(said);
    link
}

/// The pauses between reconnections: 100 ms, doubling to 5 s.
fn backoff() -> impl Iterator<Item = Duration> {
    std::iter::successors(Some(FIRST_BACKOFF), |p| Some((*p * 2).min(MAX_BACKOFF)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansnet_proto::ConnId;

    #[test]
    fn a_redis_that_cannot_keep_up_costs_bounded_memory() {
        let (tx, rx) = async_channel::unbounded();
        let link = Link(Orders::Async(tx), Arc::default());
        let mib = Bytes::from(vec![b'x'; 1 << 20]);
        for _ in 0..(MAX_BACKLOG >> 20) + 3 {
            link.send(ToCluster::Publish(mib.clone()));
        }
        assert_eq!(rx.len(), MAX_BACKLOG >> 20, "publishes past the backlog are dropped");
        assert_eq!(link.1.dropped.load(Ordering::Relaxed), 3);
        // Claims and releases always go.
        link.send(ToCluster::Release { name: "a".into() });
        assert_eq!(rx.len(), (MAX_BACKLOG >> 20) + 1);
        // Once the bridge takes some, publishes go again.
        let first = rx.try_recv().expect("an order");
        link.1.taken([&first]);
        link.send(ToCluster::Publish(mib));
        assert_eq!(rx.len(), (MAX_BACKLOG >> 20) + 1);
        assert_eq!(link.1.dropped.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn consecutive_publishes_go_in_one_round_trip() {
        let publish = |s: &'static str| ToCluster::Publish(Bytes::from_static(s.as_bytes()));
        let claim = ToCluster::Claim { conn: ConnId(7), name: "a".into(), keys: vec!["a".into()] };
        let orders = [publish("1"), publish("2"), claim, publish("3"), publish("4")];
        let steps: Vec<Step> =
            steps(orders.into_iter().chain([ToCluster::Release { name: "a".into() }])).into();
        assert!(matches!(&steps[..], [
            Step::Publish(p12),
            Step::Claim { conn: 7, .. },
            Step::Publish(p34),
            Step::Release(a),
        ] if p12.len() == 2 && p34.len() == 2 && a == "a"));
    }

    #[test]
    fn backoff_doubles_to_five_seconds() {
        let pauses: Vec<u128> = backoff().take(8).map(|d| d.as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn node_ids_are_eight_hex_digits() {
        let id = random_node_id();
        assert_eq!(id.len(), 8);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_ne!(random(), random());
    }
}
