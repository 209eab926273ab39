//! Choosing a destination for nsq_to_nsq and nsq_to_http (`--mode`):
//! round-robin, or a host pool that avoids a failed destination for a
//! while (go-hostpool's idea; `epsilon-greedy` uses the same pool here).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every destination gets every message (nsq_to_http's fallback for an
    /// unrecognized mode).
    All,
    /// One destination after the other.
    RoundRobin,
    /// Healthy destinations in turn; a failed one rests.
    HostPool,
}

impl Mode {
    /// Parse a `--mode` value; `None` if unrecognized.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "round-robin" => Some(Mode::RoundRobin),
            "hostpool" | "epsilon-greedy" => Some(Mode::HostPool),
            _ => None,
        }
    }
}

/// The destinations and their health.
pub struct Pool {
    mode: Mode,
    n: usize,
    counter: AtomicU64,
    dead_until: Mutex<Vec<(Option<Instant>, Duration)>>,
}

const FIRST_RETRY: Duration = Duration::from_secs(30);
const MAX_RETRY: Duration = Duration::from_secs(900);

impl Pool {
    /// A pool over `n` destinations.
    pub fn new(mode: Mode, n: usize) -> Pool {
        Pool {
            mode,
            n,
            counter: AtomicU64::new(0),
            dead_until: Mutex::new(vec![(None, FIRST_RETRY); n]),
        }
    }

    /// The destinations (indices) for the next message.
    pub fn pick(&self) -> Vec<usize> {
        if self.n == 0 {
            return Vec::new();
        }
        let c = self.counter.fetch_add(1, Ordering::Relaxed) as usize;
        match self.mode {
            Mode::All => (0..self.n).collect(),
            Mode::RoundRobin => vec![(c + 1) % self.n],
            Mode::HostPool => {
                let now = Instant::now();
                let dead = self
                    .dead_until
                    .lock()
                    .map(|d| d.clone())
                    .unwrap_or_default();
                let alive: Vec<usize> = (0..self.n)
                    .filter(|&i| dead.get(i).and_then(|d| d.0).is_none_or(|t| t <= now))
                    .collect();
                if alive.is_empty() {
                    // All resting: try them all in turn anyway.
                    vec![c % self.n]
                } else {
                    vec![alive[c % alive.len()]]
                }
            }
        }
    }

    /// Report the result of a send to destination `i`.
    pub fn mark(&self, i: usize, ok: bool) {
        if self.mode != Mode::HostPool {
            return;
        }
        if let Ok(mut d) = self.dead_until.lock() {
            if let Some(slot) = d.get_mut(i) {
                if ok {
                    *slot = (None, FIRST_RETRY);
                } else {
                    let wait = slot.1;
                    *slot = (Some(Instant::now() + wait), (wait * 2).min(MAX_RETRY));
                }
            }
        }
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
    fn round_robin_and_host_pool() {
        let p = Pool::new(Mode::RoundRobin, 3);
        let got: Vec<usize> = (0..4).flat_map(|_| p.pick()).collect();
        assert_eq!(got, [1, 2, 0, 1]);
        assert_eq!(Pool::new(Mode::All, 2).pick(), [0, 1]);
        let p = Pool::new(Mode::HostPool, 2);
        p.mark(0, false);
        assert!((0..6).all(|_| p.pick() == [1]));
        p.mark(0, true);
        let got: Vec<usize> = (0..4).flat_map(|_| p.pick()).collect();
        assert!(got.contains(&0) && got.contains(&1));
        assert_eq!(Mode::parse("bogus"), None);
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
