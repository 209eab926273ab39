//! The bench modes. Each takes the [`Common`] options plus its own and
//! returns a [`crate::report::Report`].
//!
//! * [`throughput`]: `pub` (closed-loop MPUB, bench_writer parity), `sub`
//!   (drain a backlog, bench_reader parity), `pubsub` and `fanout`
//!   (publish and consume at once, backlog growth).
//! * [`latency`]: `latency` (open loop at a fixed rate, coordinated-omission
//!   corrected) and `sweep` (10%..100% of the measured maximum, SVG plot).
//! * [`many`]: thousands of topics and channels.
//! * [`conns`]: what idle consumer connections cost (memory, and latency
//!   and `/stats` for the busy ones).
//! * [`fill`]: many topics with channels and queued messages (for the
//!   restart workload of `scripts/bench-compare.sh`).

pub mod conns;
pub mod fill;
pub mod latency;
pub mod many;
pub mod throughput;

use std::time::Duration;

use crate::run::{sleep_until, Counters, Meter, Snapshot, Window};

/// Options every mode has.
#[derive(Debug, Clone)]
pub struct Common {
    /// Broker TCP address.
    pub addr: String,
    /// Message body size in bytes (at least 24: the stamp).
    pub size: usize,
    /// Warm-up excluded from the figures.
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// Broker PID for CPU and RSS.
    pub broker_pid: Option<u32>,
    /// Count the broker's system calls (perf).
    pub count_syscalls: bool,
    /// Topic (default: a fresh name per run, so runs never see each
    /// other's backlog).
    pub topic: Option<String>,
}

impl Common {
    /// The topic to use: the given one or a fresh one.
    pub fn topic_or_fresh(&self, prefix: &str) -> String {
        self.topic
            .clone()
            .unwrap_or_else(|| crate::run::fresh_topic(prefix))
    }

    /// The options as JSON for the report, plus mode-specific ones.
    pub fn config(&self, extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::json!({
            "size": self.size,
            "warmup_s": self.warmup.as_secs_f64(),
            "duration_s": self.duration.as_secs_f64(),
        });
        if let (Some(m), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            m.extend(e);
        }
        v
    }

    /// Sleep until `window` starts; then the counters' snapshot and a
    /// started [`Meter`] (what the window's figures are measured from).
    pub fn start_window(&self, counters: &Counters, window: Window) -> (Snapshot, Meter) {
        sleep_until(window.start_ns);
        let s0 = counters.snapshot();
        (s0, Meter::start(self.broker_pid, self.count_syscalls))
    }

    /// Sleep through `window`: what the counters counted in it, and the
    /// [`Meter`] started at its start.
    pub fn measure_window(&self, counters: &Counters, window: Window) -> (Snapshot, Meter) {
        let (s0, meter) = self.start_window(counters, window);
        sleep_until(window.end_ns);
        (counters.snapshot() - s0, meter)
    }
}
