//! SIGINT and SIGTERM as the daemons take them (docs/configuration.md#signals-and-logs):
//! caught from startup, the first one runs the daemon's shutdown on a
//! `signals` thread; a repeat within 3 s is the same request (a Ctrl-C
//! reaches the whole process group and a wrapper script may send TERM
//! too), a later one exits at once with status 1. A daemon may catch more
//! signals (nsqd's SIGUSR1 starts a drain): those go to a handler of their
//! own, every time.

use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub use signal_hook::consts::SIGUSR1;

/// A repeat after this long forces the exit.
const FORCE_AFTER: Duration = Duration::from_secs(3);

/// Start catching SIGINT and SIGTERM (they wait until [`on_shutdown`]
/// runs); `None`, logged, if the handlers cannot be installed.
pub fn catch() -> Option<Signals> {
    catch_also(&[])
}

/// [`catch`], and the signals in `also` for [`on_signals`]' other handler.
pub fn catch_also(also: &[i32]) -> Option<Signals> {
    let mut wanted = vec![SIGINT, SIGTERM];
    wanted.extend_from_slice(also);
    match Signals::new(wanted) {
        Ok(signals) => Some(signals),
        Err(e) => {
            crate::log!(Error, "cannot install signal handlers - {e}");
            None
        }
    }
}

/// Run `shutdown` on the first signal, on a thread of its own.
pub fn on_shutdown(signals: Signals, shutdown: impl FnOnce() + Send + 'static) {
    on_signals(signals, |_| {}, shutdown);
}

/// [`on_shutdown`], and `other` for every signal that is neither SIGINT
/// nor SIGTERM (those [`catch_also`] added).
pub fn on_signals(
    mut signals: Signals,
    mut other: impl FnMut(i32) + Send + 'static,
    shutdown: impl FnOnce() + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut shutdown = Some(shutdown);
            let mut first: Option<Instant> = None;
            for sig in signals.forever() {
                if sig != SIGINT && sig != SIGTERM {
                    other(sig);
                    continue;
                }
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
