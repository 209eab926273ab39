//! A channel: its memory and disk queues, in-flight table, deferred queue
//! and the consumers it delivers to (docs/protocol.md#flow-control,
//! #message-lifecycle, #lifecycle; docs/data-directory.md#shutdown).
//!
//! A message goes to the memory queue while it has room
//! (`--mem-queue-size`), else to the disk queue ([`Backend`]), which reads
//! it back when the memory queue runs low and consumers are there to take
//! it. As in NSQ, a new message may overtake older ones waiting on disk:
//! sending everything behind a disk backlog would keep a busy channel on
//! the disk path for good (each message written and read back). An ephemeral channel has no disk
//! queue and drops what does not fit.
//!
//! Owned by the topic's shard and mutated only there. Delivery is push:
//! whenever something changes (a put, RDY, FIN, REQ, a timer), [`Channel::dispatch`]
//! hands queued messages to ready consumers round-robin, appending frames to
//! their output buffers; their writers flush when the tick's work is done.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use nsq_protocol::MessageId;

use crate::backend::{Backend, READ_MAX};
use crate::deadletter::state::{DeadLetters, Outcome};
use crate::e2e::E2eWindow;
use crate::inflight::{DeferredQueue, InFlight, InFlightError, InFlightTable};
use crate::message::Message;
use crate::net::client::Client;
use crate::timers::Timers;

/// Below this many queued messages a channel asks its disk queue for more.
const READ_MIN: usize = 64;

/// A channel of a topic.
#[derive(Debug)]
pub(crate) struct Channel {
    /// Channel name.
    pub(crate) name: Rc<str>,
    /// Ends in `#ephemeral`.
    pub(crate) ephemeral: bool,
    /// Paused: no deliveries.
    pub(crate) paused: bool,
    queue: VecDeque<Message>,
    capacity: usize,
    /// The disk queue (none when ephemeral).
    pub(crate) backend: Option<Rc<Backend>>,
    /// With `--mem-queue-size=0` (not group commit): hand messages to
    /// waiting consumers instead of the disk, as Go's unbuffered channel
    /// does. Set by the topic.
    pub(crate) hand_off: bool,
    /// Free RDY of the consumers after the last dispatch (for hand-off).
    free_rdy: usize,
    in_flight: InFlightTable,
    deferred: DeferredQueue,
    consumers: Vec<Rc<Client>>,
    next_consumer: usize,
    /// Messages put into this channel.
    pub(crate) message_count: u64,
    /// Explicit REQs.
    pub(crate) requeue_count: u64,
    /// In-flight timeouts.
    pub(crate) timeout_count: u64,
    max_msg_timeout: Duration,
    timers: Rc<Timers>,
    me: Weak<RefCell<Channel>>,
    armed: Option<Instant>,
    e2e: Option<E2eWindow>,
    /// Dead letters (an extension): none unless configured.
    pub(crate) dead_letters: Option<Box<DeadLetters>>,
}

impl Channel {
    /// A new channel wrapped for sharing with its timer entries.
    pub(crate) fn new_shared(
        name: &str,
        capacity: usize,
        max_msg_timeout: Duration,
        timers: Rc<Timers>,
    ) -> Rc<RefCell<Channel>> {
        Rc::new_cyclic(|me| {
            RefCell::new(Channel {
                name: name.into(),
                ephemeral: nsq_protocol::names::is_ephemeral(name),
                paused: false,
                queue: VecDeque::new(),
                capacity,
                backend: None,
                hand_off: false,
                free_rdy: 0,
                in_flight: InFlightTable::default(),
                deferred: DeferredQueue::default(),
                consumers: Vec::new(),
                next_consumer: 0,
                message_count: 0,
                requeue_count: 0,
                timeout_count: 0,
                max_msg_timeout,
                timers,
                me: me.clone(),
                armed: None,
                e2e: None,
                dead_letters: None,
            })
        })
    }

    /// Queued messages, in memory and on disk.
    pub(crate) fn depth(&self) -> usize {
        self.queue.len() + self.backend_depth() as usize
    }

    /// Queued messages on disk (or on their way there).
    pub(crate) fn backend_depth(&self) -> u64 {
        self.backend.as_ref().map_or(0, |b| b.depth())
    }

    /// Whether the disk queue's last write failed (it is retrying).
    pub(crate) fn disk_failing(&self) -> bool {
        self.backend.as_ref().is_some_and(|b| b.is_failing())
    }

    /// Messages in flight.
    pub(crate) fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    /// Deferred messages.
    pub(crate) fn deferred_count(&self) -> usize {
        self.deferred.len()
    }

    /// Connected consumers.
    pub(crate) fn consumer_count(&self) -> usize {
        self.consumers.len()
    }

    /// Start recording end-to-end latency over `window`.
    pub(crate) fn enable_e2e(&mut self, window: Duration, now: Instant) {
        self.e2e = Some(E2eWindow::new(window, now));
    }

    /// The latencies in the current window, if recording.
    pub(crate) fn e2e_snapshot(&mut self, now: Instant) -> Option<hdrhistogram::Histogram<u64>> {
        self.e2e.as_mut().map(|w| w.snapshot(now))
    }

    /// The subscribed consumers.
    pub(crate) fn consumers(&self) -> &[Rc<Client>] {
        &self.consumers
    }

    /// Put a message (deferred if it carries a delay): into memory, or to
    /// disk, or (ephemeral and full) nowhere. Returns the group-commit
    /// epoch of its disk write (0 if none), `None` if the disk queue could
    /// not be opened.
    pub(crate) fn put(&mut self, message: Message, now: Instant, now_ms: i64) -> Option<u64> {
        self.message_count += 1;
        if message.defer_ms > 0 {
            // Group commit: a deferred message waits on disk (with its due
            // time) until it is read back; else in memory.
            match &self.backend {
                Some(b) if self.capacity == 0 && !self.hand_off => return b.push(message, now_ms),
                _ => {
                    self.defer(message, now);
                    return Some(0);
                }
            }
        }
        match &self.backend {
            Some(b) if self.queue.len() >= self.memory_room() => b.push(message, now_ms),
            _ => {
                if !self.ephemeral || self.queue.len() < self.capacity {
                    self.queue.push_back(message);
                }
                Some(0)
            }
        }
    }

    /// How many messages the memory queue holds before the disk is used.
    fn memory_room(&self) -> usize {
        if self.hand_off {
            self.capacity.max(self.free_rdy)
        } else {
            self.capacity
        }
    }

    fn defer(&mut self, mut message: Message, now: Instant) {
        let due = now + Duration::from_millis(message.defer_ms);
        message.defer_ms = 0;
        self.deferred.push(message, due);
        self.arm(due);
    }

    /// How many messages the channel takes back from its disk queue now,
    /// less what is already queued in memory: while consumers are there,
    /// what its consumers' RDY leaves room for, or (beyond that) a batch
    /// up to `--mem-queue-size`, at most [`READ_MAX`]. With group commit or
    /// `--mem-queue-size=0` only what RDY leaves room for: a message then
    /// leaves the disk only to be delivered, as in NSQ.
    pub(crate) fn read_room(&self) -> usize {
        if self.paused || self.consumers.is_empty() {
            return 0;
        }
        let free: u64 = self
            .consumers
            .iter()
            .map(|c| c.rdy.get().saturating_sub(c.in_flight.get()))
            .sum();
        (free as usize)
            .max(self.capacity)
            .min(READ_MAX)
            .saturating_sub(self.queue.len())
    }

    /// Messages read back from the disk queue (oldest first): queue them
    /// (or defer those still deferred) and deliver.
    pub(crate) fn refill(&mut self, messages: Vec<Message>, now: Instant) {
        for m in messages {
            if m.defer_ms > 0 {
                self.defer(m, now);
            } else {
                self.queue.push_back(m);
            }
        }
        self.dispatch(now);
    }

    /// The first `n` messages queued in memory, oldest first (not
    /// consumed; `/channel/peek`).
    pub(crate) fn peek(&self, n: usize) -> Vec<Message> {
        self.queue.iter().take(n).cloned().collect()
    }

    /// Add a subscribed consumer.
    pub(crate) fn add_consumer(&mut self, client: Rc<Client>) {
        self.consumers.push(client);
    }

    /// Remove a consumer; its in-flight messages stay until they time out
    /// (docs/protocol.md#disconnect). Returns whether it was here and the
    /// channel now has none.
    pub(crate) fn remove_consumer(&mut self, client_id: u64) -> bool {
        let before = self.consumers.len();
        self.consumers.retain(|c| c.id != client_id);
        before != self.consumers.len() && self.consumers.is_empty()
    }

    /// Hand queued messages to ready consumers, round-robin.
    pub(crate) fn dispatch(&mut self, now: Instant) {
        if !self.paused && !self.consumers.is_empty() {
            let n = self.consumers.len();
            while !self.queue.is_empty() {
                let Some(i) = (0..n)
                    .map(|k| (self.next_consumer + k) % n)
                    .find(|&i| self.consumers[i].is_ready())
                else {
                    break;
                };
                self.next_consumer = (i + 1) % n;
                let Some(mut message) = self.queue.pop_front() else {
                    break;
                };
                let client = &self.consumers[i];
                if client.sampled_out() {
                    if let Some(b) = &self.backend {
                        b.settle(message.id);
                    }
                    continue;
                }
                message.attempts = message.attempts.wrapping_add(1);
                client.deliver(&message);
                let deadline = now + client.msg_timeout.get();
                self.in_flight.insert(InFlight {
                    message,
                    client_id: client.id,
                    deadline,
                    delivered_at: now,
                });
                self.arm(deadline);
            }
        }
        if self.hand_off {
            self.free_rdy = self
                .consumers
                .iter()
                .map(|c| c.rdy.get().saturating_sub(c.in_flight.get()) as usize)
                .sum();
        }
        if self.queue.len() < READ_MIN {
            if let Some(b) = &self.backend {
                b.wake_reader();
            }
        }
    }

    /// Take message `id` (hex) out of flight, if `client` has it there.
    fn take_in_flight(&mut self, client: &Client, id: &[u8]) -> Result<InFlight, InFlightError> {
        let id = MessageId::from_hex(id).ok_or(InFlightError::NotInFlight)?;
        let entry = self.in_flight.take(id, client.id)?;
        client.release_in_flight();
        Ok(entry)
    }

    /// FIN. Frees a place in the consumer's RDY window: the caller
    /// dispatches (once per read buffer of commands, not per FIN).
    pub(crate) fn finish(
        &mut self,
        client: &Client,
        id: &[u8],
        now: Instant,
    ) -> Result<(), InFlightError> {
        let entry = self.take_in_flight(client, id)?;
        client.finish_count.set(client.finish_count.get() + 1);
        if let Some(b) = &self.backend {
            b.settle(entry.message.id);
        }
        if let Some(window) = &mut self.e2e {
            let age = crate::shard::wall_clock_ns().saturating_sub(entry.message.timestamp);
            window.record(Duration::from_nanos(age.max(0) as u64), now);
        }
        Ok(())
    }

    /// REQ with a (clamped) delay. The caller dispatches, as after FIN.
    pub(crate) fn requeue(
        &mut self,
        client: &Client,
        id: &[u8],
        delay: Duration,
        now: Instant,
    ) -> Result<(), InFlightError> {
        let entry = self.take_in_flight(client, id)?;
        client.requeue_count.set(client.requeue_count.get() + 1);
        self.requeue_count += 1;
        let Some(message) = self.divert(entry.message) else {
            return Ok(());
        };
        if delay.is_zero() {
            self.queue.push_back(message);
        } else {
            let due = now + delay;
            self.deferred.push(message, due);
            self.arm(due);
        }
        Ok(())
    }

    /// A message timed out or was requeued: to the dead-letter topic if it
    /// has had its attempts (`None`), else back to be requeued.
    fn divert(&mut self, message: Message) -> Option<Message> {
        match &mut self.dead_letters {
            None => Some(message),
            Some(d) => d.divert(&self.me, message),
        }
    }

    /// The dead-letter publish of message `id` is acknowledged (`ok`) or
    /// failed: let go of it, or requeue it.
    pub(crate) fn dead_lettered(&mut self, id: MessageId, ok: bool, now: Instant) {
        let Some(d) = &mut self.dead_letters else {
            return;
        };
        match d.answered(id, ok) {
            Outcome::Moved => {
                if let Some(b) = &self.backend {
                    b.settle(id);
                }
            }
            Outcome::Failed(message) => {
                self.queue.push_back(message);
                self.dispatch(now);
            }
            Outcome::Unknown => {}
        }
    }

    /// Messages on their way to the dead-letter topic.
    pub(crate) fn dead_letters_moving(&self) -> usize {
        self.dead_letters.as_ref().map_or(0, |d| d.moving_count())
    }

    /// TOUCH: extend the deadline, capped at delivery + max-msg-timeout.
    pub(crate) fn touch(
        &mut self,
        client: &Client,
        id: &[u8],
        now: Instant,
    ) -> Result<(), InFlightError> {
        let id = MessageId::from_hex(id).ok_or(InFlightError::NotInFlight)?;
        let timeout = client.msg_timeout.get();
        let max = self.max_msg_timeout;
        let deadline = self.in_flight.touch(id, client.id, |e| {
            let wanted = now + timeout;
            if wanted.saturating_duration_since(e.delivered_at) >= max {
                e.delivered_at + max
            } else {
                wanted
            }
        })?;
        // A deadline only moves later: the armed timer is still early
        // enough (it re-arms for what is really due when it fires).
        self.arm(deadline);
        Ok(())
    }

    /// Requeue timed-out in-flight messages and release due deferred ones.
    pub(crate) fn process_timers(&mut self, now: Instant) {
        self.armed = None;
        while let Some(expired) = self.in_flight.pop_expired(now) {
            self.timeout_count += 1;
            if let Some(owner) = self.consumers.iter().find(|c| c.id == expired.client_id) {
                owner.release_in_flight();
            }
            if let Some(message) = self.divert(expired.message) {
                self.queue.push_back(message);
            }
        }
        while let Some(message) = self.deferred.pop_due(now) {
            self.queue.push_back(message);
        }
        self.dispatch(now);
        self.rearm();
    }

    /// Drop every queued (memory and disk), in-flight and deferred message.
    pub(crate) fn empty(&mut self) {
        self.queue.clear();
        if let Some(b) = &self.backend {
            b.empty();
        }
        self.in_flight.drain().for_each(drop);
        self.deferred.clear();
        if let Some(d) = &mut self.dead_letters {
            d.take_moving();
        }
        for c in &self.consumers {
            c.in_flight.set(0);
        }
    }

    /// Close every consumer (channel deleted).
    pub(crate) fn close_consumers(&mut self) {
        for c in self.consumers.drain(..) {
            c.kill();
        }
    }

    /// Deleted: close the consumers, drop every message, remove the disk
    /// queue and its files.
    pub(crate) fn delete(&mut self) {
        self.close_consumers();
        self.empty();
        if let Some(b) = self.backend.take() {
            b.delete();
        }
    }

    /// Shutdown (docs/data-directory.md#shutdown): write the memory queue, then
    /// the in-flight messages (attempts kept), then the deferred ones (with
    /// their due times, an extension) to the disk queue, and close it. An
    /// ephemeral channel's messages are dropped.
    pub(crate) fn flush_and_close(&mut self, now: Instant, now_ms: i64) {
        let Some(b) = self.backend.take() else {
            return;
        };
        let mut lost = 0usize;
        let mut push = |m: Message| lost += usize::from(b.push(m, now_ms).is_none());
        for m in self.queue.drain(..) {
            push(m);
        }
        let mut in_flight: Vec<Message> = self.in_flight.drain().map(|e| e.message).collect();
        in_flight.sort_by_key(|m| m.id.0);
        for m in in_flight {
            push(m);
        }
        // On their way to the dead-letter topic: kept (a duplicate there
        // at worst).
        if let Some(d) = &mut self.dead_letters {
            for m in d.take_moving() {
                push(m);
            }
        }
        for (mut m, due) in self.deferred.drain_in_order() {
            m.defer_ms = remaining_ms_rounded_up(due.saturating_duration_since(now));
            push(m);
        }
        if lost > 0 {
            crate::log!(
                Error,
                "CHANNEL({}): {lost} messages lost at exit: its disk queue could not be opened",
                b.name
            );
        }
        for c in &self.consumers {
            c.in_flight.set(0);
        }
        b.close();
    }

    /// Arm the shard timer for the earliest live deadline or due time
    /// (after the timer fired). Between firings the timer is only moved
    /// earlier ([`Channel::arm`]): a FIN never needs to look for the next
    /// deadline, and a timer that fires early finds nothing due and
    /// re-arms.
    fn rearm(&mut self) {
        let next = match (self.in_flight.next_deadline(), self.deferred.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = next {
            self.arm(at);
        }
    }

    fn arm(&mut self, at: Instant) {
        if self.armed.is_none_or(|armed| at < armed) {
            self.armed = Some(at);
            self.timers.schedule(at, self.me.clone());
        }
    }
}

/// What is left of a deferral, in whole milliseconds, rounded up (at least
/// 1): the disk queue adds it to a wall-clock millisecond that is itself
/// rounded down, so rounding this down too could make the message due a
/// millisecond before the time its publisher was promised.
fn remaining_ms_rounded_up(left: Duration) -> u64 {
    let ms = left.as_millis() as u64 + u64::from(!left.subsec_nanos().is_multiple_of(1_000_000));
    ms.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_deferral_written_at_shutdown_is_never_shortened() {
        assert_eq!(remaining_ms_rounded_up(Duration::ZERO), 1);
        assert_eq!(remaining_ms_rounded_up(Duration::from_nanos(1)), 1);
        assert_eq!(remaining_ms_rounded_up(Duration::from_millis(4000)), 4000);
        assert_eq!(
            remaining_ms_rounded_up(Duration::from_micros(3_999_001)),
            4000
        );
        // Truncated wall clock + rounded-up remainder is never before the
        // true due time, truncated.
        for wall_ns in [0u64, 1, 999_999, 1_000_000, 1_500_000] {
            for left_ns in [1u64, 500_000, 999_999, 1_000_000, 3_999_000_001] {
                let due_ms =
                    wall_ns / 1_000_000 + remaining_ms_rounded_up(Duration::from_nanos(left_ns));
                assert!(
                    due_ms >= (wall_ns + left_ns) / 1_000_000,
                    "{wall_ns} {left_ns}"
                );
            }
        }
    }

    fn client(id: u64, rdy: u64) -> Rc<Client> {
        let c = Rc::new(Client::detached(id, Duration::from_secs(60)));
        c.rdy.set(rdy);
        c
    }

    fn msg(id: u64) -> Message {
        Message {
            id: MessageId(id),
            timestamp: 1,
            attempts: 0,
            defer_ms: 0,
            body: Bytes::from_static(b"b"),
        }
    }

    fn channel() -> Rc<RefCell<Channel>> {
        channel_with_max(Duration::from_secs(900))
    }

    fn channel_with_max(max_msg_timeout: Duration) -> Rc<RefCell<Channel>> {
        Channel::new_shared("c", 100, max_msg_timeout, Rc::new(Timers::default()))
    }

    /// `ch` with one consumer (ID 1, RDY 1) and message `id` delivered to it.
    fn one_delivered(ch: &mut Channel, id: u64) -> (Rc<Client>, Instant) {
        let c = client(1, 1);
        ch.add_consumer(c.clone());
        let now = Instant::now();
        ch.put(msg(id), now, 0);
        ch.dispatch(now);
        (c, now)
    }

    #[test]
    fn rdy_is_a_window() {
        let ch = channel();
        let mut ch = ch.borrow_mut();
        let c = client(1, 2);
        ch.add_consumer(c.clone());
        let now = Instant::now();
        for i in 0..5 {
            ch.put(msg(i), now, 0);
        }
        ch.dispatch(now);
        assert_eq!((c.in_flight.get(), ch.depth()), (2, 3));
        ch.finish(&c, &MessageId(0).to_hex(), now).unwrap();
        assert_eq!((c.in_flight.get(), ch.depth()), (1, 3));
        ch.dispatch(now);
        assert_eq!((c.in_flight.get(), ch.depth()), (2, 2));
        assert_eq!(
            ch.finish(&c, &MessageId(0).to_hex(), now),
            Err(InFlightError::NotInFlight)
        );
        assert_eq!(
            ch.finish(&client(2, 1), &MessageId(1).to_hex(), now),
            Err(InFlightError::NotOwner)
        );
    }

    #[test]
    fn timeout_requeues_with_attempts_kept() {
        let ch = channel();
        let mut ch = ch.borrow_mut();
        let (c, now) = one_delivered(&mut ch, 7);
        c.rdy.set(0);
        ch.process_timers(now + Duration::from_secs(61));
        assert_eq!((ch.timeout_count, ch.depth(), c.in_flight.get()), (1, 1, 0));
        c.rdy.set(1);
        ch.dispatch(now);
        let mut out = Vec::new();
        c.take_output(&mut out);
        // Second frame's attempts field (bytes 16..18 of the frame) is 2.
        let second = &out[out.len() - 35..];
        assert_eq!(&second[16..18], &[0, 2]);
    }

    #[test]
    fn requeue_with_delay_defers() {
        let ch = channel();
        let mut ch = ch.borrow_mut();
        let (c, now) = one_delivered(&mut ch, 1);
        ch.requeue(&c, &MessageId(1).to_hex(), Duration::from_secs(5), now)
            .unwrap();
        assert_eq!(
            (ch.deferred_count(), ch.depth(), ch.requeue_count),
            (1, 0, 1)
        );
        ch.process_timers(now + Duration::from_secs(4));
        assert_eq!(ch.deferred_count(), 1);
        ch.process_timers(now + Duration::from_secs(5));
        assert_eq!((ch.deferred_count(), ch.in_flight_count()), (0, 1));
    }

    #[test]
    fn dead_letters_leave_only_once_acknowledged() {
        use crate::deadletter::{state::DeadLetters, Setting};
        let ch = channel();
        let mut ch = ch.borrow_mut();
        let setting = Setting {
            max_attempts: 2,
            topic: Some("t.c.dead".into()),
        };
        let active = setting.config();
        ch.dead_letters = Some(Box::new(DeadLetters::new(
            Some(setting),
            active,
            Rc::default(),
        )));
        let (c, now) = one_delivered(&mut ch, 1);
        // First attempt: requeued as usual.
        ch.requeue(&c, &MessageId(1).to_hex(), Duration::ZERO, now)
            .unwrap();
        assert_eq!((ch.depth(), ch.dead_letters_moving()), (1, 0));
        ch.dispatch(now);
        // Second attempt times out: on its way, not requeued.
        c.rdy.set(0);
        ch.process_timers(now + Duration::from_secs(61));
        assert_eq!((ch.depth(), ch.in_flight_count()), (0, 0));
        assert_eq!(ch.dead_letters_moving(), 1);
        // The publish failed: back in the queue, attempts kept.
        ch.dead_lettered(MessageId(1), false, now);
        assert_eq!((ch.depth(), ch.dead_letters_moving()), (1, 0));
        c.rdy.set(1);
        ch.dispatch(now);
        ch.requeue(&c, &MessageId(1).to_hex(), Duration::ZERO, now)
            .unwrap();
        assert_eq!(ch.dead_letters_moving(), 1);
        ch.dead_lettered(MessageId(1), true, now);
        assert_eq!((ch.depth(), ch.dead_letters_moving()), (0, 0));
        assert_eq!(ch.dead_letters.as_ref().unwrap().count, 1);
        assert_eq!((ch.requeue_count, ch.timeout_count), (2, 1));
    }

    #[test]
    fn touch_is_capped() {
        let ch = channel_with_max(Duration::from_secs(90));
        let mut ch = ch.borrow_mut();
        let (c, now) = one_delivered(&mut ch, 1);
        ch.touch(&c, &MessageId(1).to_hex(), now + Duration::from_secs(59))
            .unwrap();
        c.rdy.set(0);
        ch.process_timers(now + Duration::from_secs(89));
        assert_eq!(ch.in_flight_count(), 1);
        ch.process_timers(now + Duration::from_secs(90));
        assert_eq!(
            (ch.in_flight_count(), ch.depth(), ch.timeout_count),
            (0, 1, 1)
        );
    }
}
