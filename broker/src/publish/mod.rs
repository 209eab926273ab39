//! The publish path, from a decoded PUB, MPUB or DPUB (or HTTP `/pub`,
//! `/mpub`) to its answer (docs/protocol.md#publishing).
//!
//! ```text
//!  connection's Publisher ── owner is this shard ──▶ owner::publish_local ──▶ Topic::put
//!        │                                                 │ epoch > 0: wait for commit
//!        └─ owner elsewhere ─▶ forward: outbox ─ShardMsg::Publish─▶ owner inbox ─▶ owner::apply_forwarded
//!                                  ▲                                                   │
//!           AckSink ◀── on_ack ◀───┴──────────── ShardMsg::PublishAck ◀── AckRoute ◀───┘ (held by commit
//!                                                                                        until written)
//! ```
//!
//! * [`Publisher`] (here): one per connection (TCP or HTTP). It sends each
//!   publish to the topic's owner and keeps the answers not yet given, in
//!   command order ([`pending`]).
//! * [`forward`]: the shard's forwarder (one envelope per owner per tick)
//!   and each connection's [`forward::AckSink`].
//! * [`owner`]: the owner's side: apply a publish to a topic owned here,
//!   apply a forwarded batch, and answer it through [`owner::AckRoute`],
//!   the one place that sends [`ShardMsg::PublishAck`].
//! * [`commit`]: group commit, which holds answers until the disk writes
//!   they wait for are done.
//! * [`bodies`]: one body or many, without allocating for one.
//!
//! The ownership rule at this hop: a shard never touches a topic it does not
//! own. After a failed publish NSQ runs none of the connection's later
//! commands: so a publish that would run somewhere else than the forwarded
//! ones still unanswered (locally, or on another owner) first waits for
//! their answers ([`Publisher::must_wait_before`]); and an owner skips a
//! connection's later commands in a batch once one of them failed.
//!
//! [`ShardMsg::PublishAck`]: crate::shard::mesh::ShardMsg::PublishAck

pub(crate) mod bodies;
pub(crate) mod commit;
pub(crate) mod forward;
pub(crate) mod owner;
pub(crate) mod pending;

use std::rc::Rc;

use crate::name::TopicName;
use crate::shard::Shard;
use bodies::Bodies;
use forward::{AckSink, ForwardedPublish};
use pending::{Answer, Pending};

/// Which publish command (for its error texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PubKind {
    /// PUB (and HTTP `/pub`).
    Pub,
    /// MPUB (and HTTP `/mpub`).
    Mpub,
    /// DPUB.
    Dpub,
}

impl PubKind {
    /// Command name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PubKind::Pub => "PUB",
            PubKind::Mpub => "MPUB",
            PubKind::Dpub => "DPUB",
        }
    }
}

/// Why a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutError {
    /// Writing to the disk queue failed (disk full, I/O error).
    DiskFailed,
    /// The broker is shutting down.
    Exiting,
    /// Not run: an earlier publish of the same connection failed.
    Skipped,
}

impl std::fmt::Display for PutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PutError::DiskFailed => write!(f, "failed to write message to backend"),
            PutError::Exiting => write!(f, "exiting"),
            PutError::Skipped => write!(f, "skipped after an earlier failure"),
        }
    }
}

/// One connection's publishes: sent to their owners, answered in order.
#[derive(Debug)]
pub(crate) struct Publisher {
    shard: Rc<Shard>,
    /// The connection's ID (0 for HTTP): after one of its commands fails,
    /// an owner skips its later ones in the same batch.
    connection: u64,
    /// Where forwarded publishes' results arrive.
    sink: Rc<AckSink>,
    next_seq: u64,
    /// Answers not yet given, in command order.
    pending: std::collections::VecDeque<Pending>,
    /// The owner of the forwarded publishes in `pending`, if any.
    remote_owner: Option<usize>,
}

impl Publisher {
    /// The publisher of connection `connection` (0 for HTTP) on `shard`.
    pub(crate) fn new(shard: Rc<Shard>, connection: u64) -> Publisher {
        Publisher {
            shard,
            connection,
            sink: Rc::new(AckSink::default()),
            next_seq: 0,
            pending: std::collections::VecDeque::new(),
            remote_owner: None,
        }
    }

    /// Whether answers are still to be given.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether a publish to `owner` must wait for the answers still to be
    /// given before it runs: they run elsewhere (here, or on another owner),
    /// and one of them may fail.
    pub(crate) fn must_wait_before(&self, owner: usize) -> bool {
        let elsewhere = self.remote_owner.is_some_and(|o| o != owner) || owner == self.shard.id;
        elsewhere && !self.pending.is_empty()
    }

    /// Start a publish on `owner`, the topic's owner shard. Returns its
    /// answer if it is known at once (applied here, nothing went to disk);
    /// otherwise it is pending: [`Publisher::next_answer`].
    pub(crate) fn start(
        &mut self,
        kind: PubKind,
        topic: TopicName,
        defer_ms: u64,
        bodies: Bodies,
        owner: usize,
    ) -> Option<Answer> {
        let messages = bodies.len();
        if owner == self.shard.id {
            let result = self.shard.publish_local(topic.as_str(), defer_ms, bodies);
            if let Ok(epoch @ 1..) = result {
                // Answered once its disk writes are done (group commit).
                self.pending.push_back(Pending::Disk {
                    kind,
                    epoch,
                    topic,
                    messages,
                });
                return None;
            }
            return Some(Answer {
                kind,
                topic,
                messages,
                result: result.map(|_| ()),
            });
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let command = ForwardedPublish {
            topic: topic.clone(),
            defer_ms,
            bodies,
            connection: self.connection,
        };
        self.shard.forwarder.submit(owner, command, &self.sink, seq);
        self.pending.push_back(Pending::Remote {
            kind,
            seq,
            topic,
            messages,
        });
        self.remote_owner = Some(owner);
        None
    }

    /// The oldest answer not yet given, once it is known; `None` when none
    /// is pending.
    pub(crate) async fn next_answer(&mut self) -> Option<Answer> {
        self.remote_owner = None;
        let answer = match self.pending.pop_front()? {
            Pending::Disk {
                kind,
                epoch,
                topic,
                messages,
            } => Answer {
                kind,
                topic,
                messages,
                result: self.shard.commit.wait(epoch).await,
            },
            Pending::Remote {
                kind,
                seq,
                topic,
                messages,
            } => loop {
                if let Some(result) = self.sink.take(seq) {
                    break Answer {
                        kind,
                        topic,
                        messages,
                        result,
                    };
                }
                self.sink.wake.notified().await;
            },
        };
        Some(answer)
    }

    /// Drop the answers not yet given (the connection is closing).
    pub(crate) fn abandon(&mut self) {
        self.pending.clear();
        self.remote_owner = None;
    }

    /// Publish and wait for the answer (HTTP: one request at a time).
    pub(crate) async fn publish(
        &mut self,
        kind: PubKind,
        topic: TopicName,
        defer_ms: u64,
        bodies: Bodies,
    ) -> Result<(), PutError> {
        let owner = self.shard.owner_of(topic.as_str());
        if let Some(answer) = self.start(kind, topic, defer_ms, bodies, owner) {
            return answer.result;
        }
        match self.next_answer().await {
            Some(answer) => answer.result,
            None => Err(PutError::Exiting),
        }
    }
}
