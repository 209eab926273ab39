//! Startup: log, bind `--http-address`, serve until SIGINT/SIGTERM. nsqadmin
//! keeps no state, so stopping is just exiting.

use std::net::TcpListener;
use std::sync::Arc;

use crate::app::App;
use crate::error::AdminError;
use crate::options::{resolve, Options, NSQ_VERSION};

/// Run nsqadmin until SIGINT/SIGTERM.
pub fn run(opts: Options) -> Result<(), AdminError> {
    crate::log::init(opts.log_level, &opts.flags.log_prefix);
    crate::log!(
        Info,
        "nsqadmin v{NSQ_VERSION} (nsq-rs {})",
        env!("CARGO_PKG_VERSION")
    );
    if opts.flags.verbose {
        crate::log!(
            Warn,
            "--verbose is deprecated and has no effect, use --log-level"
        );
    }
    let f = &opts.flags;
    let addr = resolve(&f.http_address).map_err(|e| {
        AdminError::Config(format!("invalid --http-address {:?} - {e}", f.http_address))
    })?;
    let listener = TcpListener::bind(addr).map_err(|source| AdminError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    let local = listener.local_addr().map_err(|source| AdminError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    let app = Arc::new(App::new(opts)?);
    crate::log!(Info, "HTTP: listening on {local}");
    spawn_signal_thread();
    if let Err(e) = nsq_daemon_support::notify_ready() {
        crate::log!(Warn, "sd_notify READY=1 failed - {e}");
    }
    crate::server::serve(listener, app);
    Ok(())
}

/// SIGINT/SIGTERM → exit 0 (nothing to flush).
fn spawn_signal_thread() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        crate::log!(Error, "cannot install signal handlers");
        return;
    };
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                crate::log!(Info, "signal {sig} received: exiting");
                std::process::exit(0);
            }
        });
}
