//! Message ID generation (docs/protocol.md#message-ids): snowflake-style 63-bit
//! IDs, `(ms since 2010-11-04) << 22 | node_id << 12 | sequence`, one generator
//! per shard (a topic lives on one shard, so IDs are unique per topic).
//!
//! Unlike NSQ, the generator never sleeps: when the 12-bit sequence runs out
//! within a millisecond it borrows the next millisecond, so IDs stay strictly
//! increasing under any publish rate.

use std::cell::Cell;

use nsq_protocol::MessageId;

/// NSQ's epoch (Twitter snowflake's), in ms since the Unix epoch.
const EPOCH_MS: u64 = 1_288_834_974_657;

/// A per-shard ID generator.
#[derive(Debug)]
pub(crate) struct IdGenerator {
    node_id: u64,
    last_ms: Cell<u64>,
    sequence: Cell<u64>,
}

impl IdGenerator {
    /// A generator for `node_id` (0..1024).
    pub(crate) fn new(node_id: u16) -> IdGenerator {
        IdGenerator {
            node_id: u64::from(node_id) & 0x3ff,
            last_ms: Cell::new(0),
            sequence: Cell::new(0),
        }
    }

    /// The next ID, given the current wall clock in ns.
    pub(crate) fn next(&self, now_ns: i64) -> MessageId {
        let now_ms = (now_ns.max(0) as u64 / 1_000_000).saturating_sub(EPOCH_MS);
        let mut ms = self.last_ms.get();
        let mut seq = self.sequence.get();
        if now_ms > ms {
            ms = now_ms;
            seq = 0;
        } else {
            seq += 1;
            if seq > 0xfff {
                ms += 1;
                seq = 0;
            }
        }
        self.last_ms.set(ms);
        self.sequence.set(seq);
        MessageId(((ms & 0x1ff_ffff_ffff) << 22) | (self.node_id << 12) | seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_even_past_4096_per_ms() {
        let g = IdGenerator::new(5);
        let now = 1_700_000_000_000_000_000;
        let mut last = g.next(now);
        for _ in 0..20_000 {
            let id = g.next(now);
            assert!(id > last);
            last = id;
        }
        assert_eq!((last.0 >> 12) & 0x3ff, 5);
    }

    #[test]
    fn clock_going_back_keeps_order() {
        let g = IdGenerator::new(0);
        let a = g.next(2_000_000_000_000_000_000);
        let b = g.next(1_000_000_000_000_000_000);
        assert!(b > a);
    }
}
