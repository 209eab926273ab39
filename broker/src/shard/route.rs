//! Topic ownership: a pure function of the topic name and the shard count.
//!
//! The rule at every cross-shard hop: only the owner shard mutates a topic,
//! its channels, in-flight and deferred tables; everyone else sends it
//! messages.

/// The shard that owns `topic` (FNV-1a of the name, modulo the shard count).
pub fn owner_of(topic: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Fold the high bits in: FNV's low bits are weak for short names.
    ((h ^ (h >> 32)) % shards.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_in_range() {
        for shards in 1..8 {
            for t in ["a", "b", "sub_bench", "events#ephemeral"] {
                let s = owner_of(t, shards);
                assert!(s < shards);
                assert_eq!(s, owner_of(t, shards));
            }
        }
    }

    #[test]
    fn spreads_topics() {
        let mut counts = [0usize; 2];
        for i in 0..1000 {
            counts[owner_of(&format!("topic{i}"), 2)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 400), "{counts:?}");
    }
}
