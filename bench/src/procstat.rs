//! What `/proc` says about a process and the machine: CPU seconds
//! (`utime + stime` of `/proc/<pid>/stat`), resident memory
//! (`VmRSS`/`VmHWM` of `/proc/<pid>/status`) and the load average.
//!
//! Parsing is pure (text in, numbers out) so it is unit-tested on captured
//! text; the readers are thin wrappers.

use serde::Serialize;

/// CPU time of one process, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTicks {
    /// User-mode clock ticks (field 14).
    pub utime: u64,
    /// Kernel-mode clock ticks (field 15).
    pub stime: u64,
}

impl CpuTicks {
    /// Total ticks.
    pub fn total(&self) -> u64 {
        self.utime + self.stime
    }
}

/// Parse the CPU fields of a `/proc/<pid>/stat` line. The command name
/// (field 2) is in parentheses and may contain spaces and parentheses, so
/// fields are counted after the *last* `)`.
pub fn parse_stat(text: &str) -> Option<CpuTicks> {
    let after = &text[text.rfind(')')? + 1..];
    // After ")" come field 3 (state) onwards: utime is field 14 -> index 11.
    let mut fields = after.split_whitespace();
    let utime = fields.nth(11)?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some(CpuTicks { utime, stime })
}

/// Memory figures from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Memory {
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`).
    pub peak_rss_kib: u64,
}

/// Parse `VmRSS` and `VmHWM` from `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_rss_kib: field("VmHWM:").unwrap_or(0),
    })
}

/// Parse the 1, 5 and 15 minute load averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Kernel clock ticks per second (`sysconf(_SC_CLK_TCK)`, normally 100).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf takes an integer and touches no memory.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Which process to read: a PID, or this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Another process (the broker).
    Pid(u32),
    /// The bench process itself.
    Myself,
}

impl Target {
    fn path(&self, file: &str) -> String {
        match self {
            Target::Pid(p) => format!("/proc/{p}/{file}"),
            Target::Myself => format!("/proc/self/{file}"),
        }
    }

    /// CPU ticks now; `None` if the process is gone or unreadable.
    pub fn cpu(&self) -> Option<CpuTicks> {
        parse_stat(&std::fs::read_to_string(self.path("stat")).ok()?)
    }

    /// Memory now.
    pub fn memory(&self) -> Option<Memory> {
        parse_status(&std::fs::read_to_string(self.path("status")).ok()?)
    }
}

/// Scheduler figures summed over every thread of a process: CPU time in
/// nanoseconds and how often its threads were put on a CPU (wake-ups), from
/// `/proc/<pid>/task/*/schedstat`, and its context switches from each
/// thread's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskTotals {
    /// Time on a CPU, nanoseconds (schedstat field 1).
    pub run_ns: u64,
    /// Times a thread was scheduled onto a CPU (schedstat field 3).
    pub timeslices: u64,
    /// `voluntary_ctxt_switches`: a thread blocked (slept, waited).
    pub voluntary: u64,
    /// `nonvoluntary_ctxt_switches`: a thread was preempted.
    pub involuntary: u64,
}

impl TaskTotals {
    /// The counts of `self` minus `before` (threads that ended meanwhile
    /// take their counts with them, hence saturating).
    pub fn since(&self, before: &TaskTotals) -> TaskTotals {
        TaskTotals {
            run_ns: self.run_ns.saturating_sub(before.run_ns),
            timeslices: self.timeslices.saturating_sub(before.timeslices),
            voluntary: self.voluntary.saturating_sub(before.voluntary),
            involuntary: self.involuntary.saturating_sub(before.involuntary),
        }
    }

    /// Add one thread's `schedstat` and `status` texts.
    pub fn add_thread(&mut self, schedstat: &str, status: &str) {
        let mut f = schedstat.split_whitespace().map(|v| v.parse::<u64>().ok());
        if let (Some(Some(run)), Some(_), Some(Some(slices))) = (f.next(), f.next(), f.next()) {
            self.run_ns += run;
            self.timeslices += slices;
        }
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        self.voluntary += field("voluntary_ctxt_switches:");
        self.involuntary += field("nonvoluntary_ctxt_switches:");
    }
}

/// [`TaskTotals`] of process `pid` now; `None` if it cannot be read.
pub fn task_totals(pid: u32) -> Option<TaskTotals> {
    let mut totals = TaskTotals::default();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = entry.ok()?.path();
        let (Ok(sched), Ok(status)) = (
            std::fs::read_to_string(dir.join("schedstat")),
            std::fs::read_to_string(dir.join("status")),
        ) else {
            continue; // the thread ended meanwhile
        };
        totals.add_thread(&sched, &status);
    }
    Some(totals)
}

/// The machine's load average now (zeros if unreadable).
pub fn loadavg() -> [f64; 3] {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| parse_loadavg(&t))
        .unwrap_or([0.0; 3])
}

/// CPU used by a process between two readings, in seconds.
pub fn cpu_seconds(before: CpuTicks, after: CpuTicks) -> f64 {
    after.total().saturating_sub(before.total()) as f64 / ticks_per_second() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (nsqd (shard) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
        250 75 0 0 20 0 3 0 123456 1000000000 25000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_after_the_last_paren() {
        assert_eq!(
            parse_stat(STAT),
            Some(CpuTicks {
                utime: 250,
                stime: 75
            })
        );
        assert_eq!(parse_stat(STAT).map(|c| c.total()), Some(325));
    }

    #[test]
    fn stat_garbage_is_none() {
        assert_eq!(parse_stat("no paren here"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn status_rss() {
        let text = "Name:\tnsqd\nVmPeak:\t  999 kB\nVmHWM:\t   5000 kB\nVmRSS:\t   4096 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                rss_kib: 4096,
                peak_rss_kib: 5000
            })
        );
        assert_eq!(parse_status("Name: x\n"), None);
    }

    #[test]
    fn task_totals_add_threads() {
        let mut t = TaskTotals::default();
        t.add_thread(
            "1500 99 7\n",
            "Name:\tx\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t2\n",
        );
        t.add_thread("500 1 3\n", "voluntary_ctxt_switches:\t1\n");
        assert_eq!(
            t,
            TaskTotals {
                run_ns: 2000,
                timeslices: 10,
                voluntary: 6,
                involuntary: 2
            }
        );
        let later = TaskTotals {
            run_ns: 2500,
            timeslices: 9,
            voluntary: 7,
            involuntary: 2,
        };
        assert_eq!(later.since(&t).run_ns, 500);
        assert_eq!(later.since(&t).timeslices, 0);
        assert!(task_totals(std::process::id()).is_some_and(|t| t.timeslices > 0));
    }

    #[test]
    fn loadavg_three_numbers() {
        assert_eq!(
            parse_loadavg("1.94 2.68 2.54 3/412 99999\n"),
            Some([1.94, 2.68, 2.54])
        );
        assert_eq!(parse_loadavg("1.0 x"), None);
    }

    #[test]
    fn reads_itself() {
        assert!(Target::Myself.cpu().is_some());
        assert!(Target::Myself.memory().is_some_and(|m| m.rss_kib > 0));
        assert!(ticks_per_second() > 0);
    }

    #[test]
    fn cpu_seconds_never_negative() {
        let a = CpuTicks {
            utime: 10,
            stime: 0,
        };
        let b = CpuTicks { utime: 5, stime: 0 };
        assert_eq!(cpu_seconds(a, b), 0.0);
    }
}
