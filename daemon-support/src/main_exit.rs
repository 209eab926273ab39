//! How a daemon's `main` ends: an error or a panic of the main thread ends
//! the process with status 1 and one `FATAL` line on stderr (a panic's own
//! message, from the default hook, comes just before it), never a process
//! left running with nobody serving.

use std::fmt::Display;
use std::panic::UnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};

static EXITING: AtomicBool = AtomicBool::new(false);

/// Claim the process's one fatal exit: true for the first caller, which
/// then logs its `FATAL` line and exits. Any later caller (another thread
/// failing at the same moment) must not log or return: it should call
/// [`wait_for_exit`].
pub fn claim_fatal_exit() -> bool {
    !EXITING.swap(true, Ordering::SeqCst)
}

/// Block this thread forever: the process is exiting from another one.
pub fn wait_for_exit() -> ! {
    loop {
        std::thread::park();
    }
}

/// Run the daemon; exit 1 with `[<daemon>] FATAL: ...` if it fails or
/// panics, return normally when it ends cleanly.
pub fn run_or_exit<E: Display>(daemon: &str, run: impl FnOnce() -> Result<(), E> + UnwindSafe) {
    match std::panic::catch_unwind(run) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fatal(daemon, &e),
        Err(_) => fatal(daemon, &"the main thread panicked: exiting"),
    }
}

/// Print `[<daemon>] FATAL: <what>` and exit 1 (unless another thread is
/// already doing so: one FATAL line per process).
pub fn fatal(daemon: &str, what: &dyn Display) -> ! {
    if !claim_fatal_exit() {
        wait_for_exit();
    }
    eprintln!("[{daemon}] FATAL: {what}");
    std::process::exit(1);
}
