//! The daemons as a `Type=notify` systemd unit sees them: each sends
//! `READY=1` to `$NOTIFY_SOCKET`, and by then its HTTP port answers `/ping`
//! (checked with `nsq_ping`, the image's health check). The daemons are
//! the workspace's sibling binaries (`cargo build --workspace --bins`).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use nsq_test_support::{process, sibling_bin, Lines, TempDir, WAIT};

fn nsq_ping() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsq_ping"))
}

fn daemon(name: &str) -> PathBuf {
    sibling_bin(nsq_ping(), name)
}

/// A daemon started with `NOTIFY_SOCKET` set, killed on drop.
struct Notified {
    child: Child,
    stderr: Lines,
}

impl Drop for Notified {
    fn drop(&mut self) {
        process::kill(&mut self.child);
        if std::thread::panicking() {
            eprintln!("---- daemon log ----\n{}", self.stderr.text());
        }
    }
}

/// Start `bin` with `args` under a notify socket in `dir`; wait for its
/// first datagram. Returns the daemon and what it sent.
fn start_notified(dir: &TempDir, bin: &Path, args: &[&str]) -> (Notified, String) {
    process::raise_memlock();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let mut child = Command::new(bin)
        .args(args)
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let stderr = Lines::collect(child.stderr.take().unwrap());
    let notified = Notified { child, stderr };
    let mut buf = [0u8; 256];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("{} sent nothing to NOTIFY_SOCKET: {e}", bin.display()));
    (notified, String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The address of the `HTTP: listening on` line (logged before READY=1).
fn http_address(d: &Notified) -> String {
    d.stderr
        .wait_for(Instant::now() + WAIT, |line| {
            line.split("HTTP: listening on ")
                .nth(1)
                .map(|a| a.trim().to_string())
        })
        .expect("an `HTTP: listening on` line")
}

fn ping(target: &str) -> (bool, String) {
    let out = Command::new(nsq_ping())
        .args(["--timeout=5", target])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_ready_then_pingable(name: &str, args: &[&str]) {
    let dir = TempDir::new("nsq-readiness");
    let (d, state) = start_notified(&dir, &daemon(name), args);
    assert_eq!(state, "READY=1\n", "{name}");
    let http = http_address(&d);
    let (ok, err) = ping(&format!("http://{http}/ping"));
    assert!(ok, "{name} was READY but /ping failed: {err}");
}

#[test]
fn nsqd_is_ready_once_it_serves() {
    let data = TempDir::new("nsq-readiness-data");
    let data_path = format!("--data-path={}", data.path().display());
    assert_ready_then_pingable(
        "nsqd",
        &[
            "--tcp-address=127.0.0.1:0",
            "--http-address=127.0.0.1:0",
            &data_path,
        ],
    );
}

#[test]
fn nsqlookupd_is_ready_once_it_serves() {
    assert_ready_then_pingable(
        "nsqlookupd",
        &["--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"],
    );
}

#[test]
fn nsqadmin_is_ready_once_it_serves() {
    let lookupd = format!("--lookupd-http-address={}", nsq_test_support::dead_addr());
    assert_ready_then_pingable("nsqadmin", &["--http-address=127.0.0.1:0", &lookupd]);
}

#[test]
fn nsq_ping_fails_where_nobody_answers() {
    let dead = nsq_test_support::dead_addr();
    let (ok, err) = ping(&dead);
    assert!(!ok);
    assert!(
        err.starts_with(&format!("nsq_ping: {dead}: connect")),
        "{err}"
    );
    let (ok, err) = ping("not-an-address");
    assert!(!ok);
    assert!(err.contains("invalid target"), "{err}");
}

#[test]
fn without_a_notify_socket_nothing_is_sent() {
    // The variable is unset for this child only.
    let mut child = Command::new(daemon("nsqlookupd"))
        .args(["--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"])
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Lines::collect(child.stderr.take().unwrap());
    let d = Notified { child, stderr };
    let http = http_address(&d);
    let (ok, err) = ping(&http);
    assert!(ok, "{err}");
    assert!(
        !d.stderr.text().contains("sd_notify"),
        "{}",
        d.stderr.text()
    );
}
