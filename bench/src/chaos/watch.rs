//! "Every request answered, or its connection closed, within its timeout."
//!
//! Long-lived connections register a [`Watch`]: the client marks a request
//! sent and answered, and its reader notes every frame. A watchdog thread
//! looks at them all a few times a second: a request outstanding longer
//! than the timeout, or a consumer that has heard nothing (not even a
//! heartbeat) for that long, is *unanswered*: counted, logged, and its
//! socket shut down so the client carries on. One-shot exchanges (HTTP,
//! hostile probes) report their [`Outcome`] directly.
//!
//! Time in which the daemon could not answer (SIGSTOP, a connection flood
//! of its fd limit, a restart) does not count against it: it is taken out
//! of the elapsed time (see [`crate::chaos::cluster::Daemon::excused_ms`]).

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::chaos::clock::Clock;
use crate::chaos::cluster::Cluster;
use crate::chaos::schedule::Target;

const NONE: u64 = u64::MAX;

/// One connection under watch.
#[derive(Debug)]
pub struct Watch {
    target: Target,
    what: String,
    sock: TcpStream,
    /// When the oldest unanswered request was sent (NONE: none).
    pending_since: AtomicU64,
    pending_what: Mutex<&'static str>,
    /// When the last frame arrived.
    last_rx: AtomicU64,
    /// Frames (heartbeats at least) are expected all the time.
    expect_frames: AtomicBool,
    fired: AtomicBool,
}

impl Watch {
    /// A request went out at `now` (keeps the older one if one is
    /// outstanding).
    pub fn sent(&self, now: u64, what: &'static str) {
        if self
            .pending_since
            .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            *self.pending_what.lock().unwrap_or_else(|p| p.into_inner()) = what;
        }
    }

    /// The outstanding request was answered at `now`.
    pub fn answered(&self, tracker: &Tracker, now: u64) {
        self.last_rx.store(now, Ordering::Release);
        let since = self.pending_since.swap(NONE, Ordering::AcqRel);
        if since != NONE {
            tracker.answer_time(self.target, since, now, &self.what);
        }
    }

    /// A frame arrived at `now`.
    pub fn heard(&self, now: u64) {
        self.last_rx.store(now, Ordering::Release);
    }

    /// From now on frames must keep coming (a subscribed consumer with
    /// heartbeats).
    pub fn expect_frames(&self, now: u64) {
        self.last_rx.store(now, Ordering::Release);
        self.expect_frames.store(true, Ordering::Release);
    }

    /// Whether the watchdog gave up on this connection.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// How a one-shot exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Some answer arrived (ms after sending).
    Answered(u64),
    /// The daemon closed the connection.
    Closed,
    /// Nothing within the timeout.
    TimedOut,
}

/// What the watchdog found.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// Requests answered.
    pub answered: u64,
    /// Requests neither answered nor closed in time.
    pub unanswered: u64,
    /// Timeouts excused by a stop, flood or restart.
    pub excused: u64,
    /// Longest answer time outside excused windows, ms.
    pub longest_ms: u64,
    /// What that was.
    pub longest_what: String,
    /// The first unanswered requests.
    pub examples: Vec<String>,
}

/// The registry of watches and the tallies.
#[derive(Debug)]
pub struct Tracker {
    clock: Arc<Clock>,
    cluster: Arc<Cluster>,
    timeout_ms: u64,
    watches: Mutex<Vec<Weak<Watch>>>,
    answers: Mutex<Answers>,
}

impl Tracker {
    /// A tracker with this answer timeout.
    pub fn new(clock: Arc<Clock>, cluster: Arc<Cluster>, timeout: Duration) -> Tracker {
        Tracker {
            clock,
            cluster,
            timeout_ms: timeout.as_millis() as u64,
            watches: Mutex::new(Vec::new()),
            answers: Mutex::new(Answers::default()),
        }
    }

    /// The answer timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Watch a connection to `target` (`what` names it in reports).
    pub fn watch(&self, target: Target, what: String, sock: &TcpStream) -> Option<Arc<Watch>> {
        let sock = sock.try_clone().ok()?;
        let w = Arc::new(Watch {
            target,
            what,
            sock,
            pending_since: AtomicU64::new(NONE),
            pending_what: Mutex::new(""),
            last_rx: AtomicU64::new(self.clock.ms()),
            expect_frames: AtomicBool::new(false),
            fired: AtomicBool::new(false),
        });
        self.watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&w));
        Some(w)
    }

    fn excused(&self, target: Target, from: u64, to: u64) -> u64 {
        self.cluster
            .daemon(target)
            .map_or(0, |d| d.excused_ms(from, to))
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn answer_time(&self, target: Target, sent: u64, now: u64, what: &str) {
        let t = now
            .saturating_sub(sent)
            .saturating_sub(self.excused(target, sent, now));
        let mut a = self.answers();
        a.answered += 1;
        if t > a.longest_ms {
            a.longest_ms = t;
            a.longest_what = format!("{what} at {:.1}s", sent as f64 / 1000.0);
        }
    }

    /// A one-shot exchange with `target` sent at `sent` ended so.
    pub fn outcome(&self, target: Target, what: &str, sent: u64, o: Outcome) {
        let now = self.clock.ms();
        match o {
            Outcome::Answered(_) => self.answer_time(target, sent, now, what),
            Outcome::Closed => {}
            Outcome::TimedOut => {
                let counted = now
                    .saturating_sub(sent)
                    .saturating_sub(self.excused(target, sent, now));
                if counted + 50 >= self.timeout_ms {
                    self.unanswered(format!(
                        "{target}: {what} sent at {:.1}s: no answer in {counted}ms",
                        sent as f64 / 1000.0
                    ));
                } else {
                    self.answers().excused += 1;
                }
            }
        }
    }

    fn unanswered(&self, text: String) {
        self.clock.event(&format!("UNANSWERED {text}"));
        let mut a = self.answers();
        a.unanswered += 1;
        if a.examples.len() < 50 {
            a.examples.push(text);
        }
    }

    /// One watchdog pass.
    pub fn check(&self) {
        let now = self.clock.ms();
        let watches: Vec<Arc<Watch>> = {
            let mut ws = self.watches.lock().unwrap_or_else(|p| p.into_inner());
            ws.retain(|w| w.strong_count() > 0);
            ws.iter().filter_map(|w| w.upgrade()).collect()
        };
        for w in watches {
            if w.fired() {
                continue;
            }
            let since = w.pending_since.load(Ordering::Acquire);
            let overdue = |from: u64| {
                now.saturating_sub(from)
                    .saturating_sub(self.excused(w.target, from, now))
                    > self.timeout_ms
            };
            let why = if since != NONE && overdue(since) {
                let what = *w.pending_what.lock().unwrap_or_else(|p| p.into_inner());
                Some(format!(
                    "{what} sent at {:.1}s on {}",
                    since as f64 / 1000.0,
                    w.what
                ))
            } else if w.expect_frames.load(Ordering::Acquire)
                && overdue(w.last_rx.load(Ordering::Acquire))
            {
                Some(format!(
                    "no frame (not even a heartbeat) since {:.1}s on {}",
                    w.last_rx.load(Ordering::Acquire) as f64 / 1000.0,
                    w.what
                ))
            } else {
                None
            };
            if let Some(why) = why {
                w.fired.store(true, Ordering::Release);
                let _ = w.sock.shutdown(Shutdown::Both);
                self.unanswered(format!("{}: {why}", w.target));
            }
        }
    }

    /// The tallies.
    pub fn summary(&self) -> Answers {
        self.answers().clone()
    }
}
