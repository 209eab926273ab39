//! A channel's in-flight table and deferred queue (docs/protocol.md#delivery to
//! #deferred-messages).
//!
//! Both are plain data structures driven by an explicit `now`, so timeouts
//! are tested without sleeping. Deadlines live in binary heaps with lazy
//! deletion: a FIN removes the map entry and leaves a stale heap entry that is
//! skipped when it surfaces; the heap is rebuilt when stale entries outnumber
//! live ones, so memory stays proportional to what is really in flight.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use nsq_protocol::MessageId;

use crate::message::Message;

/// A multiplicative hasher for the broker's own u64 message IDs.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// One delivered, not yet finished message.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    /// The message as delivered (attempts already incremented).
    pub(crate) message: Message,
    /// The connection that owns it.
    pub(crate) client_id: u64,
    /// When it times out.
    pub(crate) deadline: Instant,
    /// When it was delivered (TOUCH is capped at this + max-msg-timeout).
    pub(crate) delivered_at: Instant,
}

/// Why a FIN/REQ/TOUCH could not act on a message (NSQ's texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InFlightError {
    /// Not in this channel's in-flight table.
    NotInFlight,
    /// In flight, but delivered to another connection.
    NotOwner,
}

impl InFlightError {
    /// NSQ's wording.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InFlightError::NotInFlight => "ID not in flight",
            InFlightError::NotOwner => "client does not own message",
        }
    }
}

/// In-flight messages keyed by ID, with a deadline heap.
#[derive(Debug, Default)]
pub(crate) struct InFlightTable {
    entries: IdMap<InFlight>,
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl InFlightTable {
    /// Number of messages in flight.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Record a delivery.
    pub(crate) fn insert(&mut self, entry: InFlight) {
        self.deadlines
            .push(Reverse((entry.deadline, entry.message.id.0)));
        self.entries.insert(entry.message.id.0, entry);
        self.compact_if_stale();
    }

    /// Remove a message owned by `client_id` (FIN, REQ).
    pub(crate) fn take(
        &mut self,
        id: MessageId,
        client_id: u64,
    ) -> Result<InFlight, InFlightError> {
        match self.entries.get(&id.0) {
            None => Err(InFlightError::NotInFlight),
            Some(e) if e.client_id != client_id => Err(InFlightError::NotOwner),
            Some(_) => self.entries.remove(&id.0).ok_or(InFlightError::NotInFlight),
        }
    }

    /// Move a message's deadline (TOUCH); returns the new deadline.
    pub(crate) fn touch(
        &mut self,
        id: MessageId,
        client_id: u64,
        deadline_for: impl FnOnce(&InFlight) -> Instant,
    ) -> Result<Instant, InFlightError> {
        let entry = self
            .entries
            .get_mut(&id.0)
            .ok_or(InFlightError::NotInFlight)?;
        if entry.client_id != client_id {
            return Err(InFlightError::NotOwner);
        }
        let deadline = deadline_for(entry);
        entry.deadline = deadline;
        self.deadlines.push(Reverse((deadline, id.0)));
        self.compact_if_stale();
        Ok(deadline)
    }

    /// Remove and return the next entry whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<InFlight> {
        while let Some(&Reverse((deadline, id))) = self.deadlines.peek() {
            if deadline > now {
                return None;
            }
            self.deadlines.pop();
            if self
                .entries
                .get(&id)
                .is_some_and(|e| e.deadline == deadline)
            {
                return self.entries.remove(&id);
            }
        }
        None
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, id))) = self.deadlines.peek() {
            if self
                .entries
                .get(&id)
                .is_some_and(|e| e.deadline == deadline)
            {
                return Some(deadline);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Remove everything (channel empty), returning the entries.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = InFlight> + '_ {
        self.deadlines.clear();
        self.entries.drain().map(|(_, e)| e)
    }

    fn compact_if_stale(&mut self) {
        if self.deadlines.len() > 2 * self.entries.len() + 1024 {
            self.deadlines = self
                .entries
                .values()
                .map(|e| Reverse((e.deadline, e.message.id.0)))
                .collect();
        }
    }
}

/// Deferred messages ordered by due time (then arrival).
#[derive(Debug, Default)]
pub(crate) struct DeferredQueue {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    messages: IdMap<Message>,
    next_seq: u64,
}

impl DeferredQueue {
    /// Number of deferred messages.
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    /// Defer `message` until `due`.
    pub(crate) fn push(&mut self, message: Message, due: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse((due, seq)));
        self.messages.insert(seq, message);
    }

    /// The next message due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Message> {
        let &Reverse((due, seq)) = self.heap.peek()?;
        if due > now {
            return None;
        }
        self.heap.pop();
        self.messages.remove(&seq)
    }

    /// When the next message is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((due, _))| *due)
    }

    /// Drop everything.
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.messages.clear();
    }

    /// Remove everything, in due order, with the due times (shutdown).
    pub(crate) fn drain_in_order(&mut self) -> Vec<(Message, Instant)> {
        let mut out = Vec::with_capacity(self.messages.len());
        while let Some(Reverse((due, seq))) = self.heap.pop() {
            if let Some(m) = self.messages.remove(&seq) {
                out.push((m, due));
            }
        }
        self.messages.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn msg(id: u64) -> Message {
        Message {
            id: MessageId(id),
            timestamp: 0,
            attempts: 1,
            defer_ms: 0,
            body: Bytes::from_static(b"x"),
        }
    }

    fn entry(id: u64, client: u64, deadline: Instant) -> InFlight {
        InFlight {
            message: msg(id),
            client_id: client,
            deadline,
            delivered_at: deadline,
        }
    }

    #[test]
    fn fin_by_owner_only() {
        let now = Instant::now();
        let mut t = InFlightTable::default();
        t.insert(entry(1, 7, now));
        assert_eq!(
            t.take(MessageId(2), 7).unwrap_err(),
            InFlightError::NotInFlight
        );
        assert_eq!(
            t.take(MessageId(1), 8).unwrap_err(),
            InFlightError::NotOwner
        );
        assert!(t.take(MessageId(1), 7).is_ok());
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn expiry_order_and_touch() {
        let now = Instant::now();
        let mut t = InFlightTable::default();
        t.insert(entry(1, 1, now + Duration::from_secs(1)));
        t.insert(entry(2, 1, now + Duration::from_secs(2)));
        t.touch(MessageId(1), 1, |_| now + Duration::from_secs(3))
            .unwrap();
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(2)));
        assert!(t.pop_expired(now + Duration::from_millis(1500)).is_none());
        assert_eq!(
            t.pop_expired(now + Duration::from_secs(2))
                .unwrap()
                .message
                .id,
            MessageId(2)
        );
        assert_eq!(
            t.pop_expired(now + Duration::from_secs(3))
                .unwrap()
                .message
                .id,
            MessageId(1)
        );
        assert!(t.pop_expired(now + Duration::from_secs(9)).is_none());
    }

    #[test]
    fn stale_entries_are_compacted() {
        let now = Instant::now();
        let mut t = InFlightTable::default();
        for i in 0..100_000 {
            t.insert(entry(i, 1, now));
            t.take(MessageId(i), 1).unwrap();
        }
        assert!(t.deadlines.len() <= 2048);
    }

    #[test]
    fn deferred_in_due_order() {
        let now = Instant::now();
        let mut d = DeferredQueue::default();
        d.push(msg(1), now + Duration::from_secs(2));
        d.push(msg(2), now + Duration::from_secs(1));
        d.push(msg(3), now + Duration::from_secs(1));
        assert_eq!(d.next_due(), Some(now + Duration::from_secs(1)));
        assert!(d.pop_due(now).is_none());
        let ids: Vec<_> = std::iter::from_fn(|| d.pop_due(now + Duration::from_secs(5)))
            .map(|m| m.id.0)
            .collect();
        assert_eq!(ids, vec![2, 3, 1]);
    }
}
