//! System calls a process makes over the measured window, counted by
//! `perf stat -e raw_syscalls:sys_enter -p PID` (Linux's syscall-entry
//! tracepoint: every call, io_uring_enter included, which `/proc/<pid>/io`
//! would miss). perf is started when the window opens and stopped with
//! SIGINT when it closes; without perf (or without access to the
//! tracepoint) the count is simply absent from the report, with a note.

use std::io::Read;
use std::process::{Child, Command, Stdio};

const EVENT: &str = "raw_syscalls:sys_enter";

/// A running `perf stat` on one process.
#[derive(Debug)]
pub struct SyscallCounter {
    perf: Child,
}

impl SyscallCounter {
    /// Start counting `pid`'s system calls; `Err` says why not.
    pub fn start(pid: u32) -> Result<SyscallCounter, String> {
        let perf = Command::new("perf")
            .args(["stat", "-x", ",", "-e", EVENT, "-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("perf not available ({e}): syscalls not counted"))?;
        // perf attaches asynchronously; give it a moment so the window's
        // first calls are counted (the window is seconds long).
        std::thread::sleep(std::time::Duration::from_millis(100));
        Ok(SyscallCounter { perf })
    }

    /// Stop and return the count; `Err` says why there is none.
    pub fn finish(mut self) -> Result<u64, String> {
        // SAFETY: kill(2) on our own child's PID.
        unsafe {
            libc::kill(self.perf.id() as i32, libc::SIGINT);
        }
        let mut text = String::new();
        if let Some(mut err) = self.perf.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        let _ = self.perf.wait();
        parse_perf_csv(&text).ok_or_else(|| {
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            format!("perf counted no syscalls: {first}")
        })
    }
}

/// The count of [`EVENT`] in `perf stat -x ,` output (`<count>,,<event>,...`).
pub fn parse_perf_csv(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut fields = line.split(',');
        let count = fields.next()?.trim();
        let event = fields.nth(1)?.trim();
        (event == EVENT).then(|| count.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_count() {
        let text = "145,,raw_syscalls:sys_enter,1390836,100.00,,\n";
        assert_eq!(parse_perf_csv(text), Some(145));
        assert_eq!(
            parse_perf_csv("<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n"),
            None
        );
        assert_eq!(parse_perf_csv("Error: no access\n"), None);
    }
}
