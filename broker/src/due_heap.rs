//! A queue of items ordered by due time, earliest first (ties in push
//! order): the core of the shard's timer and heartbeat clock.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Items waiting for their due time.
pub(crate) struct DueHeap<T> {
    heap: BinaryHeap<Entry<T>>,
    seq: u64,
}

struct Entry<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    /// Reversed: the heap's top is the earliest entry.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl<T> Default for DueHeap<T> {
    fn default() -> Self {
        DueHeap {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> DueHeap<T> {
    /// Queue `item` for `at`; true if it is now strictly the earliest (the
    /// waiting task must wake to sleep less).
    pub(crate) fn push(&mut self, at: Instant, item: T) -> bool {
        let earliest = self.heap.peek().is_none_or(|top| at < top.at);
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Entry { at, seq, item });
        earliest
    }

    /// Take the earliest item if it is due by `horizon`.
    pub(crate) fn pop_due(&mut self, horizon: Instant) -> Option<T> {
        match self.heap.peek() {
            Some(top) if top.at <= horizon => self.heap.pop().map(|e| e.item),
            _ => None,
        }
    }

    /// When the earliest item is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// How many items wait.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_ties_in_push_order() {
        let t0 = Instant::now();
        let mut heap = DueHeap::default();
        assert!(heap.push(t0 + Duration::from_secs(2), "late"));
        assert!(heap.push(t0 + Duration::from_secs(1), "first"));
        assert!(!heap.push(t0 + Duration::from_secs(1), "second"));
        assert_eq!(heap.len(), 3);
        assert_eq!(heap.next_due(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(heap.pop_due(t0), None);
        assert_eq!(heap.pop_due(t0 + Duration::from_secs(1)), Some("first"));
        assert_eq!(heap.pop_due(t0 + Duration::from_secs(1)), Some("second"));
        assert_eq!(heap.pop_due(t0 + Duration::from_secs(1)), None);
        assert_eq!(heap.pop_due(t0 + Duration::from_secs(5)), Some("late"));
        assert_eq!(heap.next_due(), None);
    }
}
