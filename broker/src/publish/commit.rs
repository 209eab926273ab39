//! Group commit: which publishes are on disk yet
//! (docs/compatibility.md#group-commit).
//!
//! A publish whose messages went to one or more disk queues is answered
//! only once every one of those writes is done (and fsynced, with
//! `--sync-every=1`). Instead of tracking each message, the shard counts
//! *epochs*: every write is tagged with the epoch current when it was
//! queued, and a queue that starts writing a batch moves the shard to the
//! next epoch. Epoch `e` is complete when no queue still holds an unwritten
//! batch that began at `e` or earlier. So all the publishes of all the
//! connections of a moment share one write and one fsync per queue, and
//! waiting costs nothing per message.
//!
//! A failed write fails every epoch its batch spanned: those publishes are
//! answered `E_PUB_FAILED` (their messages may still arrive: at least once).
//!
//! The disk layer only signals: a queue became dirty
//! ([`GroupCommit::dirty`]), starts writing ([`GroupCommit::begin_write`]),
//! has written ([`GroupCommit::written`]). A connection of this shard waits
//! for its epoch ([`GroupCommit::wait`]); a batch forwarded by another shard
//! has its answer held here ([`GroupCommit::hold`]) and sent through the
//! [`AckRoute`] as soon as its epoch completes.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

use crate::notify::Event;
use crate::publish::owner::AckRoute;
use crate::publish::PutError;

/// Failed epoch ranges kept for late waiters.
const FAILED_KEPT: usize = 1024;

/// A forwarded publish batch whose answer waits for the disk.
#[derive(Debug)]
pub(crate) struct HeldAck {
    /// The epoch that must complete first.
    pub(crate) epoch: u64,
    /// The shard that sent the batch.
    pub(crate) origin: usize,
    /// The batch number there.
    pub(crate) batch: u64,
    /// The answers, each with the epoch it waits for (0 = none).
    pub(crate) results: Vec<(Result<(), PutError>, u64)>,
}

/// One shard's group-commit bookkeeping.
#[derive(Debug)]
pub(crate) struct GroupCommit {
    current: Cell<u64>,
    /// Epoch at which each dirty queue's unwritten batch began → queues.
    outstanding: RefCell<BTreeMap<u64, usize>>,
    failed: RefCell<VecDeque<(u64, u64)>>,
    held: RefCell<Vec<HeldAck>>,
    /// Where held answers go once their epochs complete.
    route: AckRoute,
    /// Bumped whenever epochs complete.
    pub(crate) done: Event,
}

impl GroupCommit {
    /// No epoch outstanding; held answers go through `route`.
    pub(crate) fn new(route: AckRoute) -> GroupCommit {
        GroupCommit {
            current: Cell::new(1),
            outstanding: RefCell::new(BTreeMap::new()),
            failed: RefCell::new(VecDeque::new()),
            held: RefCell::new(Vec::new()),
            route,
            done: Event::default(),
        }
    }

    /// Where answers to other shards' batches go.
    pub(crate) fn route(&self) -> &AckRoute {
        &self.route
    }

    /// The epoch new writes belong to.
    pub(crate) fn current(&self) -> u64 {
        self.current.get()
    }

    /// A queue got its first unwritten message: returns the epoch its
    /// batch begins at (give it back to [`GroupCommit::written`]).
    pub(crate) fn dirty(&self) -> u64 {
        let e = self.current.get();
        *self.outstanding.borrow_mut().entry(e).or_insert(0) += 1;
        e
    }

    /// A queue takes its unwritten batch to write it: later writes belong
    /// to the next epoch. Returns the batch's last epoch.
    pub(crate) fn begin_write(&self) -> u64 {
        let last = self.current.get();
        self.current.set(last + 1);
        last
    }

    /// A queue's batch of epochs `began..=last` is written, or failed:
    /// the held answers whose epochs are now complete are sent.
    pub(crate) fn written(&self, began: u64, last: u64, ok: bool) {
        if !ok {
            let mut failed = self.failed.borrow_mut();
            if failed.len() == FAILED_KEPT {
                failed.pop_front();
            }
            failed.push_back((began, last));
        }
        {
            let mut out = self.outstanding.borrow_mut();
            if let Some(n) = out.get_mut(&began) {
                *n -= 1;
                if *n == 0 {
                    out.remove(&began);
                }
            }
        }
        self.done.notify_all();
        self.release();
    }

    /// Whether epoch `e` is complete.
    pub(crate) fn is_complete(&self, e: u64) -> bool {
        self.outstanding
            .borrow()
            .keys()
            .next()
            .is_none_or(|&first| first > e)
    }

    /// Whether epoch `e` is complete but for one queue's batch that
    /// began at `own`.
    pub(crate) fn is_complete_except(&self, e: u64, own: Option<u64>) -> bool {
        let pending: usize = self.outstanding.borrow().range(..=e).map(|(_, n)| n).sum();
        let mine = usize::from(own.is_some_and(|o| o <= e));
        pending <= mine
    }

    /// The outcome of complete epoch `e`.
    pub(crate) fn outcome(&self, e: u64) -> Result<(), PutError> {
        let failed = self
            .failed
            .borrow()
            .iter()
            .any(|&(lo, hi)| lo <= e && e <= hi);
        if failed {
            Err(PutError::DiskFailed)
        } else {
            Ok(())
        }
    }

    /// Wait until epoch `e` is complete; its outcome.
    pub(crate) async fn wait(&self, e: u64) -> Result<(), PutError> {
        loop {
            let seen = self.done.version();
            if self.is_complete(e) {
                return self.outcome(e);
            }
            self.done.changed(seen).await;
        }
    }

    /// Hold a forwarded batch's answer until its epoch completes (sent at
    /// once if it is complete already: a queue that failed to open answers
    /// at once).
    pub(crate) fn hold(&self, ack: HeldAck) {
        self.held.borrow_mut().push(ack);
        self.release();
    }

    /// Send the held answers whose epochs are complete, with each result
    /// settled.
    fn release(&self) {
        let mut held = self.held.borrow_mut();
        if held.is_empty() {
            return;
        }
        let mut i = 0;
        while i < held.len() {
            if self.is_complete(held[i].epoch) {
                let ack = held.swap_remove(i);
                let results = ack
                    .results
                    .into_iter()
                    .map(|(r, e)| match r {
                        Ok(()) if e != 0 => self.outcome(e),
                        r => r,
                    })
                    .collect();
                self.route.answer(ack.origin, ack.batch, results);
            } else {
                i += 1;
            }
        }
    }

    /// Answer everything still held with `Exiting` (shutdown).
    pub(crate) fn fail_held(&self) {
        let held = std::mem::take(&mut *self.held.borrow_mut());
        for ack in held {
            self.route.refuse(ack.origin, ack.batch, ack.results.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::mesh::ShardMsg;

    /// A group commit whose answers go to shard 1's inbox, and that inbox.
    fn group_commit() -> (GroupCommit, flume::Receiver<ShardMsg>) {
        let (tx0, _) = flume::unbounded();
        let (tx1, rx1) = flume::unbounded();
        (GroupCommit::new(AckRoute::new(vec![tx0, tx1])), rx1)
    }

    /// The answers shard 1 received: batch number and results.
    fn answers(rx: &flume::Receiver<ShardMsg>) -> Vec<(u64, Vec<Result<(), PutError>>)> {
        rx.try_iter()
            .filter_map(|m| match m {
                ShardMsg::PublishAck { batch, results } => Some((batch, results)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_epoch_completes_when_every_batch_that_began_by_then_is_written() {
        let (g, _) = group_commit();
        let a = g.dirty(); // queue A, epoch 1
        let e1 = g.current();
        let a_last = g.begin_write(); // A writes
        let b = g.dirty(); // queue B dirty at epoch 2
        let e2 = g.current();
        assert!(!g.is_complete(e1));
        g.written(a, a_last, true);
        assert!(g.is_complete(e1));
        assert!(!g.is_complete(e2));
        let b_last = g.begin_write();
        g.written(b, b_last, false);
        assert!(g.is_complete(e2));
        assert_eq!(g.outcome(e1), Ok(()));
        assert_eq!(g.outcome(e2), Err(PutError::DiskFailed));
    }

    #[test]
    fn held_answers_are_released_in_order_of_completion() {
        let (g, rx) = group_commit();
        let began = g.dirty();
        let e = g.current();
        g.hold(HeldAck {
            epoch: e,
            origin: 1,
            batch: 7,
            results: vec![(Ok(()), e), (Ok(()), 0), (Err(PutError::Skipped), 0)],
        });
        assert!(answers(&rx).is_empty());
        let last = g.begin_write();
        g.written(began, last, true);
        assert_eq!(
            answers(&rx),
            vec![(7, vec![Ok(()), Ok(()), Err(PutError::Skipped)])]
        );
    }

    #[test]
    fn held_answers_are_refused_at_shutdown() {
        let (g, rx) = group_commit();
        g.dirty();
        let e = g.current();
        g.hold(HeldAck {
            epoch: e,
            origin: 1,
            batch: 3,
            results: vec![(Ok(()), e), (Ok(()), 0)],
        });
        g.fail_held();
        assert_eq!(
            answers(&rx),
            vec![(3, vec![Err(PutError::Exiting), Err(PutError::Exiting)])]
        );
    }
}
