//! Can this process run glommio's io_uring executors? Asked before any
//! listener opens, so that a daemon that cannot run says why on one `FATAL`
//! line and exits non-zero, instead of listening while every executor dies
//! at start (a container's default seccomp profile, an old kernel, the
//! `kernel.io_uring_disabled` sysctl, or too little locked memory).
//!
//! [`probe`] first makes the raw system calls itself, because their error
//! numbers tell the causes apart, then starts (and drops) one real glommio
//! executor with the daemon's io_memory, so anything else glommio needs is
//! checked too.

use std::fmt;
use std::io;

/// What glommio refuses to start with: its reactor checks RLIMIT_MEMLOCK
/// against this before it creates a ring.
pub const MIN_MEMLOCK: u64 = 512 * 1024;

/// Where the operator reads what to do (a section of kernel-tuning.md).
const SEE_CONTAINERS: &str = "see kernel-tuning.md, section \"io_uring in containers\"";
const SEE_MEMLOCK: &str = "see kernel-tuning.md, section \"Locked memory (required)\"";

/// Why io_uring cannot be used here. Its `Display` is the whole `FATAL`
/// line's text: what is missing and what to do.
#[derive(Debug)]
pub enum UringError {
    /// A seccomp filter denies the io_uring system calls (container
    /// runtimes' default profiles do).
    Blocked {
        /// The error `io_uring_setup` returned.
        error: io::Error,
    },
    /// The `kernel.io_uring_disabled` sysctl forbids io_uring.
    DisabledBySysctl {
        /// Its value (1 or 2).
        value: u32,
        /// The error `io_uring_setup` returned.
        error: io::Error,
    },
    /// The kernel has no (or too old an) io_uring.
    Unsupported {
        /// `uname -r`.
        kernel: String,
        /// What failed.
        detail: String,
    },
    /// RLIMIT_MEMLOCK is below what glommio needs.
    LockedMemory {
        /// The soft limit, bytes.
        limit: u64,
        /// What is needed, bytes.
        need: u64,
    },
    /// Anything else: the executor could not start.
    Executor(String),
}

impl fmt::Display for UringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UringError::Blocked { error } => write!(
                f,
                "io_uring is blocked: io_uring_setup failed ({error}) under this process's \
                 seccomp filter, and container runtimes' default profiles deny io_uring. \
                 Run with a profile that allows io_uring_setup, io_uring_enter and \
                 io_uring_register (docker/podman: --security-opt \
                 seccomp=deploy/seccomp-io_uring.json; Kubernetes: that file as a Localhost \
                 seccompProfile) and with locked memory (--ulimit memlock=-1); {SEE_CONTAINERS}"
            ),
            UringError::DisabledBySysctl { value, error } => write!(
                f,
                "io_uring is disabled on this host: kernel.io_uring_disabled={value} \
                 (io_uring_setup: {error}); set it to 0 (sysctl -w kernel.io_uring_disabled=0, \
                 and in /etc/sysctl.d to keep it); {SEE_CONTAINERS}"
            ),
            UringError::Unsupported { kernel, detail } => write!(
                f,
                "io_uring is not supported by this kernel (Linux {kernel}: {detail}); \
                 Linux 5.8 or newer is needed, and sandboxes such as gVisor do not provide \
                 io_uring; {SEE_CONTAINERS}"
            ),
            UringError::LockedMemory { limit, need } => write!(
                f,
                "the locked-memory limit (ulimit -l) is {} KiB, below the {} KiB io_uring \
                 needs here: raise it (ulimit -l unlimited; docker/podman --ulimit \
                 memlock=-1; systemd LimitMEMLOCK=infinity; memlock in \
                 /etc/security/limits.conf); {SEE_MEMLOCK}",
                limit / 1024,
                need.div_ceil(1024)
            ),
            UringError::Executor(e) => write!(
                f,
                "io_uring executor could not start: {e}; {SEE_CONTAINERS}"
            ),
        }
    }
}

impl std::error::Error for UringError {}

/// Check that a glommio executor with `io_memory` bytes of registered
/// buffers can start in this process. Call it after raising the memlock
/// limit and before binding any listener.
pub fn probe(io_memory: usize) -> Result<(), UringError> {
    let limit = memlock_limit();
    if limit < MIN_MEMLOCK {
        return Err(UringError::LockedMemory {
            limit,
            need: MIN_MEMLOCK,
        });
    }
    probe_syscalls(limit)?;
    probe_executor(io_memory)
}

/// RLIMIT_MEMLOCK's soft limit (what glommio checks).
fn memlock_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit on a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return u64::MAX;
    }
    lim.rlim_cur
}

/// `struct io_uring_params` is 120 bytes; zeroed asks for defaults.
const PARAMS_LEN: usize = 120;
/// `IORING_REGISTER_PROBE`.
const REGISTER_PROBE: libc::c_uint = 8;
/// Opcodes a probe may report (`struct io_uring_probe_op` is 8 bytes,
/// after a 16-byte header).
const PROBE_OPS: usize = 256;

/// `io_uring_setup` and `IORING_REGISTER_PROBE` by hand.
fn probe_syscalls(limit: u64) -> Result<(), UringError> {
    let mut params = [0u8; PARAMS_LEN];
    // SAFETY: io_uring_setup(2) with a zeroed params struct of the
    // kernel's size; the returned descriptor is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        let error = io::Error::last_os_error();
        return Err(classify_setup_error(error, limit));
    }
    let fd = fd as libc::c_int;
    let mut probe = vec![0u8; 16 + PROBE_OPS * 8];
    // SAFETY: io_uring_register(2) PROBE on our ring with a zeroed buffer
    // sized for PROBE_OPS entries.
    let registered = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            fd,
            REGISTER_PROBE,
            probe.as_mut_ptr(),
            PROBE_OPS as libc::c_uint,
        )
    };
    let register_error = io::Error::last_os_error();
    // SAFETY: closing the ring descriptor we own.
    unsafe { libc::close(fd) };
    if registered < 0 {
        return Err(match register_error.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => UringError::Blocked {
                error: register_error,
            },
            Some(libc::ENOSYS) if seccomp_filtered() => UringError::Blocked {
                error: register_error,
            },
            _ => UringError::Unsupported {
                kernel: kernel_release(),
                detail: format!("io_uring_register(PROBE) failed: {register_error}"),
            },
        });
    }
    Ok(())
}

/// Tell apart why `io_uring_setup` failed.
fn classify_setup_error(error: io::Error, limit: u64) -> UringError {
    let errno = error.raw_os_error().unwrap_or(0);
    let sysctl = io_uring_disabled();
    match errno {
        libc::EPERM | libc::EACCES if sysctl.is_some_and(|v| v != 0) => {
            UringError::DisabledBySysctl {
                value: sysctl.unwrap_or(0),
                error,
            }
        }
        libc::EPERM | libc::EACCES => UringError::Blocked { error },
        libc::ENOSYS if seccomp_filtered() => UringError::Blocked { error },
        libc::ENOSYS => UringError::Unsupported {
            kernel: kernel_release(),
            detail: format!("io_uring_setup: {error}"),
        },
        // Before Linux 5.12 the rings themselves are charged to memlock.
        libc::ENOMEM => UringError::LockedMemory {
            limit,
            need: limit.saturating_add(1).max(MIN_MEMLOCK),
        },
        _ => UringError::Executor(format!("io_uring_setup: {error}")),
    }
}

/// Whether a seccomp filter is installed on this process
/// (`Seccomp: 2` in /proc/self/status).
fn seccomp_filtered() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Seccomp:").map(|v| v.trim() == "2"))
        })
        .unwrap_or(false)
}

/// `kernel.io_uring_disabled` (Linux 6.6+), when the host has it.
fn io_uring_disabled() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `uname -r`.
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Start one glommio executor with `io_memory` on a throwaway thread, run
/// a trivial task on it, and drop it. glommio panics (rather than returning
/// an error) for some failures; the panic is caught and its message kept
/// out of stderr, which must carry one `FATAL` line only.
fn probe_executor(io_memory: usize) -> Result<(), UringError> {
    use std::sync::{Arc, Mutex, PoisonError};
    let message: Arc<Mutex<Option<String>>> = Arc::default();
    let previous = std::panic::take_hook();
    let caught = message.clone();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        *caught.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
    }));
    let outcome = std::thread::Builder::new()
        .name("io_uring-probe".into())
        .spawn(move || {
            let executor = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .io_memory(io_memory)
                .make()
                .map_err(|e| e.to_string())?;
            executor.run(async {});
            Ok::<(), String>(())
        })
        .map_err(|e| e.to_string())
        .and_then(|t| t.join().unwrap_or_else(|_| Err(String::new())));
    std::panic::set_hook(previous);
    outcome.map_err(|e| {
        let panicked = message
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        UringError::Executor(panicked.unwrap_or(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_runs_io_uring() {
        crate::raise_memlock();
        probe(64 * 1024).expect("the test machine runs glommio");
    }

    #[test]
    fn each_error_says_what_to_do() {
        let blocked = UringError::Blocked {
            error: io::Error::from_raw_os_error(libc::EPERM),
        }
        .to_string();
        assert!(blocked.contains("seccomp") && blocked.contains("seccomp-io_uring.json"));
        assert!(blocked.contains("memlock") && blocked.contains("kernel-tuning.md"));
        let memlock = UringError::LockedMemory {
            limit: 64 * 1024,
            need: MIN_MEMLOCK,
        }
        .to_string();
        assert!(memlock.contains("64 KiB") && memlock.contains("512 KiB"));
        assert!(memlock.contains("ulimit -l") && memlock.contains("kernel-tuning.md"));
        for e in [blocked, memlock] {
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn setup_errors_are_told_apart() {
        let e = classify_setup_error(io::Error::from_raw_os_error(libc::ENOMEM), 64 * 1024);
        assert!(matches!(e, UringError::LockedMemory { .. }));
        let e = classify_setup_error(io::Error::from_raw_os_error(libc::EPERM), 1 << 30);
        assert!(matches!(
            e,
            UringError::Blocked { .. } | UringError::DisabledBySysctl { .. }
        ));
    }
}
