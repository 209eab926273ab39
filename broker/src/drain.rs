//! Draining a node (an extension, off unless asked for;
//! docs/compatibility.md#draining): `POST /drain` or SIGUSR1 starts it.
//!
//! While draining, publishes are refused (TCP as NSQ refuses them while
//! exiting, HTTP 503 `DRAINING`), every topic and channel is unregistered
//! from every lookupd (the connections stay), and the consumers already
//! connected go on receiving every queued, deferred and in-flight message.
//! A monitor thread asks every shard what is left
//! ([`crate::shard::Shard::drain_status`]) every [`POLL`]; once nothing
//! that consumers could still take is left, or the drain's timeout has
//! passed, it starts the normal shutdown, which writes whatever is left
//! (messages of topics without channels, paused ones) to disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::shard::mesh::ShardMsg;
use crate::shard::{Context, Shard};

/// How often the monitor looks.
const POLL: Duration = Duration::from_millis(100);

/// The process-wide drain state (in the shared [`Context`]).
#[derive(Debug)]
pub(crate) struct Drain {
    draining: AtomicBool,
    /// Deadlines for the monitor: the first starts it, later ones replace it.
    starts: flume::Sender<Instant>,
    started: flume::Receiver<Instant>,
}

impl Default for Drain {
    fn default() -> Drain {
        let (starts, started) = flume::unbounded();
        Drain {
            draining: AtomicBool::new(false),
            starts,
            started,
        }
    }
}

impl Drain {
    /// Whether the node drains (publishes are refused). One relaxed load
    /// per publish command: nothing else is published through the flag.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Start draining, to end within `timeout` from now (a drain already
    /// running takes the new deadline). False if it was running already.
    pub(crate) fn start(&self, ctx: &Context, timeout: Duration) -> bool {
        let first = !self.draining.swap(true, Ordering::Relaxed);
        if first {
            crate::log!(
                Info,
                "DRAIN: draining (timeout {timeout:?}): publishes refused, lookupd registrations removed"
            );
            ctx.announce(crate::lookupd::Announce::Drain);
        } else {
            crate::log!(Info, "DRAIN: new timeout {timeout:?}");
        }
        let _ = self.starts.send(Instant::now() + timeout);
        first
    }
}

/// What is left on one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ShardDrain {
    /// Messages consumers can still take: queued in a channel that is not
    /// paused, in flight, deferred, on their way to a dead-letter topic,
    /// or waiting at a topic that will pass them to its channels.
    pub(crate) drainable: u64,
    /// Messages no consumer can take here: at a topic without channels,
    /// or in a paused topic or channel. They go to disk at shutdown.
    pub(crate) stuck: u64,
}

impl Shard {
    /// What is left to drain on this shard.
    pub(crate) fn drain_status(&self) -> ShardDrain {
        let mut left = ShardDrain::default();
        for (_, topic) in self.topics_sorted() {
            let topic = topic.borrow();
            let at_topic = topic.depth() as u64;
            if topic.channels().is_empty() || topic.paused {
                left.stuck += at_topic;
            } else {
                left.drainable += at_topic;
            }
            for channel in topic.channels() {
                let c = channel.borrow();
                let queued = c.depth() as u64;
                let taken =
                    (c.in_flight_count() + c.deferred_count() + c.dead_letters_moving()) as u64;
                left.drainable += taken;
                if c.paused {
                    left.stuck += queued;
                } else {
                    left.drainable += queued;
                }
            }
        }
        left
    }
}

/// Start the monitor thread: it waits for a drain to start, then calls
/// `shut_down` once the drain is over.
pub(crate) fn spawn_monitor(ctx: Arc<Context>, shut_down: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("drain".into())
        .spawn(move || {
            let started = ctx.drain.started.clone();
            let Ok(mut deadline) = started.recv() else {
                return;
            };
            loop {
                while let Ok(later) = started.try_recv() {
                    deadline = later;
                }
                let left = what_is_left(&ctx);
                match left {
                    Some(left) if left.drainable == 0 => {
                        crate::log!(
                            Info,
                            "DRAIN: done ({} messages without consumers stay on disk): shutting down",
                            left.stuck
                        );
                        break;
                    }
                    Some(left) if Instant::now() >= deadline => {
                        crate::log!(
                            Warn,
                            "DRAIN: timed out with {} messages left: shutting down",
                            left.drainable + left.stuck
                        );
                        break;
                    }
                    None => {
                        // A shard did not answer: it is stopping already.
                        return;
                    }
                    Some(_) => std::thread::sleep(POLL),
                }
            }
            shut_down();
        });
    if let Err(e) = spawned {
        crate::log!(Error, "cannot start the drain monitor: {e}");
    }
}

/// Every shard's [`ShardDrain`] summed; `None` if one did not answer.
fn what_is_left(ctx: &Context) -> Option<ShardDrain> {
    let replies: Vec<_> = ctx
        .mesh
        .iter()
        .map(|tx| {
            let (reply, rx) = flume::bounded(1);
            tx.send(ShardMsg::Drain(reply)).ok().map(|_| rx)
        })
        .collect::<Option<_>>()?;
    let mut total = ShardDrain::default();
    for rx in replies {
        let part = rx.recv_timeout(Duration::from_secs(5)).ok()?;
        total.drainable += part.drainable;
        total.stuck += part.stuck;
    }
    Some(total)
}
