//! Signals and bounded waits on a child process, by PID.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Send `sig` to our own child.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's PID.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Wait (at most `timeout`) for the child to exit.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM and a bounded wait for the exit status (no signal if it has
/// already exited: its PID may belong to another process by now).
pub fn terminate(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    signal(child, libc::SIGTERM);
    wait_exit(child, timeout)
}

/// SIGKILL and reap, if it is still running.
pub fn kill(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Let children inherit an unlimited RLIMIT_MEMLOCK where this process may
/// set one (glommio registers io_uring buffers in locked memory); a failure
/// is harmless, the daemons raise their soft limit themselves.
pub fn raise_memlock() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let lim = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: setrlimit with a valid struct.
        unsafe {
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
        }
    });
}

/// Raise this process's open-file limit to its hard limit (children
/// started after inherit it); returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}
