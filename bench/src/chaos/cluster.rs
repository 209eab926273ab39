//! The daemons under test: start on fixed loopback ports (so clients and
//! nsqd's lookupd connections find a restarted daemon where it was), signal,
//! restart on the same data directory, reap unexpected exits, sample RSS
//! and open descriptors, and remember when a daemon could not answer
//! (stopped, flooded, starting): those windows excuse a slow answer.
//!
//! Children are spawned from one long-lived thread with `PR_SET_PDEATHSIG`,
//! so they die with the harness however it ends, and with the open-file
//! limit the flood fault fills.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::chaos::clock::Clock;
use crate::chaos::schedule::Target;
use crate::procstat;

/// How to run one daemon.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `nsqd0`, `nsqlookupd`, ...
    pub name: String,
    /// The binary.
    pub bin: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// TCP listener.
    pub tcp: SocketAddr,
    /// HTTP listener.
    pub http: SocketAddr,
    /// HTTPS listener, if any.
    pub https: Option<SocketAddr>,
    /// Its stderr goes here (appended across restarts; stdout is dropped).
    pub log: PathBuf,
    /// At most this many bytes of it (a daemon that logs every failed
    /// accept of a flood can fill a disk).
    pub log_cap: u64,
    /// `RLIMIT_NOFILE` (soft and hard).
    pub fd_limit: u64,
}

/// One `/proc` reading.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When, ms.
    pub ms: u64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Open descriptors.
    pub fds: u64,
}

/// Why a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Our SIGKILL.
    Killed,
    /// Our SIGTERM during the run.
    Terminated,
    /// Our SIGTERM at the end of the run.
    Shutdown,
    /// Nobody asked it to.
    Unexpected,
}

/// How a process ended.
#[derive(Debug, Clone)]
pub struct Exit {
    /// `exit 0`, `signal 9`, ...
    pub status: String,
    /// Why.
    pub cause: Cause,
    /// As expected for the cause (SIGKILL: signal 9; SIGTERM: exit 0).
    pub ok: bool,
    /// When, ms.
    pub ms: u64,
}

impl Exit {
    fn new(status: ExitStatus, cause: Cause, ms: u64) -> Exit {
        let text = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "unknown".to_string(),
        };
        let ok = match cause {
            Cause::Killed => status.signal() == Some(libc::SIGKILL) || status.code().is_some(),
            Cause::Terminated | Cause::Shutdown => status.code() == Some(0),
            Cause::Unexpected => false,
        };
        Exit {
            status: text,
            cause,
            ok,
            ms,
        }
    }
}

/// One process of a daemon (it is restarted many times).
#[derive(Debug, Clone)]
pub struct Life {
    /// Its PID.
    pub pid: u32,
    /// Spawned, ms.
    pub started_ms: u64,
    /// Answering, ms.
    pub ready_ms: Option<u64>,
    /// How it ended.
    pub exit: Option<Exit>,
    /// `/proc` readings, one a second.
    pub samples: Vec<Sample>,
}

#[derive(Debug, Default)]
struct State {
    child: Option<Child>,
    lives: Vec<Life>,
    expect: Option<Cause>,
    /// Windows in which it could not answer: (from, until) ms.
    excused: Vec<(u64, Option<u64>)>,
    stopped: bool,
}

/// A daemon and its history.
#[derive(Debug)]
pub struct Daemon {
    /// How it is run.
    pub spec: Spec,
    state: Mutex<State>,
    /// Bytes of output so far (see [`Spec::log_cap`]).
    log_written: Arc<AtomicU64>,
}

/// Starts children from one thread that lives as long as the harness
/// (`PR_SET_PDEATHSIG` fires when the spawning *thread* exits).
#[derive(Debug)]
pub struct Spawner {
    tx: Mutex<mpsc::Sender<(Spec, mpsc::Sender<std::io::Result<Child>>)>>,
}

impl Spawner {
    /// Start the spawning thread.
    pub fn new() -> Spawner {
        let (tx, rx) = mpsc::channel::<(Spec, mpsc::Sender<std::io::Result<Child>>)>();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                for (spec, reply) in rx {
                    let _ = reply.send(spawn(&spec));
                }
                // Outlive everything: the children die with this thread.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn thread");
        Spawner { tx: Mutex::new(tx) }
    }

    fn spawn(&self, spec: &Spec) -> std::io::Result<Child> {
        let (tx, rx) = mpsc::channel();
        lock(&self.tx)
            .send((spec.clone(), tx))
            .map_err(|_| std::io::Error::other("spawner gone"))?;
        rx.recv()
            .map_err(|_| std::io::Error::other("spawner gone"))?
    }
}

impl Default for Spawner {
    fn default() -> Self {
        Self::new()
    }
}

fn spawn(spec: &Spec) -> std::io::Result<Child> {
    let limit = spec.fd_limit;
    let mut cmd = Command::new(&spec.bin);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (prctl, setrlimit) between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            Ok(())
        });
    }
    cmd.spawn()
}

/// Copy a child's stderr to `path` until it ends, keeping at most `cap`
/// bytes of the daemon's output (all its processes together, counted in
/// `written`).
fn copy_log(mut from: ChildStderr, path: PathBuf, written: Arc<AtomicU64>, cap: u64) {
    let copy = move || {
        let mut file = File::options().create(true).append(true).open(&path).ok();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let before = written.fetch_add(n as u64, Ordering::Relaxed);
            let Some(f) = file.as_mut().filter(|_| before < cap) else {
                continue;
            };
            let keep = (cap - before).min(n as u64) as usize;
            let _ = f.write_all(&buf[..keep]);
            if before + n as u64 >= cap {
                let _ = writeln!(
                    f,
                    "\n[nsq-chaos] log capped at {} MiB: the rest of this daemon's output is dropped",
                    cap >> 20
                );
            }
        }
    };
    let _ = std::thread::Builder::new()
        .name("daemon-log".into())
        .spawn(copy);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Ask `GET /ping` over plain HTTP; true on any answer.
pub fn http_answers(addr: SocketAddr, within: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, within) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(within));
    let _ = s.set_write_timeout(Some(within));
    if s.write_all(b"GET /ping HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut b = [0u8; 16];
    matches!(s.read(&mut b), Ok(n) if n > 0)
}

impl Daemon {
    /// A daemon not started yet.
    pub fn new(spec: Spec) -> Daemon {
        Daemon {
            spec,
            state: Mutex::new(State::default()),
            log_written: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Spawn it and wait (at most `within`) until its TCP port accepts and
    /// its HTTP port answers. On failure the process is killed and `Err`
    /// says why (its log is in `spec.log`).
    pub fn start(&self, clock: &Clock, spawner: &Spawner, within: Duration) -> Result<(), String> {
        let mut child = spawner
            .spawn(&self.spec)
            .map_err(|e| format!("{}: spawn {}: {e}", self.spec.name, self.spec.bin.display()))?;
        if let Some(err) = child.stderr.take() {
            copy_log(
                err,
                self.spec.log.clone(),
                self.log_written.clone(),
                self.spec.log_cap,
            );
        }
        let now = clock.ms();
        {
            let mut st = lock(&self.state);
            st.lives.push(Life {
                pid: child.id(),
                started_ms: now,
                ready_ms: None,
                exit: None,
                samples: Vec::new(),
            });
            st.child = Some(child);
            st.expect = None;
            st.stopped = false;
            st.excused.push((now, None));
        }
        let r = self.wait_ready(clock, within);
        let mut st = lock(&self.state);
        let end = clock.ms();
        if let Some(w) = st.excused.last_mut() {
            w.1 = Some(end);
        }
        if r.is_ok() {
            if let Some(l) = st.lives.last_mut() {
                l.ready_ms = Some(end);
            }
        } else if let Some(mut c) = st.child.take() {
            let _ = c.kill();
            if let Ok(status) = c.wait() {
                if let Some(l) = st.lives.last_mut() {
                    l.exit
                        .get_or_insert(Exit::new(status, Cause::Unexpected, end));
                }
            }
        }
        r
    }

    fn wait_ready(&self, clock: &Clock, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            {
                let mut st = lock(&self.state);
                if let Some(c) = st.child.as_mut() {
                    if let Ok(Some(status)) = c.try_wait() {
                        st.child = None;
                        let e = Exit::new(status, Cause::Unexpected, clock.ms());
                        let text = e.status.clone();
                        if let Some(l) = st.lives.last_mut() {
                            l.exit = Some(e);
                        }
                        return Err(format!(
                            "{} exited while starting ({text}); see {}",
                            self.spec.name,
                            self.spec.log.display()
                        ));
                    }
                }
            }
            let tcp =
                TcpStream::connect_timeout(&self.spec.tcp, Duration::from_millis(500)).is_ok();
            if tcp && http_answers(self.spec.http, Duration::from_secs(1)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not answer on {} / {} within {within:?}; see {}",
                    self.spec.name,
                    self.spec.tcp,
                    self.spec.http,
                    self.spec.log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The running process's PID.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.state).child.as_ref().map(|c| c.id())
    }

    /// Whether a process is running (or stopped).
    pub fn running(&self) -> bool {
        lock(&self.state).child.is_some()
    }

    fn signal_locked(st: &State, sig: i32) -> bool {
        match &st.child {
            Some(c) => {
                // SAFETY: kill(2) on our own, not yet reaped child.
                unsafe { libc::kill(c.id() as i32, sig) == 0 }
            }
            None => false,
        }
    }

    /// SIGKILL and reap; the exit, or `None` if it was not running.
    pub fn kill(&self, clock: &Clock) -> Option<Exit> {
        {
            let mut st = lock(&self.state);
            st.expect = Some(Cause::Killed);
            if !Self::signal_locked(&st, libc::SIGKILL) {
                return None;
            }
        }
        self.wait_exit(clock, Duration::from_secs(30)).ok()
    }

    /// SIGTERM and wait up to `within`; `Err` (after a SIGKILL) if it did
    /// not exit in time: a hung shutdown.
    pub fn terminate(&self, clock: &Clock, within: Duration, cause: Cause) -> Result<Exit, String> {
        {
            let mut st = lock(&self.state);
            st.expect = Some(cause);
            if st.stopped {
                Self::signal_locked(&st, libc::SIGCONT);
                st.stopped = false;
            }
            if !Self::signal_locked(&st, libc::SIGTERM) {
                return Err(format!("{} is not running", self.spec.name));
            }
        }
        match self.wait_exit(clock, within) {
            Ok(e) => Ok(e),
            Err(()) => {
                let _ = self.kill(clock);
                Err(format!(
                    "{} did not exit within {within:?} of SIGTERM (killed); see {}",
                    self.spec.name,
                    self.spec.log.display()
                ))
            }
        }
    }

    fn wait_exit(&self, clock: &Clock, within: Duration) -> Result<Exit, ()> {
        let deadline = Instant::now() + within;
        loop {
            {
                let mut st = lock(&self.state);
                let exited = match st.child.as_mut() {
                    Some(c) => c.try_wait().ok().flatten(),
                    None => return Err(()),
                };
                if let Some(status) = exited {
                    let cause = st.expect.take().unwrap_or(Cause::Unexpected);
                    return Ok(Self::record_exit(&mut st, status, cause, clock.ms()));
                }
            }
            if Instant::now() >= deadline {
                return Err(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn record_exit(st: &mut State, status: ExitStatus, cause: Cause, ms: u64) -> Exit {
        st.child = None;
        st.stopped = false;
        let e = Exit::new(status, cause, ms);
        if let Some(l) = st.lives.last_mut() {
            l.exit = Some(e.clone());
        }
        e
    }

    /// An exit nobody asked for, if it happened.
    pub fn reap(&self, clock: &Clock) -> Option<Exit> {
        let mut st = lock(&self.state);
        if st.expect.is_some() {
            return None;
        }
        let status = st.child.as_mut()?.try_wait().ok().flatten()?;
        Some(Self::record_exit(
            &mut st,
            status,
            Cause::Unexpected,
            clock.ms(),
        ))
    }

    /// SIGSTOP (excused until [`Daemon::cont`]).
    pub fn stop(&self, clock: &Clock) -> bool {
        let mut st = lock(&self.state);
        if !Self::signal_locked(&st, libc::SIGSTOP) {
            return false;
        }
        st.stopped = true;
        st.excused.push((clock.ms(), None));
        true
    }

    /// SIGCONT; answers are excused for `grace` more.
    pub fn cont(&self, clock: &Clock, grace: Duration) {
        let mut st = lock(&self.state);
        Self::signal_locked(&st, libc::SIGCONT);
        st.stopped = false;
        let end = clock.ms() + grace.as_millis() as u64;
        if let Some(w) = st.excused.iter_mut().rev().find(|w| w.1.is_none()) {
            w.1 = Some(end);
        }
    }

    /// Start excusing slow answers (a flood is under way).
    pub fn excuse_begin(&self, clock: &Clock) {
        lock(&self.state).excused.push((clock.ms(), None));
    }

    /// Stop excusing them `grace` from now.
    pub fn excuse_end(&self, clock: &Clock, grace: Duration) {
        let end = clock.ms() + grace.as_millis() as u64;
        let mut st = lock(&self.state);
        if let Some(w) = st.excused.iter_mut().rev().find(|w| w.1.is_none()) {
            w.1 = Some(end);
        }
    }

    /// Milliseconds of `from..to` in which it was excused.
    pub fn excused_ms(&self, from: u64, to: u64) -> u64 {
        let st = lock(&self.state);
        overlap(&st.excused, from, to)
    }

    /// Take a `/proc` reading of the running process.
    pub fn sample(&self, clock: &Clock) {
        let Some(pid) = self.pid() else { return };
        let Some(mem) = procstat::Target::Pid(pid).memory() else {
            return;
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        let s = Sample {
            ms: clock.ms(),
            rss_kib: mem.rss_kib,
            fds,
        };
        let mut st = lock(&self.state);
        if let Some(l) = st.lives.last_mut().filter(|l| l.pid == pid) {
            l.samples.push(s);
        }
    }

    /// Every process it has had.
    pub fn lives(&self) -> Vec<Life> {
        lock(&self.state).lives.clone()
    }
}

/// Total overlap of `from..to` with the windows (open ones run to `to`).
pub fn overlap(windows: &[(u64, Option<u64>)], from: u64, to: u64) -> u64 {
    let mut spans: Vec<(u64, u64)> = windows
        .iter()
        .map(|&(a, b)| (a.max(from), b.unwrap_or(to).min(to)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let mut total = 0;
    let mut reach = from;
    for (a, b) in spans {
        let a = a.max(reach);
        if b > a {
            total += b - a;
            reach = b;
        }
    }
    total
}

/// The daemons of a run.
#[derive(Debug)]
pub struct Cluster {
    /// The nsqds.
    pub nsqds: Vec<Arc<Daemon>>,
    /// The nsqlookupd, if any.
    pub lookupd: Option<Arc<Daemon>>,
    /// Where children come from.
    pub spawner: Spawner,
}

impl Cluster {
    /// The daemon a fault aims at.
    pub fn daemon(&self, t: Target) -> Option<&Arc<Daemon>> {
        match t {
            Target::Nsqd(i) => self.nsqds.get(i),
            Target::Lookupd => self.lookupd.as_ref(),
        }
    }

    /// Every daemon, lookupd first.
    pub fn all(&self) -> Vec<Arc<Daemon>> {
        self.lookupd
            .iter()
            .chain(self.nsqds.iter())
            .cloned()
            .collect()
    }
}

/// A small tmpfs holding one nsqd's data directory, which the disk fault
/// fills and frees.
#[derive(Debug)]
pub struct SmallDisk {
    /// The mount point.
    pub mount: PathBuf,
}

impl SmallDisk {
    /// `mount -t tmpfs -o size=<mib>m` on `mount` (created); `Err` says why
    /// it could not (not root, no mount in this container).
    pub fn mount(mount: &Path, mib: u64) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(mount).map_err(|e| format!("mkdir {}: {e}", mount.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(mount)
            .output()
            .map_err(|e| format!("run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs on {}: {}",
                mount.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk {
            mount: mount.to_path_buf(),
        })
    }

    fn filler(&self) -> PathBuf {
        self.mount.join("chaos-filler")
    }

    /// Write until the file system is full; bytes written.
    pub fn fill(&self) -> std::io::Result<u64> {
        let mut f = File::create(self.filler())?;
        let chunk = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(e),
            }
        }
        // Whatever is left under a page: fill it byte by byte.
        while let Ok(n) = f.write(&[0u8]) {
            if n == 0 {
                break;
            }
            total += 1;
        }
        Ok(total)
    }

    /// Free the space again.
    pub fn free(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.filler()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.free();
        let _ = Command::new("umount").arg(&self.mount).output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_of_windows() {
        let w = [(10, Some(20)), (15, Some(30)), (50, None)];
        assert_eq!(overlap(&w, 0, 100), 20 + 50);
        assert_eq!(overlap(&w, 25, 60), 5 + 10);
        assert_eq!(overlap(&w, 31, 49), 0);
        assert_eq!(overlap(&[], 0, 10), 0);
    }
}
