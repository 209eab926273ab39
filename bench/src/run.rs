//! What every mode shares: the measured window, the counters workers bump,
//! and the [`Meter`] that reads `/proc` (broker and bench CPU, RSS, load)
//! when the window opens and closes.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::now_ns;
use crate::procstat::{self, CpuTicks, Memory, Target, TaskTotals};
use crate::report::{PerMessage, ProcessUsage, Report};
use crate::syscalls::SyscallCounter;

/// The measured window in clock nanoseconds: samples whose (intended)
/// time falls inside count; warm-up and cool-down do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Opens (end of warm-up).
    pub start_ns: u64,
    /// Closes.
    pub end_ns: u64,
}

impl Window {
    /// A window opening `warmup` after now and lasting `length`.
    pub fn after(warmup: std::time::Duration, length: std::time::Duration) -> Window {
        let start_ns = now_ns() + warmup.as_nanos() as u64;
        Window {
            start_ns,
            end_ns: start_ns + length.as_nanos() as u64,
        }
    }

    /// Is clock time `t` inside?
    pub fn contains(&self, t: u64) -> bool {
        t >= self.start_ns && t < self.end_ns
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end_ns - self.start_ns) as f64 / 1e9
    }
}

/// Totals the workers add to (atomics: one add per read or per command).
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages acknowledged by the broker (`OK`).
    pub published: AtomicU64,
    /// Wire bytes of acknowledged publish commands.
    pub pub_wire: AtomicU64,
    /// Messages received by consumers (all channels).
    pub consumed: AtomicU64,
    /// Wire bytes of message frames received.
    pub sub_wire: AtomicU64,
    /// Error frames.
    pub errors: AtomicU64,
    /// Closed-loop publishers with a message limit claim batches here.
    pub claimed: AtomicU64,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Counters::published`].
    pub published: u64,
    /// See [`Counters::pub_wire`].
    pub pub_wire: u64,
    /// See [`Counters::consumed`].
    pub consumed: u64,
    /// See [`Counters::sub_wire`].
    pub sub_wire: u64,
}

impl Counters {
    /// Copy the counters.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            published: self.published.load(Ordering::Relaxed),
            pub_wire: self.pub_wire.load(Ordering::Relaxed),
            consumed: self.consumed.load(Ordering::Relaxed),
            sub_wire: self.sub_wire.load(Ordering::Relaxed),
        }
    }
}

impl std::ops::Sub for Snapshot {
    type Output = Snapshot;
    fn sub(self, o: Snapshot) -> Snapshot {
        Snapshot {
            published: self.published.saturating_sub(o.published),
            pub_wire: self.pub_wire.saturating_sub(o.pub_wire),
            consumed: self.consumed.saturating_sub(o.consumed),
            sub_wire: self.sub_wire.saturating_sub(o.sub_wire),
        }
    }
}

/// `/proc` readings at the start of the window (and the broker's syscall
/// counter, when asked for).
pub struct Meter {
    broker: Option<u32>,
    broker_cpu: Option<CpuTicks>,
    broker_tasks: Option<TaskTotals>,
    syscalls: Option<Result<SyscallCounter, String>>,
    broker_mem: Memory,
    self_cpu: CpuTicks,
    self_mem: Memory,
    load: [f64; 3],
    t0: u64,
}

impl Meter {
    /// Read everything now. `broker` is the broker's PID, if known;
    /// `count_syscalls` also counts its system calls with perf.
    pub fn start(broker: Option<u32>, count_syscalls: bool) -> Meter {
        let b = broker.map(Target::Pid);
        Meter {
            broker,
            syscalls: broker.filter(|_| count_syscalls).map(SyscallCounter::start),
            broker_tasks: broker.and_then(procstat::task_totals),
            broker_cpu: b.and_then(|t| t.cpu()),
            broker_mem: b.and_then(|t| t.memory()).unwrap_or_default(),
            self_cpu: Target::Myself.cpu().unwrap_or_default(),
            self_mem: Target::Myself.memory().unwrap_or_default(),
            load: procstat::loadavg(),
            t0: now_ns(),
        }
    }

    /// Read again and fill the report's process and load sections;
    /// `messages` is what CPU per message divides by.
    pub fn finish(self, messages: u64, report: &mut Report) {
        let secs = (now_ns() - self.t0) as f64 / 1e9;
        if let (Some(pid), Some(before)) = (self.broker, self.broker_cpu) {
            let t = Target::Pid(pid);
            if let Some(after) = t.cpu() {
                let mem = t.memory().unwrap_or_default();
                let tasks = procstat::task_totals(pid)
                    .zip(self.broker_tasks)
                    .map(|(after, before)| after.since(&before));
                let syscalls = match self.syscalls {
                    Some(Ok(counter)) => counter.finish().map_err(|e| report.notes.push(e)).ok(),
                    Some(Err(e)) => {
                        report.notes.push(e);
                        None
                    }
                    None => None,
                };
                // schedstat's nanoseconds when there are any (clock ticks
                // are too coarse at low rates).
                let cpu_s = match tasks {
                    Some(t) if t.run_ns > 0 => t.run_ns as f64 / 1e9,
                    _ => procstat::cpu_seconds(before, after),
                };
                let mut usage =
                    ProcessUsage::new(Some(pid), cpu_s, secs, messages, (self.broker_mem, mem));
                usage.per_msg = tasks.and_then(|t| PerMessage::of(&t, syscalls, messages));
                report.broker_process = Some(usage);
            } else {
                report
                    .notes
                    .push(format!("broker PID {pid} could not be read at the end"));
            }
        } else if let Some(pid) = self.broker {
            report
                .notes
                .push(format!("broker PID {pid} could not be read from /proc"));
        }
        let after = Target::Myself.cpu().unwrap_or_default();
        report.client_process = Some(ProcessUsage::new(
            None,
            procstat::cpu_seconds(self.self_cpu, after),
            secs,
            messages,
            (self.self_mem, Target::Myself.memory().unwrap_or_default()),
        ));
        report.load_before = self.load;
        report.load_after = procstat::loadavg();
    }
}

/// Sleep until clock time `t`.
pub fn sleep_until(t: u64) {
    crate::clock::sleep_until(t, 0);
}

/// A topic name no earlier run used: `<prefix>_<pid>_<n>`.
pub fn fresh_topic(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        now_ns() % 1_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn window_bounds() {
        let w = Window {
            start_ns: 10,
            end_ns: 20,
        };
        assert!(!w.contains(9));
        assert!(w.contains(10));
        assert!(!w.contains(20));
        let w = Window::after(Duration::from_secs(1), Duration::from_millis(500));
        assert_eq!(w.seconds(), 0.5);
    }

    #[test]
    fn snapshots_subtract() {
        let c = Counters::default();
        let a = c.snapshot();
        c.published.fetch_add(5, Ordering::Relaxed);
        assert_eq!((c.snapshot() - a).published, 5);
        assert_eq!((a - c.snapshot()).published, 0);
    }

    #[test]
    fn fresh_topics_differ_and_are_valid() {
        let (a, b) = (fresh_topic("lat"), fresh_topic("lat"));
        assert_ne!(a, b);
        assert!(nsq_protocol::names::is_valid_name(a.as_bytes()), "{a}");
    }

    #[test]
    fn meter_reads_itself() {
        let m = Meter::start(Some(std::process::id()), false);
        let mut r = Report::default();
        m.finish(10, &mut r);
        assert!(r.broker_process.is_some());
        assert!(r.client_process.is_some());
    }
}
