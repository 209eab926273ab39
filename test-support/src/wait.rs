//! Bounded polling.

use std::time::{Duration, Instant};

/// Call `cond` every `every` until it returns `Some`, at most `timeout`;
/// panics with `what` and `describe()` (the last state) otherwise.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut cond: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() >= deadline {
            let state = describe();
            if state.is_empty() {
                panic!("timed out after {timeout:?} waiting for {what}");
            }
            panic!("timed out after {timeout:?} waiting for {what}; last state: {state}");
        }
        std::thread::sleep(every);
    }
}
