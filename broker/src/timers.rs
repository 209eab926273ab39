//! The shard's timer: one task that sleeps until the earliest in-flight
//! deadline or deferred due time of any channel on the shard, then lets those
//! channels requeue and release. Exact to the executor's timer resolution,
//! instead of NSQ's sampled 100 ms scan (docs/compatibility.md#exact-timers).
//!
//! Each channel registers only when its own earliest deadline moves earlier,
//! so steady traffic adds no timer work per message.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Instant;

use crate::channel::Channel;
use crate::due_heap::DueHeap;
use crate::notify::Notify;

/// Per-shard timer registry.
#[derive(Default)]
pub(crate) struct Timers {
    heap: RefCell<DueHeap<Weak<RefCell<Channel>>>>,
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
        let earlier = self.heap.borrow_mut().push(at, channel);
        if earlier {
            self.wake.notify();
        }
    }

    /// Take the channels due at `now`.
    fn take_due(&self, now: Instant, into: &mut Vec<Weak<RefCell<Channel>>>) {
        let mut heap = self.heap.borrow_mut();
        while let Some(channel) = heap.pop_due(now) {
            into.push(channel);
        }
    }

    fn next(&self) -> Option<Instant> {
        self.heap.borrow().next_due()
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
