//! A durable topic's or channel's disk queue as its owner sees it
//! (docs/protocol.md#publishing, docs/data-directory.md#disk-queues,
//! #shutdown).
//!
//! The owner ([`crate::topic::Topic`] or [`crate::channel::Channel`]) is
//! synchronous; the [`DiskQueue`] is async. A [`Backend`] sits between them:
//! the owner hands it messages ([`Backend::push`]) and asks for more
//! ([`Backend::wake_reader`]) without waiting, and one task per queue, on the
//! owner's shard, does the I/O:
//!
//! ```text
//!  owner.put ──► to_write ──► task: put_many (one write, one sync per batch) ──► GroupCommit::written
//!                                   │
//!  owner.refill ◄── read back ◄─────┘ peek / advance up to the owner's room, then one sync
//! ```
//!
//! Depth is exact at every moment: [`Backend::depth`] counts what waits to
//! be written, what is being written and what is on disk, and the task
//! moves records into the owner's memory queue in the same step that
//! lowers the disk depth.
//!
//! A write that fails for want of space or an I/O error is not dropped:
//! its publishes are answered `E_PUB_FAILED` (they may still arrive: at
//! least once), and the batch stays queued, retried with a growing delay
//! (100 ms to 2 s) until it is written. Meanwhile the queue takes new
//! messages only up to [`RETAINED_BYTES`]. A durable topic reads nothing
//! back while one of its channels' queues is failing, and keeps its own
//! read position until the copies it gave them are written: a message
//! acknowledged to its publisher is never dropped for a full disk.
//!
//! Deferred messages that reach the disk (at shutdown, or a DPUB that
//! overflows) keep their due time in an extra file (`<queue>.deferred.dat`,
//! [`DiskQueue::save_deferrals`]) that Go nsqd ignores.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nsq_diskqueue::state::Position;
use nsq_diskqueue::{DirScan, DiskQueue, QueueConfig, QueueError};
use nsq_protocol::MessageId;

mod task;

use crate::channel::Channel;
use crate::message::Message;
use crate::notify::{Event, Notify};
use crate::publish::commit::GroupCommit;
use crate::shard::Context;
use crate::topic::Topic;

/// Messages a topic reads back from its disk queue at a time.
pub(crate) const READ_AHEAD: usize = 1024;

/// Most messages a channel reads back at a time (it reads what its
/// consumers' RDY leaves room for, up to this).
pub(crate) const READ_MAX: usize = 4096;

/// Payload bytes after which a read-back batch stops early (large
/// messages).
const READ_BYTES: usize = 4 << 20;

/// A failed write is first retried after this long; the delay doubles up
/// to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// While a queue's writes fail, it keeps at most this many body bytes
/// unwritten (the failed batch and what came after); beyond, a push is
/// refused (the publish is answered `E_PUB_FAILED`).
const RETAINED_BYTES: usize = 64 << 20;

/// Queues of one shard that end (write out, sync, close or delete) at
/// the same time; each holds two or three files open meanwhile.
const ENDING_AT_ONCE: u64 = 32;

/// What a backend delivers read-back messages to.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// A topic.
    Topic(Weak<RefCell<Topic>>),
    /// A channel.
    Channel(Weak<RefCell<Channel>>),
}

impl Owner {
    /// How many messages the owner takes now (0 if gone).
    fn room(&self) -> usize {
        match self {
            Owner::Topic(t) => t.upgrade().map_or(0, |t| t.borrow().read_room()),
            Owner::Channel(c) => c.upgrade().map_or(0, |c| c.borrow().read_room()),
        }
    }

    fn refill(&self, messages: Vec<Message>) {
        let now = Instant::now();
        match self {
            Owner::Topic(t) => {
                if let Some(t) = t.upgrade() {
                    t.borrow_mut().refill(messages, now);
                }
            }
            Owner::Channel(c) => {
                if let Some(c) = c.upgrade() {
                    c.borrow_mut().refill(messages, now);
                }
            }
        }
    }

    fn is_topic(&self) -> bool {
        matches!(self, Owner::Topic(_))
    }

    /// A topic one of whose channels' disk queues is failing to write.
    fn channels_failing(&self) -> bool {
        let Owner::Topic(t) = self else {
            return false;
        };
        t.upgrade().is_some_and(|t| t.borrow().channels_failing())
    }

    /// A topic being redriven: wait until what it read back is in the
    /// redrive's channel (docs/compatibility.md#dead-letters).
    async fn redriven(&self) {
        let Owner::Topic(t) = self else {
            return;
        };
        loop {
            let Some(topic) = t.upgrade() else {
                return;
            };
            let Some(state) = topic.borrow().redrive.clone() else {
                return;
            };
            let seen = state.changed.version();
            if topic.borrow().redrive_settled() {
                return;
            }
            drop(topic);
            state.changed.changed(seen).await;
        }
    }
}

/// What every backend of a shard shares.
#[derive(Debug)]
pub(crate) struct DiskShard {
    /// `--data-path`.
    pub(crate) dir: PathBuf,
    /// Queue parameters from the flags.
    pub(crate) cfg: QueueConfig,
    /// `--sync-every=1`: every publish goes through the disk and is
    /// answered after its fsync (group commit).
    pub(crate) durable: bool,
    /// `--mem-queue-size`.
    pub(crate) mem_queue_size: usize,
    /// The shard's group commit.
    pub(crate) commit: Rc<GroupCommit>,
    ctx: Arc<Context>,
    /// Queues being closed or deleted, by name.
    retiring: RefCell<HashMap<String, usize>>,
    /// The newest backend of each name: a new queue of the same name
    /// opens only after it is done (a topic deleted and recreated).
    latest: RefCell<HashMap<String, Weak<Backend>>>,
    /// Backends still opening their queue (startup waits for none).
    opening: Cell<usize>,
    /// Queues writing out and closing (or deleting) their files at once
    /// are at most [`ENDING_AT_ONCE`]: at shutdown every queue ends, and
    /// tens of thousands opening files together ran out of descriptors.
    pub(crate) ending: glommio::sync::Semaphore,
    /// Bumped when a backend opens or finishes, or a queue retires.
    pub(crate) settled: Event,
    /// At startup, what the data directory holds for this shard's queues
    /// (listed once for all of them); `None` afterwards.
    startup: RefCell<Option<DirScan>>,
}

impl DiskShard {
    /// A shard's disk context.
    pub(crate) fn new(ctx: Arc<Context>, commit: Rc<GroupCommit>) -> DiskShard {
        let f = &ctx.opts.flags;
        let cfg = QueueConfig::nsqd(
            f.max_bytes_per_file.max(1) as u64,
            f.max_msg_size.max(0) as u64,
            f.sync_every.max(1) as u64,
            f.sync_timeout,
        );
        DiskShard {
            dir: ctx.opts.data_dir(),
            cfg,
            durable: f.sync_every <= 1,
            mem_queue_size: f.mem_queue_size.max(0) as usize,
            commit,
            ctx,
            retiring: RefCell::new(HashMap::new()),
            latest: RefCell::new(HashMap::new()),
            opening: Cell::new(0),
            ending: glommio::sync::Semaphore::new(ENDING_AT_ONCE),
            settled: Event::default(),
            startup: RefCell::new(None),
        }
    }

    /// A backend left the opening phase (open or failed).
    fn opened(&self) {
        self.opening.set(self.opening.get().saturating_sub(1));
        self.settled.notify_all();
    }

    /// Open the startup's queues from `scan` instead of listing the
    /// directory for each.
    pub(crate) fn start_with(&self, scan: DirScan) {
        *self.startup.borrow_mut() = Some(scan);
    }

    /// The startup's queues are open: later ones find their own files.
    pub(crate) fn end_startup(&self) {
        self.startup.borrow_mut().take();
    }

    /// Open queue `name`: from the startup scan while there is one, else
    /// by listing the directory for its files.
    async fn open_queue(&self, name: &str) -> Result<DiskQueue, QueueError> {
        let scanned = self.startup.borrow_mut().as_mut().map(|s| s.take(name));
        match scanned {
            Some(files) => DiskQueue::open_scanned(&self.dir, name, self.cfg, files).await,
            None => DiskQueue::open(&self.dir, name, self.cfg).await,
        }
    }

    /// Start the backend of queue `name` for `owner`.
    pub(crate) fn open(self: &Rc<Self>, name: String, owner: Owner) -> Rc<Backend> {
        let retain = self.durable && !owner.is_topic();
        let backend = Rc::new(Backend {
            retain,
            name,
            disk: self.clone(),
            inner: RefCell::new(Inner::default()),
            wake: Notify::default(),
            owner,
            previous: RefCell::new(None),
        });
        let previous = self
            .latest
            .borrow_mut()
            .insert(backend.name.clone(), Rc::downgrade(&backend))
            .and_then(|w| w.upgrade());
        *backend.previous.borrow_mut() = previous;
        self.opening.set(self.opening.get() + 1);
        glommio::spawn_local(backend.clone().run()).detach();
        backend
    }

    /// Whether every backend has opened (or failed to).
    pub(crate) fn all_open(&self) -> bool {
        self.opening.get() == 0
    }

    /// Wait until every backend has opened.
    pub(crate) async fn wait_open(&self) {
        loop {
            let seen = self.settled.version();
            if self.all_open() {
                return;
            }
            self.settled.changed(seen).await;
        }
    }

    /// Wait until no queue is being closed or deleted.
    pub(crate) async fn wait_retired(&self) {
        loop {
            let seen = self.settled.version();
            if self.retiring.borrow().is_empty() {
                return;
            }
            self.settled.changed(seen).await;
        }
    }

    fn retire(&self, name: &str) {
        *self
            .retiring
            .borrow_mut()
            .entry(name.to_owned())
            .or_insert(0) += 1;
    }

    fn retired(&self, name: &str) {
        let mut r = self.retiring.borrow_mut();
        if let Some(n) = r.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                r.remove(name);
            }
        }
        drop(r);
        self.settled.notify_all();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    #[default]
    Opening,
    Open,
    /// Could not open: writes fail, nothing is read.
    Failed,
    /// Closed or deleted.
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Close,
    Delete,
}

#[derive(Debug, Default)]
struct Inner {
    phase: Phase,
    to_write: Vec<Message>,
    /// Body bytes in `to_write`.
    to_write_bytes: usize,
    /// The last write failed: when it is tried again, and the delay after
    /// which the next try would be.
    retry: Option<(Instant, Duration)>,
    /// Epoch at which `to_write` became non-empty.
    dirty_since: Option<u64>,
    /// Messages taken by the task and being written.
    writing: usize,
    /// Records on disk as of the task's last step.
    on_disk: u64,
    /// The reader was not at the writer as of the task's last step (the
    /// count above can be short after a crash: positions decide).
    unread: bool,
    /// Due times (unix ms) of deferred messages in the queue, by ID.
    deferrals: HashMap<u64, i64>,
    /// Bumped by [`Backend::empty`]: work started before it is discarded.
    generation: u64,
    /// With `retain`: where each read-back message not yet settled starts
    /// on disk, and the pins at each position.
    pin_of: HashMap<u64, Position>,
    pins: std::collections::BTreeMap<Position, Pin>,
    /// Records read back so far: a pin's `seq` numbers its record, so the
    /// records from the lowest pin to the reader are counted exactly.
    read_seq: u64,
    /// The lowest pin moved: persist the new floor.
    floor_moved: bool,
    empty_requested: bool,
    end: Option<End>,
}

/// The unsettled messages read back from one position.
#[derive(Debug, Clone, Copy)]
struct Pin {
    count: u32,
    /// `read_seq` of the record there.
    seq: u64,
}

impl Inner {
    fn unpin(&mut self, at: Position) {
        if let Some(p) = self.pins.get_mut(&at) {
            p.count -= 1;
            if p.count == 0 {
                self.pins.remove(&at);
            }
        }
    }
}

/// One durable topic's or channel's disk queue.
#[derive(Debug)]
pub(crate) struct Backend {
    /// The queue name (`<topic>` or `<topic>:<channel>`).
    pub(crate) name: String,
    /// Group commit, channel: a message read back stays on disk (the
    /// persisted read position stays before it) until the channel settles
    /// it ([`Backend::settle`]: finished, or dropped by sampling). A crash
    /// then redelivers what was in flight instead of losing it.
    retain: bool,
    disk: Rc<DiskShard>,
    inner: RefCell<Inner>,
    wake: Notify,
    owner: Owner,
    /// The previous backend of the same name, until it is done.
    previous: RefCell<Option<Rc<Backend>>>,
}

impl Backend {
    /// Messages on disk or on their way there (stats' `backend_depth`).
    pub(crate) fn depth(&self) -> u64 {
        let i = self.inner.borrow();
        i.on_disk + i.to_write.len() as u64 + i.writing as u64
    }

    /// Something to read back: messages counted on disk or on their way,
    /// or the reader not at the writer yet (the count can be short after a
    /// crash: positions decide).
    fn has_unread(&self) -> bool {
        self.depth() > 0 || self.inner.borrow().unread
    }

    /// Queue `message` for writing. A message with a delay keeps it (the
    /// due time goes to the deferrals file). Returns the epoch its write
    /// belongs to (see [`GroupCommit`]), or `None` at once if the queue
    /// could not be opened.
    pub(crate) fn push(&self, message: Message, now_ms: i64) -> Option<u64> {
        let mut i = self.inner.borrow_mut();
        if i.phase == Phase::Failed || (i.retry.is_some() && i.to_write_bytes >= RETAINED_BYTES) {
            return None;
        }
        i.to_write_bytes += message.body.len();
        if message.defer_ms > 0 {
            let due = now_ms.saturating_add(message.defer_ms as i64);
            i.deferrals.insert(message.id.0, due);
        }
        i.to_write.push(message);
        if i.dirty_since.is_none() {
            i.dirty_since = Some(self.disk.commit.dirty());
        }
        drop(i);
        self.wake.notify();
        Some(self.disk.commit.current())
    }

    /// The last write failed and is waiting to be tried again.
    pub(crate) fn is_failing(&self) -> bool {
        self.inner.borrow().retry.is_some()
    }

    /// The owner has room: read back if there is anything to read.
    pub(crate) fn wake_reader(&self) {
        if self.has_unread() {
            self.wake.notify();
        }
    }

    /// A read-back message is done with (finished, or dropped by
    /// sampling): with `retain`, the disk may let go of it.
    pub(crate) fn settle(&self, id: MessageId) {
        if !self.retain {
            return;
        }
        let mut i = self.inner.borrow_mut();
        let Some(at) = i.pin_of.remove(&id.0) else {
            return;
        };
        let lowest = i.pins.keys().next().copied();
        i.unpin(at);
        if lowest == Some(at) && !i.pins.contains_key(&at) {
            i.floor_moved = true;
            drop(i);
            self.wake.notify();
        }
    }

    /// The read position to persist (the lowest pin) and the records from
    /// there to the reader: all of them are read again after a crash, so
    /// all of them count in the persisted depth (settled ones too; counting
    /// only the unsettled left the depth short, and the records at the end
    /// of the queue unread).
    fn floor(&self) -> Option<(Position, u64)> {
        let i = self.inner.borrow();
        let (&lowest, pin) = i.pins.iter().next()?;
        Some((lowest, i.read_seq - pin.seq))
    }

    /// Drop everything queued and delete the files (`/topic/empty`,
    /// `/channel/empty`). The depth is 0 at once.
    pub(crate) fn empty(&self) {
        let mut i = self.inner.borrow_mut();
        i.pin_of.clear();
        i.pins.clear();
        i.floor_moved = false;
        i.to_write.clear();
        i.to_write_bytes = 0;
        i.retry = None;
        i.writing = 0;
        i.on_disk = 0;
        i.unread = false;
        i.deferrals.clear();
        i.generation += 1;
        i.empty_requested = true;
        // The publishes of the dropped messages were accepted: their
        // epochs complete.
        if let Some(began) = i.dirty_since.take() {
            drop(i);
            self.disk.commit.written(began, began, true);
        } else {
            drop(i);
        }
        self.wake.notify();
    }

    /// Remove the queue and its files (topic or channel deleted).
    pub(crate) fn delete(&self) {
        self.empty();
        self.finish(End::Delete);
    }

    /// Write what is queued, sync and close (shutdown).
    pub(crate) fn close(&self) {
        self.finish(End::Close);
    }

    fn finish(&self, end: End) {
        let mut i = self.inner.borrow_mut();
        if i.end.is_some() {
            return;
        }
        i.end = Some(end);
        drop(i);
        self.disk.retire(&self.name);
        self.wake.notify();
    }

    /// Whether the task has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.inner.borrow().phase == Phase::Finished
    }
}
