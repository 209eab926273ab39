//! The shard's timer: one task that sleeps until the earliest in-flight
//! deadline or deferred due time of any channel on the shard, then lets those
//! channels requeue and release. Exact to the executor's timer resolution,
//! instead of NSQ's sampled 100 ms scan (docs/compatibility.md#exact-timers).
//!
//! Each channel registers only when its own earliest deadline moves earlier,
//! so steady traffic adds no timer work per message.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::{Rc, Weak};
use std::time::Instant;

use crate::channel::Channel;
use crate::notify::Notify;

struct Entry {
    at: Instant,
    seq: u64,
    channel: Weak<RefCell<Channel>>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the heap's top is the earliest entry.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Per-shard timer registry.
#[derive(Default)]
pub(crate) struct Timers {
    heap: RefCell<BinaryHeap<Entry>>,
    seq: Cell<u64>,
    wake: Notify,
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Timers({} entries)", self.heap.borrow().len())
    }
}

impl Timers {
    /// Ask for `channel.process_timers` at `at`.
    pub(crate) fn schedule(&self, at: Instant, channel: Weak<RefCell<Channel>>) {
        let mut heap = self.heap.borrow_mut();
        let earlier = heap.peek().is_none_or(|top| at < top.at);
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        heap.push(Entry { at, seq, channel });
        drop(heap);
        if earlier {
            self.wake.notify();
        }
    }

    /// Take the channels due at `now`.
    fn take_due(&self, now: Instant, into: &mut Vec<Weak<RefCell<Channel>>>) {
        let mut heap = self.heap.borrow_mut();
        while heap.peek().is_some_and(|e| e.at <= now) {
            if let Some(e) = heap.pop() {
                into.push(e.channel);
            }
        }
    }

    fn next(&self) -> Option<Instant> {
        self.heap.borrow().peek().map(|e| e.at)
    }

    /// The timer task; runs until the shard stops.
    pub(crate) async fn run(self: Rc<Self>) {
        let mut due = Vec::new();
        loop {
            match self.next() {
                None => self.wake.notified().await,
                Some(at) => {
                    let now = Instant::now();
                    if at > now {
                        futures_lite::future::or(
                            glommio::timer::sleep(at - now),
                            self.wake.notified(),
                        )
                        .await;
                        continue;
                    }
                }
            }
            let now = Instant::now();
            self.take_due(now, &mut due);
            for weak in due.drain(..) {
                if let Some(channel) = weak.upgrade() {
                    channel.borrow_mut().process_timers(now);
                }
            }
        }
    }
}
