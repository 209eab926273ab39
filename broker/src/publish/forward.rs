//! Cross-shard publishing, batched.
//!
//! Connections on this shard that publish to topics owned elsewhere append
//! their commands to a per-destination outbox and get a sequence number. One
//! forwarder task per shard sends each non-empty outbox as a single
//! [`ShardMsg::Publish`] envelope (many connections' commands, many
//! messages), once the tick's ready tasks have run. The owner answers with one
//! [`ShardMsg::PublishAck`]; the results go back to each connection's
//! [`AckSink`], which answers its publishers in order.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::name::TopicName;
use crate::notify::Notify;
use crate::publish::bodies::Bodies;
use crate::publish::PutError;
use crate::shard::mesh::ShardMsg;
use crate::shard::Context;

/// One publish command forwarded to the topic's owner.
#[derive(Debug)]
pub(crate) struct ForwardedPublish {
    /// Topic name (for TCP, a slice of the publisher's read buffer).
    pub(crate) topic: TopicName,
    /// DPUB delay, 0 for PUB/MPUB.
    pub(crate) defer_ms: u64,
    /// The bodies.
    pub(crate) bodies: Bodies,
    /// The publishing connection (0 for HTTP): after one of its commands
    /// fails, the owner skips its later ones in the same batch.
    pub(crate) connection: u64,
}

/// Where one connection's remote publish results arrive.
#[derive(Debug, Default)]
pub(crate) struct AckSink {
    results: RefCell<HashMap<u64, Result<(), PutError>>>,
    /// Wakes the connection when a result arrives.
    pub(crate) wake: Notify,
}

impl AckSink {
    /// Take the result for `seq` if it has arrived.
    pub(crate) fn take(&self, seq: u64) -> Option<Result<(), PutError>> {
        self.results.borrow_mut().remove(&seq)
    }

    fn complete(&self, seq: u64, result: Result<(), PutError>) {
        self.results.borrow_mut().insert(seq, result);
        self.wake.notify();
    }
}

type Waiter = (Rc<AckSink>, u64);

#[derive(Default)]
struct Outbox {
    commands: Vec<ForwardedPublish>,
    waiters: Vec<Waiter>,
}

/// The shard's forwarder.
pub(crate) struct Forwarder {
    me: usize,
    outboxes: RefCell<Vec<Outbox>>,
    awaiting: RefCell<HashMap<u64, Vec<Waiter>>>,
    next_batch: Cell<u64>,
    wake: Notify,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Forwarder(shard {})", self.me)
    }
}

impl Forwarder {
    /// A forwarder for shard `me` of `shards`.
    pub(crate) fn new(me: usize, shards: usize) -> Forwarder {
        Forwarder {
            me,
            outboxes: RefCell::new((0..shards).map(|_| Outbox::default()).collect()),
            awaiting: RefCell::new(HashMap::new()),
            next_batch: Cell::new(0),
            wake: Notify::default(),
        }
    }

    /// Queue a publish for shard `owner`; its result goes to `sink` as `seq`.
    pub(crate) fn submit(
        &self,
        owner: usize,
        command: ForwardedPublish,
        sink: &Rc<AckSink>,
        seq: u64,
    ) {
        let mut outboxes = self.outboxes.borrow_mut();
        let outbox = &mut outboxes[owner];
        outbox.commands.push(command);
        outbox.waiters.push((sink.clone(), seq));
        self.wake.notify();
    }

    /// Deliver an owner's answer.
    pub(crate) fn on_ack(&self, batch: u64, results: Vec<Result<(), PutError>>) {
        let Some(waiters) = self.awaiting.borrow_mut().remove(&batch) else {
            return;
        };
        for ((sink, seq), result) in waiters.into_iter().zip(results) {
            sink.complete(seq, result);
        }
    }

    /// Fail everything not yet answered (shutdown).
    pub(crate) fn fail_all(&self) {
        let awaiting: Vec<_> = self.awaiting.borrow_mut().drain().collect();
        for (_, waiters) in awaiting {
            for (sink, seq) in waiters {
                sink.complete(seq, Err(PutError::Exiting));
            }
        }
    }

    /// The forwarder task.
    pub(crate) async fn run(self: Rc<Self>, ctx: Arc<Context>) {
        loop {
            self.wake.notified().await;
            // Let the other connections that are ready this tick add theirs.
            glommio::yield_if_needed().await;
            let ready: Vec<(usize, Outbox)> = self
                .outboxes
                .borrow_mut()
                .iter_mut()
                .enumerate()
                .filter(|(_, o)| !o.commands.is_empty())
                .map(|(i, o)| (i, std::mem::take(o)))
                .collect();
            for (owner, outbox) in ready {
                let batch = self.next_batch.get();
                self.next_batch.set(batch + 1);
                self.awaiting.borrow_mut().insert(batch, outbox.waiters);
                let msg = ShardMsg::Publish {
                    origin: self.me,
                    batch,
                    commands: outbox.commands,
                };
                if ctx.mesh[owner].send(msg).is_err() {
                    if let Some(waiters) = self.awaiting.borrow_mut().remove(&batch) {
                        for (sink, seq) in waiters {
                            sink.complete(seq, Err(PutError::Exiting));
                        }
                    }
                }
            }
        }
    }
}
