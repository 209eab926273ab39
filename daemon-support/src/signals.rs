//! SIGINT and SIGTERM as the daemons take them (docs/configuration.md#signals-and-logs):
//! caught from startup, the first one runs the daemon's shutdown on a
//! `signals` thread; a repeat within 3 s is the same request (a Ctrl-C
//! reaches the whole process group and a wrapper script may send TERM
//! too), a later one exits at once with status 1.

use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A repeat after this long forces the exit.
const FORCE_AFTER: Duration = Duration::from_secs(3);

/// Start catching SIGINT and SIGTERM (they wait until [`on_shutdown`]
/// runs); `None`, logged, if the handlers cannot be installed.
pub fn catch() -> Option<Signals> {
    match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => Some(signals),
        Err(e) => {
            crate::log!(Error, "cannot install signal handlers - {e}");
            None
        }
    }
}

/// Run `shutdown` on the first signal, on a thread of its own.
pub fn on_shutdown(mut signals: Signals, shutdown: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut shutdown = Some(shutdown);
            let mut first: Option<Instant> = None;
            for sig in signals.forever() {
                if let Some(at) = first {
                    if at.elapsed() > FORCE_AFTER {
                        crate::log!(Warn, "signal {sig} again: exiting now");
                        std::process::exit(1);
                    }
                    continue;
                }
                first = Some(Instant::now());
                crate::log!(Info, "signal {sig} received: shutting down");
                if let Some(f) = shutdown.take() {
                    f();
                }
            }
        });
    if spawned.is_err() {
        crate::log!(Error, "cannot start the signal thread");
    }
}
