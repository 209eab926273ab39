//! The lines of a child's pipe, collected by a thread, with bounded waits
//! for a line to appear or for the pipe to end.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Seen {
    lines: Vec<String>,
    ended: bool,
}

/// Lines read so far from a pipe (shared with its reader thread).
#[derive(Clone)]
pub struct Lines {
    seen: Arc<(Mutex<Seen>, Condvar)>,
}

impl Lines {
    /// Read `pipe` line by line on a new thread until EOF.
    pub fn collect(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines {
            seen: Arc::default(),
        };
        let shared = lines.seen.clone();
        std::thread::spawn(move || {
            let (seen, changed) = &*shared;
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                seen.lock().unwrap().lines.push(line);
                changed.notify_all();
            }
            seen.lock().unwrap().ended = true;
            changed.notify_all();
        });
        lines
    }

    /// The lines so far.
    pub fn all(&self) -> Vec<String> {
        self.seen.0.lock().unwrap().lines.clone()
    }

    /// The lines so far, joined with `\n`.
    pub fn text(&self) -> String {
        self.seen.0.lock().unwrap().lines.join("\n")
    }

    /// The first line (from the start) for which `f` returns `Some`, waiting
    /// until `deadline`; `None` if the pipe ends or time runs out first.
    pub fn wait_for<T>(
        &self,
        deadline: Instant,
        mut f: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        let (seen, changed) = &*self.seen;
        let mut guard = seen.lock().unwrap();
        let mut next = 0;
        loop {
            while next < guard.lines.len() {
                if let Some(v) = f(&guard.lines[next]) {
                    return Some(v);
                }
                next += 1;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if guard.ended || left.is_zero() {
                return None;
            }
            guard = changed.wait_timeout(guard, left).unwrap().0;
        }
    }

    /// Wait (at most `within`) for the pipe to end; whether it did.
    pub fn wait_ended(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        self.wait_for(deadline, |_| None::<()>);
        self.seen.0.lock().unwrap().ended
    }
}
