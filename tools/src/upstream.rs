//! Choosing a destination for nsq_to_nsq and nsq_to_http (`--mode`):
//! every destination, round robin, or go-hostpool's host pool / epsilon
//! greedy selection ([`crate::hostpool`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::client::random_u64;
use crate::hostpool::HostPool;

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every destination gets every message (nsq_to_http's `multicast`,
    /// and its fallback for an unrecognized mode).
    All,
    /// One destination after the other.
    RoundRobin,
    /// go-hostpool's round robin with failed-host backoff.
    HostPool,
    /// go-hostpool's epsilon-greedy selection by response time.
    EpsilonGreedy,
}

impl Mode {
    /// Parse a `--mode` value; `None` if unrecognized.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "round-robin" => Some(Mode::RoundRobin),
            "hostpool" => Some(Mode::HostPool),
            "epsilon-greedy" => Some(Mode::EpsilonGreedy),
            _ => None,
        }
    }
}

/// One chosen destination, to be [`Pool::mark`]ed with its result.
#[derive(Debug, Clone, Copy)]
pub struct Pick {
    /// The destination's index.
    pub index: usize,
    /// When it was chosen (epsilon-greedy times the request from here).
    pub started: Instant,
}

/// The destinations and their health.
pub struct Pool {
    mode: Mode,
    n: usize,
    counter: AtomicU64,
    hosts: Mutex<HostPool>,
}

fn random_f64() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl Pool {
    /// A pool over `n` destinations.
    pub fn new(mode: Mode, n: usize) -> Pool {
        let now = Instant::now();
        let hosts = if mode == Mode::EpsilonGreedy {
            HostPool::epsilon_greedy(n, now)
        } else {
            HostPool::new(n, now)
        };
        Pool {
            mode,
            n,
            counter: AtomicU64::new(0),
            hosts: Mutex::new(hosts),
        }
    }

    /// The destinations for the next message.
    pub fn pick(&self) -> Vec<Pick> {
        if self.n == 0 {
            return Vec::new();
        }
        let started = Instant::now();
        let one = |index| vec![Pick { index, started }];
        match self.mode {
            Mode::All => (0..self.n).map(|index| Pick { index, started }).collect(),
            Mode::RoundRobin => {
                let c = self.counter.fetch_add(1, Ordering::Relaxed) as usize;
                one((c + 1) % self.n)
            }
            Mode::HostPool | Mode::EpsilonGreedy => {
                let mut rng = random_f64;
                let mut h = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
                one(h.get(started, &mut rng))
            }
        }
    }

    /// Report the result of a request to a picked destination.
    pub fn mark(&self, pick: &Pick, ok: bool) {
        if !matches!(self.mode, Mode::HostPool | Mode::EpsilonGreedy) {
            return;
        }
        let now = Instant::now();
        let result = if ok {
            Ok(now.saturating_duration_since(pick.started))
        } else {
            Err(())
        };
        let mut h = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        h.mark(pick.index, result, now);
    }
}

/// `--require-json-field` / `--require-json-value` / `--whitelist-json-field`
/// (nsq_to_nsq).
#[derive(Debug, Clone, Default)]
pub struct JsonFilter {
    /// Field that must be present.
    pub require_field: String,
    /// Value it must have (string compare, or number compare when this
    /// parses as a number).
    pub require_value: String,
    /// Fields to keep.
    pub whitelist: Vec<String>,
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Publish this body.
    Pass(Vec<u8>),
    /// FIN without publishing.
    Drop,
    /// REQ with backoff (required field missing while a value is required).
    Backoff,
}

impl JsonFilter {
    /// Whether filtering is on.
    pub fn active(&self) -> bool {
        !self.require_field.is_empty() || !self.whitelist.is_empty()
    }

    /// Apply the filter to a body.
    pub fn apply(&self, body: &[u8]) -> Verdict {
        if !self.active() {
            return Verdict::Pass(body.to_vec());
        }
        let Ok(serde_json::Value::Object(js)) = serde_json::from_slice::<serde_json::Value>(body)
        else {
            return Verdict::Drop;
        };
        if !self.require_field.is_empty() {
            match js.get(&self.require_field) {
                None => {
                    return if self.require_value.is_empty() {
                        Verdict::Drop
                    } else {
                        Verdict::Backoff
                    };
                }
                Some(v) if !self.require_value.is_empty() => {
                    let number: Option<f64> = self.require_value.parse().ok();
                    let pass = match v {
                        serde_json::Value::String(s) => *s == self.require_value,
                        serde_json::Value::Number(n) => {
                            number.is_some_and(|want| n.as_f64() == Some(want))
                        }
                        _ => false,
                    };
                    if !pass {
                        return Verdict::Drop;
                    }
                }
                Some(_) => {}
            }
        }
        if self.whitelist.is_empty() {
            return Verdict::Pass(body.to_vec());
        }
        let kept: serde_json::Map<String, serde_json::Value> = js
            .into_iter()
            .filter(|(k, _)| self.whitelist.contains(k))
            .collect();
        match serde_json::to_vec(&kept) {
            Ok(b) => Verdict::Pass(b),
            Err(_) => Verdict::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let idx = |p: &Pool| p.pick().iter().map(|k| k.index).collect::<Vec<_>>();
        let p = Pool::new(Mode::RoundRobin, 3);
        let got: Vec<usize> = (0..4).flat_map(|_| idx(&p)).collect();
        assert_eq!(got, [1, 2, 0, 1]);
        assert_eq!(idx(&Pool::new(Mode::All, 2)), [0, 1]);
        let p = Pool::new(Mode::HostPool, 2);
        let first = p.pick()[0];
        p.mark(&first, false);
        assert!((0..6).all(|_| idx(&p) == [1 - first.index]));
        assert_eq!(Mode::parse("bogus"), None);
        assert_eq!(Mode::parse("epsilon-greedy"), Some(Mode::EpsilonGreedy));
    }

    #[test]
    fn json_filters() {
        let f = JsonFilter {
            require_field: "b".into(),
            require_value: "x".into(),
            whitelist: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            f.apply(br#"{"c":true,"b":"x","a":1}"#),
            Verdict::Pass(br#"{"a":1,"b":"x"}"#.to_vec())
        );
        assert_eq!(f.apply(br#"{"b":"y"}"#), Verdict::Drop);
        assert_eq!(f.apply(br#"{"a":1}"#), Verdict::Backoff);
        assert_eq!(f.apply(b"not json"), Verdict::Drop);
        let n = JsonFilter {
            require_field: "n".into(),
            require_value: "5".into(),
            whitelist: vec![],
        };
        assert_eq!(
            n.apply(br#"{"n":5.0}"#),
            Verdict::Pass(br#"{"n":5.0}"#.to_vec())
        );
        assert_eq!(
            n.apply(br#"{"n":"5"}"#),
            Verdict::Pass(br#"{"n":"5"}"#.to_vec())
        );
        assert_eq!(n.apply(br#"{"n":true}"#), Verdict::Drop);
        let present = JsonFilter {
            require_field: "n".into(),
            ..JsonFilter::default()
        };
        assert_eq!(present.apply(br#"{"m":1}"#), Verdict::Drop);
        assert!(!JsonFilter::default().active());
    }
}
