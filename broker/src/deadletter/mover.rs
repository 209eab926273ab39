//! The shard's dead-letter mover: one task that publishes the messages its
//! channels divert to their dead-letter topics, through the publish path
//! ([`Publisher`], as an HTTP `/mpub` would), and tells each channel the
//! outcome once the publish is acknowledged (written and, with
//! `--sync-every=1`, fsynced).
//!
//! Moves are batched: everything diverted while the previous batch was
//! on its way goes as one MPUB per dead-letter topic, and a topic owned by
//! another shard goes through the forwarder with the connections'
//! publishes of that tick, so moving costs no cross-core wake-up beyond
//! what a publish costs.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Instant;

use bytes::Bytes;
use nsq_protocol::MessageId;

use crate::channel::Channel;
use crate::name::TopicName;
use crate::notify::Notify;
use crate::publish::bodies::Bodies;
use crate::publish::{PubKind, Publisher, PutError};
use crate::shard::Shard;

/// One message on its way.
#[derive(Debug)]
struct Move {
    channel: Weak<RefCell<Channel>>,
    id: MessageId,
    topic: TopicName,
    body: Bytes,
}

/// A shard's dead-letter mover.
#[derive(Debug, Default)]
pub(crate) struct Mover {
    queue: RefCell<Vec<Move>>,
    wake: Notify,
}

impl Mover {
    /// Publish `body` (message `id` of `channel`) to `topic`; the channel
    /// hears back through [`Channel::dead_lettered`].
    pub(crate) fn submit(
        &self,
        channel: Weak<RefCell<Channel>>,
        topic: &TopicName,
        id: MessageId,
        body: Bytes,
    ) {
        self.queue.borrow_mut().push(Move {
            channel,
            id,
            topic: topic.clone(),
            body,
        });
        self.wake.notify();
    }

    /// The task; runs until the shard stops.
    pub(crate) async fn run(self: Rc<Self>, shard: Rc<Shard>) {
        let mut publisher = Publisher::new(shard.clone(), 0);
        loop {
            self.wake.notified().await;
            // Let the other tasks that are ready this tick divert theirs.
            glommio::yield_if_needed().await;
            loop {
                let moves = std::mem::take(&mut *self.queue.borrow_mut());
                if moves.is_empty() {
                    break;
                }
                publish(&shard, &mut publisher, moves).await;
            }
        }
    }
}

/// Publish `moves` (one MPUB per topic), wait for every answer, and tell
/// the channels.
async fn publish(shard: &Shard, publisher: &mut Publisher, moves: Vec<Move>) {
    let mut groups: Vec<(TopicName, Vec<Move>)> = Vec::new();
    for m in moves {
        match groups.iter_mut().find(|(t, _)| *t == m.topic) {
            Some((_, group)) => group.push(m),
            None => groups.push((m.topic.clone(), vec![m])),
        }
    }
    let mut results: Vec<Option<Result<(), PutError>>> = Vec::with_capacity(groups.len());
    for (topic, group) in &groups {
        let bodies = Bodies::Many(group.iter().map(|m| m.body.clone()).collect());
        let owner = shard.owner_of(topic.as_str());
        let answer = publisher.start(PubKind::Mpub, topic.clone(), 0, bodies, owner);
        results.push(answer.map(|a| a.result));
    }
    // Answers not known at once arrive in the order they were started.
    for result in &mut results {
        if result.is_none() {
            let answer = publisher.next_answer().await;
            *result = Some(answer.map_or(Err(PutError::Exiting), |a| a.result));
        }
    }
    let now = Instant::now();
    for ((topic, group), result) in groups.into_iter().zip(results) {
        let ok = matches!(result, Some(Ok(())));
        if let Some(Err(e)) = result {
            crate::log!(
                Error,
                "TOPIC({}): {} dead letters not published - {e}; requeued",
                topic.as_str(),
                group.len()
            );
        }
        for m in group {
            if let Some(channel) = m.channel.upgrade() {
                channel.borrow_mut().dead_lettered(m.id, ok, now);
            }
        }
    }
}
