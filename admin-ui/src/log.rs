//! NSQ-style logging to stderr: `<prefix>YYYY/MM/DD HH:MM:SS.micro LEVEL: message`
//! (format in `nsq_protocol::logfmt`), filtered by `--log-level`, which
//! `PUT /config/log_level` may change at run time. Tests read the bound
//! port from the `HTTP: listening on` line.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use nsq_protocol::logfmt::Level;

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static PREFIX: OnceLock<String> = OnceLock::new();

/// Set the level and prefix (the prefix once, at startup).
pub fn init(level: Level, prefix: &str) {
    set_level(level);
    let _ = PREFIX.set(prefix.to_string());
}

/// Change the level.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The current level.
pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

/// Print one log line if `level` is enabled.
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    if level as u8 >= LEVEL.load(Ordering::Relaxed) {
        let prefix = PREFIX.get().map_or("[nsqadmin] ", String::as_str);
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
