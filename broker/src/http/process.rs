//! This process's figures from /proc, for `/stats` `memory` and `/metrics`.

use nsq_protocol::api::metrics::ProcessFigures;

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

/// Resident set size in bytes.
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page_size())
}

/// CPU seconds (user + system) used so far.
pub(crate) fn cpu_seconds() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        });
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks.map_or(0.0, |t| t as f64 / hz)
}

/// Open file descriptors.
pub(crate) fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// Everything `/metrics` reports about the process.
pub(crate) fn figures(start_time: i64) -> ProcessFigures {
    ProcessFigures {
        rss_bytes: rss_bytes(),
        cpu_seconds: cpu_seconds(),
        start_time_unix: start_time as f64,
        open_fds: open_fds(),
    }
}
