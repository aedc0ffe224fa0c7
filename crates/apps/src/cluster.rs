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
//!   [`Mailbox`], as [`from_channel`] bytes; the link's state as
//!   [`Notice::Up`] (connected and subscribed) and [`Notice::Down`].
//!
//! When Redis goes away the bridge says [`Notice::Down`], reconnects with
//! back-off (100 ms, doubling to 5 s), resubscribes, says [`Notice::Up`]
//! and refreshes its names at once. A claim it could not carry out is not
//! answered (the room admits the member locally on `Down` and claims the
//! name again after `Up`); publishes it could not carry out are counted
//! and logged when the link is back.
//!
//! The bridge runs on one thread of its own per server, on an executor
//! that matches the server's runtime: a current-thread tokio runtime
//! (redis' `tokio-comp`) for tokio and std, async-io (redis' `smol-comp`)
//! for smol and async-std. So a tokio program starts no async-io reactor.
//! The room hands it its orders through an unbounded channel
//! ([`Link::send`]): the room never waits for Redis.

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::pin::Pin;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use futures_lite::StreamExt;
use futures_lite::future::or;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, Client, RedisResult, Script};
use sansnet_net::{Mail, Mailbox, Transport};
use sansnet_proto::chat::cluster::{Cluster, Notice, ToCluster, from_channel};
use sansnet_proto::text::escape;

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
/// At most this many orders go to Redis in one round (consecutive
/// publishes in one pipeline).
const BATCH: usize = 1024;

/// The room's end of the bridge: where its orders go.
#[derive(Clone, Debug)]
pub struct Link(async_channel::Sender<ToCluster>);

impl Link {
    /// Hands `order` to the bridge, without waiting.
    pub fn send(&self, order: ToCluster) {
        // Unbounded: fails only once the bridge is gone.
        let _ = self.0.try_send(order);
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
}

impl Bridge {
    /// Connects to Redis as `options` say (an error if it cannot), then
    /// runs the bridge for the runtime `R`. What it hears is for the
    /// room ([`Bridge::mail`]): [`Notice::Up`] first.
    pub fn start<R: Transport>(options: &ClusterOptions) -> Result<Bridge, ClusterError> {
        let client = Client::open(options.url.as_str()).map_err(|e| ClusterError {
            place: escape(&options.url).to_string(),
            message: format!("bad URL: {e}"),
        })?;
        let place = format!("at {}", client.get_connection_info().addr());
        let cluster = Cluster::new(options.node_id.clone(), random()).with_ttl(options.ttl);
        let (orders_in, orders) = async_channel::unbounded();
        let (mailbox, mail) = sansnet_net::mailbox(Mailbox::CAPACITY);
        let prefix = format!("sansnet:chat:{}", options.room);
        let bridge = Redis {
            client,
            channel: prefix.clone(),
            keys: format!("{prefix}:name:"),
            node: cluster.node.clone(),
            ttl: cluster.ttl,
            owned: BTreeMap::new(),
            dropped: 0,
            mailbox,
            orders,
            claim: Script::new(CLAIM),
            release: Script::new(RELEASE),
        };
        let (ready_in, ready) = mpsc::sync_channel(1);
        let thread = thread::Builder::new()
            .name("sansnet-redis".into())
            .spawn(move || run::<R>(bridge, ready_in))
            .map_err(|e| ClusterError { place: place.clone(), message: e.to_string() })?;
        let failed = |message: String| ClusterError { place: place.clone(), message };
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failed(e.to_string())),
            Err(_) => return Err(failed("the bridge thread failed".into())),
        }
        tracing::info!(
            "node {} in room {} through redis {place}",
            escape(&cluster.node),
            escape(&options.room)
        );
        Ok(Bridge { cluster, link: Link(orders_in), mail, thread: Some(thread) })
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
        self.link.0.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs the bridge on the executor that matches `R`; says on `ready`
/// whether the first connection succeeded.
fn run<R: Transport>(bridge: Redis, ready: mpsc::SyncSender<RedisResult<()>>) {
    if matches!(R::NAME, "smol" | "async-std") {
        return async_io::block_on(bridge.run(Exec::AsyncIo, ready));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    match runtime {
        Ok(rt) => rt.block_on(bridge.run(Exec::Tokio, ready)),
        Err(e) => {
            let _ = ready.send(Err(e.into()));
        }
    }
}

/// The executor the bridge runs on: what its timers are.
#[derive(Clone, Copy, Debug)]
enum Exec {
    Tokio,
    AsyncIo,
}

impl Exec {
    fn sleep(self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match self {
            Exec::Tokio => Box::pin(tokio::time::sleep(d)),
            Exec::AsyncIo => Box::pin(async move {
                async_io::Timer::after(d).await;
            }),
        }
    }

    /// `f`, failing with a timeout after `d`.
    async fn timeout<T>(
        self,
        d: Duration,
        f: impl Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        let expired = async {
            self.sleep(d).await;
            Err(io::Error::new(io::ErrorKind::TimedOut, "timed out").into())
        };
        or(f, expired).await
    }
}

/// A connection to Redis: one for commands, one subscribed to the room.
struct Connected {
    commands: MultiplexedConnection,
    _sink: PubSubSink,
    heard: PubSubStream,
}

/// What woke the bridge.
enum Wake {
    Heard(Option<redis::Msg>),
    Order(Option<ToCluster>),
    Refresh,
}

/// The bridge's state.
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
    orders: async_channel::Receiver<ToCluster>,
    claim: Script,
    release: Script,
}

impl Redis {
    async fn run(mut self, exec: Exec, ready: mpsc::SyncSender<RedisResult<()>>) {
        let mut link = match exec.timeout(CONNECT_TIMEOUT, self.connect()).await {
            Ok(link) => link,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        loop {
            if !self.mailbox.send(Notice::Up.encode()).await {
                break;
            }
            let error = match self.serve(&mut link, exec).await {
                Ok(()) => break,
                Err(e) => e,
            };
            tracing::warn!("redis lost ({error}): chat stays local until it is back");
            if !self.mailbox.send(Notice::Down.encode()).await {
                return;
            }
            drop(link);
            link = match self.reconnect(exec).await {
                Some(link) => link,
                None => return,
            };
            tracing::info!("redis is back");
            if self.dropped > 0 {
                let n = std::mem::take(&mut self.dropped);
                tracing::warn!("{n} messages could not reach redis while it was lost (dropped)");
            }
        }
        // The room is gone: its names are free now, not after the ttl.
        let release = self.release_all(&mut link.commands);
        let _ = exec.timeout(CONNECT_TIMEOUT, release).await;
    }

    async fn connect(&self) -> RedisResult<Connected> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(self.ttl.max(Duration::from_secs(1))));
        let commands = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        let (sink, heard) = pubsub.split();
        Ok(Connected { commands, _sink: sink, heard })
    }

    /// Serves while the link holds: `Ok` once the room is gone, the error
    /// that broke the link otherwise.
    async fn serve(&mut self, link: &mut Connected, exec: Exec) -> RedisResult<()> {
        let every = self.ttl / 3;
        self.refresh(&mut link.commands).await?;
        let mut next = Instant::now() + every;
        loop {
            if Instant::now() >= next {
                self.refresh(&mut link.commands).await?;
                next = Instant::now() + every;
            }
            let wake = {
                let heard = async { Wake::Heard(link.heard.next().await) };
                let order = async { Wake::Order(self.orders.recv().await.ok()) };
                let tick = async {
                    exec.sleep(next.saturating_duration_since(Instant::now())).await;
                    Wake::Refresh
                };
                or(heard, or(order, tick)).await
            };
            match wake {
                Wake::Heard(Some(msg)) => {
                    if !self.mailbox.send(from_channel(msg.get_payload_bytes())).await {
                        return Ok(());
                    }
                }
                Wake::Heard(None) => {
                    return Err(
                        io::Error::new(io::ErrorKind::ConnectionReset, "unsubscribed").into()
                    );
                }
                Wake::Order(Some(first)) => {
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        let Ok(order) = self.orders.try_recv() else { break };
                        batch.push(order);
                    }
                    self.carry_out(batch, &mut link.commands).await?;
                }
                Wake::Order(None) => return Ok(()),
                Wake::Refresh => {}
            }
        }
    }

    /// Carries out `orders` in order, consecutive publishes in one
    /// pipeline. When the link breaks, the rest are given up.
    async fn carry_out(
        &mut self,
        orders: Vec<ToCluster>,
        conn: &mut MultiplexedConnection,
    ) -> RedisResult<()> {
        let mut publish = redis::pipe();
        let mut publishes = 0;
        let mut orders = orders.into_iter();
        let result = loop {
            let order = orders.next();
            if publishes > 0 && !matches!(order, Some(ToCluster::Publish(_))) {
                if let Err(e) = publish.query_async::<()>(conn).await {
                    self.dropped += publishes;
                    order.map(|o| self.give_up(o));
                    break Err(e);
                }
                (publish, publishes) = (redis::pipe(), 0);
            }
            let done = match order {
                None => break Ok(()),
                Some(ToCluster::Publish(data)) => {
                    publish.cmd("PUBLISH").arg(&self.channel).arg(&data[..]).ignore();
                    publishes += 1;
                    Ok(())
                }
                Some(ToCluster::Claim { conn: id, name, keys }) => {
                    self.claim(id.0, name, keys, conn).await
                }
                Some(ToCluster::Release { name }) => self.release(&name, conn).await,
            };
            if let Err(e) = done {
                break Err(e);
            }
        };
        if result.is_err() {
            orders.for_each(|o| self.give_up(o));
        }
        result
    }

    /// An order that cannot be carried out: a publish is counted; a claim
    /// is not answered (the room claims again after [`Notice::Up`]); a
    /// release forgets the name (its keys expire).
    fn give_up(&mut self, order: ToCluster) {
        match order {
            ToCluster::Publish(_) => self.dropped += 1,
            ToCluster::Claim { .. } => {}
            ToCluster::Release { name } => {
                self.owned.remove(&name);
            }
        }
    }

    async fn claim(
        &mut self,
        conn: u64,
        name: String,
        keys: Vec<String>,
        redis: &mut MultiplexedConnection,
    ) -> RedisResult<()> {
        let keys: Vec<String> = keys.iter().map(|k| format!("{}{k}", self.keys)).collect();
        let lost: Vec<i64> = self.claiming([&keys]).invoke_async(redis).await?;
        let ok = lost.is_empty();
        if ok {
            self.owned.insert(name.clone(), keys);
        }
        self.mailbox.send(Notice::Claimed { conn, name, ok }.encode()).await;
        Ok(())
    }

    /// The claim script over the names of `keys`.
    fn claiming<'a>(
        &'a self,
        keys: impl IntoIterator<Item = &'a Vec<String>>,
    ) -> redis::ScriptInvocation<'a> {
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

    async fn release(&mut self, name: &str, redis: &mut MultiplexedConnection) -> RedisResult<()> {
        let Some(keys) = self.owned.remove(name) else { return Ok(()) };
        let mut invocation = self.release.prepare_invoke();
        invocation.arg(&self.node);
        for k in &keys {
            invocation.key(k);
        }
        invocation.invoke_async::<()>(redis).await
    }

    async fn release_all(&mut self, redis: &mut MultiplexedConnection) -> RedisResult<()> {
        let names: Vec<String> = self.owned.keys().cloned().collect();
        for name in names {
            self.release(&name, redis).await?;
        }
        Ok(())
    }

    /// Keeps this node's names alive; says [`Notice::Lost`] for those that
    /// are another node's now.
    async fn refresh(&mut self, redis: &mut MultiplexedConnection) -> RedisResult<()> {
        if self.owned.is_empty() {
            return Ok(());
        }
        let lost: Vec<usize> = self.claiming(self.owned.values()).invoke_async(redis).await?;
        let names: Vec<String> = self.owned.keys().cloned().collect();
        for i in lost {
            let Some(name) = i.checked_sub(1).and_then(|i| names.get(i)) else { continue };
            self.owned.remove(name);
            tracing::warn!("the name {} is another server's now", escape(name));
            self.mailbox.send(Notice::Lost { name: name.clone() }.encode()).await;
        }
        Ok(())
    }

    /// Reconnects with back-off, giving up the orders that come meanwhile;
    /// `None` once the room is gone.
    async fn reconnect(&mut self, exec: Exec) -> Option<Connected> {
        let mut pause = FIRST_BACKOFF;
        loop {
            let until = Instant::now() + pause;
            loop {
                let order = async { Some(self.orders.recv().await.ok()) };
                let wait = async {
                    exec.sleep(until.saturating_duration_since(Instant::now())).await;
                    None
                };
                match or(order, wait).await {
                    Some(Some(order)) => self.give_up(order),
                    Some(None) => return None,
                    None => break,
                }
            }
            match exec.timeout(CONNECT_TIMEOUT, self.connect()).await {
                Ok(link) => return Some(link),
                Err(e) => tracing::debug!("redis: {e}"),
            }
            pause = (pause * 2).min(MAX_BACKOFF);
        }
    }
}
