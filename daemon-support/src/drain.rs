//! Drain an nsqd and wait until it has stopped: what the `nsq_drain`
//! binary runs, for a Kubernetes `preStop` hook in an image without a shell
//! or curl (docs/compatibility.md#draining).
//!
//! `POST /drain[?timeout=]`, then `GET /ping` every half second until
//! nsqd no longer accepts connections: it drained (or its drain timed out)
//! and shut down.

use std::time::{Duration, Instant};

use crate::ping::{ping, request, PingError, Target};

/// Why the drain did not end in a stopped nsqd.
#[derive(Debug)]
pub enum DrainError {
    /// `POST /drain` failed.
    Start(PingError),
    /// nsqd still answers after the wait.
    StillRunning(Duration),
}

impl std::fmt::Display for DrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DrainError::Start(e) => write!(f, "POST /drain failed - {e}"),
            DrainError::StillRunning(d) => write!(f, "still running after {d:?}"),
        }
    }
}

impl std::error::Error for DrainError {}

/// Start draining the nsqd at `authority` (`host:port` of its HTTP API),
/// with `timeout` (a Go duration such as `5m`; `None`: nsqd's
/// `--drain-timeout`), and wait at most `wait` for it to stop.
pub fn drain_and_wait(
    authority: &str,
    timeout: Option<&str>,
    wait: Duration,
) -> Result<(), DrainError> {
    let started = Instant::now();
    let mut path = "/drain".to_string();
    if let Some(t) = timeout {
        path.push_str("?timeout=");
        path.push_str(t);
    }
    let with_path = |path: &str| format!("{authority}{path}");
    let drain = Target::parse(&with_path(&path)).map_err(DrainError::Start)?;
    request(&drain, "POST", Duration::from_secs(5)).map_err(DrainError::Start)?;
    let probe = Target::parse(&with_path("/ping")).map_err(DrainError::Start)?;
    while started.elapsed() < wait {
        if let Err(PingError::Connect(..)) = ping(&probe, Duration::from_secs(2)) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(DrainError::StillRunning(wait))
}
