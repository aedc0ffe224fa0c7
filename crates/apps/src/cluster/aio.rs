//! The bridge on redis' async client: tokio (a current-thread runtime)
//! or async-io (smol, async-std).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use futures_lite::future::{or, race};
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, RedisResult};
use sansnet_proto::chat::cluster::{Notice, ToCluster, from_channel};

use super::{BATCH, CONNECT_TIMEOUT, Ready, Redis, Step, backoff, first};

/// Runs the bridge on a current-thread tokio runtime (`tokio`) or on
/// async-io, until the room is gone.
pub(super) fn run(
    redis: Redis,
    tokio: bool,
    orders: async_channel::Receiver<ToCluster>,
    ready: Ready,
) {
    if !tokio {
        return async_io::block_on(redis.run(Exec::AsyncIo, orders, ready));
    }
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(redis.run(Exec::Tokio, orders, ready)),
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

impl Redis {
    async fn run(mut self, exec: Exec, orders: async_channel::Receiver<ToCluster>, ready: Ready) {
        let connected = exec.timeout(CONNECT_TIMEOUT, self.connect()).await;
        let Some(mut link) = first(ready, connected) else { return };
        loop {
            if !self.mailbox.send(Notice::Up.encode()).await {
                break;
            }
            let error = match self.serve(&mut link, exec, &orders).await {
                Ok(()) => break,
                Err(e) => e,
            };
            self.lost(&error);
            if !self.mailbox.send(Notice::Down.encode()).await {
                return;
            }
            drop(link);
            link = match self.reconnect(exec, &orders).await {
                Some(link) => link,
                None => return,
            };
            self.back();
        }
        // The room is gone: its names are free now, not after the ttl.
        let release = self.release_all(&mut link.commands);
        let _ = exec.timeout(CONNECT_TIMEOUT, release).await;
    }

    async fn connect(&self) -> RedisResult<Connected> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(self.response_timeout()));
        let commands = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        let (sink, heard) = pubsub.split();
        Ok(Connected { commands, _sink: sink, heard })
    }

    /// Serves while the link holds: `Ok` once the room is gone, the error
    /// that broke the link otherwise.
    async fn serve(
        &mut self,
        link: &mut Connected,
        exec: Exec,
        orders: &async_channel::Receiver<ToCluster>,
    ) -> RedisResult<()> {
        let every = self.ttl / 3;
        self.refresh(&mut link.commands).await?;
        let mut next = Instant::now() + every;
        loop {
            if Instant::now() >= next {
                self.refresh(&mut link.commands).await?;
                next = Instant::now() + every;
            }
            // Raced (the first polled at random): a flood of envelopes
            // heard does not hold back the room's orders, nor the reverse.
            let wake = {
                let heard = async { Wake::Heard(link.heard.next().await) };
                let order = async { Wake::Order(orders.recv().await.ok()) };
                let tick = async {
                    exec.sleep(next.saturating_duration_since(Instant::now())).await;
                    Wake::Refresh
                };
                race(heard, race(order, tick)).await
            };
            match wake {
                Wake::Heard(Some(msg)) => {
                    if !self.mailbox.send(from_channel(msg.get_payload_bytes())).await {
                        return Ok(());
                    }
                }
                Wake::Heard(None) => {
                    let closed = io::Error::new(io::ErrorKind::ConnectionReset, "unsubscribed");
                    return Err(closed.into());
                }
                Wake::Order(Some(first)) => {
                    let more = std::iter::from_fn(|| orders.try_recv().ok()).take(BATCH);
                    let batch: Vec<ToCluster> = std::iter::once(first).chain(more).collect();
                    self.carry_out(batch, &mut link.commands).await?;
                }
                Wake::Order(None) => return Ok(()),
                Wake::Refresh => {}
            }
        }
    }

    /// Carries out `orders` in order. When the link breaks, the rest are
    /// given up.
    async fn carry_out(
        &mut self,
        orders: Vec<ToCluster>,
        conn: &mut MultiplexedConnection,
    ) -> RedisResult<()> {
        let mut steps = self.take(orders);
        while let Some(step) = steps.pop_front() {
            if let Err(e) = self.step(&step, conn).await {
                self.give_up(std::iter::once(step).chain(steps));
                return Err(e);
            }
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        match step {
            Step::Publish(envelopes) => self.publishing(envelopes).query_async(conn).await,
            Step::Claim { conn: id, name, keys } => {
                let keys = self.redis_keys(keys);
                let lost: Vec<i64> = self.claiming([&keys]).invoke_async(conn).await?;
                let answer = self.claimed(*id, name.clone(), keys, &lost);
                self.mailbox.send(answer).await;
                Ok(())
            }
            Step::Release(name) => match self.releasing(name) {
                Some(release) => release.invoke_async(conn).await,
                None => Ok(()),
            },
        }
    }

    async fn release_all(&mut self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        let names: Vec<String> = self.owned.keys().cloned().collect();
        for name in names {
            self.step(&Step::Release(name), conn).await?;
        }
        Ok(())
    }

    /// Keeps this node's names alive; tells the room those that are
    /// another node's now.
    async fn refresh(&mut self, conn: &mut MultiplexedConnection) -> RedisResult<()> {
        if self.owned.is_empty() {
            return Ok(());
        }
        let lost: Vec<usize> = self.claiming(self.owned.values()).invoke_async(conn).await?;
        for notice in self.refreshed(&lost) {
            self.mailbox.send(notice).await;
        }
        Ok(())
    }

    /// Reconnects with back-off, giving up the orders that come meanwhile;
    /// `None` once the room is gone.
    async fn reconnect(
        &mut self,
        exec: Exec,
        orders: &async_channel::Receiver<ToCluster>,
    ) -> Option<Connected> {
        for pause in backoff() {
            let until = Instant::now() + pause;
            loop {
                let order = async { Some(orders.recv().await.ok()) };
                let wait = async {
                    exec.sleep(until.saturating_duration_since(Instant::now())).await;
                    None
                };
                match or(order, wait).await {
                    Some(Some(order)) => {
                        let taken = self.take(vec![order]);
                        self.give_up(taken)
                    }
                    Some(None) => return None,
                    None => break,
                }
            }
            match exec.timeout(CONNECT_TIMEOUT, self.connect()).await {
                Ok(link) => return Some(link),
                Err(e) => tracing::debug!("redis: {e}"),
            }
        }
        None
    }
}
