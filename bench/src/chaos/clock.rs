//! Run time in milliseconds since the run started, and the run's event log
//! (stdout and `events.log` in the run directory).

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Milliseconds since the run started.
#[derive(Debug)]
pub struct Clock {
    start: Instant,
    log: Mutex<Option<std::fs::File>>,
    quiet: bool,
}

impl Clock {
    /// Start counting now; events also go to `log` if given. `quiet`: only
    /// the file gets them.
    pub fn new(log: Option<std::fs::File>, quiet: bool) -> Clock {
        Clock {
            start: Instant::now(),
            log: Mutex::new(log),
            quiet,
        }
    }

    /// Milliseconds since the start.
    pub fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Log one event line, stamped with the run time.
    pub fn event(&self, what: &str) {
        let line = format!("[{:>9.3}s] {what}\n", self.ms() as f64 / 1000.0);
        if !self.quiet {
            print!("{line}");
            let _ = std::io::stdout().flush();
        }
        if let Ok(mut g) = self.log.lock() {
            if let Some(f) = g.as_mut() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    /// Log to the file only.
    pub fn detail(&self, what: &str) {
        if let Ok(mut g) = self.log.lock() {
            if let Some(f) = g.as_mut() {
                let line = format!("[{:>9.3}s] {what}\n", self.ms() as f64 / 1000.0);
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}
