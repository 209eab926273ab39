//! Run results: the figures, how they are computed from raw counts and
//! histograms, the JSON file and the text table.
//!
//! Units, stated once: latencies are microseconds (recorded in ns with
//! 3 significant digits); `mib_per_s` counts **message bodies only**, in
//! 2^20 bytes (as NSQ's bench_writer does); `wire_mib_per_s` counts every
//! byte of the commands (publish) or frames (consume), framing included.
//! CPU per message divides the broker's CPU time by the messages
//! published, or consumed when nothing was published.

use hdrhistogram::Histogram;
use serde::Serialize;

/// A run whose achieved rate is below this fraction of its target is
/// reported as saturated.
pub const SATURATION_RATIO: f64 = 0.95;

/// A histogram of nanoseconds from 1 ns to one hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants known to be valid.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"))
    })
}

/// Record `ns` (clamped into the histogram's range).
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.max(1));
}

/// Percentiles of one latency histogram, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub samples: u64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// 99.99th percentile (needs >= 1M samples to mean much).
    pub p9999_us: f64,
    /// Largest sample.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl LatencySummary {
    /// Summarise a histogram of nanoseconds; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<LatencySummary> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(LatencySummary {
            samples: h.len(),
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            p9999_us: us(h.value_at_quantile(0.9999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        })
    }
}

/// Message and byte rates of one direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    /// Messages counted in the measured window.
    pub messages: u64,
    /// Length of the measured window.
    pub seconds: f64,
    /// Messages per second.
    pub msgs_per_s: f64,
    /// Body bytes per second / 2^20 (framing not counted).
    pub mib_per_s: f64,
    /// Wire bytes per second / 2^20 (framing counted).
    pub wire_mib_per_s: f64,
}

impl Rates {
    /// Rates from counts over `seconds`.
    pub fn new(messages: u64, body_size: usize, wire_bytes: u64, seconds: f64) -> Rates {
        let per_s = |x: f64| if seconds > 0.0 { x / seconds } else { 0.0 };
        Rates {
            messages,
            seconds,
            msgs_per_s: per_s(messages as f64),
            mib_per_s: per_s(messages as f64 * body_size as f64) / MIB,
            wire_mib_per_s: per_s(wire_bytes as f64) / MIB,
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Achieved versus target rate of an open-loop run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateCheck {
    /// Messages per second the schedule asked for.
    pub target_per_s: f64,
    /// Messages per second actually published (acknowledged).
    pub achieved_per_s: f64,
    /// achieved / target.
    pub ratio: f64,
    /// `ratio < 0.95`: the generator or the broker could not keep up, so
    /// the latency figures describe an overloaded system.
    pub saturated: bool,
}

impl RateCheck {
    /// Compare achieved with target.
    pub fn new(target_per_s: f64, achieved_per_s: f64) -> RateCheck {
        let ratio = if target_per_s > 0.0 {
            achieved_per_s / target_per_s
        } else {
            0.0
        };
        RateCheck {
            target_per_s,
            achieved_per_s,
            ratio,
            saturated: ratio < SATURATION_RATIO,
        }
    }
}

/// The latency histograms a run may have.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latencies {
    /// PUB/MPUB sent -> `OK` received. Open loop: from the intended send
    /// time; closed loop: from the actual send (per batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pub_ok: Option<LatencySummary>,
    /// Intended send time -> consumer received (coordinated-omission
    /// corrected in open loop; closed loop: actual send time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e: Option<LatencySummary>,
    /// Actual send time -> consumer received (service time only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_from_send: Option<LatencySummary>,
    /// How late the generator sent against its schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_delay: Option<LatencySummary>,
}

/// CPU and memory of one process over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessUsage {
    /// The PID read (`None` = the bench itself).
    pub pid: Option<u32>,
    /// utime + stime over the window, seconds.
    pub cpu_s: f64,
    /// cpu_s / seconds: cores used on average.
    pub cores: f64,
    /// CPU microseconds per message (see the module docs).
    pub cpu_us_per_msg: Option<f64>,
    /// RSS at the start, KiB.
    pub rss_start_kib: u64,
    /// RSS at the end, KiB.
    pub rss_end_kib: u64,
    /// Peak RSS of the process's life so far (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// What the process cost per message in scheduler and kernel terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_msg: Option<PerMessage>,
}

/// Scheduler and kernel work per message over the window (the broker's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerMessage {
    /// Times one of its threads was put on a CPU (schedstat timeslices):
    /// the wake-ups the work took.
    pub wakeups: f64,
    /// Context switches (voluntary + involuntary), from each thread's status.
    pub context_switches: f64,
    /// System calls (all of them, io_uring_enter included), when perf
    /// counted them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<f64>,
}

impl PerMessage {
    /// Per-message figures from window totals; `None` without messages.
    pub fn of(
        totals: &crate::procstat::TaskTotals,
        syscalls: Option<u64>,
        messages: u64,
    ) -> Option<PerMessage> {
        let n = messages as f64;
        (messages > 0).then(|| PerMessage {
            wakeups: totals.timeslices as f64 / n,
            context_switches: (totals.voluntary + totals.involuntary) as f64 / n,
            syscalls: syscalls.map(|c| c as f64 / n),
        })
    }
}

impl ProcessUsage {
    /// Figures from CPU seconds, window length, message count and memory.
    pub fn new(
        pid: Option<u32>,
        cpu_s: f64,
        seconds: f64,
        messages: u64,
        mem: (crate::procstat::Memory, crate::procstat::Memory),
    ) -> ProcessUsage {
        ProcessUsage {
            pid,
            cpu_s,
            cores: if seconds > 0.0 { cpu_s / seconds } else { 0.0 },
            cpu_us_per_msg: (messages > 0).then(|| cpu_s * 1e6 / messages as f64),
            rss_start_kib: mem.0.rss_kib,
            rss_end_kib: mem.1.rss_kib,
            peak_rss_kib: mem.1.peak_rss_kib,
            per_msg: None,
        }
    }
}

/// How the backlog (published minus consumed, per channel) moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backlog {
    /// Backlog when the measured window opened.
    pub start: i64,
    /// Backlog when it closed.
    pub end: i64,
    /// (end - start) / seconds: positive means consumers fall behind.
    pub growth_per_s: f64,
    /// (seconds since the window opened, backlog) once per sample period.
    pub samples: Vec<(f64, i64)>,
}

impl Backlog {
    /// Growth from the samples (first and last).
    pub fn from_samples(samples: Vec<(f64, i64)>) -> Backlog {
        let (t0, start) = samples.first().copied().unwrap_or((0.0, 0));
        let (t1, end) = samples.last().copied().unwrap_or((0.0, 0));
        let dt = t1 - t0;
        Backlog {
            start,
            end,
            growth_per_s: if dt > 0.0 {
                (end - start) as f64 / dt
            } else {
                0.0
            },
            samples,
        }
    }
}

/// Everything one run measured. Sections that a mode does not measure are
/// left out of the JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `pub`, `sub`, `pubsub`, `latency`, `sweep`, `fanout` or `many`.
    pub mode: String,
    /// Broker TCP address.
    pub broker: String,
    /// The options of the run (message size, connections, ...).
    pub config: serde_json::Value,
    /// Seconds of warm-up excluded from every figure.
    pub warmup_s: f64,
    /// Seconds measured.
    pub measured_s: f64,
    /// Publish side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<Rates>,
    /// Consume side (all channels together).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consume: Option<Rates>,
    /// Open-loop modes: achieved versus target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateCheck>,
    /// Latency percentiles.
    pub latency: Latencies,
    /// Concurrent modes: backlog growth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog: Option<Backlog>,
    /// The broker process (when `--broker-pid` is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_process: Option<ProcessUsage>,
    /// The bench process itself (so it can be seen not to be the bottleneck).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_process: Option<ProcessUsage>,
    /// 1/5/15-minute load average before the run.
    pub load_before: [f64; 3],
    /// ... and after.
    pub load_after: [f64; 3],
    /// Error frames received (E_*), and messages not received in time.
    pub errors: u64,
    /// Messages published in the window but never received (open loop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// Sweep: one report per rate step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<Report>,
    /// Sweep: the maximum rate the steps are fractions of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
    /// Sweep: the SVG plot written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plot: Option<String>,
    /// `conns`: the idle connections' cost and the window before them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conns: Option<crate::modes::conns::ConnsFigures>,
    /// Free-form remarks (what was measured, caveats).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    /// The JSON text of the report.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A human-readable table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:<22} {v}\n"));
        line(
            "mode",
            format!("{} against {}", self.mode, self.broker.as_str()),
        );
        line("config", self.config.to_string());
        line(
            "window",
            format!(
                "{:.2} s measured after {:.2} s warm-up",
                self.measured_s, self.warmup_s
            ),
        );
        if let Some(r) = &self.rate {
            line(
                "rate",
                format!(
                    "target {:.0}/s achieved {:.0}/s ({:.1}%){}",
                    r.target_per_s,
                    r.achieved_per_s,
                    r.ratio * 100.0,
                    if r.saturated { "  SATURATED" } else { "" }
                ),
            );
        }
        for (name, r) in [("publish", &self.publish), ("consume", &self.consume)] {
            if let Some(r) = r {
                line(
                    name,
                    format!(
                        "{} msgs  {:.0} msg/s  {:.1} MiB/s bodies  {:.1} MiB/s wire",
                        r.messages, r.msgs_per_s, r.mib_per_s, r.wire_mib_per_s
                    ),
                );
            }
        }
        if let Some(b) = &self.backlog {
            line(
                "backlog",
                format!("{} -> {} ({:+.0} msg/s)", b.start, b.end, b.growth_per_s),
            );
        }
        let l = &self.latency;
        let lat_rows = [
            ("PUB->OK", &l.pub_ok),
            ("e2e (from intended)", &l.e2e),
            ("e2e (from send)", &l.e2e_from_send),
            ("send delay", &l.send_delay),
        ];
        if lat_rows.iter().any(|(_, s)| s.is_some()) {
            line(
                "latency us",
                format!(
                    "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
                    "p50", "p90", "p99", "p99.9", "p99.99", "max", "samples"
                ),
            );
            for (name, s) in lat_rows {
                if let Some(s) = s {
                    line(
                        &format!("  {name}"),
                        format!(
                            "{:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10}",
                            s.p50_us,
                            s.p90_us,
                            s.p99_us,
                            s.p999_us,
                            s.p9999_us,
                            s.max_us,
                            s.samples
                        ),
                    );
                }
            }
        }
        for (name, p) in [
            ("broker", &self.broker_process),
            ("bench client", &self.client_process),
        ] {
            if let Some(p) = p {
                line(
                    name,
                    format!(
                        "{:.2} CPU s ({:.2} cores){}  RSS {} -> {} KiB (peak {})",
                        p.cpu_s,
                        p.cores,
                        p.cpu_us_per_msg
                            .map(|c| format!("  {c:.2} CPU-us/msg"))
                            .unwrap_or_default(),
                        p.rss_start_kib,
                        p.rss_end_kib,
                        p.peak_rss_kib
                    ),
                );
                if let Some(m) = &p.per_msg {
                    line(
                        "",
                        format!(
                            "per message: {:.2} wake-ups, {:.2} context switches, {} syscalls",
                            m.wakeups,
                            m.context_switches,
                            m.syscalls
                                .map(|c| format!("{c:.2}"))
                                .unwrap_or_else(|| "-".into())
                        ),
                    );
                }
            }
        }
        line(
            "load avg",
            format!(
                "{:.2} {:.2} {:.2} -> {:.2} {:.2} {:.2}",
                self.load_before[0],
                self.load_before[1],
                self.load_before[2],
                self.load_after[0],
                self.load_after[1],
                self.load_after[2]
            ),
        );
        if self.errors > 0 || self.lost.is_some_and(|l| l > 0) {
            line(
                "errors",
                format!(
                    "{} error frames, {} lost",
                    self.errors,
                    self.lost.unwrap_or(0)
                ),
            );
        }
        if !self.points.is_empty() {
            out.push_str(&sweep_table(&self.points));
        }
        if let Some(p) = &self.plot {
            out.push_str(&format!("{:<22} {p}\n", "plot"));
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}

/// The per-step table of a sweep.
pub fn sweep_table(points: &[Report]) -> String {
    let mut out = format!(
        "{:>10} {:>10} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}\n",
        "target/s", "achieved/s", "sat", "e2e p50", "p99", "p99.9", "max", "PUB p99", "CPU-us"
    );
    for p in points {
        let (t, a, s) = p
            .rate
            .as_ref()
            .map(|r| (r.target_per_s, r.achieved_per_s, r.saturated))
            .unwrap_or_default();
        let e = p.latency.e2e.as_ref();
        let f = |x: Option<f64>| x.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:>10.0} {:>10.0} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}\n",
            t,
            a,
            if s { "yes" } else { "no" },
            f(e.map(|e| e.p50_us)),
            f(e.map(|e| e.p99_us)),
            f(e.map(|e| e.p999_us)),
            f(e.map(|e| e.max_us)),
            f(p.latency.pub_ok.as_ref().map(|e| e.p99_us)),
            p.broker_process
                .as_ref()
                .and_then(|b| b.cpu_us_per_msg)
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_distribution() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            record(&mut h, v * 1000); // 1..1000 us
        }
        let s = LatencySummary::of(&h).unwrap();
        assert_eq!(s.samples, 1000);
        assert!((s.p50_us - 500.0).abs() <= 1.0, "{s:?}");
        assert!((s.p90_us - 900.0).abs() <= 1.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.max_us - 1000.0).abs() <= 1.0, "{s:?}");
        assert!((s.mean_us - 500.5).abs() <= 1.0, "{s:?}");
        assert!(LatencySummary::of(&new_histogram()).is_none());
    }

    #[test]
    fn zero_and_huge_samples_are_clamped() {
        let mut h = new_histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn rates_count_bodies_and_wire_separately() {
        let r = Rates::new(1_048_576, 200, 2 * 1_048_576 * 230, 2.0);
        assert_eq!(r.msgs_per_s, 524_288.0);
        assert_eq!(r.mib_per_s, 100.0);
        assert_eq!(r.wire_mib_per_s, 230.0);
        assert_eq!(Rates::new(5, 1, 5, 0.0).msgs_per_s, 0.0);
    }

    #[test]
    fn saturation_threshold_is_95_percent() {
        assert!(!RateCheck::new(1000.0, 950.0).saturated);
        assert!(RateCheck::new(1000.0, 949.0).saturated);
        assert!(RateCheck::new(0.0, 10.0).saturated);
    }

    #[test]
    fn backlog_growth() {
        let b = Backlog::from_samples(vec![(0.0, 100), (1.0, 600), (2.0, 1100)]);
        assert_eq!((b.start, b.end, b.growth_per_s), (100, 1100, 500.0));
        assert_eq!(Backlog::from_samples(vec![]).growth_per_s, 0.0);
    }

    #[test]
    fn cpu_per_message() {
        let m = crate::procstat::Memory::default();
        let p = ProcessUsage::new(Some(1), 2.0, 4.0, 1_000_000, (m, m));
        assert_eq!(p.cpu_us_per_msg, Some(2.0));
        assert_eq!(p.cores, 0.5);
        assert_eq!(
            ProcessUsage::new(None, 1.0, 1.0, 0, (m, m)).cpu_us_per_msg,
            None
        );
    }

    #[test]
    fn json_leaves_out_what_was_not_measured() {
        let r = Report {
            mode: "pub".into(),
            publish: Some(Rates::new(10, 200, 2300, 1.0)),
            ..Report::default()
        };
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["mode"], "pub");
        assert_eq!(v["publish"]["messages"], 10);
        assert!(v.get("consume").is_none());
        assert!(v.get("points").is_none());
        let table = r.to_table();
        assert!(table.contains("10 msgs"), "{table}");
    }

    #[test]
    fn table_flags_saturation() {
        let r = Report {
            rate: Some(RateCheck::new(1000.0, 500.0)),
            ..Report::default()
        };
        assert!(r.to_table().contains("SATURATED"));
    }
}
