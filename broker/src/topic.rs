//! A topic: its memory queue, its disk queue and its channels
//! (docs/protocol.md#publishing, #lifecycle; docs/data-directory.md#shutdown).
//!
//! Owned by one shard. A message goes to the memory queue while it has
//! room (`--mem-queue-size`), otherwise to the topic's disk queue
//! ([`Backend`]); an ephemeral topic drops it instead. As in NSQ, a new
//! message may overtake older ones on disk. While the topic has no channel, is paused, or is not started
//! yet (loading `nsqd.dat`), messages wait at the topic; otherwise every
//! channel gets its own copy (a clone sharing the body), and each channel
//! decides in turn between its memory and its disk.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::backend::{Backend, DiskShard, Owner, READ_AHEAD};
use crate::channel::Channel;
use crate::deadletter::redrive::Redrive;
use crate::message::Message;
use crate::message_id::IdGenerator;
use crate::publish::PutError;
use crate::timers::Timers;

/// A topic.
#[derive(Debug)]
pub(crate) struct Topic {
    /// Topic name.
    pub(crate) name: Rc<str>,
    /// Ends in `#ephemeral`.
    pub(crate) ephemeral: bool,
    /// Paused: messages stay at the topic.
    pub(crate) paused: bool,
    /// False while `nsqd.dat` is being loaded: messages stay at the topic
    /// until every channel exists (docs/data-directory.md#startup).
    pub(crate) started: bool,
    queue: VecDeque<Message>,
    capacity: usize,
    backend: Option<Rc<Backend>>,
    channels: Vec<Rc<RefCell<Channel>>>,
    /// Messages published.
    pub(crate) message_count: u64,
    /// Body bytes published.
    pub(crate) message_bytes: u64,
    max_msg_timeout: Duration,
    timers: Rc<Timers>,
    disk: Option<Rc<DiskShard>>,
    /// With e2e latency on: the window its channels record over.
    pub(crate) e2e_window: Option<Duration>,
    /// A redrive of this (dead-letter) topic in progress: its messages go
    /// to the redrive, not to its channels (docs/compatibility.md#dead-letters).
    pub(crate) redrive: Option<Rc<Redrive>>,
}

impl Topic {
    /// A new, empty, started topic without a disk queue.
    pub(crate) fn new(
        name: &str,
        capacity: usize,
        max_msg_timeout: Duration,
        timers: Rc<Timers>,
    ) -> Topic {
        Topic {
            name: name.into(),
            ephemeral: nsq_protocol::names::is_ephemeral(name),
            paused: false,
            started: true,
            queue: VecDeque::new(),
            capacity,
            backend: None,
            channels: Vec::new(),
            message_count: 0,
            message_bytes: 0,
            max_msg_timeout,
            timers,
            disk: None,
            e2e_window: None,
            redrive: None,
        }
    }

    /// A topic whose durable parts (itself unless ephemeral, its durable
    /// channels) have disk queues in `disk`.
    pub(crate) fn new_shared(
        name: &str,
        capacity: usize,
        max_msg_timeout: Duration,
        timers: Rc<Timers>,
        disk: Rc<DiskShard>,
    ) -> Rc<RefCell<Topic>> {
        let mut topic = Topic::new(name, capacity, max_msg_timeout, timers);
        if disk.durable && !topic.ephemeral {
            // Group commit: everything goes through the disk.
            topic.capacity = 0;
        }
        let ephemeral = topic.ephemeral;
        topic.disk = Some(disk.clone());
        let topic = Rc::new(RefCell::new(topic));
        if !ephemeral {
            let owner = Owner::Topic(Rc::downgrade(&topic));
            let queue_name = nsq_diskqueue::format::topic_queue_name(name);
            topic.borrow_mut().backend = Some(disk.open(queue_name, owner));
        }
        topic
    }

    /// Messages waiting at the topic, in memory and on disk.
    pub(crate) fn depth(&self) -> usize {
        self.queue.len() + self.backend_depth() as usize
    }

    /// Messages waiting on disk (or on their way there).
    pub(crate) fn backend_depth(&self) -> u64 {
        self.backend.as_ref().map_or(0, |b| b.depth())
    }

    /// The channels.
    pub(crate) fn channels(&self) -> &[Rc<RefCell<Channel>>] {
        &self.channels
    }

    /// Find a channel.
    pub(crate) fn channel(&self, name: &str) -> Option<Rc<RefCell<Channel>>> {
        self.channels
            .iter()
            .find(|c| &*c.borrow().name == name)
            .cloned()
    }

    /// Find or create a channel; a new channel receives the topic's backlog.
    pub(crate) fn get_or_create_channel(
        &mut self,
        name: &str,
        now: Instant,
    ) -> Rc<RefCell<Channel>> {
        if let Some(c) = self.channel(name) {
            return c;
        }
        let durable = !self.ephemeral && !nsq_protocol::names::is_ephemeral(name);
        let group_commit = durable && self.disk.as_ref().is_some_and(|d| d.durable);
        let capacity = if group_commit {
            0
        } else {
            self.capacity_flag()
        };
        let c = Channel::new_shared(name, capacity, self.max_msg_timeout, self.timers.clone());
        // Go's unbuffered channel with --mem-queue-size=0: a consumer
        // waiting right now gets the message without the disk.
        c.borrow_mut().hand_off = capacity == 0 && !group_commit;
        if let (Some(disk), false) = (&self.disk, nsq_protocol::names::is_ephemeral(name)) {
            let owner = Owner::Channel(Rc::downgrade(&c));
            let queue_name = nsq_diskqueue::format::channel_queue_name(&self.name, name);
            c.borrow_mut().backend = Some(disk.open(queue_name, owner));
        }
        if let Some(window) = self.e2e_window {
            c.borrow_mut().enable_e2e(window, now);
        }
        self.channels.push(c.clone());
        self.pump(now);
        c
    }

    /// `--mem-queue-size` (the topic's own capacity is 0 with group commit).
    fn capacity_flag(&self) -> usize {
        self.disk
            .as_ref()
            .map_or(self.capacity, |d| d.mem_queue_size)
    }

    /// Remove a channel (deleted, or ephemeral and abandoned).
    pub(crate) fn remove_channel(&mut self, name: &str) -> Option<Rc<RefCell<Channel>>> {
        let i = self
            .channels
            .iter()
            .position(|c| &*c.borrow().name == name)?;
        Some(self.channels.remove(i))
    }

    fn can_pump(&self) -> bool {
        self.started && !self.paused && !self.channels.is_empty()
    }

    fn waits_at_topic(&self) -> bool {
        !self.can_pump() || !self.queue.is_empty()
    }

    /// Publish `bodies`, deferred by `defer_ms` if non-zero. Returns the
    /// group-commit epoch to wait for before answering (0: nothing went
    /// to disk), or `DiskFailed` if a disk queue that could not be opened
    /// was needed (the messages that found room elsewhere stay).
    pub(crate) fn put<I>(
        &mut self,
        bodies: I,
        defer_ms: u64,
        ids: &IdGenerator,
        now_ns: i64,
        now: Instant,
    ) -> Result<u64, PutError>
    where
        I: IntoIterator<Item = Bytes>,
    {
        let at_topic = self.waits_at_topic();
        let now_ms = now_ns / 1_000_000;
        let mut epoch = Some(0);
        for body in bodies {
            self.message_count += 1;
            self.message_bytes += body.len() as u64;
            let message = Message {
                id: ids.next(now_ns),
                timestamp: now_ns,
                attempts: 0,
                defer_ms,
                body,
            };
            let e = if at_topic {
                self.enqueue(message, now_ms)
            } else {
                self.fan_out(message, now, now_ms)
            };
            epoch = epoch.zip(e).map(|(a, b)| a.max(b));
        }
        if !at_topic {
            for c in &self.channels {
                c.borrow_mut().dispatch(now);
            }
        }
        epoch.ok_or(PutError::DiskFailed)
    }

    /// Keep a message at the topic: memory, disk, or (ephemeral, full)
    /// nowhere. Returns its write's epoch (0 if none; `None`: failed).
    fn enqueue(&mut self, message: Message, now_ms: i64) -> Option<u64> {
        match &self.backend {
            Some(b) if self.queue.len() >= self.capacity => b.push(message, now_ms),
            _ => {
                if !self.ephemeral || self.queue.len() < self.capacity {
                    self.queue.push_back(message);
                }
                Some(0)
            }
        }
    }

    /// Give every channel its copy (the body is shared, not copied).
    fn fan_out(&self, message: Message, now: Instant, now_ms: i64) -> Option<u64> {
        let mut epoch = Some(0);
        if let Some((last, rest)) = self.channels.split_last() {
            for c in rest {
                let e = c.borrow_mut().put(message.clone(), now, now_ms);
                epoch = epoch.zip(e).map(|(a, b)| a.max(b));
            }
            let e = last.borrow_mut().put(message, now, now_ms);
            epoch = epoch.zip(e).map(|(a, b)| a.max(b));
        }
        epoch
    }

    /// Whether messages wait in the topic's memory that channels could
    /// take now.
    pub(crate) fn has_backlog(&self) -> bool {
        !self.queue.is_empty() && self.can_pump()
    }

    /// How many messages the topic takes back from its disk queue now.
    pub(crate) fn read_room(&self) -> usize {
        if self.can_pump() || self.redrive.is_some() {
            READ_AHEAD.saturating_sub(self.queue.len())
        } else {
            0
        }
    }

    /// Messages read back from the disk queue: pass them on.
    pub(crate) fn refill(&mut self, messages: Vec<Message>, now: Instant) {
        self.queue.extend(messages);
        if let Some(r) = &self.redrive {
            r.changed.notify_all();
        }
        self.pump(now);
    }

    /// Move waiting messages to the channels.
    pub(crate) fn pump(&mut self, now: Instant) {
        if !self.can_pump() || self.redrive.is_some() {
            return;
        }
        let now_ms = crate::shard::wall_clock_ns() / 1_000_000;
        let moved = !self.queue.is_empty();
        while let Some(message) = self.queue.pop_front() {
            self.fan_out(message, now, now_ms);
        }
        if moved {
            for c in &self.channels {
                c.borrow_mut().dispatch(now);
            }
        }
        if let Some(b) = &self.backend {
            b.wake_reader();
        }
    }

    /// Take up to `n` messages waiting in memory, oldest first (a redrive).
    pub(crate) fn take_front(&mut self, n: usize) -> Vec<Message> {
        let n = n.min(self.queue.len());
        self.queue.drain(..n).collect()
    }

    /// Give back messages a redrive took: in front of the memory queue, or
    /// (group commit) to the disk queue.
    pub(crate) fn put_back(&mut self, messages: Vec<Message>) {
        match &self.backend {
            Some(b) if self.capacity == 0 => {
                let now_ms = crate::shard::wall_clock_ns() / 1_000_000;
                for m in messages {
                    b.push(m, now_ms);
                }
            }
            _ => {
                for m in messages.into_iter().rev() {
                    self.queue.push_front(m);
                }
            }
        }
    }

    /// Whether one of the channels' disk queues is failing to write
    /// (crate::backend: it keeps what it could not write and retries).
    pub(crate) fn channels_failing(&self) -> bool {
        self.channels.iter().any(|c| c.borrow().disk_failing())
    }

    /// Ask the disk queue for more, if it holds any.
    pub(crate) fn wake_reader(&self) {
        if let Some(b) = &self.backend {
            b.wake_reader();
        }
    }

    /// Whether what a redrive read back is in its channel (nothing waits
    /// in memory, no batch is on its way): the disk queue may then persist
    /// its read position.
    pub(crate) fn redrive_settled(&self) -> bool {
        self.redrive
            .as_ref()
            .is_none_or(|r| !r.in_transit() && self.queue.is_empty())
    }

    /// Drop every message waiting at the topic, in memory and on disk
    /// (`/topic/empty`).
    pub(crate) fn empty(&mut self) {
        self.queue.clear();
        if let Some(b) = &self.backend {
            b.empty();
        }
    }

    /// Deleted: drop every message and remove the disk queues of the
    /// topic and its channels (closing their consumers).
    pub(crate) fn delete(&mut self) {
        for channel in self.channels.drain(..) {
            channel.borrow_mut().delete();
        }
        self.queue.clear();
        if let Some(b) = self.backend.take() {
            b.delete();
        }
    }

    /// Shutdown (docs/data-directory.md#shutdown): every channel writes its
    /// messages to its disk queue and closes it, then the topic does the same
    /// with its own memory queue. An ephemeral topic's messages are dropped.
    pub(crate) fn flush_and_close(&mut self, now: Instant, now_ms: i64) {
        for channel in &self.channels {
            channel.borrow_mut().flush_and_close(now, now_ms);
        }
        if let Some(b) = self.backend.take() {
            let lost = self
                .queue
                .drain(..)
                .filter(|m| b.push(m.clone(), now_ms).is_none())
                .count();
            if lost > 0 {
                crate::log!(
                    Error,
                    "TOPIC({}): {lost} messages lost at exit: its disk queue could not be opened",
                    self.name
                );
            }
            b.close();
        }
    }

    /// Pause or unpause.
    pub(crate) fn set_paused(&mut self, paused: bool, now: Instant) {
        self.paused = paused;
        self.pump(now);
    }

    /// Loading done: start moving messages to the channels.
    pub(crate) fn start(&mut self, now: Instant) {
        self.started = true;
        self.pump(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(cap: usize) -> Topic {
        Topic::new(
            "t",
            cap,
            Duration::from_secs(900),
            Rc::new(Timers::default()),
        )
    }

    fn bodies(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(format!("m{i}"))).collect()
    }

    #[test]
    fn waits_at_topic_until_a_channel_exists() {
        let ids = IdGenerator::new(0);
        let now = Instant::now();
        let mut t = topic(10);
        t.put(bodies(3), 0, &ids, 1, now).unwrap();
        assert_eq!(t.depth(), 3);
        let c = t.get_or_create_channel("c", now);
        assert_eq!((t.depth(), c.borrow().depth()), (0, 3));
    }

    #[test]
    fn waits_at_topic_until_started() {
        let ids = IdGenerator::new(0);
        let now = Instant::now();
        let mut t = topic(10);
        t.started = false;
        let c = t.get_or_create_channel("c", now);
        t.put(bodies(2), 0, &ids, 1, now).unwrap();
        assert_eq!((t.depth(), c.borrow().depth()), (2, 0));
        t.start(now);
        assert_eq!((t.depth(), c.borrow().depth()), (0, 2));
    }

    #[test]
    fn every_channel_gets_every_message_with_the_same_body_allocation() {
        let ids = IdGenerator::new(0);
        let now = Instant::now();
        let mut t = topic(10);
        let a = t.get_or_create_channel("a", now);
        let b = t.get_or_create_channel("b", now);
        t.put(bodies(2), 0, &ids, 1, now).unwrap();
        assert_eq!((a.borrow().depth(), b.borrow().depth()), (2, 2));
        assert_eq!(a.borrow().message_count, 2);
    }

    #[test]
    fn ephemeral_topics_drop_overflow() {
        let ids = IdGenerator::new(0);
        let now = Instant::now();
        let mut t = Topic::new(
            "t#ephemeral",
            2,
            Duration::from_secs(900),
            Rc::new(Timers::default()),
        );
        t.put(bodies(5), 0, &ids, 1, now).unwrap();
        assert_eq!((t.depth(), t.message_count), (2, 5));
    }
}
