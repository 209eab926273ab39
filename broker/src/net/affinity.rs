//! When a producer connection should move to the shard that owns the topic
//! it publishes to.
//!
//! A publish to a topic owned by another shard crosses cores twice: the
//! batch to the owner, the answer back. Each crossing wakes a core. For a
//! producer with one small publish in flight at a time that is most of the
//! broker's CPU: two cross-core wake-ups per message, 25-30 µs each on a
//! VM. A bulk producer (MPUB, a deep pipeline) pays the same two wake-ups
//! per read buffer, plus the forwarder's bookkeeping, and keeps both cores
//! busy for work one core does alone: with NSQ's own Go `bench_writer`
//! (MPUB x200, one answer awaited at a time) following the topic measured
//! 1.48x the messages per second at 0.53x the broker CPU per message
//! (ARCHITECTURE.md, "Producers follow their topic").
//!
//! So a connection follows its topic: after [`STREAK`] read buffers in a
//! row that published, all to the same other shard, it is handed to that
//! shard as a subscriber is after SUB. A read buffer that publishes
//! locally or to a second shard starts the count again, so a producer
//! spread over the topics of several shards stays put. Whether the owner
//! has room for it (a hot topic's owner that is busy already, where
//! spread producers keep their reading and parsing on their own cores) is
//! the caller's check ([`crate::shard::load`]).
//!
//! Pure bookkeeping: the connection reports each publish and the end of
//! each read buffer, and acts on the answer.

/// Read buffers in a row, all to the same other shard, before the
/// connection moves.
pub(crate) const STREAK: u32 = 32;

/// Where one read buffer's publishes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Buffer {
    /// No publish yet.
    None,
    /// All to this shard so far.
    To(usize),
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
    /// A publish (PUB, MPUB or DPUB) to a topic owned by `owner`.
    pub(crate) fn note(&mut self, owner: usize) {
        self.buffer = match self.buffer {
            Buffer::None => Buffer::To(owner),
            Buffer::To(o) if o == owner => Buffer::To(owner),
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
            Buffer::To(owner) if owner != here => {
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

    fn buffers(a: &mut PublishAffinity, here: usize, each: &[usize], times: u32) -> Vec<usize> {
        let mut moves = Vec::new();
        for _ in 0..times {
            for &owner in each {
                a.note(owner);
            }
            moves.extend(a.end_buffer(here));
        }
        moves
    }

    #[test]
    fn publishes_to_one_other_shard_move_after_the_streak() {
        let mut a = PublishAffinity::default();
        assert!(buffers(&mut a, 0, &[1], STREAK - 1).is_empty());
        assert_eq!(buffers(&mut a, 0, &[1], 1), vec![1]);
        // The count starts again after a move.
        assert!(buffers(&mut a, 0, &[1], STREAK - 1).is_empty());
    }

    #[test]
    fn bulk_buffers_move_too() {
        // An MPUB, or a pipeline of 200 PUBs, in every buffer.
        let mut a = PublishAffinity::default();
        assert!(buffers(&mut a, 0, &[1; 200], STREAK - 1).is_empty());
        assert_eq!(buffers(&mut a, 0, &[1; 200], 1), vec![1]);
    }

    #[test]
    fn buffers_without_publishes_do_not_break_the_streak() {
        let mut a = PublishAffinity::default();
        assert!(buffers(&mut a, 0, &[1], STREAK - 1).is_empty());
        assert!(buffers(&mut a, 0, &[], 10).is_empty());
        assert_eq!(buffers(&mut a, 0, &[1], 1), vec![1]);
    }

    #[test]
    fn local_or_mixed_publishing_stays() {
        for pattern in [
            vec![0],       // local already
            vec![1, 2],    // two other shards
            vec![1, 0],    // local and remote
            vec![1, 1, 2], // mostly one, but not only
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
        assert!(buffers(&mut a, 0, &[1], STREAK - 1).is_empty());
        assert!(buffers(&mut a, 0, &[0], 1).is_empty());
        assert!(buffers(&mut a, 0, &[1], STREAK - 1).is_empty());
        assert!(buffers(&mut a, 0, &[2], 1).is_empty());
        assert!(buffers(&mut a, 0, &[1], STREAK - 1).is_empty());
        assert_eq!(buffers(&mut a, 0, &[1], 1), vec![1]);
    }

    #[test]
    fn alternating_shards_never_move() {
        let mut a = PublishAffinity::default();
        for i in 0..10 * STREAK {
            a.note(1 + (i % 2) as usize);
            assert_eq!(a.end_buffer(0), None);
        }
    }
}
