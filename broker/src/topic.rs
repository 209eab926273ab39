//! A topic: its memory queue and its channels (reference A.11.1, A.13).
//!
//! Owned by one shard. A publish is accepted whole or refused whole: until
//! disk queues exist, a non-ephemeral publish that does not fit in the memory
//! queues (`--mem-queue-size`) is refused with E_PUB_FAILED, never dropped.
//! While the topic has no channel or is paused, messages wait in the topic's
//! own queue and move to the channels (each gets a clone sharing the body)
//! once they can.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::channel::Channel;
use crate::message::Message;
use crate::message_id::IdGenerator;
use crate::timers::Timers;

/// Why a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutError {
    /// The memory queue is full and there is no disk queue yet.
    QueueFull,
    /// The broker is shutting down.
    Exiting,
    /// Not run: an earlier publish of the same connection failed.
    Skipped,
}

impl std::fmt::Display for PutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PutError::QueueFull => write!(
                f,
                "queue full (mem-queue-size reached; disk overflow is not supported yet)"
            ),
            PutError::Exiting => write!(f, "exiting"),
            PutError::Skipped => write!(f, "skipped after an earlier failure"),
        }
    }
}

/// A topic.
#[derive(Debug)]
pub struct Topic {
    /// Topic name.
    pub name: Rc<str>,
    /// Ends in `#ephemeral`.
    pub ephemeral: bool,
    /// Paused: messages stay at the topic.
    pub paused: bool,
    queue: VecDeque<Message>,
    capacity: usize,
    channels: Vec<Rc<RefCell<Channel>>>,
    /// Messages published.
    pub message_count: u64,
    /// Body bytes published.
    pub message_bytes: u64,
    max_msg_timeout: Duration,
    timers: Rc<Timers>,
    /// With e2e latency on: the window its channels record over.
    pub e2e_window: Option<Duration>,
}

impl Topic {
    /// A new, empty topic.
    pub fn new(
        name: &str,
        capacity: usize,
        max_msg_timeout: Duration,
        timers: Rc<Timers>,
    ) -> Topic {
        Topic {
            name: name.into(),
            ephemeral: nsq_protocol::names::is_ephemeral(name),
            paused: false,
            queue: VecDeque::new(),
            capacity,
            channels: Vec::new(),
            message_count: 0,
            message_bytes: 0,
            max_msg_timeout,
            timers,
            e2e_window: None,
        }
    }

    /// Messages waiting at the topic.
    pub fn depth(&self) -> usize {
        self.queue.len()
    }

    /// The channels.
    pub fn channels(&self) -> &[Rc<RefCell<Channel>>] {
        &self.channels
    }

    /// Find a channel.
    pub fn channel(&self, name: &str) -> Option<Rc<RefCell<Channel>>> {
        self.channels
            .iter()
            .find(|c| &*c.borrow().name == name)
            .cloned()
    }

    /// Find or create a channel; a new channel receives the topic's backlog.
    pub fn get_or_create_channel(&mut self, name: &str, now: Instant) -> Rc<RefCell<Channel>> {
        if let Some(c) = self.channel(name) {
            return c;
        }
        let c = Channel::new_shared(
            name,
            self.capacity,
            self.max_msg_timeout,
            self.timers.clone(),
        );
        if let Some(window) = self.e2e_window {
            c.borrow_mut().enable_e2e(window, now);
        }
        self.channels.push(c.clone());
        self.pump(now);
        c
    }

    /// Remove a channel (deleted, or ephemeral and abandoned).
    pub fn remove_channel(&mut self, name: &str) -> Option<Rc<RefCell<Channel>>> {
        let i = self
            .channels
            .iter()
            .position(|c| &*c.borrow().name == name)?;
        Some(self.channels.remove(i))
    }

    fn waits_at_topic(&self) -> bool {
        self.channels.is_empty() || self.paused || !self.queue.is_empty()
    }

    /// Whether every durable channel takes `n` more messages (ephemeral
    /// channels drop their overflow, so they never refuse).
    fn channels_have_room(&self, n: usize) -> bool {
        self.channels.iter().all(|c| {
            let c = c.borrow();
            c.ephemeral || c.room() >= n
        })
    }

    /// Publish `bodies` (all or none), deferred by `defer_ms` if non-zero.
    pub fn put<I>(
        &mut self,
        bodies: I,
        defer_ms: u64,
        ids: &IdGenerator,
        now_ns: i64,
        now: Instant,
    ) -> Result<(), PutError>
    where
        I: IntoIterator<Item = Bytes>,
        I::IntoIter: ExactSizeIterator,
    {
        let bodies = bodies.into_iter();
        let n = bodies.len();
        let at_topic = self.waits_at_topic();
        if !self.ephemeral {
            let fits = if at_topic {
                self.queue.len() + n <= self.capacity
            } else {
                defer_ms > 0 || self.channels_have_room(n)
            };
            if !fits {
                return Err(PutError::QueueFull);
            }
        }
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
            if at_topic {
                if self.queue.len() < self.capacity || !self.ephemeral {
                    self.queue.push_back(message);
                }
            } else {
                self.fan_out(message, now);
            }
        }
        if !at_topic {
            for c in &self.channels {
                c.borrow_mut().dispatch(now);
            }
        }
        Ok(())
    }

    /// Give every channel its copy (the body is shared, not copied).
    fn fan_out(&self, message: Message, now: Instant) {
        if let Some((last, rest)) = self.channels.split_last() {
            for c in rest {
                c.borrow_mut().put(message.clone(), now);
            }
            last.borrow_mut().put(message, now);
        }
    }

    /// Whether messages wait at the topic that channels could take now.
    pub fn has_backlog(&self) -> bool {
        !self.queue.is_empty() && !self.paused && !self.channels.is_empty()
    }

    /// Move waiting messages to the channels while they have room.
    pub fn pump(&mut self, now: Instant) {
        if self.paused || self.channels.is_empty() {
            return;
        }
        let mut moved = false;
        while let Some(front) = self.queue.front() {
            let fits = self.ephemeral || front.defer_ms > 0 || self.channels_have_room(1);
            if !fits {
                break;
            }
            if let Some(message) = self.queue.pop_front() {
                self.fan_out(message, now);
                moved = true;
            }
        }
        if moved {
            for c in &self.channels {
                c.borrow_mut().dispatch(now);
            }
        }
    }

    /// Drop every message waiting at the topic (`/topic/empty`).
    pub fn empty(&mut self) {
        self.queue.clear();
    }

    /// Pause or unpause.
    pub fn set_paused(&mut self, paused: bool, now: Instant) {
        self.paused = paused;
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
    fn full_queues_refuse_whole_publishes() {
        let ids = IdGenerator::new(0);
        let now = Instant::now();
        let mut t = topic(3);
        t.put(bodies(2), 0, &ids, 1, now).unwrap();
        assert_eq!(t.put(bodies(2), 0, &ids, 1, now), Err(PutError::QueueFull));
        assert_eq!(t.depth(), 2);
        let c = t.get_or_create_channel("c", now);
        t.put(bodies(1), 0, &ids, 1, now).unwrap();
        assert_eq!(t.put(bodies(1), 0, &ids, 1, now), Err(PutError::QueueFull));
        assert_eq!(c.borrow().depth(), 3);
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
