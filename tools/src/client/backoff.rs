//! The consumer's backoff state machine (docs/clients.md#backoff), pure: the
//! caller feeds it handler results and applies the returned [`Action`] to RDY.

use std::time::Duration;

/// `backoff_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `backoff_multiplier` × 2^level.
    Exponential,
    /// A uniformly random duration below the exponential one.
    FullJitter,
}

impl Strategy {
    /// The duration of backoff `level`; `rand01` in [0, 1) for full jitter.
    pub fn calculate(self, multiplier: Duration, level: u32, rand01: f64) -> Duration {
        let exp = multiplier.saturating_mul(1u32.checked_shl(level.min(31)).unwrap_or(u32::MAX));
        match self {
            Strategy::Exponential => exp,
            Strategy::FullJitter => exp.mul_f64(rand01.clamp(0.0, 1.0)),
        }
    }
}

/// What a handler result means for the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// FIN: one step out of backoff.
    Resume,
    /// REQ with backoff: one step in.
    Backoff,
    /// REQ without backoff: keep the current level.
    Continue,
}

/// What the consumer must do with RDY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing changes.
    None,
    /// Backoff is over: every connection back to its normal share.
    Resume,
    /// RDY 0 everywhere, wait this long, then RDY 1 on one connection.
    BackoffFor(Duration),
}

/// go-nsq's `startStopContinueBackoff`.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Current level (0 = not backing off).
    pub counter: u32,
    strategy: Strategy,
    multiplier: Duration,
    max: Duration,
}

impl Backoff {
    /// A state machine at level 0.
    pub fn new(strategy: Strategy, multiplier: Duration, max: Duration) -> Backoff {
        Backoff {
            counter: 0,
            strategy,
            multiplier,
            max,
        }
    }

    /// Feed one result. `in_timeout` is true while a backoff wait runs:
    /// results then are ignored, so a burst of failures does not jump to
    /// the maximum at once.
    pub fn signal(&mut self, signal: Signal, in_timeout: bool, rand01: f64) -> Action {
        if in_timeout {
            return Action::None;
        }
        let mut updated = false;
        match signal {
            Signal::Resume if self.counter > 0 => {
                self.counter -= 1;
                updated = true;
            }
            Signal::Backoff => {
                let next = self
                    .strategy
                    .calculate(self.multiplier, self.counter + 1, 0.0);
                // Exponential's value bounds full jitter's.
                let next = match self.strategy {
                    Strategy::Exponential => next,
                    Strategy::FullJitter => {
                        Strategy::Exponential.calculate(self.multiplier, self.counter + 1, 0.0)
                    }
                };
                if next <= self.max {
                    self.counter += 1;
                    updated = true;
                }
            }
            _ => {}
        }
        if self.counter == 0 && updated {
            Action::Resume
        } else if self.counter > 0 {
            let d = self
                .strategy
                .calculate(self.multiplier, self.counter, rand01)
                .min(self.max);
            Action::BackoffFor(d)
        } else {
            Action::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Backoff {
        Backoff::new(
            Strategy::Exponential,
            Duration::from_secs(1),
            Duration::from_secs(120),
        )
    }

    #[test]
    fn failures_climb_successes_descend() {
        let mut b = b();
        assert_eq!(b.signal(Signal::Resume, false, 0.0), Action::None);
        assert_eq!(
            b.signal(Signal::Backoff, false, 0.0),
            Action::BackoffFor(Duration::from_secs(2))
        );
        assert_eq!(
            b.signal(Signal::Backoff, false, 0.0),
            Action::BackoffFor(Duration::from_secs(4))
        );
        // Ignored during the wait.
        assert_eq!(b.signal(Signal::Backoff, true, 0.0), Action::None);
        assert_eq!(b.counter, 2);
        assert_eq!(
            b.signal(Signal::Resume, false, 0.0),
            Action::BackoffFor(Duration::from_secs(2))
        );
        assert_eq!(b.signal(Signal::Resume, false, 0.0), Action::Resume);
        assert_eq!(b.signal(Signal::Resume, false, 0.0), Action::None);
    }

    #[test]
    fn continue_keeps_level() {
        let mut b = b();
        assert_eq!(b.signal(Signal::Continue, false, 0.0), Action::None);
        b.signal(Signal::Backoff, false, 0.0);
        assert_eq!(
            b.signal(Signal::Continue, false, 0.0),
            Action::BackoffFor(Duration::from_secs(2))
        );
        assert_eq!(b.counter, 1);
    }

    #[test]
    fn capped_at_max() {
        let mut b = b();
        for _ in 0..20 {
            b.signal(Signal::Backoff, false, 0.0);
        }
        // 2^6 = 64 s is the last level within 120 s.
        assert_eq!(b.counter, 6);
        assert_eq!(
            b.signal(Signal::Backoff, false, 0.0),
            Action::BackoffFor(Duration::from_secs(64))
        );
    }

    #[test]
    fn full_jitter_is_below_exponential() {
        let m = Duration::from_secs(1);
        let d = Strategy::FullJitter.calculate(m, 3, 0.5);
        assert_eq!(d, Duration::from_secs(4));
        assert!(Strategy::FullJitter.calculate(m, 3, 0.999) < Duration::from_secs(8));
    }
}
