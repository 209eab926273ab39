//! When a producer connection should move to the shard that owns the topic
//! it publishes to.
//!
//! A publish to a topic owned by another shard crosses cores twice (the
//! batch to the owner, the answer back). For a pipelining producer that is
//! cheap: a read buffer carries many messages and the forwarder batches
//! them. For a producer with one small publish in flight at a time it is
//! the whole cost: two cross-core wake-ups per message (25-30 µs each on a
//! VM) and most of the broker's CPU. Such a connection follows its topic:
//! after [`STREAK`] read buffers in a row that published only a few
//! messages ([`SMALL`] at most), all to the same other shard, it is handed
//! to that shard as a subscriber is after SUB. Any read buffer that
//! publishes locally, to a second shard, or in bulk starts the count again,
//! so a producer spread over topics of several shards, or one that sends
//! large batches (whose parsing then stays on its own core), stays put.
//!
//! Pure bookkeeping: the connection reports each publish and the end of
//! each read buffer, and acts on the answer.

/// Read buffers in a row, all small and to the same other shard, before
/// the connection moves.
pub(crate) const STREAK: u32 = 32;

/// At most this many messages in a read buffer count as small.
pub(crate) const SMALL: usize = 8;

/// Where one read buffer's publishes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buffer {
    /// No publish yet.
    None,
    /// All to one shard so far.
    To {
        /// The shard.
        owner: usize,
        /// Messages so far.
        messages: usize,
    },
    /// To several shards.
    Mixed,
}

/// A connection's publishing pattern.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublishAffinity {
    buffer: Buffer,
    /// The shard of the current streak.
    target: Option<usize>,
    streak: u32,
}

impl Default for PublishAffinity {
    fn default() -> Self {
        PublishAffinity {
            buffer: Buffer::None,
            target: None,
            streak: 0,
        }
    }
}

impl PublishAffinity {
    /// A publish of `messages` messages to a topic owned by `owner`.
    pub(crate) fn note(&mut self, owner: usize, messages: usize) {
        self.buffer = match self.buffer {
            Buffer::None => Buffer::To { owner, messages },
            Buffer::To {
                owner: o,
                messages: n,
            } if o == owner => Buffer::To {
                owner,
                messages: n.saturating_add(messages),
            },
            _ => Buffer::Mixed,
        };
    }

    /// The read buffer's commands are done (on shard `here`): the shard
    /// to move to, if the streak is complete.
    pub(crate) fn end_buffer(&mut self, here: usize) -> Option<usize> {
        let buffer = std::mem::replace(&mut self.buffer, Buffer::None);
        match buffer {
            // Heartbeat answers, FIN, NOP: neither for nor against.
            Buffer::None => None,
            Buffer::To { owner, messages } if owner != here && messages <= SMALL => {
                if self.target == Some(owner) {
                    self.streak += 1;
                } else {
                    self.target = Some(owner);
                    self.streak = 1;
                }
                if self.streak >= STREAK {
                    *self = PublishAffinity::default();
                    Some(owner)
                } else {
                    None
                }
            }
            _ => {
                self.target = None;
                self.streak = 0;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffers(
        a: &mut PublishAffinity,
        here: usize,
        each: &[(usize, usize)],
        times: u32,
    ) -> Vec<usize> {
        let mut moves = Vec::new();
        for _ in 0..times {
            for &(owner, n) in each {
                a.note(owner, n);
            }
            moves.extend(a.end_buffer(here));
        }
        moves
    }

    #[test]
    fn small_publishes_to_one_other_shard_move_after_the_streak() {
        let mut a = PublishAffinity::default();
        assert!(buffers(&mut a, 0, &[(1, 1)], STREAK - 1).is_empty());
        assert_eq!(buffers(&mut a, 0, &[(1, 1)], 1), vec![1]);
        // The count starts again after a move.
        assert!(buffers(&mut a, 0, &[(1, 1)], STREAK - 1).is_empty());
    }

    #[test]
    fn buffers_without_publishes_do_not_break_the_streak() {
        let mut a = PublishAffinity::default();
        assert!(buffers(&mut a, 0, &[(1, 2)], STREAK - 1).is_empty());
        assert!(buffers(&mut a, 0, &[], 10).is_empty());
        assert_eq!(buffers(&mut a, 0, &[(1, 2)], 1), vec![1]);
    }

    #[test]
    fn bulk_local_or_mixed_publishing_stays() {
        for pattern in [
            vec![(1, SMALL + 1)],     // bulk: parsing stays on this core
            vec![(0, 1)],             // local already
            vec![(1, 1), (2, 1)],     // two other shards
            vec![(1, 1), (0, 1)],     // local and remote
            vec![(1, SMALL), (1, 1)], // small commands, bulk buffer
        ] {
            let mut a = PublishAffinity::default();
            assert!(
                buffers(&mut a, 0, &pattern, 4 * STREAK).is_empty(),
                "{pattern:?}"
            );
        }
    }

    #[test]
    fn any_other_buffer_restarts_the_count() {
        let mut a = PublishAffinity::default();
        assert!(buffers(&mut a, 0, &[(1, 1)], STREAK - 1).is_empty());
        assert!(buffers(&mut a, 0, &[(1, 100)], 1).is_empty());
        assert!(buffers(&mut a, 0, &[(1, 1)], STREAK - 1).is_empty());
        assert!(buffers(&mut a, 0, &[(2, 1)], 1).is_empty());
        assert!(buffers(&mut a, 0, &[(1, 1)], STREAK - 1).is_empty());
        assert_eq!(buffers(&mut a, 0, &[(1, 1)], 1), vec![1]);
    }

    #[test]
    fn alternating_shards_never_move() {
        let mut a = PublishAffinity::default();
        for i in 0..10 * STREAK {
            a.note(1 + (i % 2) as usize, 1);
            assert_eq!(a.end_buffer(0), None);
        }
    }
}
