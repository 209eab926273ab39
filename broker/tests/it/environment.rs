//! Hosts where the daemons cannot run: io_uring denied by a seccomp filter
//! (as under a container runtime's default profile), or too little locked
//! memory. nsqd and nsqlookupd must exit 1 within 5 s with one `FATAL`
//! line that names the cause and the fix, having listened on nothing;
//! nsqadmin, which needs no io_uring, must run there.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nsq_test_support::sandbox;

use crate::harness::*;

/// How long a daemon that cannot run may take to say so.
const EXIT_WITHIN: Duration = Duration::from_secs(5);

fn bin(name: &str) -> std::path::PathBuf {
    nsq_test_support::sibling_bin(nsqd_bin(), name)
}

/// A daemon's command with only loopback addresses, in an empty directory.
fn command(name: &str, cwd: &std::path::Path) -> Command {
    let mut c = Command::new(bin(name));
    c.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match name {
        "nsqadmin" => c.args([
            "--http-address=127.0.0.1:0",
            "--nsqd-http-address=127.0.0.1:9",
        ]),
        _ => c.args(["--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"]),
    };
    c
}

/// Run to its exit (bounded by `EXIT_WITHIN`); its status and stderr.
fn run_to_exit(mut command: Command) -> (std::process::ExitStatus, String) {
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = nsq_test_support::process::wait_exit(&mut child, EXIT_WITHIN);
    let Some(status) = status else {
        nsq_test_support::process::kill(&mut child);
        panic!(
            "still running after {EXIT_WITHIN:?}:\n{}",
            reader.join().unwrap_or_default()
        );
    };
    let log = reader.join().expect("stderr reader");
    assert!(started.elapsed() <= EXIT_WITHIN + Duration::from_millis(500));
    (status, log)
}

/// Exit status 1, exactly one `FATAL` line containing every `needle`,
/// and no listener opened.
fn assert_fatal(status: std::process::ExitStatus, log: &str, needles: &[&str]) {
    assert_eq!(status.code(), Some(1), "exit status; log:\n{log}");
    let fatal: Vec<&str> = log.lines().filter(|l| l.contains("FATAL")).collect();
    assert_eq!(fatal.len(), 1, "one FATAL line; log:\n{log}");
    for needle in needles {
        assert!(fatal[0].contains(needle), "{needle:?} in {:?}", fatal[0]);
    }
    assert!(
        !log.contains("listening on"),
        "listened before failing:\n{log}"
    );
    assert!(
        !log.contains("panicked"),
        "a panic instead of FATAL:\n{log}"
    );
}

fn under_seccomp_denying_io_uring(name: &str, errno: i32) -> (std::process::ExitStatus, String) {
    let dir = TempDir::new();
    let mut c = command(name, dir.path());
    sandbox::deny_io_uring_setup(&mut c, errno);
    run_to_exit(c)
}

/// `daemon` under a seccomp profile answering each of `errnos` to io_uring
/// exits with one FATAL line naming `io_uring`, the profile, `extra` and
/// the tuning guide.
fn exits_without_io_uring(daemon: &str, errnos: &[i32], extra: &[&str]) {
    let mut words = vec!["io_uring", "seccomp", "seccomp-io_uring.json"];
    words.extend_from_slice(extra);
    words.push("kernel-tuning.md");
    for &errno in errnos {
        let (status, log) = under_seccomp_denying_io_uring(daemon, errno);
        assert_fatal(status, &log, &words);
    }
}

#[test]
fn nsqd_without_io_uring_exits_with_one_fatal_line_naming_the_seccomp_profile() {
    // Docker's default profile answers EPERM, podman's ENOSYS.
    exits_without_io_uring("nsqd", &[libc::EPERM, libc::ENOSYS], &["memlock"]);
}

#[test]
fn nsqlookupd_without_io_uring_exits_with_one_fatal_line() {
    exits_without_io_uring("nsqlookupd", &[libc::EPERM], &[]);
}

#[test]
fn nsqd_and_nsqlookupd_with_too_little_locked_memory_exit_saying_ulimit() {
    for name in ["nsqd", "nsqlookupd"] {
        let dir = TempDir::new();
        let mut c = command(name, dir.path());
        sandbox::limit(&mut c, libc::RLIMIT_MEMLOCK, 64 * 1024);
        let (status, log) = run_to_exit(c);
        assert_fatal(
            status,
            &log,
            &["ulimit -l", "64 KiB", "memlock", "kernel-tuning.md"],
        );
    }
}

#[test]
fn nsqadmin_needs_no_io_uring_and_runs_under_that_filter() {
    let dir = TempDir::new();
    let mut c = command("nsqadmin", dir.path());
    sandbox::deny_io_uring_setup(&mut c, libc::EPERM);
    c.stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn nsqadmin");
    let lines = nsq_test_support::Lines::collect(child.stderr.take().expect("stderr"));
    let addr = lines.wait_for(Instant::now() + WAIT, |l| {
        l.split("HTTP: listening on ")
            .nth(1)
            .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())
    });
    let answered =
        addr.map(|a| nsq_test_support::http::request(a, "GET", "/ping", &[], b"", WAIT).status);
    nsq_test_support::process::kill(&mut child);
    assert_eq!(answered, Some(200), "nsqadmin log:\n{}", lines.text());
}

/// Start `command`; within `EXIT_WITHIN` it either exits (status and log)
/// or is still running (`None`, then killed).
fn exit_or_run(mut command: Command) -> (Option<std::process::ExitStatus>, String) {
    let mut child = command.spawn().expect("spawn");
    let lines = nsq_test_support::Lines::collect(child.stderr.take().expect("stderr"));
    let status = nsq_test_support::process::wait_exit(&mut child, EXIT_WITHIN);
    nsq_test_support::process::kill(&mut child);
    lines.wait_ended(Duration::from_secs(2));
    (status, lines.text())
}

#[test]
fn a_shard_that_panics_at_start_ends_nsqd_with_a_fatal_line() {
    // Few file descriptors make a shard's executor fail (and panic inside
    // glommio) after the probe and the first shard started. Where exactly
    // depends on what the process inherits, so every limit of a range is
    // tried: each either fails at once with one FATAL line and status 1,
    // or runs; none may leave nsqd alive with a dead shard.
    let mut shard_panics = 0;
    for nofile in 8..=20u64 {
        let dir = TempDir::new();
        let mut c = command("nsqd", dir.path());
        c.arg("--shards=4");
        sandbox::limit(&mut c, libc::RLIMIT_NOFILE, nofile);
        let (status, log) = exit_or_run(c);
        let Some(status) = status else {
            continue;
        };
        assert_eq!(status.code(), Some(1), "nofile {nofile}:\n{log}");
        let fatal: Vec<&str> = log.lines().filter(|l| l.contains("FATAL")).collect();
        assert_eq!(fatal.len(), 1, "nofile {nofile}: one FATAL line:\n{log}");
        if fatal[0].contains("panicked") {
            shard_panics += 1;
        }
    }
    assert!(shard_panics > 0, "no limit made a shard panic at start");
}
