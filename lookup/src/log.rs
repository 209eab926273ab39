//! NSQ-style logging to stderr: `<prefix>YYYY/MM/DD HH:MM:SS.micro LEVEL: message`
//! (docs/configuration.md#signals-and-logs; the format lives in
//! `nsq_protocol::logfmt`), filtered by `--log-level`. Tests read the bound
//! ports from the `listening on` lines.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use nsq_protocol::logfmt::Level;

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static PREFIX: OnceLock<String> = OnceLock::new();

/// Set the level and prefix (once, at startup).
pub fn init(level: Level, prefix: &str) {
    LEVEL.store(level as u8, Ordering::Relaxed);
    let _ = PREFIX.set(prefix.to_string());
}

/// Whether messages at `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// Print one log line if `level` is enabled.
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let prefix = PREFIX.get().map_or("[nsqlookupd] ", String::as_str);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // A failed write (stderr closed) is ignored, as Go's log does;
        // `eprintln!` would panic the thread that logged.
        let _ = writeln!(
            std::io::stderr().lock(),
            "{prefix}{} {}: {args}",
            nsq_protocol::logfmt::timestamp(now),
            level.name()
        );
    }
}

/// Log at a level: `log!(Info, "x {}", y)`.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        $crate::log::write($crate::log::Level::$level, format_args!($($arg)*))
    };
}
