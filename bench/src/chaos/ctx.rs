//! What every thread of a run shares: the clock, the cluster, the watchdog,
//! the ledger, the names, the TLS files, the stop flags and the counters.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::chaos::clock::Clock;
use crate::chaos::cluster::{Cluster, SmallDisk};
use crate::chaos::ledger::Ledger;
use crate::chaos::watch::Tracker;

/// Counters of things that are not messages.
#[derive(Debug, Default)]
pub struct Counters {
    /// Error answers to publishes, by text.
    pub pub_errors: Mutex<BTreeMap<String, u64>>,
    /// Error frames consumers got, by text.
    pub sub_errors: Mutex<BTreeMap<String, u64>>,
    /// Connections made by the workload.
    pub connects: AtomicU64,
    /// Faults run, by kind.
    pub faults: Mutex<BTreeMap<&'static str, u64>>,
    /// Restarts that failed (the daemon did not come back in time).
    pub restart_failures: AtomicU64,
    /// SIGTERMs not followed by an exit in time.
    pub hung_shutdowns: AtomicU64,
    /// Full-disk faults after which nsqd did not become healthy again.
    pub disk_stuck: AtomicU64,
    /// Problems worth a line in the report.
    pub notes: Mutex<Vec<String>>,
}

impl Counters {
    /// Count `key` in a tally.
    pub fn tally(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(key.to_string()).or_default() += 1;
    }

    /// Count a fault.
    pub fn fault(&self, kind: &'static str) {
        let mut m = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(kind).or_default() += 1;
    }

    /// Remember a problem for the report.
    pub fn note(&self, text: String) {
        let mut n = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        if n.len() < 100 {
            n.push(text);
        }
    }
}

/// The run's settings that the threads need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The seed.
    pub seed: u64,
    /// Messages per second, all producers together.
    pub rate: f64,
    /// Every acknowledged message must survive SIGKILL.
    pub sync_mode: bool,
    /// IDENTIFY `msg_timeout` of the consumers.
    pub msg_timeout: Duration,
    /// IDENTIFY `heartbeat_interval` of the consumers.
    pub heartbeat: Duration,
    /// Largest payload.
    pub max_payload: usize,
}

/// Shared by every thread of a run.
#[derive(Debug)]
pub struct Ctx {
    /// Settings.
    pub settings: Settings,
    /// Run time and event log.
    pub clock: Arc<Clock>,
    /// The daemons.
    pub cluster: Arc<Cluster>,
    /// The watchdog.
    pub tracker: Arc<Tracker>,
    /// The checker.
    pub ledger: Mutex<Ledger>,
    /// Checked topics.
    pub topics: Vec<String>,
    /// Checked channels (of every topic).
    pub channels: Vec<String>,
    /// The CA that signed the daemons' certificate (PEM file).
    pub ca_file: PathBuf,
    /// rustls configuration trusting it (HTTPS requests).
    pub https: Arc<rustls::ClientConfig>,
    /// The small file system of the disk fault.
    pub disk: Option<SmallDisk>,
    /// Producers stop.
    pub stop_producers: AtomicBool,
    /// Everything stops.
    pub stop_all: AtomicBool,
    /// Consumers finish everything at once (end of the run).
    pub draining: AtomicBool,
    /// Counters.
    pub counters: Counters,
}

impl Ctx {
    /// The ledger.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds since the start.
    pub fn ms(&self) -> u64 {
        self.clock.ms()
    }

    /// Whether everything stops.
    pub fn stopping(&self) -> bool {
        self.stop_all.load(Ordering::Relaxed)
    }

    /// Sleep up to `d`, waking early when everything stops.
    pub fn sleep(&self, d: Duration) {
        let end = std::time::Instant::now() + d;
        while !self.stopping() {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    /// The HTTP address of nsqd `i`.
    pub fn nsqd_http(&self, i: usize) -> String {
        self.cluster.nsqds[i].spec.http.to_string()
    }
}
