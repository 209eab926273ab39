//! `--status-every` of nsq_to_http and nsq_to_nsq, as NSQ's tools print it
//! (bitly/timer_metrics v1.0.0): a ring of the last N request durations;
//! every N requests after the first N, one line
//! `<prefix> finished N - 99th: X.XXms - 95th: X.XXms - avg: X.XXms`
//! over that window. N = 0 disables it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The figures of one status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// `[aggregate]:`, `[<address>]:` or empty.
    pub prefix: String,
    /// Durations in the window.
    pub count: usize,
    /// Mean (integer nanoseconds, as Go's `Duration` division).
    pub avg: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} finished {} - 99th: {:.2}ms - 95th: {:.2}ms - avg: {:.2}ms",
            self.prefix,
            self.count,
            ms(self.p99),
            ms(self.p95),
            ms(self.avg)
        )
    }
}

/// timer_metrics' percentile: index `ceil(perc/100 * len + 0.5)`, clamped
/// to the last element, of the sorted window.
fn percentile(perc: f64, sorted: &[Duration]) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((perc / 100.0) * sorted.len() as f64 + 0.5).ceil() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Debug, Default)]
struct Window {
    timings: Vec<Duration>,
    position: usize,
}

impl Window {
    fn stats(&self, prefix: &str) -> Stats {
        let total: Duration = self.timings.iter().sum();
        let mut sorted = self.timings.clone();
        sorted.sort_unstable();
        let avg = if sorted.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_nanos((total.as_nanos() / sorted.len() as u128) as u64)
        };
        Stats {
            prefix: prefix.to_string(),
            count: sorted.len(),
            avg,
            p95: percentile(95.0, &sorted),
            p99: percentile(99.0, &sorted),
        }
    }
}

/// Request timings of one destination (or of all of them).
#[derive(Debug)]
pub struct TimerMetrics {
    prefix: String,
    status_every: usize,
    window: Mutex<Window>,
}

impl TimerMetrics {
    /// Report every `status_every` requests (0: never) with `prefix`.
    /// Like timer_metrics, warns when the window is under 100.
    pub fn new(status_every: usize, prefix: &str) -> TimerMetrics {
        if status_every > 0 && status_every < 100 {
            crate::log::warn(&format!(
                "use more than 100 status values for accurate percentiles (configured with {status_every})"
            ));
        }
        TimerMetrics {
            prefix: prefix.to_string(),
            status_every,
            window: Mutex::new(Window {
                timings: Vec::with_capacity(status_every),
                position: 0,
            }),
        }
    }

    /// A recorder that never reports (one destination: no per-address line).
    pub fn disabled() -> TimerMetrics {
        TimerMetrics {
            prefix: String::new(),
            status_every: 0,
            window: Mutex::new(Window::default()),
        }
    }

    /// Record the time since `start`; log a status line when one is due.
    pub fn status(&self, start: Instant) {
        if self.status_every == 0 {
            return;
        }
        if let Some(s) = self.record(start.elapsed()) {
            crate::log::info(&s.to_string());
        }
    }

    /// Record one duration; the window's figures when a line is due (the
    /// request that wraps the ring around, i.e. the (N+1)th, (2N+1)th, …).
    pub fn record(&self, d: Duration) -> Option<Stats> {
        if self.status_every == 0 {
            return None;
        }
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.position += 1;
        let looped = w.position > self.status_every;
        if looped {
            w.position = 1;
        }
        let pos = w.position;
        if pos > w.timings.len() {
            w.timings.push(d);
        } else {
            w.timings[pos - 1] = d;
        }
        looped.then(|| w.stats(&self.prefix))
    }
}

/// The status lines of a tool with several destinations, as nsq_to_http
/// and nsq_to_nsq keep them: one per address (`[<address>]:`, only when
/// there is more than one) and `[aggregate]:`.
#[derive(Debug)]
pub struct Timings {
    /// Per destination, in the order given.
    pub per_address: Vec<TimerMetrics>,
    /// All requests.
    pub aggregate: TimerMetrics,
}

impl Timings {
    /// Timings for these addresses, reporting every `every` requests.
    pub fn new(addrs: &[String], every: usize) -> Timings {
        let per_address = if addrs.len() == 1 {
            vec![TimerMetrics::disabled()]
        } else {
            addrs
                .iter()
                .map(|a| TimerMetrics::new(every, &format!("[{a}]:")))
                .collect()
        };
        Timings {
            per_address,
            aggregate: TimerMetrics::new(every, "[aggregate]:"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_on_wrap_with_upstream_figures() {
        // timer_metrics' own test: window 5, durations 1..=11 s.
        let m = TimerMetrics::new(5, "prefix");
        let secs = Duration::from_secs;
        let lines: Vec<Stats> = (1..=11).filter_map(|n| m.record(secs(n))).collect();
        assert_eq!(lines.len(), 2, "a line at the 6th and the 11th");
        let last = &lines[1];
        assert_eq!((last.count, last.avg, last.p99), (5, secs(9), secs(11)));
        // The window after the 6th: [6, 2, 3, 4, 5].
        assert_eq!(lines[0].avg, secs(4));
        assert_eq!(lines[0].p95, secs(6));
        assert_eq!(
            last.to_string(),
            "prefix finished 5 - 99th: 11000.00ms - 95th: 11000.00ms - avg: 9000.00ms"
        );
    }

    #[test]
    fn percentiles_of_a_window_of_250() {
        let m = TimerMetrics::new(250, "[aggregate]:");
        let mut line = None;
        for i in 1..=251u64 {
            line = m.record(Duration::from_micros(i * 100)).or(line);
        }
        // Window: 251 replaced 1 → 2..=251 (×100 µs); p99 index
        // ceil(247.5 + 0.5) = 248 → 250, p95 ceil(237.5 + 0.5) = 238 → 240.
        let s = line.expect("a line at the 251st");
        assert_eq!(s.p99, Duration::from_micros(25_000));
        assert_eq!(s.p95, Duration::from_micros(24_000));
        assert!(s
            .to_string()
            .starts_with("[aggregate]: finished 250 - 99th: 25.00ms"));
        assert!(TimerMetrics::disabled().record(Duration::ZERO).is_none());
    }
}
