//! Redrive (`POST /channel/redrive`): the messages waiting in a channel's
//! dead-letter topic go back into that channel only, with their attempts
//! reset, a new ID and timestamp (as a new publish would give them).
//!
//! It runs on the dead-letter topic's owner. While it runs the topic reads
//! its disk queue back even without a channel, but moves nothing to its
//! channels; the redrive takes up to [`BATCH`] messages at a time from it
//! and sends them to the channel's owner ([`put`]), which answers once
//! they are written (and fsynced, with `--sync-every=1`); only then does
//! the topic's disk queue persist its read position past them, so a crash
//! duplicates, never loses. It moves as many messages as the topic held
//! when it started.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::deadletter::request::Request;
use crate::message::Message;
use crate::notify::Event;
use crate::shard::admin::{AdminError, ChannelRef};
use crate::shard::mesh::ShardMsg;
use crate::shard::{wall_clock_ns, Shard};
use crate::topic::Topic;

/// Messages sent to the channel at a time.
pub(crate) const BATCH: usize = 1024;

/// A redrive stops when its topic gives nothing for this long (a disk
/// queue that cannot be read).
const STALL: Duration = Duration::from_secs(10);

/// A redrive in progress, as its topic sees it.
#[derive(Debug, Default)]
pub(crate) struct Redrive {
    /// Bumped when messages are read back into the topic, a batch is
    /// answered, or the redrive ends.
    pub(crate) changed: Event,
    /// A batch is on its way to the channel.
    in_transit: Cell<bool>,
}

impl Redrive {
    /// Whether a batch is on its way.
    pub(crate) fn in_transit(&self) -> bool {
        self.in_transit.get()
    }
}

/// Why a redrive failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedriveError {
    /// The channel (or its topic) is not there, or nsqd is exiting.
    Admin(AdminError),
    /// The dead-letter topic is being redriven already.
    InProgress,
    /// The channel's disk queue failed.
    DiskFailed,
}

/// Move the messages of `dead_topic` (owned by `shard`) into `target`;
/// how many moved.
pub(crate) async fn run(
    shard: Rc<Shard>,
    dead_topic: String,
    target: ChannelRef,
) -> Result<u64, RedriveError> {
    if shard.is_stopping() {
        return Err(RedriveError::Admin(AdminError::Exiting));
    }
    let Some(topic) = shard.topic(&dead_topic) else {
        return Ok(0);
    };
    let state = Rc::new(Redrive::default());
    {
        let mut t = topic.borrow_mut();
        if t.redrive.is_some() {
            return Err(RedriveError::InProgress);
        }
        t.redrive = Some(state.clone());
    }
    let _running = Running {
        topic: topic.clone(),
        state: state.clone(),
    };
    let wanted = topic.borrow().depth();
    crate::log!(
        Info,
        "TOPIC({dead_topic}): redriving {wanted} messages to channel {}:{}",
        target.topic,
        target.channel
    );
    let owner = shard.owner_of(&target.topic);
    let mut moved = 0;
    let mut progress = Instant::now();
    let result = loop {
        if moved >= wanted {
            break Ok(());
        }
        let seen = state.changed.version();
        let batch = topic.borrow_mut().take_front((wanted - moved).min(BATCH));
        if batch.is_empty() {
            if topic.borrow().depth() == 0 || shard.is_stopping() {
                break Ok(());
            }
            if progress.elapsed() > STALL {
                crate::log!(
                    Warn,
                    "TOPIC({dead_topic}): redrive stalled: nothing read back for {STALL:?}"
                );
                break Ok(());
            }
            topic.borrow().wake_reader();
            futures_lite::future::or(state.changed.changed(seen), async {
                glommio::timer::sleep(Duration::from_millis(100)).await;
            })
            .await;
            continue;
        }
        progress = Instant::now();
        let n = batch.len();
        state.in_transit.set(true);
        let sent = send(&shard, owner, &target, batch.clone()).await;
        state.in_transit.set(false);
        state.changed.notify_all();
        match sent {
            Ok(()) => moved += n,
            Err(e) => {
                topic.borrow_mut().put_back(batch);
                break Err(e);
            }
        }
    };
    match result {
        Ok(()) => {
            crate::log!(
                Info,
                "TOPIC({dead_topic}): {moved} messages redriven to channel {}:{}",
                target.topic,
                target.channel
            );
            Ok(moved as u64)
        }
        Err(e) => {
            crate::log!(
                Error,
                "TOPIC({dead_topic}): redrive to {}:{} stopped after {moved} messages - {e:?}",
                target.topic,
                target.channel
            );
            Err(e)
        }
    }
}

/// A redrive in progress: when it ends (or its task is dropped), the
/// topic goes back to passing its messages to its channels, and its disk
/// queue stops waiting for it.
struct Running {
    topic: Rc<RefCell<Topic>>,
    state: Rc<Redrive>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut t) = self.topic.try_borrow_mut() {
            t.redrive = None;
            t.pump(Instant::now());
        }
        self.state.in_transit.set(false);
        self.state.changed.notify_all();
    }
}

/// Hand a batch to the channel's owner and wait for its answer.
async fn send(
    shard: &Rc<Shard>,
    owner: usize,
    target: &ChannelRef,
    messages: Vec<Message>,
) -> Result<(), RedriveError> {
    if owner == shard.id {
        return put(shard, target, messages).await;
    }
    let exiting = Err(RedriveError::Admin(AdminError::Exiting));
    let (reply, rx) = flume::bounded(1);
    let request = Request::Put {
        channel: target.clone(),
        messages,
        reply,
    };
    if shard.ctx.mesh[owner]
        .send(ShardMsg::DeadLetter(request))
        .is_err()
    {
        return exiting;
    }
    rx.recv_async().await.unwrap_or(exiting)
}

/// Put redriven messages into a channel of a topic owned by `shard`
/// (attempts 0, new IDs and timestamps); done once they are written.
pub(crate) async fn put(
    shard: &Shard,
    target: &ChannelRef,
    messages: Vec<Message>,
) -> Result<(), RedriveError> {
    if shard.is_stopping() {
        return Err(RedriveError::Admin(AdminError::Exiting));
    }
    let channel = shard.find_channel(target).map_err(RedriveError::Admin)?;
    let now = Instant::now();
    let now_ns = wall_clock_ns();
    let now_ms = now_ns / 1_000_000;
    let epoch = {
        let mut c = channel.borrow_mut();
        let mut epoch = Some(0);
        for mut m in messages {
            m.id = shard.ids.next(now_ns);
            m.timestamp = now_ns;
            m.attempts = 0;
            m.defer_ms = 0;
            let e = c.put(m, now, now_ms);
            epoch = epoch.zip(e).map(|(a, b)| a.max(b));
        }
        c.dispatch(now);
        epoch
    };
    match epoch {
        None => Err(RedriveError::DiskFailed),
        Some(0) => Ok(()),
        Some(e) => shard
            .commit
            .wait(e)
            .await
            .map_err(|_| RedriveError::DiskFailed),
    }
}
