//! NSQ-style logging to stderr: `<prefix>YYYY/MM/DD HH:MM:SS.micro LEVEL: message`
//! (docs/configuration.md#signals-and-logs), filtered by `--log-level`.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use nsq_protocol::logfmt::Level;

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static PREFIX: OnceLock<String> = OnceLock::new();

/// Set the level and prefix (once, at startup; the level may change later).
pub fn init(level: Level, prefix: &str) {
    LEVEL.store(level as u8, Ordering::Relaxed);
    let _ = PREFIX.set(prefix.to_string());
}

/// The current level.
pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

/// Change the level at run time (`PUT /config/log_level`).
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether messages at `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// Format the current UTC time as Go's log package does.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    nsq_protocol::logfmt::timestamp(now)
}

/// Print one log line if `level` is enabled.
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let prefix = PREFIX.get().map_or("[nsqd] ", String::as_str);
        // Like Go's log package, a failed write (stderr closed: the
        // reading end of a pipe gone) is ignored; `eprintln!` would panic
        // and take down the thread that logged.
        let _ = writeln!(
            std::io::stderr().lock(),
            "{prefix}{} {}: {args}",
            timestamp(),
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
