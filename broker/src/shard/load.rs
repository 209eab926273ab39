//! How busy each shard is: a per-shard gauge (per mille of wall time spent
//! running tasks and polling I/O, spinning excluded) that the shard itself
//! refreshes once a second from glommio's executor stats, and that
//! other shards read without locking. Used by placement decisions that may
//! move work to a shard (a producer following its topic must not pile onto
//! an owner that is already busy, [`ShardLoad::claim`]); never on the
//! message path.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How often a shard refreshes its gauge.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One gauge per shard.
#[derive(Debug)]
pub(crate) struct ShardLoad {
    per_mille: Vec<AtomicU32>,
}

impl ShardLoad {
    /// Gauges for `shards` shards, all idle.
    pub(crate) fn new(shards: usize) -> ShardLoad {
        ShardLoad {
            per_mille: (0..shards).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Shard `shard`'s last reading, 0..=1000.
    #[cfg(test)]
    pub(crate) fn get(&self, shard: usize) -> u32 {
        self.per_mille
            .get(shard)
            .map_or(0, |g| g.load(Ordering::Relaxed))
    }

    /// Take room on `shard` for a connection moving there: true, and its
    /// gauge raised by `charge`, if it reads below `limit`; else false. The
    /// charge stands for the newcomer until the shard's next sample
    /// measures what it really takes, so a burst of moves in one sample
    /// period cannot pile onto a shard that only looked idle.
    pub(crate) fn claim(&self, shard: usize, limit: u32, charge: u32) -> bool {
        self.per_mille.get(shard).is_some_and(|g| {
            g.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                (v < limit).then(|| v.saturating_add(charge).min(1000))
            })
            .is_ok()
        })
    }

    /// Record `busy` out of `elapsed` for `shard`.
    pub(crate) fn record(&self, shard: usize, busy: Duration, elapsed: Duration) {
        if let Some(g) = self.per_mille.get(shard) {
            g.store(per_mille(busy, elapsed), Ordering::Relaxed);
        }
    }
}

/// `busy / elapsed` in per mille, capped at 1000 (0 for no time).
pub(crate) fn per_mille(busy: Duration, elapsed: Duration) -> u32 {
    if elapsed.is_zero() {
        return 0;
    }
    (busy.as_nanos() * 1000 / elapsed.as_nanos()).min(1000) as u32
}

/// Refresh this shard's gauge every [`SAMPLE_EVERY`], for ever (a detached
/// task of the shard).
pub(crate) async fn sample(shard: usize, ctx: std::sync::Arc<crate::shard::Context>) {
    // The first call only resets the executor's counters.
    let _ = glommio::executor().executor_stats();
    let mut since = Instant::now();
    loop {
        glommio::timer::sleep(SAMPLE_EVERY).await;
        let stats = glommio::executor().executor_stats();
        let now = Instant::now();
        ctx.shard_load
            .record(shard, stats.total_runtime(), now.duration_since(since));
        since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_mille_is_a_capped_ratio() {
        let ms = Duration::from_millis;
        assert_eq!(per_mille(ms(0), ms(250)), 0);
        assert_eq!(per_mille(ms(125), ms(250)), 500);
        assert_eq!(per_mille(ms(300), ms(250)), 1000);
        assert_eq!(per_mille(ms(1), Duration::ZERO), 0);
    }

    #[test]
    fn gauges_are_per_shard() {
        let l = ShardLoad::new(2);
        l.record(1, Duration::from_millis(100), Duration::from_millis(200));
        assert_eq!((l.get(0), l.get(1), l.get(7)), (0, 500, 0));
    }

    #[test]
    fn claims_charge_the_gauge_until_the_next_sample() {
        let l = ShardLoad::new(2);
        // From idle, two arrivals of 250 reach a limit of 500.
        assert!(l.claim(1, 500, 250));
        assert!(l.claim(1, 500, 250));
        assert!(!l.claim(1, 500, 250));
        assert_eq!((l.get(0), l.get(1)), (0, 500));
        // The next sample replaces the charges with the measured load.
        l.record(1, Duration::from_millis(100), Duration::from_millis(1000));
        assert!(l.claim(1, 500, 250));
        assert_eq!(l.get(1), 350);
        // Capped at 1000; no shard, no room.
        l.record(0, Duration::from_millis(499), Duration::from_millis(1000));
        assert!(l.claim(0, 500, 900));
        assert_eq!(l.get(0), 1000);
        assert!(!l.claim(7, 500, 1));
    }
}
