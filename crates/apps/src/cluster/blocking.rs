//! The bridge on redis' blocking client (the std runtime): the bridge's
//! thread sends the commands; a second thread reads the subscription and
//! hands what it hears to the room, and its end to the bridge's thread.

use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use redis::{Connection, RedisError, RedisResult};
use sansnet_proto::chat::cluster::{Notice, ToCluster, from_channel};

use super::{BATCH, CONNECT_TIMEOUT, POLL, Ready, Redis, Step, backoff, first};

/// What the bridge's thread hears.
#[derive(Debug)]
pub(super) enum Input {
    /// The room's next order.
    Order(ToCluster),
    /// The subscription of link number `.0` ended.
    Lost(u64, RedisError),
    /// The room is gone.
    Stop,
}

/// A connection to Redis: one for commands, and the thread that reads the
/// subscription on another.
struct Connected {
    commands: Connection,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Runs the bridge until the room is gone; `feed` is where the reader of
/// the subscription says it ended.
pub(super) fn run(
    redis: Redis,
    inputs: mpsc::Receiver<Input>,
    feed: mpsc::Sender<Input>,
    ready: Ready,
) {
    let mut redis = Blocking(redis);
    let mut generation = 0;
    let Some(mut link) = first(ready, redis.connect(&feed, generation)) else { return };
    loop {
        if !redis.mailbox.send_blocking(Notice::Up.encode()) {
            break;
        }
        let error = match redis.serve(&mut link, &inputs, generation) {
            Ok(()) => break,
            Err(e) => e,
        };
        redis.lost(&error);
        drop(link);
        if !redis.mailbox.send_blocking(Notice::Down.encode()) {
            return;
        }
        generation += 1;
        link = match redis.reconnect(&inputs, &feed, generation) {
            Some(link) => link,
            None => return,
        };
        redis.back();
    }
    // The room is gone: its names are free now, not after the ttl.
    let names: Vec<String> = redis.owned.keys().cloned().collect();
    for name in names {
        if redis.step(Step::Release(name), &mut link.commands).is_err() {
            break;
        }
    }
}

/// The bridge's state, driven with the blocking client.
struct Blocking(Redis);

impl Deref for Blocking {
    type Target = Redis;
    fn deref(&self) -> &Redis {
        &self.0
    }
}

impl DerefMut for Blocking {
    fn deref_mut(&mut self) -> &mut Redis {
        &mut self.0
    }
}

impl Blocking {
    /// Connects, and subscribes on a reader thread of link number
    /// `generation`.
    fn connect(&self, feed: &mpsc::Sender<Input>, generation: u64) -> RedisResult<Connected> {
        let commands = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        commands.set_read_timeout(Some(self.response_timeout()))?;
        commands.set_write_timeout(Some(self.response_timeout()))?;
        let mut heard = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        heard.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        let (subscribed_in, subscribed) = mpsc::sync_channel(1);
        let stop = Arc::new(AtomicBool::new(false));
        let (channel, mailbox, feed) = (self.channel.clone(), self.mailbox.clone(), feed.clone());
        let stopped = stop.clone();
        let reader = thread::Builder::new().name("sansnet-redis-sub".into()).spawn(move || {
            let mut pubsub = heard.as_pubsub();
            let subscribed =
                pubsub.subscribe(&channel).and_then(|()| pubsub.set_read_timeout(Some(POLL)));
            let ok = subscribed.is_ok();
            let _ = subscribed_in.send(subscribed);
            while ok && !stopped.load(Ordering::Relaxed) {
                match pubsub.get_message() {
                    Ok(msg) => {
                        if !mailbox.send_blocking(from_channel(msg.get_payload_bytes())) {
                            return;
                        }
                    }
                    Err(e) if e.is_timeout() => {}
                    Err(e) => {
                        let _ = feed.send(Input::Lost(generation, e));
                        return;
                    }
                }
            }
        })?;
        let link = Connected { commands, stop, reader: Some(reader) };
        match subscribed.recv_timeout(CONNECT_TIMEOUT) {
            Ok(Ok(())) => Ok(link),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "subscribing").into()),
        }
    }

    /// Serves while link number `generation` holds: `Ok` once the room is
    /// gone, the error that broke the link otherwise.
    fn serve(
        &mut self,
        link: &mut Connected,
        inputs: &mpsc::Receiver<Input>,
        generation: u64,
    ) -> RedisResult<()> {
        let every = self.ttl / 3;
        self.refresh(&mut link.commands)?;
        let mut next = Instant::now() + every;
        loop {
            if Instant::now() >= next {
                self.refresh(&mut link.commands)?;
                next = Instant::now() + every;
            }
            let mut input =
                match inputs.recv_timeout(next.saturating_duration_since(Instant::now())) {
                    Ok(input) => Some(input),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Input::Stop),
                };
            if let Some(Input::Order(first)) = input {
                // Take what else is there, up to the next input that is
                // not an order.
                let mut batch = vec![first];
                input = None;
                while batch.len() < BATCH {
                    match inputs.try_recv() {
                        Ok(Input::Order(order)) => batch.push(order),
                        Ok(other) => {
                            input = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                self.carry_out(batch, &mut link.commands)?;
            }
            match input {
                Some(Input::Lost(g, e)) if g == generation => return Err(e),
                Some(Input::Stop) => return Ok(()),
                _ => {}
            }
        }
    }

    /// Carries out `orders` in order. When the link breaks, the rest are
    /// given up.
    fn carry_out(&mut self, orders: Vec<ToCluster>, conn: &mut Connection) -> RedisResult<()> {
        let mut steps = self.take(orders);
        while let Some(step) = steps.pop_front() {
            if let Err((step, e)) = self.step(step, conn) {
                self.give_up(std::iter::once(step).chain(steps));
                return Err(e);
            }
        }
        Ok(())
    }

    /// One step; when it fails, the step back with the error.
    fn step(&mut self, step: Step, conn: &mut Connection) -> Result<(), (Step, RedisError)> {
        let done = match &step {
            Step::Publish(envelopes) => self.publishing(envelopes).query(conn),
            Step::Claim { conn: id, name, keys } => {
                let keys = self.redis_keys(keys);
                let lost = self.claiming([&keys]).invoke::<Vec<i64>>(conn);
                lost.map(|lost| {
                    let answer = self.claimed(*id, name.clone(), keys, &lost);
                    self.mailbox.send_blocking(answer);
                })
            }
            Step::Release(name) => match self.releasing(name) {
                Some(release) => release.invoke(conn),
                None => Ok(()),
            },
        };
        done.map_err(|e| (step, e))
    }

    /// Keeps this node's names alive; tells the room those that are
    /// another node's now.
    fn refresh(&mut self, conn: &mut Connection) -> RedisResult<()> {
        if self.owned.is_empty() {
            return Ok(());
        }
        let lost: Vec<usize> = self.claiming(self.owned.values()).invoke(conn)?;
        for notice in self.refreshed(&lost) {
            self.mailbox.send_blocking(notice);
        }
        Ok(())
    }

    /// Reconnects with back-off, giving up the orders that come meanwhile;
    /// `None` once the room is gone.
    fn reconnect(
        &mut self,
        inputs: &mpsc::Receiver<Input>,
        feed: &mpsc::Sender<Input>,
        generation: u64,
    ) -> Option<Connected> {
        for pause in backoff() {
            let until = Instant::now() + pause;
            loop {
                match inputs.recv_timeout(until.saturating_duration_since(Instant::now())) {
                    Ok(Input::Order(order)) => {
                        let taken = self.take(vec![order]);
                        self.give_up(taken)
                    }
                    Ok(Input::Lost(..)) => {}
                    Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => return None,
                    Err(RecvTimeoutError::Timeout) => break,
                }
            }
            match self.connect(feed, generation) {
                Ok(link) => return Some(link),
                Err(e) => tracing::debug!("redis: {e}"),
            }
        }
        None
    }
}
