//! A daemon binary started for a test: its stderr collected, its
//! `TCP: listening on` / `HTTP: listening on` addresses awaited with a
//! bounded wait, stopped by PID on drop (its log printed if the test fails).

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::lines::Lines;
use crate::process;

/// Which `listening on` lines to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// `TCP: listening on <addr>`.
    pub tcp: bool,
    /// `HTTP: listening on <addr>`.
    pub http: bool,
}

impl Listen {
    /// Both the TCP and the HTTP listener.
    pub const TCP_HTTP: Listen = Listen {
        tcp: true,
        http: true,
    };
    /// Only the TCP listener.
    pub const TCP: Listen = Listen {
        tcp: true,
        http: false,
    };
    /// Only the HTTP listener.
    pub const HTTP: Listen = Listen {
        tcp: false,
        http: true,
    };
}

/// A running daemon, killed on drop.
pub struct Daemon {
    name: String,
    child: Child,
    stderr: Lines,
    /// The `TCP: listening on` address, once seen.
    pub tcp: Option<SocketAddr>,
    /// The `HTTP: listening on` address, once seen.
    pub http: Option<SocketAddr>,
}

/// The address of a `<kind>: listening on <addr>` line.
fn listening(kind: &str, line: &str) -> Option<SocketAddr> {
    let addr = line.split(&format!("{kind}: listening on ")).nth(1)?;
    addr.trim().parse().ok()
}

impl Daemon {
    /// Spawn `bin` with `args`: stdin and stdout null, stderr collected.
    /// Panics if it cannot be spawned.
    pub fn spawn<S: AsRef<OsStr>>(bin: &Path, args: &[S]) -> Daemon {
        Daemon::spawn_with(bin, args, None)
    }

    /// [`Daemon::spawn`] with `cwd` as its working directory (as a user
    /// starts a daemon with nothing but its addresses, in some directory).
    pub fn spawn_in<S: AsRef<OsStr>>(bin: &Path, args: &[S], cwd: &Path) -> Daemon {
        Daemon::spawn_with(bin, args, Some(cwd))
    }

    fn spawn_with<S: AsRef<OsStr>>(bin: &Path, args: &[S], cwd: Option<&Path>) -> Daemon {
        process::raise_memlock();
        let name = bin.file_name().map_or_else(
            || bin.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut command = Command::new(bin);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stderr = Lines::collect(child.stderr.take().expect("stderr"));
        Daemon {
            name,
            child,
            stderr,
            tcp: None,
            http: None,
        }
    }

    /// [`Daemon::spawn`], then [`Daemon::wait_listening`]; if that fails,
    /// the process is killed and `Err` holds its whole log.
    pub fn start<S: AsRef<OsStr>>(
        bin: &Path,
        args: &[S],
        want: Listen,
        within: Duration,
    ) -> Result<Daemon, String> {
        Daemon::started(Daemon::spawn(bin, args), want, within)
    }

    /// [`Daemon::start`] with `cwd` as the working directory.
    pub fn start_in<S: AsRef<OsStr>>(
        bin: &Path,
        args: &[S],
        cwd: &Path,
        want: Listen,
        within: Duration,
    ) -> Result<Daemon, String> {
        Daemon::started(Daemon::spawn_in(bin, args, cwd), want, within)
    }

    fn started(mut daemon: Daemon, want: Listen, within: Duration) -> Result<Daemon, String> {
        match daemon.wait_listening(want, within) {
            Ok(()) => Ok(daemon),
            Err(_) => {
                process::kill(&mut daemon.child);
                // The reader ends at EOF; give it a bounded wait.
                daemon.stderr.wait_ended(Duration::from_secs(2));
                Err(daemon.log())
            }
        }
    }

    /// Wait (at most `within`) for the wanted `listening on` lines and keep
    /// their addresses; `Err` (saying which) if it exits or time runs out
    /// first.
    pub fn wait_listening(&mut self, want: Listen, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        for (kind, wanted) in [("TCP", want.tcp), ("HTTP", want.http)] {
            // Not wanted: only what is already there.
            let until = if wanted { deadline } else { Instant::now() };
            let addr = self.stderr.wait_for(until, |line| listening(kind, line));
            if wanted && addr.is_none() {
                return Err(format!(
                    "{} logged no `{kind}: listening on` line within {within:?}",
                    self.name
                ));
            }
            match kind {
                "TCP" => self.tcp = addr,
                _ => self.http = addr,
            }
        }
        Ok(())
    }

    /// The first stderr line (from the start) for which `f` returns `Some`,
    /// waiting at most `within`; `None` if it exits or time runs out first.
    pub fn wait_for_line<T>(
        &self,
        within: Duration,
        f: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        self.stderr.wait_for(Instant::now() + within, f)
    }

    /// The binary's file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its stderr lines so far, joined with `\n`.
    pub fn log(&self) -> String {
        self.stderr.text()
    }

    /// Send `sig`.
    pub fn signal(&self, sig: i32) {
        process::signal(&self.child, sig);
    }

    /// SIGTERM and a bounded wait; the exit status, `None` if still running.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        process::terminate(&mut self.child, within)
    }

    /// SIGKILL and reap, if still running.
    pub fn kill(&mut self) {
        process::kill(&mut self.child);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        process::kill(&mut self.child);
        if std::thread::panicking() {
            let at = self.tcp.or(self.http).map(|a| format!(" {a}"));
            eprintln!(
                "---- {}{} log ----\n{}",
                self.name,
                at.unwrap_or_default(),
                self.log()
            );
        }
    }
}
