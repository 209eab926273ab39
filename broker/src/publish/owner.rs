//! The owner's side of a publish: apply it to a topic owned here, apply a
//! batch another shard forwarded, and answer that batch (once the disk
//! writes it made are done) through the [`AckRoute`].

use std::time::Instant;

use crate::publish::bodies::Bodies;
use crate::publish::commit::HeldAck;
use crate::publish::forward::ForwardedPublish;
use crate::publish::PutError;
use crate::shard::mesh::ShardMsg;
use crate::shard::{wall_clock_ns, Shard};

/// Where the answers to forwarded batches go: the one place that sends
/// [`ShardMsg::PublishAck`].
#[derive(Debug)]
pub(crate) struct AckRoute {
    mesh: Vec<flume::Sender<ShardMsg>>,
}

impl AckRoute {
    /// Answers travel over `mesh`, every shard's inbox by shard number.
    pub(crate) fn new(mesh: Vec<flume::Sender<ShardMsg>>) -> AckRoute {
        AckRoute { mesh }
    }

    /// Answer batch `batch` of shard `origin`, one result per command.
    pub(crate) fn answer(&self, origin: usize, batch: u64, results: Vec<Result<(), PutError>>) {
        // A shard that is gone has no connection left to answer.
        let _ = self.mesh[origin].send(ShardMsg::PublishAck { batch, results });
    }

    /// Answer every one of a batch's `commands` commands with `Exiting`.
    pub(crate) fn refuse(&self, origin: usize, batch: u64, commands: usize) {
        self.answer(origin, batch, vec![Err(PutError::Exiting); commands]);
    }
}

impl Shard {
    /// Publish to a topic owned here. Returns the group-commit epoch to
    /// wait for before answering (0: nothing went to disk).
    pub(crate) fn publish_local(
        &self,
        topic: &str,
        defer_ms: u64,
        bodies: Bodies,
    ) -> Result<u64, PutError> {
        if self.is_stopping() {
            return Err(PutError::Exiting);
        }
        let topic = self.get_or_create_topic(topic);
        let mut topic = topic.borrow_mut();
        topic.put(bodies, defer_ms, &self.ids, wall_clock_ns(), Instant::now())
    }

    /// Apply a batch forwarded by shard `origin` and answer it (once the
    /// disk writes it made are done).
    pub(crate) fn apply_forwarded(
        &self,
        origin: usize,
        batch: u64,
        commands: Vec<ForwardedPublish>,
    ) {
        let mut failed: Vec<u64> = Vec::new();
        let mut wait_for = 0;
        let results: Vec<(Result<(), PutError>, u64)> = commands
            .into_iter()
            .map(
                |ForwardedPublish {
                     topic,
                     defer_ms,
                     bodies,
                     connection,
                 }| {
                    if connection != 0 && failed.contains(&connection) {
                        return (Err(PutError::Skipped), 0);
                    }
                    match self.publish_local(topic.as_str(), defer_ms, bodies) {
                        Ok(epoch) => {
                            wait_for = wait_for.max(epoch);
                            (Ok(()), epoch)
                        }
                        Err(e) => {
                            failed.push(connection);
                            (Err(e), 0)
                        }
                    }
                },
            )
            .collect();
        if wait_for > 0 {
            self.commit.hold(HeldAck {
                epoch: wait_for,
                origin,
                batch,
                results,
            });
            return;
        }
        let results = results.into_iter().map(|(r, _)| r).collect();
        self.commit.route().answer(origin, batch, results);
    }

    /// Refuse a batch forwarded while this shard stops.
    pub(crate) fn refuse_forwarded(
        &self,
        origin: usize,
        batch: u64,
        commands: Vec<ForwardedPublish>,
    ) {
        self.commit.route().refuse(origin, batch, commands.len());
    }
}
