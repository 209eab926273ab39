//! The shard's heartbeat clock: one task sends every connection's
//! `_heartbeat_` on its interval and closes a connection that sent nothing
//! for two intervals (NSQ's read deadline, docs/protocol.md#heartbeats).
//!
//! No connection arms a timer of its own, neither per read (a socket read
//! timeout) nor per idle writer (a heartbeat ticker): a read only stores
//! the time in its client, and the clock looks at a connection when its
//! next heartbeat or deadline is due. Connections due within
//! [`COALESCE`] of each other are served in one wake-up.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use nsq_protocol::frame::HEARTBEAT;

use crate::due_heap::DueHeap;
use crate::net::client::Client;
use crate::notify::Notify;

/// Due times this close together are served in one wake-up (a heartbeat
/// may go out this much early).
const COALESCE: Duration = Duration::from_millis(10);

/// A connection the clock watches.
struct Watched {
    /// The client's watch generation when this entry was made: a newer
    /// one (the interval changed) makes it stale.
    generation: u64,
    client: Weak<Client>,
}

/// What the clock does with one connection when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing to watch (heartbeats off, or the connection closed).
    Done,
    /// Look again at this time.
    Next(Instant),
}

/// Per-shard heartbeat clock.
#[derive(Default)]
pub(crate) struct Heartbeats {
    heap: RefCell<DueHeap<Watched>>,
    wake: Notify,
}

impl std::fmt::Debug for Heartbeats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Heartbeats({} entries)", self.heap.borrow().len())
    }
}

impl Heartbeats {
    /// Watch `client` from `now` with its current heartbeat interval (at
    /// connection start, and again when IDENTIFY changes the interval):
    /// its first heartbeat is one interval away.
    pub(crate) fn watch(&self, client: &Rc<Client>, now: Instant) {
        let generation = client.restart_heartbeats(now);
        if let Due::Next(at) = client.heartbeat_due() {
            let client = Rc::downgrade(client);
            self.push(at, Watched { generation, client });
        }
    }

    fn push(&self, at: Instant, watched: Watched) {
        let earlier = self.heap.borrow_mut().push(at, watched);
        if earlier {
            self.wake.notify();
        }
    }

    /// The clock's task: runs until the shard stops.
    pub(crate) async fn run(self: Rc<Self>) {
        loop {
            let next = self.heap.borrow().next_due();
            let now = Instant::now();
            match next {
                Some(at) if at <= now + COALESCE => self.fire(now),
                Some(at) => {
                    futures_lite::future::or(glommio::timer::sleep(at - now), self.wake.notified())
                        .await
                }
                None => self.wake.notified().await,
            }
        }
    }

    /// Serve every connection due by `now + COALESCE`.
    fn fire(&self, now: Instant) {
        let horizon = now + COALESCE;
        loop {
            let entry = self.heap.borrow_mut().pop_due(horizon);
            let Some(entry) = entry else {
                return;
            };
            let Some(client) = entry.client.upgrade() else {
                continue;
            };
            if client.heartbeat_generation() != entry.generation {
                continue; // watched again since
            }
            if let Due::Next(at) = client.on_heartbeat_clock(horizon) {
                self.push(at, entry);
            }
        }
    }
}

/// What a client keeps for the clock.
#[derive(Debug)]
pub(crate) struct HeartbeatState {
    /// When the client last sent bytes.
    last_read: Cell<Instant>,
    /// When its next heartbeat is due.
    next: Cell<Instant>,
    /// Bumped by every [`Heartbeats::watch`].
    generation: Cell<u64>,
}

impl HeartbeatState {
    /// State for a connection that starts now.
    pub(crate) fn new(now: Instant) -> HeartbeatState {
        HeartbeatState {
            last_read: Cell::new(now),
            next: Cell::new(now),
            generation: Cell::new(0),
        }
    }
}

impl Client {
    /// The client sent bytes at `now` (its read deadline moves).
    pub(crate) fn read_at(&self, now: Instant) {
        self.heartbeat_state.last_read.set(now);
    }

    fn restart_heartbeats(&self, now: Instant) -> u64 {
        let s = &self.heartbeat_state;
        let interval = self.heartbeat.get().unwrap_or_default();
        s.next.set(now + interval);
        s.last_read.set(now);
        s.generation.set(s.generation.get() + 1);
        s.generation.get()
    }

    fn heartbeat_generation(&self) -> u64 {
        self.heartbeat_state.generation.get()
    }

    /// When the clock must look at this client next.
    fn heartbeat_due(&self) -> Due {
        let Some(interval) = self.heartbeat.get() else {
            return Due::Done;
        };
        if self.closed.get() {
            return Due::Done;
        }
        let s = &self.heartbeat_state;
        Due::Next(s.next.get().min(s.last_read.get() + interval * 2))
    }

    /// The clock's visit (serving everything due by `horizon`): close a
    /// connection silent for two intervals, else send the heartbeat if it
    /// is due; when to come back.
    fn on_heartbeat_clock(&self, horizon: Instant) -> Due {
        let Some(interval) = self.heartbeat.get() else {
            return Due::Done;
        };
        if self.closed.get() {
            return Due::Done;
        }
        let s = &self.heartbeat_state;
        if s.last_read.get() + interval * 2 <= horizon {
            crate::log!(
                Error,
                "client({}) read deadline: nothing received for {:?}; closing",
                self.remote,
                interval * 2
            );
            self.kill();
            return Due::Done;
        }
        if s.next.get() <= horizon {
            if !self.upgrading.get() {
                self.respond(HEARTBEAT);
                self.writer_wake.notify();
            }
            // A fixed ticker, as NSQ's: the next one an interval after
            // this one was due (or after now, if the shard was behind).
            let now = Instant::now();
            let next = s.next.get() + interval;
            s.next.set(if next > now { next } else { now + interval });
        }
        self.heartbeat_due()
    }
}
