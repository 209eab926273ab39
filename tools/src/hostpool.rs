//! go-hostpool (v0.1.0) as nsq_to_http and nsq_to_nsq use it for
//! `--mode=hostpool` and `--mode=epsilon-greedy`.
//!
//! * **hostpool**: round robin over the hosts that are alive. A failed host
//!   is dead for 30 s; after that one request is let through and, while it
//!   keeps failing, the wait doubles up to 15 min. A success revives it.
//!   When every host is dead they are all revived and the first is used.
//! * **epsilon-greedy**: with probability ε (0.3 at first, × 0.9 at each
//!   exploration, at least 0.01) the round robin above; otherwise a host
//!   drawn with weight 1 / (its weighted mean response time), over 120
//!   buckets that age one step every 2.5 s (5 min in all), newer buckets
//!   weighing more. Times are whole milliseconds, as go-hostpool keeps
//!   them: hosts answering in under 1 ms have no score, and without scores
//!   the pick falls back to round robin.
//!
//! The pool is a plain state machine: the caller passes the time and a
//! random source, so tests are deterministic.

use std::time::{Duration, Instant};

const INITIAL_RETRY: Duration = Duration::from_secs(30);
const MAX_RETRY: Duration = Duration::from_secs(900);
const BUCKETS: usize = 120;
const DECAY_DURATION: Duration = Duration::from_secs(300);
const INITIAL_EPSILON: f32 = 0.3;
const EPSILON_DECAY: f32 = 0.9;
const MIN_EPSILON: f32 = 0.01;

/// Uniform random numbers in [0, 1).
pub trait Random {
    /// The next number.
    fn next_f64(&mut self) -> f64;
}

impl<F: FnMut() -> f64> Random for F {
    fn next_f64(&mut self) -> f64 {
        self()
    }
}

#[derive(Debug, Clone)]
struct Host {
    dead: bool,
    next_retry: Instant,
    retry_delay: Duration,
}

impl Host {
    fn can_try(&self, now: Instant) -> bool {
        !self.dead || self.next_retry < now
    }

    /// A dead host is being tried again: wait twice as long next time.
    fn will_retry(&mut self, now: Instant) {
        self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
        self.next_retry = now + self.retry_delay;
    }
}

/// Response-time buckets of one host (milliseconds summed, and counts).
#[derive(Debug, Clone)]
struct Scores {
    counts: [i64; BUCKETS],
    values: [i64; BUCKETS],
}

impl Scores {
    /// go-hostpool's weighted average, oldest bucket first with weight
    /// i/120; an empty bucket repeats the last non-empty one's mean.
    fn weighted_average(&self, index: usize) -> f64 {
        let (mut value, mut last) = (0.0, 0.0);
        for i in 1..=BUCKETS {
            let pos = (index + i) % BUCKETS;
            let weight = i as f64 / BUCKETS as f64;
            if self.counts[pos] > 0 {
                last = self.values[pos] as f64 / self.counts[pos] as f64;
            }
            value += last * weight;
        }
        value
    }
}

#[derive(Debug, Clone)]
struct Greedy {
    epsilon: f32,
    scores: Vec<Scores>,
    /// Current bucket (the same for every host).
    index: usize,
    /// When the decay clock started, and the steps taken since.
    started: Instant,
    steps: u64,
}

impl Greedy {
    /// Age the buckets to `now` (go-hostpool ticks every 2.5 s).
    fn decay(&mut self, now: Instant) {
        let per_bucket = DECAY_DURATION / BUCKETS as u32;
        let due =
            (now.saturating_duration_since(self.started).as_nanos() / per_bucket.as_nanos()) as u64;
        let todo = due.saturating_sub(self.steps);
        for _ in 0..todo.min(BUCKETS as u64) {
            self.index = (self.index + 1) % BUCKETS;
            for s in &mut self.scores {
                s.counts[self.index] = 0;
                s.values[self.index] = 0;
            }
        }
        if todo > BUCKETS as u64 {
            self.index = ((self.index as u64 + todo - BUCKETS as u64) % BUCKETS as u64) as usize;
        }
        self.steps = due.max(self.steps);
    }
}

/// A pool of `n` hosts, identified by index.
#[derive(Debug, Clone)]
pub struct HostPool {
    hosts: Vec<Host>,
    next: usize,
    greedy: Option<Greedy>,
}

impl HostPool {
    /// `hostpool.New`: round robin with dead-host retry backoff.
    pub fn new(n: usize, now: Instant) -> HostPool {
        HostPool {
            hosts: vec![
                Host {
                    dead: false,
                    next_retry: now,
                    retry_delay: INITIAL_RETRY,
                };
                n
            ],
            next: 0,
            greedy: None,
        }
    }

    /// `hostpool.NewEpsilonGreedy(hosts, 0, LinearEpsilonValueCalculator)`.
    pub fn epsilon_greedy(n: usize, now: Instant) -> HostPool {
        let mut p = HostPool::new(n, now);
        p.greedy = Some(Greedy {
            epsilon: INITIAL_EPSILON,
            scores: vec![
                Scores {
                    counts: [0; BUCKETS],
                    values: [0; BUCKETS],
                };
                n
            ],
            index: 0,
            started: now,
            steps: 0,
        });
        p
    }

    /// The exploration rate (epsilon-greedy only).
    pub fn epsilon(&self) -> Option<f32> {
        self.greedy.as_ref().map(|g| g.epsilon)
    }

    /// The host for the next request (`Get`).
    pub fn get(&mut self, now: Instant, rng: &mut dyn Random) -> usize {
        let i = match self.greedy_pick(now, rng) {
            Some(i) => i,
            None => self.round_robin(now),
        };
        // MakeHostResponse: a dead host past its retry time gets one try.
        let h = &mut self.hosts[i];
        if h.dead && h.next_retry < now {
            h.will_retry(now);
        }
        i
    }

    fn round_robin(&mut self, now: Instant) -> usize {
        let n = self.hosts.len();
        for i in 0..n {
            let current = (i + self.next) % n;
            if self.hosts[current].can_try(now) {
                self.next = current + 1;
                return current;
            }
        }
        // All hosts are down: re-add them.
        for h in &mut self.hosts {
            h.dead = false;
        }
        self.next = 0;
        0
    }

    fn greedy_pick(&mut self, now: Instant, rng: &mut dyn Random) -> Option<usize> {
        let g = self.greedy.as_mut()?;
        g.decay(now);
        if (rng.next_f64() as f32) < g.epsilon {
            g.epsilon = (g.epsilon * EPSILON_DECAY).max(MIN_EPSILON);
            return None;
        }
        let values: Vec<(usize, f64)> = self
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| h.can_try(now))
            .filter_map(|(i, _)| {
                let v = g.scores[i].weighted_average(g.index);
                (v > 0.0).then(|| (i, 1.0 / v))
            })
            .collect();
        let sum: f64 = values.iter().map(|(_, v)| v).sum();
        let pick = rng.next_f64();
        let mut ceiling = 0.0;
        for (i, v) in values {
            ceiling += v / sum;
            if pick <= ceiling {
                return Some(i);
            }
        }
        None
    }

    /// The result of a request to host `i` (`Mark`): `Ok(elapsed)` on
    /// success (epsilon-greedy records the time), `Err(())` on failure.
    pub fn mark(&mut self, i: usize, result: Result<Duration, ()>, now: Instant) {
        let Some(h) = self.hosts.get_mut(i) else {
            return;
        };
        match result {
            Ok(elapsed) => {
                h.dead = false;
                if let Some(g) = self.greedy.as_mut() {
                    g.decay(now);
                    let s = &mut g.scores[i];
                    s.counts[g.index] += 1;
                    s.values[g.index] += elapsed.as_millis() as i64;
                }
            }
            Err(()) => {
                if !h.dead {
                    h.dead = true;
                    h.retry_delay = INITIAL_RETRY;
                    h.next_retry = now + INITIAL_RETRY;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Random numbers from a list, cycled.
    fn seq(v: &[f64]) -> impl FnMut() -> f64 + '_ {
        let mut i = 0;
        move || {
            i += 1;
            v[(i - 1) % v.len()]
        }
    }

    #[test]
    fn round_robin_skips_dead_hosts_and_retries_with_doubling_waits() {
        let t0 = Instant::now();
        let mut rng = seq(&[0.5]);
        let mut p = HostPool::new(3, t0);
        let got: Vec<usize> = (0..4).map(|_| p.get(t0, &mut rng)).collect();
        assert_eq!(got, [0, 1, 2, 0]);
        p.mark(1, Err(()), t0);
        let got: Vec<usize> = (0..4).map(|_| p.get(t0, &mut rng)).collect();
        assert_eq!(got, [2, 0, 2, 0], "host 1 rests");
        // Still resting at exactly 30 s; tried once just after.
        assert_eq!(p.get(t0 + secs(30), &mut rng), 2);
        let t = t0 + secs(31);
        assert_eq!(p.get(t, &mut rng), 0);
        assert_eq!(p.get(t, &mut rng), 1, "retry after 30 s");
        // It fails again (already dead: no reset); next try 60 s later.
        p.mark(1, Err(()), t);
        assert_eq!(p.get(t, &mut rng), 2);
        assert_eq!(p.get(t, &mut rng), 0);
        assert_eq!(p.get(t, &mut rng), 2);
        assert_eq!(p.get(t + secs(60), &mut rng), 0);
        assert_eq!(p.get(t + secs(61), &mut rng), 1, "retry after 60 s");
        p.mark(1, Ok(Duration::ZERO), t + secs(61));
        let got: Vec<usize> = (0..3).map(|_| p.get(t + secs(61), &mut rng)).collect();
        assert_eq!(got, [2, 0, 1], "revived by a success");
    }

    #[test]
    fn retry_wait_is_capped_at_15_minutes() {
        let t0 = Instant::now();
        let mut rng = seq(&[0.5]);
        let mut p = HostPool::new(2, t0);
        p.mark(0, Err(()), t0);
        let mut t = t0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            let wait = p.hosts[0].next_retry - t;
            waits.push(wait.as_secs());
            t = p.hosts[0].next_retry + Duration::from_millis(1);
            // Host 1 is alive, so round robin passes host 0 at most once.
            while p.get(t, &mut rng) != 0 {}
        }
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900]);
    }

    #[test]
    fn all_dead_revives_everyone_and_starts_over() {
        let t0 = Instant::now();
        let mut rng = seq(&[0.5]);
        let mut p = HostPool::new(2, t0);
        assert_eq!(p.get(t0, &mut rng), 0);
        p.mark(0, Err(()), t0);
        p.mark(1, Err(()), t0);
        // Revived, restarting at index 0: host 0 answers this get and
        // (the index being 0 again) the next one too.
        assert_eq!(p.get(t0, &mut rng), 0);
        assert_eq!(p.get(t0, &mut rng), 0);
        assert_eq!(p.get(t0, &mut rng), 1);
    }

    #[test]
    fn epsilon_greedy_prefers_the_faster_host_and_explores_less_over_time() {
        let t0 = Instant::now();
        let mut p = HostPool::epsilon_greedy(2, t0);
        // No scores yet: exploitation finds nothing → round robin.
        let mut exploit = seq(&[0.99]);
        assert_eq!(p.get(t0, &mut exploit), 0);
        assert_eq!(p.get(t0, &mut exploit), 1);
        assert_eq!(p.epsilon(), Some(0.3), "no exploration happened");
        // Host 0 answers in 10 ms, host 1 in 30 ms: weights 3/4 and 1/4.
        p.mark(0, Ok(Duration::from_millis(10)), t0);
        p.mark(1, Ok(Duration::from_millis(30)), t0);
        // rng: 0.99 (no exploration) then the weighted draw.
        assert_eq!(p.get(t0, &mut seq(&[0.99, 0.74])), 0);
        assert_eq!(p.get(t0, &mut seq(&[0.99, 0.76])), 1);
        // Exploration (draw < ε) goes round robin and decays ε by 0.9.
        let before = p.next;
        p.get(t0, &mut seq(&[0.1]));
        assert_ne!(p.next, before);
        assert!((p.epsilon().unwrap() - 0.27).abs() < 1e-6);
        for _ in 0..100 {
            p.get(t0, &mut seq(&[0.0]));
        }
        assert_eq!(p.epsilon(), Some(MIN_EPSILON));
    }

    #[test]
    fn epsilon_greedy_scores_age_out_and_ignore_dead_hosts() {
        let t0 = Instant::now();
        let mut p = HostPool::epsilon_greedy(2, t0);
        p.mark(1, Ok(Duration::from_millis(5)), t0);
        // Only host 1 has a score: every exploiting pick is host 1.
        for _ in 0..5 {
            assert_eq!(p.get(t0, &mut seq(&[0.99, 0.5])), 1);
        }
        // Sub-millisecond answers score 0 ms: no weight.
        p.mark(0, Ok(Duration::from_micros(900)), t0);
        assert_eq!(p.get(t0, &mut seq(&[0.99, 0.999])), 1);
        // Dead hosts are not candidates (round robin then skips it too).
        p.mark(1, Err(()), t0);
        assert_eq!(p.get(t0, &mut seq(&[0.99, 0.5])), 0);
        // After 5 minutes every bucket has aged out: no scores left.
        p.mark(1, Ok(Duration::from_millis(5)), t0);
        let later = t0 + DECAY_DURATION + secs(3);
        let g = p.greedy.as_mut().unwrap();
        g.decay(later);
        assert_eq!(g.scores[1].weighted_average(g.index), 0.0);
    }

    #[test]
    fn newer_buckets_weigh_more() {
        let t0 = Instant::now();
        let mut p = HostPool::epsilon_greedy(1, t0);
        p.mark(0, Ok(Duration::from_millis(100)), t0);
        let g = p.greedy.as_mut().unwrap();
        // One bucket at the newest position: weight 120/120.
        assert!((g.scores[0].weighted_average(g.index) - 100.0).abs() < 1e-9);
        g.decay(t0 + Duration::from_millis(2500));
        // Now the second newest (119/120), repeated into the newest (1).
        let v = g.scores[0].weighted_average(g.index);
        assert!((v - 100.0 * (119.0 + 120.0) / 120.0).abs() < 1e-9, "{v}");
    }
}
