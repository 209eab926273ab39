//! Start a daemon in a hostile environment, as containers and locked-down
//! hosts give it: a seccomp filter that denies `io_uring_setup` (what the
//! container runtimes' default profiles do), or small resource limits.
//! Both are applied in the child between fork and exec.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// `AUDIT_ARCH_*` of this build's architecture (the filter checks it, so
/// a system call number is never read for the wrong ABI).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
/// `offsetof(struct seccomp_data, nr)` and `arch`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Make `command`'s process fail `io_uring_setup` with `errno` (`EPERM`
/// as Docker's default profile, `ENOSYS` as podman's), allowing every other
/// system call.
pub fn deny_io_uring_setup(command: &mut Command, errno: i32) -> &mut Command {
    let filter = [
        insn(BPF_LD_W_ABS, 0, 0, DATA_ARCH),
        insn(BPF_JEQ_K, 0, 3, AUDIT_ARCH),
        insn(BPF_LD_W_ABS, 0, 0, DATA_NR),
        insn(BPF_JEQ_K, 0, 1, libc::SYS_io_uring_setup as u32),
        insn(
            BPF_RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & 0xffff),
        ),
        insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe system calls (prctl, seccomp) on memory it
    // owns.
    unsafe {
        command.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let done = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            );
            if done != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Set `command`'s `resource` limit (soft and hard) to `value`, so the
/// child cannot raise it.
pub fn limit(
    command: &mut Command,
    resource: libc::__rlimit_resource_t,
    value: u64,
) -> &mut Command {
    // SAFETY: setrlimit in the forked child before exec.
    unsafe {
        command.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            if libc::setrlimit(resource, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}
