//! End-to-end processing latency (docs/protocol.md#end-to-end-latency): with
//! `--e2e-processing-latency-percentile`, every FIN records "now − publish
//! time" in its channel's rolling window; `/stats` and statsd report the
//! configured percentiles per channel and, merged, per topic.
//!
//! NSQ keeps two half-window quantile streams that rotate every window/2;
//! this keeps two half-window HdrHistograms (2 significant digits, µs
//! resolution) the same way. Recording is O(1) and allocation-free.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use nsq_protocol::api::stats::{E2eLatency, Quantile};

/// What to compute: the percentiles and the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct E2eConfig {
    /// Quantiles in (0, 1].
    pub(crate) percentiles: Vec<f64>,
    /// `--e2e-processing-latency-window-time`.
    pub(crate) window: Duration,
}

impl E2eConfig {
    /// Parse the repeatable, comma-separated flag values; `None` when none
    /// are given, `Err` for a value outside (0, 1].
    pub(crate) fn from_flags(
        values: &[String],
        window: Duration,
    ) -> Result<Option<E2eConfig>, String> {
        let mut percentiles = Vec::new();
        for v in values
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            let p: f64 = v.parse().map_err(|_| format!("Invalid percentile: {v}"))?;
            if !(p > 0.0 && p <= 1.0) {
                return Err(format!("Invalid percentile: {v}"));
            }
            percentiles.push(p);
        }
        Ok((!percentiles.is_empty()).then_some(E2eConfig {
            percentiles,
            window,
        }))
    }
}

fn histogram() -> Histogram<u64> {
    // Auto-resizing: any latency fits. 2 significant digits.
    Histogram::new(2).unwrap_or_else(|_| unreachable_histogram())
}

fn unreachable_histogram() -> Histogram<u64> {
    Histogram::new_with_max(u64::MAX / 2, 2).expect("valid histogram bounds")
}

/// A rolling window of latencies.
#[derive(Debug, Clone)]
pub(crate) struct E2eWindow {
    current: Histogram<u64>,
    previous: Histogram<u64>,
    rotated_at: Instant,
    half: Duration,
}

impl E2eWindow {
    /// An empty window.
    pub(crate) fn new(window: Duration, now: Instant) -> E2eWindow {
        E2eWindow {
            current: histogram(),
            previous: histogram(),
            rotated_at: now,
            half: (window / 2).max(Duration::from_millis(1)),
        }
    }

    fn rotate(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.rotated_at);
        if elapsed >= self.half * 2 {
            self.current.reset();
            self.previous.reset();
            self.rotated_at = now;
        } else if elapsed >= self.half {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.reset();
            self.rotated_at = now;
        }
    }

    /// Record one latency.
    pub(crate) fn record(&mut self, latency: Duration, now: Instant) {
        self.rotate(now);
        let us = (latency.as_micros() as u64).max(1);
        // Auto-resizing: `record` grows the histogram (saturating_record
        // would clamp to its current range).
        if self.current.record(us).is_err() {
            self.current.saturating_record(us);
        }
    }

    /// Add this window's samples into `into`.
    pub(crate) fn merge_into(&mut self, into: &mut Histogram<u64>, now: Instant) {
        self.rotate(now);
        let _ = into.add(&self.current);
        let _ = into.add(&self.previous);
    }

    /// The window's samples.
    pub(crate) fn snapshot(&mut self, now: Instant) -> Histogram<u64> {
        let mut h = histogram();
        self.merge_into(&mut h, now);
        h
    }
}

/// The `/stats` object for a histogram of µs samples.
pub(crate) fn report(h: &Histogram<u64>, percentiles: &[f64]) -> E2eLatency {
    E2eLatency {
        count: h.len(),
        percentiles: Some(
            percentiles
                .iter()
                .map(|&q| Quantile {
                    quantile: q,
                    value: if h.is_empty() {
                        0.0
                    } else {
                        h.value_at_quantile(q) as f64 * 1000.0
                    },
                })
                .collect(),
        ),
    }
}

/// A fresh histogram to merge windows into.
pub(crate) fn empty() -> Histogram<u64> {
    histogram()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let w = Duration::from_secs(600);
        assert_eq!(E2eConfig::from_flags(&[], w), Ok(None));
        let c = E2eConfig::from_flags(&["0.99".into(), "0.5,1.0".into()], w)
            .unwrap()
            .unwrap();
        assert_eq!(c.percentiles, vec![0.99, 0.5, 1.0]);
        assert!(E2eConfig::from_flags(&["0".into()], w).is_err());
        assert!(E2eConfig::from_flags(&["1.5".into()], w).is_err());
        assert!(E2eConfig::from_flags(&["x".into()], w).is_err());
    }

    #[test]
    fn percentiles_and_rolling_window() {
        let now = Instant::now();
        let mut win = E2eWindow::new(Duration::from_secs(10), now);
        for ms in 1..=100 {
            win.record(Duration::from_millis(ms), now);
        }
        let r = report(&win.snapshot(now), &[0.5, 0.99]);
        assert_eq!(r.count, 100);
        let p = r.percentiles.unwrap();
        assert!((p[0].value - 50e6).abs() < 1e6, "{p:?}");
        assert!((p[1].value - 99e6).abs() < 2e6, "{p:?}");
        // Half a window later the samples are still there; a whole window
        // later they are gone.
        assert_eq!(win.snapshot(now + Duration::from_secs(6)).len(), 100);
        assert_eq!(win.snapshot(now + Duration::from_secs(12)).len(), 0);
        assert_eq!(report(&empty(), &[0.5]).percentiles.unwrap()[0].value, 0.0);
    }
}
